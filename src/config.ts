/**
 * `channels.dingtalk-ai` in the host's config: the JSON schema (with Dashboard hints) and the one typed,
 * resolved account that everything downstream uses. Nothing else reads raw config.
 */

import { join } from 'node:path';
import { CHANNEL_ID, CONFIG_SCHEMA } from './config-schema.ts';
import { defaultCallBudget, monthlyCallBudget, type ConfiguredApp } from './config-budget.ts';
import { STREAMING_POLICIES, type StreamingPolicy } from './dingtalk/governor.ts';
import { type AccessPolicy, type DmPolicy, type GroupOverride, type GroupPolicy } from './policy.ts';
import { accessPolicy } from './config-access.ts';
import { accountIdProblem, accountKey, writtenAs } from './account-id.ts';
import { flag, invisible, nonEmpty, oneOf, pick, positive, robotId, sameRobotId, shownValue, stopWords, stringList, url } from './config-values.ts';

export { CHANNEL_ID } from './config-schema.ts';
export const DEFAULT_ACCOUNT_ID = 'default';
export const DEFAULT_CARD_TEMPLATE_ID = '382e4302-551d-4880-bf29-a30acfab2e71.schema';
export const DEFAULT_API_BASE_URL = 'https://api.dingtalk.com';
export const DEFAULT_OAPI_BASE_URL = 'https://oapi.dingtalk.com';
export const DEFAULT_GATEWAY_PORT = 18789;

/** One account's settings as the user writes them. */
export interface DingTalkAccountConfig {
  enabled?: boolean;
  name?: string;
  clientId?: string;
  clientSecret?: string;
  engine?: 'gateway' | 'runtime';
  gatewayToken?: string;
  gatewayPassword?: string;
  gatewayUrl?: string;
  agentId?: string;
  gatewayTimeout?: number;
  answerTimeout?: number;
  sessionTimeout?: number;
  groupSessionScope?: 'group' | 'sender';
  enableMediaUpload?: boolean;
  mediaRoots?: string[];
  mediaSystemPrompt?: string;
  systemPrompt?: string;
  cardTemplateId?: string;
  dingtalkEdition?: 'standard' | 'professional' | 'exclusive';
  apiBaseUrl?: string;
  oapiBaseUrl?: string;
  streamGatewayUrl?: string;
  stateDir?: string;
  debug?: boolean;
  dmPolicy?: DmPolicy;
  allowFrom?: string[];
  groupPolicy?: GroupPolicy;
  groupAllowFrom?: string[];
  requireMention?: boolean;
  groups?: Record<string, GroupOverride | undefined>;
  refusalMessage?: string;
  stopWords?: string[];
  monthlyCallBudget?: number;
  streaming?: StreamingPolicy;
}

export interface DingTalkChannelConfig extends DingTalkAccountConfig {
  accounts?: Record<string, DingTalkAccountConfig | undefined>;
}

/** The part of the host's config this plugin reads. */
export interface HostConfig {
  channels?: Record<string, unknown> & { [CHANNEL_ID]?: DingTalkChannelConfig };
  gateway?: { port?: number; auth?: { mode?: string; token?: string; password?: string } };
  agents?: { defaults?: { workspace?: string } };
}

export type Source = 'config' | 'env' | 'host' | 'none';

