import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { AppBudget, budgetFor } from '../../src/dingtalk/budget.ts';
import {
  CallBudgetSpentError,
  CallGovernor,
  cstMonth,
  FLOOD_SENDER_ANSWERS,
  type AnswerRequest,
} from '../../src/dingtalk/governor.ts';
import { createLogger } from '../../src/log.ts';
import { FileStore, MemoryStore } from '../../src/store.ts';
import { startHarness, type Harness } from '../harness.ts';
import { chunkText } from '../fake-gateway/index.ts';

const DAY = 86_400_000;
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(200, 7)]);
const PDF = Buffer.from('%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n');
const dm = (senderId = 'u1'): AnswerRequest => ({ isGroup: false, senderId, conversationId: `c-${senderId}`, streaming: 'on' });

function clock(iso: string) {
  let t = Date.parse(iso);
  return { now: () => t, set: (s: string) => (t = Date.parse(s)), add: (ms: number) => (t += ms) };
}

function logs() {
  const lines: string[] = [];
  return { lines, log: createLogger({ info: (m) => lines.push(`INFO ${m}`), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) }) };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** `n` counted API calls. */
const spend = (g: CallGovernor, n: number) => {
  for (let i = 0; i < n; i++) g.counted('api');
};

describe('month in China Standard Time', () => {
  test('DingTalk counters reset at 00:00 CST = 16:00 UTC the day before', () => {
    expect(cstMonth(Date.parse('2026-11-30T15:59:59Z'))).toBe('2026-11');
    expect(cstMonth(Date.parse('2026-11-30T16:00:00Z'))).toBe('2026-12');
    expect(cstMonth(Date.parse('2026-12-31T16:00:00Z'))).toBe('2027-01');
  });

  test('a spent budget says when it comes back: the 1st of the next month, China time', () => {
    // 2026-12-31 23:59:59 in Beijing → 2027-01-01; one second later it is January there → 2027-02-01.
    expect(new CallBudgetSpentError('robot.batchSend', 0, Date.parse('2026-12-31T15:59:59Z')).message).toBe(
      "DingTalk robot.batchSend not called: this app's monthlyCallBudget (0 calls) is spent for this month; it resets on 2027-01-01 00:00 China time (UTC+8), or raise monthlyCallBudget",
    );
    expect(new CallBudgetSpentError('robot.batchSend', 0, Date.parse('2026-12-31T16:00:00Z')).resetsOn).toBe('2027-02-01');
    const g = new CallGovernor({ clientId: 'dingX', monthlyCallBudget: 0, now: () => Date.parse('2026-11-30T16:00:00Z') });
    expect(() => g.admit('media.upload', false)).toThrow('it resets on 2027-01-01 00:00 China time');
  });
});

describe('calls counted per app per month in the state store', () => {
  test('a restart (new governor, same folder) keeps the count; the CST month boundary starts from 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gov-'));
    const c = clock('2026-11-30T15:59:00Z');
    const first = new CallGovernor({ clientId: 'dingA', monthlyCallBudget: 1000, now: c.now });
    const store1 = new FileStore({ dir, now: c.now });
    await first.attach(store1);
    spend(first, 37);
    first.counted('webhook');
    await tick();
    await store1.flush();

    const again = new CallGovernor({ clientId: 'dingA', monthlyCallBudget: 1000, now: c.now });
    await again.attach(new FileStore({ dir, now: c.now }));
    expect(again.status()).toMatchObject({ month: '2026-11', calls: 37, webhookCalls: 1, budget: 1000 });

    c.set('2026-11-30T15:59:59Z');
    expect(again.status().calls).toBe(37);
    c.set('2026-11-30T16:00:00Z');
    expect(again.status()).toMatchObject({ month: '2026-12', calls: 0, webhookCalls: 0 });
    spend(again, 2);
    await tick();
    // November stays as it was; December has its own counter.
    c.set('2026-11-30T15:59:59Z');
    const nov = new CallGovernor({ clientId: 'dingA', now: c.now });
    await nov.attach(new MemoryStore(c.now));
    const store = new FileStore({ dir, now: c.now });
    await nov.attach(store);
    expect(nov.status().calls).toBe(37);
  });

  test('another app on the same store has its own counter', async () => {
    const c = clock('2026-11-10T00:00:00Z');
    const store = new MemoryStore(c.now);
    const a = new CallGovernor({ clientId: 'dingA', now: c.now });
    const b = new CallGovernor({ clientId: 'dingB', now: c.now });
    await a.attach(store);
    await b.attach(store);
    spend(a, 5);
    await tick();
    const a2 = new CallGovernor({ clientId: 'dingA', now: c.now });
    const b2 = new CallGovernor({ clientId: 'dingB', now: c.now });
    await a2.attach(store);
    await b2.attach(store);
    expect([a2.status().calls, b2.status().calls]).toEqual([5, 0]);
  });

  test('two accounts of one app with different state folders: the higher count wins whichever starts first', async () => {
    const c = clock('2026-11-10T00:00:00Z');
    const [s1, s2] = [new MemoryStore(c.now), new MemoryStore(c.now)];
    const g = new CallGovernor({ clientId: 'dingA', now: c.now });
    await g.attach(s1);
    spend(g, 10);
    await g.attach(s2);
    spend(g, 1);
    await tick();
    const restarted = new CallGovernor({ clientId: 'dingA', now: c.now });
    await restarted.attach(s2);
    expect(restarted.status().calls).toBe(11);
  });
});

