/**
 * The access policy of one account (who may DM the robot, in which groups it answers) read from its merged config.
 */

import type { DingTalkAccountConfig, HostSupport } from './config.ts';
import { flag, oneOf, stringList } from './config-values.ts';
import { normalizeSenderEntry, pastedId, type AccessPolicy, type GroupOverride } from './policy.ts';

/**
 * The access policy. Defaults are OpenClaw's own channels' (docs/channels/*.md): DMs by pairing, groups by allowlist,
 * groups mention-gated. A host without pairing for plugins falls back to the allowlist unless pairing was asked for
 * explicitly, which is then a problem to fix.
 */
export function accessPolicy(merged: DingTalkAccountConfig, key: (k: string) => string, host: HostSupport, problems: string[]): AccessPolicy {
  const dmPolicy = oneOf(merged.dmPolicy, ['pairing', 'allowlist', 'open', 'disabled'] as const, host.pairing ? 'pairing' : 'allowlist', key('dmPolicy'), problems);
  if (dmPolicy === 'pairing' && !host.pairing) {
    problems.push(`${key('dmPolicy')} is "pairing" but this host offers no pairing to channel plugins: set it to "allowlist" and list the allowed senders in ${key('allowFrom')}`);
  }
  const allowFrom = senderList(merged.allowFrom, key('allowFrom'), problems);
  // OpenClaw refuses the same config (its channel validation: "open" requires "*"); Clawdbot gets the same rule.
  if (dmPolicy === 'open' && !allowFrom.includes('*')) {
    problems.push(`${key('dmPolicy')} is "open" but ${key('allowFrom')} does not include "*": set ${key('allowFrom')} to ["*"] to answer everyone, or use "pairing"/"allowlist"`);
  }
  const groups: Record<string, GroupOverride> = {};
  const rawGroups: unknown = merged.groups;
  if (rawGroups !== undefined && (typeof rawGroups !== 'object' || rawGroups === null || Array.isArray(rawGroups))) {
    problems.push(`${key('groups')} must be an object keyed by the group's openConversationId (cid…)`);
  } else {
    for (const [cid, g] of Object.entries((rawGroups ?? {}) as Record<string, unknown>)) {
      const gk = `${key('groups')}.${cid}`;
      if (typeof g !== 'object' || g === null || Array.isArray(g)) {
        problems.push(`${gk} must be an object (enabled, allowFrom, requireMention, systemPrompt)`);
        continue;
      }
      const o = g as Record<string, unknown>;
      const unknown = Object.keys(o).filter((k) => !['enabled', 'allowFrom', 'requireMention', 'systemPrompt'].includes(k));
      for (const k of unknown) problems.push(`${gk}.${k} is not a known setting (misspelt?); use enabled, allowFrom, requireMention or systemPrompt`);
      if (o.systemPrompt !== undefined && typeof o.systemPrompt !== 'string') problems.push(`${gk}.systemPrompt must be a string (in quotes), got ${JSON.stringify(o.systemPrompt)}`);
      // Read as pasted ids are (pastedId): a zero-width space copied along would never match the group.
      groups[pastedId(cid).trim()] = {
        ...(o.enabled !== undefined ? { enabled: flag(o.enabled, false, `${gk}.enabled`, problems) } : {}),
        ...(o.allowFrom !== undefined ? { allowFrom: senderList(o.allowFrom, `${gk}.allowFrom`, problems) } : {}),
        ...(o.requireMention !== undefined ? { requireMention: flag(o.requireMention, true, `${gk}.requireMention`, problems) } : {}),
        ...(typeof o.systemPrompt === 'string' && o.systemPrompt.trim() ? { systemPrompt: o.systemPrompt.trim() } : {}),
      };
    }
  }
  return {
    dmPolicy,
    allowFrom,
    groupPolicy: oneOf(merged.groupPolicy, ['allowlist', 'open', 'disabled'] as const, 'allowlist', key('groupPolicy'), problems),
    groupAllowFrom: stringList(merged.groupAllowFrom, key('groupAllowFrom'), problems, 'openConversationIds (cid…)').map((cid) => pastedId(cid).trim()),
    groups,
    requireMention: flag(merged.requireMention, true, key('requireMention'), problems),
  };
}

function senderList(value: unknown, key: string, problems: string[]): string[] {
  if (Array.isArray(value) && value.some((v) => typeof v === 'number')) {
    const numbers = value.filter((v) => typeof v === 'number');
    const lost = numbers.filter((n) => !Number.isSafeInteger(n));
    problems.push(
      `${key} has numbers (${numbers.map((n) => JSON.stringify(n)).join(', ')}): write every id as a string in quotes, e.g. "0123456789"` +
        (lost.length ? `; ${lost.map((n) => JSON.stringify(n)).join(', ')} ${lost.length === 1 ? 'is' : 'are'} beyond 2^53, so JSON already changed ${lost.length === 1 ? 'its' : 'their'} last digits: copy the id again from DingTalk` : ''),
    );
    return [];
  }
  const list = stringList(value, key, problems, 'DingTalk user ids (staffId / userId / senderId)');
  const out = list.map(normalizeSenderEntry);
  list.forEach((raw, i) => {
    if (!out[i]) problems.push(`${key} entry ${JSON.stringify(raw)} names no user: write the DingTalk userId (staffId), e.g. "user:0123456789"`);
  });
  return out.filter(Boolean);
}
