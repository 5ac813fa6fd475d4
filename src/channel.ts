/**
 * Assembles the channel object the host registers: metadata, config adapter, status, and the gateway
 * adapter that runs each account. Types here are the small part of the host contract we rely on
 * (no host SDK import: no single import path works in OpenClaw and Clawdbot alike).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_SCHEMA, UI_HINTS } from './config-schema.ts';
import { CHANNEL_ID, ConfigError, DEFAULT_ACCOUNT_ID, defaultAccountId, listAccountIds, resolveAccount, type HostConfig, type ResolvedAccount } from './config.ts';
import { doctorFailed, formatCheck, observedFailures, runProbe, stateFolderFailure, streamFailure, type AccountRun, type DoctorCheck } from './doctor.ts';
import { observed } from './observed.ts';
import { applyCallBudgets, budgetFor } from './dingtalk/budget.ts';
import { describeCallBudget } from './dingtalk/governor.ts';
import { activityOf, localDay, recordAnswer, type AnswersToday } from './activity.ts';
import { detectHost, type HostProbe } from './host.ts';
import { DingTalkApiError, DingTalkNetworkError, hostErrorMessage } from './dingtalk/errors.ts';
import { createLogger, errorMessage, type HostLogger } from './log.ts';
import { accessWarnings } from './access.ts';
import { describeInstance, holdRobot, runningElsewhere } from './instances.ts';
import { accountStateDir, monitorAccount } from './monitor.ts';
import { openFileStore } from './store.ts';
import { channelReplyRuntime } from './reply/runtime.ts';
import { hostPairing, PAIRING_ADAPTER, type HostPairingApi } from './pairing.ts';
import { createOutbound } from './outbound-adapter.ts';

export interface AccountSnapshot {
  accountId: string;
  name?: string;
  enabled?: boolean;
  configured?: boolean;
  running?: boolean;
  connected?: boolean;
  mode?: string;
  lastError?: string | null;
  lastConnectedAt?: number | null;
  lastDisconnect?: { at: number; error?: string } | null;
  reconnectAttempts?: number;
  [key: string]: unknown;
}

export interface GatewayContext {
  cfg: HostConfig;
  accountId: string;
  account: ResolvedAccount;
  abortSignal: AbortSignal;
  log?: HostLogger;
  setStatus: (patch: AccountSnapshot) => void;
  getStatus?: () => AccountSnapshot;
  /** OpenClaw (Plugin SDK ≥ 2026.2.19): the host's channel runtime, the same surface as `api.runtime.channel`. */
  channelRuntime?: unknown;
}

/** What the plugin uses of the host's plugin API object. */
export interface PluginApi extends HostProbe {
  config?: HostConfig;
  logger?: HostLogger;
  runtime?: { state?: { resolveStateDir?: (env: NodeJS.ProcessEnv) => string }; channel?: unknown };
  registerChannel(registration: { plugin: DingTalkChannel }): void;
}

export interface ProbeResult {
  ok: boolean;
  error?: string;
  /** Every check, in order (`channels status --probe --json`). */
  checks?: DoctorCheck[];
  elapsedMs: number;
}

export type DingTalkChannel = ReturnType<typeof createChannel>;

