import { afterEach, describe, expect, test } from 'vitest';
import { AiCard } from '../src/card.ts';
import { DingTalkClient } from '../src/dingtalk/client.ts';
import { createLogger } from '../src/log.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';
import type { FaultRequest } from './fake-dingtalk/faults.ts';
import type { CardTracker } from '../src/card.ts';

let fake: FakeDingTalk;
afterEach(() => fake.close());

async function setup(latencyMs: number, intervalMs: number, over: { requestTimeoutMs?: number; tracker?: CardTracker } = {}) {
  fake = await startFakeDingTalk({ latencyMs });
  const log = createLogger({ info: () => {}, warn: () => {}, error: () => {} });
  // Retry back-off without waiting: a throttling storm that outlasts every retry takes no wall time here.
  const client = new DingTalkClient({ clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, log, sleep: async () => {}, requestTimeoutMs: over.requestTimeoutMs });
  return new AiCard({ client, templateId: 't.schema', target: { kind: 'dm', userId: 'u1' }, log, intervalMs, tracker: over.tracker });
}

const isFinal = (req: FaultRequest) => (req.body as { isFinalize?: boolean } | undefined)?.isFinalize === true;

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
    // Each update grows the text; the finalize may repeat the last update's text when that one already had it all.
    for (let i = 1; i < stream.updates.length - 1; i++) expect(stream.updates[i]!.content.length).toBeGreaterThan(stream.updates[i - 1]!.content.length);
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

describe('a card never stays typing when the final streaming write fails', () => {
  const answer = '这是一个简短的完整回答。';

  /** Stream a prefix, then finish; returns the card. */
  async function answerWith(card: AiCard): Promise<boolean> {
    void card.start();
    card.update('这是一个');
    await fake.waitFor(() => fake.cardList()[0]?.streams.msgContent?.content === '这是一个', { timeoutMs: 2000 });
    return card.finish(answer);
  }

  test.each([
    ['400 param.stream.content on the finalize', () => fake.faults.add({ match: { path: '/v1.0/card/streaming', when: isFinal, times: 1 }, action: { status: 400, body: { code: 'param.stream.content', message: 'content is too large' } } })],
    ['Card.Streaming.Write revoked (403) mid-answer', () => fake.faults.revokeScope('Card.Streaming.Write')],
    ['a throttling storm that outlasts every retry', () => fake.faults.qpsLimit('/v1.0/card/streaming', { times: Infinity })],
  ])('%s → the instance update shows the whole answer and ends the card FINISHED', async (_name, inject) => {
    const card = await setup(0, 0);
    void card.start();
    card.update('这是一个');
    await fake.waitFor(() => fake.cardList()[0]?.streams.msgContent?.content === '这是一个', { timeoutMs: 2000 });
    inject();
    expect(await card.finish(answer)).toBe(true);
    const c = fake.card(card.outTrackId);
    expect(fake.cardShows(c)).toBe(answer);
    expect(c.flowStatusHistory.at(-1)).toBe('3');
    expect(fake.cardTyping(c)).toBe(false);
  });

  test('a hung finalize (no answer until the timeout) → the instance update closes the card with the answer', async () => {
    const card = await setup(0, 0, { requestTimeoutMs: 150 });
    fake.faults.add({ match: { path: '/v1.0/card/streaming', when: isFinal }, action: { hang: true } });
    expect(await answerWith(card)).toBe(true);
    const c = fake.card(card.outTrackId);
    expect(fake.cardShows(c)).toBe(answer);
    expect(c.flowStatusHistory.at(-1)).toBe('3');
  });

  test('neither API can show the answer → finish is false; redirect ends the card with the note instead of the stale prefix', async () => {
    const card = await setup(0, 0);
    void card.start();
    card.update('这是一个');
    await fake.waitFor(() => fake.cardList()[0]?.streams.msgContent?.content === '这是一个', { timeoutMs: 2000 });
    // Too long for either API (the note is short and passes).
    const tooLong = (req: FaultRequest) => JSON.stringify(req.body ?? {}).includes(answer);
    fake.faults.add({ match: { path: /^\/v1\.0\/card\/(streaming|instances)$/, method: 'PUT', when: tooLong }, action: { status: 400, body: { code: 'param.stream.content', message: 'content is too large' } } });
    expect(await answerWith(card)).toBe(false);
    expect(await card.redirect('💬 回答已以消息形式发送（见下方）。')).toBe(true);
    const c = fake.card(card.outTrackId);
    expect(fake.cardShows(c)).toBe('💬 回答已以消息形式发送（见下方）。');
    expect(fake.cardTyping(c)).toBe(false);
  });

  test('a createAndDeliver that timed out may have made the card: redirect closes it; a refused create is not touched', async () => {
    const closedIds: string[] = [];
    const tracker: CardTracker = { opened: () => {}, shown: () => {}, closed: (id) => closedIds.push(id) };
    const card = await setup(0, 0, { requestTimeoutMs: 150, tracker });
    fake.faults.add({ match: { path: '/v1.0/card/instances/createAndDeliver', times: 1 }, action: { delayMs: 400 } });
    expect(await card.start()).toBe(false);
    await fake.waitFor(() => fake.cardList().length === 1, { timeoutMs: 2000 });
    expect(closedIds).toEqual([]);
    expect(await card.redirect('note')).toBe(true);
    expect(fake.cardTyping(fake.card(card.outTrackId))).toBe(false);
    expect(closedIds).toEqual([card.outTrackId]);

    fake.faults.rejectCardCreate();
    const refused = new AiCard({ ...(card as unknown as { opts: ConstructorParameters<typeof AiCard>[0] }).opts, tracker });
    expect(await refused.start()).toBe(false);
    expect(closedIds).toContain(refused.outTrackId);
    expect(await refused.redirect('note')).toBe(false);
  });
});

