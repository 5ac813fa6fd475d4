/**
 * A raw robot callback (the `data` JSON of a Stream frame, spec §2) → one typed InboundMessage.
 * Returns a reason instead of throwing when the payload is unusable, so the caller can ACK and log it.
 *
 * Payload facts used here (ids in tests are made up; shapes are DingTalk's):
 * - Group `text`: DingTalk removes the robot's own `@name` and keeps the space after it (`" 帮我总结一下"`,
 *   PEDIA :224; `{"atUsers":[{"dingtalkId":"<bot>"}],"text":{"content":" /server"}}`, AstrBotDevs/AstrBot#9389).
 *   Some clients remove every `@name`, leaving the other members only in `atUsers` (issue 14).
 * - Group `richText` keeps the robot's `@name` as its own run, glued to the next run with no space
 *   (`[{"text":"@机器人"},{"text":"/server"}]` from the HarmonyOS client, AstrBot#9389; QwenLM/qwen-code#11566).
 * - Runs are `{text}` / `{type:"picture",downloadCode}` in messages, but `{msgType:"text",content}` /
 *   `{msgType:"picture",downloadCode}` inside quotes (QwenLM/qwen-code#9536, #11759); `{type:"at",atName,atUserId}`
 *   runs exist too (SOIMY src/types.ts).
 * - Quotes: `text.repliedMsg` on text messages, `content.repliedMsg` on richText messages
 *   (OCC src/core/message-handler.ts); a quoted text's body is `content.content` (real captures, SOIMY#598),
 *   older captures `content.text`; markdown `content.text`; a card `content.cardContent` element tree with text in
 *   `TEXT` nodes' `value` (SOIMY#598, qwen-code#9536) or nothing at all (OCC#399: only msgId/senderId/createdAt);
 *   a chat record `content.title/summary` (SOIMY tests, "logged DingTalk payload"); a quoted multi-line text can
 *   arrive as an unreadable encoded string (open-dingtalk/dingtalk-stream-sdk-go#22).
 * - A shared DingTalk document is an `interactiveCard` with `content.biz_custom_action_url`
 *   (`dingtalk://dingtalkclient/page/yunpan?route=previewDentry&spaceId=…&fileId=…&type=file`, SOIMY tests);
 *   a forwarded chat history is `chatRecord` with `content.summary/title` and sometimes the messages in
 *   `content.chatRecord` (array or JSON string; open-dingtalk/dingtalk-stream-sdk-python#73, QwenLM/qwen-code#9339).
 */
import { inlineName } from './prompt-escape.ts';

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

type Json = Record<string, unknown>;

/** A forwarded chat history is cut here so one message cannot flood the agent's context. */
export const CHAT_RECORD_MAX_ENTRIES = 50;
export const CHAT_RECORD_MAX_CHARS = 4000;
/** Card and quote text beyond this is cut (a quoted answer card can be long). */
const QUOTE_MAX_CHARS = 4000;

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

/** A piece of the message as DingTalk sent it, before the robot's mention is removed. */
type Run = { text: string } | { at: string; userId?: string } | { media: MediaRef };

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

function richTextRuns(items: unknown): Run[] {
  if (!Array.isArray(items)) return [];
  const runs: Run[] = [];
  for (const item of items) {
    if (!isObject(item)) continue;
    const type = str(item.type) ?? str(item.msgType);
    const text = str(item.text) ?? (typeof item.content === 'string' ? item.content : undefined);
    if (type === 'picture' || (!type && !text && (item.downloadCode || item.pictureDownloadCode))) {
      runs.push(...mediaRef('picture', item).map((m) => ({ media: m })));
    } else if (type === 'at') {
      const name = str(item.atName) ?? text?.replace(/^@/, '');
      if (name) runs.push({ at: name, userId: str(item.atUserId) ?? str(item.dingtalkId) });
    } else if (type === 'video' || type === 'file' || type === 'audio') {
      runs.push(...mediaRef(type, item).map((m) => ({ media: m })));
    } else if (text !== undefined) {
      runs.push({ text });
    }
  }
  return runs;
}

