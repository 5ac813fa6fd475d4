// Stream mode (§1): the gateway-open route on the api host, the ticketed WebSocket listener
// (wss-open-connection role), connection bookkeeping, frame recording and WS-level faults.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { apiError, type Route } from './http-host.ts';
import type { FakeState } from './state.ts';
import type { ConnRecord, FrameRecord } from './types.ts';
import { requestId, uuid } from './util.ts';

export const GATEWAY_PATH = '/v1.0/gateway/connections/open';

/** POST /v1.0/gateway/connections/open on the api host. */
export function gatewayRoute(st: FakeState): Route {
  return {
    method: 'POST', path: GATEWAY_PATH, auth: 'none',
    handle: ({ body }) => {
      const app = st.appByCreds(body?.clientId, body?.clientSecret);
      if (!app) return { status: 401, json: { requestid: requestId(), code: 'authFailed', message: '鉴权失败' } };
      const subs = body.subscriptions;
      if (!Array.isArray(subs) || subs.length === 0) return apiError(400, 'InvalidParameter', 'subscriptions is empty');
      const clean = subs
        .filter((s: unknown): s is { type: string; topic: string } =>
          typeof s === 'object' && s !== null && typeof (s as any).type === 'string' && typeof (s as any).topic === 'string')
        .map((s) => ({ type: s.type, topic: s.topic }));
      const ticket = st.issueTicket(app, clean, typeof body.ua === 'string' ? body.ua : '');
      return { status: 200, json: { endpoint: `${st.wsBase}/connect`, ticket } };
    },
  };
}

interface Live { ws: WebSocket; socket: Duplex; rec: ConnRecord }

export class StreamServer {
  readonly http: http.Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly live = new Map<string, Live>();
  private refuse = { count: 0, status: 503 };
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly connListeners = new Set<() => void>();
  /** Set by the pusher: every upstream frame. */
  onUpstream?: (conn: ConnRecord, frame: FrameRecord) => void;

  private readonly st: FakeState;

  constructor(st: FakeState) {
    this.st = st;
    this.http = http.createServer((req, res) => {
      const status = (req.url ?? '').startsWith('/connect') ? 426 : 404;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: status === 426 ? 'UpgradeRequired' : 'NotFound', message: 'websocket only' }));
    });
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const reject = (status: number, reason: string, appKey?: string): void => {
      this.st.upgrades.push({ at: this.st.now(), status, reason, ...(appKey ? { appKey } : {}) });
      const body = JSON.stringify({ code: status === 401 ? 'invalidTicket' : 'rejected', message: reason });
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      socket.destroy();
    };
    if (url.pathname !== '/connect') return reject(404, 'not found');
    if (this.refuse.count > 0) {
      this.refuse.count--;
      return reject(this.refuse.status, 'upgrade refused by fault');
    }
    const ticket = this.st.useTicket(url.searchParams.get('ticket'));
    if (typeof ticket === 'string') return reject(401, ticket);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.st.upgrades.push({ at: this.st.now(), status: 101, reason: 'ok', appKey: ticket.appKey });
      const rec: ConnRecord = {
        id: uuid(), appKey: ticket.appKey, subscriptions: ticket.subscriptions, ua: ticket.ua,
        openedAt: this.st.now(), open: true, paused: false,
      };
      this.st.conns.push(rec);
      this.live.set(rec.id, { ws, socket, rec });
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString();
        const frame = this.st.recordFrame(rec.id, 'up', text);
        this.onUpstream?.(rec, frame);
      });
      ws.on('close', (code) => {
        rec.open = false;
        rec.closedAt ??= this.st.now();
        rec.closeCode = code;
        this.live.delete(rec.id);
      });
      ws.on('error', () => { /* peer errors end in 'close' */ });
      for (const l of this.connListeners) l();
    });
  }

  /** Open connections, optionally of one app. */
  openConns(appKey?: string): ConnRecord[] {
    return [...this.live.values()].map((l) => l.rec).filter((c) => c.open && (appKey === undefined || c.appKey === appKey));
  }

  /** Calls `fn` whenever a connection opens; returns an unsubscribe function. */
  onConnection(fn: () => void): () => void {
    this.connListeners.add(fn);
    return () => this.connListeners.delete(fn);
  }

  /** Sends a frame (object → JSON, string → as is) and records it. */
  send(connId: string, frame: unknown): void {
    const l = this.live.get(connId);
    if (!l) throw new Error(`fake-dingtalk: connection ${connId} is not open`);
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    this.st.recordFrame(connId, 'down', text);
    l.ws.send(text);
  }

  private targets(connId?: string): Live[] {
    if (connId === undefined) return [...this.live.values()];
    const l = this.live.get(connId);
    return l ? [l] : [];
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
  }

  /** terminate() and mark the record closed at once (the 'close' event adds closeCode later). */
  private kill(l: Live): void {
    l.rec.open = false;
    l.rec.closedAt ??= this.st.now();
    this.live.delete(l.rec.id);
    l.ws.terminate();
  }

  // ---- WS faults ----

  /** Kills the TCP connection without a close frame (client sees 1006). Returns how many were dropped. */
  drop(connId?: string): number {
    const ts = this.targets(connId);
    for (const l of ts) this.kill(l);
    return ts.length;
  }

  /** Closes with a close frame. */
  close(code = 1000, connId?: string): number {
    const ts = this.targets(connId);
    for (const l of ts) l.ws.close(code);
    return ts.length;
  }

  /** SYSTEM disconnect frame (no messageId, §1.4), then the server closes the TCP connection after closeAfterMs. */
  sendDisconnect(o: { closeAfterMs?: number; connId?: string } = {}): number {
    const ts = this.targets(o.connId);
    for (const l of ts) {
      this.send(l.rec.id, {
        specVersion: '1.0', type: 'SYSTEM',
        headers: { topic: 'disconnect', contentType: 'application/json' },
        data: JSON.stringify({ reason: 'connection is expired' }),
      });
      this.later(o.closeAfterMs ?? 10_000, () => { if (l.rec.open) this.kill(l); });
    }
    return ts.length;
  }

  /** Half-open: the server stops reading (no pongs, no ACKs seen) until resume(). */
  pause(connId?: string): number {
    const ts = this.targets(connId);
    for (const l of ts) { l.socket.pause(); l.rec.paused = true; }
    return ts.length;
  }

  resume(connId?: string): number {
    const ts = this.targets(connId);
    for (const l of ts) { l.socket.resume(); l.rec.paused = false; }
    return ts.length;
  }

  /** The next n upgrade attempts are answered `status` (default 503) before the ticket is looked at. */
  refuseUpgrades(n: number, status = 503): void {
    this.refuse = { count: n, status };
  }

  async shutdown(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const l of [...this.live.values()]) this.kill(l);
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
