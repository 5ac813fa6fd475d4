/**
 * After the answer is complete: local files it references are checked, uploaded once each, and the
 * references rewritten — images inline as `![](@mediaId)`, other files named in the text and sent as
 * their own messages after the card. Refusals leave a short note, never a broken image.
 */
import type { DingTalkClient } from '../dingtalk/client.ts';
import { hostErrorMessage } from '../dingtalk/errors.ts';
import { CallBudgetSpentError } from '../dingtalk/governor.ts';
import { sendRobotMessage, uploadMedia, type RobotSendResponse, type Target } from '../dingtalk/endpoints.ts';
import { errorMessage, type Logger } from '../log.ts';
import { text, type Lang } from '../texts.ts';
import { basename, resolve, sep } from 'node:path';
import { findMediaReferences, type MediaReference } from './refs.ts';
import { checkLocalFile, type MediaPolicy, type RefusalReason } from './safety.ts';

export interface OutboundMediaDeps {
  client: DingTalkClient;
  policy: MediaPolicy;
  log: Logger;
  lang: Lang;
  /** Where relative `attachment://` names point. */
  workspaceDir?: string;
  /**
   * Budget rank of the uploads (src/dingtalk/budget.ts): true (default) for answers, whose media is part of their final;
   * false for outbound sends, which must not hold up answers.
   */
  priority?: boolean;
}

export interface AnswerFile {
  fileName: string;
  mediaId: string;
}

export interface PreparedAnswer {
  text: string;
  /** Non-image files to send after the card, each once. */
  files: AnswerFile[];
}

/** A local file checked (src/media/safety.ts) and uploaded, or why not (with the detail for logs and errors). */
export type UploadOutcome =
  | { ok: true; kind: 'image' | 'file'; mediaId: string; fileName: string; realPath: string }
  | { ok: false; reason: RefusalReason | 'upload-failed' | 'budget-spent'; fileName: string; detail: string };
type Outcome = UploadOutcome;

export async function prepareAnswerMedia(answer: string, deps: OutboundMediaDeps): Promise<PreparedAnswer> {
  const refs = findMediaReferences(answer, deps.workspaceDir);
  if (refs.length === 0) return { text: answer, files: [] };
  // Identical paths upload once.
  const outcomes = new Map<string, Promise<Outcome>>();
  const outcomeOf = (path: string) => {
    let p = outcomes.get(path);
    if (!p) outcomes.set(path, (p = uploadLocalFile(path, deps)));
    return p;
  };
  // A file the user sent goes back only on a MEDIA: line; an answer that merely repeats its path sends nothing.
  const inbound = deps.policy.inboundDir ? resolve(deps.policy.inboundDir) : undefined;
  const isEcho = (r: MediaReference) => !!inbound && !r.mediaLine && isInside(resolve(r.path), inbound);
  const resolved = await Promise.all(refs.map((r) => (isEcho(r) ? undefined : outcomeOf(r.path))));

  const files = new Map<string, AnswerFile>();
  let out = '';
  let at = 0;
  refs.forEach((ref, i) => {
    const o = resolved[i];
    out += answer.slice(at, ref.start);
    at = ref.end;
    const original = answer.slice(ref.start, ref.end);
    if (!o) {
      // Not delivered: a markdown image/link would render broken, so only its words stay.
      out += ref.label !== undefined ? ref.label || basename(ref.path) : original;
    } else if (o.ok && o.kind === 'image') {
      out += `![${ref.label || o.fileName}](${o.mediaId})`;
    } else if (o.ok) {
      files.set(o.realPath, { fileName: o.fileName, mediaId: o.mediaId });
      out += text('mediaSentAsFile', deps.lang, { name: o.fileName });
    } else if (ref.explicit) {
      out += text('mediaRefused', deps.lang, { name: o.fileName, reason: text(`refused.${o.reason}`, deps.lang) });
    } else {
      // A path merely named in prose stays as written.
      out += original;
    }
  });
  out += answer.slice(at);
  return { text: out, files: [...files.values()] };
}

