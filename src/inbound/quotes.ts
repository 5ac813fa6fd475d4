/**
 * The earlier message a user replied to. Shapes: `text.repliedMsg` on text messages, `content.repliedMsg` on
 * richText (OCC src/core/message-handler.ts); a quoted text's body is `content.content` (real captures, SOIMY#598),
 * older captures `content.text`; markdown `content.text`; a card `content.cardContent` element tree with text in
 * `TEXT` nodes' `value` (SOIMY#598, qwen-code#9536) or nothing at all (OCC#399: only msgId/senderId/createdAt);
 * a chat record `content.title/summary` (SOIMY tests, "logged DingTalk payload"); a multi-line text can arrive as an unreadable encoded string (open-dingtalk/dingtalk-stream-sdk-go#22,
 * ./readable.ts); older `quoteMessage` / `content.quoteContent` (SOIMY src/types.ts).
 * Quoted media are the earlier message's, returned apart from the user's own.
 */
import type { MediaRef, QuotedMessage } from '../inbound.ts';
import { num, objectOf, parseJsonObject, str, type Json } from './json.ts';
import { readable } from './readable.ts';
import { mediaRef, richTextRuns } from './runs.ts';
import { cardText, chatRecordText } from './shared.ts';

/** The quote in a robot callback, if any, and the quoted message's media. */
export function quotedMessage(raw: Json, robotIds: Set<string>): { quoted?: QuotedMessage; media: MediaRef[] } {
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
