import { describe, expect, test } from 'vitest';
import { parseRobotMessage } from '../src/inbound.ts';

const common = {
  conversationId: 'cidDM001==',
  msgId: 'msgT0001==',
  senderNick: '张三',
  senderStaffId: 'user001',
  senderId: '$:LWCP_v1:$sender',
  conversationType: '1',
  sessionWebhook: 'http://127.0.0.1:1/robot/sendBySession?session=s1',
  sessionWebhookExpiredTime: 1767235800000,
  createAt: 1767230400000,
  robotCode: 'dingAPPKEY',
};

function parse(extra: object) {
  const r = parseRobotMessage(JSON.stringify({ ...common, ...extra }));
  if (!r.ok) throw new Error(r.reason);
  return r.message;
}

describe('robot message parsing', () => {
  test('DM text', () => {
    const m = parse({ msgtype: 'text', text: { content: ' 你好 ' } });
    expect(m).toMatchObject({ msgId: 'msgT0001==', isGroup: false, text: '你好', senderStaffId: 'user001', media: [] });
  });

  test('group text loses the leading @mention', () => {
    expect(parse({ conversationType: '2', msgtype: 'text', text: { content: '@机器人 帮我总结一下' } }).text).toBe('帮我总结一下');
    expect(parse({ conversationType: '2', msgtype: 'text', text: { content: ' 帮我总结一下' } }).text).toBe('帮我总结一下');
  });

  test('richText joins text and collects pictures', () => {
    const m = parse({ msgtype: 'richText', content: { richText: [{ text: '看这张图' }, { type: 'picture', downloadCode: 'dc1' }] } });
    expect(m.text).toBe('看这张图');
    expect(m.media).toEqual([expect.objectContaining({ kind: 'picture', downloadCode: 'dc1' })]);
  });

  test('audio recognition becomes the text', () => {
    const m = parse({ msgtype: 'audio', content: { downloadCode: 'dca', duration: 4000, recognition: '帮我建个任务' } });
    expect(m.text).toBe('帮我建个任务');
    expect(m.media[0]).toMatchObject({ kind: 'audio', durationMs: 4000 });
  });

  test('file keeps its name; a quoted text reply keeps the quote', () => {
    expect(parse({ msgtype: 'file', content: { downloadCode: 'dcf', fileName: '报价单.pdf' } }).media[0]).toMatchObject({ kind: 'file', fileName: '报价单.pdf' });
    const r = parse({ msgtype: 'text', text: { content: '这是什么意思', isReplyMsg: true, repliedMsg: { msgType: 'text', content: { text: '原话' } } } });
    expect(r.quotedText).toBe('原话');
  });

  test('unusable payloads give a reason instead of throwing', () => {
    expect(parseRobotMessage('{not json')).toEqual({ ok: false, reason: 'data is not JSON' });
    expect(parseRobotMessage('[1,2]')).toEqual({ ok: false, reason: 'data is not an object' });
    expect(parseRobotMessage(JSON.stringify({ ...common, msgtype: undefined }))).toEqual({ ok: false, reason: 'no msgtype' });
    const { msgId: _m, ...noId } = common;
    expect(parseRobotMessage(JSON.stringify({ ...noId, msgtype: 'text', text: { content: 'x' } }), 'frame-id')).toMatchObject({ ok: true, message: { msgId: 'frame-id' } });
  });
});
