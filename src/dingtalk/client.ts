/**
 * The one DingTalk REST client: access-token cache, the two response envelopes (api.dingtalk.com and
 * oapi.dingtalk.com, spec §3.1), typed errors, one retry decision. Endpoint wrappers live in ./endpoints.ts.
 */
import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { quotaMeterOf } from './endpoints.ts';
import { DingTalkApiError, DingTalkNetworkError } from './errors.ts';
import type { QuotaMeter } from './governor.ts';
import { axiosProxyOptions } from './proxy.ts';
import { registerSecret, type Logger } from '../log.ts';

export interface DingTalkClientOptions {
  clientId: string;
  clientSecret: string;
  apiBaseUrl: string;
  oapiBaseUrl: string;
  log: Logger;
  /** Injectable for tests; defaults to a fresh axios instance. */
  http?: AxiosInstance;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  requestTimeoutMs?: number;
  /** Every call passes through this gate (the rate limiter plugs in here). */
  gate?: CallGate;
  /**
   * The account stopped for good: aborts every request in flight, every retry sleep and every wait for the budget,
   * and refuses new calls (they reject at once, nothing reaches the network). Card closing on stop happens before it.
   */
  signal?: AbortSignal;
  /** Timeout of a sessionWebhook POST (default 60 s): longer than ordinary calls, see `postToUrl`. */
  webhookTimeoutMs?: number;
  /** Counts the calls DingTalk's monthly meters count (the app's call governor, ./governor.ts). */
  meter?: CallMeter;
}

/**
 * Told about every call DingTalk counts (which ones: `quotaMeterOf` in ./endpoints.ts). A call counts once DingTalk
 * may have acted on it: answered (also with an error), or timed out in flight; not when it was throttled (DingTalk's
 * billing model: calls failed by QPS limits are not counted) or certainly never sent.
 */
export interface CallMeter {
  /**
   * Before a call on the API meter is sent: throw to refuse it (nothing is sent; the error reaches the caller).
   * `reserved`: CallOptions.reserved.
   */
  admit?(api: string, reserved: boolean): void;
  counted(meter: QuotaMeter): void;
}

/** Decides when a call may go out. `priority` calls (finals) are served first. */
export interface CallGate {
  run<T>(api: string, priority: boolean, call: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** DingTalk throttled this API: hold it for `ms`. */
  penalize?(api: string, ms: number): void;
}

export interface CallOptions {
  /** A short name of the endpoint for logs, errors and the limiter, e.g. `card.streaming`. */
  api: string;
  /** May the call be repeated safely after a timeout or 5xx? */
  idempotent?: boolean;
  /** Finals and state changes that must not be starved by streaming updates. */
  priority?: boolean;
  /** Reserved by an answer's plan (a card's create and final): may pass a spent monthly budget (./governor.ts). */
  reserved?: boolean;
  timeoutMs?: number;
  /** Withdraws the call while it still waits for the budget (a newer update makes it pointless). */
  signal?: AbortSignal;
}

/** Refresh this long before DingTalk's stated expiry (tokens live 7200 s). */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
const DEFAULT_TIMEOUT_MS = 15_000;
/**
 * A sessionWebhook POST that times out may still be delivered (DingTalk offers no way to ask), so a resend after a
 * timeout risks a duplicate. A generous timeout makes that ambiguous case rare: a slow answer (say 16 s) still counts.
 */
const WEBHOOK_TIMEOUT_MS = 60_000;
const RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000];
/** Ordinary calls retry twice; finals (priority) keep trying longer, they must not be lost. */
const RETRIES = 2;
const PRIORITY_RETRIES = RETRY_DELAYS_MS.length;

const passThrough: CallGate = { run: (_api, _priority, call) => call() };

/** The DingTalk app a client talks as: a resolved account has these fields (src/config.ts). */
export type DingTalkApp = Pick<DingTalkClientOptions, 'clientId' | 'clientSecret' | 'apiBaseUrl' | 'oapiBaseUrl'>;

/**
 * The one way to build the REST client for an account: its app's `clientId`/`clientSecret` and the two base URLs
 * (`apiBaseUrl` = api.dingtalk.com or a stand-in, `oapiBaseUrl` = oapi.dingtalk.com), read from `app` and nothing
 * else of it; everything that differs between callers (log, call gate, meter, stop signal, `requestTimeoutMs`,
 * `sleep`) comes in `options` as `DingTalkClientOptions` has it. Makes no call; throws only a TypeError when
 * `oapiBaseUrl` is not a URL (config resolution refuses that earlier, naming the key).
 */
export function clientFor(app: DingTalkApp, options: Omit<DingTalkClientOptions, keyof DingTalkApp>): DingTalkClient {
  const { clientId, clientSecret, apiBaseUrl, oapiBaseUrl } = app;
  return new DingTalkClient({ ...options, clientId, clientSecret, apiBaseUrl, oapiBaseUrl });
}

