/**
 * The simulator's built-in answer source: a tiny OpenAI-compatible `POST /v1/chat/completions` server on
 * 127.0.0.1 that streams (SSE, `stream: true`) a plausible multi-paragraph markdown answer token by token.
 * The plugin reaches it through its real GatewayEngine, exactly as it reaches an OpenClaw gateway.
 *
 * Asked for a picture ("图片" / "image") it writes a real PNG into `mediaDir` and shows it with
 * `![…](/abs/path.png)`; asked for a file ("文件" / "file") it writes a PDF and names it on a `MEDIA:` line —
 * the two forms the plugin's media system prompt teaches a model (src/media/policy.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chartPng, pngSize, simplePdf } from './files.ts';

export interface EchoModelOptions {
  /** Folder the generated images and files are written to (must be inside the plugin's media roots). */
  mediaDir: string;
  /** Pause between two streamed tokens, in ms (default 25). */
  tokenDelayMs?: number;
  /** Port to listen on (default: any free one). */
  port?: number;
}

export interface EchoModel {
  /** `http://127.0.0.1:<port>/v1/chat/completions`. */
  readonly url: string;
  /** True while the "gateway down" fault has the listener closed. */
  readonly down: boolean;
  /** Close (true) or reopen (false) the listener on the same port: connections are refused meanwhile. */
  setDown(down: boolean): Promise<void>;
  close(): Promise<void>;
}

interface ChatRequest {
  user?: string;
  messages?: Array<{ role?: string; content?: unknown }>;
}

/** What the model was given for this turn, as the composer needs it. */
export interface EchoTurn {
  text: string;
  /** Decoded `image_url` data parts. */
  images: Array<{ mimeType: string; bytes: Buffer }>;
  /** 1 for the first turn of a session key. */
  turn: number;
}

export async function startEchoModel(opts: EchoModelOptions): Promise<EchoModel> {
  const tokenDelayMs = opts.tokenDelayMs ?? 25;
  const turns = new Map<string, number>();
  const sockets = new Set<Socket>();
  let files = 0;
  let server: Server | undefined;
  let port = opts.port ?? 0;
  let down = false;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: ChatRequest;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequest;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'body is not JSON' } }));
      return;
    }
    const sessionKey = String(req.headers['x-openclaw-session-key'] ?? req.headers['x-clawdbot-session-key'] ?? body.user ?? 'default');
    const turn = (turns.get(sessionKey) ?? 0) + 1;
    turns.set(sessionKey, turn);
    const input = readTurn(body, turn);
    const answer = await composeAnswer(input, async (kind) => {
      const n = ++files;
      const path = join(opts.mediaDir, kind === 'image' ? `chart-${n}.png` : `report-${n}.pdf`);
      await writeFile(path, kind === 'image' ? chartPng(n) : simplePdf(['DingTalk simulator', `Report #${n}`, new Date().toISOString()]));
      return path;
    });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let closed = false;
    res.on('close', () => (closed = true));
    const id = `chatcmpl-echo-${Date.now().toString(36)}`;
    for (const token of tokenize(answer)) {
      if (closed) return;
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model: 'echo', choices: [{ index: 0, delta: { content: token } }] })}\n\n`);
      if (tokenDelayMs > 0) await new Promise((r) => setTimeout(r, tokenDelayMs));
    }
    if (!closed) res.end('data: [DONE]\n\n');
  };

  const listen = async (): Promise<void> => {
    const s = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(err) } }));
      });
    });
    s.on('connection', (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}/v1/chat/completions`;
    },
    get down() {
      return down;
    },
    async setDown(value) {
      if (value === down) return;
      down = value;
      if (value) await stop();
      else await listen();
    },
    close: stop,
  };
}

/** The last user message's text and images; a data URL that does not decode is skipped. */
export function readTurn(body: ChatRequest, turn: number): EchoTurn {
  const user = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  const out: EchoTurn = { text: '', images: [], turn };
  if (typeof user?.content === 'string') out.text = user.content;
  else if (Array.isArray(user?.content)) {
    for (const part of user.content as Array<{ type?: string; text?: string; image_url?: { url?: string } }>) {
      if (part.type === 'text' && typeof part.text === 'string') out.text += part.text;
      const m = part.type === 'image_url' ? /^data:([^;,]+);base64,(.*)$/s.exec(part.image_url?.url ?? '') : null;
      if (m) out.images.push({ mimeType: m[1]!, bytes: Buffer.from(m[2]!, 'base64') });
    }
  }
  return out;
}

