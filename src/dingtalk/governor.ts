/**
 * The monthly call governor of one DingTalk app (issue 18): spends the org's monthly allowance of DingTalk OpenAPI
 * calls on purpose instead of running out within days.
 *
 * What counts: every call the typed client makes to api.dingtalk.com / oapi.dingtalk.com except the exempt ones
 * (one list, with its source: `quotaMeterOf` in ./endpoints.ts). sessionWebhook replies are counted on a separate
 * meter, for the status only (they are not what `ApiCountLimitForOrg` enforces; evidence in ./endpoints.ts).
 *
 * Where it lives: one governor per app (clientId) per process, hanging off the app's AppBudget (./budget.ts), so every
 * account of the app shares it. The counters are kept per app per month in the state store (namespace `call-budget`,
 * `incr`, i.e. Redis INCRBY). Only a store shared for real (Redis-like, one server doing the adds) lets several processes
 * add to one counter: the file store (./store.ts) keeps its records in memory and appends them, so two processes on one
 * state folder each count only their own calls and the last writer wins at the next start. One process per state
 * folder (README); the host's status and doctor say so when src/instances.ts sees a second one. The month is the
 * calendar month in China Standard Time (UTC+8), where DingTalk's counters reset: 2026-11-30T16:00:00Z is already December.
 *
 * API (small on purpose; the pipeline and the bench use it):
 * - `new CallGovernor({ clientId?, monthlyCallBudget?, now?, log? })`, `configure({ clientId?, monthlyCallBudget?, log? })`; `now` is injectable (epoch ms) and drives the
 *   month, the days left, the per-sender windows and the threshold logs — nothing here sleeps or sets timers.
 * - `attach(store)`: load (and from then on persist) the counters; several stores may be attached (each account's);
 *   the highest count wins, so no restart order loses calls.
 * - `counted(meter)`: one call DingTalk counts was made (the client calls it; see `CallMeter` in ./client.ts).
 *   `admit(api, reserved)`: throws `CallBudgetSpentError` for a counted call that would exceed the budget. Only `reserved`
 *   calls (a card's create and final, made by the card of an answer whose plan reserved them) pass a spent budget;
 *   every other call (uploads, file messages, robot sends, outbound sends, card recovery, doctor) is admitted against it.
 * - `arrived({ senderId, conversationId })` → `Arrival`: a message was accepted (pipeline accept time, before the
 *   conversation queue): the flood windows count messages as they arrive, not answers as they start.
 * - `plan({ isGroup, senderId, conversationId, streaming })` → `AnswerPlan { mode, intervalMs, reason, done() }`: the
 *   delivery mode of one answer, best first: 'stream' (1: card streamed on the ~2 s grid), 'stream-wide' (2: card
 *   streamed on a wider grid, `intervalMs`), 'final-card' (3: thinking card, whole answer in one call), 'markdown' (4:
 *   sessionWebhook, no counted call). The plan reserves the card's fixed calls until `done()`.
 * - `mayStream()`: may an optional streaming update be spent now (false once only reserved calls fit).
 * - `status()`: month, calls this month, budget, the mode in force, answers, webhook replies, the run-out date.
 *
 * How the mode is chosen: allowance per answer = (budget − calls this month − reserved) / answers expected in the rest
 * of the month (answers per day so far × days left, at least 1). The best mode whose expected cost fits is taken:
 * cost(stream at grid g) ≈ 3 + answer duration / g (create+deliver, updates, finalize, FINISHED), 'final-card' 2 (1 when
 * the answer is ready before the card is created), 'markdown' 0. Answer durations are learnt from `done()`. A sender
 * with more than FLOOD_SENDER_ANSWERS messages arrived in FLOOD_WINDOW_MS gets at best a final-only card, beyond twice
 * that markdown; a conversation above FLOOD_CONVERSATION_ANSWERS gets at best a final-only card (counted at arrival). `streaming` (config) caps the mode at 'final-card' where it
 * does not stream. Thresholds of 50 %, 80 % and 100 % are logged once per month (claimed in the store, so once across
 * restarts too) with the date the budget runs out at the current rate.
 */
