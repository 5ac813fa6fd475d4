/**
 * A simulated working month in accelerated time (issue 18 benchmark): the real pipeline, call budget and (when
 * there) the monthly call governor, through test/harness.ts against the fake DingTalk and the fake gateway on
 * 127.0.0.1. Run by test/bench/bench.ts in a child process of its own per month (`--sections month`).
 *
 * Time: @sinonjs/fake-timers fakes Date, performance.now, setTimeout and setInterval in the child, and nothing
 * else: sockets, setImmediate and process.nextTick stay real, so every byte still goes over loopback. A driver
 * advances the fake clock by `STEP_MS` per turn of the real event loop while answers run, except while a DingTalk
 * call is on its way (the budget's gate counts them): the clock then waits for the answer, so DingTalk answers in
 * 0 ms of fake time. Over idle stretches (nights, weekends, gaps between answers) it sets the clock forward without
 * firing the timers in between (`setSystemTime`: pending timers move with it). Everything the plugin decides from time (the ~2 s grid, the budget's sliding
 * second, the governor's days left and answers per day) runs on that clock.
 *
 * Workload (deterministic, seeded): 22 working days (Mon–Fri of June 2026 in China Standard Time, holidays
 * ignored), on average `perDay` answers a day (Monday busier, Friday quieter, ±15 %), arriving around a morning
 * (10:30) and an afternoon (15:00) peak, plus two bursts a day of 6–10 messages from different people within 30 s
 * (after a meeting: up to 10 answers at once). Each answer streams after 1 s of "thinking" for 2–90 s (log-normal,
 * median 15 s) at 20 characters/s in pieces of 5 every 250 ms (finer than the seed plugin's 300 ms grid, so every
 * one of its updates has new text); every answer text is unique and under the card's 2,500
 * characters. All DMs, one person per answer at a time.
 */
import FakeTimers from '@sinonjs/fake-timers';
import { AppBudget } from '../../src/dingtalk/budget.ts';
import { startHarness, type Harness } from '../harness.ts';
import { lastUserText } from '../fake-gateway/index.ts';
import type { CallRecord, CardState } from '../fake-dingtalk/index.ts';

export interface MonthTask {
  kind: 'month';
  label: string;
  /** monthlyCallBudget given to the plugin (undefined: the plugin's default; a huge number: no governor in effect). */
  monthlyCallBudget?: number;
  /** Card update interval (ms): the production grid, or 300 for the seed plugin's policy. */
  cardIntervalMs: number;
  perDay: number;
  days: number;
  seed: number;
  /** Stop taking messages once the month's counted calls pass this (a policy that ran out long before: saves time). */
  stopAfterCalls?: number;
}

export interface MonthAnswer {
  id: string;
  /** Epoch ms (fake clock) the message arrives. */
  at: number;
  /** Working day, 1-based. */
  day: number;
  /** Seconds of token flow. */
  seconds: number;
  staffId: string;
}

export interface MonthResult {
  label: string;
  /** The run stopped taking messages after this working day (stopAfterCalls); undefined: the whole month ran. */
  stoppedAfterDay: number | undefined;
  monthlyCallBudget: number | undefined;
  cardIntervalMs: number;
  answers: number;
  /** Answers whose exact final text a user could see (card FINISHED with that text, or a markdown message). */
  exact: number;
  missing: string[];
  /** Calls counted against the org's monthly quota, at the fake. */
  calls: number;
  /** Of those, per working day (index 0 = day 1). */
  callsByDay: number[];
  /** The working days' dates (CST), index 0 = day 1. */
  dayDates: string[];
  /** Counted calls per answer, by answer. */
  callsPerAnswer: number[];
  /** Delivery mode per answer (1–4), from the plugin's log; 0 when it logged none. */
  modes: number[];
  /** sessionWebhook messages (not counted against the API allowance). */
  webhookSends: number;
  throttled: number;
  maxConcurrent: number;
  /** Fake seconds the driver stepped through (answers running) and real seconds the month took. */
  steppedFakeS: number;
  wallS: number;
  cpuS: number;
  warnings: string[];
}

/** Fake ms per real event-loop turn while answers run and no DingTalk call is on its way. */
const STEP_MS = 100;
/** Real event-loop turns the clock waits for DingTalk calls in flight before it moves on anyway. */
const MAX_HOLD_TURNS = 2_000;

