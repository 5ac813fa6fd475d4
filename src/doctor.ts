/**
 * Checks that name the fix before a user hits the failure, in order: (1) config, (2) DingTalk credentials, Stream
 * registration and reachability, (3) card permissions and template, (4) the gateway endpoint (reachable, enabled,
 * auth, agent id, a model), (5) media upload. Used by `dingtalk-connector doctor` and by the host's channel probe
 * (`channels status --probe`); the fixes come from texts.ts (FAILURE_TEXTS for what a user sees, CAUSES for DingTalk
 * setup), so a user's error text, the doctor and the probe name the same fix.
 *
 * Cost (`runDoctor`, the explicit command): with valid credentials it makes 5 DingTalk calls (token, Stream ticket, card create, card streaming, media
 * upload) that count against the org's monthly quota; the card is created for no one (never delivered) and the
 * upload is a 1×1 PNG. The gateway gets one chat request with no messages, which it refuses before any agent runs
 * (OpenClaw validates the agent, then answers 400 "Missing user message").
 *
 * `runProbe` (the host's channel probe, run every 60 s by Clawdbot's gateway) makes no quota-counted call: config,
 * the access token (exempt, protocol notes §4) and the gateway endpoint are checked; card and media rights are what
 * the running account's own calls last met (src/observed.ts); the Stream registration (`connections/open`, not
 * evidenced exempt) is not called — the account's connection state is in the host's status.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { CHANNEL_ID, configuredApps, DEFAULT_ACCOUNT_ID, type HostConfig, type ResolvedAccount } from './config.ts';
import { callBudgetWarning } from './config-budget.ts';
import { clientFor } from './dingtalk/client.ts';
import { createCard, streamCard, uploadMedia } from './dingtalk/endpoints.ts';
import { DingTalkApiError, DingTalkNetworkError, hostErrorMessage } from './dingtalk/errors.ts';
import { proxyFor } from './dingtalk/proxy.ts';
import type { HostFlavor } from './host.ts';
import { createLogger, errorMessage, registerSecret, withoutUserinfo } from './log.ts';
import { gatewayErrorDetail, networkCode, statusKind } from './reply/gateway.ts';
import { requestStreamTicket } from './stream.ts';
import { CARD_NOT_DELIVERED, CardNotDeliveredError, type ConnectionObservation, type Observed, type Observation } from './observed.ts';
import { causeFix, causeProblem, failureFix, type FailureCause } from './texts.ts';
import { describeCallBudget, type GovernorStatus } from './dingtalk/governor.ts';

export type CheckStatus = 'pass' | 'fail' | 'skip' | 'note';

export interface DoctorCheck {
  /** 1 config · 2 DingTalk · 3 card · 4 gateway · 5 media; notes carry the step they belong to. */
  step: 1 | 2 | 3 | 4 | 5;
  name: string;
  status: CheckStatus;
  message: string;
  /** The exact fix, for failures. */
  fix?: string;
}

export interface DoctorOptions {
  account: ResolvedAccount;
  /** The host's whole config, when known (tells whether the agent has a model). */
  hostConfig?: HostConfig;
  host: HostFlavor;
  /** Per network check. Default 10 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  ua?: string;
  /**
   * Probe mode: no quota-counted DingTalk call (no Stream registration, card or upload); steps 3 and 5 report these
   * outcomes of the running account's own calls instead (src/observed.ts).
   */
  observed?: Observed;
  /** The app's monthly call governor as this process knows it (src/dingtalk/governor.ts); shown as a note. */
  callBudget?: GovernorStatus;
  /** Probe mode: the account's last start in this process (src/channel.ts); undefined when it was never started here. */
  run?: AccountRun;
  /** The account's state folder (src/monitor.ts accountStateDir), when known: checked writable. */
  stateDir?: string;
}

/**
 * An account's last start in this gateway process: running since `at`, or not running since `at` — stopped by the
 * host (`error` null) or failed (`error`: why, in the operator's words with the fix).
 */
export type AccountRun = { running: true; at: number } | { running: false; at: number; error: string | null };

/** A 1×1 PNG: the smallest upload that proves the permission. */
const PNG_1X1 = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

const silent = createLogger({ info: () => {}, warn: () => {}, error: () => {} });

const DOCTOR_COMMAND = 'run `npx dingtalk-connector doctor --host-config <host config>` to check it now (it spends a few quota-counted DingTalk calls)';

