/**
 * What a running account's own DingTalk calls showed about its card and media rights, for the host's channel probe.
 * The probe runs every 60 s and on every client connect (Clawdbot's gateway: refreshGatewayHealthSnapshot with
 * probe, HEALTH_REFRESH_INTERVAL_MS = 60 000), so it must make no call that counts against the org's monthly quota
 * (card and robot APIs count, tokens do not: protocol notes §4); it reports what real answers already met instead.
 */
import type { CallGate } from './dingtalk/client.ts';
import { DingTalkApiError } from './dingtalk/errors.ts';

export type ObservedArea = 'card' | 'media';

export interface Observation {
  /** Epoch ms of the call. */
  at: number;
  /** The DingTalk refusal; undefined when the call succeeded. */
  error?: DingTalkApiError;
}

const AREA_OF: Record<string, ObservedArea> = {
  'card.createAndDeliver': 'card',
  'card.create': 'card',
  'card.streaming': 'card',
  'media.upload': 'media',
};

/** Refusals that describe the app (rights, template, quota), not a passing hiccup. */
const TELLING: readonly DingTalkApiError['kind'][] = ['permission', 'credentials', 'bad-request', 'quota'];

const observations = new Map<string, Partial<Record<ObservedArea, Observation>>>();

/** The code recorded for a card DingTalk made but did not deliver. */
export const CARD_NOT_DELIVERED = 'deliverResults.failed';

/**
 * A card DingTalk made but did not deliver (HTTP 200, `deliverResults[i].success: false`). DingTalk gives no code and
 * no requestid for it (protocol notes §3.3: a result is `{spaceType, spaceId, success, carrierId, errorMsg}`), only
 * its own `errorMsg` text, which stays out: this error carries the space's type alone (`IM_ROBOT` a 1:1 chat,
 * `IM_GROUP` a group), so whatever shows it (the probe, the status) says the cause in our words.
 */
export class CardNotDeliveredError extends DingTalkApiError {
  /** DingTalk's `spaceType` of the space the card was not delivered to, e.g. `IM_ROBOT`; `unknown` when absent. */
  readonly spaceType: string;

  constructor(api: string, spaceType: string | undefined) {
    const type = spaceType && /^[A-Z_]{1,32}$/.test(spaceType) ? spaceType : 'unknown';
    super({ api, status: 200, code: CARD_NOT_DELIVERED, message: `the card was made but not delivered to its ${type} space` });
    this.spaceType = type;
  }
}

/**
 * createAndDeliver answers 200 even when it did not deliver the card, listing the space with `success: false` and a
 * reason (protocol notes §3.3 createAndDeliver: "a 200 can still carry deliverResults[i].success:false"; the fake's
 * reason for a robotCode that is not the app's is `robot not exist`): a refusal all the same.
 */
function undelivered(api: string, result: unknown): DingTalkApiError | undefined {
  if (api !== 'card.createAndDeliver') return undefined;
  const results = (result as { result?: { deliverResults?: Array<{ success?: boolean; spaceType?: string }> } } | undefined)?.result?.deliverResults;
  const failed = Array.isArray(results) ? results.find((r) => r?.success === false) : undefined;
  return failed ? new CardNotDeliveredError(api, typeof failed.spaceType === 'string' ? failed.spaceType : undefined) : undefined;
}

/** The running account's Stream connection: up since `since`, or down since `since` with the raw `error`. */
export interface ConnectionObservation {
  connected: boolean;
  /** Epoch ms of the last change. */
  since: number;
  error?: string;
}

export type Observed = Partial<Record<ObservedArea, Observation>> & { stream?: ConnectionObservation };

const connections = new Map<string, ConnectionObservation>();

/** The last outcome of each area for one account (keyed by accountId), and its connection while it runs. */
export function observed(accountId: string): Observed {
  const stream = connections.get(accountId);
  return { ...observations.get(accountId), ...(stream ? { stream: { ...stream } } : {}) };
}

/**
 * Forgets what the account met: called when a run of the account starts and when it ends, so the probe reports what
 * the running account meets now, never an old run's connection or an app it no longer uses.
 */
export function forgetObserved(accountId: string): void {
  observations.delete(accountId);
  connections.delete(accountId);
}

/** Records the account's connection state (the monitor calls it on each change). */
export function noteConnection(accountId: string, state: { connected: boolean; lastError?: string }, now: () => number = Date.now): void {
  const before = connections.get(accountId);
  if (before && before.connected === state.connected && before.error === state.lastError) return;
  connections.set(accountId, { connected: state.connected, since: before?.connected === state.connected ? before.since : now(), ...(state.lastError ? { error: state.lastError } : {}) });
}

/**
 * Wraps the account's call gate: every card and media call's outcome is recorded (network errors and stops are not:
 * they say nothing about the app's rights).
 */
export function observingGate(gate: CallGate, accountId: string, now: () => number = Date.now): CallGate {
  const note = (api: string, error?: DingTalkApiError) => {
    const area = AREA_OF[api];
    if (!area) return;
    observations.set(accountId, { ...observations.get(accountId), [area]: { at: now(), ...(error ? { error } : {}) } });
  };
  return {
    run: async (api, priority, call, signal) => {
      try {
        const result = await gate.run(api, priority, call, signal);
        note(api, undelivered(api, result));
        return result;
      } catch (err) {
        if (err instanceof DingTalkApiError && TELLING.includes(err.kind)) note(api, err);
        throw err;
      }
    },
    ...(gate.penalize ? { penalize: (api: string, ms: number) => gate.penalize!(api, ms) } : {}),
  };
}
