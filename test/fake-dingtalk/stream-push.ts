// Downstream pushes (CALLBACK / EVENT / SYSTEM ping), ACK matching by headers.messageId,
// ACK waiters and redelivery of un-ACKed CALLBACKs (§1.3–1.6, §1.8).
import type { FakeState } from './state.ts';
import type { StreamServer } from './stream-server.ts';
import type { ConnRecord, FrameRecord, PushRecord } from './types.ts';
import { streamMessageId, uuid } from './util.ts';

export const ROBOT_TOPIC = '/v1.0/im/bot/messages/get';

export interface PushOptions {
  appKey?: string;
  /** Pin the connection; default: a random open connection of the app subscribed to the topic. */
  connId?: string;
}

interface Chain { rootId: string; appKey: string; topic: string; payload: unknown; attempts: number; acked: boolean; timer?: NodeJS.Timeout }

export class Pusher {
  private readonly chains = new Map<string, Chain>();
  private readonly waiters = new Map<string, Array<(p: PushRecord) => void>>();
  private closed = false;
  private readonly st: FakeState;
  private readonly stream: StreamServer;

  constructor(st: FakeState, stream: StreamServer) {
    this.st = st;
    this.stream = stream;
    stream.onUpstream = (conn, frame) => this.onUpstream(conn, frame);
  }

  private pickConn(appKey: string, type: string, topic: string, connId?: string): ConnRecord {
    const open = this.stream.openConns(appKey);
    if (connId !== undefined) {
      const c = open.find((x) => x.id === connId);
      if (!c) throw new Error(`fake-dingtalk: connection ${connId} of app ${appKey} is not open`);
      return c;
    }
    const subscribed = open.filter((c) => c.subscriptions.some((s) =>
      s.type === type && (s.topic === topic || (type === 'EVENT' && s.topic === '*'))));
    if (!subscribed.length) {
      throw new Error(`fake-dingtalk: no open stream connection of app ${appKey} subscribed to ${type} ${topic} ` +
        `(open connections: ${open.length}; subscriptions: ${JSON.stringify(open.map((c) => c.subscriptions))})`);
    }
    return subscribed[Math.floor(Math.random() * subscribed.length)]!;
  }

  private send(conn: ConnRecord, type: PushRecord['type'], topic: string, messageId: string, data: string,
    extraHeaders: Record<string, string> = {}): void {
    const app = this.st.app(conn.appKey);
    this.stream.send(conn.id, {
      specVersion: '1.0', type,
      headers: {
        appId: app.appId, connectionId: conn.id, contentType: 'application/json',
        messageId, time: String(this.st.now()), topic, ...extraHeaders,
      },
      data,
    });
  }

  private resolveApp(payload: unknown, appKey?: string): string {
    if (appKey) return this.st.app(appKey).appKey;
    const robotCode = (payload as { robotCode?: unknown } | null)?.robotCode;
    return this.st.appByRobotCode(robotCode)?.appKey ?? this.st.app().appKey;
  }

  /** CALLBACK frame; an un-ACKed callback is redelivered per options.redelivery. */
  pushCallback(topic: string, payload: unknown, opts: PushOptions = {}): PushRecord {
    const appKey = this.resolveApp(payload, opts.appKey);
    const conn = this.pickConn(appKey, 'CALLBACK', topic, opts.connId);
    const messageId = streamMessageId();
    this.send(conn, 'CALLBACK', topic, messageId, JSON.stringify(payload));
    const rec: PushRecord = { messageId, connId: conn.id, appKey, type: 'CALLBACK', topic, payload, sentAt: this.st.now(), attempt: 0 };
    this.st.pushes.push(rec);
    const chain: Chain = { rootId: messageId, appKey, topic, payload, attempts: 0, acked: false };
    this.chains.set(messageId, chain);
    this.schedule(chain);
    return rec;
  }

  /** EVENT frame (the SDK ACKs these itself); `eventType` is sent as the topic and header. */
  pushEvent(eventType: string, payload: unknown, opts: PushOptions = {}): PushRecord {
    const appKey = this.resolveApp(payload, opts.appKey);
    const conn = this.pickConn(appKey, 'EVENT', eventType, opts.connId);
    const messageId = streamMessageId();
    const now = String(this.st.now());
    this.send(conn, 'EVENT', eventType, messageId, JSON.stringify(payload), {
      eventType, eventId: uuid(), eventBornTime: now, eventCorpId: this.st.app(appKey).corpId, eventUnifiedAppId: this.st.app(appKey).appId,
    });
    const rec: PushRecord = { messageId, connId: conn.id, appKey, type: 'EVENT', topic: eventType, payload, sentAt: this.st.now(), attempt: 0 };
    this.st.pushes.push(rec);
    return rec;
  }

