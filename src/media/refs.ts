/**
 * Local media references in an answer: markdown images and links, `MEDIA:` lines, `file://` and
 * `attachment://` URLs, and bare paths (`/…`, `~/…`, `C:\…`, in backticks or not).
 */
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { DELIVERABLE_EXTENSIONS } from './sniff.ts';

export interface MediaReference {
  start: number;
  end: number;
  /** Absolute local path (not yet checked). */
  path: string;
  /** The text a markdown image or link showed. */
  label?: string;
  /** The model clearly asked to show or send it (markdown, MEDIA:, URL schemes) rather than merely naming a path. */
  explicit: boolean;
  /** Written as a `MEDIA: <path>` line: the documented request to deliver a file. */
  mediaLine: boolean;
}

const EXT = DELIVERABLE_EXTENSIONS.join('|');
const PATTERNS: Array<{ re: RegExp; explicit: boolean; pathGroup: number; labelGroup?: number; mediaLine?: boolean }> = [
  // ![alt](path "title") and [label](path)
  { re: /!?\[([^\]\n]*)\]\(\s*(<[^>\n]+>|[^)\n]+?)\s*\)/g, explicit: true, pathGroup: 2, labelGroup: 1 },
  // MEDIA: path   (one per line; the path may contain spaces)
  { re: /^[ \t]*MEDIA:[ \t]*(.+?)[ \t]*$/gim, explicit: true, pathGroup: 1, mediaLine: true },
  // `path` in backticks
  { re: new RegExp(String.raw`\x60((?:file://|attachment://|~|[A-Za-z]:[\\/]|/)[^\x60\n]*?\.(?:${EXT}))\x60`, 'gi'), explicit: false, pathGroup: 1 },
  // file:// and attachment:// URLs
  { re: /\b((?:file|attachment):\/\/[^\s<>"'`)）]+)/gi, explicit: true, pathGroup: 1 },
  // bare absolute paths with a known extension
  { re: new RegExp(String.raw`(?<![\w/.:\\-])((?:~|[A-Za-z]:)?[\\/][^\s<>"'\x60()（）\[\]]*?\.(?:${EXT}))(?![\w])`, 'gi'), explicit: false, pathGroup: 1 },
];

export function findMediaReferences(text: string, workspaceDir?: string): MediaReference[] {
  const found: MediaReference[] = [];
  const taken = (s: number, e: number) => found.some((r) => s < r.end && e > r.start);
  for (const p of PATTERNS) {
    for (const m of text.matchAll(p.re)) {
      const start = m.index!;
      const end = start + m[0].length;
      if (taken(start, end)) continue;
      const path = toLocalPath(m[p.pathGroup]!, workspaceDir);
      if (!path) continue;
      found.push({ start, end, path, label: p.labelGroup ? m[p.labelGroup] : undefined, explicit: p.explicit, mediaLine: p.mediaLine === true });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

/** A markdown target or path-ish string → absolute path, or undefined when it is not local. */
export function toLocalPath(raw: string, workspaceDir?: string): string | undefined {
  let s = raw.trim().replace(/^<|>$/g, '').replace(/\s+"[^"]*"$/, '').replace(/^[`'"]|[`'"]$/g, '').trim();
  if (/^(https?:|data:|@|dingtalk:|mailto:|#)/i.test(s)) return undefined;
  if (/^file:\/\//i.test(s)) {
    try {
      s = decodeURIComponent(new URL(s).pathname);
    } catch {
      return undefined;
    }
  } else if (/^attachment:\/\//i.test(s)) {
    s = decodeURIComponent(s.slice('attachment://'.length));
    if (!s.startsWith('/') && !s.startsWith('~')) s = workspaceDir ? resolve(workspaceDir, s) : '';
  }
  if (!s) return undefined;
  if (s === '~' || s.startsWith('~/')) return resolve(homedir(), s.slice(2));
  if (/^[A-Za-z]:[\\/]/.test(s)) return s; // Windows path: kept as written, checked like any other
  return isAbsolute(s) ? resolve(s) : undefined;
}

/**
 * While the answer streams, what the media step will rewrite at the end is hidden: a local image would render
 * broken and a `MEDIA:` line or local link would show a host path. Images become `imagePlaceholder`, `MEDIA:`
 * lines and file URLs `filePlaceholder`, local links their label. Paths merely named in prose stay (the final
 * text keeps them too). A reference the stream has cut in the middle (`![a](/srv/a`) is hidden as well.
 */
export function maskLocalMedia(text: string, imagePlaceholder: string, filePlaceholder: string): string {
  return replaceExplicit(dropCutReference(text, imagePlaceholder), (ref, original) =>
    original.startsWith('!') ? imagePlaceholder : ref.label !== undefined ? ref.label : filePlaceholder,
  );
}

/**
 * An answer cut short (stop, failure) may end inside a markdown image or link whose target is incomplete: no
 * media step can resolve it, so it becomes its label (an image: `imagePlaceholder`, '' for none).
 */
export function dropCutReference(text: string, imagePlaceholder = ''): string {
  return text.replace(/(!?)\[([^\]\n]*)\]\((?:[^)\n]*)$/, (_all, bang: string, label: string) => (bang ? imagePlaceholder : label));
}

function replaceExplicit(text: string, replace: (ref: MediaReference, original: string) => string): string {
  let out = '';
  let at = 0;
  for (const ref of findMediaReferences(text)) {
    if (!ref.explicit) continue;
    out += text.slice(at, ref.start) + replace(ref, text.slice(ref.start, ref.end));
    at = ref.end;
  }
  return out + text.slice(at);
}
