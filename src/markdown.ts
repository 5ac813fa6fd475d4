/**
 * The agent's markdown → markdown DingTalk shows well, for the AI card and for markdown messages alike.
 * Pure and idempotent; code (fenced and inline) is never changed.
 *
 * What DingTalk renders, from the evidence (no official spec for the AI card's markdown component):
 * - Markdown messages: the documented subset is headings #–######, `>` quotes, **bold**, *italic*, links,
 *   images, `-` and `1.` lists (open.dingtalk.com "enterprise-internal-robots-send-markdown-messages", quoted in
 *   eryajf/chatgpt-dingtalk#78 and DingTalk-Real-AI/dingtalk-openclaw-connector#82). Tables are not in it, yet
 *   current clients render them (NousResearch/hermes-agent#37345, #51994 verified on DingTalk; soimy#358 found
 *   converting tables to text made things worse), while some mobile clients show pipes (soimy#192).
 * - AI card: its markdown component renders tables, lists and code fences (zhayujie/CowAgent#3162 keeps them,
 *   strips HTML, degrades task lists; aliyun Q&A 436960: the card's rich text "aligns with most markdown").
 * - Tables show as raw pipes when no blank line precedes them (soimy src/message-utils.ts "Ensure blank line
 *   before table for DingTalk markdown rendering"; OCC ensureTableBlankLines) or when rows lack cells/pipes.
 * - HTML is not rendered in markdown messages (not in the subset) and is stripped by CowAgent for cards.
 *
 * So: what is certainly hidden HTML is dropped with its content (it would show as text, or carry notes never
 * meant for the user): a closed <script>/<style> element (real tag syntax, outside code), and an HTML comment that
 * starts a line and closes (CommonMark's HTML block, type 2). Anything else is the user's text and is never dropped:
 * `<style>` or `<!--` named in prose, an unclosed opener, a comment inside a sentence are shown as written. While
 * an answer streams (`streaming`), an unclosed opener holds back the rest until it closes or the answer ends; tables stay tables, rebuilt with a blank line around them, pipes at both ends and every row the width of
 * the header; HTML becomes markdown (<br>, <b>, <i>, <code>, <a>) or its text; task-list boxes become ☐/☑;
 * nested list items are indented 4 spaces per level (2-space nesting under `1.` is not nesting in CommonMark
 * and renders flat); an unclosed code fence is closed so a streamed answer never swallows the rest.
 */