import type { Logger } from '../log.ts';
import type { StateStore } from '../store.ts';

/**
 * Default `monthlyCallBudget`: 4,000 = 80 % of the smallest documented allowance. DingTalk's billing model
 * (DOC:dingtalk-application-development-platform-billing-model, updated 2026-05-09; DOC:how-to-process-api-throttling-
 * on-the-dingtalk-server) gives the standard edition 5,000 API calls per calendar month since 2025-11-19 (10,000
 * before), shared by every app of the org; users of the free tier report the same 5,000 (protocol notes §4). The other
 * 20 % stay for the org's other apps. The org's real figure: DingTalk developer console (open-dev.dingtalk.com) →
 * 资源管理 (resource management) → API 调用量.
 */
export const DEFAULT_MONTHLY_CALL_BUDGET = 4_000;
/**
 * The largest allowance DingTalk documents for one org (10,000 a month: the standard edition before 2025-11-19, protocol
 * notes §4) times 100: far above any real plan, low enough that a typo (1e300, an extra row of zeros) is refused.
 */
export const MAX_MONTHLY_CALL_BUDGET = 1_000_000;
/** The org allowance the default shares: the standard edition's 5,000 calls a month (see DEFAULT_MONTHLY_CALL_BUDGET). */
export const DOCUMENTED_ORG_ALLOWANCE = 5_000;

export type DeliveryMode = 'stream' | 'stream-wide' | 'final-card' | 'markdown';
/** The numbering, best first. */
export const MODE_NUMBER: Record<DeliveryMode, 1 | 2 | 3 | 4> = { stream: 1, 'stream-wide': 2, 'final-card': 3, markdown: 4 };
const MODES: DeliveryMode[] = ['stream', 'stream-wide', 'final-card', 'markdown'];

/** Config `streaming`: where answers stream; elsewhere they come as a final-only card (or markdown when the budget says so). */
export type StreamingPolicy = 'on' | 'off' | 'dm' | 'group';
export const STREAMING_POLICIES: readonly StreamingPolicy[] = ['on', 'off', 'dm', 'group'];

/** Which DingTalk meter a call runs on: the API allowance (ApiCountLimitForOrg) or the Webhook&Stream one. */
export type QuotaMeter = 'api' | 'webhook';

/** Calls of a streamed card besides its updates: createAndDeliver, streaming finalize, FINISHED instance update. */
export const STREAM_FIXED_CALLS = 3;
/** A final-only card: createAndDeliver (thinking) + one instance update with the text and FINISHED. */
export const FINAL_CARD_CALLS = 2;
/** The widest grid mode 2 uses; a wider one would no longer read as typing, a final-only card is cheaper then. */
export const WIDE_GRID_MAX_FACTOR = 5;
/** Answer duration assumed before any answer was seen. */
const DEFAULT_ANSWER_MS = 20_000;
export const FLOOD_WINDOW_MS = 60_000;
/**
 * More messages than this from one sender (in one conversation) arrived within FLOOD_WINDOW_MS: the answers to the
 * next ones get at best a final-only card, and beyond twice this, markdown (0 counted calls). Counted when the message
 * arrives, not when its answer starts (answers in one conversation run one at a time, so a start-time count would
 * let 40 queued messages of 20-s answers all stream). Six, not fewer: a person chatting normally (two questions, `/new`,
 * a follow-up, a correction) sends four or five messages a minute and should still see answers stream; a seventh
 * in a minute is a burst. 40 quick messages from one person then cost about 6 streamed answers and 6 final-only cards
 * (~80–120 calls, depending on answer length) instead of 40 streamed cards (~560 calls for 20-s answers, measured by
 * the hostile test of issue 18).
 */
export const FLOOD_SENDER_ANSWERS = 6;
/** More answers than this in one conversation within FLOOD_WINDOW_MS: at best a final-only card. */
export const FLOOD_CONVERSATION_ANSWERS = 12;
const THRESHOLDS = [50, 80, 100] as const;
const DAY_MS = 86_400_000;
/** China Standard Time, where DingTalk's monthly counters reset. */
const CST_OFFSET_MS = 8 * 3_600_000;
/** Counters outlive their month long enough for a status of last month, then go. */
const COUNTER_TTL_MS = 62 * DAY_MS;
const NS = 'call-budget';

