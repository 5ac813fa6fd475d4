/**
 * Lines about a message the robot does not answer (not taken, waiting, nothing to stop) in the running pipeline:
 * one of each kind per member per conversation per minute, so a member's flood never makes the robot flood the group.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import { chunkText, lastUserText } from './fake-gateway/index.ts';
import { MemoryStore } from '../src/store.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const notices = (h: Harness) => h.fake.sent.filter((s) => s.channel === 'sessionWebhook').map((s) => s.body.markdown?.text as string);

describe('notices about messages not answered', () => {
  test('20 quick messages from one group member: 5 taken, the 15 not taken get one "not taken" line, the 4 waiting one "queued" line; every drop is logged', async () => {
    h = await startHarness();
    h.gw.respond = (req) => ({ kind: 'stream', deltas: chunkText(`A:${lastUserText(req)}`), delayMs: 30 });
    const group = { group: true, conversationId: 'cidFLOOD==' } as const;
    const burst = Array.from({ length: 20 }, (_, i) => h!.fake.pushRobotMessage(h!.fake.msg.text(`q${i}`, { ...group, senderStaffId: 'flooder' })));
    for (const m of burst) await h.fake.waitForAck(m.messageId, { within: 2000 });
    await h.fake.waitFor(() => h!.gw.requests.length === 5 && h!.fake.cardList().filter((c) => c.flowStatusHistory.at(-1) === '3').length === 5, { timeoutMs: 8000 });
    expect(notices(h)).toEqual([
      '⏳ 1 earlier message(s) are being answered first; yours is next in line.\n\n@flooder',
      '⏳ You already have 5 messages waiting for an answer; this one was not taken. Please send it again once they are answered.\n\n@flooder',
    ]);
    expect(h.logs.filter((l) => l.includes('queueFull notice not sent: this sender had one in this conversation less than 60 s ago'))).toHaveLength(14);
    expect(h.logs.filter((l) => l.includes('queued notice not sent'))).toHaveLength(3);
  });

  test('another member of the flooded group, and the flooder in another conversation, still hear their own line', async () => {
    h = await startHarness();
    h.gw.respond = (req) => ({ kind: 'stream', deltas: chunkText(`A:${lastUserText(req)}`), delayMs: 30 });
    const group = { group: true, conversationId: 'cidFLOOD==' } as const;
    const pushes = [
      ...Array.from({ length: 7 }, (_, i) => h!.fake.pushRobotMessage(h!.fake.msg.text(`q${i}`, { ...group, senderStaffId: 'flooder' }))),
      h.fake.pushRobotMessage(h.fake.msg.text('colleague', { ...group, senderStaffId: 'u2' })),
      ...Array.from({ length: 7 }, (_, i) => h!.fake.pushRobotMessage(h!.fake.msg.text(`r${i}`, { group: true, conversationId: 'cidOTHER==', senderStaffId: 'flooder' }))),
    ];
    for (const m of pushes) await h.fake.waitForAck(m.messageId, { within: 2000 });
    await h.fake.waitFor(() => h!.fake.cardList().filter((c) => c.flowStatusHistory.at(-1) === '3').length === 11, { timeoutMs: 8000 });
    const lines = notices(h);
    expect(lines.filter((t) => t.includes('this one was not taken'))).toHaveLength(2);
    expect(lines.filter((t) => t.includes('earlier message(s) are being answered first'))).toEqual([
      '⏳ 1 earlier message(s) are being answered first; yours is next in line.\n\n@flooder',
      '⏳ 5 earlier message(s) are being answered first; yours is next in line.\n\n@u2',
      '⏳ 1 earlier message(s) are being answered first; yours is next in line.\n\n@flooder',
    ]);
  });

  test('stop words with nothing to stop: one line a minute per member (injected clock)', async () => {
    let now = Date.parse('2026-11-30T09:00:00Z');
    h = await startHarness({ store: new MemoryStore(() => now) });
    await h.send(h.fake.msg.text('停止', { senderStaffId: 'u1' }));
    for (let i = 0; i < 4; i++) h.fake.pushRobotMessage(h.fake.msg.text('停止', { senderStaffId: 'u1' }));
    await h.fake.waitFor(() => h!.logs.filter((l) => l.includes('nothingToStop notice not sent: this sender had one in this conversation less than 60 s ago')).length === 4);
    expect(notices(h)).toEqual(['当前没有正在进行的回答。']);
    now += 61_000;
    await h.send(h.fake.msg.text('/stop', { senderStaffId: 'u1' }));
    expect(notices(h)).toEqual(['当前没有正在进行的回答。', 'There is no answer in progress to stop.']);
    expect(h.gw.requests).toHaveLength(0);
  });
});
