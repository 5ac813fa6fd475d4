/**
 * What the agent is told the user said: the quoted message, a shared card or forwarded chat history,
 * the user's own text and media in the order written, and who was @-mentioned when DingTalk left out
 * the names. The same text goes to both engines (gateway `messages[].content`, runtime `Body`).
 *
 * Framing the user cannot forge (src/prompt-escape.ts):
 * - The plugin's own framing is only header lines starting with `[` (`[用户引用了…：]`, `[用户发送了…]`) and
 *   quoted content lines starting with `> `. Every line of user-supplied text (own words, shared card or chat
 *   history) that starts with `[`, `【`, `>`, `＞` or `\` gets a leading `\`, so it cannot pose as a quote
 *   header or extend a quote; quoted text is always prefixed `> ` line by line.
 * - In a group the sender is named by a header line built from the message's sender fields
 *   (`[张三 说：]`, senderNick flattened to one line, else senderStaffId), and lines of the user's own words that
 *   start like a speaker label (`张总: …`) are escaped too, so no line can pose as another member speaking.
 * - Names inside headers (file names, the sender) are one line without brackets.
 * Escaping costs one character per affected line; ordinary text passes unchanged.
 */
import type { InboundMessage } from './inbound.ts';
import { mediaName } from './media/inbound.ts';
import { escapeUserText, inlineName } from './prompt-escape.ts';
import { text, type Lang } from './texts.ts';

/**
 * @param mediaPrompts one line per `msg.media` item (same order) from fetchInboundMedia; undefined = say nothing.
 */
export function userPrompt(msg: InboundMessage, lang: Lang, mediaPrompts: Array<string | undefined> = []): string {
  const parts: string[] = [];
  const mediaLine = (i: number): string | undefined => {
    const ref = msg.media[i];
    if (!ref) return undefined;
    if (i < mediaPrompts.length) return mediaPrompts[i];
    if (ref.kind === 'audio' && ref.recognition) return undefined;
    return ref.quoted ? undefined : text('mediaPlaceholder', lang, { what: mediaName(ref, lang) });
  };

  if (msg.quoted) {
    const what = text(msg.quoted.fromRobot ? 'quoteOfRobot' : 'quoteOfEarlier', lang);
    const quotedMedia = msg.media.flatMap((m, i) => (m.quoted ? [mediaLine(i) ?? mediaName(m, lang)] : []));
    if (msg.quoted.text) {
      parts.push(text('quoteHeader', lang, { what }), msg.quoted.text.split('\n').map((l) => `> ${l}`).join('\n'), ...quotedMedia);
    } else if (quotedMedia.length) {
      parts.push(text('quoteHeader', lang, { what }), ...quotedMedia);
    } else {
      parts.push(text('quoteUnreadable', lang, { what }));
    }
  }

  if (msg.shared) {
    const card = msg.shared.kind === 'card';
    if (msg.shared.text) parts.push(text(card ? 'sharedCard' : 'sharedChatRecord', lang), escapeUserText(msg.shared.text));
    else parts.push(text(card ? 'sharedCardEmpty' : 'sharedChatRecordEmpty', lang));
  }

  const body: string[] = [];
  // Without a body (hand-made messages), own media first, then the text.
  const ordered = msg.body ?? [...msg.media.flatMap((m, i) => (m.quoted ? [] : [{ media: i }])), { text: msg.text }];
  for (const p of ordered) {
    const line = 'text' in p ? escapeUserText(p.text.trim(), msg.isGroup) : mediaLine(p.media);
    if (line) body.push(line);
  }
  parts.push(...body);

  if (msg.mentionNamesMissing && msg.mentions?.length) {
    const ids = msg.mentions.map((m) => m.staffId ?? m.dingtalkId).join(lang === 'en' ? ', ' : '、');
    parts.push(text('mentionsWithoutNames', lang, { count: msg.mentions.length, ids }));
  }

  if (parts.length === 0) parts.push(text('unsupportedMessage', lang, { type: inlineName(msg.msgtype) }));
  const sender = msg.isGroup ? inlineName(msg.senderNick ?? '') || msg.senderStaffId : undefined;
  if (sender) parts.unshift(text('groupSender', lang, { name: sender }));
  return parts.join('\n');
}