/**
 * A counted call refused before it was sent: it would have exceeded `monthlyCallBudget`. `budget`: the calls allowed
 * a month; `resetsOn`: the day the count starts again, `YYYY-MM-01` (the 1st of the next month, 00:00 China time).
 */
export class CallBudgetSpentError extends Error {
  readonly api: string;
  readonly budget: number;
  readonly resetsOn: string;
  constructor(api: string, budget: number, now: number = Date.now()) {
    const resetsOn = `${cstMonth(cstMonthBounds(now).end)}-01`;
    super(`DingTalk ${api} not called: this app's monthlyCallBudget (${budget} calls) is spent for this month; it resets on ${resetsOn} 00:00 China time (UTC+8), or raise monthlyCallBudget`);
    this.name = 'CallBudgetSpentError';
    this.api = api;
    this.budget = budget;
    this.resetsOn = resetsOn;
  }
}

/** The state store namespace of the counters. */
export const CALL_BUDGET_NS = NS;

/** The calendar month in China Standard Time of epoch ms `t`, as `YYYY-MM`. */
export function cstMonth(t: number): string {
  return new Date(t + CST_OFFSET_MS).toISOString().slice(0, 7);
}

/** Epoch ms of the start of the CST month containing `t` and of the next one. */
export function cstMonthBounds(t: number): { start: number; end: number } {
  const d = new Date(t + CST_OFFSET_MS);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - CST_OFFSET_MS;
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - CST_OFFSET_MS;
  return { start, end };
}

export interface AnswerRequest {
  isGroup: boolean;
  senderId: string;
  conversationId: string;
  streaming: StreamingPolicy;
  /** From `arrived` at the message's accept time; without it the message is taken as arriving now. */
  arrival?: Arrival;
}

/** What the flood windows saw when a message arrived (`arrived`), handed to `plan` for its answer. */
export interface Arrival {
  /** Messages of this sender in this conversation within FLOOD_WINDOW_MS, this one included. */
  sender: number;
  /** Messages in this conversation within FLOOD_WINDOW_MS, this one included. */
  conversation: number;
}

export interface AnswerPlan {
  mode: DeliveryMode;
  /** The streaming grid in ms (modes 1–2; for 3–4 the base grid, unused). */
  intervalMs: number;
  /** Why this mode, for the log. */
  reason: string;
  /** The answer ended: release its reservation; `durationMs` teaches the cost model. Idempotent. */
  done(outcome?: { durationMs?: number }): void;
}

export interface GovernorStatus {
  /** `YYYY-MM` in China Standard Time. */
  month: string;
  /** Counted DingTalk calls of this app this month (as far as this process knows). */
  calls: number;
  budget: number;
  /** What a plain answer gets now (streaming allowed). */
  mode: DeliveryMode;
  /** sessionWebhook replies this month (DingTalk's Webhook&Stream meter, not the API allowance). */
  webhookCalls: number;
  answers: number;
  /** ISO date (CST) the budget runs out at this month's rate; undefined when it lasts the month. */
  runsOutOn: string | undefined;
}

export interface CallGovernorOptions {
  /** The app (robot code); may also come with the first `configure`. Part of every store key. */
  clientId?: string;
  monthlyCallBudget?: number;
  /** Base streaming grid in ms (mode 1). */
  baseIntervalMs?: number;
  now?: () => number;
  log?: Logger;
}

interface MonthCounters {
  month: string;
  calls: number;
  webhook: number;
  answers: number;
  logged: Set<number>;
}

export class CallGovernor {
  clientId: string | undefined;
  private budgetCalls: number;
  baseIntervalMs: number;
  private readonly now: () => number;
  private log: Logger | undefined;
  private readonly stores: StateStore[] = [];
  private counters: MonthCounters;
  /** Fixed calls promised to answers in progress. */
  private reserved = 0;
  private answerMs = DEFAULT_ANSWER_MS;
  private readonly bySender = new Map<string, number[]>();
  private readonly byConversation = new Map<string, number[]>();

