/**
 * DingTalk may push one robot message more than once (redelivery about 60 s after an unACKed push, or
 * network jitter; spec §1.6). The first delivery claims the message id; later ones are dropped.
 */
import type { StateStore } from './store.ts';

/** Longer than any observed redelivery (16–60 s) with room for a reconnect. */
export const DEDUPE_TTL_MS = 10 * 60_000;

export interface Dedupe {
  /** True the first time this message is seen for this account. */
  firstSeen(accountId: string, msgId: string): Promise<boolean>;
}

export function createDedupe(store: StateStore, ttlMs: number = DEDUPE_TTL_MS): Dedupe {
  return { firstSeen: (accountId, msgId) => store.claim('dedupe', `${accountId}:${msgId}`, ttlMs) };
}