// Any indentation: fences inside list items are indented.
const FENCE = /^\s*(`{3,}|~{3,})/;

/**
 * `text` made renderable on DingTalk. `streaming`: `text` is an answer so far (more will follow), so hidden HTML
 * that has opened but not yet closed is held back (it is shown as written if the answer ends without closing it).
 */
export function normalizeMarkdown(text: string, { streaming = false }: { streaming?: boolean } = {}): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let fence: string | undefined;
  let listIndents: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const f = FENCE.exec(line);
    if (fence) {
      out.push(line);
      if (f && f[1]![0] === fence[0] && f[1]!.length >= fence.length && line.trim() === f[1]) fence = undefined;
      continue;
    }
    // Hidden HTML opened on this line runs to its close, however many lines on; unclosed, it is text (held back
    // while streaming: its close may still come).
    const hidden = dropHidden(line);
    if (hidden !== line) {
      let j = i;
      let joined = hidden;
      while (joined === undefined && ++j < lines.length) joined = dropHidden(lines.slice(i, j + 1).join('\n'));
      if (joined !== undefined) {
        // Nothing left: a blank line keeps the paragraphs around it apart, unless one is there already.
        const gone = joined.trim() === '' && (i === 0 || lines[i - 1]!.trim() === '' || j + 1 >= lines.length || lines[j + 1]!.trim() === '');
        lines.splice(i, j - i + 1, ...(gone ? [] : joined.split('\n')));
        i--;
        continue;
      }
      if (streaming) {
        const before = beforeHidden(line);
        lines.splice(i, lines.length - i, ...(before.trim() ? [before] : []));
        i--;
        continue;
      }
    }
    if (f) {
      fence = f[1]!;
      listIndents = [];
      out.push(line);
      continue;
    }
    // A table: a header row, then a separator row.
    if (isTableRow(line) && i + 1 < lines.length && isSeparatorRow(lines[i + 1]!, splitRow(line.trim()).length)) {
      const rows = [line];
      let j = i + 2;
      while (j < lines.length && isTableRow(lines[j]!) && !FENCE.test(lines[j]!)) rows.push(lines[j++]!);
      if (out.length && out.at(-1)!.trim() !== '') out.push('');
      out.push(...renderTable(rows.map(html), lines[i + 1]!));
      if (j < lines.length && lines[j]!.trim() !== '') out.push('');
      i = j - 1;
      listIndents = [];
      continue;
    }
    out.push(listItem(html(line), listIndents));
  }
  if (fence) out.push(fence);
  return out.join('\n');
}

// ---- lists ----

const LIST_ITEM = /^( *)([-*+]|\d{1,9}[.)])( +)(.*)$/;

/** Re-indents a nested list item to 4 spaces per level; task boxes become ☐/☑. Other lines pass through. */
function listItem(line: string, indents: number[]): string {
  const m = LIST_ITEM.exec(line.replace(/\t/g, '    '));
  if (!m) {
    if (line.trim() !== '' && !/^\s/.test(line)) indents.length = 0;
    return line;
  }
  const indent = m[1]!.length;
  // Four spaces with no list around is an indented code block, not an item.
  if (!indents.length && indent >= 4) return line;
  while (indents.length && indents.at(-1)! > indent) indents.pop();
  if (!indents.length || indents.at(-1)! < indent) indents.push(indent);
  const level = indents.length - 1;
  const body = m[4]!.replace(/^\[( |x|X)\]\s+/, (_all, box: string) => (box === ' ' ? '☐ ' : '☑ '));
  return `${'    '.repeat(level)}${m[2]} ${body}`;
}

// ---- tables ----

function isTableRow(line: string): boolean {
  const t = line.trim();
  return t.includes('|') && !FENCE.test(line) && splitRow(t).length >= 2;
}

/** GFM: the delimiter row has as many cells as the header (else `a | b` over `---` is a heading). */
function isSeparatorRow(line: string, headerCells: number): boolean {
  const cells = splitRow(line.trim());
  return cells.length === headerCells && cells.every((c) => /^:?-{1,}:?$/.test(c));
}

/** Cells of a row: outer pipes optional, `\|` and pipes inside inline code are not separators. */
function splitRow(row: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let code = false;
  for (let k = 0; k < row.length; k++) {
    const ch = row[k]!;
    if (ch === '\\' && row[k + 1] === '|') {
      cur += '\\|';
      k++;
    } else if (ch === '`') {
      code = !code;
      cur += ch;
    } else if (ch === '|' && !code) {
      cells.push(cur.trim());
      cur = '';
    } else {
      cur += ch;
    }
  }
  cells.push(cur.trim());
  if (row.startsWith('|')) cells.shift();
  if (row.endsWith('|') && !row.endsWith('\\|')) cells.pop();
  return cells;
}

function renderTable(rows: string[], separator: string): string[] {
  const parsed = rows.map((r) => splitRow(r.trim()).map((c) => c.replace(/\s*\n\s*/g, ' ')));
  const width = parsed[0]!.length;
  const aligns = splitRow(separator.trim());
  const sep = Array.from({ length: width }, (_, k) => {
    const a = aligns[k] ?? '---';
    return `${a.startsWith(':') ? ':' : ''}---${a.endsWith(':') && a.length > 1 ? ':' : ''}`;
  });
  const line = (cells: string[]) => `| ${Array.from({ length: width }, (_, k) => cells[k] ?? '').join(' | ')} |`;
  return [line(parsed[0]!), `| ${sep.join(' | ')} |`, ...parsed.slice(1).map((cells) => line(cells.length > width ? [...cells.slice(0, width - 1), cells.slice(width - 1).join(' / ')] : cells))];
}

