/**
 * Plain messages when there is no card: the reply goes out as markdown through the message's
 * sessionWebhook (@-ing the sender in groups), and through the robot OpenAPI when the webhook is
 * missing, expired, refused or not DingTalk's — so an answer is never lost.
 *
 * Exactly once: DingTalk has no idempotency key for either route and no way to ask whether a webhook message
 * arrived. A refused or unsent webhook call (error code, connection refused) falls back silently. A webhook call
 * that timed out or broke after sending may have been delivered: the webhook timeout is long (60 s, see the client)
 * so this is rare, and the robot API copy then says it may be a duplicate — a visible duplicate beats a lost answer.
 */
import type { DingTalkClient } from './dingtalk/client.ts';
import { DingTalkApiError, DingTalkNetworkError } from './dingtalk/errors.ts';
import { sendBySessionWebhook, sendRobotMessage, type Target } from './dingtalk/endpoints.ts';
import type { InboundMessage } from './inbound.ts';
import { errorMessage, type Logger } from './log.ts';
import { markdownStateAt } from './markdown.ts';
import { detectLang, text as userText } from './texts.ts';

/**
 * Markdown messages have no documented cap; peers split at 3,800 characters (SOIMY send-service.ts:189,
 * QwenLM/qwen-code#6679) and QwenPaw stops rendering markdown past 3,500 (agentscope-ai/QwenPaw#3742): chunks stay
 * at 3,500 (the group @-mention is added on top).
 */
export const MARKDOWN_CHUNK_CHARS = 3500;

/** Where the answer to `msg` goes; in a group it @-mentions the asker where the channel can (staff id known). */
export function targetOf(msg: InboundMessage): Target {
  if (!msg.isGroup) return { kind: 'dm', userId: msg.senderStaffId ?? msg.senderId };
  return { kind: 'group', conversationId: msg.conversationId, ...(msg.senderStaffId ? { atUser: { userId: msg.senderStaffId, name: msg.senderNick } } : {}) };
}

/** Some of a text could not be delivered by any route; `undelivered` is what is missing (whole chunks). */
export class UndeliveredError extends Error {
  readonly undelivered: string;
  constructor(undelivered: string, cause: unknown) {
    super(`message not delivered: ${errorMessage(cause)}`, { cause });
    this.name = 'UndeliveredError';
    this.undelivered = undelivered;
  }
}

/**
 * Send `text` (split into chunks) to the message's conversation. In a group the asker is @-mentioned in the first
 * chunk only, and not at all with `mention: false` (a later message of the same answer): one answer, one ping.
 * Throws UndeliveredError with the missing rest.
 */
export async function deliverMarkdown(client: DingTalkClient, msg: InboundMessage, text: string, log: Logger, opts: { mention?: boolean } = {}): Promise<void> {
  const chunks = splitMarkdown(text, MARKDOWN_CHUNK_CHARS);
  for (const [i, chunk] of chunks.entries()) {
    try {
      await deliverOne(client, msg, chunk, log, i === 0 && opts.mention !== false);
    } catch (err) {
      throw new UndeliveredError(chunks.slice(i).join('\n\n'), err);
    }
  }
}

/**
 * Is `url` a sessionWebhook of DingTalk? Callbacks carry `https://oapi.dingtalk.com/robot/sendBySession?session=…`
 * (spec §2.1 real captures, §3.7); the configured oapiBaseUrl stands in for oapi.dingtalk.com (tests, proxies).
 * Anything else (another host, a path elsewhere) is not POSTed to: the answer would leave DingTalk.
 */
export function isDingTalkWebhook(url: string, oapiOrigin: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return (u.origin === 'https://oapi.dingtalk.com' || u.origin === oapiOrigin) && u.pathname === '/robot/sendBySession' && !u.username && !u.password;
}

async function deliverOne(client: DingTalkClient, msg: InboundMessage, text: string, log: Logger, mention: boolean): Promise<void> {
  let maybeSent = false;
  if (webhookValid(msg) && !isDingTalkWebhook(msg.sessionWebhook!, client.oapiOrigin)) {
    log.warn(`message ${msg.msgId}: sessionWebhook is not on DingTalk's webhook host (${hostOf(msg.sessionWebhook!)}); sending through the robot API instead`);
  } else if (webhookValid(msg)) {
    try {
      await replyByWebhook(client, msg, text, mention);
      return;
    } catch (err) {
      if (!(err instanceof DingTalkApiError || err instanceof DingTalkNetworkError)) throw err;
      maybeSent = err instanceof DingTalkNetworkError && !err.notSent;
      log.warn(`sessionWebhook reply failed (${errorMessage(err)}); sending through the robot API instead${maybeSent ? ' (it may have arrived: marked as a possible duplicate)' : ''}`);
    }
  }
  const body = maybeSent ? `${text}

${userText('maybeDuplicate', detectLang(msg.text))}` : text;
  // groupMessages/send has no at field (the official SDK's OrgGroupSendRequest: robotCode, openConversationId, msgKey,
  // msgParam, coolAppCode, token), so the asker cannot be notified here: their name in the text says whom it answers.
  const asker = msg.isGroup && mention ? (msg.senderNick ?? msg.senderStaffId) : undefined;
  // An answer's message is a final: it goes before streaming updates and outbound sends (budget.ts).
  await sendRobotMessage(client, targetOf(msg), 'sampleMarkdown', { title: titleOf(text), text: asker ? `${body}

@${asker}` : body }, { priority: true });
}

