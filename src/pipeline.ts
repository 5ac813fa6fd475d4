/**
 * The whole reply flow in one place, top to bottom:
 * frame data → inbound message → dedupe → conversation queue → reset command or session
 * → reply engine → AI card (or markdown when the card cannot show it).
 */
import { AiCard } from './card.ts';
import type { ResolvedAccount } from './config.ts';
import type { Dedupe } from './dedupe.ts';
import { deliverMarkdown, targetOf } from './deliver.ts';
import type { DingTalkClient } from './dingtalk/client.ts';
import { parseRobotMessage, type InboundMessage, type MediaKind } from './inbound.ts';
import { errorMessage, type Logger } from './log.ts';
import type { KeyedQueue } from './queue.ts';
import { ReplyError, type ReplyEngine } from './reply/engine.ts';
import { isResetCommand, type Sessions } from './sessions.ts';
import { detectLang, replyErrorText, text, type Lang } from './texts.ts';

export interface PipelineDeps {
  account: ResolvedAccount;
  client: DingTalkClient;
  engine: ReplyEngine;
  sessions: Sessions;
  dedupe: Dedupe;
  queue: KeyedQueue;
  log: Logger;
  /** Aborted when the account stops. */
  signal: AbortSignal;
  /** Shortest time between two card updates. */
  cardIntervalMs: number;
}

/** Handle one robot callback's `data`. Never throws: every failure is logged and, where possible, told to the user. */
export async function handleRobotMessage(deps: PipelineDeps, data: string, frameMessageId: string): Promise<void> {
  const { log } = deps;
  const parsed = parseRobotMessage(data, frameMessageId);
  if (!parsed.ok) {
    log.warn(`dropped robot message ${frameMessageId}: ${parsed.reason}`);
    return;
  }
  const msg = parsed.message;
  if (!(await deps.dedupe.firstSeen(deps.account.accountId, msg.msgId))) {
    log.info(`message ${msg.msgId} already handled (redelivery); skipped`);
    return;
  }
  log.info(`message ${msg.msgId} (${msg.msgtype}) from ${msg.senderStaffId ?? msg.senderId} in ${msg.isGroup ? 'group' : 'DM'} ${msg.conversationId}`);
  await deps.queue.run(deps.sessions.conversationKey(msg), () =>
    answer(deps, msg).catch((err) => log.error(`message ${msg.msgId}: reply lost: ${errorMessage(err)}`)),
  );
}

async function answer(deps: PipelineDeps, msg: InboundMessage): Promise<void> {
  const { account, client, log } = deps;
  // A command like `/new` says nothing about the user's language.
  const lang = detectLang(msg.text.replace(/^\s*\/\S+/, ''));

  if (isResetCommand(msg.text)) {
    await deps.sessions.reset(msg);
    log.info(`message ${msg.msgId}: new session started by command`);
    await deliverMarkdown(client, msg, text('sessionReset', lang), log);
    return;
  }

  const session = await deps.sessions.touch(msg);
  // Card setup runs while the gateway thinks: the user never waits for it.
  const card = new AiCard({ client, templateId: account.cardTemplateId, target: targetOf(msg), log, intervalMs: deps.cardIntervalMs });
  void card.start();

  let answerText = '';
  try {
    const deltas = deps.engine.reply({
      sessionKey: session.key,
      text: userPrompt(msg, lang),
      images: [],
      systemPrompts: account.systemPrompt ? [account.systemPrompt] : [],
      sender: { id: msg.senderStaffId ?? msg.senderId, name: msg.senderNick },
      signal: deps.signal,
    });
    for await (const delta of deltas) {
      answerText += delta;
      card.update(answerText);
    }
  } catch (err) {
    const message = err instanceof ReplyError ? replyErrorText(err, lang) : text('gatewayFailed', lang, { detail: errorMessage(err) });
    log.warn(`message ${msg.msgId}: no answer from ${deps.engine.name}: ${errorMessage(err)}`);
    if (!(await card.fail(message))) await deliverMarkdown(client, msg, message, log);
    return;
  }

  const finalText = answerText.trim() ? answerText : text('emptyAnswer', lang);
  if (await card.finish(finalText)) return;
  log.info(`message ${msg.msgId}: card unavailable (${card.failure ?? 'unknown'}); answering with markdown`);
  await deliverMarkdown(client, msg, finalText, log);
}

const MEDIA_NAMES: Record<MediaKind, Record<Lang, string>> = {
  picture: { zh: '一张图片', en: 'a picture' },
  audio: { zh: '一段语音', en: 'a voice message' },
  video: { zh: '一段视频', en: 'a video' },
  file: { zh: '一个文件', en: 'a file' },
};

/** What the engine is told the user said: the text, placeholders for media, and the quoted message. */
function userPrompt(msg: InboundMessage, lang: Lang): string {
  const parts: string[] = [];
  if (msg.quotedText) parts.push(lang === 'en' ? `> (replying to) ${msg.quotedText}` : `> （回复）${msg.quotedText}`);
  for (const m of msg.media) {
    if (m.kind === 'audio' && m.recognition) continue; // the recognition text is the message
    const what = MEDIA_NAMES[m.kind][lang] + (m.fileName ? `「${m.fileName}」` : '');
    parts.push(text('mediaPlaceholder', lang, { what }));
  }
  if (msg.text) parts.push(msg.text);
  if (parts.length === 0) parts.push(text('unsupportedMessage', lang, { type: msg.msgtype }));
  const body = parts.join('\n');
  // In a group session several people talk: the agent needs to know who said what.
  return msg.isGroup && msg.senderNick ? `${msg.senderNick}: ${body}` : body;
}
