/**
 * Benchmark of the plugin's real reply pipeline (monitorAccount through test/harness.ts) against the fake
 * DingTalk and the fake gateway, all on 127.0.0.1. Prints figures next to targets; it is not a test and is
 * never part of `npm test`.
 *
 *   npm run bench                      # full run (about 15 minutes on 2 cores, of which ~7 the simulated months)
 *   npm run bench -- --quick           # short smoke run (about 2 minutes; the "month" is then 3 working days)
 *   npm run bench -- --sections month,cheapest   # issue 18: the simulated month and the cheapest answer per mode
 *   npm run bench -- --runs 5 --latencies 0,60,150 --sections answers,load,cpu,heap,state,month
 *
 * Options (defaults in parseOptions): --runs N · --quick · --sections answers,load,cpu,heap · --latencies 0,60 (ms per
 * DingTalk call) · --lengths 5,30,120 (s of token flow) · --per-length 3 · --rate 20 (tokens/s) · --token-chars 4 ·
 * --conversations 200 · --load-latency 60 · --load-qps 20 · --load-min 10 · --load-max 30 (s) · --load-spread 0 (s) ·
 * --cpu-conversations 30 · --cpu-seconds 30 · --cpu-burst-chunks 2400 · --senders 100000 · --state-senders 1000,100000 ·
 * --state-rate 100 (messages/s) · --state-seconds 20 · --month-days 22 · --month-per-day 60 · --month-budgets 5000,10000,50000 ·
 * --month-parallel 2 (months run at once) · --verbose (child output).
 * (Flags vite-node itself knows — --root, --config, --mode, --watch, --script, --options, --help — are not used.)
 *
 * Every measurement runs in a child process of its own (the same runner, this file, `--child <task>`), so that
 * runs can overlap without sharing an event loop, and CPU time and heap are per measurement.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CARD_UPDATE_INTERVAL_MS } from '../../src/monitor.ts';
import { text as userText } from '../../src/texts.ts';
import { AppBudget, EDITION_QPS } from '../../src/dingtalk/budget.ts';
import { Sessions } from '../../src/sessions.ts';
import { createDedupe } from '../../src/dedupe.ts';
import { FileStore } from '../../src/store.ts';
import type { InboundMessage } from '../../src/inbound.ts';
import { startHarness, type Harness } from '../harness.ts';
import { cheapestReport, monthReport, runCheapest, runMonth, type CheapestTask, type MonthResult, type MonthTask } from './month.ts';
import { lastUserText, startFakeGateway, type ReplyTiming } from '../fake-gateway/index.ts';
import type { CallRecord, CardState, FakeDingTalk } from '../fake-dingtalk/index.ts';

// ---------------------------------------------------------------------------------------------------------
// Options

interface Options {
  runs: number;
  quick: boolean;
  sections: string[];
  /** Injected per-call latency of the fake DingTalk (ms), one measurement series each. */
  latencies: number[];
  /** Answer lengths (s of token flow). */
  lengths: number[];
  /** Answers of one length streamed at once, in separate conversations. */
  perLength: number;
  /** Gateway tokens per second and characters per token. */
  rate: number;
  tokenChars: number;
  /** Section 3. */
  conversations: number;
  loadLatency: number;
  loadQps: number;
  loadMinS: number;
  loadMaxS: number;
  /** Seconds over which the load messages arrive (0 = all at once). */
  loadSpreadS: number;
  /** Section 4. */
  cpuConversations: number;
  cpuSeconds: number;
  cpuBurstChunks: number;
  senders: number;
  /** Section 5: known senders per row, messages/s and seconds of the paced run. */
  stateSenders: number[];
  stateRate: number;
  stateSeconds: number;
  /** Section 6 (test/bench/month.ts). */
  monthDays: number;
  monthPerDay: number;
  monthBudgets: number[];
  monthParallel: number;
  verbose: boolean;
}

