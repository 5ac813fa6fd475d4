import { describe, expect, test } from 'vitest';
import { configuredApps, resolveAccount, type HostConfig } from '../src/config.ts';
import { callBudgetWarning, defaultCallBudget, monthlyCallBudget } from '../src/config-budget.ts';

const base: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingid', clientSecret: 'sec' } } };
const two = (a: Record<string, unknown> = {}, b: Record<string, unknown> = {}): HostConfig => ({
  channels: { 'dingtalk-ai': { accounts: { sales: { clientId: 'dingA', clientSecret: 's', ...a }, hr: { clientId: 'dingB', clientSecret: 's', ...b } } } },
});

describe('monthlyCallBudget', () => {
  test('negative, fractional, quoted or beyond any plan (1e300) is a problem naming the key; the largest sane value is kept', () => {
    const budget = (v: unknown) => resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'x', clientSecret: 's', monthlyCallBudget: v as number } } }, 'default', {});
    for (const v of [-1, 2.5, '4000', 1e300, 1_000_001]) {
      const a = budget(v);
      expect(a.problems).toHaveLength(1);
      expect(a.problems[0]).toMatch(/^channels\.dingtalk-ai\.monthlyCallBudget /);
    }
    expect(budget(1e300).problems[0]).toContain('at most 1000000 calls per month');
    expect(budget(1_000_000)).toMatchObject({ problems: [], monthlyCallBudget: 1_000_000 });
    expect(budget(0)).toMatchObject({ problems: [], monthlyCallBudget: 0 });
  });

  test('unset gives the fallback; a bad value gives the default 4000 with the problem and its fix', () => {
    const problems: string[] = [];
    expect(monthlyCallBudget(undefined, 'k', problems, 1234)).toBe(1234);
    expect(monthlyCallBudget('4000', 'channels.dingtalk-ai.accounts.sales.monthlyCallBudget', problems, 1234)).toBe(4000);
    expect(problems).toEqual([
      'channels.dingtalk-ai.accounts.sales.monthlyCallBudget must be a whole number of DingTalk calls per month (0 or more, without quotes), e.g. 4000; got "4000"',
    ]);
  });
});

describe('the apps of one config share the org allowance', () => {
  test('the default budget is split between the apps configured; explicit budgets past 5,000 together are warned about, naming the keys', () => {
    expect(resolveAccount(base, 'default', {}).monthlyCallBudget).toBe(4000);
    expect(resolveAccount(two(), 'sales', {}).monthlyCallBudget).toBe(2000);
    expect(resolveAccount(two(), 'hr', {}).monthlyCallBudget).toBe(2000);
    expect(callBudgetWarning(configuredApps(two(), {}))).toBeUndefined();
    // A disabled robot takes no share.
    expect(resolveAccount(two({}, { enabled: false }), 'sales', {}).monthlyCallBudget).toBe(4000);
    expect(callBudgetWarning(configuredApps(two({ monthlyCallBudget: 2500 }, { monthlyCallBudget: 2500 }), {}))).toBeUndefined();
    expect(callBudgetWarning(configuredApps(two({ monthlyCallBudget: 4000 }), {}))).toBe(
      'the 2 DingTalk apps configured here may spend 6000 calls a month together (channels.dingtalk-ai.accounts.sales.monthlyCallBudget: 4000, channels.dingtalk-ai.monthlyCallBudget: 2000), more than the 5000 the standard edition gives the whole org: lower them so they add up to your org\'s allowance (DingTalk developer console → 资源管理), or every app of the org stops when it runs out',
    );
  });

  test('the split rounds down (3 apps: 1333 each); one app, or none, keeps the whole default and is never warned about', () => {
    const app = (clientId: string) => ({ clientId, accountId: clientId, budget: undefined, key: `channels.dingtalk-ai.accounts.${clientId}.monthlyCallBudget` });
    expect(defaultCallBudget([app('a'), app('b'), app('c')])).toBe(1333);
    expect(defaultCallBudget([])).toBe(4000);
    expect(callBudgetWarning([{ ...app('a'), budget: 1_000_000 }])).toBeUndefined();
  });
});
