/**
 * Answers that no route could deliver (monthly API quota used up and the sessionWebhook expired, or DingTalk down)
 * are kept in the state store per conversation and delivered with the next message there, through that message's
 * fresh sessionWebhook (which the org quota does not count, spec §4). Nothing is dropped silently.
 */
import type { Target } from './dingtalk/endpoints.ts';
import type { StateStore } from './store.ts';

const NS = 'pending';
/** An undelivered answer older than this is stale: dropped (and logged) instead of delivered. */
export const PENDING_KEEP_MS = 7 * 24 * 3600_000;

export interface PendingAnswer {
  text: string;
  /** Epoch ms when it was kept. */
  at: number;
}

export class PendingAnswers {
  private readonly store: StateStore;
  private readonly accountId: string;
  private readonly now: () => number;

  constructor(opts: { store: StateStore; accountId: string; now?: () => number }) {
    this.store = opts.store;
    this.accountId = opts.accountId;
    this.now = opts.now ?? Date.now;
  }

  /** Keep `text` for the conversation `target` (after earlier kept ones). */
  async keep(target: Target, text: string): Promise<void> {
    const key = this.key(target);
    const list = (await this.store.get<PendingAnswer[]>(NS, key)) ?? [];
    await this.store.set(NS, key, [...list, { text, at: this.now() }], PENDING_KEEP_MS);
  }

  /** Take (and forget) what is kept for `target`, oldest first, without stale entries. */
  async take(target: Target): Promise<PendingAnswer[]> {
    const key = this.key(target);
    const list = await this.store.get<PendingAnswer[]>(NS, key);
    if (!list?.length) return [];
    await this.store.delete(NS, key);
    return list.filter((p) => p.at > this.now() - PENDING_KEEP_MS);
  }

  private key(target: Target): string {
    return `${this.accountId}:${target.kind === 'dm' ? `dm:${target.userId}` : `group:${target.conversationId}`}`;
  }
}
