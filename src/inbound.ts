/**
 * A raw robot callback (the `data` JSON of a Stream frame, spec §2) → one typed InboundMessage.
 * Returns a reason instead of throwing when the payload is unusable, so the caller can ACK and log it.
 */

export type MediaKind = 'picture' | 'audio' | 'video' | 'file';

export interface MediaRef {
  kind: MediaKind;
  downloadCode: string;
  fileName?: string;
  /** Audio: DingTalk's speech recognition, when it sent one. */
  recognition?: string;
  durationMs?: number;
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
  /** The user's words, mention stripped. */
  text: string;
  media: MediaRef[];
  /** What the user replied to, when it was text. */
  quotedText?: string;
  sessionWebhook?: string;
  sessionWebhookExpiresAt?: number;
  robotCode?: string;
  createAt: number;
}

export type ParseResult = { ok: true; message: InboundMessage } | { ok: false; reason: string };

type Json = Record<string, unknown>;

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
  const { text, media } = content(msgtype, raw);
  const quoted = quotedMessage(raw);
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
      text: isGroup ? stripLeadingMention(text) : text.trim(),
      media: [...media, ...quoted.media],
      quotedText: quoted.text,
      sessionWebhook: str(raw.sessionWebhook),
      sessionWebhookExpiresAt: num(raw.sessionWebhookExpiredTime),
      robotCode: str(raw.robotCode),
      createAt: num(raw.createAt) ?? Date.now(),
    },
  };
}

function content(msgtype: string, raw: Json): { text: string; media: MediaRef[] } {
  const c = isObject(raw.content) ? raw.content : {};
  switch (msgtype) {
    case 'text':
      return { text: str(isObject(raw.text) ? raw.text.content : undefined) ?? '', media: [] };
    case 'richText':
      return richText(c.richText);
    case 'picture':
      return { text: '', media: mediaRef('picture', c) };
    case 'audio': {
      const refs = mediaRef('audio', c);
      return { text: str(c.recognition)?.trim() ?? '', media: refs };
    }
    case 'video':
      return { text: '', media: mediaRef('video', c) };
    case 'file':
      return { text: '', media: mediaRef('file', c) };
    default:
      return { text: '', media: [] };
  }
}

function richText(items: unknown): { text: string; media: MediaRef[] } {
  if (!Array.isArray(items)) return { text: '', media: [] };
  const parts: string[] = [];
  const media: MediaRef[] = [];
  for (const item of items) {
    if (!isObject(item)) continue;
    if (typeof item.text === 'string') parts.push(item.text);
    if (item.type === 'picture') media.push(...mediaRef('picture', item));
  }
  return { text: parts.join(''), media };
}

function mediaRef(kind: MediaKind, c: Json): MediaRef[] {
  const downloadCode = str(c.downloadCode) ?? str(c.pictureDownloadCode);
  if (!downloadCode) return [];
  const duration = num(c.duration) ?? (typeof c.duration === 'string' ? Number(c.duration) || undefined : undefined);
  return [{ kind, downloadCode, fileName: str(c.fileName), recognition: str(c.recognition), durationMs: duration }];
}

function quotedMessage(raw: Json): { text?: string; media: MediaRef[] } {
  const t = isObject(raw.text) ? raw.text : undefined;
  const replied = t && t.isReplyMsg && isObject(t.repliedMsg) ? t.repliedMsg : undefined;
  if (!replied) return { media: [] };
  const c = isObject(replied.content) ? replied.content : {};
  const kind = str(replied.msgType);
  if (kind === 'text') return { text: str(c.text) ?? str(c.content), media: [] };
  if (kind === 'richText') return richText(c.richText);
  if (kind === 'picture' || kind === 'file' || kind === 'video' || kind === 'audio') return { media: mediaRef(kind, c) };
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

/** DingTalk removes the bot's @name from group text but leaves the space (and sometimes the name). */
export function stripLeadingMention(text: string): string {
  return text.replace(/^\s*@\S+\s+/, '').trim();
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