describe('final-only card (delivery mode 3): the fewest calls the card API allows', () => {
  async function finalOnly(createDelayMs: number) {
    fake = await startFakeDingTalk();
    const log = createLogger({ info: () => {}, warn: () => {}, error: () => {} });
    const client = new DingTalkClient({ clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, log, sleep: async () => {} });
    return new AiCard({ client, templateId: 't.schema', target: { kind: 'dm', userId: 'u1' }, log, intervalMs: 10, finalOnly: { createDelayMs } });
  }
  const cardCalls = () => fake.calls.filter((c) => c.path.startsWith('/v1.0/card/'));

  test('a slow answer: the thinking card, then one instance update with the whole text and FINISHED (2 calls)', async () => {
    const card = await finalOnly(0);
    void card.start();
    await fake.waitFor(() => fake.cardList().length === 1);
    const made = fake.card(card.outTrackId);
    // Thinking (PROCESSING, spec §3.3 flowStatus 1), nothing shown yet.
    expect(made.flowStatusHistory).toEqual(['1']);
    for (const t of ['部分', '部分文字', '部分文字更多']) card.update(t);
    await sleep(50);
    const answer = '完整的回答，**一次**到达。\n\n第二段。';
    expect(await card.finish(answer)).toBe(true);
    expect(cardCalls().map((c) => `${c.method} ${c.path}`)).toEqual(['POST /v1.0/card/instances/createAndDeliver', 'PUT /v1.0/card/instances']);
    expect(made.streams.msgContent).toBeUndefined();
    expect(fake.cardShows(made)).toBe(answer);
    expect(made.flowStatusHistory).toEqual(['1', '3']);
    expect(fake.cardTyping(made)).toBe(false);
    expect(card.calls).toBe(2);
  });

  test('an answer ready before the card was created: created already finished, one call', async () => {
    const card = await finalOnly(10_000);
    void card.start();
    const answer = '短回答。';
    expect(await card.finish(answer)).toBe(true);
    expect(cardCalls().map((c) => `${c.method} ${c.path}`)).toEqual(['POST /v1.0/card/instances/createAndDeliver']);
    const made = fake.card(card.outTrackId);
    expect(made.flowStatusHistory).toEqual(['3']);
    expect(fake.cardShows(made)).toBe(answer);
    expect(card.calls).toBe(1);
  });

  test('a failed answer ready early: created FAILED with the message, one call', async () => {
    const card = await finalOnly(10_000);
    void card.start();
    expect(await card.fail('出错了')).toBe(true);
    const made = fake.card(card.outTrackId);
    expect([made.flowStatusHistory, fake.cardShows(made), cardCalls().length]).toEqual([['5'], '出错了', 1]);
  });

  test('the instance update refused: the streaming finalize still ends the card with the text', async () => {
    const card = await finalOnly(0);
    await card.start();
    fake.faults.add({ match: { path: '/v1.0/card/instances', method: 'PUT' }, action: { status: 400, body: { code: 'param.invalid', message: 'refused' } } });
    expect(await card.finish('回答')).toBe(true);
    const made = fake.card(card.outTrackId);
    expect(made.streams.msgContent).toMatchObject({ content: '回答', finalized: true });
    expect(fake.cardTyping(made)).toBe(false);
  });
});
