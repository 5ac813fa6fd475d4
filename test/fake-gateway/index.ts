/**
 * A fake of the gateway's OpenAI-compatible endpoint on 127.0.0.1: checks the bearer credential,
 * records every request, and answers with scripted SSE streams or error statuses.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  headers: IncomingMessage['headers'];
  body: {
    model?: string;
    stream?: boolean;
    user?: string;
    messages?: Array<{ role: string; content: unknown }>;
  };
}

export type Reply =
  | {
      kind: 'stream';
      deltas: string[];
      delayMs?: number;
      done?: boolean;
      crlf?: boolean;
      /**
       * Pacing of `delayMs`: 'after' (default) waits after every piece, [DONE] included; 'between' writes delta i
       * at firstDelta + i × delayMs (no timer drift) and [DONE] right after the last delta: a steady token rate.
       */
      pace?: 'after' | 'between';
      /** Wait this long after the headers before the first delta (time to first token). */
      firstDelayMs?: number;
      /** The last delta's chunk carries this `finish_reason` (as OpenAI-compatible servers do before [DONE]). */
      finishReason?: string;
      /** After the deltas, cut the TCP connection (no [DONE], no orderly end). */
      cut?: boolean;
    }
  | { kind: 'raw'; chunks: string[]; delayMs?: number; cut?: boolean }
  | { kind: 'status'; status: number; body?: unknown }
  | { kind: 'hang' };

/** performance.now() times of one streamed reply, for latency measurements (same clock as fake-dingtalk `mono`). */
export interface ReplyTiming {
  /** The request was answered (headers written). */
  start: number;
  /** Just before the first / last delta was written (stream replies only). */
  firstDelta?: number;
  lastDelta?: number;
  /** The response ended. */
  end?: number;
}

export interface FakeGateway {
  url: string;
  requests: RecordedRequest[];
  /** By request index, like `requests` (undefined for requests answered with a status or not at all). */
  timings: Array<ReplyTiming | undefined>;
  /** Decides the reply to each request; default streams `Echo: <user text>` in small pieces. */
  respond: (req: RecordedRequest, index: number) => Reply;
  close(): Promise<void>;
}

export function lastUserText(req: RecordedRequest): string {
  const user = [...(req.body.messages ?? [])].reverse().find((m) => m.role === 'user');
  if (!user) return '';
  if (typeof user.content === 'string') return user.content;
  if (Array.isArray(user.content)) return user.content.map((p: { text?: string }) => p.text ?? '').join('');
  return '';
}

export function chunkText(text: string, size = 4): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export async function startFakeGateway(opts: { token?: string } = {}): Promise<FakeGateway> {
  const sockets = new Set<import('node:net').Socket>();
  const gw: FakeGateway = {
    url: '',
    requests: [],
    timings: [],
    respond: (req) => ({ kind: 'stream', deltas: chunkText(`Echo: ${lastUserText(req)}`) }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return json(res, 404, { error: { message: 'Not Found' } });
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return json(res, 401, { error: { message: 'Unauthorized', type: 'unauthorized' } });
    let body: RecordedRequest['body'];
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return json(res, 400, { error: { message: 'invalid JSON' } });
    }
    const recorded = { headers: req.headers, body };
    gw.requests.push(recorded);
    const index = gw.requests.length - 1;
    const reply = gw.respond(recorded, index);
    if (reply.kind === 'hang') return;
    if (reply.kind === 'status' && typeof reply.body === 'string') {
      // A string body is sent as an HTML page (what a proxy in front of the gateway answers).
      res.writeHead(reply.status, { 'content-type': 'text/html' });
      return void res.end(reply.body);
    }
    if (reply.kind === 'status') return json(res, reply.status, reply.body ?? { error: { message: `status ${reply.status}` } });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const timing: ReplyTiming = { start: performance.now() };
    gw.timings[index] = timing;
    const deltaCount = reply.kind === 'stream' ? reply.deltas.length : 0;
    const between = reply.kind === 'stream' && reply.pace === 'between';
    if (reply.kind === 'stream' && reply.firstDelayMs) await new Promise((r) => setTimeout(r, reply.firstDelayMs));
    const wire =
      reply.kind === 'raw'
        ? reply.chunks
        : [
            ...reply.deltas.map(
              (d, i) =>
                `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: d }, ...(reply.finishReason && i === reply.deltas.length - 1 ? { finish_reason: reply.finishReason } : {}) }] })}\n\n`,
            ),
            ...(reply.done === false || reply.cut ? [] : ['data: [DONE]\n\n']),
          ].map((s) => (reply.crlf ? s.replace(/\n/g, '\r\n') : s));
    for (const [i, piece] of wire.entries()) {
      if (between && i > 0 && i < deltaCount && reply.delayMs) {
        const wait = timing.firstDelta! + i * reply.delayMs - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      if (res.destroyed) return;
      if (i < deltaCount) {
        const now = performance.now();
        timing.firstDelta ??= now;
        timing.lastDelta = now;
      }
      res.write(piece);
      if (!between && reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    }
    if (reply.cut) {
      // Let the written pieces leave first, then break the connection without an orderly end.
      await new Promise((r) => setTimeout(r, 20));
      res.socket?.destroy();
      return;
    }
    res.end();
    timing.end = performance.now();
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  gw.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  return gw;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
