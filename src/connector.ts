/**
 * The standalone connector: the same account monitor the host plugin runs (Stream client → pipeline → AI card →
 * REST client), in its own process, in front of any OpenAI-compatible `/v1/chat/completions` gateway.
 * What a host would provide is passed in: the config section, the state folder, the gateway flavor, the logger.
 *
 * ```ts
 * const connector = new DingTalkConnector({ config: { clientId, clientSecret, gatewayUrl }, stateDir: '/var/lib/dt' });
 * await connector.start();   // throws ConfigError (every problem, each naming its key) before connecting
 * …
 * await connector.stop();    // answers in flight end with the restart note; state is flushed
 * ```
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CHANNEL_ID, ConfigError, listAccountIds, resolveAccount, type DingTalkChannelConfig, type ResolvedAccount } from './config.ts';
import { CLAWDBOT, MOLTBOT, OPENCLAW, type HostFlavor } from './host.ts';
import { createLogger, errorMessage, type HostLogger } from './log.ts';
import { monitorAccount } from './monitor.ts';
import type { StreamStatus } from './stream.ts';

export type GatewayFlavor = HostFlavor['name'];

export interface DingTalkConnectorOptions {
  /** The same keys as `channels.dingtalk-ai` in a host config (one robot, or several under `accounts`). */
  config: DingTalkChannelConfig;
  /** Sessions and inbound media live here. Default `~/.dingtalk-connector`. */
  stateDir?: string;
  /**
   * Which gateway answers: sets the `model` that selects the agent and the session header
   * (`openclaw:<agentId>` + `x-openclaw-session-key`, …). Default `openclaw`.
   */
  gateway?: GatewayFlavor;
  /** Where log lines go (already prefixed `[dingtalk-ai] [<account>]` and redacted). Default: the console. */
  logger?: HostLogger;
  /** Environment for the fallbacks (`DINGTALK_CLIENT_ID`, …). Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Connection state of each account. */
  onStatus?: (accountId: string, status: StreamStatus) => void;
}

export const DEFAULT_STATE_DIR = join(homedir(), '.dingtalk-connector');

const FLAVORS: Record<GatewayFlavor, HostFlavor> = { openclaw: OPENCLAW, clawdbot: CLAWDBOT, moltbot: MOLTBOT };

/** Resolves every enabled account of a standalone config; problems of all of them in one list. */
export function resolveStandalone(config: DingTalkChannelConfig, env: Record<string, string | undefined> = process.env): { accounts: ResolvedAccount[]; problems: string[] } {
  const cfg = { channels: { [CHANNEL_ID]: config } };
  const accounts = listAccountIds(cfg, env).map((id) => resolveAccount(cfg, id, env));
  const enabled = accounts.filter((a) => a.enabled);
  const problems = [...new Set(enabled.flatMap((a) => a.problems))];
  if (enabled.length === 0) problems.push(`no enabled account: set channels.${CHANNEL_ID}.enabled to true (or enable one under accounts)`);
  return { accounts: enabled, problems };
}

export class DingTalkConnector {
  readonly accounts: ResolvedAccount[];
  private readonly opts: DingTalkConnectorOptions;
  private controller: AbortController | undefined;
  private running: Promise<void> | undefined;

  /** Throws ConfigError listing every problem (each names its key and the fix). */
  constructor(opts: DingTalkConnectorOptions) {
    const { accounts, problems } = resolveStandalone(opts.config, opts.env);
    if (problems.length) throw new ConfigError(problems);
    if (opts.gateway !== undefined && !(opts.gateway in FLAVORS)) throw new ConfigError([`gateway flavor must be one of ${Object.keys(FLAVORS).join(', ')}, got ${JSON.stringify(opts.gateway)}`]);
    this.opts = opts;
    this.accounts = accounts;
  }

  /** Starts every account; resolves once they run (connecting happens in the background, with retries). */
  async start(): Promise<void> {
    if (this.running) return;
    const controller = new AbortController();
    this.controller = controller;
    const host = FLAVORS[this.opts.gateway ?? 'openclaw'];
    const stateDir = this.opts.stateDir ?? DEFAULT_STATE_DIR;
    const runs = this.accounts.map((account) => {
      const log = createLogger(this.opts.logger, { debug: account.debug }).child(account.accountId);
      return monitorAccount({
        account,
        host,
        log,
        signal: controller.signal,
        defaultStateDir: stateDir,
        onStatus: (s) => this.opts.onStatus?.(account.accountId, s),
      }).catch((err) => {
        log.error(`account stopped: ${errorMessage(err)}`);
        throw err;
      });
    });
    this.running = Promise.all(runs).then(() => undefined);
    // A rejection is reported by stop() / done(); never as an unhandled rejection.
    this.running.catch(() => {});
  }

  /** Resolves when every account has stopped (after `stop()`), rejects when one failed on its own. */
  done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /**
   * Stops every account: the Stream connections close, answers in flight end (their cards say the service is
   * restarting), session state is written. Resolves when all of that is done.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.controller?.abort();
    try {
      await this.running;
    } finally {
      this.running = undefined;
      this.controller = undefined;
    }
  }
}