  constructor(opts: CallGovernorOptions = {}) {
    this.clientId = opts.clientId;
    this.budgetCalls = Math.max(0, Math.floor(opts.monthlyCallBudget ?? DEFAULT_MONTHLY_CALL_BUDGET));
    this.baseIntervalMs = opts.baseIntervalMs ?? 1_950;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
    this.counters = this.fresh(cstMonth(this.now()));
  }

  get budget(): number {
    return this.budgetCalls;
  }

  /**
   * Called by the app's account at each start (one account per clientId: config resolution refuses a second one), so
   * a changed `monthlyCallBudget` applies at the channel's restart. The first clientId stays; the latest logger is used
   * (a restarted account's, not a stopped one's).
   */
  configure(opts: { clientId?: string; monthlyCallBudget?: number; baseIntervalMs?: number; log?: Logger }): void {
    this.clientId ??= opts.clientId;
    if (opts.monthlyCallBudget !== undefined) this.budgetCalls = Math.max(0, Math.floor(opts.monthlyCallBudget));
    if (opts.baseIntervalMs !== undefined) this.baseIntervalMs = opts.baseIntervalMs;
    if (opts.log) this.log = opts.log;
  }

  /**
   * Load this month's counters from `store` and keep them there from now on. Never throws (a failing store is logged).
   * `readOnly`: only load (another process owns the store, e.g. `doctor` looking at the gateway's state folder).
   */
  async attach(store: StateStore | Pick<StateStore, 'get'>, opts: { readOnly?: boolean } = {}): Promise<void> {
    if (!opts.readOnly && 'incr' in store && !this.stores.includes(store)) this.stores.push(store);
    const c = this.current();
    try {
      const [calls, webhook, answers] = await Promise.all(
        (['calls', 'webhook', 'answers'] as const).map((k) => store.get<number>(NS, this.key(c.month, k))),
      );
      if (this.counters !== c) return;
      if (opts.readOnly || !('incr' in store)) {
        c.calls = Math.max(c.calls, typeof calls === 'number' ? calls : 0);
        c.webhook = Math.max(c.webhook, typeof webhook === 'number' ? webhook : 0);
        c.answers = Math.max(c.answers, typeof answers === 'number' ? answers : 0);
        return;
      }
      // The store may lag (attached after calls were made here) or lead (an earlier run): both end at the max.
      for (const [k, stored] of [['calls', calls], ['webhook', webhook], ['answers', answers]] as const) {
        const v = typeof stored === 'number' ? stored : 0;
        if (v > c[k]) c[k] = v;
        else if (v < c[k]) void store.incr(NS, this.key(c.month, k), c[k] - v, COUNTER_TTL_MS).catch((err) => this.storeFailed(err));
      }
      this.checkThresholds(c);
    } catch (err) {
      this.storeFailed(err);
    }
  }

  /** One call on `meter` was made (DingTalk counts it). */
  counted(meter: QuotaMeter): void {
    const c = this.current();
    const k = meter === 'api' ? 'calls' : 'webhook';
    c[k]++;
    this.persist(c, k, 1);
    if (meter === 'api') this.checkThresholds(c);
  }

  /**
   * Before a counted call: throws CallBudgetSpentError when it would exceed the budget. `reserved` calls (a card's
   * create and final, reserved by its answer's plan) always pass; every other call only while unreserved budget is left.
   */
  admit(api: string, reserved: boolean): void {
    if (reserved) return;
    if (this.current().calls + this.reserved >= this.budgetCalls) throw new CallBudgetSpentError(api, this.budgetCalls, this.now());
  }

  /** May an optional streaming update be spent now? */
  mayStream(): boolean {
    return this.current().calls + this.reserved < this.budgetCalls;
  }

  /** A message was accepted: counts it in the flood windows (see `Arrival`). Call once per message, at arrival. */
  arrived(req: { senderId: string; conversationId: string }): Arrival {
    const now = this.now();
    this.current();
    return {
      sender: this.recent(this.bySender, `${req.conversationId}\0${req.senderId}`, now),
      conversation: this.recent(this.byConversation, req.conversationId, now),
    };
  }