// ---- HTML ----

/** CommonMark's attributes (name, optional value double/single/unquoted) and the end of an open tag. */
const ATTRS = String.raw`(?:\s+[a-zA-Z_:][\w.:-]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>\x60]+))?)*\s*\/?`;
const ELEMENT_OPEN = String.raw`<(script|style)${ATTRS}>`;
/** A closed <script>/<style> element (lazy: to its first close tag). */
const ELEMENT = new RegExp(String.raw`${ELEMENT_OPEN}[\s\S]*?<\/\1\s*>`, 'gi');
const ELEMENT_OPENER = new RegExp(ELEMENT_OPEN, 'i');
/** An HTML comment starting a line (CommonMark HTML block type 2, up to 3 spaces in), to its first `-->`. */
const BLOCK_COMMENT_OPEN = /^ {0,3}<!--/;
const BLOCK_COMMENT = /^ {0,3}<!--[\s\S]*?-->/;

/**
 * `s` (one or more lines, the first starting a line) without the hidden HTML in it: a comment starting it and
 * closed <script>/<style> elements outside inline code. undefined when such a comment or element opens and does not
 * close within `s` (a later line may close it). A comment inside a sentence is prose: kept.
 */
function dropHidden(s: string): string | undefined {
  if (BLOCK_COMMENT_OPEN.test(s)) {
    const comment = BLOCK_COMMENT.exec(s);
    if (!comment) return undefined;
    // What follows the comment on its last line stays.
    return dropHidden(s.slice(comment[0].length));
  }
  if (!ELEMENT_OPENER.test(s)) return s;
  const parts = s.split(/(`+[^`\n]*`+)/);
  for (let k = 0; k < parts.length; k += 2) {
    parts[k] = parts[k]!.replace(ELEMENT, '');
    if (ELEMENT_OPENER.test(parts[k]!)) return undefined;
  }
  return parts.join('');
}

/** A line's text before the hidden HTML that opens in it and does not close there (what a stream shows so far). */
function beforeHidden(line: string): string {
  if (BLOCK_COMMENT_OPEN.test(line)) return '';
  const parts = line.split(/(`+[^`\n]*`+)/);
  for (let k = 0; k < parts.length; k += 2) {
    const part = parts[k]!.replace(ELEMENT, '');
    const open = ELEMENT_OPENER.exec(part);
    if (open) return [...parts.slice(0, k), part.slice(0, open.index)].join('');
    parts[k] = part;
  }
  return parts.join('');
}