/** The host's probe: `runDoctor` without any quota-counted call (see the file comment). */
export function runProbe(opts: Omit<DoctorOptions, 'observed'> & { observed: Observed }): Promise<DoctorCheck[]> {
  return runDoctor(opts);
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorCheck[]> {
  const { account } = opts;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck) => checks.push(c);

  // 1. Config: the same problems start-up reports, each naming its key and the fix.
  if (account.problems.length === 0) add({ step: 1, name: 'config', status: 'pass', message: `account "${account.accountId}" resolves with no problems` });
  for (const p of account.problems) add({ step: 1, name: 'config', status: 'fail', message: p });
  if (opts.callBudget) add({ step: 2, name: 'monthly call budget', status: 'note', message: describeCallBudget(opts.callBudget) });
  if (opts.stateDir) add(await stateFolderCheck(opts.stateDir, account.accountId));
  const sharedBudget = opts.hostConfig && callBudgetWarning(configuredApps(opts.hostConfig));
  if (sharedBudget) add({ step: 1, name: 'monthly call budgets of the apps', status: 'note', message: sharedBudget });
  // What DingTalk's checks need that the config lacks (the config check above names the key and the fix).
  const needs = !account.clientId || !account.clientSecret
    ? 'needs clientId and clientSecret (see config)'
    : [account.apiBaseUrl, account.oapiBaseUrl, account.streamGatewayUrl].some((u) => !URL.canParse(u)) ? 'needs valid apiBaseUrl, oapiBaseUrl and streamGatewayUrl (see config)' : undefined;

  // 2. DingTalk: access token, Stream registration.
  const client = needs ? undefined : clientFor(account, { log: silent, requestTimeoutMs: timeoutMs, sleep: async () => {} });
  let tokenOk = false;
  if (!client) {
    add({ step: 2, name: 'DingTalk access token', status: 'skip', message: needs! });
    add({ step: 2, name: 'Stream registration', status: 'skip', message: needs! });
  } else {
    try {
      await client.accessToken();
      tokenOk = true;
      add({ step: 2, name: 'DingTalk access token', status: 'pass', message: `clientId ${account.clientId} accepted by ${host(account.apiBaseUrl)}` });
    } catch (err) {
      add({ step: 2, name: 'DingTalk access token', status: 'fail', ...dingTalkFailure(err, account.apiBaseUrl) });
    }
    if (opts.observed) add(opts.run && !opts.run.running ? runCheck(opts.run) : streamCheck(opts.observed.stream));
    else try {
      await requestStreamTicket({ gatewayUrl: account.streamGatewayUrl, clientId: account.clientId, clientSecret: account.clientSecret, ua: opts.ua ?? 'dingtalk-connector-doctor', signal: AbortSignal.timeout(timeoutMs) });
      add({ step: 2, name: 'Stream registration', status: 'pass', message: `${host(account.streamGatewayUrl)} issued a Stream ticket` });
    } catch (err) {
      const message = errorMessage(err);
      if (/authFailed/.test(message)) add({ step: 2, name: 'Stream registration', status: 'fail', message: causeProblem('dingtalk.credentials'), fix: causeFix('dingtalk.credentials') });
      else if (networkCode(err)) add({ step: 2, name: 'Stream registration', status: 'fail', ...unreachable(account.streamGatewayUrl, networkCode(err)!) });
      // In our words (streamFailure): the gateway's own body can carry internal addresses.
      else add({ step: 2, name: 'Stream registration', status: 'fail', ...streamFailure(message) });
    }
  }

  // 3. Card: create one for no one (never delivered), then one streaming call to it.
  if (!tokenOk || !client) {
    add({ step: 3, name: 'AI card', status: 'skip', message: 'needs a DingTalk access token' });
  } else if (opts.observed) {
    add(observedCheck(3, 'AI card', opts.observed.card, (err) => cardFailure(err, account.apiBaseUrl), 'the last card call succeeded'));
  } else {
    const outTrackId = `dtai_doctor_${randomUUID()}`;
    try {
      await createCard(client, { templateId: account.cardTemplateId, outTrackId, params: { msgContent: '', flowStatus: '2' } });
      await streamCard(client, { outTrackId, key: 'msgContent', content: 'dingtalk-connector doctor', guid: randomUUID(), isFinalize: true, isError: false }, true);
      add({ step: 3, name: 'AI card', status: 'pass', message: `template ${account.cardTemplateId} usable; Card.Instance.Write and Card.Streaming.Write granted` });
    } catch (err) {
      add({ step: 3, name: 'AI card', status: 'fail', ...cardFailure(err, account.apiBaseUrl) });
    }
  }

  // 4. Gateway endpoint (the gateway engine only; the runtime engine answers inside the host).
  const a = account.access;
  const policy = `in force: dmPolicy "${a.dmPolicy}"${a.allowFrom.includes('*') ? ' (allowFrom: everyone)' : a.allowFrom.length ? ` (allowFrom: ${a.allowFrom.length} senders)` : ''}, groupPolicy "${a.groupPolicy}"${a.requireMention ? ', groups need an @mention' : ''}`;
  if (account.engine === 'runtime') {
    add({ step: 4, name: 'gateway endpoint', status: 'skip', message: 'engine is "runtime": the host’s channel reply runtime answers, no OpenAI-compatible endpoint is used' });
    checks.push(modelCheck(opts, 'run'));
    add({ step: 4, name: 'access', status: 'note', message: `senders are ordinary senders of the host (engine "runtime"); ${policy}` });
  } else {
    checks.push(...(await gatewayChecks(opts, timeoutMs)));
    add({
      step: 4,
      name: 'access',
      status: 'note',
      message: `a gateway token or password is full operator access: every DingTalk user the robot answers runs the agent as the gateway’s owner, with all its tools; ${policy}`,
    });
  }

  // 5. Media upload.
  if (!account.enableMediaUpload) add({ step: 5, name: 'media upload', status: 'skip', message: 'enableMediaUpload is off' });
  else if (!tokenOk || !client) add({ step: 5, name: 'media upload', status: 'skip', message: 'needs a DingTalk access token' });
  else if (opts.observed) add(observedCheck(5, 'media upload', opts.observed.media, (err) => mediaFailure(err, account.oapiBaseUrl), 'the last upload succeeded'));
  else {
    try {
      await uploadMedia(client, { type: 'image', bytes: PNG_1X1, fileName: 'dingtalk-connector-doctor.png', contentType: 'image/png' });
      add({ step: 5, name: 'media upload', status: 'pass', message: 'a 1×1 PNG uploaded' });
    } catch (err) {
      add({ step: 5, name: 'media upload', status: 'fail', ...mediaFailure(err, account.oapiBaseUrl) });
    }
  }
  return checks;
}