  /** The delivery mode of one answer (see the file comment). Counts the answer. */
  plan(req: AnswerRequest): AnswerPlan {
    const now = this.now();
    const c = this.current();
    const { sender: senderRecent, conversation: conversationRecent } = req.arrival ?? this.arrived(req);
    let { mode, intervalMs, reason } = this.choose();
    const cap = (limit: DeliveryMode, why: string) => {
      if (MODES.indexOf(mode) < MODES.indexOf(limit)) {
        mode = limit;
        reason = why;
      }
    };
    const streams = req.streaming === 'on' || (req.streaming === 'dm' && !req.isGroup) || (req.streaming === 'group' && req.isGroup);
    if (!streams) cap('final-card', `streaming is "${req.streaming}"`);
    if (conversationRecent > FLOOD_CONVERSATION_ANSWERS) cap('final-card', `${conversationRecent} messages in this conversation within ${FLOOD_WINDOW_MS / 1000} s`);
    if (senderRecent > FLOOD_SENDER_ANSWERS) cap('final-card', `${senderRecent} messages from this sender within ${FLOOD_WINDOW_MS / 1000} s`);
    if (senderRecent > 2 * FLOOD_SENDER_ANSWERS) cap('markdown', `${senderRecent} messages from this sender within ${FLOOD_WINDOW_MS / 1000} s`);
    // The hard line: a card only when its fixed calls fit in what is neither spent nor promised.
    const fixed = mode === 'final-card' ? FINAL_CARD_CALLS : mode === 'markdown' ? 0 : STREAM_FIXED_CALLS;
    if (fixed > 0 && c.calls + this.reserved + fixed > this.budgetCalls) {
      mode = 'markdown';
      reason = `monthlyCallBudget spent (${c.calls}/${this.budgetCalls} calls this month)`;
    }
    const reservation = mode === 'final-card' ? FINAL_CARD_CALLS : mode === 'markdown' ? 0 : STREAM_FIXED_CALLS;
    this.reserved += reservation;
    c.answers++;
    this.persist(c, 'answers', 1);
    let ended = false;
    const started = now;
    return {
      mode,
      intervalMs: mode === 'stream-wide' ? intervalMs : this.baseIntervalMs,
      reason,
      done: (outcome) => {
        if (ended) return;
        ended = true;
        this.reserved -= reservation;
        const ms = outcome?.durationMs ?? this.now() - started;
        if (ms > 0) this.answerMs = this.answerMs * 0.9 + ms * 0.1;
      },
    };
  }

  status(): GovernorStatus {
    const c = this.current();
    return {
      month: c.month,
      calls: c.calls,
      budget: this.budgetCalls,
      mode: this.choose().mode,
      webhookCalls: c.webhook,
      answers: c.answers,
      runsOutOn: this.runsOutOn(c),
    };
  }

  /** The mode budget and rate allow for a plain answer (no per-sender or streaming caps). */
  private choose(): { mode: DeliveryMode; intervalMs: number; reason: string } {
    const now = this.now();
    const c = this.current();
    const { start, end } = cstMonthBounds(now);
    const spare = this.budgetCalls - c.calls - this.reserved;
    const daysLeft = (end - now) / DAY_MS;
    const perDay = c.answers / Math.max(1, (now - start) / DAY_MS);
    const expected = Math.max(1, perDay * daysLeft);
    const allowance = spare / expected;
    const base = this.baseIntervalMs;
    const streamCost = (grid: number) => STREAM_FIXED_CALLS + Math.ceil(this.answerMs / grid);
    const why = `${spare} calls left for ~${Math.round(expected)} answers (${allowance.toFixed(1)} per answer)`;
    if (allowance >= streamCost(base)) return { mode: 'stream', intervalMs: base, reason: why };
    const widest = base * WIDE_GRID_MAX_FACTOR;
    if (allowance >= streamCost(widest)) {
      // The narrowest grid that fits the allowance, at least twice the base one.
      const grid = Math.max(2 * base, Math.ceil(this.answerMs / Math.max(1, Math.floor(allowance) - STREAM_FIXED_CALLS)));
      return { mode: 'stream-wide', intervalMs: Math.min(widest, grid), reason: why };
    }
    if (allowance >= FINAL_CARD_CALLS) return { mode: 'final-card', intervalMs: base, reason: why };
    return { mode: 'markdown', intervalMs: base, reason: why };
  }

