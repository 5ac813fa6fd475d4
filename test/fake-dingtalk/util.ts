// Small helpers shared by the fake: ids, sleeping, polling.
import { randomBytes, randomUUID } from 'node:crypto';

export const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
export const b64 = (bytes: number): string => randomBytes(bytes).toString('base64');
export const b64url = (bytes: number): string => randomBytes(bytes).toString('base64url');
export const uuid = (): string => randomUUID();
/** Request id in the style of api.dingtalk.com (`01A08FE7-…`). */
export const requestId = (): string => randomUUID().toUpperCase();

/** Stream messageId in the style of real frames: `212ca9d7_974_1898c159aa6_1783b`. */
export function streamMessageId(): string {
  return `${hex(4)}_${hex(2).slice(0, 3)}_${Date.now().toString(16)}_${hex(3).slice(0, 5)}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Text added to the rejection message. */
  message?: string;
}

/**
 * Polls `predicate` until it returns a truthy value (which is resolved) or the timeout passes.
 * Exceptions thrown by the predicate count as "not yet" and are quoted in the rejection.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  opts: WaitForOptions = {},
  describeState?: () => string,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  const parts = [`waitFor timed out after ${timeoutMs} ms`];
  if (opts.message) parts.push(opts.message);
  parts.push(`predicate: ${String(predicate).slice(0, 200)}`);
  if (lastError) parts.push(`last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
  if (describeState) parts.push(describeState());
  throw new Error(parts.join('\n'));
}

/** Parse a JSON string; undefined when it is not JSON. */
export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
