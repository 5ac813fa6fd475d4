/**
 * The host's DM pairing store, as `api.runtime.channel.pairing` offers it to channel plugins
 * (OpenClaw docs/channels/pairing.md, docs/plugins/sdk-runtime/channel.md). Unknown DM senders get a code; the
 * owner approves it with `<host> pairing approve dingtalk-ai <CODE>`, which adds the sender to the host's
 * allow-from store that we read back here.
 *
 * The two hosts differ in one call (read from their installed code):
 * - OpenClaw 2026.9: `readAllowFromStore({ channel, accountId, env })`, store in SQLite, per account;
 * - Clawdbot 2026.1.24-3 (and Moltbot): `readAllowFromStore(channel, env)`, one JSON file per channel.
 * `upsertPairingRequest({ channel, id, accountId, meta })` → `{ code, created }` is the same in both: a code
 * lives one hour, `created` is true only for a new request, and `code` is '' when 3 requests already wait.
 */
import { CHANNEL_ID } from './config.ts';
import type { HostFlavor } from './host.ts';
import { normalizeSenderEntry } from './policy.ts';

/** The part of `api.runtime.channel.pairing` we call. */
export interface HostPairingApi {
  readAllowFromStore: (...args: never[]) => Promise<unknown>;
  upsertPairingRequest: (params: { channel: string; id: string; accountId?: string; meta?: Record<string, string | undefined>; env?: NodeJS.ProcessEnv }) => Promise<{ code: string; created: boolean }>;
}

export interface PairingStore {
  /** Sender ids the owner approved (normalised). */
  approved(): Promise<string[]>;
  /** Create (or refresh) the sender's request. `code` '' when the host keeps no more pending requests. */
  request(senderId: string, meta: Record<string, string | undefined>): Promise<{ code: string; created: boolean }>;
  /** The command that approves a code on this host. */
  approveCommand(code: string): string;
}

/** The host's pairing store for one account, or undefined when the host offers none. */
export function hostPairing(api: Partial<HostPairingApi> | undefined, host: HostFlavor, accountId: string): PairingStore | undefined {
  if (typeof api?.readAllowFromStore !== 'function' || typeof api.upsertPairingRequest !== 'function') return undefined;
  const read = api.readAllowFromStore as (...args: unknown[]) => Promise<unknown>;
  const upsert = api.upsertPairingRequest;
  return {
    approved: async () => {
      const list = host.name === 'openclaw' ? await read({ channel: CHANNEL_ID, accountId, env: process.env }) : await read(CHANNEL_ID, process.env);
      return Array.isArray(list) ? list.map((v) => normalizeSenderEntry(String(v))).filter(Boolean) : [];
    },
    request: (senderId, meta) => upsert({ channel: CHANNEL_ID, id: senderId, accountId, meta, env: process.env }),
    approveCommand: (code) => `${host.name} pairing approve ${CHANNEL_ID} ${code}`,
  };
}

/** What the host's pairing CLI needs from the channel (`plugin.pairing`): without it `pairing approve` refuses the channel. */
export const PAIRING_ADAPTER = {
  idLabel: 'DingTalk userId (staffId)',
  normalizeAllowEntry: normalizeSenderEntry,
};
