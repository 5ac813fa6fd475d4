/**
 * Runs one account until the host stops it: wires the store, the DingTalk client, the reply engine and
 * the pipeline to the Stream connection, and cleans up in `finally`.
 */
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { AccessGate, accessWarnings } from './access.ts';
import { answersToday, countAnswer, type AnswersToday, type AnswerOutcome } from './activity.ts';
import { assertUsable, ConfigError, configuredApps, type ResolvedAccount } from './config.ts';
import { callBudgetWarning } from './config-budget.ts';
import type { PairingStore } from './pairing.ts';
import { createDedupe } from './dedupe.ts';
import { clientFor } from './dingtalk/client.ts';
import { governedBudget, type AppBudget } from './dingtalk/budget.ts';
import { errorMessage, type Logger } from './log.ts';
import { handleRobotMessage, type PipelineDeps } from './pipeline.ts';
import { KeyedQueue } from './queue.ts';
import type { ReplyEngine } from './reply/engine.ts';
import { GatewayEngine } from './reply/gateway.ts';
import { RuntimeEngine, type ChannelReplyRuntime } from './reply/runtime.ts';
import { Sessions } from './sessions.ts';
import { AnswersInFlight } from './stop.ts';
import { OpenCards } from './cards.ts';
import { PendingAnswers } from './pending.ts';
import { Notices } from './notices.ts';
import { forgetObserved, noteConnection, observingGate } from './observed.ts';
import { fileStoreAt, type StateStore } from './store.ts';
import { runStream, type StreamStatus } from './stream.ts';
import { FolderRegistry, watchInstances, type InstanceInfo } from './instances.ts';
import type { HostFlavor } from './host.ts';
import type { HostConfig } from './config.ts';
import { inboundMediaDir, mediaPolicy, mediaSystemPrompt } from './media/policy.ts';
import { registerOutbound } from './outbound.ts';

export const PLUGIN_VERSION = '0.1.0';
/**
 * Card updates sit on a grid 50 ms short of 2 s, so that the text never stands still for more than 2 s at DingTalk:
 * consecutive updates arrive `interval + (lateness − earlier lateness)` apart, and what comes late is the timer (a
 * busy event loop) and the way to DingTalk (HTTP client, network), each measured up to ~15 ms on the loaded 2-core
 * bench (issue 18: a 2-ms margin gave gaps of 2,009–2,018 ms). A 30-s answer costs 19 DingTalk calls
 * (create+deliver, 16 updates, finalize, FINISHED); `npm run bench` prints the figures.
 */
export const CARD_UPDATE_INTERVAL_MS = 1_950;
/**
 * How long a stop waits for answers to close their cards before cancelling every DingTalk call. Under the hosts' own
 * wait for a stopped account (OpenClaw 2026.9: CHANNEL_STOP_ABORT_TIMEOUT_MS = 5 000 in server-channels), so a config
 * reload never starts the account's next run while this one still holds the robot's Stream connection.
 */
export const STOP_GRACE_MS = 4_000;

export interface MonitorOptions {
  account: ResolvedAccount;
  /** The host's whole config (for the agent workspace folder). */
  cfg?: HostConfig;
  host: HostFlavor;
  log: Logger;
  signal: AbortSignal;
  /** Where state lives when the account sets no `stateDir`. */
  defaultStateDir: string;
  onStatus?: (status: AccountStatus) => void;
  /** Called for every robot message received (for the host's status view). */
  onInbound?: () => void;
  /** Called when an answer ends (for the host's status view). */
  onAnswer?: (outcome: AnswerOutcome) => void;
  /** Today's answers as the account's store counts them: at start, and after each answer (for the host's status view). */
  onAnswersToday?: (today: AnswersToday) => void;
  /** The host's channel reply runtime (`engine: "runtime"`); absent outside a host (standalone connector). */
  channelRuntime?: ChannelReplyRuntime;
  /** The host's DM pairing store (undefined: the host has none). */
  pairing?: PairingStore;
  /** Overrides for tests. */
  store?: StateStore;
  engine?: ReplyEngine;
  budget?: AppBudget;
  cardIntervalMs?: number;
  backoffMinMs?: number;
  stopGraceMs?: number;
  instanceHeartbeatMs?: number;
  now?: () => number;
}

