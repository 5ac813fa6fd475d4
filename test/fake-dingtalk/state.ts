// In-memory state of the fake: clock, apps, tokens, tickets, sessions and everything tests assert on.
import type {
  AppState, CallRecord, CardState, ConnRecord, DownloadEntry, FakeOptions, FrameRecord,
  MediaLimit, MediaRecord, MediaType, PushRecord, RedeliveryOptions,
  SentRecord, SessionEntry, UpgradeRecord,
} from './types.ts';
import { b64, hex, isPlainObject, uuid } from './util.ts';

export const DEFAULT_SCOPES = ['Card.Instance.Write', 'Card.Streaming.Write', 'qyapi_robot_sendmsg'];

const MB = 1024 * 1024;
export const DEFAULT_MEDIA_LIMITS: Record<MediaType, MediaLimit> = {
  image: { maxBytes: 20 * MB, exts: ['jpg', 'jpeg', 'png', 'gif', 'bmp'] },
  voice: { maxBytes: 2 * MB, exts: ['ogg', 'amr', 'mp3', 'wav'] },
  video: { maxBytes: 20 * MB, exts: ['mp4'] },
  file: { maxBytes: 20 * MB, exts: ['doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'zip', 'pdf', 'rar'] },
};

interface TokenEntry { appKey: string; expiresAt: number; label: string }
interface TicketEntry { appKey: string; expiresAt: number; used: boolean; subscriptions: ConnRecord['subscriptions']; ua: string }
interface DownloadUrlEntry { code: string; expiresAt: number }

export interface ResolvedOptions {
  redelivery: RedeliveryOptions;
  rateLimit?: { perApiQps: number; burst?: number };
  latencyMs: number;
  tokenTtlSec: number;
  ticketTtlMs: number;
  downloadUrlTtlMs: number;
  sessionTtlMs: number;
  templates: 'any' | string[];
  markdownKeys: string[];
  streamContentMaxBytes?: number;
  allowEmptyStreamContent: boolean;
  mediaLimits: Record<MediaType, MediaLimit>;
  allowSessionMedia: boolean;
  authErrorStatus: 400 | 401;
}

export class FakeState {
  readonly opts: ResolvedOptions;
  readonly apps: AppState[];
  private offset = 0;
  apiBase = '';
  oapiBase = '';
  wsBase = '';

  readonly calls: CallRecord[] = [];
  readonly frames: FrameRecord[] = [];
  readonly conns: ConnRecord[] = [];
  readonly pushes: PushRecord[] = [];
  readonly upgrades: UpgradeRecord[] = [];
  readonly cards = new Map<string, CardState>();
  readonly sent: SentRecord[] = [];
  readonly media = new Map<string, MediaRecord>();
  readonly downloads = new Map<string, DownloadEntry>();
  readonly sessions = new Map<string, SessionEntry>();

  private readonly tokens = new Map<string, TokenEntry>();
  private readonly tickets = new Map<string, TicketEntry>();
  private readonly downloadUrls = new Map<string, DownloadUrlEntry>();
  private tokenCount = 0;
  private callSeq = 0;
  private frameSeq = 0;

  /** Called after every recorded call, with the card/message state already updated (live views). */
  readonly callListeners = new Set<(call: CallRecord) => void>();

  /** Fault flags set by faults presets (see faults.ts). */
  monthlyQuotaExhausted = false;
  deliverFailure?: { errorMsg: string; remaining: number };

  constructor(options: FakeOptions = {}) {
    const apps = options.apps?.length
      ? options.apps
      : [{ appKey: 'dingAPPKEY', appSecret: 'SECRET' }];
    this.apps = apps.map((a) => ({
      appKey: a.appKey,
      appSecret: a.appSecret,
      robotCode: a.robotCode ?? a.appKey,
      scopes: [...(a.scopes ?? DEFAULT_SCOPES)],
      botName: a.botName ?? 'FakeBot',
      chatbotUserId: `$:LWCP_v1:$bot${Buffer.from(a.appKey).toString('base64url').slice(0, 16)}`,
      corpId: 'dingcorpFAKE',
      appId: uuid(),
    }));
    this.opts = {
      redelivery: { afterMs: 60_000, max: 1, messageId: 'new', ...options.redelivery },
      rateLimit: options.rateLimit,
      latencyMs: options.latencyMs ?? 0,
      tokenTtlSec: options.tokenTtlSec ?? 7200,
      ticketTtlMs: options.ticketTtlMs ?? 90_000,
      downloadUrlTtlMs: options.downloadUrlTtlMs ?? 3_600_000,
      sessionTtlMs: options.sessionTtlMs ?? 90 * 60_000,
      templates: options.templates ?? 'any',
      markdownKeys: options.markdownKeys ?? ['msgContent'],
      streamContentMaxBytes: options.streamContentMaxBytes,
      allowEmptyStreamContent: options.allowEmptyStreamContent ?? false,
      mediaLimits: { ...DEFAULT_MEDIA_LIMITS, ...options.mediaLimits },
      allowSessionMedia: options.allowSessionMedia ?? false,
      authErrorStatus: options.authErrorStatus ?? 400,
    };
  }

  // ---- clock ----
  now(): number { return Date.now() + this.offset; }
  advance(ms: number): void { this.offset += ms; }

  // ---- apps ----
  app(appKey?: string): AppState {
    const app = appKey === undefined ? this.apps[0] : this.apps.find((a) => a.appKey === appKey);
    if (!app) throw new Error(`fake-dingtalk: unknown appKey ${appKey}`);
    return app;
  }
  appByCreds(appKey: unknown, secret: unknown): AppState | undefined {
    return this.apps.find((a) => a.appKey === appKey && a.appSecret === secret);
  }
  appByRobotCode(robotCode: unknown): AppState | undefined {
    return this.apps.find((a) => a.robotCode === robotCode);
  }

  // ---- tokens (shared by api /v1.0/oauth2/accessToken and oapi /gettoken) ----
  issueToken(app: AppState): { token: string; expireIn: number } {
    const ttlMs = this.opts.tokenTtlSec * 1000;
    for (const [token, e] of this.tokens) {
      if (e.appKey === app.appKey && e.expiresAt > this.now()) {
        e.expiresAt = this.now() + ttlMs; // same token while valid, validity extended
        return { token, expireIn: this.opts.tokenTtlSec };
      }
    }
    const token = hex(16);
    this.tokens.set(token, { appKey: app.appKey, expiresAt: this.now() + ttlMs, label: `<token#${++this.tokenCount}>` });
    return { token, expireIn: this.opts.tokenTtlSec };
  }
  /** App of a valid token, 'expired' or undefined (unknown). */
  checkToken(token: string | undefined): AppState | 'expired' | undefined {
    if (!token) return undefined;
    const e = this.tokens.get(token);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) return 'expired';
    return this.app(e.appKey);
  }
  expireAllTokens(): void {
    for (const e of this.tokens.values()) e.expiresAt = this.now() - 1;
  }
  tokenValues(): string[] { return [...this.tokens.keys()]; }
  tokenLabel(token: string): string {
    return this.tokens.get(token)?.label ?? '<redacted>';
  }

  // ---- stream tickets ----
  issueTicket(app: AppState, subscriptions: TicketEntry['subscriptions'], ua: string): string {
    const ticket = uuid();
    this.tickets.set(ticket, { appKey: app.appKey, expiresAt: this.now() + this.opts.ticketTtlMs, used: false, subscriptions, ua });
    return ticket;
  }
  /** Consumes a ticket; returns why it is unusable as a string. */
  useTicket(ticket: string | null): TicketEntry | string {
    if (!ticket) return 'ticket missing';
    const t = this.tickets.get(ticket);
    if (!t) return 'unknown ticket';
    if (t.used) return 'ticket already used';
    if (t.expiresAt <= this.now()) return 'ticket expired';
    t.used = true;
    return t;
  }

  // ---- sessions (sessionWebhook) ----
  mintSession(e: Omit<SessionEntry, 'session' | 'expired'>): string {
    const session = hex(16);
    this.sessions.set(session, { ...e, session, expired: false });
    return session;
  }
  sessionValid(session: string | null): SessionEntry | undefined {
    const s = session ? this.sessions.get(session) : undefined;
    if (!s || s.expired || s.expiresAt <= this.now()) return undefined;
    return s;
  }

  // ---- downloads ----
  registerDownload(bytes: Buffer, meta: { contentType: string; fileName?: string; appKey?: string }): string {
    const app = this.app(meta.appKey);
    const code = b64(36).replace(/[+/=]/g, (c) => (c === '+' ? '-' : c === '/' ? '_' : ''));
    this.downloads.set(code, { code, bytes, contentType: meta.contentType, fileName: meta.fileName, appKey: app.appKey, robotCode: app.robotCode });
    return code;
  }
  mintDownloadUrl(code: string): string {
    const id = hex(12);
    const expiresAt = this.now() + this.opts.downloadUrlTtlMs;
    this.downloadUrls.set(id, { code, expiresAt });
    return `${this.apiBase}/__dl/${id}?Expires=${Math.floor(expiresAt / 1000)}&OSSAccessKeyId=FAKE&Signature=${hex(10)}`;
  }
  resolveDownloadUrl(id: string): DownloadEntry | 'expired' | undefined {
    const u = this.downloadUrls.get(id);
    if (!u) return undefined;
    if (u.expiresAt <= this.now()) return 'expired';
    return this.downloads.get(u.code);
  }

  // ---- recording ----
  record(call: Omit<CallRecord, 'seq'>): CallRecord {
    const rec = { seq: ++this.callSeq, ...call };
    this.calls.push(rec);
    for (const listener of this.callListeners) listener(rec);
    return rec;
  }
  recordFrame(connId: string, dir: 'down' | 'up', text: string): FrameRecord {
    let json: any = null;
    try { json = JSON.parse(text); } catch { /* malformed frame: kept raw */ }
    const rec: FrameRecord = { seq: ++this.frameSeq, at: this.now(), connId, dir, json };
    if (json === null) rec.raw = text;
    this.frames.push(rec);
    return rec;
  }

  /** Deep copy of a value with secrets replaced (tokens by a stable `<token#N>` label). */
  redact(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.redact(v));
    if (!isPlainObject(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = k.toLowerCase();
      if (key === 'appsecret' || key === 'clientsecret' || key === 'authorization') out[k] = '<redacted>';
      else if ((key === 'accesstoken' || key === 'access_token' || key === 'x-acs-dingtalk-access-token') && typeof v === 'string') out[k] = this.tokenLabel(v);
      else out[k] = this.redact(v);
    }
    return out;
  }
}
