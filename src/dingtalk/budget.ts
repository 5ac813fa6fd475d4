/**
 * An app's DingTalk call budget, shared by every account of the app in this process:
 * - a rate limiter per API that keeps any sliding second under DingTalk's per-app-per-API limit
 *   (20/40/60 calls/s by edition), serving finals before streaming updates;
 * - the monthly-quota switch: after `ApiCountLimitForOrg` the app stops using cards for a while.
 */
import type { CallGate } from './client.ts';

/** Calls per second per API by DingTalk edition (spec §4). */
export const EDITION_QPS = { standard: 20, professional: 40, exclusive: 60 } as const;
export type Edition = keyof typeof EDITION_QPS;

/** Headroom under the limit: clocks and network jitter compress our spacing on DingTalk's side. */
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
  readonly starts: number[] = [];
  readonly queue: Waiter[] = [];
  blockedUntil = 0;
  timer: NodeJS.Timeout | undefined;
}

export class AppBudget implements CallGate {
  readonly perSecond: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly lanes = new Map<string, ApiLane>();
  private quotaUntil = 0;

  constructor(opts: { edition?: Edition; perSecond?: number; now?: () => number } = {}) {
    const limit = opts.perSecond ?? EDITION_QPS[opts.edition ?? 'standard'];
    this.perSecond = Math.max(1, limit - SAFETY_CALLS);
    this.burst = Math.ceil(this.perSecond / 2);
    this.now = opts.now ?? Date.now;
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
          call().then(resolve, reject);
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

  private pump(lane: ApiLane): void {
    if (lane.timer) return;
    while (lane.queue.length > 0) {
      const now = this.now();
      while (lane.starts.length > 0 && lane.starts[0]! <= now - WINDOW_MS) lane.starts.shift();
      // Up to half the budget goes out at once; beyond that calls are spaced evenly. A full window released
      // in one burst could land on DingTalk's side within the same second as the next one.
      const last = lane.starts.at(-1);
      const spaced = last !== undefined && lane.starts.length >= this.burst;
      const waitMs = Math.max(
        lane.blockedUntil - now,
        lane.starts.length >= this.perSecond ? lane.starts[0]! + WINDOW_MS - now : 0,
        spaced ? last + WINDOW_MS / this.perSecond - now : 0,
      );
      if (waitMs > 0) {
        lane.timer = setTimeout(() => {
          lane.timer = undefined;
          this.pump(lane);
        }, waitMs);
        return;
      }
      lane.starts.push(now);
      lane.queue.shift()!.start();
    }
  }
}

const budgets = new Map<string, AppBudget>();

/** The process-wide budget of one DingTalk app (by clientId). */
export function budgetFor(clientId: string, edition: Edition = 'standard'): AppBudget {
  const key = `${clientId}:${edition}`;
  let b = budgets.get(key);
  if (!b) budgets.set(key, (b = new AppBudget({ edition })));
  return b;
}