describe('the governor picks each answer’s delivery mode', () => {
  test('steps down as the budget runs low and back up as the rate drops and a new month starts', () => {
    const c = clock('2026-11-02T02:00:00Z');
    const g = new CallGovernor({ clientId: 'dingA', monthlyCallBudget: 5000, now: c.now });
    // Fresh month, no answers yet: the best mode.
    const first = g.plan(dm());
    expect(first.mode).toBe('stream');
    first.done({ durationMs: 30_000 });

    // 60 answers a day for a week, 18 calls each: 7,560 calls would be more than the budget; the governor steps down.
    const seen = new Set<string>();
    for (let day = 0; day < 7; day++) {
      for (let i = 0; i < 60; i++) {
        c.add(10 * 60_000);
        const p = g.plan(dm(`u${i}`));
        seen.add(p.mode);
        const cost = p.mode === 'stream' ? 18 : p.mode === 'stream-wide' ? 3 + Math.ceil(30_000 / p.intervalMs) : p.mode === 'final-card' ? 2 : 0;
        spend(g, cost);
        p.done({ durationMs: 30_000 });
      }
      c.add(DAY - 600 * 60_000);
    }
    expect(g.status().calls).toBeLessThanOrEqual(5000);
    expect(seen).toContain('stream');
    expect([...seen].some((m) => m !== 'stream')).toBe(true);
    const low = g.status().mode;
    expect(low).not.toBe('stream');

    // Nobody writes for two weeks: answers per day fall, the allowance per answer grows, the mode steps back up.
    c.add(14 * DAY);
    const later = g.status().mode;
    const rank = ['stream', 'stream-wide', 'final-card', 'markdown'];
    expect(rank.indexOf(later)).toBeLessThan(rank.indexOf(low));

    // A new month (CST): the best mode again.
    c.set('2026-11-30T16:00:00Z');
    expect(g.status().mode).toBe('stream');
  });

  test('a wider grid when the allowance is between a streamed and a final-only card', () => {
    const c = clock('2026-11-16T00:00:00Z');
    const g = new CallGovernor({ clientId: 'dingA', monthlyCallBudget: 5000, now: c.now });
    // 15 days in, 40 answers a day so far; 15 days left → ~600 answers expected.
    for (let i = 0; i < 600; i++) g.plan(dm(`s${i}`)).done({ durationMs: 30_000 });
    spend(g, 5000 - 600 * 8);
    const p = g.plan(dm('x'));
    expect(p.mode).toBe('stream-wide');
    expect(p.intervalMs).toBeGreaterThan(2 * 1998 - 1);
    // Its expected cost fits in the allowance of ~8 calls: 3 fixed + 30 s of updates.
    expect(3 + Math.ceil(30_000 / p.intervalMs)).toBeLessThanOrEqual(8);
  });

  test('never beyond the budget: with no room for a card’s fixed calls, markdown; optional updates and calls stop first', () => {
    const c = clock('2026-11-16T00:00:00Z');
    const g = new CallGovernor({ clientId: 'dingA', monthlyCallBudget: 100, now: c.now });
    spend(g, 97);
    const a = g.plan(dm('a'));
    // 3 calls left: a final-only card (2 reserved) fits, a streamed one (3 fixed + updates) does not.
    expect(a.mode).toBe('final-card');
    // 97 used + 2 reserved for a: no room for another card beside it.
    expect(g.plan(dm('b')).mode).toBe('markdown');
    // a's create goes out: 98 used + 2 reserved.
    spend(g, 1);
    // Reserved calls of answers in progress still go (priority); optional ones do not.
    expect(g.mayStream()).toBe(false);
    expect(() => g.admit('media.upload', false)).toThrow(CallBudgetSpentError);
    expect(() => g.admit('card.update', true)).not.toThrow();
    a.done();
    expect(g.mayStream()).toBe(true);
  });

  test('a flood from one sender: answers beyond the per-minute rate take final-only cards, then markdown; a minute later streaming again', () => {
    const c = clock('2026-11-16T00:00:00Z');
    const g = new CallGovernor({ clientId: 'dingA', now: c.now });
    const modes = Array.from({ length: 40 }, () => {
      c.add(500);
      const p = g.plan(dm('flooder'));
      p.done();
      return p.mode;
    });
    expect(modes.slice(0, FLOOD_SENDER_ANSWERS)).toEqual(Array(FLOOD_SENDER_ANSWERS).fill('stream'));
    expect(modes.slice(FLOOD_SENDER_ANSWERS, 2 * FLOOD_SENDER_ANSWERS)).toEqual(Array(FLOOD_SENDER_ANSWERS).fill('final-card'));
    expect(new Set(modes.slice(2 * FLOOD_SENDER_ANSWERS))).toEqual(new Set(['markdown']));
    // Another sender is not held back by the flooder.
    expect(g.plan(dm('colleague')).mode).toBe('stream');
    c.add(61_000);
    expect(g.plan(dm('flooder')).mode).toBe('stream');
  });

  test('a flood is counted as the messages arrive: 40 quick messages whose 20-s answers run one after another still get FLOOD_SENDER_ANSWERS streamed, as many final-only, the rest markdown', () => {
    const c = clock('2026-11-16T00:00:00Z');
    const g = new CallGovernor({ clientId: 'dingA', now: c.now });
    // All 40 arrive within 20 s; the conversation queue then answers them one at a time, 20 s each.
    const arrivals = Array.from({ length: 40 }, () => (c.add(500), g.arrived({ senderId: 'flooder', conversationId: 'c-flooder' })));
    const modes = arrivals.map((arrival) => {
      const p = g.plan({ ...dm('flooder'), arrival });
      c.add(20_000);
      p.done();
      return p.mode;
    });
    const n = FLOOD_SENDER_ANSWERS;
    expect(modes.slice(0, n)).toEqual(Array(n).fill('stream'));
    expect(modes.slice(n, 2 * n)).toEqual(Array(n).fill('final-card'));
    expect(new Set(modes.slice(2 * n))).toEqual(new Set(['markdown']));
    // Answers that start long after the burst do not count as new arrivals: a message sent now streams again.
    expect(g.plan(dm('flooder')).mode).toBe('stream');
  });

  test('streaming "dm" / "group" / "off": a final-only card where the answer does not stream', () => {
    const c = clock('2026-11-16T00:00:00Z');
    const g = new CallGovernor({ clientId: 'dingA', now: c.now });
    const mode = (streaming: AnswerRequest['streaming'], isGroup: boolean, who: string) => g.plan({ isGroup, senderId: who, conversationId: who, streaming }).mode;
    expect([mode('dm', false, 'a'), mode('dm', true, 'b')]).toEqual(['stream', 'final-card']);
    expect([mode('group', false, 'c'), mode('group', true, 'd')]).toEqual(['final-card', 'stream']);
    expect([mode('off', false, 'e'), mode('off', true, 'f')]).toEqual(['final-card', 'final-card']);
    expect([mode('on', false, 'g'), mode('on', true, 'h')]).toEqual(['stream', 'stream']);
  });
});

