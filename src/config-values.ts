/**
 * Reading one value of `channels.dingtalk-ai` as its type: each function returns the value (or its fallback) and adds
 * a problem naming the key and the fix when the user's value is unusable. Secrets are named by type, never shown.
 */

import { UI_HINTS } from './config-schema.ts';
import type { Source } from './config.ts';
import { withoutUserinfo } from './log.ts';
import { normalizeStopWord } from './stop.ts';

/** Characters that show as nothing (zero-width space, BOM, bidi marks, soft hyphen) or are control characters. */
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/** A clientId as the duplicate checks compare it: case, invisible characters and surrounding spaces aside. */
export function robotId(clientId: string): string {
  return clientId.normalize('NFKC').replace(new RegExp(INVISIBLE.source, 'gu'), '').trim().toLowerCase();
}

/** Two clientIds that name one robot for the duplicate check. */
export function sameRobotId(a: string, b: string): boolean {
  return robotId(a) === robotId(b);
}

/** A credential with an invisible character (pasted from a chat or a document) is a problem naming its key (or env). */
export function invisible(v: { value: string | undefined; source: Source }, key: string, envName: string, problems: string[]): void {
  const at = v.value?.search(INVISIBLE) ?? -1;
  if (at < 0) return;
  const code = v.value!.codePointAt(at)!.toString(16).toUpperCase().padStart(4, '0');
  const where = v.source === 'env' && envName ? envName : key;
  problems.push(`${where} contains an invisible character (U+${code}) at position ${at + 1}, usually pasted from a chat or a document: type or copy the value again without it`);
}


export function pick(fromConfig: string | undefined, fromEnv: string | undefined): { value: string | undefined; source: Source } {
  if (fromConfig?.trim()) return { value: fromConfig.trim(), source: 'config' };
  if (fromEnv?.trim()) return { value: fromEnv.trim(), source: 'env' };
  return { value: undefined, source: 'none' };
}

/**
 * An http(s) URL. One carrying a user name or password (`http://user:pass@host`) is a problem: fetch refuses such URLs
 * (its error would print them), and the gateway's credential has its own keys. Printed without its user part.
 */
/** Query parameter names that carry a credential (`token`, `gateway_password`, `apiKey`, `client_secret` …). */
const CREDENTIAL_PARAM = /^(?:.*[_-])?(?:token|password|passwd|pwd|secret|key|apikey|auth|authorization|credential|credentials|signature|sig)$/i;

export function url(value: string, key: string, problems: string[]): string {
  const v = value.trim().replace(/\/+$/, '');
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    const where = key.endsWith('gatewayUrl') || key === 'DINGTALK_GATEWAY_URL' ? ' and put the gateway\'s token or password in gatewayToken or gatewayPassword' : '';
    if (u.username || u.password) {
      problems.push(`${key} carries a user name or password ("${withoutUserinfo(v)}"): remove it from the URL${where}`);
    }
    // A credential in the query would be logged and shown with the URL: named, never shown.
    const credentials = [...u.searchParams.keys()].filter((name) => CREDENTIAL_PARAM.test(name));
    if (credentials.length) problems.push(`${key} carries a credential in its query (${[...new Set(credentials)].map((n) => `"${n}"`).join(', ')}): remove it from the URL${where}`);
  } catch {
    // Not a URL, so the user part is only guessed: everything up to an "@" after the scheme.
    const shown = withoutUserinfo(value);
    problems.push(`${key} is not a valid http(s) URL: "${shown.includes('***@') ? shown : shown.replace(/^([a-z][a-z0-9+.-]*:(?:\/\/)?)?[^@]*@/i, '$1***@')}"`);
  }
  return v;
}

/** Keys whose values are secrets (the Dashboard hides them): a problem names their type, never their value. */
const SENSITIVE_KEYS = new Set(Object.entries(UI_HINTS).filter(([, h]) => h.sensitive).map(([k]) => k));

/** A value as a problem shows it: JSON, or for a secret key only its type ("a number"). */
export function shownValue(key: string, value: unknown): string {
  if (!SENSITIVE_KEYS.has(key)) return JSON.stringify(value);
  return value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
}

export function positive(value: unknown, fallback: number, key: string, problems: string[]): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    problems.push(`${key} must be a positive number of milliseconds, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return value;
}

export function nonEmpty(value: unknown, fallback: string, key: string, problems: string[]): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !value.trim()) {
    problems.push(`${key} must be a non-empty string`);
    return fallback;
  }
  return value.trim();
}

/** Stop words normalised as messages are (src/stop.ts), so `"Stop!"` can match; a word of punctuation only is a problem. */
export function stopWords(value: unknown, key: string, problems: string[]): string[] {
  const words = stringList(value, key, problems, 'words');
  const empty = words.filter((w) => !normalizeStopWord(w));
  if (empty.length) problems.push(`${key}: ${empty.map((w) => JSON.stringify(w)).join(', ')} is only punctuation, which is ignored at the end of a message, so it could never match; write the word itself, e.g. "停止"`);
  return words.map(normalizeStopWord).filter((w) => w);
}

export function stringList(value: unknown, key: string, problems: string[], what = 'folder paths'): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !v.trim())) {
    problems.push(`${key} must be a list of ${what}`);
    return [];
  }
  return value.map((v: string) => v.trim());
}

/** A JSON boolean; anything else (the string "false" included) is a problem naming the key, and the fallback holds. */
export function flag(value: unknown, fallback: boolean, key: string, problems: string[]): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    problems.push(`${key} must be true or false without quotes, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return value;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T, key: string, problems: string[]): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    problems.push(`${key} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return value as T;
}