/**
 * A short line (refusal, pairing code, queue or stop notice) through the sessionWebhook only: it costs no card
 * and no robot OpenAPI call, and a lost notice is not worth a second path. Never throws; false when not sent.
 */
export async function sendNotice(client: DingTalkClient, msg: InboundMessage, text: string, log: Logger): Promise<boolean> {
  if (!webhookValid(msg)) return false;
  if (!isDingTalkWebhook(msg.sessionWebhook!, client.oapiOrigin)) {
    log.warn(`message ${msg.msgId}: notice not sent: sessionWebhook is not on DingTalk's webhook host (${hostOf(msg.sessionWebhook!)})`);
    return false;
  }
  try {
    await replyByWebhook(client, msg, text, true);
    return true;
  } catch (err) {
    log.warn(`message ${msg.msgId}: notice not sent: ${errorMessage(err)}`);
    return false;
  }
}

function webhookValid(msg: InboundMessage): boolean {
  return !!msg.sessionWebhook && (msg.sessionWebhookExpiresAt === undefined || msg.sessionWebhookExpiresAt > Date.now() + 5_000);
}

/** Markdown through the sessionWebhook, @-ing the sender in groups when `mention` (the @userId must also be in the text, spec §3.7). */
async function replyByWebhook(client: DingTalkClient, msg: InboundMessage, text: string, mention: boolean): Promise<void> {
  const atUser = msg.isGroup && mention ? msg.senderStaffId : undefined;
  await sendBySessionWebhook(client, msg.sessionWebhook!, {
    msgtype: 'markdown',
    markdown: { title: titleOf(text), text: atUser ? `${text}\n\n@${atUser}` : text },
    ...(atUser ? { at: { atUserIds: [atUser], isAtAll: false } } : {}),
  });
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || 'no host';
  } catch {
    return 'not a URL';
  }
}

/**
 * A notification title: the first words of the text as they read, without markdown syntax (images and links give
 * their text, never a media id or URL; emphasis marks go without leaving gaps).
 */
export function titleOf(text: string): string {
  const plain = text
    .replace(/!?\[([^\]\n]*)\]\([^)\n]*\)/g, '$1')
    .replace(/[*`]+|~~/g, '')
    .replace(/^\s*(?:#{1,6}|>|[-+]|\d+\.)\s+/gm, '')
    .replace(/[|[\]]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return plain.length > 24 ? `${plain.slice(0, 24)}…` : plain || 'AI';
}

/**
 * Split at paragraph, then line, then hard boundaries, each chunk at most `max` UTF-16 units; never inside a
 * surrogate pair. A chunk that ends inside a code fence closes it and the next reopens it with the same info
 * string; a table cut between rows repeats its header in the next chunk, so every chunk renders on its own.
 */
export function splitMarkdown(text: string, max: number): string[] {
  const out: string[] = [];
  let rest: string | undefined = text;
  while (rest !== undefined) {
    const [head, tail] = splitFirst(rest, max);
    out.push(head);
    rest = tail;
  }
  return out;
}

/**
 * The first chunk of `text` (see splitMarkdown), the rest ready to render on its own (no rest when it fits), and the
 * index in `text` where the rest's own text begins (after the fence opener or table header the rest may repeat).
 */
export function splitFirst(text: string, max: number): [head: string, rest: string | undefined, restAt: number] {
  if (text.length <= max) return [text, undefined, text.length];
  // Room for the closing fence a chunk may need.
  const budget = Math.max(16, max - 12);
  let cut = text.lastIndexOf('\n\n', budget);
  if (cut < budget / 2) cut = text.lastIndexOf('\n', budget);
  if (cut < budget / 2) cut = budget;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  let head = text.slice(0, cut).trimEnd();
  let tail = text.slice(cut).replace(/^\n+/, '');
  const restAt = text.length - tail.length;
  const open = markdownStateAt(head);
  if (open.fence) {
    head += `\n${open.fence.marker}`;
    tail = `${open.fence.opener}\n${tail}`;
  } else if (open.tableHeader && open.tableHeader.length < budget / 2 && /^\s*\|?.*\|/.test(tail)) {
    tail = `${open.tableHeader}\n${tail}`;
  }
  return [head, tail.trim() ? tail : undefined, restAt];
}
