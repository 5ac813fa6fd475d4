import { describe, expect, it } from 'vitest';
import { decideAccess, normalizeSenderEntry, type AccessPolicy, type AccessRequest } from '../src/policy.ts';

const STAFF = 'user001';
const SENDER = '$:LWCP_v1:$abc==';
const GROUP = 'cidGRP001==';

function policy(p: Partial<AccessPolicy> = {}): AccessPolicy {
  return { dmPolicy: 'pairing', allowFrom: [], groupPolicy: 'allowlist', groupAllowFrom: [], groups: {}, requireMention: true, ...p };
}
const dm = (r: Partial<AccessRequest> = {}): AccessRequest => ({ isGroup: false, conversationId: 'cidDM1==', senderId: SENDER, senderStaffId: STAFF, mentionsBot: false, ...r });
const group = (r: Partial<AccessRequest> = {}): AccessRequest => ({ isGroup: true, conversationId: GROUP, senderId: SENDER, senderStaffId: STAFF, mentionsBot: true, ...r });

describe('direct messages: dmPolicy × sender', () => {
  it.each([
    ['open', ['*'], dm(), { kind: 'allow' }],
    // OpenClaw's rule: concrete entries under "open" still admit only those senders.
    ['open', ['user002'], dm(), { kind: 'refuse', reason: 'dm-not-allowed', fixKey: 'allowFrom', fixValue: STAFF }],
    ['disabled', [STAFF], dm(), { kind: 'refuse', reason: 'dm-disabled', fixKey: 'dmPolicy', fixValue: '' }],
    ['allowlist', [], dm(), { kind: 'refuse', reason: 'dm-not-allowed', fixKey: 'allowFrom', fixValue: STAFF }],
    ['allowlist', [STAFF], dm(), { kind: 'allow' }],
    ['allowlist', [SENDER], dm(), { kind: 'allow' }],
    ['allowlist', ['*'], dm(), { kind: 'allow' }],
    ['allowlist', ['user002'], dm(), { kind: 'refuse', reason: 'dm-not-allowed', fixKey: 'allowFrom', fixValue: STAFF }],
    // An external user without a staff id is named by the senderId.
    ['allowlist', [], dm({ senderStaffId: undefined }), { kind: 'refuse', reason: 'dm-not-allowed', fixKey: 'allowFrom', fixValue: SENDER }],
    ['pairing', [], dm(), { kind: 'pair' }],
    ['pairing', [STAFF], dm(), { kind: 'allow' }],
    ['pairing', [], dm({ paired: [STAFF] }), { kind: 'allow' }],
    ['pairing', [], dm({ paired: ['user002'] }), { kind: 'pair' }],
  ] as const)('dmPolicy %s, allowFrom %j → %#', (dmPolicy, allowFrom, req, expected) => {
    expect(decideAccess(policy({ dmPolicy, allowFrom: [...allowFrom] }), req)).toEqual(expected);
  });

  it('a DM is never judged by the group settings (mention or group lists)', () => {
    const p = policy({ dmPolicy: 'open', allowFrom: ['*'], groupPolicy: 'disabled', requireMention: true });
    expect(decideAccess(p, dm({ mentionsBot: false }))).toEqual({ kind: 'allow' });
  });
});

