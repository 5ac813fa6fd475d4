/**
 * Which gateway session a DingTalk message belongs to: one per DM sender, one per group (or per sender
 * in a group), renewed after `sessionTimeout` of inactivity or by a reset command. Persisted in the store
 * with the session timeout as TTL: a record the timeout has made dead is gone from the store too, so
 * state grows with the conversations of the last timeout, not with everyone who ever wrote.
 */
import { randomBytes } from 'node:crypto';
import { stripLeadingMention, type InboundMessage } from './inbound.ts';
import type { StateStore } from './store.ts';

const RESET_COMMANDS = new Set(['/new', '/reset', '/clear', '新会话', '重新开始', '清空对话']);

/** `/new`, `新会话` … with spaces and a leading @mention ignored, any case. */
export function isResetCommand(text: string): boolean {
  const t = stripLeadingMention(text).toLowerCase();
  return RESET_COMMANDS.has(t);
}

interface SessionRecord {
  id: string;
  lastActiveAt: number;
}

export interface SessionsOptions {
  accountId: string;
  store: StateStore;
  timeoutMs: number;
  groupScope: 'group' | 'sender';
  now?: () => number;
}

export interface Session {
  /** Stable key sent to the gateway; changes when a new session starts. */
  key: string;
  isNew: boolean;
}

export class Sessions {
  private readonly opts: SessionsOptions;
  private readonly now: () => number;

  constructor(opts: SessionsOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** The conversation a message belongs to (also the ordering key). */
  conversationKey(msg: InboundMessage): string {
    const sender = msg.senderStaffId ?? msg.senderId;
    if (!msg.isGroup) return `dm:${sender}`;
    return this.opts.groupScope === 'sender' ? `group:${msg.conversationId}:${sender}` : `group:${msg.conversationId}`;
  }

  /** The current session, or a new one when the last activity is older than the timeout. */
  async touch(msg: InboundMessage): Promise<Session> {
    const conv = this.conversationKey(msg);
    const now = this.now();
    const rec = await this.opts.store.get<SessionRecord>('sessions', this.storeKey(conv));
    const fresh = rec !== undefined && now - rec.lastActiveAt <= this.opts.timeoutMs;
    const id = fresh ? rec.id : newId();
    await this.save(conv, { id, lastActiveAt: now });
    return { key: this.sessionKey(conv, id), isNew: !fresh };
  }

  /** Start a new session for this conversation now. */
  async reset(msg: InboundMessage): Promise<Session> {
    const conv = this.conversationKey(msg);
    const id = newId();
    await this.save(conv, { id, lastActiveAt: this.now() });
    return { key: this.sessionKey(conv, id), isNew: true };
  }

  /** Kept one millisecond past the timeout: the record outlives the last moment `touch` calls it fresh. */
  private save(conv: string, rec: SessionRecord): Promise<void> {
    return this.opts.store.set<SessionRecord>('sessions', this.storeKey(conv), rec, this.opts.timeoutMs + 1);
  }

  private storeKey(conv: string): string {
    return `${this.opts.accountId}:${conv}`;
  }

  private sessionKey(conv: string, id: string): string {
    return `dingtalk-ai:${this.opts.accountId}:${conv}:${id}`;
  }
}

function newId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}
