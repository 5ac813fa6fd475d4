/**
 * Local media references in an answer: markdown images and links, `MEDIA:` lines, `file://` and
 * `attachment://` URLs, and bare paths (`/…`, `~/…`, `C:\…`, in backticks or not).
 *
 * Code shows syntax and is never a directive: nothing inside a fenced or indented code block is a reference, nor anything inside
 * inline code except an inline code span that is exactly one path (`/srv/out/report.pdf`): that is how models name
 * the file they wrote, and it is read like the same path in prose (delivered when it exists and is allowed, else left
 * as written). OpenClaw's own `MEDIA:` parser skips code blocks the same way (dist/parse-output-*.mjs
 * `splitMediaOutput`: lines inside `findCodeRegions(...).filter(r => r.block)` stay text).
 */
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { codeRegions } from '../markdown.ts';
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
const PATTERNS: Array<{ re: RegExp; explicit: boolean; pathGroup: number; labelGroup?: number; mediaLine?: boolean; codeSpan?: boolean }> = [
  // ![alt](path "title") and [label](path)
  { re: /!?\[([^\]\n]*)\]\(\s*(<[^>\n]+>|[^)\n]+?)\s*\)/g, explicit: true, pathGroup: 2, labelGroup: 1 },
  // MEDIA: path   (one per line; the path may contain spaces)
  // (at most 3 leading spaces: 4 or a tab make the line an indented code block or a list continuation, CommonMark §4.4)
  { re: /^ {0,3}MEDIA:[ \t]*(.+?)[ \t]*$/gim, explicit: true, pathGroup: 1, mediaLine: true },
  // `path` in backticks
  { re: new RegExp(String.raw`\x60((?:file://|attachment://|~|[A-Za-z]:[\\/]|/)[^\x60\n]*?\.(?:${EXT}))\x60`, 'gi'), explicit: false, pathGroup: 1, codeSpan: true },
  // file:// and attachment:// URLs
  { re: /\b((?:file|attachment):\/\/[^\s<>"'`)）]+)/gi, explicit: true, pathGroup: 1 },
  // bare absolute paths with a known extension
  { re: new RegExp(String.raw`(?<![\w/.:\\-])((?:~|[A-Za-z]:)?[\\/][^\s<>"'\x60()（）\[\]]*?\.(?:${EXT}))(?![\w])`, 'gi'), explicit: false, pathGroup: 1 },
];

export function findMediaReferences(text: string, workspaceDir?: string): MediaReference[] {
  const found: MediaReference[] = [];
  const taken = (s: number, e: number) => found.some((r) => s < r.end && e > r.start);
  const code = [...codeRegions(text), ...indentedCodeBlocks(text)];
  // In code only a whole inline code span holding one path counts (see the module's docstring).
  const inCode = (s: number, e: number, codeSpan: boolean) =>
    code.some((c) => s < c.end && e > c.start && !(codeSpan && !c.block && c.start === s && c.end === e));
  for (const p of PATTERNS) {
    for (const m of text.matchAll(p.re)) {
      const start = m.index!;
      const end = start + m[0].length;
      if (taken(start, end) || inCode(start, end, p.codeSpan === true)) continue;
      const path = toLocalPath(m[p.pathGroup]!, workspaceDir);
      if (!path) continue;
      found.push({ start, end, path, label: p.labelGroup ? m[p.labelGroup] : undefined, explicit: p.explicit, mediaLine: p.mediaLine === true });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

const LIST_ITEM = /^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/;
const INDENTED = /^(?: {4}| {0,3}\t)/;

/**
 * CommonMark's indented code blocks (§4.4) in `text`, as `block` code regions: a run of lines indented 4+ columns
 * (4 spaces or a tab) that starts the text or follows a blank line, outside a list (there the same indent continues the
 * item, §5.2), up to the next non-blank line indented less. Lines inside fenced blocks may be included: they are code
 * anyway. A line indented 4+ right after a paragraph line is that paragraph's continuation, not code.
 */
export function indentedCodeBlocks(text: string): Array<{ start: number; end: number; block: true }> {
  const blocks: Array<{ start: number; end: number; block: true }> = [];
  let block: { start: number; end: number; block: true } | undefined;
  let afterBlank = true;
  let inList = false;
  let at = 0;
  for (const line of text.split('\n')) {
    const start = at;
    const end = at + line.length;
    at = end + 1;
    const blank = line.trim() === '';
    const indented = INDENTED.test(line);
    if (block) {
      if (blank) continue;
      if (indented) {
        block.end = end;
        continue;
      }
      blocks.push(block);
      block = undefined;
      afterBlank = false;
    }
    if (!blank && indented && afterBlank && !inList) {
      block = { start, end, block: true };
      continue;
    }
    if (!blank && !indented) inList = LIST_ITEM.test(line) || (inList && !afterBlank);
    afterBlank = blank;
  }
  if (block) blocks.push(block);
  return blocks;
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
  const cut = /(!?)\[([^\]\n]*)\]\((?:[^)\n]*)$/.exec(text);
  if (!cut) return text;
  // Cut inside code (an open fence, or an odd number of backticks before it on its line): the code stays as written.
  const line = text.slice(text.lastIndexOf('\n', cut.index) + 1, cut.index);
  if (codeRegions(text).some((c) => c.block && c.start <= cut.index && c.end >= text.length) || (line.match(/`/g)?.length ?? 0) % 2 === 1) return text;
  return text.slice(0, cut.index) + (cut[1] ? imagePlaceholder : cut[2]!);
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