/** The connection's status plus other processes found running the same robot (issue 13 §8; empty: none seen). */
export interface AccountStatus extends StreamStatus {
  otherInstances: InstanceInfo[];
}

/** Where an account keeps its state: its `stateDir`, else `<host state>/dingtalk-ai/<accountId>`. */
export function accountStateDir(account: Pick<ResolvedAccount, 'stateDir' | 'accountId'>, defaultStateDir: string): string {
  return account.stateDir ?? join(defaultStateDir, 'dingtalk-ai', account.accountId);
}

export async function monitorAccount(opts: MonitorOptions): Promise<void> {
  const { account, log, signal } = opts;
  assertUsable(account);
  const stateDir = accountStateDir(account, opts.defaultStateDir);
  const store = opts.store ?? fileStoreAt(stateDir, (err) => log.warn(`state store: ${errorMessage(err)}`));
  forgetObserved(account.accountId);
  // The app's monthly call governor: every account of the app counts into it (src/dingtalk/governor.ts).
  const budget = await governedBudget(account, store, { log, baseIntervalMs: opts.cardIntervalMs ?? CARD_UPDATE_INTERVAL_MS, budget: opts.budget });
  // Aborted once stopping is over (cards closed, or the grace passed): every DingTalk call of this run ends then,
  // and none starts after it — no REST call of this run happens after this function returned.
  const halt = new AbortController();
  const client = clientFor(account, { log, gate: observingGate(budget, account.accountId), meter: budget.governor, signal: halt.signal });
  const cards = new OpenCards({ store, accountId: account.accountId, log });
  const engine = opts.engine ?? createEngine(opts);
  const queue = new KeyedQueue();
  const policy = mediaPolicy(account, opts.cfg ?? {}, opts.defaultStateDir);
  const deps: PipelineDeps = {
    account,
    client,
    budget,
    engine,
    sessions: new Sessions({ accountId: account.accountId, store, timeoutMs: account.sessionTimeoutMs, groupScope: account.groupSessionScope, now: opts.now }),
    access: new AccessGate({ account, client, store, log, pairing: opts.pairing }),
    dedupe: createDedupe(store),
    queue,
    inFlight: new AnswersInFlight(),
    cards,
    pending: new PendingAnswers({ store, accountId: account.accountId }),
    notices: new Notices({ accountId: account.accountId, client, store, log }),
    log,
    signal,
    cardIntervalMs: opts.cardIntervalMs ?? CARD_UPDATE_INTERVAL_MS,
    media: { policy, inboundDir: inboundMediaDir(opts.defaultStateDir), systemPrompt: mediaSystemPrompt(account, policy), imagesAsContent: opts.host.imageParts },
    onAnswer: (outcome) => {
      opts.onAnswer?.(outcome);
      void countAnswer(store, account.accountId, outcome).then(opts.onAnswersToday, (err) => log.warn(`answers today not counted: ${errorMessage(err)}`));
    },
  };
  for (const warning of accessWarnings(account)) log.warn(warning);
  const sharedBudget = opts.cfg && callBudgetWarning(configuredApps(opts.cfg));
  if (sharedBudget) log.warn(sharedBudget);
  if (engine.name === 'gateway' && !account.gateway.credential) log.warn('no gateway token or password configured: requests to the gateway are sent without credentials');
  // Every answer in flight listens on the account's signal; many at once are normal, not a leak.
  setMaxListeners(0, signal);
  log.info(`starting (${opts.host.name} host, engine ${engine.name}${engine.name === 'gateway' ? `, gateway ${account.gateway.url}` : ''})`);
  let status: AccountStatus = { connected: false, reconnectAttempts: 0, otherInstances: [] };
  const report = (patch: Partial<AccountStatus>) => {
    status = { ...status, ...patch };
    noteConnection(account.accountId, status);
    opts.onStatus?.(status);
  };
  const instances = await watchInstances({
    registry: new FolderRegistry(join(stateDir, 'instances')),
    clientId: account.clientId,
    log,
    heartbeatMs: opts.instanceHeartbeatMs,
    onChange: (otherInstances) => report({ otherInstances }),
  });
  // Cards a previous run left typing (crash, kill -9, stop while DingTalk hung) are closed now.
  // (Called now, before any new card is recorded: only the old run's records are taken.) Not while another
  // process runs this robot on this state folder: the open cards may be its answers in progress.
  let leftovers: Promise<unknown> = Promise.resolve();
  if (status.otherInstances.length) log.warn('cards left open are not closed at this start: another process runs this robot and may still be writing them');
  else leftovers = cards.closeLeftovers(client).catch((err) => log.warn(`closing cards left open: ${errorMessage(err)}`));
  // Today's answers so far (a restart at noon still shows the morning's).
  void answersToday(store, account.accountId).then(opts.onAnswersToday, (err) => log.warn(`answers today not read: ${errorMessage(err)}`));
  // Fetch the access token now: the first message should not pay for it, and bad credentials show at once.
  client.accessToken().catch((err) => log.warn(`access token: ${errorMessage(err)}`));
  // Outbound sends (the host's message send, cron) use this run's client and budget while it runs.
  const unregisterOutbound = registerOutbound({ account, client, policy, log });
  try {
    await runStream({
      clientId: account.clientId,
      clientSecret: account.clientSecret,
      gatewayUrl: account.streamGatewayUrl,
      ua: `dingtalk-moltbot-connector/${PLUGIN_VERSION}`,
      log,
      signal,
      onRobotMessage: (data, messageId) => {
        opts.onInbound?.();
        void handleRobotMessage(deps, data, messageId);
      },
      onStatus: (s) => report(s),
      backoffMinMs: opts.backoffMinMs,
    });
  } finally {
    unregisterOutbound();
    forgetObserved(account.accountId);
    await instances.stop();
    // Answers in progress were aborted with the signal; let them close their cards, for a bounded time.
    let graceTimer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      queue.idle().then(() => true),
      new Promise<false>((r) => (graceTimer = setTimeout(() => r(false), opts.stopGraceMs ?? STOP_GRACE_MS))),
    ]);
    clearTimeout(graceTimer);
    if (!closed) log.warn(`stopping: answers still busy after ${opts.stopGraceMs ?? STOP_GRACE_MS} ms; their DingTalk calls are cancelled and their cards closed at the next start`);
    halt.abort();
    await leftovers;
    await cards.list().catch(() => undefined);
    await store.flush().catch((err) => log.warn(`state store flush failed: ${errorMessage(err)}`));
  }
}

/**
 * The engine `account.engine` names. `runtime` needs the host's channel reply runtime; without one (the standalone
 * connector, a host too old to pass it) it throws a ConfigError naming the key and the fix.
 */
function createEngine(opts: MonitorOptions): ReplyEngine {
  const { account, host } = opts;
  if (account.engine === 'runtime') {
    if (!opts.channelRuntime) {
      throw new ConfigError([
        `channels.dingtalk-ai${account.accountId === 'default' ? '' : `.accounts.${account.accountId}`}.engine is "runtime", but ${host.name} gave this plugin no channel reply runtime: set engine to "gateway"`,
      ]);
    }
    return new RuntimeEngine({ runtime: opts.channelRuntime, cfg: opts.cfg ?? {}, accountId: account.accountId, agentId: account.gateway.agentId, directPeerKind: host.directPeerKind, log: opts.log });
  }
  return new GatewayEngine({
    url: account.gateway.url,
    credential: account.gateway.credential,
    model: host.model(account.gateway.agentId),
    sessionHeaders: host.sessionHeaders,
    sessionKeyPrefix: host.sessionKeyPrefix(account.gateway.agentId),
    idleTimeoutMs: account.gateway.idleTimeoutMs,
    log: opts.log,
  });
}
