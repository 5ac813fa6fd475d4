/**
 * What the simulator's page shows, derived from the fake DingTalk's own records (never from the plugin):
 * chat items per conversation (the users' messages, AI cards as they stream, markdown and file messages) and
 * every REST call the plugin made, each attributed to the answer it was made for, with a running count.
 *
 * Attribution uses the identifiers DingTalk itself would see: a card's outTrackId (bound to an answer when the
 * card is created for that answer's conversation), the sessionWebhook's session, a robot message's recipient, a
 * download code. Calls without one (media upload, file download) go to the answer that was active last.
 */
import type { CallRecord, CardState, FakeDingTalk, SentRecord } from '../../test/fake-dingtalk/index.ts';

export interface Sender {
  staffId: string;
  nick: string;
  /** Listed in the simulated account's `allowFrom`: the others show how the access policy refuses a stranger. */
  allowed: boolean;
}

/** The simulated colleagues who talk to the robot. */
export const SENDERS: Sender[] = [
  { staffId: 'user001', nick: '张三', allowed: true },
  { staffId: 'user002', nick: '李四', allowed: true },
  { staffId: 'user003', nick: '王五', allowed: false },
];

/** The one simulated group; every sender is a member. */
export const GROUP = { key: 'group', conversationId: 'cidSIMGROUP01==', title: '产品讨论群' } as const;

/** 'group' or `dm:<staffId>`. */
export type ConversationKey = string;

export const dmKey = (staffId: string): ConversationKey => `dm:${staffId}`;

export type ItemState = 'waiting' | 'streaming' | 'finished' | 'failed';

export interface ChatItem {
  id: string;
  conv: ConversationKey;
  /** ms since the epoch. */
  at: number;
  from: 'user' | 'bot';
  sender?: Sender;
  kind: 'text' | 'picture' | 'file' | 'card' | 'markdown';
  /** Text or markdown (cards: the content DingTalk shows now). */
  text?: string;
  /** Cards only. */
  state?: ItemState;
  /** Cards only: streaming updates received. */
  updates?: number;
  /** Picture or file bytes, served by the simulator. */
  url?: string;
  fileName?: string;
  size?: number;
  /** The answer (the user's msgId) this item belongs to or started. */
  answerId?: string;
  /** How a bot item reached the chat: 'AI 卡片', 'sessionWebhook', '机器人 API'. */
  via?: string;
  /** Group messages: the robot was @-mentioned (DingTalk pushes only those to the robot). */
  atBot?: boolean;
  /** A short note under the item (e.g. why it was not pushed). */
  note?: string;
}

export interface CallItem {
  seq: number;
  at: number;
  host: 'api' | 'oapi';
  method: string;
  path: string;
  /** 0 when the request was cut (socket destroyed or hung). */
  status: number;
  /** DingTalk's error code when the call failed. */
  code?: string;
  /** The fault rule that answered instead of the fake's route. */
  fault?: string;
  answerId?: string;
}

export interface AnswerItem {
  id: string;
  conv: ConversationKey;
  startedAt: number;
  /** The first words the user sent, for the panel. */
  label: string;
  calls: number;
  failedCalls: number;
  /** The delivery mode the plugin's call governor chose (1–4, src/dingtalk/governor.ts), once known. */
  mode?: { n: number; name: string };
}

export type ViewEvent =
  | { type: 'item'; item: ChatItem }
  | { type: 'call'; call: CallItem }
  | { type: 'answer'; answer: AnswerItem };

interface AnswerState extends AnswerItem {
  downloadCodes: Set<string>;
  hasCard: boolean;
}

const CONNECTION_PATHS = new Set(['/v1.0/oauth2/accessToken', '/gettoken', '/v1.0/gateway/connections/open']);

export class ChatView {
  private readonly fake: FakeDingTalk;
  private readonly items = new Map<string, ChatItem>();
  private readonly calls: CallItem[] = [];
  private readonly answers = new Map<string, AnswerState>();
  private readonly cardAnswer = new Map<string, string>();
  private readonly listeners = new Set<(e: ViewEvent) => void>();
  private sentSeen = 0;
  private lastActive: string | undefined;
  private readonly unsubscribe: () => void;

  constructor(fake: FakeDingTalk) {
    this.fake = fake;
    this.unsubscribe = fake.onCall((c) => this.onCall(c));
  }