function mediaRef(kind: MediaKind, c: Json): MediaRef[] {
  const downloadCode = str(c.downloadCode) ?? str(c.pictureDownloadCode);
  if (!downloadCode) return [];
  const duration = num(c.duration) ?? (typeof c.duration === 'string' ? Number(c.duration) || undefined : undefined);
  return [{ kind, downloadCode, fileName: str(c.fileName), recognition: str(c.recognition), durationMs: duration }];
}

// ---- mentions ----

function atUsers(v: unknown): MentionedUser[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((u) => (isObject(u) && str(u.dingtalkId) ? [{ dingtalkId: str(u.dingtalkId)!, staffId: str(u.staffId) }] : []));
}

function mentionedMembers(v: unknown, robotIds: Set<string>): MentionedUser[] {
  return atUsers(v).filter((u) => !robotIds.has(u.dingtalkId) && !(u.staffId && robotIds.has(u.staffId)));
}

/** A visible `@name` in the text: which run, where, and whether a structured run already says who it is. */
interface MentionToken {
  run: number;
  start: number;
  end: number;
  userId?: string;
  structured: boolean;
}

/**
 * Removes the robot's own @mention, and only it. DingTalk says who was mentioned (`atUsers`) but not their
 * names, so the robot's mention is identified by evidence, never by position alone:
 * - a structured at-run whose user id is the robot's;
 * - otherwise, when the text shows one more `@name` than the members DingTalk lists, the surplus is the robot's:
 *   taken only if it is unambiguous — it starts the message, or (when it does not) ends it.
 * When names were removed by DingTalk (fewer `@name`s than members) nothing is removed.
 */
function removeRobotMention(
  runs: Run[],
  ctx: { robotIds: Set<string>; robotMentioned: boolean; members: number },
): { parts: BodyPart[]; visibleMemberMentions: number } {
  const texts = runs.map((r) => ('text' in r ? r.text : 'at' in r ? `@${r.at}` : undefined));
  const tokens: MentionToken[] = [];
  runs.forEach((r, i) => {
    if ('at' in r) tokens.push({ run: i, start: 0, end: texts[i]!.length, userId: r.userId, structured: true });
    else if ('text' in r) {
      // A name ends at whitespace or where its run ends (runs may be glued with no space).
      for (const m of r.text.matchAll(/(?<=^|\s)@[^\s@]+(?=\s|$)/gu)) tokens.push({ run: i, start: m.index!, end: m.index! + m[0].length, structured: false });
    }
  });
  let robot: MentionToken | undefined = tokens.find((t) => t.structured && t.userId && ctx.robotIds.has(t.userId));
  if (!robot && ctx.robotMentioned && tokens.length > ctx.members && !tokens.some((t) => t.structured && t.userId)) {
    const first = tokens[0];
    const last = tokens.at(-1);
    if (first && isAtEdge(texts, first, 'start')) robot = first;
    else if (last && isAtEdge(texts, last, 'end')) robot = last;
  }
  const parts: BodyPart[] = [];
  let mediaIndex = 0;
  const pushText = (t: string) => {
    const prev = parts.at(-1);
    if (prev && 'text' in prev) prev.text += t;
    else parts.push({ text: t });
  };
  runs.forEach((r, i) => {
    if ('media' in r) {
      parts.push({ media: mediaIndex++ });
      return;
    }
    let t = texts[i]!;
    // \s covers U+2005, the space DingTalk puts after a mention.
    if (robot && robot.run === i) t = t.slice(0, robot.start) + t.slice(robot.end).replace(/^\s+/u, '');
    if (t) pushText(t);
  });
  // Trim the text pieces at the edges of the message; keep inner spacing as written.
  const first = parts[0];
  if (first && 'text' in first) first.text = first.text.replace(/^\s+/u, '');
  const last = parts.at(-1);
  if (last && 'text' in last) last.text = last.text.replace(/\s+$/u, '');
  return { parts: parts.filter((p) => !('text' in p) || p.text.length > 0), visibleMemberMentions: tokens.length - (robot ? 1 : 0) };
}

