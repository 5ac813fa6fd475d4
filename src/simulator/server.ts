/**
 * `npm start`: a local DingTalk simulator, all on 127.0.0.1.
 *
 * - the project's fake DingTalk (test/fake-dingtalk: Stream gateway, WebSocket, REST api/oapi hosts);
 * - the real account monitor (`monitorAccount`: Stream client → pipeline → AI card → REST client), the very code a
 *   host runs, pointed at the fake;
 * - an answer source: the gateway given with `gatewayUrl`, or the built-in echo model (./echo-model.ts), reached
 *   over HTTP through the plugin's GatewayEngine either way;
 * - a web page that looks like a DingTalk chat (./page/), updated live over Server-Sent Events.
 *
 * Everything the simulator writes lives in one temp folder, removed by `close()`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertUsable, resolveAccount } from '../config.ts';
import { OPENCLAW, type HostFlavor } from '../host.ts';
import { createLogger, errorMessage } from '../log.ts';
import { monitorAccount } from '../monitor.ts';
import { AppBudget } from '../dingtalk/budget.ts';
import type { StreamStatus } from '../stream.ts';
import { startFakeDingTalk, type FakeDingTalk, type MsgOptions, type RobotMessage } from '../../test/fake-dingtalk/index.ts';
import { startEchoModel } from './echo-model.ts';
import { SimulatorFaults, type FaultName } from './faults.ts';
import { ChatView, GROUP, SENDERS, dmKey, type ChatItem, type ViewEvent } from './view.ts';

export interface SimulatorOptions {
  /** Port of the web page (default 0: any free port). */
  port?: number;
  /** An OpenAI-compatible `/v1/chat/completions` URL to answer with instead of the echo model. */
  gatewayUrl?: string;
  /** Bearer credential for `gatewayUrl`. */
  gatewayToken?: string;
  /** Which host the plugin believes it runs in (default OpenClaw: pictures go to the model as image parts). */
  host?: HostFlavor;
  /** Echo model: pause between two tokens, in ms. */
  tokenDelayMs?: number;
  /** Shortest time between two card updates, in ms (default: the plugin's own, about 2 s). */
  cardIntervalMs?: number;
  /** Where the temp folder is created (default the OS temp folder). */
  tempParent?: string;
  /** Where the plugin's log lines go (default the console). */
  print?: (line: string) => void;
}