/**
 * Check `path` against the media policy and upload it once: the one way a local file leaves for DingTalk (answers and
 * outbound sends alike). Never throws; refusals and failed uploads are logged here and returned with their detail.
 */
export async function uploadLocalFile(path: string, deps: OutboundMediaDeps): Promise<UploadOutcome> {
  const fileName = path.split(/[\\/]/).pop() || path;
  let checked;
  try {
    checked = await checkLocalFile(path, deps.policy);
  } catch (err) {
    deps.log.warn(`media: cannot read ${path}: ${errorMessage(err)}`);
    return { ok: false, reason: 'not-found', fileName, detail: `${path} cannot be read: ${errorMessage(err)}` };
  }
  if (!checked.ok) {
    // Paths named in prose that do not exist are common and harmless: debug only.
    if (checked.reason === 'not-found') deps.log.debug(`media: ${checked.detail}`);
    else deps.log.warn(`media: refused ${path}: ${checked.reason}: ${checked.detail}${checked.reason === 'outside-roots' ? `; ${OUTSIDE_ROOTS_FIX}` : ''}`);
    return { ok: false, reason: checked.reason, fileName, detail: checked.detail };
  }
  const f = checked.file;
  try {
    const mediaId = await uploadMedia(deps.client, { type: f.kind, bytes: f.bytes, fileName: f.fileName, contentType: f.contentType }, { priority: deps.priority ?? true });
    deps.log.info(`media: uploaded ${f.fileName} (${f.kind}, ${f.bytes.length} bytes)`);
    return { ok: true, kind: f.kind, mediaId, fileName: f.fileName, realPath: f.realPath };
  } catch (err) {
    deps.log.warn(`media: upload of ${f.realPath} failed: ${errorMessage(err)}`);
    // An upload is no part of an answer's reservation (src/dingtalk/governor.ts): refused once the month's budget is spent.
    if (err instanceof CallBudgetSpentError) return { ok: false, reason: 'budget-spent', fileName: f.fileName, detail: errorMessage(err) };
    return { ok: false, reason: 'upload-failed', fileName: f.fileName, detail: `upload to DingTalk failed: ${hostErrorMessage(err)}` };
  }
}

/** What to do about a file outside the allowed folders. */
export const OUTSIDE_ROOTS_FIX = 'to allow it, add its folder to channels.dingtalk-ai.mediaRoots';

/** A file message not sent: its name, and whether the month's call budget refused it (else DingTalk or the network failed). */
export interface FileNotSent {
  fileName: string;
  budgetSpent: boolean;
}

/** Send each file as its own robot message (`priority`: see OutboundMediaDeps); returns the files that could not be sent. */
export async function sendAnswerFiles(client: DingTalkClient, target: Target, files: AnswerFile[], log: Logger, priority = true): Promise<FileNotSent[]> {
  const failed: FileNotSent[] = [];
  for (const f of files) {
    try {
      await sendFileMessage(client, target, f, priority);
    } catch (err) {
      log.warn(`media: sending file ${f.fileName} failed: ${errorMessage(err)}`);
      failed.push({ fileName: f.fileName, budgetSpent: err instanceof CallBudgetSpentError });
    }
  }
  return failed;
}

/** One uploaded file as a `sampleFile` robot message (spec §3.6: `{mediaId, fileName, fileType}`); DingTalk's reply. */
export function sendFileMessage(client: DingTalkClient, target: Target, f: AnswerFile, priority: boolean): Promise<RobotSendResponse> {
  const ext = f.fileName.includes('.') ? f.fileName.split('.').pop()!.toLowerCase() : 'file';
  return sendRobotMessage(client, target, 'sampleFile', { mediaId: f.mediaId, fileName: f.fileName, fileType: ext }, { priority });
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}