/** Is the token the first (or last) non-blank thing in the message? */
function isAtEdge(texts: Array<string | undefined>, t: MentionToken, edge: 'start' | 'end'): boolean {
  const before = edge === 'start' ? texts.slice(0, t.run) : texts.slice(t.run + 1);
  if (before.some((s) => s === undefined || s.trim() !== '')) return false;
  const own = texts[t.run]!;
  return edge === 'start' ? own.slice(0, t.start).trim() === '' : own.slice(t.end).trim() === '';
}

function bodyText(parts: BodyPart[]): string {
  return parts
    .map((p) => ('text' in p ? p.text : '\n'))
    .join('')
    .replace(/\n{2,}/g, '\n')
    .trim();
}

// ---- quotes ----

function quotedMessage(raw: Json, robotIds: Set<string>): { quoted?: QuotedMessage; media: MediaRef[] } {
  const t = objectOf(raw.text);
  const c = objectOf(raw.content);
  const replied = objectOf(t?.repliedMsg) ?? objectOf(c?.repliedMsg);
  if (replied) return readQuote(replied, robotIds);
  // Older shapes: `quoteMessage` (a whole message) and `content.quoteContent` (text only) (SOIMY src/types.ts).
  const legacy = objectOf(raw.quoteMessage);
  if (legacy) {
    const text = readable(str(objectOf(legacy.text)?.content));
    return { quoted: { msgType: str(legacy.msgtype) ?? 'text', text, fromRobot: robotIds.has(str(legacy.senderId) ?? '') }, media: [] };
  }
  const quoteContent = str(c?.quoteContent);
  if (quoteContent) return { quoted: { msgType: 'text', text: readable(quoteContent), fromRobot: false }, media: [] };
  // A reply flag with nothing to show: the user quoted something DingTalk did not send.
  if (t?.isReplyMsg === true || c?.isReplyMsg === true) return { quoted: { msgType: 'unknown', fromRobot: false }, media: [] };
  return { media: [] };
}

/**
 * A robot set to receive every group message gets unmentioned ones too; `isInAtList` says which (spec §2.1,
 * PEDIA). Without it, the robot's own id in `atUsers` decides; a payload with neither came to a normal robot,
 * which DingTalk only sends @-messages.
 */
function mentionsBot(raw: Json): boolean {
  if (typeof raw.isInAtList === 'boolean') return raw.isInAtList;
  const bot = str(raw.chatbotUserId);
  if (bot && Array.isArray(raw.atUsers)) return raw.atUsers.some((u) => isObject(u) && u.dingtalkId === bot);
  return true;
}