export class DingTalkClient {
  readonly clientId: string;
  /** Origin of oapi.dingtalk.com (or the configured stand-in), e.g. `https://oapi.dingtalk.com`. */
  readonly oapiOrigin: string;
  private readonly clientSecret: string;
  private readonly apiBaseUrl: string;
  private readonly oapiBaseUrl: string;
  private readonly http: AxiosInstance;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly timeoutMs: number;
  private readonly gate: CallGate;
  private readonly stopSignal: AbortSignal | undefined;
  private readonly webhookTimeoutMs: number;
  private readonly meter: CallMeter | undefined;
  private token: { value: string; refreshAt: number } | undefined;
  private tokenInFlight: Promise<string> | undefined;

  constructor(opts: DingTalkClientOptions) {
    this.clientId = opts.clientId;
    this.clientSecret = opts.clientSecret;
    this.apiBaseUrl = opts.apiBaseUrl.replace(/\/+$/, '');
    this.oapiBaseUrl = opts.oapiBaseUrl.replace(/\/+$/, '');
    this.http = opts.http ?? axios.create({ proxy: false });
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.gate = opts.gate ?? passThrough;
    this.stopSignal = opts.signal;
    this.webhookTimeoutMs = opts.webhookTimeoutMs ?? WEBHOOK_TIMEOUT_MS;
    this.meter = opts.meter;
    this.oapiOrigin = new URL(this.oapiBaseUrl).origin;
    registerSecret(opts.clientSecret);
  }

  /** A valid access token, fetched once and shared by concurrent callers. */
  async accessToken(): Promise<string> {
    if (this.token && this.now() < this.token.refreshAt) return this.token.value;
    this.tokenInFlight ??= this.fetchToken().finally(() => (this.tokenInFlight = undefined));
    return this.tokenInFlight;
  }

  private async fetchToken(): Promise<string> {
    const res = await this.send<{ accessToken?: string; expireIn?: number }>('oauth2.accessToken', {
      method: 'POST',
      url: `${this.apiBaseUrl}/v1.0/oauth2/accessToken`,
      data: { appKey: this.clientId, appSecret: this.clientSecret },
    });
    const body = apiBody(res, 'oauth2.accessToken');
    if (!body.accessToken) throw new DingTalkApiError({ api: 'oauth2.accessToken', status: res.status, code: 'noToken', message: 'no accessToken in response' });
    registerSecret(body.accessToken);
    const ttlMs = (body.expireIn ?? 7200) * 1000;
    this.token = { value: body.accessToken, refreshAt: this.now() + Math.max(ttlMs - TOKEN_REFRESH_MARGIN_MS, ttlMs / 2) };
    return body.accessToken;
  }

  /** Call api.dingtalk.com (token in header, errors as HTTP 4xx/5xx with {code, message, requestid}). */
  async api<T>(method: 'GET' | 'POST' | 'PUT', path: string, data: unknown, opts: CallOptions): Promise<T> {
    return this.withRetries(opts, async () => {
      const token = await this.accessToken();
      return this.metered(opts, async () => {
        const res = await this.send<T>(opts.api, {
          method,
          url: `${this.apiBaseUrl}${path}`,
          data,
          headers: { 'x-acs-dingtalk-access-token': token },
          timeout: opts.timeoutMs ?? this.timeoutMs,
        });
        return apiBody(res, opts.api);
      });
    });
  }

  /** Call oapi.dingtalk.com (token in query, errors as HTTP 200 with errcode). */
  async oapi<T>(method: 'GET' | 'POST', path: string, config: AxiosRequestConfig, opts: CallOptions): Promise<T> {
    return this.withRetries(opts, async () => {
      const token = await this.accessToken();
      return this.metered(opts, async () => {
        const res = await this.send<T>(opts.api, {
          ...config,
          method,
          url: `${this.oapiBaseUrl}${path}`,
          params: { ...(config.params as object | undefined), access_token: token },
          timeout: opts.timeoutMs ?? this.timeoutMs,
        });
        return oapiBody(res, opts.api);
      });
    });
  }

  /**
   * POST to a URL DingTalk gave us (sessionWebhook); the session in the URL is the credential. Never retried, and
   * with a longer timeout (`webhookTimeoutMs`): a timeout leaves it unknown whether the message was delivered.
   */
  async postToUrl<T>(url: string, data: unknown, opts: CallOptions): Promise<T> {
    return this.withRetries(opts, () =>
      this.metered(opts, async () => {
        const res = await this.send<T>(opts.api, { method: 'POST', url, data, timeout: opts.timeoutMs ?? this.webhookTimeoutMs });
        return oapiBody(res, opts.api);
      }),
    );
  }

