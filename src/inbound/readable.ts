/** Text from a payload that a person could read: encoded blobs dropped, long text cut. */

/** Card and quote text beyond this is cut (a quoted answer card can be long). */
export const QUOTE_MAX_CHARS = 4000;

/**
 * Text a person could read, or undefined. DingTalk sometimes sends a quoted multi-line text as an opaque
 * encoded string (dingtalk-stream-sdk-go#22) or an encrypted `<base64>||4||1||<n>` payload
 * (dingtalk-workspace-cli#1091): such a blob is not the quote and must not be shown as one.
 */
export function readable(text: string | undefined): string | undefined {
  const t = text?.trim();
  if (!t) return undefined;
  if (looksEncoded(t)) return undefined;
  return t.length > QUOTE_MAX_CHARS ? `${t.slice(0, QUOTE_MAX_CHARS)}…` : t;
}

function looksEncoded(t: string): boolean {
  if (/^[A-Za-z0-9+/=_-]{16,}(?:\|\|\d+){2,}$/.test(t)) return true;
  if (/\s/.test(t) || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return false;
  if (/^[0-9a-f]+$/i.test(t)) return false; // hashes and ids people do quote
  return t.length >= 24 && /[A-Z]/.test(t) && /[a-z]/.test(t) && /\d/.test(t) && (t.length >= 40 || /[+/=]/.test(t));
}

/** `text` cut to `max` characters, with `…` when cut. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
