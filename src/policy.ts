/**
 * Who may talk to the robot: pure decisions, policy × sender × DM/group → allow, ignore, pair or refuse.
 * The pipeline asks before anything else (dedupe, queue, card, engine), so a refused sender costs nothing
 * but one short line.
 *
 * Vocabulary and defaults follow OpenClaw's own channels (docs/channels/pairing.md, signal.md, irc.md, line.md,
 * mattermost.md, nextcloud-talk.md: `dmPolicy` pairing | allowlist | open | disabled, default `pairing`;
 * `groupPolicy` allowlist | open | disabled, default `allowlist`; groups mention-gated by default).
 */

export type DmPolicy = 'open' | 'allowlist' | 'pairing' | 'disabled';
export type GroupPolicy = 'open' | 'allowlist' | 'disabled';

/**
 * `groups.<openConversationId>`: settings for one group; the entry alone lists the group under `groupPolicy:
 * "allowlist"` (OpenClaw's meaning of a `groups` key). `groups."*"`: every group, and defaults for the others.
 */
export interface GroupOverride {
  /** false: the robot stays silent in this group whatever `groupPolicy` says. */
  enabled?: boolean;
  /** Senders (staff ids / user ids) who may talk to the robot in this group; others are refused. */
  allowFrom?: string[];
  requireMention?: boolean;
  /** Added to every turn in this group. */
  systemPrompt?: string;
}

export interface AccessPolicy {
  dmPolicy: DmPolicy;
  /** Normalised sender ids (see normalizeSenderEntry); `*` admits everyone (and is required for `open`). */
  allowFrom: string[];
  groupPolicy: GroupPolicy;
  /** openConversationIds of allowed groups; `*` admits every group. */
  groupAllowFrom: string[];
  /** Keyed by openConversationId; allowFrom lists already normalised. */
  groups: Record<string, GroupOverride>;
  /** Answer group messages only when the robot is @-mentioned (default true). */
  requireMention: boolean;
}

/** The parts of an inbound message the decision needs. */
export interface AccessRequest {
  isGroup: boolean;
  conversationId: string;
  /** The encrypted `senderId` (`$:LWCP_v1:$…`, protocol notes §2.1). */
  senderId: string;
  /** The org userId; absent for some external users (§2.1). */
  senderStaffId?: string;
  /** The robot is in the message's at-list (`isInAtList`, §2.1). */
  mentionsBot: boolean;
  /** Senders the host's pairing store has approved (normalised); only read for `dmPolicy: "pairing"`. */
  paired?: readonly string[];
}

export type RefusalReason =
  | 'dm-disabled'
  | 'dm-not-allowed'
  | 'group-disabled'
  | 'group-not-allowed'
  | 'sender-not-allowed-in-group';

export type AccessDecision =
  | { kind: 'allow'; /** The group's own system prompt, when it has one. */ systemPrompt?: string }
  /** Not addressed to the robot (a group message without the robot's @): no answer, no refusal. */
  | { kind: 'ignore' }
  /** Unknown DM sender under `dmPolicy: "pairing"`: the host's pairing flow issues a code. */
  | { kind: 'pair' }
  | { kind: 'refuse'; reason: RefusalReason; /** The config key whose list would admit this message. */ fixKey: string; /** The value to add to it ('' when no value helps). */ fixValue: string };

/**
 * Decide one message. Order: mention gate (groups), then group access, then the sender inside the group; for DMs
 * the DM policy. Reset commands, stop words and other commands get no exemption: they come through here too.
 */
export function decideAccess(policy: AccessPolicy, req: AccessRequest): AccessDecision {
  const senderKey = req.senderStaffId ?? req.senderId;
  if (req.isGroup) {
    // As in OpenClaw (docs/channels/groups.md "Group allowlists", group-messages.md): the keys of `groups` are a group
    // allowlist, and `groups."*"` admits every group while giving the defaults a group's own entry overrides.
    const own = policy.groups[req.conversationId];
    const wildcard = policy.groups['*'];
    const group = own || wildcard ? { ...wildcard, ...own } : undefined;
    if (!req.mentionsBot && (group?.requireMention ?? policy.requireMention)) return { kind: 'ignore' };
    if (group?.enabled === false) return { kind: 'refuse', reason: 'group-disabled', fixKey: `groups.${req.conversationId}.enabled`, fixValue: 'true' };
    if (policy.groupPolicy === 'disabled') return { kind: 'refuse', reason: 'group-disabled', fixKey: 'groupPolicy', fixValue: '' };
    const listed = group !== undefined || policy.groupAllowFrom.includes('*') || policy.groupAllowFrom.includes(req.conversationId);
    if (policy.groupPolicy === 'allowlist' && !listed) {
      return { kind: 'refuse', reason: 'group-not-allowed', fixKey: 'groupAllowFrom', fixValue: req.conversationId };
    }
    if (group?.allowFrom && !senderListed(group.allowFrom, req)) {
      return { kind: 'refuse', reason: 'sender-not-allowed-in-group', fixKey: `groups.${req.conversationId}.allowFrom`, fixValue: senderKey };
    }
    return group?.systemPrompt ? { kind: 'allow', systemPrompt: group.systemPrompt } : { kind: 'allow' };
  }
  switch (policy.dmPolicy) {
    // As in OpenClaw (docs/channels/pairing.md): "open" is public only with "*" in allowFrom (config resolution
    // requires it); concrete entries alone still admit only those senders.
    case 'open':
    case 'allowlist':
      return senderListed(policy.allowFrom, req) ? { kind: 'allow' } : { kind: 'refuse', reason: 'dm-not-allowed', fixKey: 'allowFrom', fixValue: senderKey };
    case 'disabled':
      return { kind: 'refuse', reason: 'dm-disabled', fixKey: 'dmPolicy', fixValue: '' };
    case 'pairing':
      return senderListed(policy.allowFrom, req) || senderListed(req.paired ?? [], req) ? { kind: 'allow' } : { kind: 'pair' };
  }
}

function senderListed(list: readonly string[], req: AccessRequest): boolean {
  return list.includes('*') || list.includes(req.senderId) || (req.senderStaffId !== undefined && list.includes(req.senderStaffId));
}

/**
 * An id as a user pasted or typed it → as DingTalk wrote it: NFKC (a Chinese IME's full-width `：`, `＠` and digits
 * become `:`, `@` and 0-9; DingTalk ids are ASCII, which NFKC leaves alone) without invisible format characters
 * (zero-width space U+200B, joiners, BOM, bidi marks: copied along from a chat or a document, never part of an id).
 */
export function pastedId(raw: string): string {
  return raw.normalize('NFKC').replace(/\p{Cf}/gu, '');
}

/**
 * What users paste into `allowFrom` → the id we compare with: `user:123`, `dingtalk:123`, `dingtalk-ai:123`,
 * `staff:123`, `user：123` (full-width colon), `123` with a zero-width space (pastedId) and ` 123 ` all become `123`; a `senderId` (`$:LWCP_v1:$…`) and `*` stay as they are.
 * '' when nothing usable is left.
 */
export function normalizeSenderEntry(entry: string): string {
  let v = pastedId(entry).trim();
  if (v.startsWith('$:LWCP')) return v;
  // Prefixes may stack (`dingtalk:user:123`).
  for (let prev = ''; prev !== v; ) {
    prev = v;
    v = v.replace(/^(dingtalk-ai|dingtalk|ding|user|staff|staffid|userid):\s*/i, '');
  }
  return v.trim();
}