function readQuote(replied: Json, robotIds: Set<string>): { quoted: QuotedMessage; media: MediaRef[] } {
  const msgType = str(replied.msgType) ?? str(replied.msgtype) ?? 'text';
  const c = objectOf(replied.content) ?? parseJsonObject(replied.content) ?? {};
  const base = { msgType, fromRobot: robotIds.has(str(replied.senderId) ?? ''), createdAt: num(replied.createdAt) };
  switch (msgType) {
    case 'picture':
    case 'video':
    case 'file':
      return { quoted: base, media: mediaRef(msgType, c) };
    case 'audio':
      return { quoted: { ...base, text: readable(str(c.recognition)) }, media: mediaRef('audio', c) };
    case 'richText': {
      const runs = richTextRuns(c.richText);
      const text = runs.map((r) => ('text' in r ? r.text : 'at' in r ? `@${r.at}` : '')).join('');
      return { quoted: { ...base, text: readable(text) }, media: runs.flatMap((r) => ('media' in r ? [r.media] : [])) };
    }
    case 'interactiveCard':
      return { quoted: { ...base, text: cardText(c) }, media: [] };
    case 'chatRecord':
      return { quoted: { ...base, text: chatRecordText(c) }, media: [] };
    case 'unknownMsgType':
      // Phone clients quote files as unknownMsgType, sometimes with the file's name and code (SOIMY message-utils).
      if (str(c.downloadCode) || str(c.fileName)) return { quoted: { ...base, msgType: 'file', text: c.downloadCode ? undefined : fileLine(c) }, media: mediaRef('file', c) };
      return { quoted: base, media: [] };
    default: {
      // text (content.content in real captures, content.text in older ones), markdown (content.text), and anything new.
      const text = readable(str(c.content) ?? str(c.text) ?? str(replied.text));
      const title = str(c.title);
      return { quoted: { ...base, text: text && title && msgType === 'markdown' && !text.includes(title) ? `${title}\n${text}` : text }, media: [] };
    }
  }
}

function fileLine(c: Json): string | undefined {
  const name = str(c.fileName);
  return name ? `[文件] ${name}` : undefined;
}

/**
 * Text a person could read, or undefined. DingTalk sometimes sends a quoted multi-line text as an opaque
 * encoded string (dingtalk-stream-sdk-go#22) or an encrypted `<base64>||4||1||<n>` payload
 * (dingtalk-workspace-cli#1091): such a blob is not the quote and must not be shown as one.
 */
function readable(text: string | undefined): string | undefined {
  const t = text?.trim();
  if (!t) return undefined;
  if (looksEncoded(t)) return undefined;
  return t.length > QUOTE_MAX_CHARS ? `${t.slice(0, QUOTE_MAX_CHARS)}…` : t;
}

