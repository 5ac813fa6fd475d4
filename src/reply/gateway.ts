/**
 * ReplyEngine over the gateway's OpenAI-compatible `POST /v1/chat/completions` with `stream: true`.
 * A token accepted there is full operator access: every turn sent this way runs as the gateway's owner.
 */
import { SseParser } from '../sse.ts';
import { ReplyError, type ReplyEngine, type ReplyErrorKind, type ReplyRequest } from './engine.ts';
import { registerSecret, type Logger } from '../log.ts';

export interface GatewayEngineOptions {
  url: string;
  /** Bearer credential: the gateway token or password. */
  credential: string | undefined;
  /** e.g. `openclaw:main`: picks the agent. */
  model: string;
  /** Header(s) that set the host's session key exactly. */
  sessionHeaders: string[];
  /**
   * Put before every session key, e.g. `agent:main:` (HostFlavor.sessionKeyPrefix): OpenClaw 2026.9.6 with more than
   * one agent answers an unscoped key with AgentSelectionRequiredError ("session agent resolution has no explicit
   * owner … Pass an agentId, an agent-scoped session key …"), whatever the model names (seen in the e2e suite).
   */
  sessionKeyPrefix?: string;
  /** Longest silence allowed before the first byte and between chunks. */
  idleTimeoutMs: number;
  /** Where skipped (unreadable) stream lines are reported. */
  log?: Pick<Logger, 'warn'>;
  fetch?: typeof fetch;
}

interface ChatChunk {
  choices?: Array<{ delta?: { content?: string | null }; message?: { content?: string | null }; finish_reason?: string | null }>;
  error?: { message?: string } | string;
}

type UserContent = string | Array<{ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } }>;

export class GatewayEngine implements ReplyEngine {
  readonly name = 'gateway';
  private readonly opts: GatewayEngineOptions;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: GatewayEngineOptions) {
    this.opts = opts;
    this.fetchImpl = opts.fetch ?? fetch;
    registerSecret(opts.credential);
  }

  async *reply(req: ReplyRequest): AsyncIterable<string> {
    const idle = new IdleTimer(this.opts.idleTimeoutMs, req.signal);
    try {
      const res = await this.post(req, idle.signal);
      const type = res.headers.get('content-type') ?? '';
      if (!type.includes('text/event-stream')) {
        // A gateway that ignores `stream` answers with one JSON body.
        const body = (await res.json().catch(() => ({}))) as ChatChunk;
        const text = body.choices?.[0]?.message?.content;
        if (typeof text !== 'string') throw new ReplyError('failed', 'gateway answered without content');
        yield text;
        return;
      }
      if (!res.body) throw new ReplyError('failed', 'gateway answered with an empty stream');
      const parser = new SseParser();
      let finished = false;
      const read = (ev: { event: string; data: string }): string | typeof DONE | undefined => {
        const r = parseEvent(ev.event, ev.data);
        if (r === SKIP) {
          this.opts.log?.warn(`gateway sent an unreadable stream event; skipped: ${ev.data.trim().slice(0, 120)}`);
          return undefined;
        }
        if (r === DONE) return DONE;
        if (r.finished) finished = true;
        return r.delta;
      };
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        idle.touch();
        for (const ev of parser.push(chunk)) {
          const delta = read(ev);
          if (delta === DONE) return;
          if (delta) yield delta;
        }
      }
      for (const ev of parser.end()) {
        const delta = read(ev);
        if (delta === DONE) return;
        if (delta) yield delta;
      }
      // Without [DONE] a finish_reason still says the answer is complete; without either it was cut off.
      if (!finished) throw new ReplyError('cut', 'gateway stream ended without [DONE] or finish_reason');
    } catch (err) {
      throw toReplyError(err, idle, req.signal, this.opts.url);
    } finally {
      idle.stop();
    }
  }

  private async post(req: ReplyRequest, signal: AbortSignal): Promise<Response> {
    const content: UserContent = req.images.some((i) => i.base64)
      ? [
          { type: 'text', text: req.text },
          ...req.images.filter((i) => i.base64).map((i) => ({ type: 'image_url' as const, image_url: { url: `data:${i.mimeType};base64,${i.base64}` } })),
        ]
      : req.text;
    const body = {
      model: this.opts.model,
      stream: true,
      user: `${this.opts.sessionKeyPrefix ?? ''}${req.sessionKey}`,
      messages: [...req.systemPrompts.map((p) => ({ role: 'system', content: p })), { role: 'user', content }],
    };
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.opts.credential) headers.authorization = `Bearer ${this.opts.credential}`;
    for (const h of this.opts.sessionHeaders) headers[h] = body.user;
    const res = await this.fetchImpl(this.opts.url, { method: 'POST', headers, body: JSON.stringify(body), signal });
    if (res.ok) return res;
    const detail = gatewayErrorDetail(await res.text().catch(() => ''));
    throw new ReplyError(statusKind(res.status, detail, this.opts.url), `gateway answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`, { status: res.status, detail });
  }
}