  subscribe(listener: (e: ViewEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): { items: ChatItem[]; calls: CallItem[]; answers: AnswerItem[] } {
    return { items: [...this.items.values()], calls: [...this.calls], answers: [...this.answers.values()].map(publicAnswer) };
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  /** A message a simulated user sent; `answerId` is its msgId when it was pushed to the robot. */
  addUserItem(item: Omit<ChatItem, 'id' | 'from' | 'at'> & { id?: string }, pushed?: { msgId: string; downloadCode?: string }): ChatItem {
    const full: ChatItem = { ...item, id: item.id ?? `user:${this.items.size + 1}`, from: 'user', at: Date.now() };
    if (pushed) {
      full.answerId = pushed.msgId;
      const label = item.text ?? item.fileName ?? (item.kind === 'picture' ? '[图片]' : '');
      const a: AnswerState = {
        id: pushed.msgId, conv: item.conv, startedAt: full.at, label: label.trim().slice(0, 40), calls: 0, failedCalls: 0,
        downloadCodes: new Set(pushed.downloadCode ? [pushed.downloadCode] : []), hasCard: false,
      };
      this.answers.set(a.id, a);
      this.lastActive = a.id;
      this.emit({ type: 'answer', answer: publicAnswer(a) });
    }
    this.items.set(full.id, full);
    this.emit({ type: 'item', item: full });
    return full;
  }

  /**
   * A plugin log line: `message <msgId>: delivery mode <n> (<name>…)` (src/pipeline.ts) tells the mode of that answer.
   */
  noteLog(line: string): void {
    const m = /message (\S+): delivery mode (\d) \(([a-z-]+)/.exec(line);
    const answer = m ? this.answers.get(m[1]!) : undefined;
    if (!answer) return;
    answer.mode = { n: Number(m![2]), name: m![3]! };
    this.emit({ type: 'answer', answer: publicAnswer(answer) });
  }

  private emit(e: ViewEvent): void {
    for (const l of this.listeners) l(e);
  }

  private onCall(c: CallRecord): void {
    const answerId = this.attribute(c);
    const call: CallItem = { seq: c.seq, at: Date.now(), host: c.host, method: c.method, path: c.path, status: c.status, answerId };
    const code = errorCode(c);
    if (code) call.code = code;
    if (c.fault) call.fault = c.fault;
    this.calls.push(call);
    this.emit({ type: 'call', call });
    const answer = answerId ? this.answers.get(answerId) : undefined;
    if (answer) {
      answer.calls++;
      if (code || c.status === 0) answer.failedCalls++;
      this.lastActive = answer.id;
      this.emit({ type: 'answer', answer: publicAnswer(answer) });
    }
    const outTrackId = bodyField(c, 'outTrackId');
    if (outTrackId) this.syncCard(outTrackId);
    this.syncSent();
  }

  private attribute(c: CallRecord): string | undefined {
    if (CONNECTION_PATHS.has(c.path)) return undefined;
    const outTrackId = bodyField(c, 'outTrackId');
    if (outTrackId) {
      const known = this.cardAnswer.get(outTrackId);
      if (known) return known;
      const space = /\/\/IM_(ROBOT|GROUP)\.(.+)$/i.exec(bodyField(c, 'openSpaceId') ?? '');
      const conv = space ? (space[1]!.toUpperCase() === 'GROUP' ? GROUP.key : dmKey(space[2]!)) : undefined;
      const answer = conv ? this.oldestWithoutCard(conv) : undefined;
      if (answer) {
        answer.hasCard = true;
        this.cardAnswer.set(outTrackId, answer.id);
        return answer.id;
      }
      return this.lastActive;
    }
    if (c.path === '/robot/sendBySession') {
      const session = c.query['session'];
      const entry = session ? this.fake.sessions.get(session) : undefined;
      if (entry && this.answers.has(entry.msgId)) return entry.msgId;
    }
    const code = bodyField(c, 'downloadCode');
    if (code) for (const a of this.answers.values()) if (a.downloadCodes.has(code)) return a.id;
    const userIds = (c.body as { userIds?: unknown } | undefined)?.userIds;
    const conv = Array.isArray(userIds) && typeof userIds[0] === 'string' ? dmKey(userIds[0]) : bodyField(c, 'openConversationId') ? GROUP.key : undefined;
    if (conv) return this.latestIn(conv) ?? this.lastActive;
    return this.lastActive;
  }

  private oldestWithoutCard(conv: ConversationKey): AnswerState | undefined {
    for (const a of this.answers.values()) if (a.conv === conv && !a.hasCard) return a;
    return undefined;
  }

  private latestIn(conv: ConversationKey): string | undefined {
    if (this.lastActive && this.answers.get(this.lastActive)?.conv === conv) return this.lastActive;
    let found: string | undefined;
    for (const a of this.answers.values()) if (a.conv === conv) found = a.id;
    return found;
  }

  private syncCard(outTrackId: string): void {
    const card = this.fake.cards.get(outTrackId);
    if (!card) return;
    const delivered = card.deliveries.find((d) => d.success);
    if (!delivered) return;
    const conv = delivered.spaceType === 'IM_GROUP' ? GROUP.key : dmKey(delivered.spaceId);
    const id = `card:${outTrackId}`;
    const prev = this.items.get(id);
    const item: ChatItem = {
      id, conv, at: prev?.at ?? card.createdAt, from: 'bot', kind: 'card', via: 'AI 卡片',
      text: cardText(card), state: cardState(card), updates: card.streams['msgContent']?.updates.length ?? 0,
      answerId: this.cardAnswer.get(outTrackId),
    };
    if (prev && JSON.stringify(prev) === JSON.stringify(item)) return;
    this.items.set(id, item);
    this.emit({ type: 'item', item });
  }

  private syncSent(): void {
    const sent = this.fake.sent;
    for (; this.sentSeen < sent.length; this.sentSeen++) {
      const item = this.sentItem(sent[this.sentSeen]!, this.sentSeen);
      if (!item) continue;
      this.items.set(item.id, item);
      this.emit({ type: 'item', item });
    }
  }

  private sentItem(s: SentRecord, index: number): ChatItem | undefined {
    let conv: ConversationKey | undefined;
    let answerId: string | undefined;
    if (s.channel === 'sessionWebhook') {
      const entry = this.fake.sessions.get(String(s.target));
      if (!entry) return undefined;
      conv = entry.conversationType === '2' ? GROUP.key : dmKey(entry.senderStaffId ?? '');
      answerId = this.answers.has(entry.msgId) ? entry.msgId : undefined;
    } else if (s.channel === 'oto') {
      conv = dmKey(Array.isArray(s.target) ? (s.target[0] ?? '') : s.target);
    } else {
      conv = GROUP.key;
    }
    answerId ??= this.latestIn(conv);
    const base = { id: `sent:${index}`, conv, at: s.at, from: 'bot' as const, answerId, via: s.channel === 'sessionWebhook' ? 'sessionWebhook' : '机器人 API' };
    const b = s.body as Record<string, any> | undefined;
    switch (s.msgtype) {
      case 'markdown':
        return { ...base, kind: 'markdown', text: String(b?.markdown?.text ?? '') };
      case 'text':
        return { ...base, kind: 'text', text: String(b?.text?.content ?? '') };
      case 'sampleMarkdown':
        return { ...base, kind: 'markdown', text: String(b?.text ?? '') };
      case 'sampleText':
        return { ...base, kind: 'text', text: String(b?.content ?? '') };
      case 'sampleFile': {
        const mediaId = String(b?.mediaId ?? '');
        const media = this.fake.media.get(mediaId);
        return { ...base, kind: 'file', fileName: String(b?.fileName ?? media?.filename ?? 'file'), size: media?.size, url: media ? mediaUrl(mediaId) : undefined };
      }
      case 'sampleImageMsg':
        return { ...base, kind: 'picture', url: String(b?.photoURL ?? '') };
      default:
        return { ...base, kind: 'text', text: `[${s.msgtype}] ${JSON.stringify(b)}` };
    }
  }
}

/** Where the page loads an uploaded media id's bytes. */
export const mediaUrl = (mediaId: string): string => `/media/${encodeURIComponent(mediaId)}`;

function publicAnswer(a: AnswerState): AnswerItem {
  return { id: a.id, conv: a.conv, startedAt: a.startedAt, label: a.label, calls: a.calls, failedCalls: a.failedCalls, ...(a.mode ? { mode: a.mode } : {}) };
}

function bodyField(c: CallRecord, key: string): string | undefined {
  const v = (c.body as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' ? v : undefined;
}

/** DingTalk's error code of a failed call: `code` (api host) or `errcode` (oapi host), else the HTTP status. */
function errorCode(c: CallRecord): string | undefined {
  const r = c.response as { code?: unknown; errcode?: unknown } | undefined;
  if (c.status >= 400) return typeof r?.code === 'string' ? r.code : `HTTP ${c.status}`;
  if (c.status === 0) return 'connection cut';
  if (typeof r?.errcode === 'number' && r.errcode !== 0) return `errcode ${r.errcode}`;
  return undefined;
}

function cardText(card: CardState): string {
  return card.streams['msgContent']?.content ?? card.params['msgContent'] ?? '';
}

/** flowStatus of the AI card template: 2 INPUTING, 3 FINISHED, 5 FAILED (dingtalk-protocol.md §3.3). */
function cardState(card: CardState): ItemState {
  const flow = card.params['flowStatus'];
  const stream = card.streams['msgContent'];
  if (flow === '5' || stream?.error) return 'failed';
  if (flow === '3' || stream?.finalized) return 'finished';
  return cardText(card) ? 'streaming' : 'waiting';
}
