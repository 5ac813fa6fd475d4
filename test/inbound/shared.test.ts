import { describe, expect, test } from 'vitest';
import { CHAT_RECORD_MAX_CHARS } from '../../src/inbound.ts';
import { msg, parse } from './payloads.ts';

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