/** The real AppBudget, counting the DingTalk calls on their way (the driver holds the clock for them). */
class CountingBudget extends AppBudget {
  inFlight = 0;
  override run<T>(api: string, priority: boolean, call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return super.run(
      api,
      priority,
      () => {
        this.inFlight++;
        return call().finally(() => this.inFlight--);
      },
      signal,
    );
  }
}
const THINK_MS = 1_000;
const PIECE_MS = 250;
const PIECE_CHARS = 5;
const CST = 8 * 3_600_000;
/** The month simulated: June 2026 starts on a Monday and has 22 weekdays. */
const MONTH_START = Date.UTC(2026, 5, 1) - CST;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** The month's answers, sorted by arrival (see the file comment). */
export function monthWorkload(opts: { perDay: number; days: number; seed: number }): MonthAnswer[] {
  const random = rng(opts.seed);
  const out: MonthAnswer[] = [];
  const dayFactor = [0, 1.15, 1.05, 1, 1, 0.8, 0]; // Sun..Sat
  let day = 0;
  for (let date = 0; day < opts.days; date++) {
    const dayStart = MONTH_START + date * 86_400_000;
    const dow = new Date(dayStart + CST).getUTCDay();
    if (dow === 0 || dow === 6) continue;
    day++;
    const n = Math.max(1, Math.round(opts.perDay * dayFactor[dow]! * (0.85 + 0.3 * random())));
    const at: number[] = [];
    const bursts = n >= 20 ? 2 : 0;
    const burstSizes: number[] = [];
    for (let b = 0; b < bursts; b++) {
      const size = 6 + Math.floor(random() * 5);
      burstSizes.push(size);
      const start = dayStart + (b === 0 ? 11 : 16) * 3_600_000 + Math.floor(random() * 3_600_000);
      for (let k = 0; k < size; k++) at.push(start + Math.floor(random() * 30_000));
    }
    for (let k = at.length; k < n; k++) {
      const morning = random() < 0.55;
      const hour = morning ? 10.5 + gaussian(random) * 1 : 15 + gaussian(random) * 1.25;
      at.push(dayStart + Math.round(Math.min(19.5, Math.max(8.5, hour)) * 3_600_000));
    }
    at.sort((a, b) => a - b);
    for (const t of at) {
      const seconds = Math.min(90, Math.max(2, Math.round(15 * Math.exp(0.75 * gaussian(random)))));
      out.push({ id: `m${out.length + 1}`, at: t, day, seconds, staffId: '' });
    }
  }
  out.sort((a, b) => a.at - b.at);
  // One person per answer at a time: the first of 400 staff free at the arrival.
  const busyUntil = new Map<string, number>();
  for (const a of out) {
    let pick = Math.floor(random() * 400);
    for (let tries = 0; (busyUntil.get(`staff${pick}`) ?? 0) > a.at && tries < 400; tries++) pick = (pick + 1) % 400;
    a.staffId = `staff${pick}`;
    busyUntil.set(a.staffId, a.at + THINK_MS + a.seconds * 1000 + 120_000);
  }
  return out;
}

/** The exact text of an answer: unique, `seconds × 2` pieces of 10 characters (ASCII words). */
export function answerText(a: Pick<MonthAnswer, 'id' | 'seconds'>): { text: string; pieces: string[] } {
  const words = ['the', 'budget', 'lasts', 'all', 'month', 'while', 'answers', 'stream', 'into', 'cards', 'and', 'text'];
  const length = (a.seconds * 1000 / PIECE_MS) * PIECE_CHARS;
  let text = `[${a.id}] `;
  for (let i = 0; text.length < length; i++) text += `${words[(i * 5 + a.id.length) % words.length]} `;
  text = `${text.slice(0, length - 1)}.`;
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += PIECE_CHARS) pieces.push(text.slice(i, i + PIECE_CHARS));
  return { text, pieces };
}

const idOf = (text: string | undefined) => /^\[(m\d+)\]/.exec(text ?? '')?.[1];
const isFinal = (card: CardState) => ['3', '5'].includes(card.flowStatusHistory.at(-1) ?? '');
/** What the card shows: the newest write of its markdown variable (the fake's rule). */
const shownText = (card: CardState) => [...card.contentHistory].reverse().find((w) => w.key === 'msgContent')?.content;

