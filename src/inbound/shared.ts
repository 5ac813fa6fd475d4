/**
 * Readable content of what users share rather than write: an `interactiveCard` (a card, or a shared DingTalk document
 * with `content.biz_custom_action_url` = `dingtalk://dingtalkclient/page/yunpan?route=previewDentry&…`, SOIMY tests)
 * and a forwarded chat history (`chatRecord`: `content.summary/title`, sometimes the messages in
 * `content.chatRecord` as an array or JSON string; open-dingtalk/dingtalk-stream-sdk-python#73, QwenLM/qwen-code#9339).
 * Also used for quoted cards and chat records (./quotes.ts).
 */
import { inlineName } from '../prompt-escape.ts';
import { isObject, num, parseJson, str, type Json } from './json.ts';
import { QUOTE_MAX_CHARS, readable, truncate } from './readable.ts';
import { richTextRuns } from './runs.ts';

/** A forwarded chat history is cut here so one message cannot flood the agent's context. */
export const CHAT_RECORD_MAX_ENTRIES = 50;
export const CHAT_RECORD_MAX_CHARS = 4000;

/** Title, visible text and link of a card or shared document; undefined when DingTalk sent none. */
export function cardText(c: Json): string | undefined {
  const lines: string[] = [];
  const title = str(c.title);
  if (title) lines.push(title);
  const tree = collectCardText(c.cardContent ?? parseJson(c.cardContent));
  const body = tree.length ? tree.join('\n') : (str(c.text) ?? str(c.markdown) ?? str(c.content));
  if (body && readable(body) && body !== title) lines.push(readable(body)!);
  const link = str(c.biz_custom_action_url) ?? str(c.url) ?? str(c.messageUrl);
  if (link) lines.push(/route=previewDentry/.test(link) ? `钉钉文档：${link}` : link);
  const text = lines.join('\n').trim();
  return text ? truncate(text, QUOTE_MAX_CHARS) : undefined;
}

/** Visible text of a card element tree: `TEXT` nodes' `value`, and a string `text` on any other node. */
function collectCardText(node: unknown, out: string[] = [], depth = 0): string[] {
  if (depth > 20) return out;
  if (Array.isArray(node)) {
    for (const n of node) collectCardText(n, out, depth + 1);
    return out;
  }
  if (!isObject(node)) return out;
  const value = str(node.value) ?? str(node.text);
  if (value && (node.elementType === 'TEXT' || node.elementType === 'MARKDOWN' || typeof node.text === 'string')) out.push(value.trim());
  if (node.children !== undefined) collectCardText(node.children, out, depth + 1);
  return out;
}

/**
 * A forwarded chat history as lines `sender (time): text`, with its title first; only the summary when
 * DingTalk sent no messages. Bounded by CHAT_RECORD_MAX_ENTRIES / CHAT_RECORD_MAX_CHARS.
 */
export function chatRecordText(c: Json): string | undefined {
  const title = str(c.title);
  const summary = str(c.summary);
  const raw = c.chatRecord ?? c.records ?? c.messages;
  const entries = Array.isArray(raw) ? raw : (parseJson(raw) as unknown);
  const list = Array.isArray(entries) ? entries.filter(isObject) : [];
  // Entries may carry only an encrypted sender id; the summary ("张三:[消息]" per line) names them in order.
  const summaryNames = (summary ?? '').split('\n').map((l) => /^([^:：]{1,40})[:：]/.exec(l)?.[1]?.trim());
  const lines: string[] = [];
  let size = 0;
  let shown = 0;
  for (const [i, e] of list.entries()) {
    if (shown >= CHAT_RECORD_MAX_ENTRIES || size >= CHAT_RECORD_MAX_CHARS) break;
    const idSender = str(e.senderStaffId) ?? str(e.senderId);
    const sender = str(e.senderNick) ?? str(e.senderName) ?? str(e.sender) ?? (summaryNames.length === list.length ? summaryNames[i] : undefined) ?? (idSender && !idSender.startsWith('$:') ? idSender : '某人');
    const at = num(e.createAt) ?? num(e.createdAt) ?? num(e.sendTime) ?? num(Number(e.createAt ?? e.sendTime ?? NaN));
    // One entry = one `sender (time): text` line (entryText is one line; the sender is made one line without
    // colons), so an entry cannot pose as another entry or as the plugin's framing (src/prompt-escape.ts).
    const body = entryText(e);
    if (!body) continue;
    const line = `${inlineName(sender).replace(/[:：]/g, ' ').trim() || '某人'}${at ? ` (${formatTime(at)})` : ''}: ${body}`;
    const room = CHAT_RECORD_MAX_CHARS - size;
    lines.push(line.length > room ? `${line.slice(0, room)}…` : line);
    size += line.length;
    shown++;
  }
  const omitted = list.length - shown;
  const parts: string[] = [];
  if (title) parts.push(title);
  if (lines.length) {
    parts.push(...lines);
    if (omitted > 0) parts.push(`…（另有 ${omitted} 条未显示）`);
  } else if (summary && summary !== '[]') {
    parts.push(truncate(summary, CHAT_RECORD_MAX_CHARS));
  }
  return lines.length || (summary && summary !== '[]') ? parts.join('\n') : undefined;
}

function entryText(e: Json): string | undefined {
  const type = str(e.msgType) ?? str(e.msgtype);
  const c = e.content;
  const text =
    (typeof c === 'string' ? c : isObject(c) ? (str(c.text) ?? str(c.content) ?? (Array.isArray(c.richText) ? richTextRuns(c.richText).map((r) => ('text' in r ? r.text : '')).join('') : undefined)) : undefined) ??
    str(e.text) ??
    str(e.message);
  if (type === 'picture') return '[图片]';
  if (type === 'file') return `[文件] ${str(isObject(c) ? c.fileName : undefined) ?? str(e.fileName) ?? ''}`.trim();
  if (type === 'video') return '[视频]';
  if (type === 'audio') return readable(str(isObject(c) ? c.recognition : undefined)) ?? '[语音]';
  return readable(text?.replace(/\s+/g, ' '));
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '' : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
