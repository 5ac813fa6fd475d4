/**
 * Pictures, files, voice and video users send: fetched through robot/messageFiles/download, stored under
 * the host's media folder with a generated name, and turned into what the agent can use — image parts,
 * the saved path, and a plain note when a download failed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { DingTalkClient } from '../dingtalk/client.ts';
import { messageFileDownloadUrl } from '../dingtalk/endpoints.ts';
import { DingTalkApiError } from '../dingtalk/errors.ts';
import type { InboundMessage, MediaKind, MediaRef } from '../inbound.ts';
import { errorMessage, type Logger } from '../log.ts';
import { inlineName } from '../prompt-escape.ts';
import type { ReplyImage } from '../reply/engine.ts';
import { text, type Lang } from '../texts.ts';
import { extensionFor, imageMime, sniff } from './sniff.ts';

export const INBOUND_MAX_BYTES = 20 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 30_000;

export interface InboundMediaDeps {
  client: DingTalkClient;
  log: Logger;
  lang: Lang;
  /** Folder for saved files (the host's media folder). */
  mediaDir: string;
  /** Send pictures as image content (else the agent gets the saved path and the host loads it). */
  imagesAsContent: boolean;
  maxBytes?: number;
}

export interface InboundMedia {
  /** What the agent is told about each of `msg.media`, same order; undefined when nothing needs saying (voice already in words). */
  prompts: Array<string | undefined>;
  images: ReplyImage[];
  /** Short notes for the user about what could not be read. */
  notices: string[];
}

const NAMES: Record<MediaKind, Record<Lang, string>> = {
  picture: { zh: '一张图片', en: 'a picture' },
  audio: { zh: '一段语音', en: 'a voice message' },
  video: { zh: '一段视频', en: 'a video' },
  file: { zh: '一个文件', en: 'a file' },
};

export function mediaName(ref: MediaRef, lang: Lang): string {
  const name = ref.fileName ? inlineName(ref.fileName) : '';
  return NAMES[ref.kind][lang] + (name ? `「${name}」` : '');
}

/**
 * Downloads every picture/file/voice/video of the message (its own and the quoted message's) and says what
 * each is. A quoted one is someone's earlier message and is described as such, never as "the user sent".
 * Never throws: a failed download becomes a prompt line and a notice naming the cause.
 */
export async function fetchInboundMedia(msg: InboundMessage, deps: InboundMediaDeps): Promise<InboundMedia> {
  const result: InboundMedia = { prompts: [], images: [], notices: [] };
  for (const ref of msg.media) {
    // DingTalk already turned the voice note into words: those are the message.
    if (ref.kind === 'audio' && ref.recognition) {
      result.prompts.push(undefined);
      continue;
    }
    const what = mediaName(ref, deps.lang);
    try {
      const saved = await download(ref, deps);
      if (ref.kind === 'picture' && saved.imageMime && deps.imagesAsContent) {
        // The picture itself goes along; naming its path too would make the host attach it twice.
        result.images.push({ path: saved.path, mimeType: saved.imageMime, base64: saved.bytes.toString('base64') });
        result.prompts.push(text(ref.quoted ? 'quotedMediaPlaceholder' : 'mediaPlaceholder', deps.lang, { what }));
      } else {
        result.prompts.push(text(ref.quoted ? 'quotedMediaSaved' : 'inboundSaved', deps.lang, { what, path: saved.path }));
      }
    } catch (err) {
      const reason = failureReason(err, deps);
      deps.log.warn(`message ${msg.msgId}: ${ref.quoted ? 'quoted ' : ''}${ref.kind} download failed: ${errorMessage(err)}`);
      result.prompts.push(text(ref.quoted ? 'quotedMediaNotSeen' : 'inboundNotSeen', deps.lang, { what, reason }));
      result.notices.push(text(ref.quoted ? 'inboundQuotedDownloadFailed' : 'inboundDownloadFailed', deps.lang, { what, reason }));
    }
  }
  return result;
}

/**
 * robot/messageFiles/download gives a temporary URL (spec §3.5). The GET is retried on 5xx and network
 * errors by the client's one retry decision; a URL that expired meanwhile (OSS answers 403 "Request has
 * expired") is fetched anew, once.
 */
async function download(ref: MediaRef, deps: InboundMediaDeps): Promise<{ path: string; bytes: Buffer; imageMime?: string }> {
  let fetched: { bytes: Buffer; contentType: string | undefined } | undefined;
  for (let attempt = 0; !fetched; attempt++) {
    const url = await messageFileDownloadUrl(deps.client, ref.downloadCode);
    try {
      fetched = await deps.client.download(url, { api: DOWNLOAD_API, idempotent: true, maxBytes: deps.maxBytes ?? INBOUND_MAX_BYTES, timeoutMs: DOWNLOAD_TIMEOUT_MS });
    } catch (err) {
      if (attempt > 0 || !isExpiredUrl(err)) throw err;
      deps.log.info(`download URL for a ${ref.kind} expired; fetching a fresh one`);
    }
  }
  const { bytes, contentType } = fetched;
  const type = sniff(bytes);
  // Our own name: the user's file name is shown to the agent, never used as a path.
  const ownExt = ref.fileName ? extname(ref.fileName).slice(1).toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8) : '';
  const ext = ownExt || extensionFor(type, contentType);
  await mkdir(deps.mediaDir, { recursive: true, mode: 0o700 });
  const path = join(deps.mediaDir, `dingtalk-${Date.now()}-${randomBytes(4).toString('hex')}.${ext}`);
  // 'wx': never through a file or symlink already at that name (the name is random; this makes it certain).
  await writeFile(path, bytes, { mode: 0o600, flag: 'wx' });
  deps.log.debug(`saved ${ref.kind} (${bytes.length} bytes) to ${path}`);
  return { path, bytes, imageMime: imageMime(type) };
}

const DOWNLOAD_API = 'robot.messageFiles.fetch';

function isExpiredUrl(err: unknown): boolean {
  return err instanceof DingTalkApiError && err.api === DOWNLOAD_API && (err.status === 403 || err.status === 410);
}

/** The cause alone (the templates say that the download failed). */
function failureReason(err: unknown, deps: InboundMediaDeps): string {
  if (isExpiredUrl(err)) return text('inboundExpired', deps.lang);
  if (/maxContentLength|maxBodyLength/i.test(errorMessage(err))) {
    return text('inboundTooLarge', deps.lang, { mb: Number(((deps.maxBytes ?? INBOUND_MAX_BYTES) / (1024 * 1024)).toFixed(1)) });
  }
  if (err instanceof DingTalkApiError && err.kind === 'permission') return text('inboundForbidden', deps.lang);
  return text('inboundFailed', deps.lang);
}