describe('visibility', () => {
  test('50 %, 80 %, 100 % logged once each per month, with the run-out date, also across a restart', async () => {
    const c = clock('2026-11-06T00:00:00Z');
    const store = new MemoryStore(c.now);
    const { lines, log } = logs();
    const g = new CallGovernor({ clientId: 'dingA', monthlyCallBudget: 1000, now: c.now, log });
    await g.attach(store);
    spend(g, 500);
    await tick();
    spend(g, 10);
    await tick();
    const warns = () => lines.filter((l) => l.includes('monthlyCallBudget'));
    expect(warns()).toHaveLength(1);
    // 500 calls in 5.33 days (since 2026-11-01 00:00 CST) → 1,000 on about day 10.7: 2026-11-11 (CST).
    expect(warns()[0]).toMatch(/50 % used: 500 of 1000 calls in 2026-11; at this rate it runs out on 2026-11-11/);

    const { lines: lines2, log: log2 } = logs();
    const restarted = new CallGovernor({ clientId: 'dingA', monthlyCallBudget: 1000, now: c.now, log: log2 });
    await restarted.attach(store);
    await tick();
    expect(lines2.filter((l) => l.includes('monthlyCallBudget'))).toEqual([]);
    spend(restarted, 300);
    await tick();
    spend(restarted, 200);
    await tick();
    expect(lines2.filter((l) => l.includes('monthlyCallBudget')).map((l) => /(\d+) % used/.exec(l)![1])).toEqual(['80', '100']);
    expect(lines2.at(-1)).toMatch(/answers come as markdown/);
    expect(restarted.status()).toMatchObject({ calls: 1010, budget: 1000, mode: 'markdown', runsOutOn: '2026-11-06' });
  });
});

