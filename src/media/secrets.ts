/**
 * The host's secrets, and whether a file carries one in any form we can open.
 *
 * Rule (README "图片与文件 / Media", safety rules): a file is never sent when its bytes, or the contents we
 * can decode from it, contain one of the host's secrets — the gateway token and password, the robot's
 * clientSecret, provider API keys, any string of 8+ characters stored under a key named like a token,
 * secret, password or key in the host config files — as-is, as UTF-16 (Office binary documents), as hex,
 * or as base64 (any alignment, standard or URL alphabet, with or without line breaks); nor when it holds a
 * PEM private key. Decoded and searched too, recursively (two levels): zip entries (so docx/xlsx/pptx),
 * zlib streams of PDF and PNG files. What cannot be opened is refused: encrypted zip entries, zips whose
 * entries claim more than 200 MB, RAR archives (no well-kept JS decoder).
 *
 * Not covered (documented): secrets hidden in image pixels or re-encrypted by the agent; those need the
 * agent's cooperation and are outside what a content check can see.
 */
import { inflateSync, type ZlibOptions } from 'node:zlib';
import { unzipSync } from 'fflate';

/** Shorter values (ports, "token" placeholders, modes) would refuse innocent files. */
const MIN_SECRET_LENGTH = 8;
const SECRET_KEY = /(token|secret|password|passwd|api[-_]?key|apikey|access[-_]?key|private[-_]?key|credential|auth)$/i;
const MAX_DECODED_BYTES = 200 * 1024 * 1024;
const MAX_DEPTH = 2;

/** Strings stored under secret-like keys in a parsed config (nested objects and arrays). */
export function secretsInConfig(value: unknown, into: Set<string> = new Set(), underSecretKey = false): Set<string> {
  if (typeof value === 'string') {
    if (underSecretKey) addSecret(into, value);
  } else if (Array.isArray(value)) {
    for (const v of value) secretsInConfig(v, into, underSecretKey);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) secretsInConfig(v, into, underSecretKey || SECRET_KEY.test(k));
  }
  return into;
}

/**
 * Secrets in a config file's text, whatever its syntax (JSON, JSON5 with comments and unquoted keys):
 * every quoted value after a secret-like key.
 */
export function secretsInConfigText(text: string, into: Set<string> = new Set()): Set<string> {
  const pair = /["']?([A-Za-z0-9_-]+)["']?\s*:\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')/g;
  for (const m of text.matchAll(pair)) {
    if (SECRET_KEY.test(m[1]!)) addSecret(into, m[2] ?? m[3] ?? '');
  }
  return into;
}

function addSecret(into: Set<string>, raw: string): void {
  const v = raw.trim();
  // Environment placeholders are not the secret itself.
  if (v.length >= MIN_SECRET_LENGTH && !/^\$\{[A-Za-z0-9_]+\}$/.test(v)) into.add(v);
}

export type SecretFinding = { found: false } | { found: true; where: string } | { found: 'uninspectable'; where: string };

/** Byte patterns of each secret in each encoding we search for. */
export function secretPatterns(secrets: Iterable<string>): Buffer[] {
  const out: Buffer[] = [Buffer.from('PRIVATE KEY-----')];
  for (const s of secrets) {
    const raw = Buffer.from(s, 'utf8');
    out.push(raw, Buffer.from(s, 'utf16le'), Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('hex').toUpperCase()));
    for (const b64 of base64Cores(raw)) out.push(Buffer.from(b64), Buffer.from(b64.replace(/\+/g, '-').replace(/\//g, '_')));
  }
  return out.filter((p) => p.length >= 4);
}

/**
 * The base64 characters that depend only on the secret's bytes, for each of the 3 offsets it can start
 * at inside a longer encoded stream.
 */
function base64Cores(raw: Buffer): string[] {
  const cores: string[] = [];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), raw]).toString('base64');
    // 6-bit group j is fully inside the secret when 6j >= 8k and 6j + 6 <= 8(k + len).
    cores.push(enc.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + raw.length)) / 6)));
  }
  return cores;
}

/** Search the bytes and what can be decoded from them; `name` names the place for the log. */
export function findSecret(bytes: Uint8Array, patterns: Buffer[], name = 'file', depth = 0): SecretFinding {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (patterns.some((p) => buf.includes(p))) return { found: true, where: name };
  // Base64 broken into lines (MIME, PEM): search once more without line breaks.
  if (buf.includes(0x0a)) {
    const joined = Buffer.from(buf.toString('latin1').replace(/[\r\n]+/g, ''), 'latin1');
    if (joined.length !== buf.length && patterns.some((p) => joined.includes(p))) return { found: true, where: name };
  }
  if (depth >= MAX_DEPTH) return { found: false };
  for (const part of decodedParts(buf, name)) {
    if ('uninspectable' in part) return { found: 'uninspectable', where: part.uninspectable };
    const r = findSecret(part.bytes, patterns, part.name, depth + 1);
    if (r.found) return r;
  }
  return { found: false };
}