export interface ResolvedAccount {
  accountId: string;
  name: string;
  enabled: boolean;
  clientId: string;
  clientSecret: string;
  sources: { clientId: Source; clientSecret: Source; gatewayCredential: Source };
  /** Where clientId is written, for messages: `channels.dingtalk-ai.accounts.sales.clientId`, `DINGTALK_CLIENT_ID`, …. */
  clientIdFrom: string;
  /**
   * Who answers: `gateway` posts to the gateway's OpenAI-compatible endpoint (every sender acts as the gateway's
   * owner); `runtime` runs the turn in the host's channel reply runtime (the sender is an ordinary sender).
   */
  engine: 'gateway' | 'runtime';
  /** `idleTimeoutMs`: longest silence from the gateway. */
  gateway: {
    url: string;
    credential: string | undefined;
    /** Where the credential was read, for messages: `channels.dingtalk-ai.gatewayToken`, `env OPENCLAW_GATEWAY_TOKEN`, `gateway.auth.password`, or `none`. */
    credentialFrom: string;
    agentId: string;
    idleTimeoutMs: number;
  };
  /** Longest time for one whole answer, whichever engine (keep-alives and slow tools do not extend it). */
  answerTimeoutMs: number;
  sessionTimeoutMs: number;
  groupSessionScope: 'group' | 'sender';
  enableMediaUpload: boolean;
  /** Extra folders answers may send files from. */
  mediaRoots: string[];
  /** Replaces the built-in prompt that teaches the agent how to show images and send files; '' turns it off. */
  mediaSystemPrompt: string | undefined;
  systemPrompt: string | undefined;
  cardTemplateId: string;
  /** DingTalk edition of the org: sets the per-API calls-per-second budget (20/40/60). */
  dingtalkEdition: 'standard' | 'professional' | 'exclusive';
  apiBaseUrl: string;
  oapiBaseUrl: string;
  streamGatewayUrl: string;
  stateDir: string | undefined;
  debug: boolean;
  /** Who may talk to the robot (src/policy.ts). */
  access: AccessPolicy;
  /** Sent to a refused sender (at most hourly); undefined = the built-in text, '' = silence. */
  refusalMessage: string | undefined;
  /** Lower-case words that stop the answer in progress. */
  stopWords: string[];
  /** DingTalk calls this app may spend per calendar month in China Standard Time (src/dingtalk/governor.ts). */
  monthlyCallBudget: number;
  /** Where answers stream (cards updated as they grow); elsewhere a final-only card or markdown. */
  streaming: StreamingPolicy;
  /** Everything wrong with this account, each naming the key to fix. Empty when usable. */
  problems: string[];
}

export class ConfigError extends Error {
  /** Each problem on its own, naming its key and the fix. */
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('; '));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

/** What the host offers the plugin beyond the config (decided by channel.ts from the plugin API). */
export interface HostSupport {
  /** DM pairing for channel plugins (`api.runtime.channel.pairing`, docs/channels/pairing.md). */
  pairing: boolean;
}

export const DEFAULT_STOP_WORDS = ['停止', '/stop', 'stop', '取消'];

/** Environment variables that hold the gateway credential, in the order they are read. */
export const GATEWAY_CREDENTIAL_ENV = ['MOLTBOT_GATEWAY_TOKEN', 'OPENCLAW_GATEWAY_TOKEN', 'CLAWDBOT_GATEWAY_TOKEN', 'OPENCLAW_GATEWAY_PASSWORD', 'CLAWDBOT_GATEWAY_PASSWORD'] as const;

export function channelConfig(cfg: HostConfig): DingTalkChannelConfig {
  const section = cfg.channels?.[CHANNEL_ID];
  return section && typeof section === 'object' ? section : {};
}

/** Accounts: each key of `accounts`, plus `default` when the top level (or the env) names a robot. */
export function listAccountIds(cfg: HostConfig, env: Env = process.env): string[] {
  const section = channelConfig(cfg);
  const ids = Object.keys(section.accounts ?? {});
  const topLevel = section.clientId || (ids.length === 0 && env.DINGTALK_CLIENT_ID);
  if ((topLevel || ids.length === 0) && !ids.includes(DEFAULT_ACCOUNT_ID)) ids.unshift(DEFAULT_ACCOUNT_ID);
  return ids;
}

/**
 * The channel's default account, the one a send or lookup without an account id uses: the first enabled one listed
 * (`default` when the top level names a robot, else the first of `accounts`; a retired robot kept with
 * `enabled: false` is skipped), the first listed when none is enabled. OpenClaw asks `config.defaultAccountId` itself when a
 * send names no account (dist/send-*.mjs `resolveMessageOperationAccountRoute`); Clawdbot 2026.1.24-3 passes no
 * accountId at all (gateway/server-methods/send.js), so the outbound adapter asks here.
 */
export function defaultAccountId(cfg: HostConfig, env: Env = process.env): string {
  return enabledAccounts(cfg, env)[0]?.accountId ?? listAccountIds(cfg, env)[0] ?? DEFAULT_ACCOUNT_ID;
}

/**
 * The config path of `key` for an account, as errors name it: where the user set it when `cfg` is given (the account's
 * own section, else the inherited top level), else where the account's own value goes (`default`: the top level).
 * E.g. `channels.dingtalk-ai.accounts.notify.monthlyCallBudget`.
 */
export function accountConfigKey(accountId: string, key: string, cfg?: HostConfig): string {
  const { accounts, ...top } = cfg ? channelConfig(cfg) : {};
  const own = accounts?.[accountId];
  const inAccount = cfg ? !!own && (key in own || !(key in top)) : accountId !== DEFAULT_ACCOUNT_ID;
  return inAccount ? `${accountKey(accountId)}.${key}` : `channels.${CHANNEL_ID}.${key}`;
}