  /**
   * GET raw bytes from a URL DingTalk gave us (a temporary, OSS-signed download URL). Not a DingTalk API
   * call, so it bypasses the rate budget, but failures go through the same retry decision (5xx and network
   * errors retried when `idempotent`). Throws DingTalkApiError with the HTTP status (403 = URL expired).
   */
  async download(url: string, opts: CallOptions & { maxBytes: number }): Promise<{ bytes: Buffer; contentType: string | undefined }> {
    return this.withRetries(
      opts,
      async () => {
        const res = await this.send<ArrayBuffer>(opts.api, {
          method: 'GET',
          url,
          responseType: 'arraybuffer',
          maxContentLength: opts.maxBytes,
          timeout: opts.timeoutMs ?? this.timeoutMs,
        });
        if (res.status >= 400) throw new DingTalkApiError({ api: opts.api, status: res.status, code: `HTTP${res.status}`, message: 'download failed' });
        const type = res.headers['content-type'];
        return { bytes: Buffer.from(res.data), contentType: typeof type === 'string' ? type : undefined };
      },
      false,
    );
  }

  /** Runs one attempt of a call under the meter (see CallMeter). */
  private async metered<T>(opts: CallOptions, call: () => Promise<T>): Promise<T> {
    const meter = this.meter && quotaMeterOf(opts.api);
    if (!this.meter || !meter) return call();
    if (meter === 'api') this.meter.admit?.(opts.api, opts.reserved ?? false);
    try {
      const result = await call();
      this.meter.counted(meter);
      return result;
    } catch (err) {
      const reached = err instanceof DingTalkApiError ? err.kind !== 'throttled' : err instanceof DingTalkNetworkError && !err.notSent;
      if (reached) this.meter.counted(meter);
      throw err;
    }
  }

  /** One retry decision: refresh the token once on auth errors; back off on throttling and, when safe, on 5xx. */
  private async withRetries<T>(opts: CallOptions, call: () => Promise<T>, gated = true): Promise<T> {
    let refreshed = false;
    const signal = this.stopSignal && opts.signal ? AbortSignal.any([this.stopSignal, opts.signal]) : (this.stopSignal ?? opts.signal);
    for (let attempt = 0; ; attempt++) {
      this.assertRunning(opts.api);
      try {
        return await (gated ? this.gate.run(opts.api, opts.priority ?? false, call, signal) : call());
      } catch (err) {
        // Cancelled while waiting (budget, back-off): never sent. Cancelled in flight: send() said it may have arrived.
        if (signal?.aborted) throw this.stopSignal?.aborted && !(err instanceof DingTalkNetworkError) ? this.stoppedError(opts.api) : err;
        const decision = this.decide(err, opts, attempt, refreshed);
        if (decision === 'rethrow') throw err;
        if (decision === 'refresh') {
          refreshed = true;
          this.token = undefined;
          this.log.info(`access token rejected by ${opts.api}; fetching a new one`);
          continue;
        }
        const delayMs = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]!;
        if (err instanceof DingTalkApiError && err.kind === 'throttled') this.gate.penalize?.(opts.api, delayMs);
        this.log.warn(`${opts.api}: ${(err as Error).message}; retrying in ${delayMs} ms`);
        await this.pause(delayMs);
      }
    }
  }

  /** A retry sleep that ends early (rejecting) when the account stops. */
  private async pause(ms: number): Promise<void> {
    const stop = this.stopSignal;
    if (!stop) return this.sleep(ms);
    await new Promise<void>((resolve, reject) => {
      const onStop = () => reject(this.stoppedError('retry'));
      if (stop.aborted) return onStop();
      stop.addEventListener('abort', onStop, { once: true });
      this.sleep(ms).then(() => {
        stop.removeEventListener('abort', onStop);
        resolve();
      }, reject);
    });
  }

  private assertRunning(api: string): void {
    if (this.stopSignal?.aborted) throw this.stoppedError(api);
  }

  private stoppedError(api: string): DingTalkNetworkError {
    return new DingTalkNetworkError(api, new Error('the account stopped; call cancelled'), false, { notSent: true });
  }

  private decide(err: unknown, opts: CallOptions, attempt: number, refreshed: boolean): 'retry' | 'refresh' | 'rethrow' {
    if (err instanceof DingTalkApiError) {
      if (err.kind === 'auth') return refreshed ? 'rethrow' : 'refresh';
      if (attempt >= (opts.priority ? PRIORITY_RETRIES : RETRIES)) return 'rethrow';
      if (err.kind === 'throttled') return 'retry';
      if (err.kind === 'server' && opts.idempotent) return 'retry';
      return 'rethrow';
    }
    // Never sent (no connection was made): safe to send again. A token fetch that failed in flight is safe to
    // repeat too: the call itself had not gone out yet.
    if (err instanceof DingTalkNetworkError && (err.notSent || err.api === 'oauth2.accessToken') && attempt < RETRIES) return 'retry';
    // Any other network error may have reached DingTalk (a timeout, or a reset even on a reused socket): repeated only
    // when DingTalk ignores a repeat (`idempotent`). Robot sends, sessionWebhook POSTs and card creates are not.
    // A body over the size cap is not a network fault: fetching it again would only fail again.
    if (err instanceof DingTalkNetworkError && opts.idempotent && attempt < RETRIES && !/maxContentLength|maxBodyLength/i.test(err.message)) return 'retry';
    return 'rethrow';
  }

  private async send<T>(api: string, config: AxiosRequestConfig): Promise<AxiosResponse<T>> {
    this.assertRunning(api);
    try {
      return await this.http.request<T>({
        signal: this.stopSignal,
        timeout: this.timeoutMs,
        ...config,
        // HTTPS_PROXY / NO_PROXY (./proxy.ts).
        ...axiosProxyOptions(String(config.url)),
        // No content-type on bodiless requests: signed download URLs may include it in the signature.
        headers: { ...(config.data === undefined ? {} : { 'content-type': 'application/json' }), accept: 'application/json', ...(config.headers as object | undefined) },
        // Statuses are ours to interpret: DingTalk puts its error code in the body.
        validateStatus: () => true,
      });
    } catch (err) {
      // Cancelled in flight: DingTalk may already have acted on the request.
      if (this.stopSignal?.aborted) throw new DingTalkNetworkError(api, new Error('the account stopped; call cancelled in flight'), false);
      const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
      throw new DingTalkNetworkError(api, err, code === 'ECONNABORTED' || code === 'ETIMEDOUT', { notSent: code !== undefined && NOT_SENT_CODES.has(code) });
    }
  }
}

