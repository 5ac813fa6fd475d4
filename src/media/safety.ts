/**
 * Which local files an answer may send: only regular files under allowed roots (after resolving
 * symlinks and `..`), never the host's config or credentials (by place, by identity, or by content,
 * whatever the name or container), bytes that are what the extension claims, and within DingTalk's size
 * limits.
 *
 * The file is opened once and everything is decided on that open descriptor: its real path (Linux:
 * `/proc/self/fd/N`; elsewhere the path's real path must still name the same device and inode), its
 * type, size and link count, and the bytes read from it are the bytes uploaded. Swapping the file, or a
 * folder on its path, for a symlink between the check and the read therefore cannot send another file.
 *
 * Hard links: a regular file with more than one link that lies on the same filesystem as a protected
 * folder or config file is refused (it may be another name for one of them; only a copy can be sent).
 * Files on other filesystems (e.g. a tmpfs /tmp) cannot be links into protected places and pass.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, readFile, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, extname, sep } from 'node:path';
import { imageMime, isImage, matchesExtension, sniff, DELIVERABLE_EXTENSIONS } from './sniff.ts';
import { findSecret, secretPatterns, secretsInConfigText } from './secrets.ts';

/** DingTalk's media limits (spec §3.4). Non-image files go out as `file`. */
export const MAX_BYTES = { image: 20 * 1024 * 1024, file: 20 * 1024 * 1024 } as const;
const IMAGE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'bmp']);

export type RefusalReason = 'not-found' | 'outside-roots' | 'sensitive' | 'not-image' | 'type-mismatch' | 'unsupported-type' | 'too-large';

export interface MediaPolicy {
  /** Folders whose files may be sent. */
  roots: string[];
  /** Folders whose files are never sent unless they lie in a root inside them (the host's state dir). */
  protectedDirs: string[];
  /** Files never sent, nor any copy or hard link of them, nor any file carrying their secrets (the host's config files). */
  sensitiveFiles: string[];
  /** Secret values no sent file may contain in any form (from the host config and the account; see secrets.ts). */
  secrets: string[];
  /**
   * Where files users send are saved. The user already has them: one goes back only on an explicit
   * `MEDIA:` line, never because the answer repeats its saved path (issue 14).
   */
  inboundDir?: string;
}

export interface SafeFile {
  realPath: string;
  fileName: string;
  kind: 'image' | 'file';
  contentType: string;
  bytes: Buffer;
}

export type CheckResult = { ok: true; file: SafeFile } | { ok: false; reason: RefusalReason; detail: string };