interface Clocked {
  h: Harness;
  clock: ReturnType<typeof FakeTimers.install>;
  budget: CountingBudget;
  /** Fake ms the driver stepped through so far. */
  stepped(): number;
  /**
   * Move the clock to `at` without firing the timers in between (they move with it); done by the driver between two
   * ticks (a `setSystemTime` during `tickAsync` would be undone when the tick ends). Resolves when done.
   */
  jump(at: number): Promise<void>;
}

/**
 * Runs `body` with the harness on a fake clock starting at `start` (see the file comment): the driver steps the
 * clock while `body` works; the harness is closed and the clock uninstalled afterwards.
 */
async function onFakeClock<T>(start: number, opts: { cardIntervalMs: number; monthlyCallBudget?: number }, body: (c: Clocked) => Promise<T>): Promise<T> {
  const clock = FakeTimers.install({ now: start, toFake: ['Date', 'performance', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  // While the harness starts (state store, Stream connection: many round trips), the clock runs at real speed.
  let starting = true;
  let lastTurn = process.hrtime.bigint();
  let stepped = 0;
  let driving = true;
  let jumpTo: number | undefined;
  const budget = new CountingBudget({ edition: 'standard' });
  const driver = (async () => {
    let held = 0;
    while (driving) {
      if (jumpTo !== undefined) {
        if (jumpTo > clock.now) clock.setSystemTime(jumpTo);
        jumpTo = undefined;
      }
      if (budget.inFlight > 0 && held++ < MAX_HOLD_TURNS) {
        await realImmediate();
        continue;
      }
      held = 0;
      const now = process.hrtime.bigint();
      const step = starting ? Math.min(STEP_MS, Number(now - lastTurn) / 1e6) : STEP_MS;
      lastTurn = now;
      await clock.tickAsync(step);
      stepped += step;
      await realImmediate();
    }
  })();
  let h: Harness | undefined;
  try {
    h = await startHarness({
      fake: { latencyMs: 0 },
      cardIntervalMs: opts.cardIntervalMs,
      budget,
      // Everyone may talk (harness default); the budget as an operator would set it.
      config: opts.monthlyCallBudget !== undefined ? ({ monthlyCallBudget: opts.monthlyCallBudget } as Record<string, unknown>) : {},
    });
    starting = false;
    const jump = async (at: number) => {
      jumpTo = at;
      while (jumpTo !== undefined) await realImmediate();
    };
    return await body({ h, clock, budget, stepped: () => stepped, jump });
  } finally {
    await h?.close().catch(() => undefined);
    driving = false;
    await driver;
    clock.uninstall();
  }
}

const realImmediate = () => new Promise<void>((r) => setImmediate(r));

/** What users saw of each answer (by its `[id]` prefix), as it happens: a card ending with its text, or a markdown message. */
function trackDeliveries(h: Harness) {
  const seen = new Map<string, string>();
  let sentSeen = 0;
  let counted = 0;
  const unsubscribe = h.fake.onCall((c: CallRecord) => {
    if (c.quota) counted++;
    const id = (c.body as { outTrackId?: unknown } | undefined)?.outTrackId;
    const card = typeof id === 'string' ? h.fake.cards.get(id) : undefined;
    if (card && isFinal(card)) {
      const text = shownText(card);
      const answer = idOf(text);
      if (answer && !seen.has(answer)) seen.set(answer, text!);
    }
    for (; sentSeen < h.fake.sent.length; sentSeen++) {
      const text = (h.fake.sent[sentSeen]!.body as { markdown?: { text?: string } })?.markdown?.text;
      const answer = idOf(text);
      if (answer && !seen.has(answer)) seen.set(answer, text!);
    }
  });
  return { seen, counted: () => counted, unsubscribe };
}

/** Counted calls at the fake per card, and the card each answer ended in. */
function callsPerCard(h: Harness): { byCard: Map<string, number>; cardOf: Map<string, string> } {
  const byCard = new Map<string, number>();
  const cardOf = new Map<string, string>();
  for (const c of h.fake.quotaCalls) {
    const id = (c.body as { outTrackId?: unknown } | undefined)?.outTrackId;
    if (typeof id === 'string') byCard.set(id, (byCard.get(id) ?? 0) + 1);
  }
  for (const card of h.fake.cards.values()) {
    const answer = idOf(shownText(card)) ?? idOf(card.contentHistory.find((w) => idOf(w.content))?.content);
    if (answer) cardOf.set(answer, card.outTrackId);
  }
  return { byCard, cardOf };
}

/** Delivery mode per answer, from the plugin's log line `message <msgId>: delivery mode N`. */
function modesFromLog(h: Harness, msgIdToAnswer: Map<string, string>): Map<string, number> {
  const modeOf = new Map<string, number>();
  for (const line of h.logs) {
    const m = /message (\S+): delivery mode (\d)/.exec(line);
    if (m && msgIdToAnswer.has(m[1]!)) modeOf.set(msgIdToAnswer.get(m[1]!)!, Number(m[2]));
  }
  return modeOf;
}

export async function runMonth(t: MonthTask): Promise<MonthResult> {
  const plan = monthWorkload(t);
  const texts = new Map(plan.map((a) => [a.id, answerText(a)]));
  const byId = new Map(plan.map((a) => [a.id, a]));
  const wall0 = process.hrtime.bigint();
  return onFakeClock(MONTH_START, t, async ({ h: harness, jump, stepped }) => {
    harness.gw.respond = (req) => {
      const a = byId.get(lastUserText(req).trim());
      if (!a) return { kind: 'stream', deltas: ['unplanned'], pace: 'between' };
      return { kind: 'stream', deltas: texts.get(a.id)!.pieces, delayMs: PIECE_MS, firstDelayMs: THINK_MS, pace: 'between' };
    };
    const { seen, counted, unsubscribe } = trackDeliveries(harness);
    const msgIdToAnswer = new Map<string, string>();
    const inProgress = new Set<string>();
    let maxConcurrent = 0;
    const missing: string[] = [];
    let next = 0;
    let last = plan.length;
    for (;;) {
      if (t.stopAfterCalls !== undefined && counted() > t.stopAfterCalls && last === plan.length) {
        // Finish the day's answers already asked, take no more.
        last = next;
      }
      for (; next < last && plan[next]!.at <= Date.now(); next++) {
        const a = plan[next]!;
        const msg = harness.fake.msg.text(a.id, { senderStaffId: a.staffId, senderNick: a.staffId });
        msgIdToAnswer.set(msg.msgId, a.id);
        harness.fake.pushRobotMessage(msg);
        inProgress.add(a.id);
      }
      for (const id of inProgress) {
        const a = byId.get(id)!;
        if (seen.has(id)) inProgress.delete(id);
        else if (Date.now() > a.at + THINK_MS + a.seconds * 1000 + 10 * 60_000) {
          missing.push(id);
          inProgress.delete(id);
        }
      }
      maxConcurrent = Math.max(maxConcurrent, inProgress.size);
      if (inProgress.size === 0) {
        if (next >= last) break;
        // Idle: let the last answer's bookkeeping settle, then move the clock to the next message.
        for (let i = 0; i < 20; i++) await realImmediate();
        const at = plan[next]!.at;
        if (at - Date.now() > 2 * STEP_MS) await jump(at);
      }
      await realImmediate();
    }
    unsubscribe();
    const stoppedAfterDay = last < plan.length ? plan[last - 1]!.day : undefined;
    plan.splice(last);
    // Per answer: its card's counted calls (by outTrackId), its delivery mode from the log.
    const { byCard: callsByCard, cardOf: cardOfAnswer } = callsPerCard(harness);
    const modeOf = modesFromLog(harness, msgIdToAnswer);
    const callsByDay = Array.from({ length: t.days }, () => 0);
    const dayOf = (at: number) => {
      // Working-day index of a fake-clock time: the day of the latest answer that arrived before it.
      let lo = 0;
      let hi = plan.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (plan[mid]!.at <= at) lo = mid;
        else hi = mid - 1;
      }
      return plan[lo]!.day;
    };
    for (const c of harness.fake.quotaCalls) callsByDay[dayOf(c.at) - 1]!++;
    const exact = plan.filter((a) => seen.get(a.id) === texts.get(a.id)!.text).length;
    for (const a of plan) if (!missing.includes(a.id) && seen.get(a.id) !== texts.get(a.id)!.text) missing.push(a.id);
    return {
      label: t.label,
      stoppedAfterDay,
      monthlyCallBudget: t.monthlyCallBudget,
      cardIntervalMs: t.cardIntervalMs,
      answers: plan.length,
      exact,
      missing: missing.slice(0, 10),
      calls: harness.fake.quotaCalls.length,
      callsByDay,
      dayDates: [...new Set(plan.map((a) => new Date(a.at + CST).toISOString().slice(0, 10)))],
      callsPerAnswer: plan.map((a) => callsByCard.get(cardOfAnswer.get(a.id) ?? '') ?? 0),
      modes: plan.map((a) => modeOf.get(a.id) ?? 0),
      webhookSends: harness.fake.sent.filter((s) => s.channel === 'sessionWebhook').length,
      throttled: harness.fake.calls.filter((c) => c.status === 403 || c.status === 429).length,
      maxConcurrent,
      steppedFakeS: stepped() / 1000,
      wallS: Number(process.hrtime.bigint() - wall0) / 1e9,
      cpuS: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      warnings: harness.logs.filter((l) => !l.startsWith('INFO') && !l.includes('dmPolicy')).slice(0, 8),
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Report

export interface MonthVerdict {
  target: string;
  figure: string;
  limit: string;
  ok: boolean | undefined;
}

/** Working day (1-based) on which the cumulative calls first exceed `budget`, or undefined. */
export function dayBudgetRunsOut(callsByDay: number[], budget: number): number | undefined {
  let sum = 0;
  for (const [i, n] of callsByDay.entries()) if ((sum += n) > budget) return i + 1;
  return undefined;
}

const int = (n: number) => Math.round(n).toLocaleString('en');

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : NaN;
}

export function monthReport(
  results: MonthResult[],
  o: { perDay: number; days: number; budgets: number[]; quickNote: string; governorNote: string },
  table: (rows: string[][]) => string,
): { lines: string[]; verdicts: MonthVerdict[] } {
  const lines: string[] = [];
  const verdicts: MonthVerdict[] = [];
  const first = results[0];
  if (!first) return { lines, verdicts };
  lines.push(
    '',
    `6) a simulated month in accelerated time (test/bench/month.ts): ${o.days} working days (Mon–Fri of June 2026, CST), ${first.answers.toLocaleString('en')} answers ` +
      `(~${o.perDay}/day around a 10:30 and a 15:00 peak, two bursts of 6–10 a day), each 1 s of thinking then 2–90 s of text (median 15 s) at 20 chars/s, ` +
      `all DMs; the real pipeline, budget and governor on a fake clock against the fake DingTalk (loopback); calls counted at the fake${o.quickNote}`,
  );
  if (o.governorNote) lines.push(`   ${o.governorNote}`);
  const rows: string[][] = [['policy', 'monthlyCallBudget', 'exact finals', 'calls used', 'mode 1/2/3/4', 'calls/answer mean', 'p95', 'max', 'webhook msgs', 'peak answers at once', 'throttled', 'runs out', 'fake s stepped', 'wall s']];
  for (const r of results) {
    const modes = [1, 2, 3, 4].map((m) => r.modes.filter((x) => x === m).length);
    const unknown = r.modes.filter((x) => x === 0).length;
    const share = unknown === r.answers ? 'not logged' : modes.map((n) => `${((100 * n) / r.answers).toFixed(0)}%`).join('/');
    const mean = r.callsPerAnswer.reduce((a, b) => a + b, 0) / r.answers;
    const budget = r.monthlyCallBudget !== undefined && r.monthlyCallBudget < 1e8 ? r.monthlyCallBudget : undefined;
    const runsOut = budget
      ? (dayBudgetRunsOut(r.callsByDay, budget) ? `day ${dayBudgetRunsOut(r.callsByDay, budget)}` : '—')
      : o.budgets
          .map((b) => {
            const d = dayBudgetRunsOut(r.callsByDay, b);
            return `${int(b)}: ${d ? `day ${d} (${r.dayDates[d - 1]})` : 'lasts'}`;
          })
          .join(' · ');
    rows.push([
      r.stoppedAfterDay ? `${r.label}, stopped after day ${r.stoppedAfterDay}` : r.label,
      budget ? int(budget) : 'none',
      `${r.exact}/${r.answers}`,
      int(r.calls),
      share,
      mean.toFixed(1),
      `${pct(r.callsPerAnswer, 95)}`,
      `${Math.max(...r.callsPerAnswer)}`,
      int(r.webhookSends),
      `${r.maxConcurrent}`,
      `${r.throttled}`,
      runsOut,
      int(r.steppedFakeS),
      r.wallS.toFixed(0),
    ]);
    verdicts.push({ target: `month: answers delivered with their exact final text (${r.label})`, figure: `${r.exact}/${r.answers}`, limit: 'all', ok: r.exact === r.answers });
    if (budget) verdicts.push({ target: `month: calls used ≤ monthlyCallBudget (${r.label})`, figure: int(r.calls), limit: `≤ ${int(budget)}`, ok: r.calls <= budget });
    else {
      const outs = o.budgets.map((b) => `${int(b)}: ${dayBudgetRunsOut(r.callsByDay, b) ? `day ${dayBudgetRunsOut(r.callsByDay, b)}` : 'lasts'}`).join(', ');
      verdicts.push({ target: `month: out of calls on working day … (${r.label})`, figure: outs, limit: '(figure only)', ok: undefined });
    }
    if (r.missing.length) lines.push(`   ${r.label}: not delivered exactly: ${r.missing.join(', ')}`);
    for (const w of r.warnings.slice(0, 3)) lines.push(`   ${r.label}: ${w}`);
  }
  lines.push(table(rows));
  lines.push(
    '   calls used: every call the fake counts against the org\'s monthly quota (cards, robot messages; not tokens, not the Stream connection, not sessionWebhook); ' +
      '"stopped after day N": that policy took no more messages once past the largest budget (it had run out of every one); ' +
      'mode: the delivery mode the plugin logged per answer (1 streamed ~2 s grid, 2 wider grid, 3 final-only card, 4 sessionWebhook markdown); ' +
      '"runs out": the working day the cumulative calls pass that budget',
  );
  return { lines, verdicts };
}

// ---------------------------------------------------------------------------------------------------------
// The cheapest complete answer: calls per answer in each delivery mode

export interface CheapestTask {
  kind: 'cheapest';
  /** Seconds of text after the 1 s of thinking. */
  lengths: number[];
  gridMs: number;
}

export interface CheapestRow {
  label: string;
  mode: number;
  gridMs: number | undefined;
  seconds: number;
  /** Counted calls at the fake for this answer, and by endpoint. */
  calls: number;
  byEndpoint: Record<string, number>;
  /** sessionWebhook messages (DingTalk's Webhook&Stream meter, not the API allowance). */
  webhook: number;
  exact: boolean;
}

type ForcedMode = 'stream' | 'stream-wide' | 'final-card' | 'markdown';
interface PlanLike {
  mode: string;
  intervalMs: number;
  reason: string;
  done(outcome?: { durationMs?: number }): void;
}

const endpointLabel = (c: CallRecord) =>
  c.path === '/v1.0/card/streaming'
    ? (c.body as { isFinalize?: boolean }).isFinalize
      ? 'streaming finalize'
      : 'streaming update'
    : c.path === '/v1.0/card/instances/createAndDeliver'
      ? 'createAndDeliver'
      : `${c.method} ${c.path}`;

/**
 * Each delivery mode forced on the governor's plan (the real card and pipeline do the rest), one answer of each
 * length at once in DMs of their own; calls counted at the fake per answer.
 */
export async function runCheapest(t: CheapestTask): Promise<{ rows: CheapestRow[]; governor: boolean }> {
  const variants: Array<{ label: string; mode: ForcedMode; number: number; gridMs?: number }> = [
    { label: '1 streamed card, ~2 s grid', mode: 'stream', number: 1, gridMs: t.gridMs },
    { label: '2 streamed card, 2× grid', mode: 'stream-wide', number: 2, gridMs: 2 * t.gridMs },
    { label: '2 streamed card, 5× grid (widest)', mode: 'stream-wide', number: 2, gridMs: 5 * t.gridMs },
    { label: '3 final-only card', mode: 'final-card', number: 3 },
    { label: '4 markdown (sessionWebhook)', mode: 'markdown', number: 4 },
  ];
  const rows: CheapestRow[] = [];
  let governor = false;
  for (const v of variants) {
    await onFakeClock(MONTH_START + 10 * 3_600_000, { cardIntervalMs: t.gridMs, monthlyCallBudget: 1e6 }, async ({ h, budget }) => {
      const g = (budget as unknown as { governor?: { plan(req: unknown): PlanLike } }).governor;
      if (!g) return;
      governor = true;
      const plan = g.plan.bind(g);
      g.plan = (req) => ({ ...plan(req), mode: v.mode, intervalMs: v.gridMs ?? t.gridMs, reason: 'forced by the bench' });
      const answers = t.lengths.map((seconds, i) => ({ id: `m${i + 1}`, seconds }));
      const texts = new Map(answers.map((a) => [a.id, answerText(a)]));
      h.gw.respond = (req) => {
        const a = texts.get(lastUserText(req).trim());
        return a ? { kind: 'stream', deltas: a.pieces, delayMs: PIECE_MS, firstDelayMs: THINK_MS, pace: 'between' } : { kind: 'stream', deltas: ['unplanned'], pace: 'between' };
      };
      const { seen, unsubscribe } = trackDeliveries(h);
      const sentBefore = new Map<string, number>();
      for (const a of answers) {
        const msg = h.fake.msg.text(a.id, { senderStaffId: `cheap-${a.id}`, senderNick: a.id });
        sentBefore.set(a.id, 0);
        h.fake.pushRobotMessage(msg);
      }
      const deadline = Date.now() + 10 * 60_000;
      while (answers.some((a) => !seen.has(a.id)) && Date.now() < deadline) await realImmediate();
      // Let the last calls (FINISHED after the text) land.
      const settle = Date.now() + 5_000;
      while (Date.now() < settle) await realImmediate();
      unsubscribe();
      const { cardOf } = callsPerCard(h);
      for (const a of answers) {
        const card = cardOf.get(a.id);
        const calls = card ? h.fake.quotaCalls.filter((c) => (c.body as { outTrackId?: unknown } | undefined)?.outTrackId === card) : [];
        const byEndpoint: Record<string, number> = {};
        for (const c of calls) byEndpoint[endpointLabel(c)] = (byEndpoint[endpointLabel(c)] ?? 0) + 1;
        const webhook = h.fake.sent.filter((s) => s.channel === 'sessionWebhook' && idOf((s.body as { markdown?: { text?: string } })?.markdown?.text) === a.id).length;
        rows.push({ label: v.label, mode: v.number, gridMs: v.gridMs, seconds: a.seconds, calls: calls.length, byEndpoint, webhook, exact: seen.get(a.id) === texts.get(a.id)!.text });
      }
    });
    if (!governor) break;
  }
  return { rows, governor };
}

export function cheapestReport(r: { rows: CheapestRow[]; governor: boolean }, lengths: number[], table: (rows: string[][]) => string): { lines: string[]; verdicts: MonthVerdict[] } {
  const lines = ['', `7) the cheapest complete answer: counted DingTalk calls per answer in each delivery mode (forced on the governor's plan), 1 s of thinking then ${lengths.join(' s / ')} s of text, at the fake`];
  if (!r.governor) return { lines: [...lines, '   this build has no monthly call governor: no delivery modes to compare'], verdicts: [] };
  const rows: string[][] = [['mode', ...lengths.map((s) => `${s}-s answer: calls`), ...lengths.map((s) => `${s}-s: by endpoint`), 'webhook msgs', 'exact']];
  const labels = [...new Set(r.rows.map((x) => x.label))];
  for (const label of labels) {
    const of = (s: number) => r.rows.find((x) => x.label === label && x.seconds === s);
    rows.push([
      label,
      ...lengths.map((s) => `${of(s)?.calls ?? '–'}`),
      ...lengths.map((s) => Object.entries(of(s)?.byEndpoint ?? {}).map(([k, n]) => `${k} ${n}`).join(', ') || '—'),
      lengths.map((s) => of(s)?.webhook ?? 0).join('/'),
      lengths.map((s) => (of(s)?.exact ? 'yes' : 'NO')).join('/'),
    ]);
  }
  lines.push(table(rows));
  const verdicts: MonthVerdict[] = [
    { target: 'cheapest answers: every mode delivered the exact final text', figure: `${r.rows.filter((x) => x.exact).length}/${r.rows.length}`, limit: 'all', ok: r.rows.every((x) => x.exact) },
  ];
  return { lines, verdicts };
}
