/**
 * The Stream-mode connection of one robot: open → ticket → WebSocket (spec §1), ACK every robot callback
 * on receipt, keepalive on, and our own reconnect loop (the SDK's is off: it storms on refused
 * connections and leaves zombies, spec §1.7). Runs until the abort signal fires, then closes for good.
 */
import axios from 'axios';
import { DWClient, type DWClientDownStream } from 'dingtalk-stream';
import { errorMessage, registerSecret, type Logger } from './log.ts';

export const ROBOT_TOPIC = '/v1.0/im/bot/messages/get';
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
const OPEN_TIMEOUT_MS = 15_000;
/** After a SYSTEM disconnect the server closes the old socket within 10 s; keep it that long at most. */
const DRAIN_OLD_SOCKET_MS = 10_000;

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
  /** Called after the frame was ACKed. Must not throw; its promise is not awaited. */
  onRobotMessage: (data: string, messageId: string) => void;
  onStatus?: (status: StreamStatus) => void;
  /** For tests: shorter backoff. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

interface SdkInternals {
  dw_url?: string;
  userDisconnect?: boolean;
  heartbeatIntervallId?: NodeJS.Timeout;
  socket?: { readyState: number; on(ev: string, fn: (...a: unknown[]) => void): void; terminate(): void };
  onDownStream(data: string): void;
  getEndpoint(): Promise<unknown>;
  _connect(): Promise<void>;
}

/** Keeps the robot connected until `signal` aborts. Resolves after the last socket is closed. */
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
  let draining: DWClient | undefined;

  while (!signal.aborted) {
    const client = createClient(opts);
    try {
      await openSocket(client, opts);
    } catch (err) {
      closeClient(client);
      if (signal.aborted) break;
      failures++;
      const delayMs = backoff(failures, minMs, maxMs);
      report({ connected: false, lastError: errorMessage(err), reconnectAttempts: failures });
      log.warn(`stream connection failed (${errorMessage(err)}); retrying in ${Math.round(delayMs / 100) / 10} s`);
      await sleep(delayMs, signal);
      continue;
    }
    if (draining) closeClient(draining);
    draining = undefined;
    failures = 0;
    report({ connected: true, lastConnectedAt: Date.now(), lastError: undefined, reconnectAttempts: 0 });
    log.info('stream connected');

    const reason = await untilClosed(client, signal);
    report({ connected: false, lastDisconnectedAt: Date.now() });
    if (reason === 'server-disconnect' && !signal.aborted) {
      // Reconnect at once and keep the old socket until the new one is open, so nothing in flight is lost.
      log.info('stream: server asked to reconnect; opening a new connection');
      draining = client;
      setTimeout(() => closeClient(client), DRAIN_OLD_SOCKET_MS).unref();
      continue;
    }
    closeClient(client);
    if (signal.aborted) break;
    failures++;
    const delayMs = backoff(failures, minMs, maxMs);
    log.warn(`stream connection closed; reconnecting in ${Math.round(delayMs / 100) / 10} s`);
    await sleep(delayMs, signal);
  }
  if (draining) closeClient(draining);
  log.info('stream stopped');
}

function createClient(opts: StreamOptions): DWClient {
  const client = new DWClient({ clientId: opts.clientId, clientSecret: opts.clientSecret, keepAlive: true, ua: opts.ua });
  // Our loop reconnects; the SDK's own reconnect storms and leaves zombies (spec §1.7).
  client.config.autoReconnect = false;
  // A fresh array: the SDK's default one is shared by every client in the process.
  client.config.subscriptions = [{ type: 'CALLBACK', topic: ROBOT_TOPIC }];
  const sdk = client as unknown as SdkInternals;
  sdk.getEndpoint = () => fetchEndpoint(client, opts);
  const dispatch = sdk.onDownStream.bind(client);
  // The SDK parses frames without a guard: a malformed one would crash the process.
  sdk.onDownStream = (data: string) => {
    let frame: DWClientDownStream;
    try {
      frame = JSON.parse(String(data)) as DWClientDownStream;
    } catch {
      opts.log.warn(`stream: ignored a frame that is not JSON (${String(data).length} bytes)`);
      return;
    }
    if (!frame || typeof frame !== 'object' || !frame.headers || typeof frame.headers !== 'object') {
      opts.log.warn('stream: ignored a frame without headers');
      return;
    }
    if (frame.type === 'SYSTEM' && frame.headers.topic === 'disconnect') client.emit('server-disconnect');
    try {
      dispatch(JSON.stringify(frame));
    } catch (err) {
      opts.log.error(`stream: frame handling failed: ${errorMessage(err)}`);
    }
  };
  client.on(ROBOT_TOPIC, (frame: DWClientDownStream) => onRobotFrame(client, frame, opts));
  return client;
}

