// Loopback fake DingTalk for tests: three listeners on 127.0.0.1 ephemeral ports —
// api (api.dingtalk.com role, incl. the stream gateway), oapi (oapi.dingtalk.com role) and
// ws (wss-open-connection role). See README.md in this folder and docs/dingtalk-protocol.md §5.
import { Faults, RateLimiter } from './faults.ts';
import { HostServer } from './http-host.ts';
import { messageBuilders, type MessageBuilders } from './messages.ts';
import { apiRoutes } from './rest-api.ts';
import { cardRoutes } from './rest-cards.ts';
import { oapiRoutes } from './rest-oapi.ts';
import { FakeState } from './state.ts';
import { Pusher, ROBOT_TOPIC, type PushOptions } from './stream-push.ts';
import { GATEWAY_PATH, StreamServer, gatewayRoute } from './stream-server.ts';
import type {
  AppState, CallRecord, CardState, ConnRecord, DownloadEntry, FakeOptions, FrameRecord, MediaRecord,
  PushRecord, SentRecord, SessionEntry, UpgradeRecord,
} from './types.ts';
import { waitFor, type WaitForOptions } from './util.ts';

export * from './types.ts';
export type { FaultAction, FaultHandle, FaultMatch, Faults } from './faults.ts';
export type { MessageBuilders, MsgOptions } from './messages.ts';
export type { PushOptions } from './stream-push.ts';
export { ROBOT_TOPIC, GATEWAY_PATH };

export interface WsFaults {
  /** Terminate without a close frame (all open connections when connId is omitted). */
  drop(connId?: string): number;
  close(code?: number, connId?: string): number;
  sendDisconnect(o?: { closeAfterMs?: number; connId?: string }): number;
  /** SYSTEM ping frames; waitForAck(rec.messageId) resolves on the echo. */
  ping(connId?: string): PushRecord[];
  pause(connId?: string): number;
  resume(connId?: string): number;
  refuseUpgrades(n: number, status?: number): void;
}

export class FakeDingTalk {
  apiBase = '';
  oapiBase = '';
  wsBase = '';
  readonly msg: MessageBuilders;
  readonly faults: Faults;
  readonly ws: WsFaults;
  readonly stats = {
    /** Max number of calls whose path contains `pathSubstring` in any sliding 1 s window (wall clock). */
    maxQps: (pathSubstring: string, windowMs = 1000): number => {
      const ts = this.st.calls.filter((c) => c.path.includes(pathSubstring)).map((c) => c.mono).sort((a, b) => a - b);
      let best = 0;
      for (let i = 0, j = 0; j < ts.length; j++) {
        while (ts[j]! - ts[i]! >= windowMs) i++;
        best = Math.max(best, j - i + 1);
      }
      return best;
    },
    count: (pathSubstring: string): number => this.st.calls.filter((c) => c.path.includes(pathSubstring)).length,
  };

  private readonly st: FakeState;
  private readonly api: HostServer;
  private readonly oapi: HostServer;
  private readonly stream: StreamServer;
  private readonly pusher: Pusher;

  constructor(options: FakeOptions = {}) {
    this.st = new FakeState(options);
    this.faults = new Faults(this.st);
    const limiter = options.rateLimit ? new RateLimiter(options.rateLimit.perApiQps, options.rateLimit.burst) : undefined;
    this.api = new HostServer('api', this.st, [gatewayRoute(this.st), ...apiRoutes, ...cardRoutes], this.faults, limiter);
    this.oapi = new HostServer('oapi', this.st, oapiRoutes, this.faults, limiter);
    this.stream = new StreamServer(this.st);
    this.pusher = new Pusher(this.st, this.stream);
    this.msg = messageBuilders(this.st);
    const s = this.stream;
    this.ws = {
      drop: (id) => s.drop(id), close: (code, id) => s.close(code, id), sendDisconnect: (o) => s.sendDisconnect(o),
      ping: (id) => this.pusher.ping(id), pause: (id) => s.pause(id), resume: (id) => s.resume(id),
      refuseUpgrades: (n, status) => s.refuseUpgrades(n, status),
    };
  }

  /** @internal use startFakeDingTalk() */
  async listen(): Promise<void> {
    this.apiBase = this.st.apiBase = await this.api.listen();
    this.oapiBase = this.st.oapiBase = await this.oapi.listen();
    this.wsBase = this.st.wsBase = await this.stream.listen();
  }

  get streamGatewayUrl(): string { return `${this.apiBase}${GATEWAY_PATH}`; }
  get apps(): AppState[] { return this.st.apps; }

  now(): number { return this.st.now(); }
  /** Moves the fake clock (token/ticket/session/download-url expiry); real timers are unaffected. */
  advance(ms: number): void { this.st.advance(ms); }

  async close(): Promise<void> {
    this.pusher.shutdown();
    await Promise.all([this.stream.shutdown(), this.api.close(), this.oapi.close()]);
  }