/** Inline HTML → markdown, or its text. Inline code spans are left alone. */
function html(line: string): string {
  if (!/<\/?[a-zA-Z][^>]*>/.test(line)) return line;
  return line
    .split(/(`+[^`]*`+)/)
    .map((part, k) => (k % 2 === 1 ? part : htmlToMarkdown(part, isTableRow(line))))
    .join('');
}

/** Tags whose text is kept: real tag syntax only, so `a <p 且 q> b` in prose is not a tag. */
const STRIPPED_TAG = new RegExp(
  String.raw`<(?:(?:p|div|span|font|u|sup|sub|small|big|center|details|summary|mark|ins|del|s|strike|h[1-6]|ul|ol|li|table|thead|tbody|tr|td|th|section|article|header|footer|a)${ATTRS}|\/(?:p|div|span|font|u|sup|sub|small|big|center|details|summary|mark|ins|del|s|strike|h[1-6]|ul|ol|li|table|thead|tbody|tr|td|th|section|article|header|footer|a)\s*)>`,
  'gi',
);

function htmlToMarkdown(s: string, inTable: boolean): string {
  return s
    .replace(/<br\s*\/?>/gi, inTable ? ' / ' : '  \n')
    .replace(/<(b|strong)>([\s\S]*?)<\/\1>/gi, '**$2**')
    .replace(/<(i|em)>([\s\S]*?)<\/\1>/gi, '*$2*')
    .replace(/<code>([\s\S]*?)<\/code>/gi, '`$1`')
    .replace(/<a\s[^>]*href="([^"]+)"[^>]*>([\s\S]*?)<\/a>/gi, '[$2]($1)')
    .replace(new RegExp(String.raw`<img${ATTRS}>`, 'gi'), (tag) => {
      const src = attr(tag, 'src');
      return src ? `![${attr(tag, 'alt') ?? ''}](${src})` : attr(tag, 'alt') ?? '';
    })
    .replace(STRIPPED_TAG, '');
}

/**
 * What is open at the end of `text`: a code fence (its opening line and the marker that closes it) or a table
 * (its header and delimiter rows, when the text ends on one of its rows). Used to cut long answers into parts
 * that each render on their own.
 */
export function markdownStateAt(text: string): { fence?: { opener: string; marker: string }; tableHeader?: string } {
  const lines = text.split('\n');
  let fence: { opener: string; marker: string } | undefined;
  let tableHeader: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const f = FENCE.exec(line);
    if (fence) {
      if (f && f[1]![0] === fence.marker[0] && f[1]!.length >= fence.marker.length && line.trim() === f[1]) fence = undefined;
      continue;
    }
    if (f) {
      fence = { opener: line, marker: f[1]! };
      tableHeader = undefined;
      continue;
    }
    if (isTableRow(line) && i + 1 < lines.length && isSeparatorRow(lines[i + 1]!, splitRow(line.trim()).length)) {
      tableHeader = `${line}\n${lines[i + 1]}`;
      i++;
    } else if (!tableHeader || !isTableRow(line)) {
      tableHeader = undefined;
    }
  }
  return { fence, tableHeader };
}

/** Where code is in a markdown text: `[start, end)` offsets, in order, of fenced blocks and inline code spans. */
export interface CodeRegion {
  start: number;
  end: number;
  /** A fenced block (from its opening line to the end of its closing line, or the text's end when unclosed). */
  block: boolean;
}

/**
 * The code in `text` (CommonMark's fenced blocks, any indentation, and inline code spans: a run of n backticks up to
 * the next run of exactly n, within one paragraph). Code shows syntax: nothing in it is a directive (media/refs.ts).
 * Indented (4-space) code blocks are not found: they cannot be told from list continuations line by line.
 */
export function codeRegions(text: string): CodeRegion[] {
  const regions: CodeRegion[] = [];
  let fence: { marker: string; start: number } | undefined;
  let paragraph: { start: number; end: number } | undefined;
  const spans = (p: { start: number; end: number }) => {
    const chunk = text.slice(p.start, p.end);
    const runs = [...chunk.matchAll(/`+/g)];
    for (let i = 0; i < runs.length; i++) {
      const open = runs[i]!;
      const close = runs.findIndex((r, j) => j > i && r[0].length === open[0].length);
      if (close < 0) continue;
      const end = runs[close]!;
      regions.push({ start: p.start + open.index!, end: p.start + end.index! + end[0].length, block: false });
      i = close;
    }
  };
  let at = 0;
  for (const line of text.split('\n')) {
    const lineEnd = at + line.length;
    const f = FENCE.exec(line);
    if (fence) {
      if (f && f[1]![0] === fence.marker[0] && f[1]!.length >= fence.marker.length && line.trim() === f[1]) {
        regions.push({ start: fence.start, end: lineEnd, block: true });
        fence = undefined;
      }
    } else if (f) {
      if (paragraph) spans(paragraph);
      paragraph = undefined;
      fence = { marker: f[1]!, start: at };
    } else if (line.trim() === '') {
      if (paragraph) spans(paragraph);
      paragraph = undefined;
    } else {
      paragraph = { start: paragraph?.start ?? at, end: lineEnd };
    }
    at = lineEnd + 1;
  }
  if (fence) regions.push({ start: fence.start, end: text.length, block: true });
  if (paragraph) spans(paragraph);
  return regions.sort((a, b) => a.start - b.start);
}

/** An attribute's value in a tag: double, single or unquoted. */
function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(String.raw`\s${name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`, 'i').exec(tag);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}
