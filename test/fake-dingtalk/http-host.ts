// One loopback HTTP listener per DingTalk host (api / oapi): body parsing, latency, faults,
// auth, scope, monthly quota, rate limit, dispatch to routes, and recording into fake.calls.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Faults, RateLimiter } from './faults.ts';
import { multipartBoundary, parseMultipart, summarizeMultipart, type Multipart } from './multipart.ts';
import type { FakeState } from './state.ts';
import type { AppState, Host } from './types.ts';
import { requestId, sleep } from './util.ts';

export interface Reply {
  status: number;
  json?: unknown;
  bytes?: Buffer;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface RouteCtx {
  st: FakeState;
  host: Host;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  /** Parsed JSON body (undefined when absent or not JSON). */
  body: any;
  multipart?: Multipart;
  /** Caller app, resolved from the access token (routes with auth). */
  app?: AppState;
  match: RegExpExecArray | null;
}

export interface Route {
  method: string;
  path: string | RegExp;
  /** api = header x-acs-dingtalk-access-token; oapi = ?access_token=; none = no token. */
  auth: 'api' | 'oapi' | 'none';
  scope?: string;
  /** Counts against the org's monthly API quota (monthlyQuotaExhausted fault). */
  quota?: boolean;
  handle(ctx: RouteCtx): Reply | Promise<Reply>;
}

export const apiError = (status: number, code: string, message: string, extra: Record<string, unknown> = {}): Reply =>
  ({ status, json: { code, message, requestid: requestId(), ...extra } });

export const oapiError = (errcode: number, errmsg: string, extra: Record<string, unknown> = {}): Reply =>
  ({ status: 200, json: { errcode, errmsg, ...extra, request_id: requestId() } });

const oapiAuthError = (subCode: string, subMsg: string): Reply =>
  oapiError(88, `ding talk error[subcode=${subCode},submsg=${subMsg}]`, { sub_code: subCode, sub_msg: subMsg });

export class HostServer {
  readonly server: http.Server;
  base = '';

  private readonly host: Host;
  private readonly st: FakeState;
  private readonly routes: Route[];
  private readonly faults: Faults;
  private readonly limiter: RateLimiter | undefined;