  // ---- inbound ----
  registerDownload(bytes: Buffer, meta: { contentType: string; fileName?: string; appKey?: string }): string {
    return this.st.registerDownload(bytes, meta);
  }
  /** CALLBACK on /v1.0/im/bot/messages/get to a random open subscribed connection; throws if none. */
  pushRobotMessage(payload: unknown, opts: PushOptions = {}): PushRecord {
    return this.pusher.pushCallback(ROBOT_TOPIC, payload, opts);
  }
  pushCallback(topic: string, payload: unknown, opts: PushOptions = {}): PushRecord {
    return this.pusher.pushCallback(topic, payload, opts);
  }
  pushEvent(eventType: string, payload: unknown, opts: PushOptions = {}): PushRecord {
    return this.pusher.pushEvent(eventType, payload, opts);
  }
  /** Text frame sent verbatim to every open connection (or to connId); returns the number of connections. */
  pushRaw(text: string, o: { connId?: string } = {}): number { return this.pusher.pushRaw(text, o.connId); }
  /** Upstream frames (ACKs, ping echoes) whose headers.messageId is `messageId`, whether or not it was pushed by a helper. */
  acksOf(messageId: string): FrameRecord[] {
    return this.st.frames.filter((f) => f.dir === 'up' && f.json?.headers?.messageId === messageId);
  }

  waitForAck(messageId: string, o: { within?: number } = {}): Promise<PushRecord> {
    return this.pusher.waitForAck(messageId, o.within ?? 5000);
  }
  waitFor<T>(predicate: () => T | Promise<T>, o: WaitForOptions = {}): Promise<T> {
    return waitFor(predicate, o, () => `recent calls:\n  ${this.sequence().slice(-10).join('\n  ')}`);
  }
  waitForConnection(o: { appKey?: string; timeoutMs?: number } = {}): Promise<ConnRecord> {
    return waitFor(() => this.stream.openConns(o.appKey)[0], {
      timeoutMs: o.timeoutMs ?? 5000, message: `no open stream connection${o.appKey ? ` for ${o.appKey}` : ''}`,
    }, () => `gateway opens: ${this.gatewayOpens.length}, upgrades: ${JSON.stringify(this.st.upgrades.slice(-3))}`);
  }

  /**
   * Calls `listener` after every recorded REST call (cards, sent messages and media already reflect it);
   * returns an unsubscribe function. Used by the simulator's live page.
   */
  onCall(listener: (call: CallRecord) => void): () => void {
    this.st.callListeners.add(listener);
    return () => this.st.callListeners.delete(listener);
  }

  // ---- state ----
  get calls(): CallRecord[] { return this.st.calls; }
  /** Calls that count against the org's monthly quota (card, robot, media routes; tokens are exempt). */
  get quotaCalls(): CallRecord[] { return this.st.calls.filter((c) => c.quota); }
  get frames(): FrameRecord[] { return this.st.frames; }
  get conns(): ConnRecord[] { return this.st.conns; }
  get pushes(): PushRecord[] { return this.st.pushes; }
  get upgrades(): UpgradeRecord[] { return this.st.upgrades; }
  get cards(): Map<string, CardState> { return this.st.cards; }
  get sent(): SentRecord[] { return this.st.sent; }
  get media(): Map<string, MediaRecord> { return this.st.media; }
  get downloads(): Map<string, DownloadEntry> { return this.st.downloads; }
  get sessions(): Map<string, SessionEntry> { return this.st.sessions; }
  /** Calls to POST /v1.0/gateway/connections/open (including failed ones). */
  get gatewayOpens(): CallRecord[] { return this.st.calls.filter((c) => c.host === 'api' && c.path === GATEWAY_PATH); }

  /** `METHOD host path status` per recorded call, e.g. 'PUT api /v1.0/card/streaming 200'. */
  sequence(filter?: (c: CallRecord) => boolean): string[] {
    return this.st.calls.filter((c) => !filter || filter(c)).map((c) => `${c.method} ${c.host} ${c.path} ${c.status}`);
  }
  card(outTrackId: string): CardState {
    const c = this.st.cards.get(outTrackId);
    if (!c) throw new Error(`fake-dingtalk: no card ${outTrackId} (cards: ${[...this.st.cards.keys()].join(', ') || 'none'})`);
    return c;
  }
  cardList(): CardState[] { return [...this.st.cards.values()]; }
  /** What the card shows in `key` now: the newest write, by streaming or instance update (see CardState.contentHistory). */
  cardShows(card: CardState, key = 'msgContent'): string {
    return card.contentHistory.filter((w) => w.key === key).at(-1)?.content ?? '';
  }
  /** Still "typing" on DingTalk: neither finalized by streaming nor set to FINISHED (3) / FAILED (5). */
  cardTyping(card: CardState): boolean {
    const status = card.flowStatusHistory.at(-1);
    return status !== '3' && status !== '5' && !Object.values(card.streams).some((s) => s.finalized);
  }
  /** Every text a chat member could have seen: each card content write and each message sent (webhook, robot API). */
  visibleTexts(): string[] {
    const out: string[] = [];
    for (const c of this.st.cards.values()) for (const w of c.contentHistory) out.push(w.content);
    for (const s of this.st.sent) out.push(JSON.stringify(s.body));
    return out;
  }
  /** Every access token the fake ever issued (for secret scans). */
  issuedTokens(): string[] { return this.st.tokenValues(); }
  openConnections(appKey?: string): number { return this.stream.openConns(appKey).length; }
  /** Mints (or returns the current) access token of an app without an HTTP call. */
  token(appKey?: string): string { return this.st.issueToken(this.st.app(appKey)).token; }
}

export async function startFakeDingTalk(options: FakeOptions = {}): Promise<FakeDingTalk> {
  const fake = new FakeDingTalk(options);
  await fake.listen();
  return fake;
}
