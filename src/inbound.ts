/**
 * A raw robot callback (the `data` JSON of a Stream frame, spec §2) → one typed InboundMessage.
 * Returns a reason instead of throwing when the payload is unusable, so the caller can ACK and log it.
 *
 * This file reads the message itself (ids, sender, conversation, the user's text and media in order); the parts with
 * payload shapes of their own live beside it, each with its sources (ids in tests are made up; shapes are DingTalk's):
 * - ./inbound/runs.ts: the pieces of `text` / `richText` / media messages (and of quotes);
 * - ./inbound/mentions.ts: members mentioned, and the robot's own `@name` removed from the text;
 * - ./inbound/quotes.ts: the earlier message a user replied to (`repliedMsg` and older shapes);
 * - ./inbound/shared.ts: shared cards and documents (`interactiveCard`) and forwarded chat histories (`chatRecord`);
 * - ./inbound/readable.ts: text a person could read (encoded blobs dropped, long text cut).
 */
import { isObject, num, objectOf, str, type Json } from './inbound/json.ts';
import { mentionedMembers, mentionsBot, removeRobotMention } from './inbound/mentions.ts';
import { quotedMessage } from './inbound/quotes.ts';
import { mediaRef, richTextRuns, type Run } from './inbound/runs.ts';
import { cardText, chatRecordText } from './inbound/shared.ts';

export { CHAT_RECORD_MAX_CHARS, CHAT_RECORD_MAX_ENTRIES } from './inbound/shared.ts';

export type MediaKind = 'picture' | 'audio' | 'video' | 'file';

export interface MediaRef {
  kind: MediaKind;
  downloadCode: string;
  fileName?: string;
  /** Audio: DingTalk's speech recognition, when it sent one. */
  recognition?: string;
  durationMs?: number;
  /** Part of the quoted (earlier) message, not something the user sent now. */
  quoted?: boolean;
}

/** One piece of what the user wrote, in order: text, or a picture/file (index into `media`). */
export type BodyPart = { text: string } | { media: number };

/** A member the user @-mentioned (never the robot). DingTalk gives ids only, no names. */
export interface MentionedUser {
  dingtalkId: string;
  staffId?: string;
}

/** The earlier message the user replied to. */
export interface QuotedMessage {
  msgType: string;
  /** Its readable text (markdown, card text and chat records rendered as text); undefined when unreadable. */
  text?: string;
  /** The robot itself sent it (an earlier answer). */
  fromRobot: boolean;
  createdAt?: number;
}

/** Readable content of a shared card/document or a forwarded chat history. */
export interface SharedContent {
  kind: 'card' | 'chatRecord';
  /** Rendered as text for the agent; undefined when DingTalk sent nothing readable. */
  text?: string;
}

export interface InboundMessage {
  msgId: string;
  msgtype: string;
  isGroup: boolean;
  conversationId: string;
  conversationTitle?: string;
  senderId: string;
  /** userId within the org; absent for some external users. */
  senderStaffId?: string;
  senderNick?: string;
  /** Group: the robot is @-mentioned (`isInAtList`, spec §2.1); always true in DMs. */
  mentionsBot: boolean;
  /** The user's words: the robot's own @mention removed, every other mention kept. */
  text: string;
  /** Text and media of the message itself in the order the user wrote them (absent: just `text`). */
  body?: BodyPart[];
  /** The message's own media first, then the quoted message's (`quoted: true`). */
  media: MediaRef[];
  /** Members (not the robot) the user @-mentioned. */
  mentions?: MentionedUser[];
  /** DingTalk removed some mentioned members' names from the text: only `mentions` says who they were. */
  mentionNamesMissing?: boolean;
  quoted?: QuotedMessage;
  shared?: SharedContent;
  sessionWebhook?: string;
  sessionWebhookExpiresAt?: number;
  robotCode?: string;
  createAt: number;
}

export type ParseResult = { ok: true; message: InboundMessage } | { ok: false; reason: string };

