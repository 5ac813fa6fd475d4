/**
 * The pieces of a message as DingTalk sent them (runs): text, a structured @-mention, or a media reference. Run
 * shapes: `{text}` / `{type:"picture",downloadCode}` in messages, `{msgType:"text",content}` /
 * `{msgType:"picture",downloadCode}` inside quotes (QwenLM/qwen-code#9536, #11759), `{type:"at",atName,atUserId}`
 * (SOIMY src/types.ts).
 */
import type { MediaKind, MediaRef } from '../inbound.ts';
import { isObject, num, str, type Json } from './json.ts';

/** A piece of the message as DingTalk sent it, before the robot's mention is removed. */
export type Run = { text: string } | { at: string; userId?: string } | { media: MediaRef };

/** The runs of a `richText` array (messages and quotes alike); unknown items are skipped. */
export function richTextRuns(items: unknown): Run[] {
  if (!Array.isArray(items)) return [];
  const runs: Run[] = [];
  for (const item of items) {
    if (!isObject(item)) continue;
    const type = str(item.type) ?? str(item.msgType);
    const text = str(item.text) ?? (typeof item.content === 'string' ? item.content : undefined);
    if (type === 'picture' || (!type && !text && (item.downloadCode || item.pictureDownloadCode))) {
      runs.push(...mediaRef('picture', item).map((m) => ({ media: m })));
    } else if (type === 'at') {
      const name = str(item.atName) ?? text?.replace(/^@/, '');
      if (name) runs.push({ at: name, userId: str(item.atUserId) ?? str(item.dingtalkId) });
    } else if (type === 'video' || type === 'file' || type === 'audio') {
      runs.push(...mediaRef(type, item).map((m) => ({ media: m })));
    } else if (text !== undefined) {
      runs.push({ text });
    }
  }
  return runs;
}

/** The media reference in a picture/audio/video/file content object; none without a download code. */
export function mediaRef(kind: MediaKind, c: Json): MediaRef[] {
  const downloadCode = str(c.downloadCode) ?? str(c.pictureDownloadCode);
  if (!downloadCode) return [];
  const duration = num(c.duration) ?? (typeof c.duration === 'string' ? Number(c.duration) || undefined : undefined);
  return [{ kind, downloadCode, fileName: str(c.fileName), recognition: str(c.recognition), durationMs: duration }];
}
