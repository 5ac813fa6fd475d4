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