describe('group messages: groupPolicy × group lists × mention', () => {
  it.each([
    ['open', {}, group(), { kind: 'allow' }],
    ['open', {}, group({ mentionsBot: false }), { kind: 'ignore' }],
    ['disabled', {}, group(), { kind: 'refuse', reason: 'group-disabled', fixKey: 'groupPolicy', fixValue: '' }],
    ['disabled', {}, group({ mentionsBot: false }), { kind: 'ignore' }],
    ['allowlist', {}, group(), { kind: 'refuse', reason: 'group-not-allowed', fixKey: 'groupAllowFrom', fixValue: GROUP }],
    ['allowlist', { groupAllowFrom: [GROUP] }, group(), { kind: 'allow' }],
    ['allowlist', { groupAllowFrom: ['*'] }, group(), { kind: 'allow' }],
    ['allowlist', { groupAllowFrom: ['cidOTHER=='] }, group(), { kind: 'refuse', reason: 'group-not-allowed', fixKey: 'groupAllowFrom', fixValue: GROUP }],
    // A groups.<id> entry lists the group by itself.
    ['allowlist', { groups: { [GROUP]: {} } }, group(), { kind: 'allow' }],
    ['open', { groups: { [GROUP]: { enabled: false } } }, group(), { kind: 'refuse', reason: 'group-disabled', fixKey: `groups.${GROUP}.enabled`, fixValue: 'true' }],
    // Senders inside a group.
    ['allowlist', { groups: { [GROUP]: { allowFrom: [STAFF] } } }, group(), { kind: 'allow' }],
    ['allowlist', { groups: { [GROUP]: { allowFrom: ['user002'] } } }, group(), { kind: 'refuse', reason: 'sender-not-allowed-in-group', fixKey: `groups.${GROUP}.allowFrom`, fixValue: STAFF }],
    ['open', { groups: { [GROUP]: { allowFrom: [SENDER] } } }, group(), { kind: 'allow' }],
    // Mention gate per group.
    ['open', { groups: { [GROUP]: { requireMention: false } } }, group({ mentionsBot: false }), { kind: 'allow' }],
    ['open', { requireMention: false }, group({ mentionsBot: false }), { kind: 'allow' }],
    ['open', { requireMention: false, groups: { [GROUP]: { requireMention: true } } }, group({ mentionsBot: false }), { kind: 'ignore' }],
    ['allowlist', { groups: { [GROUP]: { systemPrompt: 'Answer in haiku.' } } }, group(), { kind: 'allow', systemPrompt: 'Answer in haiku.' }],
    // groups."*" (OpenClaw's meaning): every group, with defaults a group's own entry overrides.
    ['allowlist', { groups: { '*': { requireMention: false } } }, group({ conversationId: 'cidOTHER==', mentionsBot: false }), { kind: 'allow' }],
    ['allowlist', { groups: { '*': { requireMention: false }, [GROUP]: { requireMention: true } } }, group({ mentionsBot: false }), { kind: 'ignore' }],
    ['allowlist', { groups: { '*': { enabled: false } } }, group(), { kind: 'refuse', reason: 'group-disabled', fixKey: `groups.${GROUP}.enabled`, fixValue: 'true' }],
    ['allowlist', { groups: { '*': { enabled: false }, [GROUP]: { enabled: true } } }, group(), { kind: 'allow' }],
    ['allowlist', { groups: { '*': { allowFrom: ['user002'] } } }, group(), { kind: 'refuse', reason: 'sender-not-allowed-in-group', fixKey: `groups.${GROUP}.allowFrom`, fixValue: STAFF }],
  ] as const)('groupPolicy %s with %j → %#', (groupPolicy, extra, req, expected) => {
    expect(decideAccess(policy({ groupPolicy, ...(extra as Partial<AccessPolicy>) }), req)).toEqual(expected);
  });

  it('the DM allowlist and DM pairing approvals do not open groups', () => {
    const p = policy({ dmPolicy: 'allowlist', allowFrom: [STAFF] });
    expect(decideAccess(p, group({ paired: [STAFF] }))).toMatchObject({ kind: 'refuse', reason: 'group-not-allowed' });
  });
});

describe('normalizeSenderEntry: what users paste', () => {
  it.each([
    ['user001', 'user001'],
    [' user001 ', 'user001'],
    ['user:user001', 'user001'],
    ['dingtalk:user001', 'user001'],
    ['dingtalk-ai:030008551219215', '030008551219215'],
    ['DingTalk:user:user001', 'user001'],
    ['staffId: 123', '123'],
    ['$:LWCP_v1:$pTZor09tFmT3sHMgZEYEow==', '$:LWCP_v1:$pTZor09tFmT3sHMgZEYEow=='],
    ['*', '*'],
    ['user:', ''],
    // Pasted from a chat or typed with a Chinese IME: zero-width space, BOM, full-width colon and digits.
    ['user001\u200b', 'user001'],
    ['\ufeffuser:user001', 'user001'],
    ['user\uff1a\uff11\uff12\uff13', '123'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeSenderEntry(input)).toBe(expected);
  });
});
