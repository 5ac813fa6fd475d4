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
  | { kind: 'stream'; deltas: string[]; delayMs?: number; done?: boolean; crlf?: boolean }
  | { kind: 'raw'; chunks: string[]; delayMs?: number }
  | { kind: 'status'; status: number; body?: unknown }
  | { kind: 'hang' };

export interface FakeGateway {
  url: string;
  requests: RecordedRequest[];
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
    const reply = gw.respond(recorded, gw.requests.length - 1);
    if (reply.kind === 'hang') return;
    if (reply.kind === 'status') return json(res, reply.status, reply.body ?? { error: { message: `status ${reply.status}` } });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const wire =
      reply.kind === 'raw'
        ? reply.chunks
        : [
            ...reply.deltas.map((d) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: d } }] })}\n\n`),
            ...(reply.done === false ? [] : ['data: [DONE]\n\n']),
          ].map((s) => (reply.crlf ? s.replace(/\n/g, '\r\n') : s));
    for (const piece of wire) {
      if (res.destroyed) return;
      res.write(piece);
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    }
    res.end();
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  gw.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  return gw;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
