import { describe, expect, test } from 'vitest';
import { CHAT_RECORD_MAX_CHARS, commandText, parseRobotMessage, type InboundMessage } from '../src/inbound.ts';
import { isResetCommand } from '../src/sessions.ts';
import { isStopWord } from '../src/stop.ts';
import { DEFAULT_STOP_WORDS } from '../src/config.ts';
import { messageBuilders } from './fake-dingtalk/messages.ts';
import { FakeState } from './fake-dingtalk/state.ts';

// Payloads come from the fake's builders, which give each shape DingTalk sends (sources in messages.ts).
const st = new FakeState();
const msg = messageBuilders(st);
const BOT = st.app().chatbotUserId;
const LISI = { dingtalkId: '$:LWCP_v1:$lisi0000000000000000', staffId: 'lisi01' };
const WANGWU = { dingtalkId: '$:LWCP_v1:$wangwu000000000000000', staffId: 'wangwu01' };

function parse(payload: object): InboundMessage {
  const r = parseRobotMessage(JSON.stringify(payload));
  if (!r.ok) throw new Error(r.reason);
  return r.message;
}

describe('robot message parsing', () => {
  test('DM text is trimmed; nothing else is touched', () => {
    const m = parse(msg.text(' 你好 '));
    expect(m).toMatchObject({ isGroup: false, text: '你好', senderStaffId: 'user001', media: [], mentions: [], mentionNamesMissing: false });
  });

  test('audio recognition becomes the text; file keeps its name', () => {
    const a = parse(msg.audio({ downloadCode: 'dca', recognition: '帮我建个任务', duration: 4000 }));
    expect(a.text).toBe('帮我建个任务');
    expect(a.media[0]).toMatchObject({ kind: 'audio', durationMs: 4000 });
    expect(parse(msg.file({ downloadCode: 'dcf', fileName: '报价单.pdf' })).media[0]).toMatchObject({ kind: 'file', fileName: '报价单.pdf' });
  });

  test('unusable payloads give a reason instead of throwing', () => {
    expect(parseRobotMessage('{not json')).toEqual({ ok: false, reason: 'data is not JSON' });
    expect(parseRobotMessage('[1,2]')).toEqual({ ok: false, reason: 'data is not an object' });
    expect(parseRobotMessage(JSON.stringify({ ...msg.text('x'), msgtype: undefined }))).toEqual({ ok: false, reason: 'no msgtype' });
    const { msgId: _m, ...noId } = msg.text('x');
    expect(parseRobotMessage(JSON.stringify(noId), 'frame-id')).toMatchObject({ ok: true, message: { msgId: 'frame-id' } });
  });
});

describe('mentions', () => {
  test('group text: DingTalk already removed the robot; a member named in the text keeps the mention', () => {
    // Arrives as " @李四 帮他看看这个报错" with 李四 in atUsers.
    const m = parse(msg.text('@李四 帮他看看这个报错', { group: true, atUsers: [LISI] }));
    expect(m.text).toBe('@李四 帮他看看这个报错');
    expect(m.mentions).toEqual([LISI]);
    expect(m.mentionNamesMissing).toBe(false);
  });

  test('group text whose member names DingTalk removed: the members are known from atUsers', () => {
    // "@bot 给 @王五 发个消息" arrives as " 给  发个消息".
    const m = parse(msg.text('给  发个消息', { group: true, atUsers: [WANGWU] }));
    expect(m.text).toBe('给  发个消息');
    expect(m.mentions).toEqual([WANGWU]);
    expect(m.mentionNamesMissing).toBe(true);
  });

  test('group text that kept the robot name (the only @name, more than the members listed): the robot name goes', () => {
    const m = parse(msg.text('@FakeBot 帮我总结一下', { group: true }));
    expect(m.text).toBe('帮我总结一下');
  });

  test('richText: the robot name run glued to the next run is removed ("@小助手帮我看下")', () => {
    const payload = msg.richText([{ text: '帮我看下' }], { group: true, botNameRun: true });
    expect(payload.content!.richText![0]).toEqual({ text: '@FakeBot' });
    const m = parse(payload);
    expect(m.text).toBe('帮我看下');
  });

  test('richText with the robot and a member: the leading robot name goes, the member stays', () => {
    const m = parse(msg.richText([{ text: '@李四 ' }, { text: '帮他看看' }], { group: true, botNameRun: true, atUsers: [LISI] }));
    expect(m.text).toBe('@李四 帮他看看');
    expect(m.mentionNamesMissing).toBe(false);
  });

  test('structured at-runs: the robot is recognised by its id, a member by theirs stays', () => {
    const m = parse(msg.richText(
      [{ type: 'at', atName: 'FakeBot', atUserId: BOT }, { text: ' 请 ' }, { type: 'at', atName: '李四', atUserId: LISI.dingtalkId }, { text: ' 看看' }],
      { group: true, atUsers: [LISI] },
    ));
    expect(m.text).toBe('请 @李四 看看');
  });

  test('when the robot name cannot be told from a member name, no mention is removed', () => {
    const m = parse(msg.richText([{ text: '请 @李四 和 @FakeBot 一起看' }], { group: true, atUsers: [LISI] }));
    expect(m.text).toBe('请 @李四 和 @FakeBot 一起看');
  });

  test('an email address or a bare @ is not a mention', () => {
    const m = parse(msg.text('发到 a@b.com 或者 @ 一下', { group: true, atUsers: [] }));
    expect(m.text).toBe('发到 a@b.com 或者 @ 一下');
  });

  test('reset and stop commands are seen after @robot in every shape', () => {
    const shapes = [
      msg.text('/new', { group: true }), // " /new"
      msg.text('@FakeBot /new', { group: true, rawContent: true }),
      msg.richText([{ text: '/new' }], { group: true, botNameRun: true }), // "@FakeBot" + "/new", glued
      msg.richText([{ type: 'at', atName: 'FakeBot', atUserId: BOT }, { text: ' /new' }], { group: true }),
      msg.text('/new'),
    ];
    for (const s of shapes) {
      const m = parse(s);
      expect(commandText(m)).toBe('/new');
      expect(isResetCommand(commandText(m))).toBe(true);
    }
    expect(commandText({ text: '@李四\u2005停止' })).toBe('停止');
    for (const s of [msg.richText([{ text: '停止' }], { group: true, botNameRun: true }), msg.text('@FakeBot 停止', { group: true, rawContent: true })]) {
      expect(isStopWord(commandText(parse(s)), DEFAULT_STOP_WORDS)).toBe(true);
    }
  });
});

