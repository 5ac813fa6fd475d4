import { afterEach, describe, expect, test } from 'vitest';
import { AiCard } from '../src/card.ts';
import { DingTalkClient } from '../src/dingtalk/client.ts';
import { createLogger } from '../src/log.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';

let fake: FakeDingTalk;
afterEach(() => fake.close());

async function setup(latencyMs: number, intervalMs: number) {
  fake = await startFakeDingTalk({ latencyMs });
  const log = createLogger({ info: () => {}, warn: () => {}, error: () => {} });
  const client = new DingTalkClient({ clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, log });
  return new AiCard({ client, templateId: 't.schema', target: { kind: 'dm', userId: 'u1' }, log, intervalMs });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AI card streaming', () => {
  test('coalesces: newest text wins, updates never overlap, and the final text is exact', async () => {
    const card = await setup(30, 0);
    void card.start();
    let text = '';
    for (let i = 0; i < 200; i++) {
      text += `词${i} `;
      card.update(text);
      if (i % 20 === 0) await sleep(10);
    }
    expect(await card.finish(text)).toBe(true);
    const stream = fake.card(card.outTrackId)!.streams.msgContent!;
    expect(stream.updates.length).toBeLessThan(30);
    expect(stream.updates.at(-1)).toMatchObject({ content: text, isFinalize: true });
    for (let i = 1; i < stream.updates.length; i++) expect(stream.updates[i]!.content.length).toBeGreaterThan(stream.updates[i - 1]!.content.length);
    // One in flight: each streaming call arrives after the previous one was answered (30 ms latency).
    const arrivals = fake.calls.filter((c) => c.path === '/v1.0/card/streaming').map((c) => c.mono);
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(25);
  });

  test('the first words go out as soon as the card exists; later updates respect the interval', async () => {
    const card = await setup(0, 150);
    void card.start();
    card.update('first');
    await fake.waitFor(() => fake.card(card.outTrackId)?.streams.msgContent?.content === 'first', { timeoutMs: 1000 });
    const started = performance.now();
    for (let i = 0; i < 30; i++) {
      card.update(`first ${'x'.repeat(i + 1)}`);
      await sleep(10);
    }
    const elapsed = performance.now() - started;
    await card.finish('done');
    const updates = fake.card(card.outTrackId)!.streams.msgContent!.updates.filter((u) => !u.isFinalize);
    expect(updates.length).toBeLessThanOrEqual(Math.ceil(elapsed / 150) + 1);
  });

  test('a card that cannot be created reports false and makes no streaming calls', async () => {
    const card = await setup(0, 0);
    fake.faults.rejectCardCreate('param.templateNotExist');
    card.update('text');
    expect(await card.start()).toBe(false);
    expect(await card.finish('text')).toBe(false);
    expect(fake.sequence().some((s) => s.includes('/card/streaming'))).toBe(false);
    expect(card.failure).toContain('param.templateNotExist');
  });

  test('a 200 with deliverResults success:false counts as not delivered', async () => {
    const card = await setup(0, 0);
    fake.faults.deliverResultFailure('user not in org');
    expect(await card.start()).toBe(false);
    expect(card.failure).toContain('user not in org');
  });
});