/** Checks `path` against the policy and returns the exact bytes to upload. Never throws for a refusal. */
export async function checkLocalFile(path: string, policy: MediaPolicy): Promise<CheckResult> {
  const refuse = (reason: RefusalReason, detail: string): CheckResult => ({ ok: false, reason, detail });
  let resolved: string;
  try {
    resolved = await realpath(path);
  } catch {
    return refuse('not-found', `${path} does not exist`);
  }
  let fh: FileHandle;
  try {
    // No-follow on the last component: if it became a symlink since realpath, the open fails.
    // Non-blocking: a FIFO swapped in must not hang the answer (it is refused below as not regular).
    fh = await open(resolved, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') return refuse('outside-roots', `${resolved} was replaced by a symlink while being checked`);
    return refuse('not-found', `${resolved} cannot be opened (${code ?? 'error'})`);
  }
  try {
    return await checkOpened(fh, resolved, policy, refuse);
  } finally {
    await fh.close().catch(() => {});
  }
}

async function checkOpened(fh: FileHandle, resolved: string, policy: MediaPolicy, refuse: (reason: RefusalReason, detail: string) => CheckResult): Promise<CheckResult> {
  const info = await fh.stat();
  if (!info.isFile()) return refuse('not-found', `${resolved} is not a regular file`);
  const real = await openedPath(fh, resolved, info);
  if (real === undefined) return refuse('outside-roots', `${resolved} changed while being checked`);

  const roots = await realRoots(policy.roots);
  const root = roots.find((r) => inside(real, r));
  if (!root) return refuse('outside-roots', `${real} is outside the allowed folders (${roots.join(', ')})`);
  const protectedDirs = await realRoots(policy.protectedDirs);
  for (const dir of protectedDirs) {
    if (inside(real, dir) && !roots.some((r) => inside(r, dir) && inside(real, r))) return refuse('sensitive', `${real} is inside the host's state folder`);
  }
  const sensitive = await realRoots(policy.sensitiveFiles);
  const sensitiveStats = (await Promise.all(sensitive.map((f) => stat(f).catch(() => undefined)))).filter((s): s is Stats => !!s);
  if (sensitive.includes(real) || sensitiveStats.some((s) => s.dev === info.dev && s.ino === info.ino)) return refuse('sensitive', `${real} is a host config file`);
  if (info.nlink > 1) {
    const protectedDevs = new Set(sensitiveStats.map((s) => s.dev));
    for (const dir of protectedDirs) {
      const s = await stat(dir).catch(() => undefined);
      if (s) protectedDevs.add(s.dev);
    }
    if (protectedDevs.has(info.dev)) return refuse('sensitive', `${real} has ${info.nlink} hard links on the filesystem of a protected folder (it may be another name for a protected file; send a copy)`);
  }

  const ext = extname(real).slice(1).toLowerCase();
  if (!DELIVERABLE_EXTENSIONS.includes(ext)) return refuse('unsupported-type', `.${ext || '(none)'} files are not sent`);
  const kind = IMAGE_EXTENSIONS.has(ext) ? 'image' : 'file';
  if (info.size > MAX_BYTES[kind]) return refuse('too-large', `${info.size} bytes is over DingTalk's ${MAX_BYTES[kind]} byte limit for ${kind}s`);

  const bytes = await readAll(fh, info.size, MAX_BYTES[kind]);
  if (bytes === undefined) return refuse('too-large', `${real} grew over DingTalk's ${MAX_BYTES[kind]} byte limit while being read`);
  if (await isCopyOfSensitive(bytes, sensitive)) return refuse('sensitive', `${real} has the same content as a host config file`);
  const secrets = new Set(policy.secrets);
  for (const file of sensitive) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) secretsInConfigText(text, secrets);
  }
  const finding = findSecret(bytes, secretPatterns(secrets), basename(real));
  if (finding.found === true) return refuse('sensitive', `${finding.where} contains a secret of the host config (or a private key)`);
  if (finding.found === 'uninspectable') return refuse('sensitive', `${finding.where}: its contents cannot be checked for the host's secrets`);
  const type = sniff(bytes);
  if (kind === 'image' && !isImage(type)) return refuse('not-image', `${real} is named .${ext} but its bytes are ${type}`);
  if (!matchesExtension(ext, type)) return refuse('type-mismatch', `${real} is named .${ext} but its bytes are ${type}`);
  return {
    ok: true,
    file: { realPath: real, fileName: basename(real), kind, contentType: imageMime(type) ?? contentTypeFor(ext), bytes },
  };
}

/**
 * The real path of the opened file, or undefined when it cannot be established (deleted, or the path
 * now names another file).
 */
async function openedPath(fh: FileHandle, resolved: string, info: Stats): Promise<string | undefined> {
  if (process.platform === 'linux') {
    try {
      const p = await readlink(`/proc/self/fd/${fh.fd}`);
      return p.endsWith(' (deleted)') || !p.startsWith('/') ? undefined : p;
    } catch {
      // /proc not mounted: fall through to the portable check
    }
  }
  const now = await realpath(resolved).catch(() => undefined);
  if (now === undefined) return undefined;
  const s = await stat(now).catch(() => undefined);
  return s && s.dev === info.dev && s.ino === info.ino ? now : undefined;
}

/** The file's bytes from the open descriptor (all of them, also if it grew); undefined when over `limit`. */
async function readAll(fh: FileHandle, size: number, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (let want = Math.min(size, limit) + 1; ; want = 64 * 1024) {
    const chunk = Buffer.alloc(want);
    const { bytesRead } = await fh.read(chunk, 0, want, total);
    if (bytesRead === 0) break;
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
    if (total > limit) return undefined;
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
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