export interface Simulator {
  /** The page, e.g. `http://127.0.0.1:8780/`. */
  readonly url: string;
  /** Everything written while running; gone after close(). */
  readonly tempDir: string;
  readonly fake: FakeDingTalk;
  /** Stop the monitor, the servers and the page's event streams, and remove the temp folder. Idempotent. */
  close(): Promise<void>;
}

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'page');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: join(PAGE_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { file: join(PAGE_DIR, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: join(PAGE_DIR, 'style.css'), type: 'text/css; charset=utf-8' },
  // marked: the page's markdown renderer, served from node_modules (no front-end build step).
  '/vendor/marked.js': { file: join(dirname(createRequire(import.meta.url).resolve('marked/package.json')), 'lib', 'marked.esm.js'), type: 'text/javascript; charset=utf-8' },
};
const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
const LOG_KEEP = 300;

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const tempDir = await mkdtemp(join(opts.tempParent ?? tmpdir(), 'dingtalk-sim-'));
  const cleanups: Array<() => Promise<void> | void> = [() => rm(tempDir, { recursive: true, force: true })];
  const close = async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()!();
      } catch (err) {
        print(`[simulator] cleanup: ${errorMessage(err)}`);
      }
    }
  };
  try {
    const mediaDir = join(tempDir, 'answers');
    await mkdir(mediaDir);
    const clientSecret = randomBytes(12).toString('hex');
    const fake = await startFakeDingTalk({ apps: [{ appKey: 'dingSIMULATOR', appSecret: clientSecret, botName: '钉钉助手' }], redelivery: { afterMs: 60_000 } });
    cleanups.push(() => fake.close());
    const echo = opts.gatewayUrl ? undefined : await startEchoModel({ mediaDir, tokenDelayMs: opts.tokenDelayMs });
    if (echo) cleanups.push(() => echo.close());
    const view = new ChatView(fake);
    cleanups.push(() => view.close());
    const faults = new SimulatorFaults(fake, echo);
    const live = new LiveFeed();
    view.subscribe((e) => live.send(e.type, payloadOf(e)));

    // The plugin, exactly as a host runs it.
    const logs: string[] = [];
    const logLine = (level: string) => (m: string) => {
      const line = `${new Date().toISOString().slice(11, 23)} ${level} ${m}`;
      logs.push(line);
      if (logs.length > LOG_KEEP) logs.shift();
      live.send('log', { line });
      view.noteLog(m);
      print(m);
    };
    const account = resolveAccount(
      {
        channels: {
          'dingtalk-ai': {
            clientId: 'dingSIMULATOR',
            clientSecret,
            gatewayUrl: opts.gatewayUrl ?? echo!.url,
            ...(opts.gatewayUrl ? (opts.gatewayToken ? { gatewayToken: opts.gatewayToken } : {}) : { gatewayToken: randomBytes(8).toString('hex') }),
            apiBaseUrl: fake.apiBase,
            oapiBaseUrl: fake.oapiBase,
            mediaRoots: [tempDir],
            // Who may talk to the robot, as a real account would say it.
            allowFrom: SENDERS.filter((s) => s.allowed).map((s) => s.staffId),
            groupAllowFrom: [GROUP.conversationId],
          },
        },
      },
      'default',
      {},
    );
    // A bad --gateway-url and the like: one clear error now, not a monitor that stops in the background.
    assertUsable(account);
    let status: StreamStatus = { connected: false, reconnectAttempts: 0 };
    const controller = new AbortController();
    const running = monitorAccount({
      account,
      host: opts.host ?? OPENCLAW,
      log: createLogger({ info: logLine('INFO'), warn: logLine('WARN'), error: logLine('ERROR') }).child('simulator'),
      signal: controller.signal,
      defaultStateDir: tempDir,
      cardIntervalMs: opts.cardIntervalMs,
      // Its own app budget and call governor: the simulated DingTalk is this simulator's, not the process's.
      budget: new AppBudget(),
      backoffMinMs: 300,
      onStatus: (s) => {
        status = s;
        live.send('status', s);
      },
    }).catch((err: unknown) => print(`[simulator] the account monitor stopped: ${errorMessage(err)}`));
    cleanups.push(async () => {
      controller.abort();
      await running;
    });

    const push = async (build: (o: MsgOptions) => RobotMessage, conv: string, senderId: string, atBot: boolean, item: Omit<ChatItem, 'id' | 'from' | 'at' | 'conv' | 'sender'>, downloadCode?: string) => {
      const sender = SENDERS.find((s) => s.staffId === senderId) ?? SENDERS[0]!;
      const group = conv === GROUP.key;
      const convKey = group ? GROUP.key : dmKey(sender.staffId);
      if (group && !atBot) {
        // DingTalk pushes a group message to the robot only when it is @-mentioned.
        return view.addUserItem({ ...item, conv: convKey, sender, atBot, note: '未 @ 机器人：钉钉不会推送给机器人' });
      }
      const msg = build({ group, senderStaffId: sender.staffId, senderNick: sender.nick, ...(group ? { conversationId: GROUP.conversationId, conversationTitle: GROUP.title } : {}) });
      faults.onNewSession(new URL(msg.sessionWebhook).searchParams.get('session') ?? '');
      const shown = view.addUserItem({ ...item, conv: convKey, sender, ...(group ? { atBot } : {}) }, { msgId: msg.msgId, downloadCode });
      // After a socket drop the plugin needs a moment to reconnect; DingTalk holds the message meanwhile.
      await fake.waitForConnection({ timeoutMs: 30_000 });
      fake.pushRobotMessage(msg);
      return shown;
    };

    const server = createServer((req, res) => {
      route(req, res).catch((err: unknown) => {
        print(`[simulator] ${req.method} ${req.url}: ${errorMessage(err)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: errorMessage(err) }));
      });
    });
    const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      // Only this machine's browser, by name: a web page elsewhere cannot drive the simulator (DNS rebinding).
      if (!/^(127\.0\.0\.1|localhost)(:\d+)?$/.test(req.headers.host ?? '')) return json(res, 403, { error: 'loopback only' });
      const file = STATIC[url.pathname];
      if (req.method === 'GET' && file) {
        res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
        res.end(await readFile(file.file));
        return;
      }
      if (req.method === 'GET' && url.pathname === '/events') {
        live.open(res, {
          senders: SENDERS, group: { key: GROUP.key, title: GROUP.title }, ...view.snapshot(), faults: faults.list(), status, logs,
          answerSource: echo ? '本地回声模型 (echo model)' : `网关 ${new URL(opts.gatewayUrl!).host}`,
        });
        return;
      }
      const media = /^\/(media|download)\/(.+)$/.exec(url.pathname);
      if (req.method === 'GET' && media) {
        const id = decodeURIComponent(media[2]!);
        const m = media[1] === 'media' ? fake.media.get(id) : undefined;
        const d = media[1] === 'download' ? fake.downloads.get(id) : undefined;
        const bytes = m?.bytes ?? d?.bytes;
        if (!bytes) return json(res, 404, { error: 'no such media' });
        const name = m?.filename ?? d?.fileName ?? 'file';
        res.writeHead(200, {
          'content-type': m?.contentType ?? d?.contentType ?? 'application/octet-stream',
          'content-disposition': `inline; filename*=UTF-8''${encodeURIComponent(name)}`,
          'x-content-type-options': 'nosniff',
        });
        res.end(bytes);
        return;
      }
      if (req.method !== 'POST') return json(res, 404, { error: 'not found' });
      if (url.pathname === '/api/send') {
        const b = JSON.parse((await body(req, 64 * 1024)).toString('utf8')) as { conv?: string; sender?: string; text?: string; atBot?: boolean };
        const text = String(b.text ?? '').trim();
        if (!text) return json(res, 400, { error: 'empty message' });
        const item = await push((o) => fake.msg.text(text, o), String(b.conv), String(b.sender), b.atBot !== false, { kind: 'text', text });
        return json(res, 200, { id: item.id });
      }
      if (url.pathname === '/api/upload') {
        const bytes = await body(req, MAX_UPLOAD_BYTES);
        const contentType = req.headers['content-type'] ?? 'application/octet-stream';
        const fileName = decodeURIComponent(url.searchParams.get('name') ?? 'file').replace(/[\\/]/g, '_').slice(0, 120) || 'file';
        const picture = contentType.startsWith('image/');
        const downloadCode = fake.registerDownload(bytes, { contentType, fileName });
        const shown = { kind: picture ? ('picture' as const) : ('file' as const), url: `/download/${encodeURIComponent(downloadCode)}`, fileName, size: bytes.length };
        const item = await push(
          (o) => (picture ? fake.msg.picture({ downloadCode }, o) : fake.msg.file({ downloadCode, fileName }, o)),
          String(url.searchParams.get('conv')), String(url.searchParams.get('sender')), url.searchParams.get('atBot') !== 'false', shown, downloadCode,
        );
        return json(res, 200, { id: item.id });
      }
      if (url.pathname === '/api/fault') {
        const b = JSON.parse((await body(req, 4096)).toString('utf8')) as { name?: FaultName; on?: boolean };
        try {
          await faults.set(b.name as FaultName, b.on === true);
        } catch (err) {
          return json(res, 400, { error: errorMessage(err) });
        }
        live.send('faults', faults.list());
        return json(res, 200, { faults: faults.list() });
      }
      return json(res, 404, { error: 'not found' });
    };
    await listen(server, opts.port ?? 0);
    cleanups.push(async () => {
      live.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as AddressInfo;
    let closing: Promise<void> | undefined;
    return { url: `http://127.0.0.1:${port}/`, tempDir, fake, close: () => (closing ??= close()) };
  } catch (err) {
    await close();
    throw err;
  }
}

function payloadOf(e: ViewEvent): unknown {
  return e.type === 'item' ? e.item : e.type === 'call' ? e.call : e.answer;
}

/** Server-Sent Events to every open page: a snapshot on connect, then one event per change. */
class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor() {
    // A comment line now and then keeps idle connections open through proxies and tells a dead page apart.
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.write(': keep-alive\n\n');
    }, 15_000);
    this.heartbeat.unref();
  }

  open(res: ServerResponse, snapshot: unknown): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 1000\nevent: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  send(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) c.write(frame);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(value));
}

async function body(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > maxBytes) throw new Error(`request body over ${maxBytes} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Listen on 127.0.0.1:`port`; when that port is taken, on any free one. */
async function listen(server: Server, port: number): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE' || port === 0) throw err;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
  }
}