describe('richText order', () => {
  test('text and pictures keep the order the user wrote them in', () => {
    const m = parse(msg.richText([
      { text: '第一张' }, { type: 'picture', downloadCode: 'p1' }, { text: '第二张' }, { type: 'picture', downloadCode: 'p2' }, { text: '哪张好？' },
    ]));
    expect(m.body).toEqual([{ text: '第一张' }, { media: 0 }, { text: '第二张' }, { media: 1 }, { text: '哪张好？' }]);
    expect(m.media.map((x) => x.downloadCode)).toEqual(['p1', 'p2']);
    expect(m.text).toBe('第一张\n第二张\n哪张好？');
  });
});

describe('quoted messages', () => {
  const quoteOf = (m: InboundMessage) => m.quoted;

  test('a quoted text (body in content.content) under text, with isReplyMsg', () => {
    const m = parse(msg.replyTo('这是什么意思', msg.quote.text('下周一上线')));
    expect(m.text).toBe('这是什么意思');
    expect(quoteOf(m)).toMatchObject({ msgType: 'text', text: '下周一上线', fromRobot: false });
  });

  test('a quoted text without isReplyMsg, and the older content.text shape', () => {
    expect(parse(msg.replyTo('?', msg.quote.text('原话'), { isReplyMsg: false })).quoted?.text).toBe('原话');
    const older = { msgType: 'text', msgId: 'msgOLD==', content: { text: '旧形态' } };
    expect(parse(msg.replyTo('?', older)).quoted?.text).toBe('旧形态');
  });

  test('a quoted markdown message (what this plugin sends as a fallback) is read', () => {
    const m = parse(msg.replyTo('继续', { msgType: 'markdown', msgId: 'msgMD==', content: { text: 'X' } }));
    expect(m.quoted).toMatchObject({ msgType: 'markdown', text: 'X' });
  });

  test('a quoted richText with {msgType, content} runs: its text, and its picture as quoted media', () => {
    const m = parse(msg.replyTo('图里是啥', msg.quote.richText([{ text: '看' }, { at: '李四' }, { picture: 'qp1' }, { text: '这个' }])));
    expect(m.quoted?.text).toBe('看@李四这个');
    expect(m.media).toEqual([expect.objectContaining({ kind: 'picture', downloadCode: 'qp1', quoted: true })]);
  });

  test('a richText message quotes under content', () => {
    const m = parse(msg.richTextReplyTo([{ text: '对比一下' }], msg.quote.text('方案 A')));
    expect(m.text).toBe('对比一下');
    expect(m.quoted?.text).toBe('方案 A');
  });

  test('quoted picture, file, voice and video are the earlier message’s media, not the user’s', () => {
    expect(parse(msg.replyTo('这是什么', msg.quote.picture('qpic'))).media).toEqual([expect.objectContaining({ kind: 'picture', quoted: true })]);
    expect(parse(msg.replyTo('总结', msg.quote.file('qf', '周报.docx'))).media).toEqual([expect.objectContaining({ kind: 'file', fileName: '周报.docx', quoted: true })]);
    const voice = parse(msg.replyTo('他说啥', msg.quote.audio('qa', { recognition: '明天开会' })));
    expect(voice.quoted?.text).toBe('明天开会');
    expect(parse(msg.replyTo('看看', msg.quote.video('qv'))).media[0]).toMatchObject({ kind: 'video', quoted: true });
  });

  test('the robot’s own answer card: text from the cardContent tree, marked as the robot’s', () => {
    const m = parse(msg.replyTo('第二点展开说', msg.quote.card(['1. 先备份', '2. 再升级'], { fromBot: true })));
    expect(m.quoted).toMatchObject({ msgType: 'interactiveCard', text: '1. 先备份\n2. 再升级', fromRobot: true });
  });

  test('a card quoted with no content at all (metadata only) cannot be read', () => {
    const m = parse(msg.replyTo('这个呢', msg.quote.card([])));
    expect(m.quoted).toEqual({ msgType: 'interactiveCard', fromRobot: false, createdAt: expect.any(Number) });
  });

  test('a quoted chat record gives its title and summary', () => {
    const m = parse(msg.replyTo('重新学习一下', msg.quote.chatRecord({ title: '张三与李四的聊天记录', summary: '张三:[消息]\n李四:这个就是' })));
    expect(m.quoted?.text).toBe('张三与李四的聊天记录\n张三:[消息]\n李四:这个就是');
  });

  test('a quote DingTalk sent as an encoded blob is not passed on as text', () => {
    const q = msg.quote.encodedText();
    const m = parse(msg.replyTo('这段什么意思', q));
    expect(m.quoted).toMatchObject({ msgType: 'text', text: undefined });
    // Hashes and ids people quote are still text.
    expect(parse(msg.replyTo('?', msg.quote.text('8d1ad67e0f3b4c21a9d2e5f60718293a4b5c6d7e'))).quoted?.text).toBe('8d1ad67e0f3b4c21a9d2e5f60718293a4b5c6d7e');
  });

  test('isReplyMsg with nothing quoted, and the legacy quoteMessage shape', () => {
    const bare = parse({ ...msg.text('这个'), text: { content: '这个', isReplyMsg: true } });
    expect(bare.quoted).toEqual({ msgType: 'unknown', fromRobot: false });
    const legacy = parse({ ...msg.text('这个'), quoteMessage: { msgId: 'm1', msgtype: 'text', text: { content: '旧引用' } } });
    expect(legacy.quoted?.text).toBe('旧引用');
  });
});

