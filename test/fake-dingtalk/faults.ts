// Fault injection (§5.5): generic rules matched per REST call, presets, and the optional QPS limiter.
import type { FakeState } from './state.ts';
import type { Host } from './types.ts';
import { requestId } from './util.ts';

export interface FaultRequest {
  host: Host;
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

export interface FaultMatch {
  host?: Host;
  method?: string;
  /** string = exact pathname; RegExp = tested against the pathname. */
  path?: string | RegExp;
  /** Fire from the nth matching call on (1-based, default 1). */
  nth?: number;
  /** How many times the rule fires (default: unlimited). */
  times?: number;
  when?: (req: FaultRequest) => boolean;
}

export type FaultAction =
  | { status: number; body?: unknown; contentType?: string }
  | { delayMs: number }
  | { hang: true }
  /** Drop the connection unanswered; `afterActing`: first act on the request (a proxy or server crash after the work). */
  | { destroySocket: true; afterActing?: boolean };

export interface FaultHandle {
  readonly id: number;
  readonly match: FaultMatch;
  readonly action: FaultAction;
  /** Calls that matched so far. */
  seen: number;
  /** Times the action was applied. */
  fired: number;
  remove(): void;
}

export const isOapiPath = (p: string): boolean =>
  p === '/gettoken' || p.startsWith('/media/') || p.startsWith('/robot/sendBySession');

/** Error body in the envelope of the host that serves `path` (api: status+code; oapi: 200+errcode). */
function errorAction(path: string, status: number, code: string, message: string, oapiErrcode: number): FaultAction {
  if (isOapiPath(path)) return { status: 200, body: { errcode: oapiErrcode, errmsg: message, request_id: requestId() } };
  return { status, body: { code, message, requestid: requestId() } };
}

export class Faults {
  private rules: FaultHandle[] = [];
  private nextId = 1;
  private readonly st: FakeState;
  constructor(st: FakeState) { this.st = st; }

  add(spec: { match: FaultMatch; action: FaultAction }): FaultHandle {
    const handle: FaultHandle = {
      id: this.nextId++, match: spec.match, action: spec.action, seen: 0, fired: 0,
      remove: () => { this.rules = this.rules.filter((r) => r !== handle); },
    };
    this.rules.push(handle);
    return handle;
  }

  /** Removes all rules and resets every preset flag (tokens already expired stay expired). */
  clear(): void {
    this.rules = [];
    this.st.monthlyQuotaExhausted = false;
    this.st.deliverFailure = undefined;
  }

  list(): readonly FaultHandle[] { return this.rules; }

  /** Called by the HTTP hosts for every request; returns the action to apply, if any. */
  check(req: FaultRequest): { handle: FaultHandle; action: FaultAction } | undefined {
    let hit: { handle: FaultHandle; action: FaultAction } | undefined;
    for (const r of this.rules) {
      const m = r.match;
      if (m.host && m.host !== req.host) continue;
      if (m.method && m.method.toUpperCase() !== req.method) continue;
      if (typeof m.path === 'string' && m.path !== req.path) continue;
      if (m.path instanceof RegExp && !m.path.test(req.path)) continue;
      if (m.when && !m.when(req)) continue;
      r.seen++;
      if (hit) continue;
      if (r.seen >= (m.nth ?? 1) && r.fired < (m.times ?? Infinity)) {
        r.fired++;
        hit = { handle: r, action: r.action };
      }
    }
    return hit;
  }

  // ---- presets ----