export function resolveAccount(cfg: HostConfig, accountId: string = DEFAULT_ACCOUNT_ID, env: Env = process.env, host: HostSupport = { pairing: false }): ResolvedAccount {
  const section = channelConfig(cfg);
  // Asked for as the host rewrote a key it cannot route (`accounts.Sales` as "sales"): that key, with its problem.
  const written = listAccountIds(cfg, env).includes(accountId) ? undefined : writtenAs(accountId, section);
  if (written !== undefined) return { ...resolveAccount(cfg, written, env, host), accountId };
  const { accounts, ...top } = section;
  const own = accounts?.[accountId];
  const merged: DingTalkAccountConfig = { ...top, ...own };
  // Name the key where the user set it, or, for a value missing in a named account, in that account.
  const key = (k: string) => accountConfigKey(accountId, k, cfg);
  const problems: string[] = unknownKeys(section, accountId);
  const idProblem = accountIdProblem(accountId, section);
  if (idProblem) problems.push(idProblem);

  // Env fallbacks name one robot, so they only fill the default account.
  const envOk = accountId === DEFAULT_ACCOUNT_ID;

  // A value of the wrong type is a problem naming its key, never silently dropped or taken as something else.
  for (const k of ['name', 'clientId', 'clientSecret', 'gatewayToken', 'gatewayPassword', 'gatewayUrl', 'mediaSystemPrompt', 'systemPrompt', 'stateDir', 'refusalMessage'] as const) {
    if (merged[k] !== undefined && typeof merged[k] !== 'string') {
      problems.push(`${key(k)} must be a string (in quotes), got ${shownValue(k, merged[k])}`);
      delete merged[k];
    }
  }
  const clientId = pick(merged.clientId, envOk ? env.DINGTALK_CLIENT_ID : undefined);
  const clientSecret = pick(merged.clientSecret, envOk ? env.DINGTALK_CLIENT_SECRET : undefined);
  if (!clientId.value) problems.push(`${key('clientId')} is missing: set it to the robot's AppKey/Client ID (or set DINGTALK_CLIENT_ID)`);
  invisible(clientId, key('clientId'), 'DINGTALK_CLIENT_ID', problems);
  invisible(clientSecret, key('clientSecret'), 'DINGTALK_CLIENT_SECRET', problems);
  const twin = clientId.value && merged.enabled !== false ? earlierTwin(cfg, accountId, clientId.value, env) : undefined;
  if (twin) {
    problems.push(
      `${clientIdKey(section, accountId)} names the same robot (clientId ${clientId.value}) as ${twin}: DingTalk pushes each message to only one ` +
        `of a robot's connections, so the two accounts would split the messages between them. Set this account's own robot's clientId and clientSecret, or disable one of them (enabled: false)`,
    );
  }
  if (!clientSecret.value) problems.push(`${key('clientSecret')} is missing: set it to the robot's AppSecret/Client Secret (or set DINGTALK_CLIENT_SECRET)`);

  const hostAuth = cfg.gateway?.auth;
  const credentialEnv = GATEWAY_CREDENTIAL_ENV.find((name) => env[name]?.trim());
  let credential: { value: string | undefined; source: Source } = pick(merged.gatewayToken ?? merged.gatewayPassword, credentialEnv && env[credentialEnv]);
  if (!credential.value && (hostAuth?.token || hostAuth?.password)) credential = { value: hostAuth.token ?? hostAuth.password, source: 'host' };
  if (credential.source === 'config' || credential.source === 'env') invisible(credential, merged.gatewayToken?.trim() ? key('gatewayToken') : merged.gatewayPassword?.trim() ? key('gatewayPassword') : `env ${credentialEnv}`, '', problems);
  const credentialFrom =
    credential.source === 'config'
      ? key(merged.gatewayToken?.trim() ? 'gatewayToken' : 'gatewayPassword')
      : credential.source === 'env'
        ? `env ${credentialEnv}`
        : credential.source === 'host'
          ? (hostAuth?.token ? 'gateway.auth.token' : 'gateway.auth.password')
          : 'none';

  // The standalone connector's env names (DINGTALK_GATEWAY_URL, DINGTALK_SESSION_TIMEOUT) fill the default account too.
  const gatewayUrl = pick(merged.gatewayUrl, envOk ? env.DINGTALK_GATEWAY_URL : undefined);
  const sessionTimeoutEnv = envOk ? env.DINGTALK_SESSION_TIMEOUT?.trim() : undefined;
  const apiBaseUrl = url(merged.apiBaseUrl ?? DEFAULT_API_BASE_URL, key('apiBaseUrl'), problems);
  // The running gateway publishes its actual port (it may come from --port) in its own env variable.
  const port = Number(env.OPENCLAW_GATEWAY_PORT ?? env.CLAWDBOT_GATEWAY_PORT ?? env.MOLTBOT_GATEWAY_PORT) || cfg.gateway?.port || DEFAULT_GATEWAY_PORT;
  return {
    accountId,
    // A display name names one robot: never inherited.
    name: (own?.name !== undefined || accountId === DEFAULT_ACCOUNT_ID ? merged.name?.trim() : undefined) || accountId,
    enabled: flag(merged.enabled, true, key('enabled'), problems),
    clientId: clientId.value ?? '',
    clientSecret: clientSecret.value ?? '',
    sources: { clientId: clientId.source, clientSecret: clientSecret.source, gatewayCredential: credential.source },
    clientIdFrom: clientIdKey(section, accountId),
    engine: oneOf(merged.engine, ['gateway', 'runtime'] as const, 'gateway', key('engine'), problems),
    gateway: {
      url: gatewayUrl.value
        ? url(gatewayUrl.value, gatewayUrl.source === 'env' ? 'DINGTALK_GATEWAY_URL' : key('gatewayUrl'), problems)
        : `http://127.0.0.1:${port}/v1/chat/completions`,
      credential: credential.value,
      credentialFrom,
      agentId: nonEmpty(merged.agentId, 'main', key('agentId'), problems),
      idleTimeoutMs: positive(merged.gatewayTimeout, 300_000, key('gatewayTimeout'), problems),
    },
    // 30 min: 6× the idle timeout for agents that run long tools, and well inside the 90 min a sessionWebhook lives
    // (spec §2.1), so an answer cut by the deadline can still be delivered through it.
    answerTimeoutMs: positive(merged.answerTimeout, 1_800_000, key('answerTimeout'), problems),
    sessionTimeoutMs:
      merged.sessionTimeout === undefined && sessionTimeoutEnv
        ? positive(/^\d+(\.\d+)?$/.test(sessionTimeoutEnv) ? Number(sessionTimeoutEnv) : sessionTimeoutEnv, 1_800_000, 'DINGTALK_SESSION_TIMEOUT', problems)
        : positive(merged.sessionTimeout, 1_800_000, key('sessionTimeout'), problems),
    groupSessionScope: oneOf(merged.groupSessionScope, ['group', 'sender'] as const, 'group', key('groupSessionScope'), problems),
    enableMediaUpload: flag(merged.enableMediaUpload, true, key('enableMediaUpload'), problems),
    mediaRoots: stringList(merged.mediaRoots, key('mediaRoots'), problems),
    mediaSystemPrompt: merged.mediaSystemPrompt,
    systemPrompt: merged.systemPrompt?.trim() || undefined,
    cardTemplateId: nonEmpty(merged.cardTemplateId, DEFAULT_CARD_TEMPLATE_ID, key('cardTemplateId'), problems),
    dingtalkEdition: oneOf(merged.dingtalkEdition, ['standard', 'professional', 'exclusive'] as const, 'standard', key('dingtalkEdition'), problems),
    apiBaseUrl,
    oapiBaseUrl: url(merged.oapiBaseUrl ?? DEFAULT_OAPI_BASE_URL, key('oapiBaseUrl'), problems),
    // Derived from apiBaseUrl unless set: a problem of apiBaseUrl is named once, there.
    streamGatewayUrl: merged.streamGatewayUrl === undefined ? `${apiBaseUrl}/v1.0/gateway/connections/open` : url(merged.streamGatewayUrl, key('streamGatewayUrl'), problems),
    // An inherited stateDir gets the account's own sub-folder: two accounts never write one state file.
    stateDir: !merged.stateDir?.trim() ? undefined : own?.stateDir !== undefined || accountId === DEFAULT_ACCOUNT_ID ? merged.stateDir.trim() : idProblem ? undefined : join(merged.stateDir.trim(), accountId),
    debug: flag(merged.debug, false, key('debug'), problems),
    access: accessPolicy(merged, key, host, problems),
    refusalMessage: merged.refusalMessage === undefined ? undefined : merged.refusalMessage.trim(),
    stopWords: merged.stopWords === undefined ? DEFAULT_STOP_WORDS : stopWords(merged.stopWords, key('stopWords'), problems),
    monthlyCallBudget: monthlyCallBudget(merged.monthlyCallBudget, key('monthlyCallBudget'), problems, defaultCallBudget(configuredApps(cfg, env))),
    streaming: oneOf(merged.streaming, STREAMING_POLICIES, 'on', key('streaming'), problems),
    problems,
  };
}

