/**
 * What each account did, for the host's status view (`channels status`): answers that reached users today (the
 * gateway machine's calendar day), when the last one went out, and the last answer that failed, with its fix.
 * Kept per accountId for the life of the process, so restarting one account (a config reload) keeps today's count.
 */
import { failureFix, type FailureCause } from './texts.ts';

export interface AnswerOutcome {
  delivered: boolean;
  cause?: FailureCause;
  /** The gateway's HTTP status, for the fix text. */
  status?: number;
}

export interface AccountActivity {
  /** Answers delivered on `day` (not counting failure notes). */
  answersToday: number;
  /** The local calendar day `answersToday` counts (`YYYY-MM-DD`). */
  day: string;
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

/** The account's activity as of `now` (a new day starts at 0 answers). */
export function activityOf(accountId: string, now: number = Date.now()): AccountActivity {
  const a = byAccount.get(accountId);
  const day = localDay(now);
  if (!a) return { answersToday: 0, day, lastOutboundAt: null, lastAnswerError: null };
  return a.day === day ? { ...a } : { ...a, answersToday: 0, day };
}

/**
 * Counts one answer's end. Whatever reached the user sets the outbound time; only an answer without a failure counts
 * as answered (a card that says "the gateway refused" is no answer). A failure sets `lastAnswerError` (`answer failed at <ISO time>: <fix>`), a clean answer clears it.
 */
export function recordAnswer(accountId: string, outcome: AnswerOutcome, now: number = Date.now()): AccountActivity {
  const a = activityOf(accountId, now);
  if (outcome.delivered) {
    a.lastOutboundAt = now;
    if (!outcome.cause) a.answersToday += 1;
  }
  // Shutdown cuts are the operator's own doing, not a fault to fix.
  if (outcome.cause && outcome.cause !== 'shutdown') a.lastAnswerError = `answer failed at ${new Date(now).toISOString()}: ${failureFix(outcome.cause, { status: outcome.status })}`;
  else if (outcome.delivered && !outcome.cause) a.lastAnswerError = null;
  byAccount.set(accountId, a);
  return { ...a };
}

/** A message the agent sent first (`message send`, a scheduled job) went out: it sets the last outbound time. */
export function recordOutbound(accountId: string, now: number = Date.now()): void {
  byAccount.set(accountId, { ...activityOf(accountId, now), lastOutboundAt: now });
}
