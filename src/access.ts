/**
 * The pipeline's first gate: applies the access policy (src/policy.ts) to one message and does what a
 * decision costs — nothing for an ignored message, the host's pairing code for an unknown DM sender under
 * `dmPolicy: "pairing"`, one short polite line (at most once per sender per hour, remembered in the state
 * store) and one log line naming the config to change for a refused one. No card, no engine call.
 */
import { CHANNEL_ID, DEFAULT_ACCOUNT_ID, type ResolvedAccount } from './config.ts';
import type { DingTalkClient } from './dingtalk/client.ts';
import { sendNotice } from './deliver.ts';
import type { InboundMessage } from './inbound.ts';
import { errorMessage, type Logger } from './log.ts';
import type { PairingStore } from './pairing.ts';
import { decideAccess, type AccessDecision } from './policy.ts';
import type { StateStore } from './store.ts';
import { detectLang, text } from './texts.ts';

/**
 * What an operator must know about this account's access (logged at start, shown by the host's `doctor` and
 * `security audit` through the channel's `security.collectWarnings`).
 */
export function accessWarnings(account: ResolvedAccount): string[] {
  if (account.engine !== 'gateway' || account.access.dmPolicy !== 'open') return [];
  return [
    `channels.${CHANNEL_ID}${account.accountId === DEFAULT_ACCOUNT_ID ? '' : `.accounts.${account.accountId}`}.dmPolicy is "open" with engine "gateway": every DingTalk user who can reach the robot acts as the gateway's owner (full operator access); use "pairing" or "allowlist", or engine "runtime"`,
  ];
}

/** A refused sender hears about it at most this often. */
export const REFUSAL_NOTICE_INTERVAL_MS = 3_600_000;

export interface AccessGateOptions {
  account: ResolvedAccount;
  client: DingTalkClient;
  store: StateStore;
  log: Logger;
  /** The host's pairing store; undefined when the host has none (config resolution then refuses `pairing`). */
  pairing: PairingStore | undefined;
}

export type Admission = { admitted: true; /** The group's own system prompt. */ systemPrompt?: string } | { admitted: false };

export class AccessGate {
  private readonly opts: AccessGateOptions;

  constructor(opts: AccessGateOptions) {
    this.opts = opts;
  }

  /** Decide one message and act on a refusal. Never throws: a failing pairing store refuses (fails closed). */
  async admit(msg: InboundMessage): Promise<Admission> {
    const { account, log } = this.opts;
    let paired: string[] | undefined;
    if (!msg.isGroup && account.access.dmPolicy === 'pairing' && this.opts.pairing) {
      try {
        paired = await this.opts.pairing.approved();
      } catch (err) {
        log.warn(`message ${msg.msgId}: pairing store unreadable (${errorMessage(err)}); treating the sender as not approved`);
      }
    }
    const decision = decideAccess(account.access, { ...msg, paired });
    switch (decision.kind) {
      case 'allow':
        return decision.systemPrompt ? { admitted: true, systemPrompt: decision.systemPrompt } : { admitted: true };
      case 'ignore':
        log.debug(`message ${msg.msgId} in group ${msg.conversationId} does not @ the robot; ignored (requireMention)`);
        return { admitted: false };
      case 'pair':
        await this.pair(msg);
        return { admitted: false };
      case 'refuse':
        await this.refuse(msg, decision);
        return { admitted: false };
    }
  }

  private async pair(msg: InboundMessage): Promise<void> {
    const { client, log } = this.opts;
    const pairing = this.opts.pairing;
    const id = msg.senderStaffId ?? msg.senderId;
    if (!pairing) return;
    try {
      const { code, created } = await pairing.request(id, { name: msg.senderNick, senderId: msg.senderId });
      if (!code) {
        log.warn(`DM from ${who(msg)} not answered: pairing requests are full (the host keeps 3 pending); approve or wait for one to expire, or add "${id}" to ${this.key('allowFrom')}`);
        return;
      }
      log.info(`DM from ${who(msg)} not answered: not paired${created ? `; pairing code ${code} sent` : ' (code already sent this hour)'}; approve with: ${pairing.approveCommand(code)}`);
      if (created) await sendNotice(client, msg, text('pairingCode', detectLang(msg.text), { code, command: pairing.approveCommand(code) }), log);
    } catch (err) {
      log.warn(`DM from ${who(msg)} not answered: pairing request failed: ${errorMessage(err)}`);
    }
  }

  private async refuse(msg: InboundMessage, d: Extract<AccessDecision, { kind: 'refuse' }>): Promise<void> {
    const { account, client, log, store } = this.opts;
    log.info(`${msg.isGroup ? `group ${msg.conversationId}` : 'DM'}: refused message ${msg.msgId} from ${who(msg)} in ${msg.conversationId} (${d.reason}); to allow: ${this.fix(d)}`);
    if (account.refusalMessage === '') return;
    let first = true;
    try {
      first = await store.claim('refusals', `${account.accountId}:${msg.senderStaffId ?? msg.senderId}`, REFUSAL_NOTICE_INTERVAL_MS);
    } catch (err) {
      log.warn(`refusal notice memory failed (${errorMessage(err)}); telling the sender anyway`);
    }
    if (first) await sendNotice(client, msg, account.refusalMessage ?? text('accessRefused', detectLang(msg.text)), log);
  }

  /** The exact config change that admits this message. */
  private fix(d: Extract<AccessDecision, { kind: 'refuse' }>): string {
    if (d.reason === 'dm-disabled') return `set ${this.key('dmPolicy')} to "allowlist" (or "pairing") and list the sender in ${this.key('allowFrom')}`;
    if (d.reason === 'group-disabled' && d.fixKey === 'groupPolicy') return `set ${this.key('groupPolicy')} to "allowlist" and add the group to ${this.key('groupAllowFrom')}`;
    if (d.reason === 'group-disabled') return `set ${this.key(d.fixKey)} to true`;
    return `add "${d.fixValue}" to ${this.key(d.fixKey)}`;
  }

  private key(k: string): string {
    const id = this.opts.account.accountId;
    return id === DEFAULT_ACCOUNT_ID ? `channels.${CHANNEL_ID}.${k}` : `channels.${CHANNEL_ID}.accounts.${id}.${k}`;
  }
}

function who(msg: InboundMessage): string {
  return `staffId ${msg.senderStaffId ?? '(none)'} (senderId ${msg.senderId}${msg.senderNick ? `, ${msg.senderNick}` : ''})`;
}