/** Where an account's clientId is written: its own key, else the top-level one it inherits. */
function clientIdKey(section: DingTalkChannelConfig, accountId: string): string {
  const own = section.accounts?.[accountId];
  if (own && typeof own === 'object' && typeof own.clientId === 'string' && own.clientId.trim()) return `channels.${CHANNEL_ID}.accounts.${accountId}.clientId`;
  if (section.clientId?.trim()) return accountId === DEFAULT_ACCOUNT_ID ? `channels.${CHANNEL_ID}.clientId` : `channels.${CHANNEL_ID}.clientId (inherited by accounts.${accountId})`;
  return 'DINGTALK_CLIENT_ID';
}

/**
 * The key of an enabled account listed before `accountId` (listAccountIds order: `default` first, then `accounts` in
 * the order written) that uses the same clientId, or undefined. The later account is the one refused, so the robot
 * that ran before the duplicate was added keeps running.
 */
function earlierTwin(cfg: HostConfig, accountId: string, clientId: string, env: Env): string | undefined {
  for (const other of enabledAccounts(cfg, env)) {
    if (other.accountId === accountId) return undefined;
    if (other.clientId !== undefined && sameRobotId(other.clientId, clientId)) return `${clientIdKey(channelConfig(cfg), other.accountId)} (account "${other.accountId}")`;
  }
  return undefined;
}