function parseOptions(argv: string[]): Options {
  const args = argv.filter((a) => a !== '--');
  const flag = (name: string) => args.includes(`--${name}`);
  const value = (name: string): string | undefined => {
    const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i === -1) return undefined;
    const a = args[i]!;
    return a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[i + 1];
  };
  const num = (name: string, def: number) => {
    const v = value(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} expects a number, got ${v}`);
    return n;
  };
  const list = (name: string, def: number[]) => (value(name)?.split(',').map(Number).filter((n) => Number.isFinite(n)) ?? def);
  const quick = flag('quick');
  return {
    runs: Math.max(1, Math.round(num('runs', quick ? 1 : 3))),
    quick,
    sections: value('sections')?.split(',') ?? ['answers', 'load', 'cpu', 'heap', 'state', 'month', 'cheapest'],
    latencies: list('latencies', [0, 60]),
    lengths: list('lengths', quick ? [5] : [5, 30, 120]),
    perLength: Math.max(1, Math.round(num('per-length', quick ? 2 : 3))),
    rate: num('rate', 20),
    tokenChars: Math.max(1, Math.round(num('token-chars', 4))),
    conversations: Math.round(num('conversations', quick ? 30 : 200)),
    loadLatency: num('load-latency', 60),
    loadQps: num('load-qps', 20),
    loadMinS: num('load-min', quick ? 3 : 10),
    loadMaxS: num('load-max', quick ? 6 : 30),
    loadSpreadS: num('load-spread', 0),
    cpuConversations: Math.round(num('cpu-conversations', quick ? 10 : 30)),
    cpuSeconds: num('cpu-seconds', quick ? 5 : 30),
    cpuBurstChunks: Math.round(num('cpu-burst-chunks', quick ? 600 : 2400)),
    senders: Math.round(num('senders', quick ? 10_000 : 100_000)),
    stateSenders: list('state-senders', [1_000, 100_000]),
    stateRate: num('state-rate', 100),
    stateSeconds: num('state-seconds', quick ? 5 : 20),
    monthDays: Math.max(1, Math.round(num('month-days', quick ? 3 : 22))),
    monthPerDay: Math.max(1, Math.round(num('month-per-day', 60))),
    monthBudgets: list('month-budgets', [5_000, 10_000, 50_000]),
    monthParallel: Math.max(1, Math.round(num('month-parallel', 2))),
    verbose: flag('verbose'),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const WORDS = ['the', 'card', 'shows', 'answer', 'while', 'tokens', 'arrive', 'from', 'model', 'and', 'stream', 'into', 'DingTalk', 'text', 'grows', 'steadily'];

/** Words per paragraph of the bench answers (~300 characters): real answers have paragraphs, where the card and messages are cut. */
const PARAGRAPH_WORDS = 50;

/** A deterministic answer of exactly `tokens × chars` characters, unique per conversation, cut into tokens. */
function answerFor(conv: string, tokens: number, chars: number): { text: string; deltas: string[] } {
  let text = `[${conv}] `;
  for (let i = 0; text.length < tokens * chars; i++) text += `${WORDS[(i * 7 + conv.length) % WORDS.length]}${i % PARAGRAPH_WORDS === PARAGRAPH_WORDS - 1 ? '.\n\n' : ' '}`;
  text = `${text.slice(0, tokens * chars - 1)}.`;
  const deltas: string[] = [];
  for (let i = 0; i < text.length; i += chars) deltas.push(text.slice(i, i + chars));
  return { text, deltas };
}

interface Plan {
  conv: string;
  text: string;
  deltas: string[];
  delayMs: number;
  /** Gateway request index, once the plugin asked. */
  index?: number;
  /** The session of the message's sessionWebhook (where its answer's markdown messages go). */
  session?: string;
}

/** Routes gateway requests to plans by the user's text (`<conv>`), streaming at a steady token rate. */
function installPlans(h: Harness, plans: Map<string, Plan>): void {
  h.gw.respond = (req, index) => {
    const plan = plans.get(lastUserText(req).trim());
    if (!plan) return { kind: 'stream', deltas: ['unplanned'], pace: 'between' };
    plan.index = index;
    return { kind: 'stream', deltas: plan.deltas, delayMs: plan.delayMs, pace: 'between' };
  };
}

function makePlan(conv: string, seconds: number, rate: number, chars: number): Plan {
  const tokens = Math.max(1, Math.round(seconds * rate));
  const { text, deltas } = answerFor(conv, tokens, chars);
  return { conv, text, deltas, delayMs: 1000 / rate };
}

const isStreaming = (c: CallRecord) => c.method === 'PUT' && c.path === '/v1.0/card/streaming';
const isFinalize = (c: CallRecord) => isStreaming(c) && (c.body as { isFinalize?: boolean } | undefined)?.isFinalize === true;
const flowStatusOf = (c: CallRecord) =>
  c.method === 'PUT' && c.path === '/v1.0/card/instances' ? (c.body as { cardData?: { cardParamMap?: { flowStatus?: string } } })?.cardData?.cardParamMap?.flowStatus : undefined;
const outTrackIdOf = (c: CallRecord) => (c.body as { outTrackId?: unknown } | undefined)?.outTrackId;
const NOT_COUNTED = new Set(['/v1.0/oauth2/accessToken', '/v1.0/gateway/connections/open', '/gettoken']);

/** Endpoint label for the breakdown. */
function endpointOf(c: CallRecord): string {
  if (isFinalize(c)) return 'streaming(final)';
  if (isStreaming(c)) return 'streaming';
  if (c.path === '/v1.0/card/instances/createAndDeliver') return 'createAndDeliver';
  if (c.method === 'PUT' && c.path === '/v1.0/card/instances') return 'PUT instances';
  return `${c.method} ${c.path}`;
}

/** Bytes of the HTTP/1.1 request as sent: request line, headers (with the real token length) and body. */
function requestBytes(c: CallRecord, tokenLength: number): { body: number; total: number } {
  const query = new URLSearchParams(c.query).toString();
  let head = Buffer.byteLength(`${c.method} ${c.path}${query ? `?${query}` : ''} HTTP/1.1\r\n`) + 2;
  for (const [k, v] of Object.entries(c.headers)) {
    head += Buffer.byteLength(k) + 4 + (k === 'x-acs-dingtalk-access-token' ? tokenLength : Buffer.byteLength(v));
  }
  const declared = Number(c.headers['content-length']);
  const body = Number.isFinite(declared) ? declared : c.body === undefined ? 0 : Buffer.byteLength(JSON.stringify(c.body));
  return { body, total: head + body };
}

interface CardMetrics {
  conv: string;
  seconds: number;
  calls: number;
  byEndpoint: Record<string, number>;
  bodyBytes: number;
  requestBytes: number;
  /** first gateway token → first streaming update with text arriving at the fake. */
  firstVisibleMs: number;
  /** last token → the end of the answer arriving: the streaming call with isFinalize, or the answer's last markdown message after it. */
  finalTextMs: number;
  /** last token → PUT /v1.0/card/instances with flowStatus '3' arriving (negative: a long answer's card finished with its part before the last token). */
  finishedMs: number;
  /**
   * Largest gap between consecutive visible updates (card text or a markdown message of the answer, 200) whose
   * earlier one arrived before the last token.
   */
  maxGapMs: number;
  /** The longest any character of the answer waited between its token leaving the gateway and the user seeing it. */
  maxStaleMs: number;
  /** Markdown messages carrying the answer (its part beyond the card). */
  messages: number;
  /** first token → first of those messages arriving; NaN when the card held the whole answer. */
  firstMessageMs: number;
  /** first token → the first character the card could not hold left the gateway; NaN when it held all. */
  overflowFromMs: number;
  updatesDuringFlow: number;
  /** A non-final update arrived after the last token: the final had to wait for it (AiCard.close awaits it). */
  updateAfterLastToken: boolean;
  /** The user got every character of the answer once, in order (card text, then messages; whitespace at the cuts aside), and the card ended FINISHED. */
  exact: boolean;
  throttled: number;
}

/** The card's note that the answer continues in messages (either language), cut off the card's part. */
const CONTINUES_NOTES = (['zh', 'en'] as const).map((l) => `\n\n${userText('answerContinues', l)}`);

/** What the user sees of one answer, in arrival order: the card's text (each write replaces the last) and markdown messages. */
interface VisibleUpdate {
  mono: number;
  kind: 'card' | 'message';
  text: string;
}

function cardContentOf(c: CallRecord): string | undefined {
  if (c.status !== 200) return undefined;
  if (isStreaming(c)) return (c.body as { content?: string }).content || undefined;
  const map = (c.body as { cardData?: { cardParamMap?: Record<string, string> } } | undefined)?.cardData?.cardParamMap;
  return (c.path === '/v1.0/card/instances' || c.path === '/v1.0/card/instances/createAndDeliver') ? map?.['msgContent'] || undefined : undefined;
}

/** The markdown messages of a DM answer: sessionWebhook sends of its message's session, or robot API sends to its staffId. */
function messageOf(c: CallRecord, conv: string, session: string | undefined): string | undefined {
  if (c.status !== 200) return undefined;
  if (c.path === '/robot/sendBySession') {
    const ok = (c.response as { errcode?: number } | undefined)?.errcode === 0;
    return ok && session !== undefined && c.query['session'] === session ? (c.body as { markdown?: { text?: string } }).markdown?.text : undefined;
  }
  if (c.path === '/v1.0/robot/oToMessages/batchSend') {
    const body = c.body as { userIds?: string[]; msgParam?: string };
    return body.userIds?.[0] === conv ? (JSON.parse(body.msgParam ?? '{}') as { text?: string }).text : undefined;
  }
  return undefined;
}

function visibleUpdates(cardCalls: CallRecord[], allCalls: CallRecord[], conv: string, session: string | undefined): VisibleUpdate[] {
  const out: VisibleUpdate[] = [];
  for (const c of cardCalls) {
    const text = cardContentOf(c);
    if (text !== undefined) out.push({ mono: c.mono, kind: 'card', text });
  }
  for (const c of allCalls) {
    const text = messageOf(c, conv, session);
    if (text !== undefined) out.push({ mono: c.mono, kind: 'message', text });
  }
  return out.sort((a, b) => a.mono - b.mono);
}

/**
 * How far into `whole` the user can read after each update: the card's newest text (without the continuation note)
 * must be a prefix of the answer; each message must continue exactly where the card's part and the messages before
 * it ended (whitespace at a cut may go). -1 once something shown is not the answer's next part (a duplicate, a gap,
 * a changed text).
 */
function coverage(updates: VisibleUpdate[], whole: string): number[] {
  let card = 0;
  let messages: number | undefined;
  const out: number[] = [];
  let broken = false;
  for (const u of updates) {
    if (u.kind === 'card') {
      const note = CONTINUES_NOTES.find((n) => u.text.endsWith(n));
      const part = (note ? u.text.slice(0, -note.length) : u.text).trimEnd();
      if (whole.startsWith(part) && messages === undefined) card = part.length;
      else broken = true;
    } else {
      let at = messages ?? card;
      while (at < whole.length && /\s/.test(whole[at]!)) at++;
      const part = u.text.trim();
      if (whole.startsWith(part, at)) messages = at + part.length;
      else broken = true;
    }
    out.push(broken ? -1 : Math.max(card, messages ?? 0));
  }
  return out;
}

/** The user got every character of `whole` once, in order (see coverage), and the card ended FINISHED. */
function deliveredExactly(card: CardState, seen: VisibleUpdate[], whole: string): boolean {
  const covered = coverage(seen, whole);
  if (covered.includes(-1) || card.flowStatusHistory.at(-1) !== '3') return false;
  let end = covered.at(-1) ?? 0;
  while (end < whole.length && /\s/.test(whole[end]!)) end++;
  return end === whole.length;
}

function analyzeCard(card: CardState, calls: CallRecord[], plan: Plan, timing: ReplyTiming | undefined, tokenLength: number, seconds: number, allCalls: CallRecord[]): CardMetrics {
  const byEndpoint: Record<string, number> = {};
  let bodyBytes = 0;
  let reqBytes = 0;
  for (const c of calls) {
    const k = endpointOf(c);
    byEndpoint[k] = (byEndpoint[k] ?? 0) + 1;
    const b = requestBytes(c, tokenLength);
    bodyBytes += b.body;
    reqBytes += b.total;
  }
  const first = timing?.firstDelta ?? NaN;
  const last = timing?.lastDelta ?? NaN;
  const visible = calls.filter((c) => isStreaming(c) && c.status === 200 && typeof (c.body as { content?: string }).content === 'string' && (c.body as { content: string }).content !== '');
  const firstVisible = visible[0];
  const finalCall = calls.find((c) => isFinalize(c) && c.status === 200);
  const finished = calls.find((c) => flowStatusOf(c) === '3' && c.status === 200);
  const seen = visibleUpdates(calls, allCalls, plan.conv, plan.session);
  const covered = coverage(seen, plan.text);
  let maxGap = 0;
  for (let i = 1; i < seen.length; i++) {
    if (seen[i - 1]!.mono < last) maxGap = Math.max(maxGap, seen[i]!.mono - seen[i - 1]!.mono);
  }
  // Token k left the gateway at first + k × delay (a steady pace); the oldest character an update newly shows is the one after the last shown.
  const chars = plan.deltas[0]?.length ?? 1;
  const producedAt = (pos: number) => first + Math.floor(pos / chars) * plan.delayMs;
  let maxStale = 0;
  let shownUpTo = 0;
  seen.forEach((u, i) => {
    const to = covered[i]!;
    if (to > shownUpTo) maxStale = Math.max(maxStale, u.mono - producedAt(shownUpTo));
    shownUpTo = Math.max(shownUpTo, to);
  });
  const messages = seen.filter((u) => u.kind === 'message');
  const cardHolds = Math.max(0, ...seen.map((u, i) => (u.kind === 'card' ? covered[i]! : 0)));
  return {
    conv: plan.conv,
    seconds,
    calls: calls.length,
    byEndpoint,
    bodyBytes,
    requestBytes: reqBytes,
    firstVisibleMs: firstVisible ? firstVisible.mono - first : NaN,
    // The end of the answer reaches the user with the card's final text or, for a long answer, with its last message.
    finalTextMs: finalCall ? Math.max(finalCall.mono, ...messages.map((m) => m.mono)) - last : NaN,
    finishedMs: finished ? finished.mono - last : NaN,
    maxGapMs: maxGap,
    maxStaleMs: maxStale,
    messages: messages.length,
    firstMessageMs: messages.length ? messages[0]!.mono - first : NaN,
    overflowFromMs: messages.length > 0 && cardHolds > 0 ? producedAt(cardHolds) - first : NaN,
    updatesDuringFlow: visible.filter((c) => !isFinalize(c) && c.mono <= last).length,
    updateAfterLastToken: calls.some((c) => isStreaming(c) && !isFinalize(c) && c.mono > last),
    exact: deliveredExactly(card, seen, plan.text),
    throttled: calls.filter((c) => c.status === 403 || c.status === 429).length,
  };
}

function callsByCard(fake: FakeDingTalk): Map<string, CallRecord[]> {
  const m = new Map<string, CallRecord[]>();
  for (const c of fake.calls) {
    const id = outTrackIdOf(c);
    if (typeof id !== 'string') continue;
    let list = m.get(id);
    if (!list) m.set(id, (list = []));
    list.push(c);
  }
  return m;
}

/** DM cards are delivered to IM_ROBOT.<staffId>: the staffId is the conversation's name here. */
const cardConv = (card: CardState) => card.deliveries[0]?.spaceId;

function cardsByConv(fake: FakeDingTalk): Map<string, CardState> {
  const m = new Map<string, CardState>();
  for (const card of fake.cards.values()) {
    const conv = cardConv(card);
    if (conv) m.set(conv, card);
  }
  return m;
}

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const isDone = (card: CardState | undefined) => !!card && ['3', '5'].includes(card.flowStatusHistory.at(-1) ?? '');

/** A delivery is taken as over once nothing reached the fake for this long after the last answer's stream ended. */
const QUIET_MS = 2_000;

/**
 * One message per conversation, pushed now; resolves when every conversation has a final card or a message, its
 * answer's stream has ended, and for QUIET_MS since then the fake has had no call (the messages after a card may still come).
 */
async function converse(h: Harness, plans: Plan[], opts: { spreadMs?: number; timeoutMs: number }): Promise<void> {
  const convIds = new Map<string, string>();
  const pushes: Array<{ messageId: string }> = [];
  const start = Date.now();
  for (const [i, plan] of plans.entries()) {
    if (opts.spreadMs) {
      const at = start + (i * opts.spreadMs) / plans.length;
      if (at > Date.now()) await sleep(at - Date.now());
    }
    const msg = h.fake.msg.text(plan.conv, { senderStaffId: plan.conv, senderNick: plan.conv });
    convIds.set(msg.conversationId, plan.conv);
    plan.session = new URL(msg.sessionWebhook!).searchParams.get('session') ?? undefined;
    pushes.push(h.fake.pushRobotMessage(msg));
  }
  await Promise.all(pushes.map((p) => h.fake.waitForAck(p.messageId, { within: 10_000 })));
  await until(
    () => {
      const byConv = cardsByConv(h.fake);
      const sentTo = new Set(h.fake.sent.map((s) => convIds.get(s.conversationId ?? '')));
      const ends = plans.map((p) => (p.index === undefined ? undefined : h.gw.timings[p.index]?.end));
      if (ends.some((e) => e === undefined)) return false;
      // Quiet since the last stream ended too: a long answer's last message follows its last token.
      const quiet = Math.max(h.fake.calls.at(-1)?.mono ?? 0, ...(ends as number[])) < performance.now() - QUIET_MS;
      return quiet && plans.every((p) => isDone(byConv.get(p.conv)) || sentTo.has(p.conv));
    },
    opts.timeoutMs,
    `${plans.length} answers to finish`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Child tasks

type Task =
  | { kind: 'answers'; latencyMs: number; run: number; lengths: number[]; perLength: number; rate: number; tokenChars: number }
  | { kind: 'load'; run: number; conversations: number; latencyMs: number; qps: number; minS: number; maxS: number; spreadS: number; rate: number; tokenChars: number }
  | { kind: 'cpu'; mode: 'paced' | 'burst'; conversations: number; chunks: number; rate: number; tokenChars: number }
  | { kind: 'gateway' }
  | { kind: 'heap'; senders: number }
  | { kind: 'state'; senders: number; rate: number; seconds: number }
  | MonthTask
  | CheapestTask;

async function benchHarness(latencyMs: number, rateLimit?: { perApiQps: number }, gatewayUrl?: string): Promise<Harness> {
  return startHarness({
    fake: { latencyMs, ...(rateLimit ? { rateLimit } : {}) },
    // The production interval and a fresh standard-edition budget (the real limiter).
    cardIntervalMs: CARD_UPDATE_INTERVAL_MS,
    budget: new AppBudget({ edition: 'standard' }),
    ...(gatewayUrl ? { config: { gatewayUrl } } : {}),
  });
}

/** A first message so that the access token is cached; its card is the "cold start" sample. */
async function warmUp(h: Harness, rate: number, tokenChars: number, tokenLength: () => number): Promise<CardMetrics> {
  const plan = makePlan('warmup', 1, rate, tokenChars);
  installPlans(h, new Map([[plan.conv, plan]]));
  await converse(h, [plan], { timeoutMs: 30_000 });
  const card = cardsByConv(h.fake).get(plan.conv)!;
  return analyzeCard(card, callsByCard(h.fake).get(card.outTrackId) ?? [], plan, h.gw.timings[plan.index!], tokenLength(), 1, h.fake.calls);
}

async function taskAnswers(t: Extract<Task, { kind: 'answers' }>) {
  const h = await benchHarness(t.latencyMs);
  const tokenLength = () => h.fake.token().length;
  try {
    const cold = await warmUp(h, t.rate, t.tokenChars, tokenLength);
    const cards: CardMetrics[] = [];
    for (const seconds of t.lengths) {
      const plans = Array.from({ length: t.perLength }, (_, k) => makePlan(`r${t.run}-l${t.latencyMs}-s${seconds}-k${k}`, seconds, t.rate, t.tokenChars));
      installPlans(h, new Map(plans.map((p) => [p.conv, p])));
      await converse(h, plans, { timeoutMs: seconds * 1000 + 60_000 });
      const byCard = callsByCard(h.fake);
      const byConv = cardsByConv(h.fake);
      for (const p of plans) {
        const card = byConv.get(p.conv);
        if (!card) throw new Error(`no card for ${p.conv}`);
        cards.push(analyzeCard(card, byCard.get(card.outTrackId) ?? [], p, h.gw.timings[p.index!], tokenLength(), seconds, h.fake.calls));
      }
    }
    const unattributed = h.fake.calls.filter((c) => !NOT_COUNTED.has(c.path) && typeof outTrackIdOf(c) !== 'string').map((c) => `${c.method} ${c.path} ${c.status}`);
    const tokenCalls = h.fake.calls.filter((c) => c.path === '/v1.0/oauth2/accessToken' || c.path === '/gettoken').length;
    return { cold, cards, unattributed, tokenCalls, warnings: h.logs.filter((l) => !l.startsWith('INFO')) };
  } finally {
    await h.close();
  }
}

async function taskLoad(t: Extract<Task, { kind: 'load' }>) {
  const h = await benchHarness(t.latencyMs, { perApiQps: t.qps });
  const tokenLength = () => h.fake.token().length;
  try {
    await warmUp(h, t.rate, t.tokenChars, tokenLength);
    const callsBefore = h.fake.calls.length;
    const logsBefore = h.logs.length;
    const span = Math.max(0, t.maxS - t.minS);
    const plans = Array.from({ length: t.conversations }, (_, i) => makePlan(`load${t.run}-c${i}`, t.minS + (span ? (i * 7919) % (span + 1) : 0), t.rate, t.tokenChars));
    installPlans(h, new Map(plans.map((p) => [p.conv, p])));
    const started = performance.now();
    await converse(h, plans, { spreadMs: t.spreadS * 1000, timeoutMs: t.maxS * 1000 + t.spreadS * 1000 + 180_000 });
    const wallMs = performance.now() - started;
    const calls = h.fake.calls.slice(callsBefore);
    const logs = h.logs.slice(logsBefore);
    const byCard = callsByCard(h.fake);
    const byConv = cardsByConv(h.fake);
    const cards: CardMetrics[] = [];
    for (const p of plans) {
      const card = byConv.get(p.conv);
      if (card) cards.push(analyzeCard(card, byCard.get(card.outTrackId) ?? [], p, h.gw.timings[p.index!], tokenLength(), p.deltas.length / t.rate, h.fake.calls));
    }
    const oapiThrottled = calls.filter((c) => c.host === 'oapi' && (c.response as { errcode?: number } | undefined)?.errcode === 90018).length;
    const paths = [...new Set(calls.filter((c) => !NOT_COUNTED.has(c.path)).map((c) => `${c.method} ${c.path}`))];
    const maxQps: Record<string, number> = {};
    for (const p of paths) {
      const [method, path] = p.split(' ') as [string, string];
      const ts = calls.filter((c) => c.method === method && c.path === path).map((c) => c.mono).sort((a, b) => a - b);
      let best = 0;
      for (let i = 0, j = 0; j < ts.length; j++) {
        while (ts[j]! - ts[i]! >= 1000) i++;
        best = Math.max(best, j - i + 1);
      }
      maxQps[p] = best;
    }
    return {
      conversations: t.conversations,
      wallMs,
      cards,
      throttledResponses: calls.filter((c) => c.status === 403 || c.status === 429).length + oapiThrottled,
      qpsLogLines: logs.filter((l) => /QpsLimit/i.test(l)).length,
      retryLogLines: logs.filter((l) => /retrying/i.test(l)).length,
      warnLines: logs.filter((l) => !l.startsWith('INFO')).slice(0, 10),
      markdownFallbacks: h.fake.sent.length,
      finalsExact: cards.filter((c) => c.exact).length,
      maxQps,
      totalCalls: calls.filter((c) => !NOT_COUNTED.has(c.path)).length,
    };
  } finally {
    await h.close();
  }
}

/** A fake gateway in a process of its own (so that its CPU time is not counted), answering `<conv>|<chunks>|<delayMs>`. */
async function taskGateway(t: Extract<Task, { kind: 'gateway' }>, resultFile: string) {
  void t;
  const gw = await startFakeGateway({ token: 'gw-token' });
  gw.respond = (req) => {
    const [conv, chunks, delayMs, chars] = lastUserText(req).trim().split('|');
    const plan = answerFor(conv ?? 'x', Number(chunks), Number(chars));
    return { kind: 'stream', deltas: plan.deltas, delayMs: Number(delayMs), pace: 'between' };
  };
  const { writeFile } = await import('node:fs/promises');
  await writeFile(resultFile, JSON.stringify({ url: gw.url }));
  await new Promise(() => {}); // until killed
}

async function taskCpu(t: Extract<Task, { kind: 'cpu' }>) {
  const gateway = await startChild({ kind: 'gateway' }, { keepAlive: true });
  const { url } = (await gateway.ready) as { url: string };
  const h = await benchHarness(0, undefined, url);
  try {
    const delayMs = t.mode === 'paced' ? 1000 / t.rate : 0;
    const plans = Array.from({ length: t.conversations }, (_, i) => {
      const conv = `cpu-${t.mode}-${i}`;
      return { conv, prompt: `${conv}|${t.chunks}|${delayMs}|${t.tokenChars}`, text: answerFor(conv, t.chunks, t.tokenChars).text };
    });
    const sessions = new Map<string, string | undefined>();
    const push = async (list: typeof plans) => {
      const ids = list.map((p) => {
        const msg = h.fake.msg.text(p.prompt, { senderStaffId: p.conv });
        sessions.set(p.conv, new URL(msg.sessionWebhook!).searchParams.get('session') ?? undefined);
        return h.fake.pushRobotMessage(msg).messageId;
      });
      await Promise.all(ids.map((id) => h.fake.waitForAck(id, { within: 10_000 })));
      // Cheap to poll (the CPU of this process is measured): cards done, then quiet (a long answer's messages follow its card).
      await until(() => {
        const byConv = cardsByConv(h.fake);
        return list.every((p) => isDone(byConv.get(p.conv))) && (h.fake.calls.at(-1)?.mono ?? 0) < performance.now() - QUIET_MS;
      }, 600_000, 'cpu answers');
    };
    // Warm-up (token, JIT) with a few short answers, not measured.
    await push([{ conv: 'cpu-warm', prompt: `cpu-warm|200|0|${t.tokenChars}`, text: '' }]);
    global.gc?.();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    await push(plans);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;
    const byConv = cardsByConv(h.fake);
    const byCard = callsByCard(h.fake);
    const exact = plans.filter((p) => {
      const card = byConv.get(p.conv);
      return !!card && deliveredExactly(card, visibleUpdates(byCard.get(card.outTrackId) ?? [], h.fake.calls, p.conv, sessions.get(p.conv)), p.text);
    }).length;
    const apiCalls = h.fake.calls.filter((c) => typeof outTrackIdOf(c) === 'string' && byConv.get('cpu-warm')?.outTrackId !== outTrackIdOf(c)).length;
    return { mode: t.mode, chunks: t.conversations * t.chunks, conversations: t.conversations, chunksPerAnswer: t.chunks, userMs: cpu.user / 1000, systemMs: cpu.system / 1000, wallMs, exact, apiCalls };
  } finally {
    await h.close();
    await gateway.kill();
  }
}

async function taskHeap(t: Extract<Task, { kind: 'heap' }>) {
  const gc = global.gc;
  if (!gc) throw new Error('run node with --expose-gc');
  const dir = await mkdtemp(join(tmpdir(), 'dt-bench-heap-'));
  try {
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await sleep(20);
      }
      return process.memoryUsage().heapUsed;
    };
    const before = await settle();
    const store = new FileStore({ dir });
    const sessions = new Sessions({ accountId: 'default', store, timeoutMs: 30 * 60_000, groupScope: 'group' });
    const dedupe = createDedupe(store);
    let peak = before;
    const t0 = performance.now();
    for (let i = 0; i < t.senders; i++) {
      const staffId = `staff${i.toString(36).padStart(6, '0')}`;
      const msg = { msgId: `msg${i}`, senderId: `$:LWCP_v1:$${staffId}`, senderStaffId: staffId, isGroup: false, conversationId: `cidDM${staffId}` } as unknown as InboundMessage;
      if (!(await dedupe.firstSeen('default', msg.msgId))) throw new Error('dedupe refused a new message');
      await sessions.touch(msg);
      if (i % 5000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    const loopMs = performance.now() - t0;
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    // What the layer holds right after the burst, before the pending shard writes (gc'd, not flushed).
    gc();
    const unflushed = process.memoryUsage().heapUsed;
    await store.flush();
    const after = await settle();
    const files = await readdir(dir);
    let diskBytes = 0;
    for (const f of files) diskBytes += (await stat(join(dir, f))).size;
    // Keep the session layer reachable until after the measurement.
    void sessions;
    void dedupe;
    return { senders: t.senders, beforeMB: before / 2 ** 20, afterMB: after / 2 ** 20, growthMB: (after - before) / 2 ** 20, unflushedGrowthMB: (unflushed - before) / 2 ** 20, peakGrowthMB: (peak - before) / 2 ** 20, loopMs, files: files.length, diskMB: diskBytes / 2 ** 20 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * State cost per message with many known senders: a store folder already holding `senders` sessions (written
 * by an earlier store, as after a restart), then `rate` messages/s for `seconds` from random known senders,
 * each going through what the pipeline does with state (dedupe.firstSeen + Sessions.touch). CPU is the whole
 * process (background writes included) after a first message (the start-up read, reported apart); latency is
 * per message (both calls).
 */
async function taskState(t: Extract<Task, { kind: 'state' }>) {
  const dir = await mkdtemp(join(tmpdir(), 'dt-bench-state-'));
  const timeoutMs = 30 * 60_000;
  const msgOf = (i: number, n: number) => {
    const staffId = `staff${i.toString(36).padStart(6, '0')}`;
    return { msgId: `msg${i}-${n}`, senderId: `$:LWCP_v1:$${staffId}`, senderStaffId: staffId, isGroup: false, conversationId: `cidDM${staffId}` } as unknown as InboundMessage;
  };
  try {
    const seed = new FileStore({ dir });
    const seedSessions = new Sessions({ accountId: 'default', store: seed, timeoutMs, groupScope: 'group' });
    const seedDedupe = createDedupe(seed);
    const s0 = performance.now();
    for (let i = 0; i < t.senders; i++) {
      const msg = msgOf(i, 0);
      await seedDedupe.firstSeen('default', msg.msgId);
      await seedSessions.touch(msg);
    }
    await seed.flush();
    const seedMs = performance.now() - s0;

    const store = new FileStore({ dir });
    const sessions = new Sessions({ accountId: 'default', store, timeoutMs, groupScope: 'group' });
    const dedupe = createDedupe(store);
    // The first use after a start reads what the folder holds: measured apart from the steady state.
    const l0 = performance.now();
    await dedupe.firstSeen('default', 'warm-up');
    await sessions.touch(msgOf(0, 0));
    const firstUseMs = performance.now() - l0;
    const total = Math.round(t.rate * t.seconds);
    const latencies: number[] = [];
    let rng = 0x2545f491;
    const random = () => ((rng = (rng * 1103515245 + 12345) >>> 0) / 2 ** 32);
    global.gc?.();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    for (let n = 1; n <= total; n++) {
      const due = wall0 + (n * 1000) / t.rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const msg = msgOf(Math.floor(random() * t.senders), n);
      const m0 = performance.now();
      if (!(await dedupe.firstSeen('default', msg.msgId))) throw new Error('dedupe refused a new message');
      const s = await sessions.touch(msg);
      latencies.push(performance.now() - m0);
      if (s.isNew) throw new Error('a known sender got a new session');
    }
    await store.flush();
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;
    const files = await readdir(dir);
    let diskBytes = 0;
    for (const f of files) diskBytes += (await stat(join(dir, f))).size;
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return { senders: t.senders, messages: total, rate: t.rate, seedMs, firstUseMs, cpuMs, wallMs, cpuPerMessageMs: cpuMs / total, coreShare: cpuMs / wallMs, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxMs: Math.max(...latencies), files: files.length, diskMB: diskBytes / 2 ** 20 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Processes

const BENCH_FILE = fileURLToPath(import.meta.url);
const RUNNER = process.argv[1]!;
let verbose = false;

interface Child {
  ready: Promise<unknown>;
  kill(): Promise<void>;
}

/** Runs a task in a child process of the same runner; `ready` resolves with the task's result (or its first report when keepAlive). */
async function startChild(task: Task, opts: { keepAlive?: boolean; label?: string } = {}): Promise<Child> {
  const dir = await mkdtemp(join(tmpdir(), 'dt-bench-'));
  const resultFile = join(dir, 'result.json');
  const proc: ChildProcess = spawn(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--inspect')), RUNNER, BENCH_FILE, '--child', JSON.stringify(task), '--result', resultFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: [process.env['NODE_OPTIONS'], '--expose-gc'].filter(Boolean).join(' ') },
  });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const label = opts.label ?? task.kind;
  const exited = new Promise<number>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const readResult = async () => JSON.parse(await readFile(resultFile, 'utf8')) as unknown;
  const ready = opts.keepAlive
    ? (async () => {
        for (;;) {
          const r = await readResult().catch(() => undefined);
          if (r) return r;
          if (proc.exitCode !== null) throw new Error(`${label} exited early:\n${output}`);
          await sleep(50);
        }
      })()
    : exited.then(async (code) => {
        if (verbose && output.trim()) process.stderr.write(`--- ${label} output ---\n${output}\n`);
        if (code !== 0) throw new Error(`${label} failed (exit ${code}):\n${output.slice(-4000)}`);
        const r = await readResult();
        await rm(dir, { recursive: true, force: true });
        return r;
      });
  return {
    ready,
    kill: async () => {
      if (proc.exitCode === null && proc.pid) process.kill(proc.pid);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function runChild(task: Task, resultFile: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  const processWarnings: string[] = [];
  process.on('warning', (w) => processWarnings.push(`${w.name}: ${w.message}`));
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  // The histogram holds whole sampling intervals: the delay is what exceeds the resolution.
  const lag = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
  loop.enable();
  let result: unknown;
  switch (task.kind) {
    case 'answers': result = await taskAnswers(task); break;
    case 'load': result = await taskLoad(task); break;
    case 'cpu': result = await taskCpu(task); break;
    case 'gateway': return taskGateway(task, resultFile);
    case 'heap': result = await taskHeap(task); break;
    case 'state': result = await taskState(task); break;
    case 'month': result = await runMonth(task); break;
    case 'cheapest': result = await runCheapest(task); break;
  }
  loop.disable();
  const envelope: Envelope = { result, processWarnings, loopDelayMs: { p50: lag(loop.percentile(50)), p99: lag(loop.percentile(99)), max: lag(loop.max) } };
  await writeFile(resultFile, JSON.stringify(envelope));
}

const LOOP_RESOLUTION_MS = 10;

/** What a child reports: its task's result, Node process warnings, and its event-loop delay (the fakes share that loop). */
interface Envelope {
  result: unknown;
  processWarnings: string[];
  loopDelayMs: { p50: number; p99: number; max: number };
}
const childReports: Array<{ label: string } & Omit<Envelope, 'result'>> = [];

const inChild = async <T>(task: Task, label: string): Promise<T> => {
  const t0 = Date.now();
  const env = (await (await startChild(task, { label })).ready) as Envelope;
  childReports.push({ label, processWarnings: env.processWarnings, loopDelayMs: env.loopDelayMs });
  progress(`${label} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return env.result as T;
};