export function createChannel(api: PluginApi) {
  const host = detectHost(api);
  const hostLog: HostLogger = api.logger ?? { info: console.log, warn: console.warn, error: console.error };
  const pairingOf = (accountId: string) => hostPairing(pairingApi(api), host, accountId);
  const support = () => ({ pairing: pairingOf(DEFAULT_ACCOUNT_ID) !== undefined });
  // Each config the host hands over sets every running app's budget (a reload restarts only the accounts it touched).
  // Both hosts make startAccount's ctx.account with this resolve (OpenClaw dist/server-channels-*.mjs, Clawdbot
  // dist/gateway/server-channels.js), so an account start applies them too.
  const resolve = (cfg: HostConfig, accountId?: string | null) => (applyCallBudgets(cfg), resolveAccount(cfg, accountId || defaultAccountId(cfg), process.env, support()));
  const { outbound, messaging } = createOutbound({ resolve, config: () => api.config, stateDir: () => stateDir(api), log: hostLog });
  // Each account's last start here: the probe must not say "works" for an account that failed to start.
  const runs = new Map<string, AccountRun>();

  return {
    id: CHANNEL_ID,
    meta: {
      id: CHANNEL_ID,
      label: 'DingTalk',
      selectionLabel: 'DingTalk 钉钉 (AI Card, Stream mode)',
      docsPath: '/channels/dingtalk-ai',
      blurb: '钉钉机器人：Stream 模式接收消息，AI 卡片流式回答。DingTalk robot with streaming AI Card answers.',
      aliases: ['dingtalk', 'ding'],
      markdownCapable: true,
    },
    capabilities: { chatTypes: ['direct', 'group'] as Array<'direct' | 'group'> },
    configSchema: { schema: CONFIG_SCHEMA, uiHints: UI_HINTS },
    /** Shown by the host's `doctor` and `security audit`. */
    security: { collectWarnings: ({ account }: { account: ResolvedAccount }) => accessWarnings(account) },
    /** DM pairing: lets `<host> pairing list|approve dingtalk-ai` work (the host checks that the channel declares it). */
    pairing: PAIRING_ADAPTER,
    /** The agent speaks first: `message send`, scheduled jobs, routed replies (src/outbound-adapter.ts). */
    outbound,
    messaging,
    /**
     * Config hot reload: a change under channels.dingtalk-ai restarts this channel's accounts, not the gateway or the
     * plugin (both hosts read `reload.configPrefixes`; without it OpenClaw 2026.9 replaces the whole plugin, which
     * drains it for up to 5 s, and Clawdbot restarts the gateway). With `accountScopedRestart` (OpenClaw) a change
     * under `accounts.<id>` restarts only that account; a top-level change restarts them all, as they inherit it.
     */
    reload: { configPrefixes: [`channels.${CHANNEL_ID}`], accountScopedRestart: true },
    config: {
      listAccountIds: (cfg: HostConfig) => listAccountIds(cfg),
      resolveAccount: (cfg: HostConfig, accountId?: string | null) => resolve(cfg, accountId),
      defaultAccountId: (cfg: HostConfig) => defaultAccountId(cfg),
      isEnabled: (account: ResolvedAccount) => account.enabled,
      isConfigured: (account: ResolvedAccount) => account.problems.length === 0,
      unconfiguredReason: (account: ResolvedAccount) => account.problems.join('; '),
      describeAccount: (account: ResolvedAccount): AccountSnapshot => describe(account),
      inspectAccount: (cfg: HostConfig, accountId?: string | null) => {
        const a = resolve(cfg, accountId);
        return {
          ...describe(a),
          clientSecretStatus: a.clientSecret ? 'available' : 'missing',
          clientSecretSource: a.sources.clientSecret,
          gatewayCredentialSource: a.sources.gatewayCredential,
        };
      },
    },
    status: {
      defaultRuntime: { accountId: DEFAULT_ACCOUNT_ID, running: false, connected: false, lastError: null } as AccountSnapshot,
      // Clawdbot shows the probe ("works" / "probe failed") only when the snapshot carries it; OpenClaw adds it itself.
      buildAccountSnapshot: ({ account, runtime, probe }: { account: ResolvedAccount; runtime?: AccountSnapshot; probe?: ProbeResult }): AccountSnapshot => ({
        ...runtime,
        ...(probe ? { probe } : {}),
        ...describe(account),
        mode: 'stream',
        // Answers and the agent's own sends (`message send`) alike.
        lastOutboundAt: Math.max(Number(runtime?.lastOutboundAt ?? 0), activityOf(account.accountId).lastOutboundAt ?? 0) || null,
        // Counted by the running account; a new day starts at 0 even before its first answer.
        answersToday: runtime?.answersDay === localDay(Date.now()) && typeof runtime.answersToday === 'number' ? runtime.answersToday : 0,
        // A config problem first: it is why the account does not run now, whatever failed while it still ran.
        lastError: (account.problems.length ? account.problems.join('; ') : null) ?? runtime?.lastError ?? storeFailure(account, stateDir(api)) ?? observedFailure(account.accountId),
        // The app's monthly call governor (issue 18): calls this month, the budget, the mode in force.
        ...(account.clientId ? { callBudget: describeCallBudget(budgetFor(account.clientId, account.dingtalkEdition).governor.status()) } : {}),
      }),
      /**
       * `channels status --probe`, and Clawdbot's gateway every 60 s and on every client connect: the doctor's checks
       * without any quota-counted DingTalk call (runProbe, src/doctor.ts); card and media rights as the running account
       * last met them. "works" only when none fails; otherwise `error` lists each failure with its fix.
       */
      probeAccount: async ({ account, timeoutMs, cfg }: { account: ResolvedAccount; timeoutMs?: number; cfg?: HostConfig }): Promise<ProbeResult> => {
        const started = Date.now();
        try {
          // The whole probe stays within the host's timeout (two network checks in a row: the token, the gateway): a
          // probe is a plugin call the host waits for when it drains the plugin (5 s before a forced retirement).
          const perCheckMs = Math.max(500, Math.min(timeoutMs ?? 10_000, 10_000) / 2);
          const checks = await runProbe({ account, hostConfig: cfg ?? api.config, host, timeoutMs: perCheckMs, observed: observed(account.accountId), run: runs.get(account.accountId), stateDir: accountStateDir(account, stateDir(api)), callBudget: account.clientId ? budgetFor(account.clientId, account.dingtalkEdition).governor.status() : undefined });
          const failures = checks.filter((c) => c.status === 'fail');
          return { ok: !doctorFailed(checks), ...(failures.length ? { error: failures.map(formatCheck).join('; ') } : {}), checks, elapsedMs: Date.now() - started };
        } catch (err) {
          return { ok: false, error: hostErrorMessage(err), elapsedMs: Date.now() - started };
        }
      },
    },
    gateway: {
      /** Runs until the host aborts; the host treats an early return as a crash. */
      startAccount: async (ctx: GatewayContext): Promise<void> => {
        const log = createLogger(ctx.log ?? hostLog, { debug: ctx.account.debug }).child(ctx.accountId);
        const seen = activityOf(ctx.accountId);
        runs.set(ctx.accountId, { running: true, at: Date.now() });
        // The status's lastError: the connection's, else another process on this robot, else the last failed answer.
        let connectionError: string | null = null;
        let answerError = seen.lastAnswerError;
        let today: AnswersToday = { answersToday: 0, day: localDay(Date.now()) };
        const lastError = () => connectionError ?? answerError;
        ctx.setStatus({
          accountId: ctx.accountId,
          running: true,
          connected: false,
          mode: 'stream',
          lastError: lastError(),
          answersToday: 0,
          answersDay: localDay(Date.now()),
          lastOutboundAt: seen.lastOutboundAt,
        });
        // Another account of this gateway may still run this robot under an older config: wait for it (holdRobot).
        let release: (() => void) | undefined;
        try {
          if (!ctx.account.problems.length) {
            release = await holdRobot({
              clientId: ctx.account.clientId,
              accountId: ctx.accountId,
              clientIdFrom: ctx.account.clientIdFrom,
              signal: ctx.abortSignal,
              onHeld: (problem) => {
                log.warn(problem);
                connectionError = problem;
                // The probe says why it does not answer (not "works").
                runs.set(ctx.accountId, { running: false, at: Date.now(), error: problem });
                ctx.setStatus({ accountId: ctx.accountId, connected: false, lastError: lastError() });
              },
            });
            if (!release) {
              runs.set(ctx.accountId, { running: false, at: Date.now(), error: null });
              ctx.setStatus({ accountId: ctx.accountId, running: false, connected: false });
              return;
            }
            connectionError = null;
            runs.set(ctx.accountId, { running: true, at: Date.now() });
          }
          await monitorAccount({
            account: ctx.account,
            cfg: ctx.cfg,
            host,
            log,
            signal: ctx.abortSignal,
            defaultStateDir: stateDir(api),
            channelRuntime: channelReplyRuntime(ctx.channelRuntime) ?? channelReplyRuntime(hostChannelRuntime(api)),
            pairing: pairingOf(ctx.accountId),
            onInbound: () => ctx.setStatus({ accountId: ctx.accountId, lastInboundAt: Date.now() }),
            onAnswer: (outcome) => {
              const a = recordAnswer(ctx.accountId, outcome);
              answerError = a.lastAnswerError;
              ctx.setStatus({ accountId: ctx.accountId, lastOutboundAt: a.lastOutboundAt, lastError: lastError() });
            },
            // Counted in the account's state store (src/activity.ts), so a restart keeps today's count; never shown lower.
            onAnswersToday: (t) => {
              if (t.day < today.day || (t.day === today.day && t.answersToday <= today.answersToday)) return;
              today = t;
              ctx.setStatus({ accountId: ctx.accountId, answersToday: t.answersToday, answersDay: t.day });
            },
            onStatus: (s) => {
              // In the operator's words with the fix: the raw error may name internal addresses.
              connectionError = s.lastError ? connectionProblem(s.lastError) : (runningElsewhere(s.otherInstances) ?? null);
              ctx.setStatus({
                accountId: ctx.accountId,
                connected: s.connected,
                reconnectAttempts: s.reconnectAttempts,
                lastError: lastError(),
                otherInstances: s.otherInstances.map(describeInstance),
                ...(s.lastConnectedAt ? { lastConnectedAt: s.lastConnectedAt } : {}),
                ...(s.lastDisconnectedAt && !s.connected ? { lastDisconnect: { at: s.lastDisconnectedAt, ...(s.lastError ? { error: connectionProblem(s.lastError) } : {}) } } : {}),
              });
            },
          });
        } catch (err) {
          log.error(`account stopped: ${errorMessage(err)}`);
          const problem = startProblem(err);
          runs.set(ctx.accountId, { running: false, at: Date.now(), error: problem });
          ctx.setStatus({ accountId: ctx.accountId, running: false, connected: false, lastError: problem });
          throw err;
        } finally {
          release?.();
        }
        runs.set(ctx.accountId, { running: false, at: Date.now(), error: ctx.abortSignal.aborted ? null : 'it stopped on its own; the gateway log has the reason' });
        ctx.setStatus({ accountId: ctx.accountId, running: false, connected: false });
      },
    },
  };
}

