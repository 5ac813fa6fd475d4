/**
 * The `monthlyCallBudget` keys (issue 18): one account's value read and checked, the default each app gets when the
 * key is unset (the org's allowance split between the apps of one config), and the warning when the apps' budgets
 * add up past what the org has. The governor that spends a budget is src/dingtalk/governor.ts; which apps a config
 * names is src/config.ts (`configuredApps`).
 */
import { DEFAULT_MONTHLY_CALL_BUDGET, DOCUMENTED_ORG_ALLOWANCE, MAX_MONTHLY_CALL_BUDGET } from './dingtalk/governor.ts';

/** One DingTalk app (a distinct clientId) of a config, as its first enabled account writes its budget. */
export interface ConfiguredApp {
  clientId: string;
  /** The first enabled account that names the app (listAccountIds order). */
  accountId: string;
  /** The `monthlyCallBudget` as written (any type; undefined: not set). */
  budget: unknown;
  /** That key's full name, e.g. `channels.dingtalk-ai.accounts.sales.monthlyCallBudget`. */
  key: string;
}

/**
 * An account's `monthlyCallBudget` in calls per month: `value` when it is a whole number from 0 to
 * MAX_MONTHLY_CALL_BUDGET, `fallback` when unset. Anything else pushes a problem naming `key` and the fix onto
 * `problems` and gives DEFAULT_MONTHLY_CALL_BUDGET.
 */
export function monthlyCallBudget(value: unknown, key: string, problems: string[], fallback = DEFAULT_MONTHLY_CALL_BUDGET): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    problems.push(`${key} must be a whole number of DingTalk calls per month (0 or more, without quotes), e.g. ${DEFAULT_MONTHLY_CALL_BUDGET}; got ${JSON.stringify(value)}`);
    return DEFAULT_MONTHLY_CALL_BUDGET;
  }
  if (value > MAX_MONTHLY_CALL_BUDGET) {
    problems.push(`${key} is ${value}, above any DingTalk plan (at most ${MAX_MONTHLY_CALL_BUDGET} calls per month here): set it to your org's monthly API allowance or less (DingTalk developer console → 资源管理)`);
    return DEFAULT_MONTHLY_CALL_BUDGET;
  }
  return value;
}

/**
 * The default `monthlyCallBudget` of each app, in calls per month: DEFAULT_MONTHLY_CALL_BUDGET split evenly between
 * `apps` (robots of different clientIds), since the org's allowance is shared by all its apps (governor.ts).
 */
export function defaultCallBudget(apps: readonly ConfiguredApp[]): number {
  return Math.floor(DEFAULT_MONTHLY_CALL_BUDGET / Math.max(1, apps.length));
}

/**
 * A warning when `apps` may spend more than the org's documented allowance together (their budgets, set or default,
 * add up past DOCUMENTED_ORG_ALLOWANCE), naming the keys; undefined otherwise (and for fewer than two apps). Shown at
 * start and by doctor / the probe: DingTalk refuses every app of the org (ApiCountLimitForOrg) once the org's
 * allowance is spent.
 */
export function callBudgetWarning(apps: readonly ConfiguredApp[]): string | undefined {
  if (apps.length < 2) return undefined;
  const share = defaultCallBudget(apps);
  const budgets = apps.map((a) => ({ key: a.key, calls: typeof a.budget === 'number' && Number.isFinite(a.budget) ? a.budget : share }));
  const total = budgets.reduce((sum, b) => sum + b.calls, 0);
  if (total <= DOCUMENTED_ORG_ALLOWANCE) return undefined;
  return `the ${apps.length} DingTalk apps configured here may spend ${total} calls a month together (${budgets.map((b) => `${b.key}: ${b.calls}`).join(', ')}), more than the ${DOCUMENTED_ORG_ALLOWANCE} the standard edition gives the whole org: lower them so they add up to your org's allowance (DingTalk developer console → 资源管理), or every app of the org stops when it runs out`;
}