/** Network errors that prove the request never reached DingTalk (no connection was made). */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/*
 * Not in the set: ECONNRESET, even on a reused kept-alive socket. Node's advice (`http.ClientRequest.reusedSocket`)
 * is to retry such a reset, but a proxy, load balancer or a crashing server may read and act on the request and then
 * drop the connection without answering: the reset does not prove the request was never read. Before 2026-12-01 a
 * reused-socket reset counted as "never sent" and was repeated, so robot messages and cards reached the user twice
 * (issue 15, hostile test 1). Such a reset is now ambiguous: counted by the meter, repeated only when `idempotent`.
 * Evidence on what may be repeated (docs/dingtalk-protocol.md §3.3, §3.6, §3.7): `card/streaming` carries a `guid` idempotency
 * key; `PUT card/instances` overwrites the card's data; a second create with the same outTrackId is refused with
 * `400 param.cardAlreadyExist` (not ignored: no way to learn whether the first create delivered the card), and robot
 * sends / sessionWebhook POSTs have no idempotency key at all. A card create that fails ambiguously leaves the card
 * "may exist": the pipeline delivers the answer as a message and `AnswerCard.redirect` closes that card.
 */

interface ApiErrorBody {
  code?: string;
  message?: string;
  requestid?: string;
  accessdenieddetail?: { requiredScopes?: string[] };
}

function apiBody<T>(res: AxiosResponse<T>, api: string): T {
  if (res.status >= 200 && res.status < 300) return res.data;
  const body = (typeof res.data === 'object' && res.data !== null ? res.data : {}) as ApiErrorBody;
  throw new DingTalkApiError({
    api,
    status: res.status,
    code: body.code ?? `HTTP${res.status}`,
    message: body.message ?? (typeof res.data === 'string' ? res.data.slice(0, 200) : 'no error message'),
    requestId: body.requestid ?? headerValue(res, 'x-acs-request-id'),
    requiredScopes: body.accessdenieddetail?.requiredScopes,
  });
}

interface OapiEnvelope {
  errcode?: number;
  errmsg?: string;
  sub_code?: string;
  sub_msg?: string;
  request_id?: string;
}

function oapiBody<T>(res: AxiosResponse<T>, api: string): T {
  const body = (typeof res.data === 'object' && res.data !== null ? res.data : {}) as OapiEnvelope;
  if (res.status >= 200 && res.status < 300 && (body.errcode === undefined || body.errcode === 0)) return res.data;
  if (res.status >= 300 && body.errcode === undefined) return apiBody(res, api);
  // errcode 88 wraps the real auth failure in sub_code (spec §3.1).
  const code = body.errcode === 88 && body.sub_code ? body.sub_code : String(body.errcode ?? `HTTP${res.status}`);
  throw new DingTalkApiError({
    api,
    status: res.status,
    code,
    message: body.sub_msg ?? body.errmsg ?? 'no error message',
    requestId: body.request_id,
  });
}

function headerValue(res: AxiosResponse, name: string): string | undefined {
  const v = res.headers?.[name];
  return typeof v === 'string' ? v : undefined;
}
