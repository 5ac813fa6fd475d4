/**
 * Plain messages when there is no card: the reply goes out as markdown through the message's
 * sessionWebhook (@-ing the sender in groups), and through the robot OpenAPI when the webhook is
 * missing, expired or refused — so an answer is never lost.
 */
import type { DingTalkClient } from './dingtalk/client.ts';
import { DingTalkApiError, DingTalkNetworkError } from './dingtalk/errors.ts';
import { sendBySessionWebhook, sendRobotMessage, type Target } from './dingtalk/endpoints.ts';
import type { InboundMessage } from './inbound.ts';
import { errorMessage, type Logger } from './log.ts';

/** DingTalk has no documented markdown cap; long texts are split well below where clients truncate. */
export const MARKDOWN_CHUNK_CHARS = 3800;

export function targetOf(msg: InboundMessage): Target {
  return msg.isGroup ? { kind: 'group', conversationId: msg.conversationId } : { kind: 'dm', userId: msg.senderStaffId ?? msg.senderId };
}

export async function deliverMarkdown(client: DingTalkClient, msg: InboundMessage, text: string, log: Logger): Promise<void> {
  for (const chunk of splitMarkdown(text, MARKDOWN_CHUNK_CHARS)) await deliverOne(client, msg, chunk, log);
}

async function deliverOne(client: DingTalkClient, msg: InboundMessage, text: string, log: Logger): Promise<void> {
  if (webhookValid(msg)) {
    try {
      await replyByWebhook(client, msg, text);
      return;
    } catch (err) {
      if (!(err instanceof DingTalkApiError || err instanceof DingTalkNetworkError)) throw err;
      log.warn(`sessionWebhook reply failed (${errorMessage(err)}); sending through the robot API instead`);
    }
  }
  await sendRobotMessage(client, targetOf(msg), 'sampleMarkdown', { title: titleOf(text), text });
}

/**
 * A short line (refusal, pairing code, queue or stop notice) through the sessionWebhook only: it costs no card
 * and no robot OpenAPI call, and a lost notice is not worth a second path. Never throws; false when not sent.
 */
export async function sendNotice(client: DingTalkClient, msg: InboundMessage, text: string, log: Logger): Promise<boolean> {
  if (!webhookValid(msg)) return false;
  try {
    await replyByWebhook(client, msg, text);
    return true;
  } catch (err) {
    log.warn(`message ${msg.msgId}: notice not sent: ${errorMessage(err)}`);
    return false;
  }
}

function webhookValid(msg: InboundMessage): boolean {
  return !!msg.sessionWebhook && (msg.sessionWebhookExpiresAt === undefined || msg.sessionWebhookExpiresAt > Date.now() + 5_000);
}

/** Markdown through the sessionWebhook, @-ing the sender in groups (the @userId must also be in the text, spec §3.7). */
async function replyByWebhook(client: DingTalkClient, msg: InboundMessage, text: string): Promise<void> {
  const atUser = msg.isGroup ? msg.senderStaffId : undefined;
  await sendBySessionWebhook(client, msg.sessionWebhook!, {
    msgtype: 'markdown',
    markdown: { title: titleOf(text), text: atUser ? `${text}\n\n@${atUser}` : text },
    ...(atUser ? { at: { atUserIds: [atUser], isAtAll: false } } : {}),
  });
}

/** A notification title: the first words of the text without markdown syntax. */
function titleOf(text: string): string {
  const plain = text.replace(/[#>*_`~\-[\]()!]/g, ' ').replace(/\s+/g, ' ').trim();
  return plain.length > 24 ? `${plain.slice(0, 24)}…` : plain || 'AI';
}

/** Split at paragraph, then line, then hard boundaries; never inside a surrogate pair. */
export function splitMarkdown(text: string, max: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = max;
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut--;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\n+/, '');
  }
  if (rest.length > 0 || out.length === 0) out.push(rest);
  return out;
}