  /** Answers in the window for `key` before this one, after recording this one. */
  private recent(map: Map<string, number[]>, key: string, now: number): number {
    const list = (map.get(key) ?? []).filter((t) => t > now - FLOOD_WINDOW_MS);
    list.push(now);
    map.set(key, list);
    if (map.size > 10_000) for (const [k, v] of map) if (!v.some((t) => t > now - FLOOD_WINDOW_MS)) map.delete(k);
    return list.length;
  }

  private runsOutOn(c: MonthCounters): string | undefined {
    const now = this.now();
    const { start, end } = cstMonthBounds(now);
    const perMs = c.calls / Math.max(DAY_MS / 24, now - start);
    if (perMs <= 0) return undefined;
    const at = now + Math.max(0, this.budgetCalls - c.calls) / perMs;
    return at >= end ? undefined : cstMonthDay(at);
  }

  private checkThresholds(c: MonthCounters): void {
    if (this.budgetCalls <= 0) return;
    for (const t of THRESHOLDS) {
      if (c.logged.has(t) || c.calls * 100 < t * this.budgetCalls) continue;
      c.logged.add(t);
      const line = () => {
        const out = this.runsOutOn(c);
        const tail = t >= 100 ? 'cards are off until the month ends (answers come as markdown messages)' : out ? `at this rate it runs out on ${out} (China Standard Time)` : 'at this rate it lasts the month';
        this.log?.warn(`DingTalk monthlyCallBudget ${t} % used: ${c.calls} of ${this.budgetCalls} calls in ${c.month}; ${tail}`);
      };
      const store = this.stores[0];
      if (!store) line();
      // Once per threshold per month, also across restarts and instances sharing the store.
      else void store.claim(NS, `${this.key(c.month, 'logged')}:${t}`, COUNTER_TTL_MS).then((first) => first && line(), (err) => (this.storeFailed(err), line()));
    }
  }

  private persist(c: MonthCounters, k: 'calls' | 'webhook' | 'answers', by: number): void {
    for (const store of this.stores) {
      void store.incr(NS, this.key(c.month, k), by, COUNTER_TTL_MS).then(
        // A shared store (several instances) may be ahead of this process.
        (v) => {
          if (this.counters === c && v > c[k]) {
            c[k] = v;
            if (k === 'calls') this.checkThresholds(c);
          }
        },
        (err) => this.storeFailed(err),
      );
    }
  }

  private current(): MonthCounters {
    const month = cstMonth(this.now());
    if (this.counters.month !== month) {
      this.counters = this.fresh(month);
      this.bySender.clear();
      this.byConversation.clear();
      // Another instance may already have counted this month's first calls.
      for (const store of this.stores) void this.attach(store);
    }
    return this.counters;
  }

  private fresh(month: string): MonthCounters {
    return { month, calls: 0, webhook: 0, answers: 0, logged: new Set() };
  }

  private key(month: string, what: string): string {
    return `${this.clientId ?? 'app'}:${month}:${what}`;
  }

  private storeFailed(err: unknown): void {
    this.log?.warn(`call budget: state store failed (${err instanceof Error ? err.message : String(err)}); counting in memory`);
  }
}

/**
 * One line for the host's status and doctor, e.g. `312 of 4000 DingTalk calls used in 2026-12 (China Standard Time
 * month); delivery mode 1 (stream); 20 sessionWebhook replies (Webhook&Stream meter)`.
 */
export function describeCallBudget(s: GovernorStatus): string {
  const out = s.runsOutOn ? `; at this rate the budget runs out on ${s.runsOutOn}` : '';
  return `${s.calls} of ${s.budget} DingTalk calls used in ${s.month} (China Standard Time month); delivery mode ${MODE_NUMBER[s.mode]} (${s.mode})${out}; ${s.webhookCalls} sessionWebhook replies (Webhook&Stream meter)`;
}

function cstMonthDay(t: number): string {
  return new Date(t + CST_OFFSET_MS).toISOString().slice(0, 10);
}
