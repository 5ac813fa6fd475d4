/**
 * Stopping an answer: stop words, and the answers in flight that a stop word aborts. One answer runs per
 * conversation at a time (src/queue.ts), so the registry holds at most one entry per conversation key; only
 * the sender who asked may stop it.
 */

/**
 * A message or a configured stop word as the two are compared: trimmed, trailing punctuation (`。．.!！~～`) dropped,
 * lower case. Configured words go through it too (src/config.ts), so `"Stop!"` matches "stop" and "STOP!".
 * Empty when nothing is left.
 */
export function normalizeStopWord(text: string): string {
  return text
    .trim()
    .replace(/[\s。．.!！~～]+$/u, '')
    .toLowerCase();
}

/** `停止`, `/stop`, ` Stop! ` … : the whole message is one of the words (normalised), any case, trailing punctuation ignored. */
export function isStopWord(text: string, words: readonly string[]): boolean {
  const t = normalizeStopWord(text);
  return t.length > 0 && words.includes(t);
}

export interface RunningAnswer {
  /** Aborted when the sender stops the answer or when `outer` aborts (shutdown). */
  readonly signal: AbortSignal;
  /** The sender stopped it (not a shutdown). */
  readonly stopped: boolean;
  /** The answer no longer listens for stop words (call when the engine is done, and in `finally`). */
  end(): void;
}

export class AnswersInFlight {
  private readonly running = new Map<string, { sender: string; controller: AbortController }>();

  /** Register the answer now starting in `conversation` for `sender`. */
  begin(conversation: string, sender: string, outer: AbortSignal): RunningAnswer {
    const controller = new AbortController();
    const entry = { sender, controller };
    this.running.set(conversation, entry);
    const running = this.running;
    return {
      signal: AbortSignal.any([outer, controller.signal]),
      get stopped() {
        return controller.signal.aborted;
      },
      end() {
        if (running.get(conversation) === entry) running.delete(conversation);
      },
    };
  }

  /** Abort `sender`'s answer in `conversation`. False when none of theirs is running there. */
  stop(conversation: string, sender: string): boolean {
    const entry = this.running.get(conversation);
    if (!entry || entry.sender !== sender) return false;
    this.running.delete(conversation);
    entry.controller.abort(new Error('stopped by the user'));
    return true;
  }
}
