/**
 * Account ids (`channels.dingtalk-ai.accounts.<id>`): the form the hosts route with, and the problem that names a key
 * written in another form.
 */

import { CHANNEL_ID } from './config-schema.ts';
import type { DingTalkChannelConfig } from './config.ts';

/**
 * The account id OpenClaw and Clawdbot route with: both rewrite every account id they are given (`--account`, the
 * default account, bindings) to lower case, each run of characters outside [a-z0-9_-] to "-", trimmed of "-" and cut
 * at 64 characters, an empty result meaning "default" (OpenClaw 2026.9 dist/account-id-*.mjs `canonicalizeAccountId`;
 * Clawdbot 2026.1.24-3 dist/routing/session-key.js `normalizeAccountId`): "_ops" stays "_ops". OpenClaw reads
 * "__proto__", "constructor" and "prototype" as "default" (dist/prototype-keys-*.mjs `isBlockedObjectKey`).
 * Undefined when nothing usable is left.
 */
export function hostAccountId(id: string): string | undefined {
  const out = canonical(id);
  return ACCOUNT_ID.test(out) && !BLOCKED_ACCOUNT_IDS.includes(out) ? out : undefined;
}

function canonical(id: string): string {
  return id.trim().toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+/, '').replace(/-+$/, '').slice(0, 64);
}

/** The hosts' form: they trim "-" only, so "_ops" stays "_ops". */
const ACCOUNT_ID = /^[a-z0-9_][a-z0-9_-]{0,63}$/;
const BLOCKED_ACCOUNT_IDS = ['__proto__', 'constructor', 'prototype'];

/**
 * An account id must be the form the hosts route with (hostAccountId): they start an account under the id as written
 * (OpenClaw dist/server-channels-*.mjs) but hand its sends the rewritten one (dist/message-account-selection-*.mjs), so
 * `accounts.Sales` would start and then fail every `message send --account Sales` (it arrives as "sales"); ids that
 * rewrite to nothing (Chinese) are refused by OpenClaw, and a "." splits the config path its reload planner reads
 * (dist/config-reload-plan-*.mjs `extractAccountIdFromPath`). The form is also one plain folder name (the account's
 * state folder). Undefined when fine; else the problem, naming the key and a new name that is free.
 */
export function accountIdProblem(id: string, section: DingTalkChannelConfig): string | undefined {
  if (hostAccountId(id) === id) return undefined;
  const taken = new Set(Object.keys(section.accounts ?? {}));
  const rewritten = hostAccountId(id);
  const free = (base: string) => {
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base.slice(0, 60)}-${n}`;
    return name;
  };
  // A blocked id ("Constructor") reaches OpenClaw's plugins as "default" but Clawdbot's as written (it blocks none).
  const blocked = BLOCKED_ACCOUNT_IDS.includes(canonical(id));
  const reaches = `\`--account ${shownId(id)}\` reaches this plugin as "${rewritten ?? 'default'}"${blocked ? ' on OpenClaw' : ''}`;
  const suggestion = rewritten && !taken.has(rewritten) ? `rename the key to "${rewritten}"` : `rename the key, e.g. "${free(rewritten ?? 'sales')}"`;
  return `${accountKey(id)}: an account id must be lower-case letters a-z, digits, "-" or "_" (not starting or ending with "-", at most 64 characters, not "__proto__", "constructor" or "prototype"): OpenClaw and Clawdbot route sends and restarts by that form (${reaches}), and it names the account's state folder; ${suggestion}`;
}

/**
 * The `accounts` key the host rewrote to `accountId` when no key is `accountId` itself (`accounts.Sales` asked for as
 * "sales": hostAccountId), else undefined.
 */
export function writtenAs(accountId: string, section: DingTalkChannelConfig): string | undefined {
  const accounts = section.accounts ?? {};
  return Object.keys(accounts).find((k) => k !== accountId && hostAccountId(k) === accountId);
}

/** `channels.dingtalk-ai.accounts.sales`, or with brackets for an id that is no plain name. */
export function accountKey(id: string): string {
  return ACCOUNT_ID.test(id) ? `channels.${CHANNEL_ID}.accounts.${id}` : `channels.${CHANNEL_ID}.accounts[${JSON.stringify(shownId(id))}]`;
}

function shownId(id: string): string {
  return id.length > 40 ? `${id.slice(0, 40)}…` : id;
}
