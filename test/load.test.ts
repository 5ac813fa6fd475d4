import { afterEach, describe, expect, test } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import { chunkText } from './fake-gateway/index.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('under DingTalk rate limits', () => {
  test('30 concurrent conversations against a 20 calls/s limit: every card finalized, DingTalk never throttles us', async () => {
    h = await startHarness({ fake: { rateLimit: { perApiQps: 20 } }, cardIntervalMs: 50 });
    const answer = '这是一个比较长的回答，'.repeat(6);
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 3), delayMs: 10 });
    const pushes = Array.from({ length: 30 }, (_, i) => h!.fake.pushRobotMessage(h!.fake.msg.text(`问题${i}`, { senderStaffId: `user${i}` })));
    for (const p of pushes) await h.fake.waitForAck(p.messageId, { within: 2000 });
    await h.fake.waitFor(() => h!.fake.cardList().filter((c) => c.flowStatusHistory.at(-1) === '3').length === 30, { timeoutMs: 20_000 });
    for (const c of h.fake.cardList()) expect(c.streams.msgContent!.content).toBe(answer);
    expect(h.fake.calls.filter((c) => c.status === 403 || c.status === 429)).toEqual([]);
    expect(h.fake.stats.maxQps('/v1.0/card/streaming')).toBeLessThanOrEqual(20);
    expect(h.fake.sent).toEqual([]);
  }, 30_000);

  test('monthly quota exhausted: markdown reply, logged once, and the next message skips the card', async () => {
    h = await startHarness();
    h.fake.faults.monthlyQuotaExhausted();
    await h.send(h.fake.msg.text('第一条', { senderStaffId: 'u1' }));
    await h.send(h.fake.msg.text('第二条', { senderStaffId: 'u1' }));
    expect(h.fake.sent.map((s) => s.body.markdown.text)).toEqual(['Echo: 第一条', 'Echo: 第二条']);
    expect(h.fake.sequence().filter((s) => s.includes('createAndDeliver'))).toHaveLength(1);
    expect(h.logs.filter((l) => l.startsWith('WARN') && l.includes('monthly API quota'))).toHaveLength(1);
  });
});