function looksEncoded(t: string): boolean {
  if (/^[A-Za-z0-9+/=_-]{16,}(?:\|\|\d+){2,}$/.test(t)) return true;
  if (/\s/.test(t) || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return false;
  if (/^[0-9a-f]+$/i.test(t)) return false; // hashes and ids people do quote
  return t.length >= 24 && /[A-Z]/.test(t) && /[a-z]/.test(t) && /\d/.test(t) && (t.length >= 40 || /[+/=]/.test(t));
}

// ---- cards and chat records ----

/** Title, visible text and link of a card or shared document; undefined when DingTalk sent none. */
function cardText(c: Json): string | undefined {
  const lines: string[] = [];
  const title = str(c.title);
  if (title) lines.push(title);
  const tree = collectCardText(c.cardContent ?? parseJson(c.cardContent));
  const body = tree.length ? tree.join('\n') : (str(c.text) ?? str(c.markdown) ?? str(c.content));
  if (body && readable(body) && body !== title) lines.push(readable(body)!);
  const link = str(c.biz_custom_action_url) ?? str(c.url) ?? str(c.messageUrl);
  if (link) lines.push(/route=previewDentry/.test(link) ? `钉钉文档：${link}` : link);
  const text = lines.join('\n').trim();
  return text ? truncate(text, QUOTE_MAX_CHARS) : undefined;
}

/** Visible text of a card element tree: `TEXT` nodes' `value`, and a string `text` on any other node. */
function collectCardText(node: unknown, out: string[] = [], depth = 0): string[] {
  if (depth > 20) return out;
  if (Array.isArray(node)) {
    for (const n of node) collectCardText(n, out, depth + 1);
    return out;
  }
  if (!isObject(node)) return out;
  const value = str(node.value) ?? str(node.text);
  if (value && (node.elementType === 'TEXT' || node.elementType === 'MARKDOWN' || typeof node.text === 'string')) out.push(value.trim());
  if (node.children !== undefined) collectCardText(node.children, out, depth + 1);
  return out;
}

/**
 * A forwarded chat history as lines `sender (time): text`, with its title first; only the summary when
 * DingTalk sent no messages. Bounded by CHAT_RECORD_MAX_ENTRIES / CHAT_RECORD_MAX_CHARS.
 */
function chatRecordText(c: Json): string | undefined {
  const title = str(c.title);
  const summary = str(c.summary);
  const raw = c.chatRecord ?? c.records ?? c.messages;
  const entries = Array.isArray(raw) ? raw : (parseJson(raw) as unknown);
  const list = Array.isArray(entries) ? entries.filter(isObject) : [];
  // Entries may carry only an encrypted sender id; the summary ("张三:[消息]" per line) names them in order.
  const summaryNames = (summary ?? '').split('\n').map((l) => /^([^:：]{1,40})[:：]/.exec(l)?.[1]?.trim());
  const lines: string[] = [];
  let size = 0;
  let shown = 0;
  for (const [i, e] of list.entries()) {
    if (shown >= CHAT_RECORD_MAX_ENTRIES || size >= CHAT_RECORD_MAX_CHARS) break;
    const idSender = str(e.senderStaffId) ?? str(e.senderId);
    const sender = str(e.senderNick) ?? str(e.senderName) ?? str(e.sender) ?? (summaryNames.length === list.length ? summaryNames[i] : undefined) ?? (idSender && !idSender.startsWith('$:') ? idSender : '某人');
    const at = num(e.createAt) ?? num(e.createdAt) ?? num(e.sendTime) ?? num(Number(e.createAt ?? e.sendTime ?? NaN));
    // One entry = one `sender (time): text` line (entryText is one line; the sender is made one line without
    // colons), so an entry cannot pose as another entry or as the plugin's framing (src/prompt-escape.ts).
    const body = entryText(e);
    if (!body) continue;
    const line = `${inlineName(sender).replace(/[:：]/g, ' ').trim() || '某人'}${at ? ` (${formatTime(at)})` : ''}: ${body}`;
    const room = CHAT_RECORD_MAX_CHARS - size;
    lines.push(line.length > room ? `${line.slice(0, room)}…` : line);
    size += line.length;
    shown++;
  }
  const omitted = list.length - shown;
  const parts: string[] = [];
  if (title) parts.push(title);
  if (lines.length) {
    parts.push(...lines);
    if (omitted > 0) parts.push(`…（另有 ${omitted} 条未显示）`);
  } else if (summary && summary !== '[]') {
    parts.push(truncate(summary, CHAT_RECORD_MAX_CHARS));
  }
  return lines.length || (summary && summary !== '[]') ? parts.join('\n') : undefined;
}

function entryText(e: Json): string | undefined {
  const type = str(e.msgType) ?? str(e.msgtype);
  const c = e.content;
  const text =
    (typeof c === 'string' ? c : isObject(c) ? (str(c.text) ?? str(c.content) ?? (Array.isArray(c.richText) ? richTextRuns(c.richText).map((r) => ('text' in r ? r.text : '')).join('') : undefined)) : undefined) ??
    str(e.text) ??
    str(e.message);
  if (type === 'picture') return '[图片]';
  if (type === 'file') return `[文件] ${str(isObject(c) ? c.fileName : undefined) ?? str(e.fileName) ?? ''}`.trim();
  if (type === 'video') return '[视频]';
  if (type === 'audio') return readable(str(isObject(c) ? c.recognition : undefined)) ?? '[语音]';
  return readable(text?.replace(/\s+/g, ' '));
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '' : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ---- JSON helpers ----

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function objectOf(v: unknown): Json | undefined {
  return isObject(v) ? v : undefined;
}

function parseJson(v: unknown): unknown {
  if (typeof v !== 'string' || !/^\s*[[{]/.test(v)) return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return undefined;
  }
}

function parseJsonObject(v: unknown): Json | undefined {
  return objectOf(parseJson(v));
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
