import { afterEach, describe, expect, test, vi } from 'vitest';
import { AppBudget, applyCallBudgets, budgetFor } from '../../src/dingtalk/budget.ts';
import type { HostConfig } from '../../src/config.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('app call budget', () => {
  test('no sliding second holds more calls than the budget (limit minus headroom)', async () => {
    const budget = new AppBudget({ perSecond: 7 }); // 5 calls per second after the 2-call headroom
    expect(budget.perSecond).toBe(5);
    const starts: number[] = [];
    await Promise.all(Array.from({ length: 12 }, () => budget.run('card.streaming', false, async () => void starts.push(performance.now()))));
    for (let i = 5; i < starts.length; i++) expect(starts[i]! - starts[i - 5]!).toBeGreaterThanOrEqual(995);
  });

  test('half the budget goes out at once, the rest is spaced evenly instead of bursting', async () => {
    const budget = new AppBudget({ perSecond: 12 }); // 10 per second: 5 at once, then one every 100 ms
    const starts: number[] = [];
    await Promise.all(Array.from({ length: 8 }, () => budget.run('x', false, async () => void starts.push(performance.now()))));
    expect(starts[4]! - starts[0]!).toBeLessThan(50);
    for (let i = 5; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(95);
  });

  test('a waiting call withdrawn by its signal never runs; the others go on', async () => {
    const budget = new AppBudget({ perSecond: 3 }); // one per second
    const ran: string[] = [];
    const first = budget.run('x', false, async () => void ran.push('first'));
    const controller = new AbortController();
    const withdrawn = budget.run('x', false, async () => void ran.push('withdrawn'), controller.signal);
    const last = budget.run('x', true, async () => void ran.push('final'));
    controller.abort(new Error('newer text'));
    await expect(withdrawn).rejects.toThrow('newer text');
    await Promise.all([first, last]);
    expect(ran).toEqual(['first', 'final']);
  });

  test('different APIs have separate budgets', async () => {
    const budget = new AppBudget({ perSecond: 3 });
    const t0 = performance.now();
    await Promise.all([budget.run('a', false, async () => {}), budget.run('b', false, async () => {})]);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  test('finals jump the queue of streaming updates', async () => {
    const budget = new AppBudget({ perSecond: 3 }); // 1 per second
    const order: string[] = [];
    const runs = ['u1', 'u2', 'u3'].map((n) => budget.run('card.streaming', false, async () => void order.push(n)));
    runs.push(budget.run('card.streaming', true, async () => void order.push('final')));
    expect(budget.pressure('card.streaming')).toBe(3); // three calls wait: 3 s of budget
    await Promise.all(runs);
    expect(order).toEqual(['u1', 'final', 'u2', 'u3']);
  });

  test('a penalty holds the API; the quota switch reports only its first trip', async () => {
    let now = 1_000;
    const budget = new AppBudget({ perSecond: 100, now: () => now });
    budget.penalize('x', 50);
    let ran = false;
    const p = budget.run('x', false, async () => void (ran = true));
    await sleep(20);
    expect(ran).toBe(false);
    now += 60;
    await p;
    expect(ran).toBe(true);
    expect(budget.quotaExhausted()).toBe(false);
    expect(budget.markQuotaExhausted()).toBe(true);
    expect(budget.markQuotaExhausted()).toBe(false);
    expect(budget.quotaExhausted()).toBe(true);
    now += 60 * 60_000 + 1;
    expect(budget.quotaExhausted()).toBe(false);
  });
});

/** The most of `times` (ms) in any half-open second [t, t + 1000): how the fake DingTalk and test/bench count. */
function maxInAnySecond(times: number[]): number {
  const ts = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; j < ts.length; j++) {
    while (ts[j]! - ts[i]! >= 1000) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

describe('app call budget, counted where DingTalk counts: on arrival', () => {
  afterEach(() => vi.useRealTimers());

  /**
   * 40 calls queued at once; `delayOf(startMs)` is how long each takes to reach DingTalk (a blocked event loop, a
   * busy HTTP agent, the network), and DingTalk answers 5 ms after it arrives. Returns the arrival times.
   */
  async function arrivals(delayOf: (startMs: number) => number, calls = 40): Promise<number[]> {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const t0 = Date.now();
    const budget = new AppBudget({ perSecond: 20, now: () => Date.now() - t0 }); // 18 per second after the headroom
    const seen: number[] = [];
    const runs = Array.from({ length: calls }, () =>
      budget.run('card.streaming', false, () => {
        const start = Date.now() - t0;
        return new Promise<void>((resolve) =>
          setTimeout(() => {
            seen.push(Date.now() - t0);
            setTimeout(resolve, 5);
          }, delayOf(start)),
        );
      }),
    );
    await vi.runAllTimersAsync();
    await Promise.all(runs);
    expect(seen).toHaveLength(calls);
    return seen;
  }

  test('calls held on the way and then released together never crowd one second at DingTalk', async () => {
    // Everything sent in the first 900 ms is held until 950 ms (an event loop blocked by a burst of work, then
    // draining), later calls go straight through. Counting starts (the old rule) let 35 arrive within one second.
    const seen = await arrivals((start) => (start < 900 ? 950 - start : 0));
    expect(maxInAnySecond(seen)).toBeLessThanOrEqual(18);
    // … and no slower than that requires: the held calls were answered at 955 ms, so the next ones go at 1,955 ms.
    expect([...seen].sort((a, b) => a - b)[18]).toBeLessThanOrEqual(1_960);
  });

  test('uneven delays on the way (0–300 ms, seeded): no second at DingTalk over the budget', async () => {
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const seen = await arrivals(() => Math.floor(random() * 300), 120);
    expect(maxInAnySecond(seen)).toBeLessThanOrEqual(18);
  });

  test('a call that hangs keeps its place in the window until it is answered', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const t0 = Date.now();
    const budget = new AppBudget({ perSecond: 3, now: () => Date.now() - t0 }); // 1 per second
    const started: number[] = [];
    const hung = budget.run('x', false, () => new Promise<void>((resolve) => (started.push(Date.now() - t0), setTimeout(resolve, 5_000))));
    const next = budget.run('x', false, async () => void started.push(Date.now() - t0));
    await vi.advanceTimersByTimeAsync(4_000);
    expect(started).toEqual([0]); // DingTalk may not have counted the first call yet
    await vi.runAllTimersAsync();
    await Promise.all([hung, next]);
    expect(started).toEqual([0, 6_000]); // answered at 5 s, out of the window at 6 s
  });
});

describe('the budget of an app', () => {
  test('is shared by everything on one clientId (restarts, other accounts, sends) and separate for another app; the latest edition sets the limit', () => {
    const a = budgetFor('dingSHARED1', 'standard');
    expect(budgetFor('dingSHARED1', 'standard')).toBe(a);
    expect(a.perSecond).toBe(18);
    expect(budgetFor('dingSHARED1', 'professional')).toBe(a);
    expect(a.perSecond).toBe(38);
    const b = budgetFor('dingOTHER2', 'professional');
    expect(b).not.toBe(a);
    a.markQuotaExhausted();
    expect(budgetFor('dingSHARED1').quotaExhausted()).toBe(true);
    expect(b.quotaExhausted()).toBe(false);
  });
});

describe('every config sets the budget of every app it names', () => {
  test('a third robot added while two run lowers every default share (4000 / 3 = 1333), explicit budgets and the edition hold, apps not set up here stay absent', () => {
    const main = budgetFor('dingApplyMAIN');
    const ops = budgetFor('dingApplyOPS');
    main.governor.configure({ monthlyCallBudget: 2000 });
    ops.governor.configure({ monthlyCallBudget: 2000 });
    const top = { clientId: 'dingApplyMAIN', clientSecret: 's' };
    const three: HostConfig = { channels: { 'dingtalk-ai': { ...top, accounts: { ops: { clientId: 'dingApplyOPS', clientSecret: 's' }, hr: { clientId: 'dingApplyHR', clientSecret: 's' } } } } };
    applyCallBudgets(three, {});
    expect([main.governor.budget, ops.governor.budget]).toEqual([1333, 1333]);
    // The new app's budget is set up by its own start (or first send), not by reading a config.
    expect(budgetFor('dingApplyHR').governor.budget).toBe(4000);
    // accounts.hr removed again, ops with an explicit budget on the professional edition: main gets 4000 / 2.
    applyCallBudgets({ channels: { 'dingtalk-ai': { ...top, accounts: { ops: { clientId: 'dingApplyOPS', clientSecret: 's', monthlyCallBudget: 1500, dingtalkEdition: 'professional' } } } } }, {});
    expect([main.governor.budget, ops.governor.budget, ops.perSecond]).toEqual([2000, 1500, 38]);
    // A disabled account's app counts for nothing and keeps its budget; a twin on main's robot changes nothing.
    applyCallBudgets({ channels: { 'dingtalk-ai': { ...top, accounts: { ops: { clientId: 'dingApplyOPS', clientSecret: 's', enabled: false }, copy: { clientId: 'dingApplyMAIN', clientSecret: 's', monthlyCallBudget: 7 } } } } }, {});
    expect([main.governor.budget, ops.governor.budget]).toEqual([4000, 1500]);
  });
});
