import { describe, expect, test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isResetCommand, Sessions } from '../src/sessions.ts';
import { FileStore, MemoryStore } from '../src/store.ts';
import type { InboundMessage } from '../src/inbound.ts';

function msg(over: Partial<InboundMessage> = {}): InboundMessage {
  return { msgId: 'm', msgtype: 'text', isGroup: false, conversationId: 'cid1', senderId: 's1', senderStaffId: 'u1', mentionsBot: true, text: 'hi', media: [], createAt: 0, ...over };
}

describe('sessions', () => {
  test('reset commands in any case, with spaces and a leading mention', () => {
    for (const t of ['/new', ' /RESET ', '/Clear', '新会话', '重新开始', '  清空对话', '@机器人 /new']) expect(isResetCommand(t)).toBe(true);
    for (const t of ['/new please', 'new', '新会话吗', '']) expect(isResetCommand(t)).toBe(false);
  });

  test('one session per DM sender, per group by default, per sender in a group when asked', () => {
    const s = new Sessions({ accountId: 'a', store: new MemoryStore(), timeoutMs: 1000, groupScope: 'group' });
    expect(s.conversationKey(msg())).toBe('dm:u1');
    expect(s.conversationKey(msg({ isGroup: true, senderStaffId: 'u2' }))).toBe('group:cid1');
    const perSender = new Sessions({ accountId: 'a', store: new MemoryStore(), timeoutMs: 1000, groupScope: 'sender' });
    expect(perSender.conversationKey(msg({ isGroup: true, senderStaffId: 'u2' }))).toBe('group:cid1:u2');
  });

  test('inactivity longer than the timeout starts a new session; activity keeps it', async () => {
    let now = 1_000_000;
    const s = new Sessions({ accountId: 'a', store: new MemoryStore(() => now), timeoutMs: 60_000, groupScope: 'group', now: () => now });
    const first = await s.touch(msg());
    expect(first.isNew).toBe(true);
    now += 59_000;
    expect((await s.touch(msg())).key).toBe(first.key);
    now += 59_000; // 59 s after the last activity, 118 s after the first
    expect((await s.touch(msg())).key).toBe(first.key);
    now += 60_001;
    const later = await s.touch(msg());
    expect(later.isNew).toBe(true);
    expect(later.key).not.toBe(first.key);
  });

  test('reset gives a new key that the next message keeps', async () => {
    const s = new Sessions({ accountId: 'a', store: new MemoryStore(), timeoutMs: 60_000, groupScope: 'group' });
    const before = await s.touch(msg());
    const reset = await s.reset(msg());
    expect(reset.key).not.toBe(before.key);
    expect((await s.touch(msg())).key).toBe(reset.key);
  });

  test('a restart keeps the session (file store)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-sessions-'));
    const s1 = new Sessions({ accountId: 'a', store: new FileStore({ dir }), timeoutMs: 60_000, groupScope: 'group' });
    const store1 = (s1 as unknown as { opts: { store: FileStore } }).opts.store;
    const first = await s1.touch(msg());
    await store1.flush();
    const s2 = new Sessions({ accountId: 'a', store: new FileStore({ dir }), timeoutMs: 60_000, groupScope: 'group' });
    const again = await s2.touch(msg());
    expect(again).toEqual({ key: first.key, isNew: false });
  });
});
