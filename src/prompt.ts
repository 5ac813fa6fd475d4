/**
 * What the agent is told the user said: the quoted message, a shared card or forwarded chat history,
 * the user's own text and media in the order written, and who was @-mentioned when DingTalk left out
 * the names. In a group the sender's name goes first (several people share the session).
 */
import type { InboundMessage } from './inbound.ts';
import { mediaName } from './media/inbound.ts';
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
    if (msg.shared.text) parts.push(text(card ? 'sharedCard' : 'sharedChatRecord', lang), msg.shared.text);
    else parts.push(text(card ? 'sharedCardEmpty' : 'sharedChatRecordEmpty', lang));
  }

  const body: string[] = [];
  // Without a body (hand-made messages), own media first, then the text.
  const ordered = msg.body ?? [...msg.media.flatMap((m, i) => (m.quoted ? [] : [{ media: i }])), { text: msg.text }];
  for (const p of ordered) {
    const line = 'text' in p ? p.text.trim() : mediaLine(p.media);
    if (line) body.push(line);
  }
  parts.push(...body);

  if (msg.mentionNamesMissing && msg.mentions?.length) {
    const ids = msg.mentions.map((m) => m.staffId ?? m.dingtalkId).join(lang === 'en' ? ', ' : '、');
    parts.push(text('mentionsWithoutNames', lang, { count: msg.mentions.length, ids }));
  }

  if (parts.length === 0) parts.push(text('unsupportedMessage', lang, { type: msg.msgtype }));
  const prompt = parts.join('\n');
  return msg.isGroup && msg.senderNick ? `${msg.senderNick}: ${prompt}` : prompt;
}