type Part = { name: string; bytes: Uint8Array } | { uninspectable: string };

function decodedParts(buf: Buffer, name: string): Part[] {
  if (buf.length >= 4 && buf.readUInt32LE(0) === 0x04034b50) return zipEntries(buf, name);
  if (buf.subarray(0, 4).toString('latin1') === 'Rar!') return [{ uninspectable: `${name} (RAR archives cannot be inspected)` }];
  if (buf.subarray(0, 5).toString('latin1') === '%PDF-') return pdfStreams(buf, name);
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) return pngStreams(buf, name);
  return [];
}

function zipEntries(buf: Buffer, name: string): Part[] {
  // fflate would "inflate" a ZipCrypto entry into noise: encrypted entries are refused first.
  const encrypted = encryptedZipEntry(buf);
  if (encrypted !== undefined) return [{ uninspectable: `${name}:${encrypted} (encrypted)` }];
  const parts: Part[] = [];
  let declared = 0;
  let refused: string | undefined;
  try {
    const files = unzipSync(buf, {
      filter: (f) => {
        declared += f.originalSize;
        // Methods fflate cannot read (encrypted entries, bzip2, …) are refused, not skipped.
        if (f.compression !== 0 && f.compression !== 8) refused ??= `${name}:${f.name} (compression method ${f.compression})`;
        if (declared > MAX_DECODED_BYTES) refused ??= `${name} (over ${MAX_DECODED_BYTES} bytes unpacked)`;
        return refused === undefined;
      },
    });
    if (refused) return [{ uninspectable: refused }];
    for (const [entry, bytes] of Object.entries(files)) parts.push({ name: `${name}:${entry}`, bytes });
  } catch (err) {
    return [{ uninspectable: `${name} (unreadable zip: ${(err as Error).message})` }];
  }
  return parts;
}

/** The name of the first entry whose central-directory flags mark it encrypted (bit 0), if any. */
function encryptedZipEntry(buf: Buffer): string | undefined {
  // End of central directory: 22 bytes plus a comment of up to 65,535.
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]), Math.max(0, buf.length - 22));
  if (eocd === -1 || eocd < buf.length - 22 - 65_535) return undefined;
  let at = buf.readUInt32LE(eocd + 16);
  for (let i = buf.readUInt16LE(eocd + 10); i > 0 && at + 46 <= buf.length && buf.readUInt32LE(at) === 0x02014b50; i--) {
    const nameLength = buf.readUInt16LE(at + 28);
    if (buf.readUInt16LE(at + 8) & 1) return buf.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    at += 46 + nameLength + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
  }
  return undefined;
}

const INFLATE: ZlibOptions = { maxOutputLength: 64 * 1024 * 1024 };

/** FlateDecode streams (`stream` … `endstream`); a stream that is not zlib is searched as is (already). */
function pdfStreams(buf: Buffer, name: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  for (let n = 0; ; n++) {
    const start = buf.indexOf('stream', at, 'latin1');
    if (start === -1) break;
    let data = start + 'stream'.length;
    if (buf[data] === 0x0d) data++;
    if (buf[data] === 0x0a) data++;
    const end = buf.indexOf('endstream', data, 'latin1');
    if (end === -1) break;
    at = end + 'endstream'.length;
    const inflated = tryInflate(buf.subarray(data, end));
    if (inflated) parts.push({ name: `${name}:stream${n}`, bytes: inflated });
  }
  return parts;
}

/** zlib data of a PNG: text chunks (zTXt/iTXt) and the image data (IDAT, concatenated). */
function pngStreams(buf: Buffer, name: string): Part[] {
  const parts: Part[] = [];
  const idat: Buffer[] = [];
  for (let at = 8; at + 12 <= buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.subarray(at + 4, at + 8).toString('latin1');
    const data = buf.subarray(at + 8, Math.min(buf.length, at + 8 + len));
    if (type === 'IDAT') idat.push(data);
    if (type === 'zTXt' || type === 'iTXt') {
      // After the keyword's NUL: zTXt has a method byte; iTXt has flag, method, language, translated keyword.
      const nul = data.indexOf(0);
      let body = data.subarray(nul + 2);
      if (type === 'iTXt') {
        const lang = data.indexOf(0, nul + 3);
        const translated = data.indexOf(0, lang + 1);
        body = data[nul + 1] === 1 ? data.subarray(translated + 1) : Buffer.alloc(0);
      }
      const inflated = tryInflate(body);
      if (inflated) parts.push({ name: `${name}:${type}`, bytes: inflated });
    }
    at += 12 + len;
  }
  const pixels = idat.length ? tryInflate(Buffer.concat(idat)) : undefined;
  if (pixels) parts.push({ name: `${name}:IDAT`, bytes: pixels });
  return parts;
}

function tryInflate(data: Buffer): Buffer | undefined {
  try {
    return inflateSync(data, INFLATE);
  } catch {
    return undefined;
  }
}
