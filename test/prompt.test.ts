import { afterEach, describe, expect, test } from 'vitest';
import { parseRobotMessage, type InboundMessage } from '../src/inbound.ts';
import { userPrompt } from '../src/prompt.ts';
import { lastUserText } from './fake-gateway/index.ts';
import { messageBuilders } from './fake-dingtalk/messages.ts';
import { FakeState } from './fake-dingtalk/state.ts';
import { startHarness, type Harness } from './harness.ts';

const msg = messageBuilders(new FakeState());

function parse(payload: object): InboundMessage {
  const r = parseRobotMessage(JSON.stringify(payload));
  if (!r.ok) throw new Error(r.reason);
  return r.message;
}

describe('what the agent is told', () => {
  test('members DingTalk left unnamed are listed by user id', () => {
    const m = parse(msg.text('给  发个消息', { group: true, atUsers: [{ dingtalkId: '$:LWCP_v1:$w', staffId: 'wangwu01' }] }));
    expect(userPrompt(m, 'zh')).toBe('张三: 给  发个消息\n[用户在消息中 @ 了 1 位成员，钉钉没有提供他们的姓名；用户 ID：wangwu01]');
  });

  test('a quoted markdown message comes first, each line as a quote', () => {
    const m = parse(msg.replyTo('继续', { msgType: 'markdown', msgId: 'msgMD==', content: { text: '## 计划\n- 周一' } }));
    expect(userPrompt(m, 'zh')).toBe('[用户引用了一条较早的消息：]\n> ## 计划\n> - 周一\n继续');
  });

  test('a quoted answer of the robot is named as such', () => {
    const m = parse(msg.replyTo('Expand on point 2', msg.quote.card(['1. Back up', '2. Upgrade'], { fromBot: true })));
    expect(userPrompt(m, 'en')).toBe('[The user quoted your (the robot’s) earlier answer:]\n> 1. Back up\n> 2. Upgrade\nExpand on point 2');
  });

  test('an unreadable quote is said to be unreadable, never shown as the quote', () => {
    const q = msg.quote.encodedText();
    const m = parse(msg.replyTo('这段什么意思', q));
    const prompt = userPrompt(m, 'zh');
    expect(prompt).toBe('[用户引用了一条较早的消息，但钉钉没有提供它的内容，无法读取]\n这段什么意思');
    expect(prompt).not.toContain(String(q.content!.text));
    expect(userPrompt(parse(msg.replyTo('这个呢', msg.quote.card([]))), 'zh')).toBe('[用户引用了一条较早的消息，但钉钉没有提供它的内容，无法读取]\n这个呢');
  });

  test('a quoted picture is described as the earlier message’s, not as something the user sent', () => {
    const m = parse(msg.replyTo('这是什么', msg.quote.picture('qpic')));
    const prompt = userPrompt(m, 'zh', ['[用户引用的较早消息中的一张图片（见附带的图片；不是用户这次发送的）]']);
    expect(prompt).toBe('[用户引用了一条较早的消息：]\n[用户引用的较早消息中的一张图片（见附带的图片；不是用户这次发送的）]\n这是什么');
    expect(prompt).not.toContain('用户发送了');
  });

  test('richText text and pictures reach the agent in the order written', () => {
    const m = parse(msg.richText([{ text: '第一张' }, { type: 'picture', downloadCode: 'p1' }, { text: '第二张' }, { type: 'picture', downloadCode: 'p2' }]));
    expect(userPrompt(m, 'zh', ['[图1]', '[图2]'])).toBe('第一张\n[图1]\n第二张\n[图2]');
  });

  test('a shared document and a forwarded chat history are content, not "unsupported"', () => {
    const doc = parse(msg.interactiveCard({ title: '季度规划', url: 'https://alidocs.dingtalk.com/i/nodes/abc' }));
    expect(userPrompt(doc, 'zh')).toBe('[用户分享了一张钉钉卡片或文档：]\n季度规划\nhttps://alidocs.dingtalk.com/i/nodes/abc');
    const rec = parse(msg.chatRecord({ title: '聊天记录', entries: [{ senderNick: '张三', content: '明天上线' }] }));
    expect(userPrompt(rec, 'zh')).toBe('[用户转发了一段聊天记录：]\n聊天记录\n张三: 明天上线');
    expect(userPrompt(parse(msg.chatRecord({})), 'zh')).toBe('[用户转发了一段聊天记录，但钉钉没有提供其中的消息]');
    expect(userPrompt(parse(msg.unknown()), 'zh')).toBe('[用户发送了一条暂不支持的消息：unknownMsgType]');
  });
});

describe('end to end (fake DingTalk → gateway)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('a group member mentioned by name reaches the agent with the mention', async () => {
    h = await startHarness();
    await h.send(h.fake.msg.text('@李四 帮他看看这个报错', { group: true, atUsers: [{ dingtalkId: '$:LWCP_v1:$l', staffId: 'lisi01' }] }));
    expect(lastUserText(h.gw.requests[0]!)).toBe('张三: @李四 帮他看看这个报错');
  });

  test('"@robot/new" in a glued richText starts a new session instead of reaching the agent', async () => {
    h = await startHarness();
    await h.send(h.fake.msg.richText([{ text: '/new' }], { group: true, botNameRun: true }));
    expect(h.gw.requests).toHaveLength(0);
    expect(h.fake.sent.at(-1)!.body.markdown.text).toContain('已开始新会话');
  });

  test('a reply quoting the robot’s markdown answer reaches the agent with the quote', async () => {
    h = await startHarness();
    await h.send(h.fake.msg.replyTo('为什么？', { msgType: 'markdown', msgId: 'msgMD==', content: { text: '建议先升级数据库' } }));
    expect(lastUserText(h.gw.requests[0]!)).toBe('[用户引用了一条较早的消息：]\n> 建议先升级数据库\n为什么？');
  });
});