  /** 403 Forbidden.AccessDenied.QpsLimitForAppkeyAndApi (or a 429) on `path`, once by default. */
  qpsLimit(path: string | RegExp, o: { status?: 403 | 429; times?: number; nth?: number } = {}): FaultHandle {
    const status = o.status ?? 403;
    const p = typeof path === 'string' ? path : '';
    const action = status === 429
      ? errorAction(p, 429, 'Throttling.QpsLimit', 'Too Many Requests', 90018)
      : errorAction(p, 403, 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi', '应用调用该接口的并发量超过限制', 90018);
    return this.add({ match: { path, times: o.times ?? 1, nth: o.nth }, action });
  }

  /** 500 system.busy on `path` (oapi: errcode -1). */
  systemBusy(path: string | RegExp, times = 1): FaultHandle {
    const p = typeof path === 'string' ? path : '';
    return this.add({ match: { path, times }, action: errorAction(p, 500, 'system.busy', '系统繁忙', -1) });
  }

  /** Every token issued so far becomes expired; the next token request mints a new one. */
  expireAllTokens(): void { this.st.expireAllTokens(); }

  /** Removes a permission scope from one app (default: all apps). */
  revokeScope(scope: string, appKey?: string): void {
    for (const app of this.st.apps) {
      if (appKey === undefined || app.appKey === appKey) app.scopes = app.scopes.filter((s) => s !== scope);
    }
  }

  /** Gives a permission scope back (after revokeScope; `clear()` does not restore scopes). */
  grantScope(scope: string, appKey?: string): void {
    for (const app of this.st.apps) {
      if ((appKey === undefined || app.appKey === appKey) && !app.scopes.includes(scope)) app.scopes.push(scope);
    }
  }

  /** Card create and createAndDeliver answer 400 `code` (default unlimited times). */
  rejectCardCreate(code = 'param.templateNotExist', times?: number): FaultHandle {
    return this.add({
      match: { host: 'api', method: 'POST', path: /^\/v1\.0\/card\/instances(\/createAndDeliver)?$/, times },
      action: { status: 400, body: { code, message: `fake rejectCardCreate: ${code}`, requestid: requestId() } },
    });
  }

  /** deliver / createAndDeliver answer 200 with deliverResults[].success=false. */
  deliverResultFailure(errorMsg = 'deliver failed', times = Infinity): void {
    this.st.deliverFailure = { errorMsg, remaining: times };
  }

  /** Card and robot APIs answer 403 Forbidden.AccessDenied.ApiCountLimitForOrg until clear(). */
  monthlyQuotaExhausted(on = true): void { this.st.monthlyQuotaExhausted = on; }

  /** Marks one session (default: every minted session) as expired. */
  sessionExpired(session?: string): void {
    for (const s of this.st.sessions.values()) if (session === undefined || s.session === session) s.expired = true;
  }

  /** The stream gateway answers `status` for the next `times` opens. */
  gatewayFail(status: number, times = 1): FaultHandle {
    const body = status === 401
      ? { requestid: requestId(), code: 'authFailed', message: '鉴权失败' }
      : { requestid: requestId(), code: status >= 500 ? 'ServiceUnavailable' : 'InvalidParameter', message: `fake gatewayFail ${status}` };
    return this.add({ match: { host: 'api', method: 'POST', path: '/v1.0/gateway/connections/open', times }, action: { status, body } });
  }

  /** Per-IP ban: non-JSON HTML page on every api call (default once). */
  ipBan(times = 1): FaultHandle {
    return this.add({
      match: { host: 'api', times },
      action: { status: 403, contentType: 'text/html', body: '<html><body><h1>Access Denied</h1>punish:deny</body></html>' },
    });
  }
}

/** Token bucket per (appKey, method+path); `perApiQps` tokens per second, burst = capacity. */
export class RateLimiter {
  private buckets = new Map<string, { tokens: number; last: number }>();
  private readonly perApiQps: number;
  private readonly burst: number;
  constructor(perApiQps: number, burst = perApiQps) {
    this.perApiQps = perApiQps;
    this.burst = burst;
  }

  take(appKey: string, method: string, path: string): boolean {
    const key = `${appKey} ${method} ${path}`;
    const t = performance.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, last: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.last) / 1000) * this.perApiQps);
    b.last = t;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