function progress(m: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
}

// ---------------------------------------------------------------------------------------------------------
// Report

type AnswersResult = Awaited<ReturnType<typeof taskAnswers>>;
type LoadResult = Awaited<ReturnType<typeof taskLoad>>;
type CpuResult = Awaited<ReturnType<typeof taskCpu>>;
type HeapResult = Awaited<ReturnType<typeof taskHeap>>;
type StateResult = Awaited<ReturnType<typeof taskState>>;

function table(rows: string[][], align?: Array<'l' | 'r'>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r, ri) => {
      const line = r.map((cell, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
      return ri === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
const kb = (n: number) => (Number.isFinite(n) ? `${(n / 1024).toFixed(1)} KiB` : '–');
/** Median over runs of a per-run statistic. */
const overRuns = <R>(runs: R[], stat: (r: R) => number) => median(runs.map(stat).filter((x) => Number.isFinite(x)));

interface Verdict {
  target: string;
  figure: string;
  limit: string;
  ok: boolean | undefined;
}

async function machine(): Promise<string> {
  const info = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /model name\s*:\s*(.*)/.exec(info)?.[1] ?? cpus()[0]?.model ?? '?';
  return `${cpus().length} CPU (nproc) · ${model} · ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} free) · node ${process.version} · ${process.platform}/${process.arch}`;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  verbose = o.verbose;
  const started = Date.now();
  const verdicts: Verdict[] = [];
  const out: string[] = [];
  const rtt = (l: number) => l; // the fake answers each call after latencyMs: one injected round trip

  out.push('DingTalk connector benchmark — real monitorAccount pipeline (test/harness.ts) vs fake DingTalk + fake gateway, loopback only');
  out.push(`machine: ${await machine()}`);
  out.push(
    `setup: ${o.quick ? 'QUICK smoke run · ' : ''}runs=${o.runs} · gateway ${o.rate} tokens/s × ${o.tokenChars} chars (ASCII), [DONE] right after the last token, no time-to-first-token delay · ` +
      `card interval ${CARD_UPDATE_INTERVAL_MS} ms (production CARD_UPDATE_INTERVAL_MS) · real AppBudget, standard edition (${EDITION_QPS.standard}/s/API − 2 safety = ${new AppBudget().perSecond}/s)`,
  );
  out.push('figures: a statistic is computed per run, then the median over runs is shown ("worst" = over all runs)');

  // Phase 1: answers, every (latency, run) in a process of its own, all at once (each is mostly idle).
  let answers: Array<{ latencyMs: number; runs: AnswersResult[] }> = [];
  if (o.sections.includes('answers')) {
    progress(`answers: ${o.latencies.length} latencies × ${o.runs} runs in parallel, lengths ${o.lengths.join('/')} s (${o.perLength} at once each), ~${o.lengths.reduce((a, b) => a + b, 0) + 10} s`);
    const jobs = o.latencies.flatMap((latencyMs) =>
      Array.from({ length: o.runs }, (_, run) =>
        inChild<AnswersResult>({ kind: 'answers', latencyMs, run, lengths: o.lengths, perLength: o.perLength, rate: o.rate, tokenChars: o.tokenChars }, `answers latency=${latencyMs} run=${run + 1}`).then((r) => ({ latencyMs, r })),
      ),
    );
    const done = await Promise.all(jobs);
    answers = o.latencies.map((latencyMs) => ({ latencyMs, runs: done.filter((d) => d.latencyMs === latencyMs).map((d) => d.r) }));
  }

  // Phase 2: 200 conversations under the fake's rate limit, runs one after the other.
  const loads: LoadResult[] = [];
  if (o.sections.includes('load')) {
    for (let run = 0; run < o.runs; run++) {
      loads.push(
        await inChild<LoadResult>(
          { kind: 'load', run, conversations: o.conversations, latencyMs: o.loadLatency, qps: o.loadQps, minS: o.loadMinS, maxS: o.loadMaxS, spreadS: o.loadSpreadS, rate: o.rate, tokenChars: o.tokenChars },
          `load ${o.conversations} conversations run=${run + 1}`,
        ),
      );
    }
  }

  // Phase 3: CPU (paced and burst, one after the other: CPU time is per process but cores are shared), then heap.
  const cpuRuns: CpuResult[] = [];
  const heapRuns: HeapResult[] = [];
  if (o.sections.includes('cpu')) {
    for (let run = 0; run < o.runs; run++) {
      cpuRuns.push(await inChild<CpuResult>({ kind: 'cpu', mode: 'paced', conversations: o.cpuConversations, chunks: Math.round(o.cpuSeconds * o.rate), rate: o.rate, tokenChars: o.tokenChars }, `cpu paced run=${run + 1}`));
      cpuRuns.push(await inChild<CpuResult>({ kind: 'cpu', mode: 'burst', conversations: o.cpuConversations, chunks: o.cpuBurstChunks, rate: o.rate, tokenChars: o.tokenChars }, `cpu burst run=${run + 1}`));
    }
  }
  if (o.sections.includes('heap')) {
    for (let run = 0; run < o.runs; run++) heapRuns.push(await inChild<HeapResult>({ kind: 'heap', senders: o.senders }, `heap run=${run + 1}`));
  }
  const stateRuns: StateResult[] = [];
  if (o.sections.includes('state')) {
    for (let run = 0; run < o.runs; run++) {
      for (const senders of o.stateSenders) {
        stateRuns.push(await inChild<StateResult>({ kind: 'state', senders, rate: o.stateRate, seconds: o.stateSeconds }, `state senders=${senders} run=${run + 1}`));
      }
    }
  }

  // Phase 4: simulated months (accelerated time), a few at once (each is one process).
  const months: MonthResult[] = [];
  const hasGovernor = 'governor' in new AppBudget();
  if (o.sections.includes('month')) {
    const noBudget = hasGovernor ? 1e6 : undefined;
    const base = { kind: 'month' as const, perDay: o.monthPerDay, days: o.monthDays, seed: 18 };
    const tasks: MonthTask[] = [
      { ...base, label: 'mode 1 always (no governor)', cardIntervalMs: CARD_UPDATE_INTERVAL_MS, monthlyCallBudget: noBudget },
      { ...base, label: 'fixed 300 ms (seed plugin)', cardIntervalMs: 300, monthlyCallBudget: noBudget, stopAfterCalls: Math.max(...o.monthBudgets) },
      ...(hasGovernor ? o.monthBudgets.map((b) => ({ ...base, label: `governor, budget ${b.toLocaleString('en')}`, cardIntervalMs: CARD_UPDATE_INTERVAL_MS, monthlyCallBudget: b })) : []),
    ];
    progress(`month: ${tasks.length} simulated months of ${o.monthDays} working days, ${o.monthParallel} at once`);
    const queue = [...tasks.entries()];
    const done: Array<[number, MonthResult]> = [];
    await Promise.all(
      Array.from({ length: o.monthParallel }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) done.push([next[0], await inChild<MonthResult>(next[1], `month ${next[1].label}`)]);
      }),
    );
    months.push(...done.sort((a, b) => a[0] - b[0]).map(([, r]) => r));
  }
  const cheapestLengths = [2, 30];
  const cheapest = o.sections.includes('cheapest')
    ? await inChild<Awaited<ReturnType<typeof runCheapest>>>({ kind: 'cheapest', lengths: cheapestLengths, gridMs: CARD_UPDATE_INTERVAL_MS }, 'cheapest answers')
    : undefined;

  // ---- 1 + 2: per answer
  if (answers.length) {
    const endpoints = ['createAndDeliver', 'streaming', 'streaming(final)', 'PUT instances'];
    out.push('', `1) DingTalk API calls and request bytes per answer (token and gateway-open calls excluded; ${o.perLength} answers per length per run, each in its own DM conversation)`);
    out.push('2) latency: first gateway token → first card text at the fake; last token → final text (streaming isFinalize, or the last message of a long answer) and → FINISHED (PUT instances');
    out.push('   flowStatus 3; negative: the card of a long answer was finished with its part before the last token, the rest following as messages, src/overflow.ts)');
    out.push('   visible update: a card text write or a markdown message of the answer (its part beyond the card, 2,500 characters) arriving at the fake');
    out.push('   max gap: between consecutive visible updates (the final included) whose earlier one arrived before the last token; updates/flow: non-final card updates up to the last token');
    out.push('   max stale: the longest a character waited from leaving the gateway to being visible; msgs: markdown messages; overflow from → 1st msg: s after the first token when the');
    out.push('   first character beyond the card left the gateway, and when the first message arrived; exact: card text then messages give every character once, in order (whitespace at cuts aside)');
    const rows: string[][] = [['DingTalk RTT', 'answer', 'calls', ...endpoints, 'other', 'body bytes', 'request bytes', 'updates/flow', 'max gap ms (worst)', 'max stale ms (worst)', 'msgs', 'overflow from → 1st msg s', 'first text ms (worst)', 'final text ms', 'FINISHED ms (worst)', 'exact']];
    for (const { latencyMs, runs } of answers) {
      for (const seconds of o.lengths) {
        const per = runs.map((r) => r.cards.filter((c) => c.seconds === seconds));
        const st = (fn: (c: CardMetrics) => number) => overRuns(per, (cs) => median(cs.map(fn)));
        const worst = (fn: (c: CardMetrics) => number) => Math.max(...per.flat().map(fn));
        const otherCalls = (c: CardMetrics) => Object.entries(c.byEndpoint).filter(([k]) => !endpoints.includes(k)).reduce((a, [, v]) => a + v, 0);
        rows.push([
          `${latencyMs} ms`,
          `${seconds} s`,
          `${f1(st((c) => c.calls))} (max ${worst((c) => c.calls)})`,
          ...endpoints.map((e) => f1(st((c) => c.byEndpoint[e] ?? 0))),
          f1(st(otherCalls)),
          kb(st((c) => c.bodyBytes)),
          kb(st((c) => c.requestBytes)),
          f1(st((c) => c.updatesDuringFlow)),
          `${f0(overRuns(per, (cs) => Math.max(...cs.map((c) => c.maxGapMs))))} (${f0(worst((c) => c.maxGapMs))})`,
          `${f0(overRuns(per, (cs) => Math.max(...cs.map((c) => c.maxStaleMs))))} (${f0(worst((c) => c.maxStaleMs))})`,
          f1(st((c) => c.messages)),
          // NaN (no message) comes back from the child's JSON as null.
          `${f1(st((c) => (c.messages ? c.overflowFromMs / 1000 : NaN)))} → ${f1(st((c) => (c.messages ? c.firstMessageMs / 1000 : NaN)))}`,
          `${f1(st((c) => c.firstVisibleMs))} (${f1(worst((c) => c.firstVisibleMs))})`,
          f1(st((c) => c.finalTextMs)),
          `${f1(st((c) => c.finishedMs))} (${f1(worst((c) => c.finishedMs))})`,
          `${per.flat().filter((c) => c.exact).length}/${per.flat().length}`,
        ]);
        if (seconds === 30) {
          const calls = st((c) => c.calls);
          const gap = overRuns(per, (cs) => Math.max(...cs.map((c) => c.maxGapMs)));
          // create + updates on the grid while tokens flow (first token to last: (tokens − 1) / rate) + finalize + FINISHED.
          const designCalls = 3 + Math.ceil((((seconds * o.rate - 1) / o.rate) * 1000) / CARD_UPDATE_INTERVAL_MS);
          verdicts.push({ target: `calls per 30-s answer (RTT ${latencyMs} ms)`, figure: `${f1(calls)} (max ${worst((c) => c.calls)})`, limit: `≤ ${designCalls} (grid)`, ok: calls <= designCalls });
          verdicts.push({ target: `  … max gap between visible updates while tokens flow (RTT ${latencyMs} ms)`, figure: `${f0(gap)} ms (worst ${f0(worst((c) => c.maxGapMs))})`, limit: '≤ 2000 ms', ok: gap <= 2000 });
        }
      }
      const longest = Math.max(...o.lengths);
      const perLongest = runs.map((r) => r.cards.filter((c) => c.seconds === longest));
      verdicts.push({
        target: `(extra) longest wait to see a character of a ${longest}-s answer (RTT ${latencyMs} ms), max gap between visible updates`,
        figure: `${f1(overRuns(perLongest, (cs) => Math.max(...cs.map((c) => c.maxStaleMs))) / 1000)} s, ${f1(overRuns(perLongest, (cs) => Math.max(...cs.map((c) => c.maxGapMs))) / 1000)} s`,
        limit: '(figure only)',
        ok: undefined,
      });
      const firstAll = (r: AnswersResult) => median(r.cards.map((c) => c.firstVisibleMs));
      const first = overRuns(runs, firstAll);
      verdicts.push({
        target: `first visible text after first token (RTT ${latencyMs} ms, warm token)`,
        figure: `${f1(first)} ms (worst ${f1(Math.max(...runs.flatMap((r) => r.cards.map((c) => c.firstVisibleMs))))})`,
        limit: `≤ ${rtt(latencyMs) + 20} ms`,
        ok: first <= rtt(latencyMs) + 20,
      });
    }
    out.push(table(rows));
    const coldRows: string[][] = [['DingTalk RTT', 'first text ms', 'FINISHED ms', 'token calls/run', 'calls outside cards', 'warn/error log lines']];
    for (const { latencyMs, runs } of answers) {
      coldRows.push([
        `${latencyMs} ms`,
        f1(overRuns(runs, (r) => r.cold.firstVisibleMs)),
        f1(overRuns(runs, (r) => r.cold.finishedMs)),
        runs.map((r) => r.tokenCalls).join('/'),
        runs.map((r) => r.unattributed.length).join('/'),
        runs.map((r) => r.warnings.length).join('/'),
      ]);
    }
    out.push('', 'first message after start (cold: access token fetched on demand), 1-s answer:', table(coldRows));
    const warnSample = answers.flatMap((a) => a.runs.flatMap((r) => r.warnings)).slice(0, 5);
    if (warnSample.length) out.push('warnings seen:', ...warnSample.map((w) => `  ${w}`));
  }

  // ---- 3: load
  if (loads.length) {
    out.push('', `3) ${o.conversations} concurrent DM conversations, fake rate limit ${o.loadQps} calls/s per API (token bucket), RTT ${o.loadLatency} ms, ` +
      `answers ${o.loadMinS}–${o.loadMaxS} s at ${o.rate} tokens/s, messages ${o.loadSpreadS ? `spread over ${o.loadSpreadS} s` : 'pushed at once'}`);
    const rows: string[][] = [['run', 'wall s', 'throttled responses', 'QpsLimit log lines', 'retry log lines', 'finals exact', 'markdown fallbacks', 'calls', 'calls/answer', 'max calls in a 1-s window at the fake', 'first text p50/p95 ms', 'final text p50/p95 ms', 'FINISHED p50/p95 ms', 'max gap p50/p95 ms', 'finals behind a queued update', '… their final text p50 ms', 'others p50 ms']];
    loads.forEach((l, i) => {
      const c = l.cards;
      rows.push([
        `${i + 1}`,
        f1(l.wallMs / 1000),
        `${l.throttledResponses}`,
        `${l.qpsLogLines}`,
        `${l.retryLogLines}`,
        `${l.finalsExact}/${l.conversations}`,
        `${l.markdownFallbacks}`,
        `${l.totalCalls}`,
        f1(median(c.map((x) => x.calls))),
        Object.entries(l.maxQps).map(([k, v]) => `${k.replace('/v1.0/card/', '').replace(/^(\w+) /, '$1 ')}=${v}`).join(' '),
        `${f0(percentile(c.map((x) => x.firstVisibleMs), 50))}/${f0(percentile(c.map((x) => x.firstVisibleMs), 95))}`,
        `${f0(percentile(c.map((x) => x.finalTextMs), 50))}/${f0(percentile(c.map((x) => x.finalTextMs), 95))}`,
        `${f0(percentile(c.map((x) => x.finishedMs), 50))}/${f0(percentile(c.map((x) => x.finishedMs), 95))}`,
        `${f0(percentile(c.map((x) => x.maxGapMs), 50))}/${f0(percentile(c.map((x) => x.maxGapMs), 95))}`,
        `${c.filter((x) => x.updateAfterLastToken).length}/${c.length}`,
        f0(median(c.filter((x) => x.updateAfterLastToken).map((x) => x.finalTextMs))),
        f0(median(c.filter((x) => !x.updateAfterLastToken).map((x) => x.finalTextMs))),
      ]);
    });
    out.push(table(rows));
    out.push(`throttled responses: 403/429 (and oapi 90018) from the fake's token bucket (capacity ${o.loadQps}, refill ${o.loadQps}/s per API); ` +
      'the 1-s window column counts arrivals in any sliding second (the criterion of test/load.test.ts); "finals behind a queued update": a non-final update of the card arrived after the last token, so AiCard.close waited for it');
    const warn = loads.flatMap((l) => l.warnLines).slice(0, 5);
    if (warn.length) out.push('warnings seen:', ...warn.map((w) => `  ${w}`));
    const throttles = overRuns(loads, (l) => l.throttledResponses + l.qpsLogLines);
    const finals = overRuns(loads, (l) => (100 * l.finalsExact) / l.conversations);
    const worstFinals = Math.min(...loads.map((l) => (100 * l.finalsExact) / l.conversations));
    verdicts.push({ target: `throttling errors surfaced at ${o.conversations} conversations`, figure: `${f0(throttles)} (worst ${Math.max(...loads.map((l) => l.throttledResponses + l.qpsLogLines))})`, limit: '0', ok: throttles === 0 && loads.every((l) => l.throttledResponses + l.qpsLogLines === 0) });
    const worstWindow = Math.max(...loads.flatMap((l) => Object.values(l.maxQps)));
    verdicts.push({
      target: `(extra) max calls of one API in any 1-s window at the fake, ${o.conversations} conversations`,
      figure: `${worstWindow} (runs: ${loads.map((l) => Math.max(...Object.values(l.maxQps))).join(', ')})`,
      limit: `≤ ${o.loadQps}`,
      ok: worstWindow <= o.loadQps,
    });
    verdicts.push({ target: `finals delivered exactly at ${o.conversations} conversations`, figure: `${f1(finals)} % (worst ${f1(worstFinals)} %)`, limit: '100 %', ok: worstFinals === 100 });
    verdicts.push({
      target: `last token → final text p50/p95 at ${o.conversations} conversations`,
      figure: `${f0(overRuns(loads, (l) => percentile(l.cards.map((c) => c.finalTextMs), 50)))}/${f0(overRuns(loads, (l) => percentile(l.cards.map((c) => c.finalTextMs), 95)))} ms`,
      limit: '(figure only)',
      ok: undefined,
    });
  }

  // ---- 4: CPU and heap
  if (cpuRuns.length || heapRuns.length) out.push('', '4) CPU and memory');
  if (cpuRuns.length) {
    const rows: string[][] = [['mode', 'answers × chunks', 'chunks', 'wall s', 'CPU user ms', 'CPU sys ms', 'CPU ms / 1,000 chunks', 'card calls', 'exact']];
    for (const mode of ['paced', 'burst'] as const) {
      const rs = cpuRuns.filter((r) => r.mode === mode);
      if (!rs.length) continue;
      const per1000 = overRuns(rs, (r) => ((r.userMs + r.systemMs) / r.chunks) * 1000);
      rows.push([
        mode === 'paced' ? `paced ${o.rate}/s` : 'burst (no delay)',
        `${rs[0]!.conversations} × ${rs[0]!.chunksPerAnswer}`,
        `${rs[0]!.chunks}`,
        f1(overRuns(rs, (r) => r.wallMs / 1000)),
        f0(overRuns(rs, (r) => r.userMs)),
        f0(overRuns(rs, (r) => r.systemMs)),
        `${f1(per1000)} (runs: ${rs.map((r) => f1(((r.userMs + r.systemMs) / r.chunks) * 1000)).join(', ')})`,
        f0(overRuns(rs, (r) => r.apiCalls)),
        rs.map((r) => `${r.exact}/${r.conversations}`).join(' '),
      ]);
      verdicts.push({ target: `CPU per 1,000 chunks, ${mode} (${rs[0]!.chunksPerAnswer}-chunk answers)`, figure: `${f1(per1000)} ms`, limit: '(figure only)', ok: undefined });
    }
    out.push('CPU: process.cpuUsage() of the plugin process (plugin + in-process fake DingTalk + harness); the gateway runs in another process');
    out.push(table(rows));
  }
  if (heapRuns.length) {
    out.push(`heap: Sessions.touch + createDedupe(store).firstSeen on a FileStore (temp dir, defaults) for ${o.senders.toLocaleString('en')} distinct senders, gc before/after, after store.flush()`);
    const rows: string[][] = [['run', 'heap before MB', 'heap after MB', 'growth after flush MB', 'growth before flush MB (gc)', 'peak growth MB (sampled, incl. garbage)', 'loop s', 'µs / message', 'state files', 'on disk MB']];
    heapRuns.forEach((r, i) =>
      rows.push([`${i + 1}`, f1(r.beforeMB), f1(r.afterMB), f1(r.growthMB), f1(r.unflushedGrowthMB), f1(r.peakGrowthMB), f1(r.loopMs / 1000), f1((r.loopMs * 1000) / r.senders), `${r.files}`, f1(r.diskMB)]),
    );
    out.push(table(rows));
    const growth = overRuns(heapRuns, (r) => r.growthMB);
    verdicts.push({ target: `session-layer heap growth for ${o.senders.toLocaleString('en')} senders`, figure: `${f1(growth)} MB (before flush ${f1(overRuns(heapRuns, (r) => r.unflushedGrowthMB))} MB)`, limit: '≤ 50 MB', ok: growth <= 50 });
  }

  // ---- 5: state cost per message
  if (stateRuns.length) {
    out.push('', `5) state cost per message with many known senders: a FileStore folder holding N senders' sessions (written by an earlier store), then ${o.stateRate} messages/s for ${o.stateSeconds} s from random known senders, each dedupe.firstSeen + Sessions.touch (CPU: whole process incl. background writes, after a first message whose start-up read is shown apart)`);
    const rows: string[][] = [['known senders', 'run', 'messages', 'CPU ms / message', 'share of a core', 'p50 ms', 'p99 ms', 'max ms', 'first message ms', 'seed s', 'state files', 'on disk MB']];
    for (const senders of o.stateSenders) {
      const rs = stateRuns.filter((r) => r.senders === senders);
      rs.forEach((r, i) => rows.push([senders.toLocaleString('en'), `${i + 1}`, `${r.messages}`, r.cpuPerMessageMs.toFixed(3), `${f1(r.coreShare * 100)} %`, r.p50Ms.toFixed(3), r.p99Ms.toFixed(3), f1(r.maxMs), f0(r.firstUseMs), f1(r.seedMs / 1000), `${r.files}`, f1(r.diskMB)]));
      const cpu = overRuns(rs, (r) => r.cpuPerMessageMs);
      const p99 = overRuns(rs, (r) => r.p99Ms);
      verdicts.push({ target: `state: CPU per message / p99 at ${senders.toLocaleString('en')} known senders, ${o.stateRate} msg/s`, figure: `${cpu.toFixed(3)} ms (${f1(overRuns(rs, (r) => r.coreShare * 100))} % of a core) / ${p99.toFixed(2)} ms`, limit: '(figure only)', ok: undefined });
    }
    out.push(table(rows));
  }

  // ---- 6: the month
  if (months.length) {
    const { lines, verdicts: v } = monthReport(
      months,
      {
        perDay: o.monthPerDay,
        days: o.monthDays,
        budgets: o.monthBudgets,
        quickNote: o.monthDays < 22 ? ` — SHORT RUN: ${o.monthDays} working days, not a month` : '',
        governorNote: hasGovernor ? '' : 'this build has no monthly call governor: only the policies without one were run',
      },
      (rows) => table(rows),
    );
    out.push(...lines);
    verdicts.push(...v);
  }

  // ---- 7: the cheapest complete answer
  if (cheapest) {
    const { lines, verdicts: v } = cheapestReport(cheapest, cheapestLengths, (rows) => table(rows));
    out.push(...lines);
    verdicts.push(...v);
  }

  if (verdicts.length) {
    out.push('', 'targets');
    out.push(table([['target', 'figure', 'target', 'result'], ...verdicts.map((v) => [v.target, v.figure, v.limit, v.ok === undefined ? '' : v.ok ? 'PASS' : 'MISS'])], ['l', 'r', 'r', 'l']));
  }
  const warnings = [...new Set(childReports.flatMap((r) => r.processWarnings))];
  if (childReports.length) {
    out.push('', 'event-loop delay of the measuring processes (plugin and fake DingTalk share it), ms p50/p99/max:');
    out.push(`  ${childReports.map((r) => `${r.label}: ${f0(r.loopDelayMs.p50)}/${f0(r.loopDelayMs.p99)}/${f0(r.loopDelayMs.max)}`).join(' · ')}`);
  }
  if (warnings.length) out.push('Node process warnings in the measuring processes:', ...warnings.map((w) => `  ${w}`));
  out.push('', `total wall time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(out.join('\n'));
}

// ---------------------------------------------------------------------------------------------------------

const childAt = process.argv.indexOf('--child');
if (childAt !== -1) {
  const task = JSON.parse(process.argv[childAt + 1]!) as Task;
  const resultFile = process.argv[process.argv.indexOf('--result') + 1]!;
  runChild(task, resultFile).then(
    () => process.exit(0),
    (err) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
} else {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
