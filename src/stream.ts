/**
 * The Stream-mode connection of one robot: open → ticket → WebSocket (spec §1), ACK every frame that carries a
 * messageId on receipt, a ping heartbeat, and a reconnect loop. Runs until the abort signal fires, then closes.
 *
 * Written on `ws` directly rather than on the `dingtalk-stream` SDK: the protocol is small (§1.2–1.5), and the SDK
 * (2.1.5, the last published) storms and leaves zombies on reconnect, crashes on a throwing listener, dispatches
 * CALLBACK frames by emitting their topic on itself (so a CALLBACK with topic `error` or `server-disconnect` is
 * an EventEmitter event), never ACKs callbacks it cannot parse, and prints to the console with the ticket in the
 * URL (spec §1.7; dist/client.mjs `_connect`, `onDownStream`). Every line here goes through `src/log.ts`.
 */
import axios from 'axios';
import WebSocket from 'ws';
import { axiosProxyOptions, proxyAgentFor } from './dingtalk/proxy.ts';
import { errorMessage, registerSecret, type Logger } from './log.ts';
import { readFrame, ROBOT_TOPIC } from './stream-frame.ts';

export { ROBOT_TOPIC };
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
const OPEN_TIMEOUT_MS = 15_000;
/** Client ping interval; a socket without a pong by the next tick is dead (the SDK's keepAlive value, spec §1.7). */
const HEARTBEAT_MS = 8_000;
/**
 * After a SYSTEM `disconnect` the server closes the old socket after 10 s (PEDIA protocol.md:337-355, spec §1.4)
 * and may still push on it until then: keep reading it that long, plus a margin, unless the server closes first.
 */
const DRAIN_OLD_SOCKET_MS = 15_000;

export interface StreamStatus {
  connected: boolean;
  lastConnectedAt?: number;
  lastDisconnectedAt?: number;
  lastError?: string;
  reconnectAttempts: number;
}