/** Reachable → enabled → auth → agent id, one line each (later ones skipped after a failure), then the model. */
async function gatewayChecks(opts: DoctorOptions, timeoutMs: number): Promise<DoctorCheck[]> {
  const { account } = opts;
  const gw = account.gateway;
  const out: DoctorCheck[] = [];
  const names = ['gateway reachable', 'chat endpoint enabled', 'gateway auth', 'agent id'] as const;
  const passUpTo = (n: number) => names.slice(0, n).forEach((name) => out.push({ step: 4, name, status: 'pass', message: passMessage(name, opts) }));
  const skipFrom = (n: number) => names.slice(n).forEach((name) => out.push({ step: 4, name, status: 'skip', message: 'needs the check above' }));
  const fail = (n: number, cause: FailureCause, message: string, fix = failureFix(cause, { status: res?.status })) => {
    passUpTo(n);
    out.push({ step: 4, name: names[n]!, status: 'fail', message, fix });
    skipFrom(n + 1);
  };
  registerSecret(gw.credential);
  let res: Response | undefined;
  try {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (gw.credential) headers.authorization = `Bearer ${gw.credential}`;
    res = await (opts.fetch ?? fetch)(gw.url, {
      method: 'POST',
      headers,
      // No messages: the gateway checks auth and the agent, then refuses before any agent runs.
      body: JSON.stringify({ model: opts.host.model(gw.agentId), stream: false, messages: [] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const code = networkCode(err) ?? (err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : withoutUserinfo(errorMessage(err)));
    fail(0, 'unreachable', `cannot reach the gateway at ${host(gw.url)} (${code})`);
    return [...out, modelCheck(opts, 'skip')];
  }
  const body = await res.text().catch(() => '');
  const detail = gatewayErrorDetail(body);
  const status = res.status;
  if (status === 401 || status === 403) {
    const which = gw.credentialFrom === 'none' ? 'the request carried no token or password' : `the credential from ${gw.credentialFrom} was refused`;
    const fix = gw.credentialFrom === 'none' ? 'Set channels.dingtalk-ai.gatewayToken (or OPENCLAW_GATEWAY_TOKEN) to the gateway’s gateway.auth.token.' : failureFix('unauthorized', { status });
    fail(2, 'unauthorized', `HTTP ${status}: ${which}`, fix);
  } else if (status === 404 || status === 405) {
    const kind = statusKind(status, detail, gw.url);
    if (kind === 'endpoint-disabled') fail(1, 'endpoint-disabled', `HTTP ${status} at ${new URL(gw.url).pathname}: the OpenAI-compatible endpoint is off`);
    else fail(1, 'not-found', `HTTP ${status}: ${new URL(gw.url).pathname} is not the chat endpoint`);
  } else if (status === 400 && detail && !/missing user message|messages/i.test(detail)) {
    const kind = statusKind(status, detail, gw.url);
    if (kind === 'no-model') fail(3, 'no-model', `the gateway has no model: ${detail}`);
    else fail(3, 'rejected', `HTTP 400 "${detail}" for model "${opts.host.model(gw.agentId)}" (agentId "${gw.agentId}")`);
  } else if (status >= 500) {
    fail(3, 'failed', `HTTP ${status}${detail ? ` "${detail}"` : ''}`);
  } else {
    // 400 "Missing user message" (OpenClaw, Clawdbot) or a 2xx from another server: everything up to the agent is fine.
    passUpTo(names.length);
  }
  return [...out, modelCheck(opts, out.some((c) => c.status === 'fail' && c.name !== 'agent id') ? 'skip' : 'run')];
}

function passMessage(name: string, opts: DoctorOptions): string {
  const gw = opts.account.gateway;
  switch (name) {
    case 'gateway reachable':
      return `${withoutUserinfo(gw.url)} answers`;
    case 'chat endpoint enabled':
      return 'the OpenAI-compatible /v1/chat/completions endpoint is on';
    case 'gateway auth':
      return gw.credentialFrom === 'none' ? 'the gateway accepts requests without credentials' : `credential from ${gw.credentialFrom} accepted`;
    default:
      return `model "${opts.host.model(gw.agentId)}" (agentId "${gw.agentId}") accepted`;
  }
}

/** Does the host config give the agent a model? Only knowable with the host's config. */
function modelCheck(opts: DoctorOptions, mode: 'run' | 'skip'): DoctorCheck {
  const name = 'model configured';
  if (mode === 'skip') return { step: 4, name, status: 'skip', message: 'needs a working gateway endpoint' };
  if (!opts.hostConfig) return { step: 4, name, status: 'skip', message: 'unknown without the host config (doctor --host-config <path>)' };
  // OpenClaw 2026.9 keys agents by id (`agents.entries.<id>`); older hosts list them (`agents.list[]`).
  const agents = (opts.hostConfig as { agents?: { defaults?: { model?: unknown }; entries?: Record<string, { model?: unknown } | undefined>; list?: Array<{ id?: string; model?: unknown }> } }).agents;
  const agentId = opts.account.gateway.agentId;
  const own = agents?.entries?.[agentId]?.model ?? agents?.list?.find((a) => a.id === agentId)?.model;
  const model = modelName(own) ?? modelName(agents?.defaults?.model);
  if (model) return { step: 4, name, status: 'pass', message: `agent "${agentId}" uses ${model}` };
  return { step: 4, name, status: 'fail', message: `agent "${agentId}" has no model: agents.defaults.model is not set`, fix: failureFix('no-model') };
}

function modelName(v: unknown): string | undefined {
  if (typeof v === 'string' && v.trim()) return v.trim();
  if (v && typeof v === 'object') {
    const primary = (v as { primary?: unknown }).primary;
    if (typeof primary === 'string' && primary.trim()) return primary.trim();
  }
  return undefined;
}

function dingTalkFailure(err: unknown, baseUrl: string): { message: string; fix?: string } {
  if (err instanceof DingTalkNetworkError) return unreachable(baseUrl, networkCode(err) ?? (err.timedOut ? 'timed out' : 'no answer'));
  if (err instanceof DingTalkApiError && (err.kind === 'credentials' || err.api === 'oauth2.accessToken')) {
    return { message: `${causeProblem('dingtalk.credentials')} (${ids(err)})`, fix: causeFix('dingtalk.credentials') };
  }
  // Our words, DingTalk's code and requestid: never its body (it can carry tokens and internal addresses).
  return { message: hostErrorMessage(err) };
}

/** What the running account's last call in this area met: a pass, its failure, or a skip naming the doctor. */
function observedCheck(step: 3 | 5, name: string, seen: Observation | undefined, failure: (err: unknown) => { message: string; fix?: string }, okMessage: string): DoctorCheck {
  if (!seen) return { step, name, status: 'skip', message: `not called by the probe (quota-counted) and not used yet by this account; ${DOCTOR_COMMAND}` };
  const when = new Date(seen.at).toISOString();
  if (!seen.error) return { step, name, status: 'pass', message: `${okMessage} (${when})` };
  const f = failure(seen.error);
  return { step, name, status: 'fail', message: `${f.message} (seen ${when})`, ...(f.fix ? { fix: f.fix } : {}) };
}

/**
 * The account's card and media refusals as seen by its own calls (src/observed.ts), one line each with the fix
 * (`AI card: <problem> (seen <ISO time>) — fix: <fix>`); empty when none failed.
 */
export function observedFailures(seen: Observed): string[] {
  const checks = [
    seen.card?.error ? observedCheck(3, 'AI card', seen.card, (err) => cardFailure(err, ''), '') : undefined,
    seen.media?.error ? observedCheck(5, 'media upload', seen.media, (err) => mediaFailure(err, ''), '') : undefined,
  ];
  return checks.filter((c): c is DoctorCheck => c !== undefined).map((c) => `${c.name}: ${c.message}${c.fix ? ` — fix: ${c.fix}` : ''}`);
}

/**
 * Can the account write its state folder? A folder that does not exist yet counts as writable when its nearest
 * existing parent is a writable folder (it is created at start). Writes one empty temp file, removes it.
 */
async function stateFolderCheck(dir: string, accountId: string): Promise<DoctorCheck> {
  const name = 'state folder';
  const target = resolve(dir);
  try {
    for (let d = target; ; d = dirname(d)) {
      let isDir: boolean;
      try {
        isDir = (await stat(d)).isDirectory();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && dirname(d) !== d) continue;
        throw err;
      }
      if (!isDir) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
      if (d !== target) await access(d, constants.W_OK);
      else {
        const probe = join(d, `.dingtalk-connector-check-${process.pid}-${randomUUID()}.tmp`);
        await writeFile(probe, '', { mode: 0o600 });
        await unlink(probe);
      }
      break;
    }
  } catch (err) {
    return { step: 1, name, status: 'fail', ...stateFolderFailure(dir, err, accountId) };
  }
  return { step: 1, name, status: 'pass', message: `${shownPath(dir)} can be written` };
}

/**
 * A state folder that cannot be written, in the operator's words with the fix (the key to set): the folder with the
 * home folder shown as `~`, and the error code only.
 */
export function stateFolderFailure(dir: string, err: unknown, accountId: string): { message: string; fix: string } {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const key = accountId === DEFAULT_ACCOUNT_ID ? `channels.${CHANNEL_ID}.stateDir` : `channels.${CHANNEL_ID}.accounts.${accountId}.stateDir`;
  return {
    message: `the state folder ${shownPath(dir)} cannot be written${typeof code === 'string' && /^E[A-Z]+$/.test(code) ? ` (${code})` : ''}: call counts, handled messages and sessions are kept in memory only and lost at restart`,
    fix: `set ${key} to a writable folder (or let the gateway's user write this one)`,
  };
}

function shownPath(dir: string): string {
  const full = resolve(dir);
  const home = homedir();
  return full === home || full.startsWith(home + sep) ? `~${full.slice(home.length)}` : full;
}

/** Probe mode: an account that does not run in this gateway answers no one; a failed start is a failure with its fix. */
function runCheck(run: Extract<AccountRun, { running: false }>): DoctorCheck {
  const name = 'running in this gateway';
  const since = new Date(run.at).toISOString();
  if (run.error === null) return { step: 2, name, status: 'skip', message: `stopped by the gateway at ${since}` };
  return { step: 2, name, status: 'fail', message: `not running: ${run.error} (since ${since})` };
}

/** Probe mode: the running account's Stream connection as it is now (registration is not called: see the file comment). */
function streamCheck(stream: ConnectionObservation | undefined): DoctorCheck {
  const name = 'Stream connection';
  if (!stream) return { step: 2, name, status: 'skip', message: 'the account does not run in this process; the probe does not register a Stream connection itself (not known to be free of the monthly quota)' };
  const since = new Date(stream.since).toISOString();
  if (stream.connected) return { step: 2, name, status: 'pass', message: `connected since ${since}` };
  const f = streamFailure(stream.error);
  return { step: 2, name, status: 'fail', message: `not connected since ${since}: ${f.message}`, fix: f.fix };
}

/**
 * A Stream connection error (as src/stream.ts reports it) in the operator's words with its fix, without addresses
 * or upstream bodies: rejected credentials, DingTalk unreachable, or the registration refused.
 */
export function streamFailure(error: string | undefined): { message: string; fix: string } {
  const e = error ?? '';
  if (/authFailed/.test(e)) return { message: causeProblem('dingtalk.credentials'), fix: causeFix('dingtalk.credentials') };
  const code = /\b(E[A-Z]{3,}|ETIMEDOUT)\b/.exec(e)?.[1] ?? (/timeout|timed out/i.test(e) ? 'timed out' : /WebSocket|socket hang up/i.test(e) ? 'connection closed' : undefined);
  if (code) return { message: `${causeProblem('dingtalk.unreachable', { detail: 'DingTalk’s Stream gateway' })} (${code})`, fix: causeFix('dingtalk.unreachable') };
  const status = /HTTP (\d{3})/.exec(e)?.[1];
  return {
    message: `DingTalk refused the Stream registration${status ? ` (HTTP ${status})` : ''}`,
    fix: 'in the DingTalk developer console set the robot’s message receiving mode to Stream and publish the app again',
  };
}

function mediaFailure(err: unknown, baseUrl: string): { message: string; fix?: string } {
  // oapi answers permission problems as HTTP 200 with an errcode: any DingTalk refusal here is the app's rights.
  if (err instanceof DingTalkApiError) return { message: causeProblem('media.permission', { detail: scopes(err) }), fix: causeFix('media.permission') };
  return dingTalkFailure(err, baseUrl);
}

function cardFailure(err: unknown, baseUrl: string): { message: string; fix?: string } {
  if (err instanceof DingTalkApiError) {
    if (err.kind === 'permission') return { message: causeProblem('card.permission', { detail: scopes(err) }), fix: causeFix('card.permission') };
    if (/templateNotExist|templateUnpublished/.test(err.code)) return { message: causeProblem('card.template', { detail: ids(err) }), fix: causeFix('card.template') };
    // DingTalk's errorMsg stays out (CardNotDeliveredError): its result code and the space's type say enough.
    if (err instanceof CardNotDeliveredError) return { message: causeProblem('card.delivery', { detail: `${CARD_NOT_DELIVERED}, spaceType ${err.spaceType}` }), fix: causeFix('card.delivery') };
  }
  return dingTalkFailure(err, baseUrl);
}

function unreachable(url: string, code: string): { message: string; fix: string } {
  const proxy = proxyFor(url);
  return { message: `${causeProblem('dingtalk.unreachable', { detail: host(url) })} (${code})${proxy ? ` through the proxy ${host(proxy)}` : ''}`, fix: causeFix('dingtalk.unreachable') };
}

/** DingTalk's code and requestid of a refusal (safe to show, and what DingTalk's support asks for): never its message. */
const ids = (err: DingTalkApiError) => `code ${err.code}${err.requestId ? `, requestid ${err.requestId}` : ''}`;
const scopes = (err: DingTalkApiError) => (err.requiredScopes.length ? ` (DingTalk requires: ${err.requiredScopes.join(', ')}; ${ids(err)})` : ` (${ids(err)})`);

function host(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}


/** Did any check fail? (`steps` limits which steps count.) */
export function doctorFailed(checks: DoctorCheck[], steps: number[] = [1, 2, 3, 4, 5]): boolean {
  return checks.some((c) => c.status === 'fail' && steps.includes(c.step));
}

const MARK: Record<CheckStatus, string> = { pass: '✓', fail: '✗', skip: '-', note: '!' };

/** One line: mark, step and name, what was found, and the fix for a failure. */
export function formatCheck(c: DoctorCheck): string {
  return `${MARK[c.status]} ${c.step}. ${c.name}: ${c.message}${c.fix ? ` — fix: ${c.fix}` : ''}`;
}
