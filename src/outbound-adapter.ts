/**
 * The host's outbound contract for DingTalk: `channel.outbound` (what `message send`, cron deliveries, routed replies
 * and the message tool call) and `channel.messaging` (how the host reads a target before it calls us).
 *
 * What the hosts call (read from their dist, Clawdbot 2026.1.24-3 `infra/outbound/{message,deliver,targets,
 * target-resolver,target-normalization}.js`, OpenClaw 2026.9.6 `ChannelOutboundAdapter` in its plugin SDK types):
 * - `deliveryMode: "gateway"`: the CLI hands the send to the running gateway (`send` RPC), so it goes out through the
 *   running account's client, token cache and call budget, never a second one in the CLI process.
 * - `resolveTarget({ to })` → `{ ok, to } | { ok: false, error }`; `sendText({ cfg, to, text, accountId })` and
 *   `sendMedia({ …, mediaUrl })` → `{ channel, messageId }`; `chunker: null`: the host sends the whole text and the
 *   plugin splits it with its own splitter (deliver.ts), which keeps code fences and tables whole.
 * - `messaging.normalizeTarget(raw)`: without it the host lower-cases targets, and DingTalk ids are case-sensitive.
 *   `messaging.targetResolver.looksLikeId` makes the host take every target as an id (it would otherwise look it up in
 *   a directory this channel does not have) so that resolveTarget's error, naming the accepted forms, is the one shown;
 *   `hint` goes with the host's own target errors.
 */
import { accountConfigKey, CHANNEL_ID, channelConfig, defaultAccountId, listAccountIds, type HostConfig, type ResolvedAccount } from './config.ts';
import { writtenAs } from './account-id.ts';
import { clientFor, type DingTalkClient } from './dingtalk/client.ts';
import { governedBudget } from './dingtalk/budget.ts';
import { CallBudgetSpentError } from './dingtalk/governor.ts';
import { DingTalkApiError, DingTalkNetworkError, hostErrorMessage } from './dingtalk/errors.ts';
import { accountStateDir } from './monitor.ts';
import { fileStoreAt } from './store.ts';
import { MARKDOWN_CHUNK_CHARS } from './deliver.ts';
import { createLogger, errorMessage, type HostLogger } from './log.ts';
import { mediaPolicy } from './media/policy.ts';
import { recordOutbound } from './activity.ts';
import { formatTarget, parseTarget, PartialSendError, runningOutbound, sendOutboundMedia, sendOutboundText, shorten, TARGET_FORMS, type OutboundDeps } from './outbound.ts';

/** What the hosts pass to sendText / sendMedia (the part we use). */
export interface OutboundContext {
  cfg?: HostConfig;
  to: string;
  text?: string;
  mediaUrl?: string;
  accountId?: string | null;
}

/** What sendText / sendMedia return: the last DingTalk message's processQueryKey ('' when nothing was sent). */
export interface OutboundDeliveryResult {
  channel: typeof CHANNEL_ID;
  messageId: string;
  /** Every message sent, in order (long text is split; a file follows its caption). */
  messageIds: string[];
  to: string;
  outcome?: 'not_sent';
}

export interface OutboundAdapterOptions {
  /** The channel's account resolution (config.ts with the host's support). */
  resolve: (cfg: HostConfig, accountId?: string | null) => ResolvedAccount;
  /** The host config when a call carries none. */
  config: () => HostConfig | undefined;
  /** The host's state folder (media roots). */
  stateDir: () => string;
  log: HostLogger;
}

