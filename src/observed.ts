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

/** The last outcome of each area for one account (keyed by accountId). */
export function observed(accountId: string): Partial<Record<ObservedArea, Observation>> {
  return { ...observations.get(accountId) };
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
        note(api);
        return result;
      } catch (err) {
        if (err instanceof DingTalkApiError && TELLING.includes(err.kind)) note(api, err);
        throw err;
      }
    },
    ...(gate.penalize ? { penalize: (api: string, ms: number) => gate.penalize!(api, ms) } : {}),
  };
}
