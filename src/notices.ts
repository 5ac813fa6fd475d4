/**
 * The short lines the robot sends about a message instead of answering it — not taken (the member's queue is full),
 * waiting behind others, nothing to stop — at most one of each kind per member per conversation per minute. A member
 * who floods a group must not make the robot flood it too: 20 quick messages, 15 of them not taken, get one "not
 * taken" line, not 15. The others are dropped and logged. Remembered in the state store with a TTL (a claim), like
 * the refusal line of the access policy (src/access.ts: once per sender per hour).
 */
import type { DingTalkClient } from './dingtalk/client.ts';
import { sendNotice } from './deliver.ts';
import type { InboundMessage } from './inbound.ts';
import { errorMessage, type Logger } from './log.ts';
import type { StateStore } from './store.ts';

/** A member hears each kind of notice at most this often in one conversation. */
export const NOTICE_INTERVAL_MS = 60_000;

export type NoticeKind = 'queueFull' | 'queued' | 'nothingToStop';

export interface NoticesOptions {
  accountId: string;
  client: DingTalkClient;
  store: StateStore;
  log: Logger;
}

export class Notices {
  private readonly opts: NoticesOptions;

  constructor(opts: NoticesOptions) {
    this.opts = opts;
  }

  /**
   * Sends `body` to the message's conversation through its sessionWebhook (src/deliver.ts `sendNotice`), unless its
   * sender had a `kind` notice there within NOTICE_INTERVAL_MS. Never throws; true when sent. A failing store does not
   * keep the line back (better a repeated line than a silent refusal).
   */
  async send(msg: InboundMessage, kind: NoticeKind, body: string): Promise<boolean> {
    const { accountId, client, store, log } = this.opts;
    let first = true;
    try {
      first = await store.claim('notices', `${accountId}:${kind}:${msg.conversationId}:${msg.senderStaffId ?? msg.senderId}`, NOTICE_INTERVAL_MS);
    } catch (err) {
      log.warn(`message ${msg.msgId}: notice memory failed (${errorMessage(err)}); sending the ${kind} notice anyway`);
    }
    if (!first) {
      log.info(`message ${msg.msgId}: ${kind} notice not sent: this sender had one in this conversation less than ${NOTICE_INTERVAL_MS / 1000} s ago`);
      return false;
    }
    return sendNotice(client, msg, body, log);
  }
}
