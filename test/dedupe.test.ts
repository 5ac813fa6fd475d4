import { afterEach, describe, expect, test } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import { MemoryStore, type StateStore } from '../src/store.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe.each([
  ['the production FileStore (harness default)', undefined],
  ['the MemoryStore', () => new MemoryStore()],
] as Array<[string, (() => StateStore) | undefined]>)('one message pushed twice in the same tick, with %s', (_name, makeStore) => {
  test('is answered exactly once; both frames are ACKed', async () => {
    h = await startHarness(makeStore ? { store: makeStore() } : {});
    const payload = h.fake.msg.text('同一条消息', { senderStaffId: 'u1' });
    // Two frames (new frame ids, same msgId) written back to back: the plugin reads them in one tick.
    const a = h.fake.pushRobotMessage(payload);
    const b = h.fake.pushRobotMessage(payload);
    await Promise.all([h.fake.waitForAck(a.messageId, { within: 2000 }), h.fake.waitForAck(b.messageId, { within: 2000 })]);
    await h.fake.waitFor(() => h!.fake.cardList().some((c) => c.flowStatusHistory.at(-1) === '3'), { timeoutMs: 5000 });
    // Time for a second answer to show if one had started.
    await new Promise((r) => setTimeout(r, 300));
    expect(h.gw.requests).toHaveLength(1);
    expect(h.fake.cardList()).toHaveLength(1);
    expect(h.fake.sent).toHaveLength(0);
  });
});