  constructor(host: Host, st: FakeState, routes: Route[], faults: Faults, limiter: RateLimiter | undefined) {
    this.host = host;
    this.st = st;
    this.routes = routes;
    this.faults = faults;
    this.limiter = limiter;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 'fake.internalError', message: String(err) }));
        }
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.base = `http://127.0.0.1:${port}`;
    return this.base;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const at = this.st.now();
    const mono = performance.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const query = Object.fromEntries(url.searchParams);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);

    const ctx: RouteCtx = { st: this.st, host: this.host, method, path, query, headers: req.headers, raw, body: undefined, match: null };
    let recordedBody: unknown = undefined;
    let bodyError = false;
    const boundary = multipartBoundary(req.headers['content-type']);
    if (boundary) {
      try {
        ctx.multipart = parseMultipart(raw, boundary);
        recordedBody = summarizeMultipart(ctx.multipart);
      } catch (err) {
        recordedBody = { multipartError: String(err), size: raw.length };
      }
    } else if (raw.length) {
      try {
        ctx.body = JSON.parse(raw.toString('utf8'));
        recordedBody = ctx.body;
      } catch {
        bodyError = true;
        recordedBody = raw.toString('utf8').slice(0, 2000);
      }
    }

    let route: Route | undefined;
    const record = (status: number, response: unknown, fault?: string): void => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      this.st.record({
        at, mono, host: this.host, method, path,
        query: this.st.redact(query) as Record<string, string>,
        headers: this.st.redact(headers) as Record<string, string>,
        body: this.st.redact(recordedBody), status,
        response: this.st.redact(response),
        ...(ctx.app ? { appKey: ctx.app.appKey } : {}),
        ...(fault ? { fault } : {}),
        ...(route?.quota ? { quota: true } : {}),
      });
    };
    const send = (reply: Reply, fault?: string): void => {
      const headers: Record<string, string> = { ...reply.headers };
      let payload: Buffer;
      if (reply.bytes) {
        payload = reply.bytes;
        headers['content-type'] ??= reply.contentType ?? 'application/octet-stream';
        record(reply.status, { bytes: payload.length, contentType: headers['content-type'] }, fault);
      } else if (reply.text !== undefined) {
        payload = Buffer.from(reply.text);
        headers['content-type'] ??= reply.contentType ?? 'text/plain;charset=utf-8';
        record(reply.status, reply.text, fault);
      } else {
        payload = Buffer.from(JSON.stringify(reply.json ?? {}));
        headers['content-type'] ??= 'application/json;charset=utf-8';
        record(reply.status, reply.json, fault);
      }
      headers['content-length'] = String(payload.length);
      res.writeHead(reply.status, headers);
      res.end(payload);
    };

    if (this.st.opts.latencyMs > 0) await sleep(this.st.opts.latencyMs);

    const fault = this.faults.check({ host: this.host, method, path, query, body: ctx.body });
    let dropAfterActing: string | undefined;
    if (fault && 'destroySocket' in fault.action && fault.action.afterActing) dropAfterActing = `fault#${fault.handle.id}:destroySocket`;
    else if (fault) {
      const a = fault.action;
      const label = `fault#${fault.handle.id}`;
      if ('delayMs' in a) {
        await sleep(a.delayMs);
      } else if ('hang' in a) {
        record(0, undefined, `${label}:hang`);
        return; // never answered; the socket is destroyed on fake.close()
      } else if ('destroySocket' in a) {
        record(0, undefined, `${label}:destroySocket`);
        req.socket.destroy();
        return;
      } else {
        const body = a.body;
        if (typeof body === 'string') send({ status: a.status, text: body, contentType: a.contentType }, label);
        else send({ status: a.status, json: body ?? {}, contentType: a.contentType }, label);
        return;
      }
    }

    for (const r of this.routes) {
      if (r.method !== method) continue;
      if (typeof r.path === 'string' ? r.path === path : (ctx.match = r.path.exec(path))) { route = r; break; }
    }
    if (!route) {
      send(this.host === 'api'
        ? apiError(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.')
        : { status: 404, json: { errcode: 404, errmsg: '请求的URI地址不存在' } });
      return;
    }
    const denied = this.gate(route, ctx, bodyError);
    if (denied) { send(denied); return; }
    const reply = await route.handle(ctx);
    if (dropAfterActing) { record(0, undefined, dropAfterActing); req.socket.destroy(); return; }
    send(reply);
  }

  /** Auth / scope / quota / rate limit; returns an error reply or undefined. */
  private gate(route: Route, ctx: RouteCtx, bodyError: boolean): Reply | undefined {
    if (route.auth === 'api') {
      const token = ctx.headers['x-acs-dingtalk-access-token'];
      if (typeof token !== 'string' || !token) {
        return apiError(400, 'AuthenticationFailed.MissingParameter', '缺少参数 x-acs-dingtalk-access-token');
      }
      const app = this.st.checkToken(token);
      if (!app || app === 'expired') {
        return apiError(this.st.opts.authErrorStatus, 'InvalidAuthentication', app ? 'access_token已过期' : '不合法的access_token');
      }
      ctx.app = app;
      if (bodyError) return apiError(400, 'InvalidParameter.Body', 'request body is not valid JSON');
      if (route.scope && !app.scopes.includes(route.scope)) {
        return apiError(403, 'Forbidden.AccessDenied.AccessTokenPermissionDenied',
          '没有调用该接口的权限，接口权限申请参考：https://open.dingtalk.com/document/orgapp-server/add-api-permission',
          { accessdenieddetail: { requiredScopes: [route.scope] } });
      }
      if (route.quota && this.st.monthlyQuotaExhausted) {
        return apiError(403, 'Forbidden.AccessDenied.ApiCountLimitForOrg', '组织的接口调用量已达到当月上限');
      }
      if (this.limiter && !this.limiter.take(app.appKey, ctx.method, ctx.path)) {
        return apiError(403, 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi', '应用调用该接口的并发量超过限制');
      }
    } else if (route.auth === 'oapi') {
      const token = ctx.query['access_token'];
      if (!token) return oapiAuthError('40000', 'access_token is blank');
      const app = this.st.checkToken(token);
      if (!app) return oapiAuthError('40014', '不合法的access_token');
      if (app === 'expired') return oapiAuthError('42001', 'access_token超时');
      ctx.app = app;
      if (route.quota && this.st.monthlyQuotaExhausted) return oapiError(90020, '组织的接口调用量已达到当月上限');
      if (this.limiter && !this.limiter.take(app.appKey, ctx.method, ctx.path)) return oapiError(90018, '应用调用该接口的并发量超过限制');
    }
    return undefined;
  }
}