describe('shared cards and forwarded chat histories', () => {
  test('a shared DingTalk document gives its link', () => {
    const url = 'dingtalk://dingtalkclient/page/yunpan?route=previewDentry&spaceId=123&fileId=456&type=file';
    const m = parse(msg.interactiveCard({ url }));
    expect(m.shared).toEqual({ kind: 'card', text: `钉钉文档：${url}` });
  });

  test('a shared card gives its title and text', () => {
    const m = parse(msg.interactiveCard({ title: '审批通知', texts: ['申请人：张三', '金额：300 元'] }));
    expect(m.shared?.text).toBe('审批通知\n申请人：张三\n金额：300 元');
  });

  test('a forwarded chat history lists senders, times and texts', () => {
    const t0 = Date.UTC(2026, 10, 2, 1, 30);
    const m = parse(msg.chatRecord({
      title: '项目群的聊天记录',
      entries: [
        { senderNick: '张三', msgType: 'text', content: '明天上线吗？', createAt: t0 },
        { senderNick: '李四', msgType: 'text', content: { text: '周三' }, createAt: t0 + 60_000 },
        { senderNick: '李四', msgType: 'picture', content: { downloadCode: 'x' }, createAt: t0 + 120_000 },
      ],
    }));
    expect(m.shared).toEqual({
      kind: 'chatRecord',
      text: '项目群的聊天记录\n张三 (2026-11-02 01:30 UTC): 明天上线吗？\n李四 (2026-11-02 01:31 UTC): 周三\n李四 (2026-11-02 01:32 UTC): [图片]',
    });
  });

  test('senders given only as encrypted ids are named from the summary', () => {
    const m = parse(msg.chatRecord({
      summary: '张三:你好\n李四:收到',
      entries: [{ senderId: '$:LWCP_v1:$aaa', content: '你好' }, { senderId: '$:LWCP_v1:$bbb', content: '收到' }],
    }));
    expect(m.shared?.text).toBe('张三: 你好\n李四: 收到');
  });

  test('a long forwarded history is bounded', () => {
    const entries = Array.from({ length: 200 }, (_, i) => ({ senderNick: `成员${i}`, content: `第 ${i} 条：${'内容'.repeat(30)}` }));
    const text = parse(msg.chatRecord({ entries })).shared!.text!;
    expect(text.length).toBeLessThan(CHAT_RECORD_MAX_CHARS + 200);
    expect(text).toMatch(/…（另有 \d+ 条未显示）$/);
    expect(text.startsWith('成员0: 第 0 条')).toBe(true);
  });

  test('a chat record with only a summary gives the summary; an empty one gives nothing to read', () => {
    expect(parse(msg.chatRecord({ title: '聊天记录', summary: '张三:[消息]' })).shared?.text).toBe('聊天记录\n张三:[消息]');
    expect(parse(msg.chatRecord({ summary: '[]' })).shared).toEqual({ kind: 'chatRecord', text: undefined });
  });
});