/**
 * What the host's status shows of an account's configuration, including which engine answers and who may talk to it:
 * with the gateway engine every sender answered acts as the gateway's owner (its token is full operator access).
 */
function describe(account: ResolvedAccount): AccountSnapshot {
  return {
    accountId: account.accountId,
    name: account.name,
    enabled: account.enabled,
    configured: account.problems.length === 0,
    // Not `dmPolicy`: both hosts would print it into the one-line status the README quotes.
    engine: account.engine,
    accessPolicy: `dm ${account.access.dmPolicy}, groups ${account.access.groupPolicy}`,
    ...(account.engine === 'gateway' ? { access: 'gateway engine: every sender answered acts as the gateway owner (operator access)' } : {}),
  };
}

/**
 * Why an account stopped, in the operator's words: config problems name their key and fix, DingTalk's refusals their
 * fix (hostErrorMessage); a system error only its code (its message names files and addresses; the log has it).
 */
function startProblem(err: unknown): string {
  if (err instanceof ConfigError || err instanceof DingTalkApiError || err instanceof DingTalkNetworkError) return hostErrorMessage(err);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `it failed to start (${code}); the gateway log has the detail`;
  return hostErrorMessage(err);
}

/** `Stream connection: <problem> — fix: <fix>`. */
function connectionProblem(error: string): string {
  const f = streamFailure(error);
  return `Stream connection: ${f.message} — fix: ${f.fix}`;
}