const DONE = Symbol('done');
const SKIP = Symbol('skip');

/**
 * Errors OpenClaw gives when the agent has no usable model (its messages: `No model configured for agent <id>.`,
 * `No API key found for provider "<p>".`, `Unknown model: <p>/<m>`, `No models available.`).
 */
const NO_MODEL = /No model configured|No API key found for provider|Unknown model:|No models available/i;

/**
 * What an HTTP error status means here. A 404 on `…/v1/chat/completions` is the endpoint switched off (OpenClaw
 * 2026.9.6 answers 404 there, older hosts 405); on any other path the URL is wrong.
 */
export function statusKind(status: number, detail: string | undefined, url: string): ReplyErrorKind {
  if (status === 401 || status === 403) return 'unauthorized';
  if (detail && NO_MODEL.test(detail)) return 'no-model';
  if (status === 405) return 'endpoint-disabled';
  if (status === 404) return new URL(url).pathname.replace(/\/+$/, '').endsWith('/v1/chat/completions') ? 'endpoint-disabled' : 'not-found';
  if (status === 400) return 'rejected';
  return 'failed';
}

/** One event: DONE, SKIP (not JSON: skipped, not fatal), or its text delta and whether it carried a finish_reason. */
function parseEvent(event: string, data: string): { delta: string | undefined; finished: boolean } | typeof DONE | typeof SKIP {
  const trimmed = data.trim();
  if (trimmed === '[DONE]') return DONE;
  if (trimmed === '') return { delta: undefined, finished: false };
  let chunk: ChatChunk;
  try {
    chunk = JSON.parse(trimmed) as ChatChunk;
  } catch {
    return SKIP;
  }
  if (event === 'error' || chunk.error) {
    const msg = typeof chunk.error === 'string' ? chunk.error : (chunk.error?.message ?? trimmed.slice(0, 200));
    throw new ReplyError(NO_MODEL.test(msg) ? 'no-model' : 'failed', `gateway reported an error: ${msg}`, { detail: msg });
  }
  const choice = typeof chunk === 'object' && chunk !== null ? chunk.choices?.[0] : undefined;
  const delta = choice?.delta?.content ?? choice?.message?.content;
  return { delta: typeof delta === 'string' && delta.length > 0 ? delta : undefined, finished: !!choice?.finish_reason };
}

/**
 * The gateway's own error message from a response body: `error.message`, `error` or `message` of a JSON body, else the
 * trimmed text; at most 300 characters. For logs and the doctor only, never for chat members (it may echo secrets).
 */
export function gatewayErrorDetail(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } | string; message?: string };
    const msg = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (msg) return msg.slice(0, 300);
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 300) || undefined;
}

function toReplyError(err: unknown, idle: IdleTimer, outer: AbortSignal, url: string): unknown {
  if (err instanceof ReplyError) return err;
  if (idle.timedOut) return new ReplyError('timeout', `gateway sent nothing for ${Math.round(idle.timeoutMs / 1000)} s`);
  if (outer.aborted) return err;
  const code = networkCode(err);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
    // detail is the cause alone: the user text already says the gateway could not be reached, and names no address.
    return new ReplyError('unreachable', `gateway at ${new URL(url).host} unreachable (${code})`, { cause: err, detail: code });
  }
  const reason = `${err instanceof Error ? err.message : String(err)}${code ? ` (${code})` : ''}`;
  // The response had started (fetch only throws "terminated" on the body): the connection broke mid-answer.
  const broken = code?.startsWith('UND_ERR_') || code === 'ECONNRESET' || code === 'EPIPE' || (err instanceof TypeError && err.message === 'terminated');
  return new ReplyError(broken ? 'cut' : 'failed', `gateway request failed: ${reason}`, { cause: err, detail: reason });
}

/** The first system or undici code (ECONNREFUSED, UND_ERR_SOCKET, …) on an error or its causes, for logs and failure kinds. */
export function networkCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Aborts when no byte arrived for `timeoutMs`, or when the outer signal aborts (stop, stop word, or the pipeline's
 * whole-answer deadline `answerTimeout`, which keep-alive comments do not extend).
 */
class IdleTimer {
  readonly timeoutMs: number;
  timedOut = false;
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onOuterAbort = () => this.controller.abort();
  private readonly outer: AbortSignal;

  constructor(timeoutMs: number, outer: AbortSignal) {
    this.timeoutMs = timeoutMs;
    this.outer = outer;
    if (outer.aborted) this.controller.abort();
    outer.addEventListener('abort', this.onOuterAbort, { once: true });
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.timeoutMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.outer.removeEventListener('abort', this.onOuterAbort);
  }
}