export interface StreamOptions {
  clientId: string;
  clientSecret: string;
  /** `POST` endpoint that issues tickets (`…/v1.0/gateway/connections/open`). */
  gatewayUrl: string;
  ua: string;
  log: Logger;
  signal: AbortSignal;
  /** Called after the frame was ACKed, on whichever socket it came. Must not throw; its promise is not awaited. */
  onRobotMessage: (data: string, messageId: string) => void;
  onStatus?: (status: StreamStatus) => void;
  /** For tests: shorter backoff, heartbeat and drain. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  heartbeatMs?: number;
  drainMs?: number;
}

/** One open WebSocket. `ended` resolves when it is closed (by either side); `disconnect` when DingTalk asked to reconnect. */
interface Socket {
  ws: WebSocket;
  /** Epoch ms of the WebSocket's open event: before any frame it delivers (the status's `lastConnectedAt`). */
  openedAt: number;
  ended: Promise<void>;
  disconnect: Promise<string>;
  close(): void;
}

/** Keeps the robot connected until `signal` aborts. Resolves after every socket is closed. */
export async function runStream(opts: StreamOptions): Promise<void> {
  const { log, signal } = opts;
  registerSecret(opts.clientSecret);
  const minMs = opts.backoffMinMs ?? BACKOFF_MIN_MS;
  const maxMs = opts.backoffMaxMs ?? BACKOFF_MAX_MS;
  const status: StreamStatus = { connected: false, reconnectAttempts: 0 };
  const report = (patch: Partial<StreamStatus>) => {
    Object.assign(status, patch);
    opts.onStatus?.({ ...status });
  };
  let failures = 0;
  /** Sockets DingTalk asked us to leave: still read (and ACKed) until the server closes them. */
  const draining = new Set<Socket>();

  while (!signal.aborted) {
    let socket: Socket;
    try {
      socket = await openSocket(opts);
    } catch (err) {
      if (signal.aborted) break;
      failures++;
      const delayMs = backoff(failures, minMs, maxMs);
      report({ connected: false, lastError: errorMessage(err), reconnectAttempts: failures });
      log.warn(`stream connection failed (${errorMessage(err)}); retrying in ${Math.round(delayMs / 100) / 10} s`);
      await sleep(delayMs, signal);
      continue;
    }
    failures = 0;
    // The open event's time: a message in the same read as the handshake is handled before this line runs.
    report({ connected: true, lastConnectedAt: socket.openedAt, lastError: undefined, reconnectAttempts: 0 });
    log.info('stream connected');

    const stop = onAborted(signal);
    const reason = await Promise.race([
      socket.ended.then(() => ({ kind: 'closed' as const })),
      socket.disconnect.then((why) => ({ kind: 'disconnect' as const, why })),
      stop.promise.then(() => ({ kind: 'aborted' as const })),
    ]);
    stop.off();
    report({ connected: false, lastDisconnectedAt: Date.now() });
    if (reason.kind === 'aborted') {
      socket.close();
      break;
    }
    if (reason.kind === 'disconnect') {
      // Reconnect at once; frames the server still pushes on the old socket are ACKed and handled meanwhile.
      log.info(`stream: DingTalk asked to reconnect (${reason.why}); opening a new connection, reading the old one until it closes`);
      draining.add(socket);
      const timer = setTimeout(() => socket.close(), opts.drainMs ?? DRAIN_OLD_SOCKET_MS);
      void socket.ended.then(() => {
        clearTimeout(timer);
        draining.delete(socket);
      });
      continue;
    }
    failures++;
    const delayMs = backoff(failures, minMs, maxMs);
    log.warn(`stream connection closed; reconnecting in ${Math.round(delayMs / 100) / 10} s`);
    await sleep(delayMs, signal);
  }
  for (const s of draining) s.close();
  await Promise.all([...draining].map((s) => s.ended));
  log.info('stream stopped');
}

/** Ask for a fresh ticket (every attempt: tickets are single-use, 90 s, §1.1) and open the WebSocket. */
async function openSocket(opts: StreamOptions): Promise<Socket> {
  const url = await fetchEndpoint(opts);
  if (opts.signal.aborted) throw new Error('aborted');
  return connect(url, opts);
}

async function fetchEndpoint(opts: StreamOptions): Promise<string> {
  const { endpoint, ticket } = await requestStreamTicket(opts);
  return `${endpoint}?ticket=${encodeURIComponent(ticket)}`;
}

/**
 * Registers a Stream connection (spec §1.1): `POST …/v1.0/gateway/connections/open` → `{endpoint, ticket}`, through
 * HTTPS_PROXY when one applies (src/dingtalk/proxy.ts). Throws an Error naming the fix on authFailed or a DingTalk
 * error code; network failures keep their `code` (ECONNREFUSED, ENOTFOUND, …). `doctor` calls it on its own.
 */
export async function requestStreamTicket(opts: { gatewayUrl: string; clientId: string; clientSecret: string; ua: string; signal?: AbortSignal }): Promise<{ endpoint: string; ticket: string }> {
  const res = await axios.post<{ endpoint?: string; ticket?: string; code?: string; message?: string }>(
    opts.gatewayUrl,
    { clientId: opts.clientId, clientSecret: opts.clientSecret, ua: opts.ua, subscriptions: [{ type: 'CALLBACK', topic: ROBOT_TOPIC }] },
    { headers: { Accept: 'application/json', 'Content-Type': 'application/json' }, timeout: OPEN_TIMEOUT_MS, validateStatus: () => true, signal: opts.signal, ...axiosProxyOptions(opts.gatewayUrl) },
  );
  if (res.status === 401 || res.data?.code === 'authFailed') {
    throw new Error('DingTalk rejected clientId/clientSecret (authFailed): check channels.dingtalk-ai.clientId and clientSecret');
  }
  if (res.status !== 200 || !res.data?.endpoint || !res.data.ticket) {
    const raw: unknown = res.data;
    const detail = res.data?.code ? `${res.data.code}: ${res.data.message ?? ''}` : typeof raw === 'string' ? raw.slice(0, 120) : '';
    throw new Error(`stream gateway answered HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
  }
  registerSecret(res.data.ticket);
  return { endpoint: res.data.endpoint, ticket: res.data.ticket };
}

/**
 * Opens one WebSocket and wires it: every frame is answered on this socket (§1.5), robot messages go to
 * `onRobotMessage`, a ping heartbeat terminates a silent peer. Rejects when the handshake fails, times out
 * (`OPEN_TIMEOUT_MS`) or the signal aborts; the socket is then already gone.
 */
function connect(url: string, opts: StreamOptions): Promise<Socket> {
  const { log, signal } = opts;
  return new Promise<Socket>((resolve, reject) => {
    // Through HTTPS_PROXY too, when one applies to the endpoint's host.
    const agent = proxyAgentFor(url.replace(/^ws/, 'http'));
    const ws = new WebSocket(url, { handshakeTimeout: OPEN_TIMEOUT_MS, ...(agent ? { agent } : {}) });
    let opened = false;
    let heartbeat: NodeJS.Timeout | undefined;
    let alive = true;
    let onDisconnect: (reason: string) => void = () => {};
    const disconnect = new Promise<string>((r) => (onDisconnect = r));
    let onEnded: () => void = () => {};
    const ended = new Promise<void>((r) => (onEnded = r));
    const close = () => {
      clearInterval(heartbeat);
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    };
    const onAbort = () => close();
    signal.addEventListener('abort', onAbort, { once: true });
    const failOpen = (err: Error) => {
      if (opened) return;
      opened = true; // settled
      signal.removeEventListener('abort', onAbort);
      close();
      reject(signal.aborted ? new Error('aborted') : err);
    };
    const send = (text: string, what: string) =>
      ws.send(text, (err) => {
        if (err) log.warn(`stream: could not send the ${what}: ${errorMessage(err)}`);
      });

    ws.on('error', (err) => (opened ? log.debug(`stream socket error: ${errorMessage(err)}`) : failOpen(err)));
    ws.on('close', () => {
      clearInterval(heartbeat);
      failOpen(new Error('WebSocket closed during the handshake'));
      onEnded();
    });
    ws.on('open', () => {
      opened = true;
      signal.removeEventListener('abort', onAbort);
      heartbeat = setInterval(() => {
        if (!alive) {
          log.warn('stream: no pong within the heartbeat interval; dropping the connection');
          return close();
        }
        alive = false;
        ws.ping();
      }, opts.heartbeatMs ?? HEARTBEAT_MS);
      heartbeat.unref();
      resolve({ ws, openedAt: Date.now(), ended, disconnect, close });
    });
    ws.on('pong', () => (alive = true));
    ws.on('message', (raw, isBinary) => {
      const text = isBinary ? Buffer.from(raw as Buffer).toString('utf8') : raw.toString();
      const frame = readFrame(text);
      switch (frame.kind) {
        case 'robot':
          // ACK before any work, so DingTalk does not push it again while the agent thinks (§1.6).
          send(frame.reply, `ACK of ${frame.messageId}`);
          try {
            opts.onRobotMessage(frame.data, frame.messageId);
          } catch (err) {
            log.error(`stream: handler failed for ${frame.messageId}: ${errorMessage(err)}`);
          }
          return;
        case 'ping':
          send(frame.reply, 'ping echo');
          return;
        case 'disconnect':
          onDisconnect(frame.reason);
          return;
        case 'ack':
          send(frame.reply, `ACK of ${frame.messageId}`);
          log.warn(`stream: ACKed and dropped ${frame.messageId}: ${frame.why}`);
          return;
        case 'ignore':
          if (frame.quiet) log.debug(`stream: ignored a ${frame.why}`);
          else log.warn(`stream: ignored a ${frame.why}`);
          return;
      }
    });
  });
}

/** Exponential with full jitter in [½·d, d]. */
export function backoff(failures: number, minMs: number, maxMs: number): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
  return d / 2 + Math.random() * (d / 2);
}

/** Resolves when the signal aborts; `off` removes the listener (the signal lives longer than one wait). */
function onAborted(signal: AbortSignal): { promise: Promise<void>; off(): void } {
  let off = () => {};
  const promise = new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const fn = () => resolve();
    signal.addEventListener('abort', fn, { once: true });
    off = () => signal.removeEventListener('abort', fn);
  });
  return { promise, off: () => off() };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