/** `state folder: <problem> (since <ISO time>) — fix: <fix>` while the account's store cannot write; else null. */
function storeFailure(account: ResolvedAccount, defaultStateDir: string): string | null {
  const dir = accountStateDir(account, defaultStateDir);
  const failed = openFileStore(dir)?.writeFailure;
  if (!failed) return null;
  const f = stateFolderFailure(dir, failed.error, account.accountId);
  return `state folder: ${f.message} (since ${new Date(failed.at).toISOString()}) — fix: ${f.fix}`;
}

/** What the account's own card and media calls last met, when DingTalk refused them (with the fix); else null. */
function observedFailure(accountId: string): string | null {
  const failures = observedFailures(observed(accountId));
  return failures.length ? failures.join('; ') : null;
}

/** The host's pairing API; asked lazily like the state folder. */
function pairingApi(api: PluginApi): Partial<HostPairingApi> | undefined {
  try {
    return (api.runtime?.channel as { pairing?: Partial<HostPairingApi> } | undefined)?.pairing;
  } catch {
    return undefined;
  }
}

/** The host's state folder; asked lazily because some registration modes forbid touching the runtime. */
function stateDir(api: PluginApi): string {
  try {
    const dir = api.runtime?.state?.resolveStateDir?.(process.env);
    if (dir) return dir;
  } catch {
    // fall through
  }
  return process.env.OPENCLAW_STATE_DIR ?? process.env.CLAWDBOT_STATE_DIR ?? process.env.MOLTBOT_STATE_DIR ?? join(homedir(), '.openclaw');
}

/** `api.runtime.channel`, asked lazily like the state folder. */
function hostChannelRuntime(api: PluginApi): unknown {
  try {
    return api.runtime?.channel;
  } catch {
    return undefined;
  }
}
