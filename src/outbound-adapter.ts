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
import { DEFAULT_ACCOUNT_ID, CHANNEL_ID, type HostConfig, type ResolvedAccount } from './config.ts';
import { clientFor } from './dingtalk/client.ts';
import { governedBudget } from './dingtalk/budget.ts';
import { DingTalkApiError, DingTalkNetworkError, hostErrorMessage } from './dingtalk/errors.ts';
import { accountStateDir } from './monitor.ts';
import { fileStoreAt } from './store.ts';
import { MARKDOWN_CHUNK_CHARS } from './deliver.ts';
import { createLogger, errorMessage, type HostLogger } from './log.ts';
import { mediaPolicy } from './media/policy.ts';
import { recordOutbound } from './activity.ts';
import { formatTarget, parseTarget, runningOutbound, sendOutboundMedia, sendOutboundText, shorten, TARGET_FORMS, type OutboundDeps } from './outbound.ts';

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
  const idle = new Map<string, { fingerprint: string; deps: OutboundDeps }>();

  /**
   * The account's client: the running one in this process, else one made from the config with the app's shared call
   * budget, set from the account's `monthlyCallBudget` and counting into its state folder exactly as the running
   * account does (governedBudget): the host sent from a process where the account does not run (stopped, failed to
   * start, between reloads). Throws naming the problem and its key.
   */
  const depsFor = async (cfg: HostConfig | undefined, accountId: string | null | undefined): Promise<OutboundDeps> => {
    const id = accountId || DEFAULT_ACCOUNT_ID;
    const live = runningOutbound(id);
    if (live) return live;
    const hostCfg = cfg ?? opts.config() ?? {};
    const account = opts.resolve(hostCfg, id);
    if (account.problems.length) throw new Error(`DingTalk account "${id}" is not configured: ${account.problems.join('; ')}`);
    const key = `channels.${CHANNEL_ID}${id === DEFAULT_ACCOUNT_ID ? '' : `.accounts.${id}`}.enabled`;
    if (!account.enabled) throw new Error(`DingTalk account "${id}" is disabled (${key} is false); set it to true to send`);
    const log = createLogger(opts.log, { debug: account.debug }).child(id);
    const store = fileStoreAt(accountStateDir(account, opts.stateDir()), (err) => log.warn(`state store: ${errorMessage(err)}`));
    const budget = await governedBudget(account, store, { log });
    const fingerprint = [account.clientId, account.clientSecret, account.apiBaseUrl, account.oapiBaseUrl].join('\n');
    const cached = idle.get(id);
    if (cached?.fingerprint === fingerprint) return cached.deps;
    // The agent's own sends count against the app's monthly call budget like answers (src/dingtalk/governor.ts).
    const client = clientFor(account, { log, gate: budget, meter: budget.governor });
    const deps: OutboundDeps = { account, client, policy: mediaPolicy(account, hostCfg, opts.stateDir()), log };
    idle.set(id, { fingerprint, deps });
    return deps;
  };

  const result = (to: string, ids: string[], accountId: string | null | undefined): OutboundDeliveryResult => {
    if (ids.length) recordOutbound(accountId || DEFAULT_ACCOUNT_ID);
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
   * requestid (hostErrorMessage), never its body; the whole error goes to the (redacted) log.
   */
  const forHost = async <T>(ctx: OutboundContext, send: () => Promise<T>): Promise<T> => {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof DingTalkApiError || err instanceof DingTalkNetworkError)) throw err;
      createLogger(opts.log).child(ctx.accountId || DEFAULT_ACCOUNT_ID).warn(`outbound: send to ${shorten(ctx.to)} failed: ${errorMessage(err)}`);
      throw new Error(hostErrorMessage(err));
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
        forHost(ctx, async () => {
          const target = parseTarget(ctx.to);
          return result(formatTarget(target), await sendOutboundText(await depsFor(ctx.cfg, ctx.accountId), target, ctx.text ?? ''), ctx.accountId);
        }),
      sendMedia: (ctx: OutboundContext): Promise<OutboundDeliveryResult> =>
        forHost(ctx, async () => {
          const target = parseTarget(ctx.to);
          const deps = await depsFor(ctx.cfg, ctx.accountId);
          const ids = ctx.mediaUrl ? await sendOutboundMedia(deps, target, ctx.text ?? '', ctx.mediaUrl) : await sendOutboundText(deps, target, ctx.text ?? '');
          return result(formatTarget(target), ids, ctx.accountId);
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