function onRobotFrame(client: DWClient, frame: DWClientDownStream, opts: StreamOptions): void {
  const messageId = frame.headers?.messageId;
  if (!messageId) {
    opts.log.warn('stream: robot frame without messageId; cannot ACK, ignored');
    return;
  }
  // ACK before any work, so DingTalk does not push it again while the agent thinks.
  try {
    client.socketCallBackResponse(messageId, null);
  } catch (err) {
    opts.log.warn(`stream: ACK of ${messageId} failed: ${errorMessage(err)}`);
  }
  if (typeof frame.data !== 'string') {
    opts.log.warn(`stream: robot frame ${messageId} has no data; ACKed and dropped`);
    return;
  }
  try {
    opts.onRobotMessage(frame.data, messageId);
  } catch (err) {
    opts.log.error(`stream: handler failed for ${messageId}: ${errorMessage(err)}`);
  }
}

/** Ask for a fresh ticket (every attempt: tickets are single-use, 90 s) at the configured gateway. */
async function fetchEndpoint(client: DWClient, opts: StreamOptions): Promise<DWClient> {
  const res = await axios.post<{ endpoint?: string; ticket?: string; code?: string; message?: string }>(
    opts.gatewayUrl,
    { clientId: opts.clientId, clientSecret: opts.clientSecret, ua: opts.ua, subscriptions: client.config.subscriptions },
    { headers: { Accept: 'application/json', 'Content-Type': 'application/json' }, timeout: OPEN_TIMEOUT_MS, validateStatus: () => true, proxy: false, signal: opts.signal },
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
  (client as unknown as SdkInternals).dw_url = `${res.data.endpoint}?ticket=${encodeURIComponent(res.data.ticket)}`;
  return client;
}

async function openSocket(client: DWClient, opts: StreamOptions): Promise<void> {
  const sdk = client as unknown as SdkInternals;
  await sdk.getEndpoint();
  if (opts.signal.aborted) throw new Error('aborted');
  // Stopping must not wait for a slow WebSocket handshake: the caller terminates the socket.
  await withTimeout(raceAbort(sdk._connect(), opts.signal), OPEN_TIMEOUT_MS, 'WebSocket open timed out');
  if (opts.signal.aborted) throw new Error('aborted');
}

/** Resolves when the socket closes, the server asks us to reconnect, or we are stopped. */
function untilClosed(client: DWClient, signal: AbortSignal): Promise<'closed' | 'server-disconnect' | 'aborted'> {
  const socket = (client as unknown as SdkInternals).socket;
  return new Promise((resolve) => {
    if (!socket || socket.readyState >= 2) return resolve('closed');
    const onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      resolve('closed');
    });
    client.once('server-disconnect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve('server-disconnect');
    });
  });
}

/**
 * Close for good: stop the SDK's heartbeat timer (its own close handler leaves it running) and kill the
 * socket without waiting for a close handshake. Done by hand: the SDK's disconnect() prints to the console.
 */
function closeClient(client: DWClient): void {
  const sdk = client as unknown as SdkInternals;
  sdk.userDisconnect = true;
  if (sdk.heartbeatIntervallId !== undefined) clearInterval(sdk.heartbeatIntervallId);
  sdk.heartbeatIntervallId = undefined;
  const socket = sdk.socket;
  if (socket && socket.readyState !== 3) {
    try {
      socket.terminate();
    } catch {
      // terminate on a CONNECTING socket emits an error the SDK's listener handles
    }
  }
}

/** Exponential with full jitter in [½·d, d]. */
export function backoff(failures: number, minMs: number, maxMs: number): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
  return d / 2 + Math.random() * (d / 2);
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

async function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('aborted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(t));
}