  /** SYSTEM ping to every open connection (or one); the echo is matched like an ACK. */
  ping(connId?: string): PushRecord[] {
    const conns = this.stream.openConns().filter((c) => connId === undefined || c.id === connId);
    return conns.map((conn) => {
      const messageId = streamMessageId();
      const payload = { opaque: uuid() };
      this.send(conn, 'SYSTEM', 'ping', messageId, JSON.stringify(payload));
      const rec: PushRecord = { messageId, connId: conn.id, appKey: conn.appKey, type: 'SYSTEM', topic: 'ping', payload, sentAt: this.st.now(), attempt: 0 };
      this.st.pushes.push(rec);
      return rec;
    });
  }

  private schedule(chain: Chain): void {
    const { afterMs, max } = this.st.opts.redelivery;
    if (this.closed || chain.acked || chain.attempts >= max) return;
    chain.timer = setTimeout(() => this.redeliver(chain), afterMs);
  }

  private redeliver(chain: Chain): void {
    chain.timer = undefined;
    if (this.closed || chain.acked) return;
    let conn: ConnRecord;
    try {
      conn = this.pickConn(chain.appKey, 'CALLBACK', chain.topic);
    } catch {
      this.schedule(chain); // nobody connected: try again later, not counted as an attempt
      return;
    }
    chain.attempts++;
    const messageId = this.st.opts.redelivery.messageId === 'same' ? chain.rootId : streamMessageId();
    this.send(conn, 'CALLBACK', chain.topic, messageId, JSON.stringify(chain.payload));
    this.st.pushes.push({
      messageId, connId: conn.id, appKey: chain.appKey, type: 'CALLBACK', topic: chain.topic, payload: chain.payload,
      sentAt: this.st.now(), redeliveryOf: chain.rootId, attempt: chain.attempts,
    });
    this.chains.set(messageId, chain);
    this.schedule(chain);
  }

  private onUpstream(_conn: ConnRecord, frame: FrameRecord): void {
    const messageId = frame.json?.headers?.messageId;
    if (typeof messageId !== 'string') return;
    const chain = this.chains.get(messageId);
    if (chain) {
      chain.acked = true;
      if (chain.timer) clearTimeout(chain.timer);
    }
    for (const p of this.st.pushes) {
      if (p.messageId === messageId && p.ackedAt === undefined) {
        p.ackedAt = this.st.now();
        p.ack = frame.json;
        const ws = this.waiters.get(messageId);
        this.waiters.delete(messageId);
        for (const w of ws ?? []) w(p);
      }
    }
  }

  /** Resolves with the push record once a frame with this messageId came back. */
  waitForAck(messageId: string, within = 5000): Promise<PushRecord> {
    const pushed = this.st.pushes.filter((p) => p.messageId === messageId);
    if (!pushed.length) return Promise.reject(new Error(`fake-dingtalk: waitForAck: nothing was pushed with messageId ${messageId}`));
    const done = pushed.find((p) => p.ackedAt !== undefined);
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = this.waiters.get(messageId)?.filter((w) => w !== onAck);
        if (list?.length) this.waiters.set(messageId, list); else this.waiters.delete(messageId);
        const p = pushed[pushed.length - 1]!;
        const ups = this.st.frames.filter((f) => f.dir === 'up' && f.connId === p.connId).slice(-3);
        reject(new Error(`fake-dingtalk: no ACK for messageId ${messageId} within ${within} ms ` +
          `(pushed to ${p.connId}, topic ${p.topic}; last upstream frames on that connection: ${JSON.stringify(ups.map((f) => f.json ?? f.raw))})`));
      }, within);
      const onAck = (p: PushRecord): void => { clearTimeout(timer); resolve(p); };
      const list = this.waiters.get(messageId) ?? [];
      list.push(onAck);
      this.waiters.set(messageId, list);
    });
  }

  /** Sends a text frame as is (e.g. malformed JSON) to every open connection, or to one. */
  pushRaw(text: string, connId?: string): number {
    const conns = this.stream.openConns().filter((c) => connId === undefined || c.id === connId);
    for (const c of conns) this.stream.send(c.id, text);
    return conns.length;
  }

  shutdown(): void {
    this.closed = true;
    for (const c of this.chains.values()) if (c.timer) clearTimeout(c.timer);
  }
}