// ---- through the real pipeline against the fake DingTalk ----

describe('reconfigured at an account restart', () => {
  test('the threshold lines go to the restarted account’s logger, not the stopped one’s', () => {
    const c = clock('2026-11-10T00:00:00Z');
    const [before, after] = [logs(), logs()];
    const g = new CallGovernor({ now: c.now });
    g.configure({ clientId: 'dingA', monthlyCallBudget: 10, log: before.log });
    g.configure({ clientId: 'dingA', monthlyCallBudget: 10, log: after.log });
    spend(g, 5);
    expect(before.lines).toEqual([]);
    expect(after.lines.some((l) => l.includes('monthlyCallBudget 50 % used'))).toBe(true);
  });
});

describe('the governor in the reply pipeline (fake DingTalk)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  // The budget comes from the account's config (`monthlyCallBudget`, 4000 unless a test says otherwise).
  const withGovernor = (now?: () => number) => new AppBudget({ governor: new CallGovernor({ now }) });
  const cfg = (monthlyCallBudget = 4000, more: Record<string, unknown> = {}) => ({ monthlyCallBudget, ...more });
  const sessionReplies = (h: Harness) => h.fake.calls.filter((c) => c.path === '/robot/sendBySession');
  const cardCalls = (h: Harness) => h.fake.calls.filter((c) => c.path.startsWith('/v1.0/card/'));

  test('every call the fake counts is counted, the token is not; sessionWebhook replies on their own meter', async () => {
    const budget = withGovernor();
    h = await startHarness({ budget, config: cfg() });
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText('一个流式回答，分几块到达。', 3), delayMs: 40 });
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    // An expired sessionWebhook: the reply goes through the robot API, which counts.
    const late = h.fake.msg.text('/new', { senderStaffId: 'u1' });
    h.fake.faults.sessionExpired();
    await h.send(late);
    await h.send(h.fake.msg.text('/new', { senderStaffId: 'u2' }));
    // The fake records a call before it answers; the client counts it once the answer is back.
    await h.fake.waitFor(() => budget.governor.status().calls === h!.fake.quotaCalls.length && budget.governor.status().webhookCalls === sessionReplies(h!).length);
    const s = budget.governor.status();
    expect(h.fake.calls.some((c) => c.path === '/v1.0/oauth2/accessToken')).toBe(true);
    expect(h.fake.quotaCalls.some((c) => c.path === '/v1.0/robot/oToMessages/batchSend')).toBe(true);
    expect(s.calls).toBe(h.fake.quotaCalls.length);
    expect(s.webhookCalls).toBe(sessionReplies(h).length);
    expect(s.webhookCalls).toBeGreaterThan(0);
  });

  test('streaming "dm": the DM answer streams; the group answer is a final-only card with the exact text, FINISHED', async () => {
    h = await startHarness({ budget: withGovernor(), config: cfg(4000, { streaming: 'dm' }) });
    const answer = '这是完整的回答：第一段。\n\n第二段，**加粗**。';
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 4), delayMs: 60 });
    await h.send(h.fake.msg.text('单聊', { senderStaffId: 'u1' }));
    const [dmCard] = h.fake.cardList();
    expect(dmCard!.streams.msgContent!.updates.filter((u) => !u.isFinalize).length).toBeGreaterThan(0);
    expect(h.fake.cardShows(dmCard!)).toBe(answer);

    const before = cardCalls(h).length;
    await h.send(h.fake.msg.text('群聊', { group: true, senderStaffId: 'u2' }));
    const groupCard = h.fake.cardList()[1]!;
    expect(groupCard.streams.msgContent).toBeUndefined();
    expect(h.fake.cardShows(groupCard)).toBe(answer);
    expect(groupCard.flowStatusHistory.at(-1)).toBe('3');
    expect(h.fake.cardTyping(groupCard)).toBe(false);
    // Ready within the create delay: created already finished, one call.
    expect(cardCalls(h).length - before).toBe(1);
  });

  test('mode 2 (a wider grid): fewer updates, still streamed, the exact final text, FINISHED', async () => {
    // Mid-month, 600 short answers so far, calls left for ~7 per answer: too few to stream on the base grid.
    const c = clock('2026-11-16T00:00:00Z');
    const budget = withGovernor(c.now);
    budget.governor.configure({ monthlyCallBudget: 5000, baseIntervalMs: 30 });
    for (let i = 0; i < 600; i++) budget.governor.plan(dm(`s${i}`)).done({ durationMs: 200 });
    spend(budget.governor, 982);
    h = await startHarness({ budget, config: cfg(5000), cardIntervalMs: 30 });
    const answer = '较慢更新的流式回答：' + '一二三四五六七八九十'.repeat(4);
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 2), delayMs: 15 });
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'wide' }));
    const line = h.logs.find((l) => l.includes('delivery mode'))!;
    const grid = Number(/delivery mode 2 \(stream-wide, (\d+) ms grid\)/.exec(line)?.[1]);
    expect(grid).toBeGreaterThanOrEqual(60);
    const [card] = h.fake.cardList();
    const updates = card!.streams.msgContent!.updates;
    expect(updates.filter((u) => !u.isFinalize).length).toBeGreaterThan(0);
    // Updates on the wider grid (slots `grid` ms apart; the base grid here is 30 ms): one per slot at most.
    const at = updates.filter((u) => !u.isFinalize).map((u) => u.at);
    expect(at.length - 1).toBeLessThanOrEqual(Math.floor((at.at(-1)! - at[0]!) / grid) + 1);
    expect(h.fake.cardShows(card!)).toBe(answer);
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
  });

  test('budget spent: the answer comes whole as markdown and no counted call is made', async () => {
    const budget = withGovernor();
    h = await startHarness({ budget, config: cfg(20) });
    const answer = '预算用完后的回答。';
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 3), delayMs: 5 });
    spend(budget.governor, 20);
    const counted = h.fake.quotaCalls.length;
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    expect(h.fake.quotaCalls.length).toBe(counted);
    expect(h.fake.cardList()).toEqual([]);
    expect(sessionReplies(h).map((c) => (c.body as { markdown: { text: string } }).markdown.text)).toEqual([answer]);
  });

  test('budget 0: an answer with an image and a file makes no counted call; the text comes by sessionWebhook with a note for each file not sent', async () => {
    const budget = withGovernor();
    h = await startHarness({ budget, config: cfg(0) });
    const dir = await mkdtemp(join(tmpdir(), 'gov-media-'));
    await writeFile(join(dir, 'chart.png'), PNG);
    await writeFile(join(dir, '报价单.pdf'), PDF);
    h.gw.respond = () => ({ kind: 'stream', deltas: ['报告：\n', `![图](${join(dir, 'chart.png')})\n`, `MEDIA: ${join(dir, '报价单.pdf')}\n`], delayMs: 2 });
    await h.send(h.fake.msg.text('生成报告', { senderStaffId: 'u1' }));
    expect(h.fake.quotaCalls).toEqual([]);
    expect(h.fake.media.size).toBe(0);
    expect(budget.governor.status().calls).toBe(0);
    expect(sessionReplies(h).map((c) => (c.body as { markdown: { text: string } }).markdown.text)).toEqual([
      '报告：\n⚠️ 未发送「chart.png」：本月的钉钉调用预算已用完\n⚠️ 未发送「报价单.pdf」：本月的钉钉调用预算已用完\n',
    ]);
  });

  test('budget spent and the sessionWebhook expired: the robot-API fallback is refused too; the answer is kept and comes with the next message', async () => {
    const budget = withGovernor();
    h = await startHarness({ budget, config: cfg(0) });
    const first = h.fake.msg.text('第一问', { senderStaffId: 'u1' });
    h.fake.faults.sessionExpired();
    h.fake.pushRobotMessage(first);
    await h.fake.waitFor(() => h!.logs.some((l) => /answer not delivered .*monthlyCallBudget \(0 calls\) is spent.*; kept/.test(l)));
    expect(h.fake.quotaCalls).toEqual([]);
    await h.send(h.fake.msg.text('第二问', { senderStaffId: 'u1' }));
    const texts = sessionReplies(h).map((c) => (c.body as { markdown: { text: string } }).markdown.text);
    await h.fake.waitFor(() => sessionReplies(h!).length === 3);
    texts.push(...sessionReplies(h).slice(texts.length).map((c) => (c.body as { markdown: { text: string } }).markdown.text));
    expect(h.fake.quotaCalls).toEqual([]);
    expect(texts.some((t) => t.includes('Echo: 第一问'))).toBe(true);
    expect(texts.at(-1)).toBe('Echo: 第二问');
  });

  test('only the calls a plan reserved pass a spent budget: the card (2 calls) ends with the text, the upload beyond the budget is refused with a note', async () => {
    const budget = withGovernor();
    h = await startHarness({ budget, config: cfg(2) });
    const dir = await mkdtemp(join(tmpdir(), 'gov-media-'));
    await writeFile(join(dir, 'chart.png'), PNG);
    h.gw.respond = () => ({ kind: 'stream', deltas: ['图表：', `![趋势](${join(dir, 'chart.png')})`], delayMs: 1_600 });
    await h.send(h.fake.msg.text('画图', { senderStaffId: 'u1' }));
    const [card] = h.fake.cardList();
    expect(h.fake.cardShows(card!)).toBe('图表：⚠️ 未发送「chart.png」：本月的钉钉调用预算已用完');
    expect(h.fake.media.size).toBe(0);
    await h.fake.waitFor(() => budget.governor.status().calls === h!.fake.quotaCalls.length);
    expect(h.fake.quotaCalls.length).toBe(2);
    expect(budget.governor.status()).toMatchObject({ calls: 2, budget: 2 });
  });

  test('ApiCountLimitForOrg from DingTalk (other apps spent it) still switches to markdown', async () => {
    h = await startHarness({ budget: withGovernor(), config: cfg() });
    h.fake.faults.monthlyQuotaExhausted();
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    expect(sessionReplies(h).map((c) => (c.body as { markdown: { text: string } }).markdown.text)).toEqual(['Echo: 你好']);
    await h.fake.waitFor(() => h!.logs.some((l) => /monthly API quota of the org is exhausted/.test(l)));
    // The next answer does not even try a card.
    const cards = h.fake.calls.filter((c) => c.path.endsWith('/createAndDeliver')).length;
    await h.send(h.fake.msg.text('再问', { senderStaffId: 'u1' }));
    expect(h.fake.calls.filter((c) => c.path.endsWith('/createAndDeliver')).length).toBe(cards);
  });

  test('two accounts of one app share one governor; another app has its own', async () => {
    const a = budgetFor('dingSHARED');
    expect(budgetFor('dingSHARED').governor).toBe(a.governor);
    expect(budgetFor('dingOTHER').governor).not.toBe(a.governor);
    const budget = withGovernor();
    h = await startHarness({ budget, config: cfg() });
    const second = await startHarness({ budget, config: cfg() });
    try {
      await h.send(h.fake.msg.text('一', { senderStaffId: 'u1' }));
      await second.send(second.fake.msg.text('二', { senderStaffId: 'u1' }));
      await h.fake.waitFor(() => budget.governor.status().calls === h!.fake.quotaCalls.length + second.fake.quotaCalls.length);
      expect(h.fake.quotaCalls.length).toBeGreaterThan(0);
      expect(second.fake.quotaCalls.length).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  });
});