export function createOutbound(opts: OutboundAdapterOptions) {
  // Only the client is kept between sends (its token cache), per account and keyed by everything that builds it.
  const clients = new Map<string, { key: string; client: DingTalkClient }>();

  /**
   * What a send needs: the running account's deps in this process, else the account resolved from this call's config
   * (the host hands the current config to every call: a reload's `enableMediaUpload`, `mediaRoots`, budget or secret
   * applies to the next send) with a client made by clientFor and kept while its app fields and `debug` stay the same,
   * counting into the app's shared call budget and the account's state folder exactly as the running account does
   * (governedBudget). Throws naming the problem and its key, or the accounts there are when `id` is none of them.
   */
  const depsFor = async (cfg: HostConfig | undefined, id: string): Promise<OutboundDeps> => {
    const live = runningOutbound(id);
    if (live) return live;
    const hostCfg = cfg ?? opts.config() ?? {};
    // A mistyped `--account slaes` is named as such, before any other problem of an account that does not exist (an
    // `accounts.Sales` the host rewrote to "sales" is resolved: its problem names the key to rename).
    const ids = listAccountIds(hostCfg);
    if (!ids.includes(id) && !writtenAs(id, channelConfig(hostCfg))) throw new Error(`DingTalk account "${id}" is not in the config; accounts: ${ids.join(', ')}`);
    const account = opts.resolve(hostCfg, id);
    if (account.problems.length) throw new Error(`DingTalk account "${id}" is not configured: ${account.problems.join('; ')}`);
    const key = accountConfigKey(id, 'enabled', hostCfg);
    if (!account.enabled) throw new Error(`DingTalk account "${id}" is disabled (${key} is false); set it to true to send`);
    const log = createLogger(opts.log, { debug: account.debug }).child(id);
    const store = fileStoreAt(accountStateDir(account, opts.stateDir()), (err) => log.warn(`state store: ${errorMessage(err)}`));
    // The agent's own sends count against the app's monthly call budget like answers (src/dingtalk/governor.ts).
    const budget = await governedBudget(account, store, { log });
    const clientKey = JSON.stringify([account.clientId, account.clientSecret, account.apiBaseUrl, account.oapiBaseUrl, account.debug]);
    let kept = clients.get(id);
    if (kept?.key !== clientKey) clients.set(id, (kept = { key: clientKey, client: clientFor(account, { log, gate: budget, meter: budget.governor }) }));
    return { account, client: kept.client, policy: mediaPolicy(account, hostCfg, opts.stateDir()), log };
  };

  const result = (to: string, ids: string[], accountId: string): OutboundDeliveryResult => {
    if (ids.length) recordOutbound(accountId);
    return sent(to, ids);
  };
  const sent = (to: string, ids: string[]): OutboundDeliveryResult => ({
    channel: CHANNEL_ID,
    messageId: ids.at(-1) ?? '',
    messageIds: ids,
    to,
    ...(ids.length === 0 ? { outcome: 'not_sent' as const } : {}),
  });

  /**
   * A send's error as the host shows it (CLI output, the agent's message tool result): our words with DingTalk's code and
   * requestid (hostErrorMessage), never its body; a spent call budget names the account's `monthlyCallBudget` key and
   * the day it resets; a send cut part-way says which parts arrived (PartialSendError). The whole error goes to the
   * (redacted) log.
   */
  const forHost = async <T>(ctx: OutboundContext, send: (accountId: string) => Promise<T>): Promise<T> => {
    // No accountId (Clawdbot's `message send` without --account): the channel's default account, as the host's own.
    const id = ctx.accountId || defaultAccountId(ctx.cfg ?? opts.config() ?? {});
    try {
      return await send(id);
    } catch (err) {
      const partial = err instanceof PartialSendError ? err : undefined;
      const cause = partial ? partial.failure : err;
      let shown: string;
      if (cause instanceof CallBudgetSpentError) {
        const key = accountConfigKey(id, 'monthlyCallBudget', ctx.cfg ?? opts.config());
        shown = `DingTalk message not sent: this app's monthly call budget (${cause.budget} calls, ${key}) is spent; it resets on ${cause.resetsOn} 00:00 China time (UTC+8); to send sooner, raise ${key}`;
      } else if (cause instanceof DingTalkApiError || cause instanceof DingTalkNetworkError) {
        shown = hostErrorMessage(cause);
      } else if (partial) {
        shown = errorMessage(cause);
      } else {
        throw err;
      }
      createLogger(opts.log).child(id).warn(`outbound: send to ${shorten(ctx.to)} failed: ${errorMessage(err)}`);
      throw new Error(partial ? `${shown}; ${partial.note}` : shown);
    }
  };

  return {
    outbound: {
      deliveryMode: 'gateway' as const,
      chunker: null,
      textChunkLimit: MARKDOWN_CHUNK_CHARS,
      resolveTarget: ({ to }: { to?: string }): { ok: true; to: string } | { ok: false; error: Error } => {
        try {
          return { ok: true, to: formatTarget(parseTarget(to ?? '')) };
        } catch (err) {
          return { ok: false, error: err as Error };
        }
      },
      sendText: (ctx: OutboundContext): Promise<OutboundDeliveryResult> =>
        forHost(ctx, async (id) => {
          const target = parseTarget(ctx.to);
          return result(formatTarget(target), await sendOutboundText(await depsFor(ctx.cfg, id), target, ctx.text ?? ''), id);
        }),
      sendMedia: (ctx: OutboundContext): Promise<OutboundDeliveryResult> =>
        forHost(ctx, async (id) => {
          const target = parseTarget(ctx.to);
          const deps = await depsFor(ctx.cfg, id);
          const ids = ctx.mediaUrl ? await sendOutboundMedia(deps, target, ctx.text ?? '', ctx.mediaUrl) : await sendOutboundText(deps, target, ctx.text ?? '');
          return result(formatTarget(target), ids, id);
        }),
    },
    messaging: {
      /** Canonical `user:…` / `group:…`, case kept; an unreadable target stays as written (sendText then names the forms). */
      normalizeTarget: (raw: string): string | undefined => {
        try {
          return formatTarget(parseTarget(raw));
        } catch {
          return raw.trim() || undefined;
        }
      },
      targetResolver: {
        // No directory to look names up in: every target is an id, and resolveTarget explains one it cannot read.
        looksLikeId: (raw: string): boolean => raw.trim().length > 0,
        hint: TARGET_FORMS,
      },
    },
  };
}
