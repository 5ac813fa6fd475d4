/**
 * Writes a config the way people write one by hand: JSON5 with comments, unquoted keys where possible,
 * single-quoted strings and trailing commas. Both hosts read their config file as JSON5.
 */
export interface Json5Options {
  /** Comment lines at the top of the file. */
  header?: string;
  /** Comments above keys, by dotted path (`gateway`, `channels.dingtalk-ai`). */
  comments?: Record<string, string>;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function toJson5(value: unknown, o: Json5Options = {}): string {
  const out: string[] = [];
  if (o.header) for (const line of o.header.split('\n')) out.push(`// ${line}`);
  out.push(write(value, '', [], o.comments ?? {}));
  return `${out.join('\n')}\n`;
}

function write(value: unknown, indent: string, path: string[], comments: Record<string, string>): string {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return quote(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => typeof v !== 'object' || v === null)) return `[${value.map((v) => write(v, inner, path, comments)).join(', ')}]`;
    return `[\n${value.map((v) => `${inner}${write(v, inner, path, comments)},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const lines: string[] = [];
  for (const [k, v] of entries) {
    const here = [...path, k];
    const comment = comments[here.join('.')];
    if (comment) for (const line of comment.split('\n')) lines.push(`${inner}// ${line}`);
    lines.push(`${inner}${IDENT.test(k) ? k : quote(k)}: ${write(v, inner, here, comments)},`);
  }
  return `{\n${lines.join('\n')}\n${indent}}`;
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}'`;
}
