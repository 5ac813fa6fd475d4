/**
 * An app's DingTalk call budget, shared by every account of the app in this process:
 * - a rate limiter per API that keeps any sliding second under DingTalk's per-app-per-API limit
 *   (20/40/60 calls/s by edition), serving finals before streaming updates. DingTalk counts a call when it
 *   arrives, which we cannot see: only that it arrives after we send it and before its response comes back. So a
 *   call occupies the window from its start until one second after its response (or failure): then no sliding
 *   second on DingTalk's side can hold more than `perSecond` calls, however the network, the HTTP agent or our
 *   own event loop delay and bunch them on the way (proof at `occupancy`);
 * - the monthly-quota switch: after `ApiCountLimitForOrg` the app stops using cards for a while;
 * - the monthly call governor (./governor.ts): the month's calls counted, each answer's delivery mode.
 */
import { configuredApps, resolveAccount, type HostConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { StateStore } from '../store.ts';
import type { CallGate } from './client.ts';
import { CallGovernor } from './governor.ts';

/** Calls per second per API by DingTalk edition (spec §4). */
export const EDITION_QPS = { standard: 20, professional: 40, exclusive: 60 } as const;
export type Edition = keyof typeof EDITION_QPS;

/** Headroom under the limit, for what the window cannot see (a request DingTalk reads after we gave up on it). */
const SAFETY_CALLS = 2;
const WINDOW_MS = 1000;
/** How long card mode stays off after the monthly quota ran out. */
export const QUOTA_COOLDOWN_MS = 60 * 60_000;

interface Waiter {
  priority: boolean;
  start: () => void;
  cancel: () => void;
}

class ApiLane {
  /** Calls sent and not yet answered. */
  inFlight = 0;
  /** When the calls answered within the last second were answered (ascending). */
  readonly ends: number[] = [];
  lastStart: number | undefined;
  readonly queue: Waiter[] = [];
  blockedUntil = 0;
  timer: NodeJS.Timeout | undefined;
}

export class AppBudget implements CallGate {
  /** Calls per second per API, below the edition's limit by a safety margin. */
  perSecond: number;
  private burst: number;
  private readonly now: () => number;
  private readonly lanes = new Map<string, ApiLane>();
  private quotaUntil = 0;
  /** The app's monthly call governor (shared by its accounts like the rest of this budget). */
  readonly governor: CallGovernor;

  constructor(opts: { edition?: Edition; perSecond?: number; now?: () => number; governor?: CallGovernor } = {}) {
    this.perSecond = this.burst = 0;
    this.setLimit(opts.perSecond ?? EDITION_QPS[opts.edition ?? 'standard']);
    // Monotonic: a wall-clock step (NTP) must not empty the window early.
    this.now = opts.now ?? (() => performance.now());
    // Its own (wall) clock: months and days are calendar time, not the limiter's monotonic one.
    this.governor = opts.governor ?? new CallGovernor();
  }

  /** DingTalk's calls-per-second limit for this app (the edition changed in the config). */
  setLimit(limit: number): void {
    this.perSecond = Math.max(1, limit - SAFETY_CALLS);
    this.burst = Math.ceil(this.perSecond / 2);
  }

  /** Runs `call` when the API's budget allows. A call still waiting when `signal` aborts never runs. */
  run<T>(api: string, priority: boolean, call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const lane = this.lane(api);
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => waiter.cancel();
      const waiter: Waiter = {
        priority,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          lane.inFlight++;
          let result: Promise<T>;
          try {
            result = call();
          } catch (err) {
            result = Promise.reject(err);
          }
          result
            .finally(() => {
              lane.inFlight--;
              lane.ends.push(this.now());
              this.pump(lane);
            })
            .then(resolve, reject);
        },
        cancel: () => {
          const i = lane.queue.indexOf(waiter);
          if (i !== -1) lane.queue.splice(i, 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      // Finals jump ahead of every streaming update, keeping FIFO among themselves.
      const at = priority ? lane.queue.findIndex((w) => !w.priority) : -1;
      if (at === -1) lane.queue.push(waiter);
      else lane.queue.splice(at, 0, waiter);
      this.pump(lane);
    });
  }

  /** DingTalk said we were too fast: hold this API for a moment. */
  penalize(api: string, ms: number): void {
    const lane = this.lane(api);
    lane.blockedUntil = Math.max(lane.blockedUntil, this.now() + ms);
  }

  /** Calls waiting for this API, in seconds of its budget (0 = no queue). */
  pressure(api: string): number {
    return (this.lanes.get(api)?.queue.length ?? 0) / this.perSecond;
  }

  quotaExhausted(): boolean {
    return this.now() < this.quotaUntil;
  }

  /** Returns true the first time (so the caller logs it once). */
  markQuotaExhausted(): boolean {
    const first = !this.quotaExhausted();
    this.quotaUntil = this.now() + QUOTA_COOLDOWN_MS;
    return first;
  }

  private lane(api: string): ApiLane {
    let lane = this.lanes.get(api);
    if (!lane) this.lanes.set(api, (lane = new ApiLane()));
    return lane;
  }

  /**
   * Calls that may still be counted in a second ending now or later: those in flight and those answered within the
   * last second. Why this bounds what DingTalk sees: take any second on DingTalk's side and, of the calls arriving in
   * it, the one we started last (at s). Every other one started before s and was answered after it arrived, so after
   * the second began, so less than a second before s or later: each was in flight or answered within the second
   * before s, i.e. counted here when we started the last one. So that second holds at most `perSecond` calls.
   */
  private occupancy(lane: ApiLane, now: number): number {
    while (lane.ends.length > 0 && lane.ends[0]! <= now - WINDOW_MS) lane.ends.shift();
    return lane.inFlight + lane.ends.length;
  }

  private pump(lane: ApiLane): void {
    if (lane.timer) return;
    while (lane.queue.length > 0) {
      const now = this.now();
      const occupied = this.occupancy(lane, now);
      // Full with every call still in flight: the next answer (or failure) pumps again.
      if (occupied >= this.perSecond && lane.ends.length === 0) return;
      // Up to half the budget goes out at once; beyond that calls are spaced evenly, so that the window refills
      // gradually instead of in bursts.
      const spaced = lane.lastStart !== undefined && occupied >= this.burst;
      const waitMs = Math.max(
        lane.blockedUntil - now,
        occupied >= this.perSecond ? lane.ends[0]! + WINDOW_MS - now : 0,
        spaced ? lane.lastStart! + WINDOW_MS / this.perSecond - now : 0,
      );
      if (waitMs > 0) {
        lane.timer = setTimeout(() => {
          lane.timer = undefined;
          this.pump(lane);
        }, waitMs);
        return;
      }
      lane.lastStart = now;
      lane.queue.shift()!.start();
    }
  }
}

const budgets = new Map<string, AppBudget>();

/**
 * The process-wide budget of one DingTalk app, keyed by clientId only: DingTalk counts calls per app (spec §4), so
 * every account, restart and outbound send of the app shares it. The latest `edition` sets its limit.
 */
export function budgetFor(clientId: string, edition: Edition = 'standard'): AppBudget {
  let b = budgets.get(clientId);
  if (!b) budgets.set(clientId, (b = new AppBudget({ edition, governor: new CallGovernor({ clientId }) })));
  else b.setLimit(EDITION_QPS[edition]);
  return b;
}

/**
 * The budget of an account's app, its governor set from the account's `monthlyCallBudget` and counting into the
 * account's state `store`: the one way to set it up, whichever path reaches the app first in this process (the running
 * account, or an outbound send while the account does not run here), so the budget and the saved count never depend
 * on which came first. `baseIntervalMs`: the card grid, given by the running account only.
 */
export async function governedBudget(
  account: { clientId: string; dingtalkEdition: Edition; monthlyCallBudget: number },
  store: StateStore,
  opts: { log?: Logger; baseIntervalMs?: number; budget?: AppBudget } = {},
): Promise<AppBudget> {
  const budget = opts.budget ?? budgetFor(account.clientId, account.dingtalkEdition);
  budget.governor.configure({ clientId: account.clientId, monthlyCallBudget: account.monthlyCallBudget, baseIntervalMs: opts.baseIntervalMs, log: opts.log });
  await budget.governor.attach(store);
  return budget;
}

/**
 * Sets every app of `cfg` that has a budget in this process to what `cfg` gives it: the `monthlyCallBudget` (and the
 * edition's calls per second) of the first enabled account naming the app, as config resolution orders them. Called at
 * every config resolution the channel sees (account starts included: their ctx.account comes from it), because a reload restarts only the accounts it
 * touched (OpenClaw dist/config-reload-plan-*.mjs: `accountScopedRestart`, `extractAccountIdFromPath`) while a new app
 * lowers every app's default share (4,000 / apps): without this the running robots would keep governing with the old
 * share, and the apps together could spend past the org's allowance. Apps without a budget here are left alone (their
 * first start or outbound send sets them up, governedBudget).
 */
export function applyCallBudgets(cfg: HostConfig, env: Record<string, string | undefined> = process.env): void {
  for (const app of configuredApps(cfg, env)) {
    const budget = budgets.get(app.clientId);
    if (!budget) continue;
    const account = resolveAccount(cfg, app.accountId, env);
    budget.setLimit(EDITION_QPS[account.dingtalkEdition]);
    budget.governor.configure({ monthlyCallBudget: account.monthlyCallBudget });
  }
}
