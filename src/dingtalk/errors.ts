/**
 * Two error classes split by cause: DingTalk answered with an error, or the network failed.
 * Both carry what an operator needs to act: DingTalk's own code, message and request id.
 */

export type DingTalkErrorKind =
  | 'auth' // token invalid/expired: refresh and retry once
  | 'credentials' // clientId/clientSecret rejected: the operator must fix the config
  | 'permission' // missing scope or IP whitelist: permanent, fall back
  | 'throttled' // QPS limit or 429: back off and retry
  | 'quota' // monthly org quota exhausted: stop card mode for a while
  | 'session-expired' // sessionWebhook expired: use the robot OpenAPI
  | 'bad-request' // our request was wrong or the resource is gone
  | 'server'; // DingTalk 5xx / system.busy

export class DingTalkApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly api: string;
  readonly requiredScopes: string[];
  readonly kind: DingTalkErrorKind;

  constructor(init: { api: string; status: number; code: string; message: string; requestId?: string; requiredScopes?: string[] }) {
    const scopes = init.requiredScopes?.length ? ` (required scopes: ${init.requiredScopes.join(', ')})` : '';
    const rid = init.requestId ? ` [requestid ${init.requestId}]` : '';
    super(`DingTalk ${init.api} failed: HTTP ${init.status} ${init.code}: ${init.message}${scopes}${rid}`);
    this.name = 'DingTalkApiError';
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.api = init.api;
    this.requiredScopes = init.requiredScopes ?? [];
    this.kind = classify(init.status, init.code);
  }
}

export class DingTalkNetworkError extends Error {
  readonly api: string;
  override readonly cause: unknown;
  readonly timedOut: boolean;
  /**
   * True when the request certainly never reached DingTalk (connection refused, DNS failure, cancelled before
   * sending). Otherwise (timeout, reset) DingTalk may have acted on it: resending a non-idempotent call may duplicate.
   */
  readonly notSent: boolean;

  constructor(api: string, cause: unknown, timedOut: boolean, opts: { notSent?: boolean } = {}) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`DingTalk ${api} unreachable: ${timedOut ? 'timed out' : reason}`);
    this.name = 'DingTalkNetworkError';
    this.api = api;
    this.cause = cause;
    this.timedOut = timedOut;
    this.notSent = opts.notSent ?? false;
  }
}

/** oapi answers HTTP 200 with errcode; these are its auth and throttling codes (spec §3.1, §4). */
const OAPI_AUTH_CODES = new Set(['40014', '42001', '41001', '88']);
const OAPI_THROTTLE_CODES = new Set(['90018', '90002', '90006']);

function classify(status: number, code: string): DingTalkErrorKind {
  if (code === 'InvalidAuthentication' || code.startsWith('AuthenticationFailed') || OAPI_AUTH_CODES.has(code)) return 'auth';
  if (code === 'invalidClientIdOrSecret' || code === 'authFailed' || code === '40096' || code === '40089') return 'credentials';
  if (code.includes('ApiCountLimitForOrg') || code === '90020') return 'quota';
  if (status === 429 || /Qp[sm]Limit/i.test(code) || OAPI_THROTTLE_CODES.has(code)) return 'throttled';
  if (code === '300001' || code === '300005') return 'session-expired';
  if (status === 403 || code.startsWith('Forbidden')) return 'permission';
  if (status >= 500 || code === 'system.busy') return 'server';
  return 'bad-request';
}

/**
 * An error as we hand it to the host (the CLI's output, the agent's message tool result, the status's lastError, a
 * probe result): the cause and the fix in our words, with DingTalk's code and requestid (safe to show, and what
 * DingTalk's support asks for). Never DingTalk's own message or body, nor a network error's text: they can carry
 * tokens and internal addresses (hostile test: an error body with a token and 10.1.2.3 reached the agent). Other
 * errors are ours and pass through. The full error belongs in the (redacted) log.
 */
export function hostErrorMessage(err: unknown): string {
  if (err instanceof DingTalkApiError) {
    const ids = [`code ${err.code}`, `HTTP ${err.status}`, ...(err.requestId ? [`requestid ${err.requestId}`] : [])].join(', ');
    return `DingTalk refused ${err.api} (${ids}): ${API_ERROR_FIX[err.kind](err)}`;
  }
  if (err instanceof DingTalkNetworkError) {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    const how = err.timedOut ? 'timed out' : typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'connection failed';
    const maybe = err.notSent ? 'nothing was sent' : 'it may still have arrived, check before sending it again';
    return `DingTalk ${err.api} could not be reached (${how}; ${maybe}): check this machine's network and proxy (HTTPS_PROXY / NO_PROXY) and that it reaches api.dingtalk.com and oapi.dingtalk.com`;
  }
  return err instanceof Error ? err.message : String(err);
}

const API_ERROR_FIX: Record<DingTalkErrorKind, (err: DingTalkApiError) => string> = {
  auth: () => 'DingTalk refused the access token twice: check the clientId and clientSecret, and the app\'s IP allowlist in the DingTalk developer console',
  credentials: () => 'the clientId or clientSecret is wrong: set the robot\'s AppKey and AppSecret (DingTalk developer console, 凭证与基础信息)',
  permission: (e) =>
    `the app lacks a permission${e.requiredScopes.length ? ` (${e.requiredScopes.join(', ')})` : ''} or this machine is outside its IP allowlist: grant it in the DingTalk developer console (权限管理) and publish a new version`,
  throttled: () => 'DingTalk\'s rate limit for this app was hit: send less often, or try again in a minute',
  quota: () => 'the organisation\'s DingTalk API calls for this month are used up: wait for the next month (CST) or raise the allowance with a higher DingTalk edition',
  'session-expired': () => 'the reply link of that conversation expired: send through the robot API (user:<staffId> / group:<openConversationId>)',
  'bad-request': (e) =>
    e.api === 'media.upload'
      ? 'DingTalk refused the file: check that the app may upload files (DingTalk developer console, 权限管理) and the file\'s type and size; the gateway log has DingTalk\'s detail'
      : 'DingTalk found the request invalid: check the target id (a staffId or an openConversationId the robot belongs to) and the message; the gateway log has DingTalk\'s detail',
  server: () => 'DingTalk had an internal error: try again later',
};
