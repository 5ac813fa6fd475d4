/**
 * What each account did, for the host's status view (`channels status`): answers that reached users today (the
 * gateway machine's calendar day), when the last one went out, and the last answer that failed, with its fix.
 * Today's answers are counted in the account's state store (`answers` namespace, one counter per account and local
 * day), so a gateway restart at noon still shows the morning's answers; the rest is kept per accountId for the life
 * of the process (restarting one account, a config reload, keeps it).
 */
import type { StateStore } from './store.ts';
import { failureFix, type FailureCause } from './texts.ts';

export interface AnswerOutcome {
  delivered: boolean;
  cause?: FailureCause;
  /** The gateway's HTTP status, for the fix text. */
  status?: number;
}

export interface AccountActivity {
  /** Epoch ms of the last answer that reached the user. */
  lastOutboundAt: number | null;
  /** The last failed answer, until an answer goes out again: when, and the fix in the operator's words. */
  lastAnswerError: string | null;
}

const byAccount = new Map<string, AccountActivity>();

/** `YYYY-MM-DD` of `at` on this machine's clock and time zone. */
export function localDay(at: number): string {
  const d = new Date(at);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The account's activity in this process. */
export function activityOf(accountId: string): AccountActivity {
  const a = byAccount.get(accountId);
  return a ? { ...a } : { lastOutboundAt: null, lastAnswerError: null };
}

/**
 * Notes one answer's end. Whatever reached the user sets the outbound time. A failure sets `lastAnswerError`
 * (`answer failed at <ISO time>: <fix>`), a clean answer clears it. (Today's count: `countAnswer`.)
 */
export function recordAnswer(accountId: string, outcome: AnswerOutcome, now: number = Date.now()): AccountActivity {
  const a = activityOf(accountId);
  if (outcome.delivered) a.lastOutboundAt = now;
  // Shutdown cuts are the operator's own doing, not a fault to fix.
  if (outcome.cause && outcome.cause !== 'shutdown') a.lastAnswerError = `answer failed at ${new Date(now).toISOString()}: ${failureFix(outcome.cause, { status: outcome.status })}`;
  else if (outcome.delivered && !outcome.cause) a.lastAnswerError = null;
  byAccount.set(accountId, a);
  return { ...a };
}

/** A message the agent sent first (`message send`, a scheduled job) went out: it sets the last outbound time. */
export function recordOutbound(accountId: string, now: number = Date.now()): void {
  byAccount.set(accountId, { ...activityOf(accountId), lastOutboundAt: now });
}

/** Today's answers of an account: the count and the local day it is for (`YYYY-MM-DD`). */
export interface AnswersToday {
  answersToday: number;
  day: string;
}

const ANSWERS_NS = 'answers';
/** A day's counter outlives its day by a day and a half (time zones, a status read just past midnight). */
const ANSWER_COUNT_TTL_MS = 60 * 60 * 60_000;

/**
 * Counts one answer's end in the account's store under the local day of `now`: only an answer that reached the user
 * without a failure counts (a card that says "the gateway refused" is no answer). Resolves with today's count,
 * counted or not. Store errors reject (the caller logs them).
 */
export async function countAnswer(store: StateStore, accountId: string, outcome: AnswerOutcome, now: number = Date.now()): Promise<AnswersToday> {
  const day = localDay(now);
  if (!outcome.delivered || outcome.cause) return answersToday(store, accountId, now);
  return { answersToday: await store.incr(ANSWERS_NS, `${accountId}:${day}`, 1, ANSWER_COUNT_TTL_MS), day };
}

/** The account's answers counted on the local day of `now` (0 for a day with none). */
export async function answersToday(store: StateStore, accountId: string, now: number = Date.now()): Promise<AnswersToday> {
  const day = localDay(now);
  return { answersToday: (await store.get<number>(ANSWERS_NS, `${accountId}:${day}`)) ?? 0, day };
}