export function parseRobotMessage(data: string, fallbackId?: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'data is not JSON' };
  }
  if (!isObject(raw)) return { ok: false, reason: 'data is not an object' };
  const msgId = str(raw.msgId) ?? fallbackId;
  const msgtype = str(raw.msgtype);
  const conversationId = str(raw.conversationId);
  const senderId = str(raw.senderId) ?? str(raw.senderStaffId);
  if (!msgId) return { ok: false, reason: 'no msgId' };
  if (!msgtype) return { ok: false, reason: 'no msgtype' };
  if (!conversationId) return { ok: false, reason: 'no conversationId' };
  if (!senderId) return { ok: false, reason: 'no senderId' };

  const isGroup = String(raw.conversationType) === '2';
  const robotIds = new Set([str(raw.chatbotUserId), str(raw.robotCode)].filter((v): v is string => !!v));
  const { runs, media, shared } = content(msgtype, raw);
  const mentions = isGroup ? mentionedMembers(raw.atUsers, robotIds) : [];
  const robotMentioned = isGroup && mentionsBot(raw);
  const body = removeRobotMention(runs, { robotIds, robotMentioned, members: mentions.length });
  const quote = quotedMessage(raw, robotIds);
  const text = bodyText(body.parts);
  return {
    ok: true,
    message: {
      msgId,
      msgtype,
      isGroup,
      conversationId,
      conversationTitle: str(raw.conversationTitle),
      senderId,
      senderStaffId: str(raw.senderStaffId),
      senderNick: str(raw.senderNick),
      mentionsBot: !isGroup || mentionsBot(raw),
      text,
      body: body.parts,
      media: [...media, ...quote.media.map((m) => ({ ...m, quoted: true }))],
      mentions,
      mentionNamesMissing: body.visibleMemberMentions < mentions.length,
      quoted: quote.quoted,
      shared,
      sessionWebhook: str(raw.sessionWebhook),
      sessionWebhookExpiresAt: num(raw.sessionWebhookExpiredTime),
      robotCode: str(raw.robotCode),
      createAt: num(raw.createAt) ?? Date.now(),
    },
  };
}

/**
 * The text commands (reset, stop words) are matched against: the user's words without any leading
 * @mentions, trimmed. `@小助手 /new`, `@小助手/new` and ` /new` all give `/new`.
 */
export function commandText(msg: Pick<InboundMessage, 'text'>): string {
  return stripLeadingMention(msg.text);
}

/** Leading `@name` tokens (one or more) removed, trimmed. Names end at whitespace (incl. U+2005). */
export function stripLeadingMention(text: string): string {
  return text.replace(/^(?:\s*@[^\s@]+(?=\s|$))+/u, '').trim();
}

// ---- message content ----

function content(msgtype: string, raw: Json): { runs: Run[]; media: MediaRef[]; shared?: SharedContent } {
  const c = objectOf(raw.content) ?? {};
  const withMedia = (runs: Run[]) => ({ runs, media: runs.flatMap((r) => ('media' in r ? [r.media] : [])) });
  switch (msgtype) {
    case 'text':
      return withMedia([{ text: str(objectOf(raw.text)?.content) ?? '' }]);
    case 'richText':
      return withMedia(richTextRuns(c.richText));
    case 'markdown':
      return withMedia([{ text: str(objectOf(raw.text)?.content) ?? str(c.text) ?? '' }]);
    case 'picture':
    case 'video':
    case 'file':
      return withMedia(mediaRef(msgtype, c).map((m) => ({ media: m })));
    case 'audio': {
      // DingTalk already turned the voice note into words: those are the message; the media stays for reference.
      const recognition = str(c.recognition)?.trim();
      return withMedia([...(recognition ? [{ text: recognition }] : []), ...mediaRef('audio', c).map((m) => ({ media: m }))]);
    }
    case 'interactiveCard':
      return { runs: [], media: [], shared: { kind: 'card', text: cardText(c) } };
    case 'chatRecord':
      return { runs: [], media: [], shared: { kind: 'chatRecord', text: chatRecordText(c) } };
    default:
      return { runs: [], media: [] };
  }
}

function bodyText(parts: BodyPart[]): string {
  return parts
    .map((p) => ('text' in p ? p.text : '\n'))
    .join('')
    .replace(/\n{2,}/g, '\n')
    .trim();
}
