import { describe, expect, test } from 'vitest';
import type { InboundMessage } from '../../src/inbound.ts';
import { msg, parse } from './payloads.ts';

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
