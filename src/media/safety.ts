/**
 * Which local files an answer may send: only regular files under allowed roots (after resolving
 * symlinks and `..`), never the host's config or credentials (by place or by content, whatever the
 * name), bytes that are what the extension claims, and within DingTalk's size limits.
 */
import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, extname, sep } from 'node:path';
import { imageMime, isImage, matchesExtension, sniff, DELIVERABLE_EXTENSIONS } from './sniff.ts';

/** DingTalk's media limits (spec §3.4). Non-image files go out as `file`. */
export const MAX_BYTES = { image: 20 * 1024 * 1024, file: 20 * 1024 * 1024 } as const;
const IMAGE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'bmp']);

export type RefusalReason = 'not-found' | 'outside-roots' | 'sensitive' | 'not-image' | 'type-mismatch' | 'unsupported-type' | 'too-large';

export interface MediaPolicy {
  /** Folders whose files may be sent. */
  roots: string[];
  /** Folders whose files are never sent unless they lie in a root inside them (the host's state dir). */
  protectedDirs: string[];
  /** Files never sent, nor any copy of them (the host's config files). */
  sensitiveFiles: string[];
}

export interface SafeFile {
  realPath: string;
  fileName: string;
  kind: 'image' | 'file';
  contentType: string;
  bytes: Buffer;
}

export type CheckResult = { ok: true; file: SafeFile } | { ok: false; reason: RefusalReason; detail: string };

export async function checkLocalFile(path: string, policy: MediaPolicy): Promise<CheckResult> {
  const refuse = (reason: RefusalReason, detail: string): CheckResult => ({ ok: false, reason, detail });
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return refuse('not-found', `${path} does not exist`);
  }
  const info = await stat(real);
  if (!info.isFile()) return refuse('not-found', `${real} is not a regular file`);

  const roots = await realRoots(policy.roots);
  const root = roots.find((r) => inside(real, r));
  if (!root) return refuse('outside-roots', `${real} is outside the allowed folders (${roots.join(', ')})`);
  for (const dir of await realRoots(policy.protectedDirs)) {
    if (inside(real, dir) && !roots.some((r) => inside(r, dir) && inside(real, r))) return refuse('sensitive', `${real} is inside the host's state folder`);
  }
  const sensitive = await realRoots(policy.sensitiveFiles);
  if (sensitive.includes(real)) return refuse('sensitive', `${real} is a host config file`);

  const ext = extname(real).slice(1).toLowerCase();
  if (!DELIVERABLE_EXTENSIONS.includes(ext)) return refuse('unsupported-type', `.${ext || '(none)'} files are not sent`);
  const kind = IMAGE_EXTENSIONS.has(ext) ? 'image' : 'file';
  if (info.size > MAX_BYTES[kind]) return refuse('too-large', `${info.size} bytes is over DingTalk's ${MAX_BYTES[kind]} byte limit for ${kind}s`);

  const bytes = await readFile(real);
  if (await isCopyOfSensitive(bytes, sensitive)) return refuse('sensitive', `${real} has the same content as a host config file`);
  const type = sniff(bytes);
  if (kind === 'image' && !isImage(type)) return refuse('not-image', `${real} is named .${ext} but its bytes are ${type}`);
  if (!matchesExtension(ext, type)) return refuse('type-mismatch', `${real} is named .${ext} but its bytes are ${type}`);
  return {
    ok: true,
    file: { realPath: real, fileName: basename(real), kind, contentType: imageMime(type) ?? contentTypeFor(ext), bytes },
  };
}

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

async function realRoots(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    try {
      out.push(await realpath(p));
    } catch {
      // a root that does not exist allows nothing
    }
  }
  return out;
}

async function isCopyOfSensitive(bytes: Buffer, sensitive: string[]): Promise<boolean> {
  if (sensitive.length === 0) return false;
  const digest = createHash('sha256').update(bytes).digest('hex');
  for (const file of sensitive) {
    try {
      const other = await readFile(file);
      if (other.length === bytes.length && createHash('sha256').update(other).digest('hex') === digest) return true;
    } catch {
      // unreadable: cannot be compared, and the place check already covers it
    }
  }
  return false;
}

const CONTENT_TYPES: Record<string, string> = {
  pdf: 'application/pdf',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  zip: 'application/zip',
  rar: 'application/vnd.rar',
  mp4: 'video/mp4',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  amr: 'audio/amr',
};

function contentTypeFor(ext: string): string {
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}
