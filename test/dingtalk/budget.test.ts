import { describe, expect, test } from 'vitest';
import { AppBudget } from '../../src/dingtalk/budget.ts';

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