/**
 * The enabled apps (distinct robots: clientIds compared as robotId) of this config, in listAccountIds order, each with the `monthlyCallBudget` its
 * first account writes and that key's name (for src/config-budget.ts: the default split and the warning).
 */
export function configuredApps(cfg: HostConfig, env: Env = process.env): ConfiguredApp[] {
  const apps = new Map<string, ConfiguredApp>();
  for (const { accountId, own, merged, clientId } of enabledAccounts(cfg, env)) {
    // One robot, however its clientId is cased or padded (robotId): a pasted twin is refused, not a second app.
    if (!clientId || apps.has(robotId(clientId))) continue;
    const key = own && 'monthlyCallBudget' in own ? `channels.${CHANNEL_ID}.accounts.${accountId}.monthlyCallBudget` : `channels.${CHANNEL_ID}.monthlyCallBudget`;
    apps.set(robotId(clientId), { clientId, accountId, budget: merged.monthlyCallBudget, key });
  }
  return [...apps.values()];
}

/**
 * The enabled accounts of this config in listAccountIds order: each one's own section, that section over the top-level
 * keys, and the clientId it uses (its own or inherited; the default account's may come from DINGTALK_CLIENT_ID).
 */
function enabledAccounts(cfg: HostConfig, env: Env): Array<{ accountId: string; own: DingTalkAccountConfig | undefined; merged: DingTalkAccountConfig; clientId: string | undefined }> {
  const { accounts, ...top } = channelConfig(cfg);
  return listAccountIds(cfg, env).flatMap((accountId) => {
    const section = accounts?.[accountId];
    const own = section && typeof section === 'object' ? section : undefined;
    const merged: DingTalkAccountConfig = { ...top, ...own };
    if (merged.enabled === false) return [];
    const clientId = typeof merged.clientId === 'string' && merged.clientId.trim() ? merged.clientId.trim() : accountId === DEFAULT_ACCOUNT_ID ? env.DINGTALK_CLIENT_ID?.trim() : undefined;
    return [{ accountId, own, merged, clientId }];
  });
}

/**
 * Keys the schema does not know. OpenClaw rejects them with the manifest's schema; Clawdbot does not check the
 * section at all, so a misspelt key would silently do nothing there.
 */
function unknownKeys(section: DingTalkChannelConfig, accountId: string): string[] {
  const prefix = `channels.${CHANNEL_ID}`;
  const known = CONFIG_SCHEMA.properties;
  const accountKnown = known.accounts.additionalProperties.properties;
  const keys = Object.keys(section).filter((k) => !(k in known)).map((k) => `${prefix}.${k}`);
  const own = section.accounts?.[accountId];
  if (own && typeof own === 'object') keys.push(...Object.keys(own).filter((k) => !(k in accountKnown)).map((k) => `${prefix}.accounts.${accountId}.${k}`));
  return keys.map((k) => `${k} is not a known setting (misspelt?); remove or rename it`);
}

/** Throws one ConfigError that lists every problem, each naming its key. */
export function assertUsable(account: ResolvedAccount): void {
  if (account.problems.length > 0) throw new ConfigError(account.problems);
}