/**
 * The answer for one turn: the user's words quoted, what the model was given (pictures with their real size),
 * a few paragraphs about the path the message took, and a picture or file when asked for one.
 * `makeFile` writes the file and returns its absolute path.
 */
export async function composeAnswer(t: EchoTurn, makeFile: (kind: 'image' | 'file') => Promise<string>): Promise<string> {
  const en = !/[\u3400-\u9fff]/.test(t.text) && /[A-Za-z]/.test(t.text);
  const quoted = t.text.trim().split('\n').map((l) => `> ${l.slice(0, 200)}`).slice(0, 6).join('\n') || '> …';
  const wantsImage = /图|image|picture|chart|png/i.test(t.text);
  const wantsFile = /文件|file|pdf|report|报告/i.test(t.text);
  const seen = t.images.map((img) => {
    const size = pngSize(img.bytes);
    const kb = (img.bytes.length / 1024).toFixed(1);
    return size ? `${img.mimeType}, ${size.width}×${size.height}, ${kb} KB` : `${img.mimeType}, ${kb} KB`;
  });
  const parts: string[] = [];
  if (en) {
    parts.push(`### Echo, turn ${t.turn} of this session`, `You said:\n\n${quoted}`);
    if (seen.length) parts.push(`I received **${seen.length} picture(s)**: ${seen.join('; ')}.`);
    parts.push(
      'This answer comes from the simulator\'s **local echo model**: no real model runs, but every DingTalk call is the one the plugin makes in production.',
      '**The path this message took:**\n\n1. The fake DingTalk pushed it over the Stream connection;\n2. the plugin created an AI card and asked the gateway (`POST /v1/chat/completions`, streamed);\n3. while tokens arrive, the card is updated about every 2 seconds;\n4. the final text is written and the card is marked **finished**.',
      'The panel on the right lists each DingTalk call with its status: that is the API quota one answer costs.',
    );
  } else {
    parts.push(`### 回声模型 · 本会话第 ${t.turn} 轮`, `你说：\n\n${quoted}`);
    if (seen.length) parts.push(`我收到了 **${seen.length} 张图片**：${seen.join('；')}。`);
    parts.push(
      '这是模拟器内置的**本地回声模型**的回答：没有调用任何大模型，但插件对钉钉发出的每一次调用都和生产环境完全一样。',
      '**这条消息走过的路：**\n\n1. 钉钉（模拟）通过 Stream 长连接把消息推送给插件；\n2. 插件创建 AI 卡片，并以流式请求网关 `POST /v1/chat/completions`；\n3. 回答逐字返回，插件大约每 2 秒更新一次卡片；\n4. 写入最终文本，卡片进入**已完成**状态。',
      '右侧面板列出插件发出的每一次钉钉调用及其状态——这就是一条回答消耗的接口配额。',
    );
  }
  if (wantsImage) {
    const path = await makeFile('image');
    parts.push(en ? `Here is the chart you asked for:\n\n![Sample chart](${path})` : `这是你要的示意图：\n\n![示意图](${path})`);
  }
  if (wantsFile) {
    const path = await makeFile('file');
    parts.push(en ? `And the report as a file:\n\nMEDIA: ${path}` : `报告以文件形式发送：\n\nMEDIA: ${path}`);
  }
  if (!wantsImage && !wantsFile) {
    parts.push(en ? 'Try *"send me an image"* or *"send me a file"*, or flip a fault above and watch the plugin recover.' : '试试发送「来张图片」或「发个文件」，或者点上方的故障按钮，看插件如何恢复。');
  }
  return parts.join('\n\n');
}

/** Model-like tokens: a word with its leading space, one or two CJK characters, or one symbol. */
export function tokenize(text: string): string[] {
  return text.match(/\s*[A-Za-z0-9_./:@-]+|[\u3400-\u9fff]{1,2}|\s+|[^\s]/gu) ?? [];
}
