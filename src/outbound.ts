/**
 * Messages the agent sends first (the host's `message send`, scheduled jobs, replies routed from other channels, the
 * message tool): the targets they name and the robot messages that carry them. No inbound message, so no
 * sessionWebhook: everything goes through the robot OpenAPI (`oToMessages/batchSend`, `groupMessages/send`, spec §3.6).
 *
 * Text takes the answers' path: markdown normalised (markdown.ts), local media it references checked and uploaded
 * (media/outbound.ts), then split at paragraph / code-fence boundaries (deliver.ts). A media attachment is one local
 * file through the same check and upload. Every call ranks below answers' finals in the app's call budget
 * (`priority: false`, budget.ts): a burst of outbound sends never holds up an answer.
 */
import { accountConfigKey, type ResolvedAccount } from './config.ts';
import type { DingTalkClient } from './dingtalk/client.ts';
import { sendRobotMessage } from './dingtalk/endpoints.ts';
import { MARKDOWN_CHUNK_CHARS, splitMarkdown, titleOf } from './deliver.ts';
import type { Logger } from './log.ts';
import { normalizeMarkdown } from './markdown.ts';
import { OUTSIDE_ROOTS_FIX, prepareAnswerMedia, sendFileMessage, uploadLocalFile, type AnswerFile, type OutboundMediaDeps } from './media/outbound.ts';
import { toLocalPath } from './media/refs.ts';
import type { MediaPolicy } from './media/safety.ts';
import { pastedId } from './policy.ts';
import { detectLang } from './texts.ts';

/** Where an outbound message goes: a 1:1 chat with the robot (by staffId) or a group (by openConversationId). */
export type OutboundTarget = { kind: 'dm'; userId: string } | { kind: 'group'; conversationId: string };

/** The accepted target forms, as every unreadable target's error names them (and the host's target hint). */
export const TARGET_FORMS = 'user:<staffId> or group:<openConversationId> (a bare staffId, or a bare cid… group id, also works)';

/** Longest target read (a prefix plus the longest id); an openConversationId is about 47 characters, a staffId ≤ 64. */
const MAX_TARGET_CHARS = 256;

/** `text` for an error message: at most `max` characters, the cut marked with "…". */
export function shorten(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export class TargetError extends Error {
  constructor(raw: string, why: string) {
    super(`DingTalk target "${shorten(raw)}" cannot be read: ${why}; use ${TARGET_FORMS}. The gateway log prints both for every message the robot receives ("message … from user:<staffId> in group:<cid…>").`);
    this.name = 'TargetError';
  }
}

// The channel's id and aliases (channel.ts meta) as the host may put them in front of a target.
const CHANNEL_PREFIX = /^(?:dingtalk-ai|dingtalk|ding):/i;
const USER_PREFIX = /^(?:user|dm|staff):/i;
const GROUP_PREFIX = /^(?:group|channel|conversation):/i;
/**
 * staffIds (userid): letters, digits and a few separators, at least one letter or digit (spec §2.1 capture:
 * "030008551219215"; `user:.`, `user:@` are no one). Never `+`, `/` or `=`.
 */
const STAFF_ID = /^(?=.*[A-Za-z0-9])[\w.@-]{1,64}$/;
/** openConversationId: `cid` + base64 (spec §2.1 capture: "cid8tfOR+7uip234mJoPjImGsuJt4fHDZ7qaZmlW1GdaOk="). */
const CONVERSATION_ID = /^cid[A-Za-z0-9+/=_-]{1,125}$/;
/**
 * A bare id read as a group: `cid` + base64 holding a character no staffId has (`+`, `/`, `=`). Every
 * openConversationId on record ends with base64 padding (`…GdaOk=`, spec §2.1; the docs' `cid…==`), while a staffId
 * may well start with "cid" (`cidney`): without such a character a bare id is a staffId; `group:` forces a group.
 */
const BARE_CONVERSATION_ID = /^cid[A-Za-z0-9+/=_-]*[+/=][A-Za-z0-9+/=_-]*$/;

/**
 * Reads `user:<staffId>`, `group:<openConversationId>`, the host's own `dingtalk-ai:user:…` syntax (also `dingtalk:` /
 * `ding:`, and `dm:` / `channel:` for the kind), a bare staffId and a bare `cid…` id. Ids keep their case (both are
 * case-sensitive). What a paste or an IME adds is read away (pastedId: `user：…` with the full-width colon, a zero-width
 * space); a control character inside the id is named. Throws TargetError naming the accepted forms.
 */
export function parseTarget(raw: string): OutboundTarget {
  let rest = pastedId(raw).trim();
  if (rest.length > MAX_TARGET_CHARS) throw new TargetError(raw, `it is ${rest.length} characters long, more than any DingTalk id (at most ${MAX_TARGET_CHARS})`);
  while (CHANNEL_PREFIX.test(rest)) rest = rest.replace(CHANNEL_PREFIX, '').trim();
  if (!rest) throw new TargetError(raw, 'it is empty');
  let kind: 'dm' | 'group' | undefined;
  if (USER_PREFIX.test(rest)) kind = 'dm';
  else if (GROUP_PREFIX.test(rest)) kind = 'group';
  const id = kind ? rest.replace(kind === 'dm' ? USER_PREFIX : GROUP_PREFIX, '').trim() : rest;
  if (!id) throw new TargetError(raw, 'the id after the prefix is missing');
  const control = id.search(/\p{Cc}/u);
  if (control >= 0) throw new TargetError(raw, `it contains a control character (U+${id.charCodeAt(control).toString(16).toUpperCase().padStart(4, '0')}) at position ${control + 1} of the id; copy the id again without it`);
  if (id.startsWith('$:')) throw new TargetError(raw, `${id.slice(0, 10)}… is a senderId (DingTalk's encrypted id), which robots cannot message; the staffId is needed`);
  kind ??= BARE_CONVERSATION_ID.test(id) ? 'group' : 'dm';
  if (kind === 'group') {
    if (!CONVERSATION_ID.test(id)) throw new TargetError(raw, `"${shorten(id, 40)}" is not an openConversationId (they start with "cid")`);
    return { kind, conversationId: id };
  }
  if (!STAFF_ID.test(id)) throw new TargetError(raw, `"${shorten(id, 40)}" is not a staffId (letters or digits, with "_", "-", ".", "@"; names are not looked up)`);
  return { kind, userId: id };
}

/** The canonical form of a target: `user:<staffId>` or `group:<openConversationId>`. */
export function formatTarget(t: OutboundTarget): string {
  return t.kind === 'dm' ? `user:${t.userId}` : `group:${t.conversationId}`;
}

/** What an outbound send needs of an account. */
export interface OutboundDeps {
  account: ResolvedAccount;
  client: DingTalkClient;
  policy: MediaPolicy;
  log: Logger;
}

/** Nothing was sent: the text was empty (the host then records an intentional no-send). */
export const NOTHING_SENT: string[] = [];

/**
 * Most DingTalk messages one outbound send makes (text parts of MARKDOWN_CHUNK_CHARS and file messages together):
 * 10, i.e. about 35,000 characters. More is no chat message anyone reads (a pasted log, a whole report: it reads
 * better as a file) and spends a call each from the app's monthly budget (10 of the default 4,000). DingTalk's robot
 * file messages take only doc/docx/xls/xlsx/ppt/pptx/zip/pdf/rar (spec §3.4), so a long text cannot be turned into a
 * .md or .txt file for the user: the send is refused before any call, naming the length and the fix.
 */
export const MAX_OUTBOUND_PARTS = 10;

/** A send refused before any DingTalk call: it would take more than MAX_OUTBOUND_PARTS messages. */
export class OutboundTooLongError extends Error {
  constructor(chars: number, parts: number) {
    super(
      `message not sent: its ${chars} characters would take ${parts} DingTalk messages, more than the ${MAX_OUTBOUND_PARTS} one send may make ` +
        `(about ${MAX_OUTBOUND_PARTS * MARKDOWN_CHUNK_CHARS} characters); send it as a file instead (write it to a .pdf, .docx or .zip and attach it: ` +
        `--media / mediaUrl, or a "MEDIA: <path>" line), or send a shorter summary`,
    );
    this.name = 'OutboundTooLongError';
  }
}

/**
 * A send of several messages cut part-way: parts 1…`delivered.length` of `parts` arrived (their processQueryKeys in
 * `delivered`), the next one failed with `failure` (the DingTalk or budget error) and nothing after it was tried.
 * `note` says so in the words the host shows, so that nobody resends the parts that arrived.
 */
export class PartialSendError extends Error {
  readonly failure: unknown;
  readonly delivered: string[];
  readonly parts: number;
  readonly note: string;
  constructor(failure: unknown, delivered: string[], parts: number) {
    const k = delivered.length + 1;
    const arrived =
      delivered.length === 0 ? 'none was delivered' : delivered.length === 1 ? `part 1 of ${parts} was delivered` : `parts 1-${delivered.length} of ${parts} were delivered`;
    const note = `part ${k} of ${parts} not delivered and not tried after it; ${arrived}${delivered.length ? ' (send only the rest again)' : ''}`;
    super(`${failure instanceof Error ? failure.message : String(failure)}; ${note}`);
    this.name = 'PartialSendError';
    this.failure = failure;
    this.delivered = delivered;
    this.parts = parts;
    this.note = note;
  }
}

/**
 * Send `text` (markdown) to `target`: normalised, local media it references uploaded (images inline, other files as
 * file messages after it, as in answers), split at MARKDOWN_CHUNK_CHARS. Returns DingTalk's processQueryKey of each
 * message in order. Throws OutboundTooLongError before any call when it would take more than MAX_OUTBOUND_PARTS
 * messages; on the first message DingTalk refuses throws its error (RobotSendRefusedError names the list and the
 * fix; DingTalkApiError/NetworkError, CallBudgetSpentError), wrapped in PartialSendError when the send has several
 * parts: the error says which arrived.
 */
export async function sendOutboundText(deps: OutboundDeps, target: OutboundTarget, text: string): Promise<string[]> {
  if (!text.trim()) return NOTHING_SENT;
  const md = normalizeMarkdown(text);
  // Refused before any upload; checked again below with the files the media step adds.
  const estimate = splitMarkdown(md, MARKDOWN_CHUNK_CHARS).length;
  if (estimate > MAX_OUTBOUND_PARTS) throw new OutboundTooLongError(text.length, estimate);
  const prepared = deps.account.enableMediaUpload ? await prepareAnswerMedia(md, mediaDeps(deps, text)) : { text: md, files: [] };
  const ids = await sendParts(deps, target, splitMarkdown(prepared.text, MARKDOWN_CHUNK_CHARS), prepared.files, text.length);
  deps.log.info(`outbound: sent ${ids.length} message(s) to ${formatTarget(target)}`);
  return ids;
}

/** Markdown `chunks`, then `files`, in order, as one send of at most MAX_OUTBOUND_PARTS messages (see sendOutboundText). */
async function sendParts(deps: OutboundDeps, target: OutboundTarget, chunks: string[], files: AnswerFile[], chars: number): Promise<string[]> {
  const parts = chunks.length + files.length;
  if (parts > MAX_OUTBOUND_PARTS) throw new OutboundTooLongError(chars, parts);
  const ids: string[] = [];
  try {
    for (const chunk of chunks) ids.push(key(await sendRobotMessage(deps.client, target, 'sampleMarkdown', { title: titleOf(chunk), text: chunk }, { priority: false })));
    for (const f of files) ids.push(key(await sendFileMessage(deps.client, target, f, false)));
  } catch (err) {
    if (parts > 1) deps.log.warn(`outbound: ${formatTarget(target)} got ${ids.length} of ${parts} messages`);
    throw parts > 1 ? new PartialSendError(err, ids, parts) : err;
  }
  return ids;
}

/**
 * Send one attachment with an optional caption. A local path (absolute, `~/…` or `file://`) takes the answers' media
 * path (allowed folders, type sniffing, size caps, secret checks) and is refused with an Error naming the reason and
 * the fix; an image is shown inline under the caption, any other file follows the caption as a file message. An
 * http(s) URL is not downloaded: it goes out as a link (an image URL as an inline image) in the markdown.
 */
export async function sendOutboundMedia(deps: OutboundDeps, target: OutboundTarget, caption: string, mediaUrl: string): Promise<string[]> {
  const url = mediaUrl.trim();
  if (/^https?:\/\//i.test(url)) {
    const { name, href } = readMediaUrl(url);
    const label = escapeLinkText(name);
    const shown = /\.(png|jpe?g|gif|bmp)$/i.test(name) ? `![${label}](${href})` : `[${label}](${href})`;
    return sendOutboundText(deps, target, caption.trim() ? `${caption}\n\n${shown}` : shown);
  }
  if (!deps.account.enableMediaUpload) {
    throw new Error(`media not sent: sending files is off for this account (${accountConfigKey(deps.account.accountId, 'enableMediaUpload')} is false); set it to true to send ${url}`);
  }
  const path = toLocalPath(url);
  if (!path) throw new Error(`media not sent: "${url}" is neither an absolute local path (or file:// URL) nor an http(s) URL`);
  const captionParts = caption.trim() ? splitMarkdown(normalizeMarkdown(caption), MARKDOWN_CHUNK_CHARS).length : 0;
  if (captionParts + 1 > MAX_OUTBOUND_PARTS) throw new OutboundTooLongError(caption.length, captionParts + 1);
  const uploaded = await uploadLocalFile(path, mediaDeps(deps, caption));
  if (!uploaded.ok) {
    const fix =
      uploaded.reason === 'outside-roots'
        ? `; ${OUTSIDE_ROOTS_FIX}`
        : uploaded.reason === 'budget-spent'
          ? `; the key is ${accountConfigKey(deps.account.accountId, 'monthlyCallBudget')}`
          : '';
    throw new Error(`media not sent: ${uploaded.fileName} refused (${uploaded.reason}): ${uploaded.detail}${fix}`);
  }
  if (uploaded.kind === 'image') {
    const image = `![${uploaded.fileName}](${uploaded.mediaId})`;
    const md = caption.trim() ? `${normalizeMarkdown(caption)}\n\n${image}` : image;
    const ids = await sendParts(deps, target, splitMarkdown(md, MARKDOWN_CHUNK_CHARS), [], caption.length);
    deps.log.info(`outbound: sent image ${uploaded.fileName} to ${formatTarget(target)}`);
    return ids;
  }
  const chunks = caption.trim() ? splitMarkdown(normalizeMarkdown(caption), MARKDOWN_CHUNK_CHARS) : [];
  const ids = await sendParts(deps, target, chunks, [{ fileName: uploaded.fileName, mediaId: uploaded.mediaId }], caption.length);
  deps.log.info(`outbound: sent file ${uploaded.fileName} to ${formatTarget(target)}`);
  return ids;
}

/**
 * An http(s) media URL as a link: its file name (percent-decoded) and the URL with `(`, `)` and spaces escaped so the
 * markdown link stays whole. Throws an Error naming the (shortened) URL and what to change when it is malformed.
 */
function readMediaUrl(url: string): { name: string; href: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`media not sent: "${shorten(url)}" is not a valid URL; check it (spaces and other special characters must be percent-encoded, e.g. %20)`);
  }
  const last = parsed.pathname.split('/').pop() || parsed.hostname;
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    throw new Error(`media not sent: "${shorten(url)}" has a broken percent-escape in its path ("%" must be followed by two hex digits; write a literal "%" as %25); fix the URL`);
  }
  return { name, href: parsed.href.replace(/[()\s]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`) };
}

/** A link's visible text with markdown's link syntax (`[`, `]`, `\\`) escaped: `a](b` stays text. */
function escapeLinkText(text: string): string {
  return text.replace(/[\\[\]]/g, (c) => `\\${c}`);
}

function mediaDeps(deps: OutboundDeps, text: string): OutboundMediaDeps {
  return { client: deps.client, policy: deps.policy, log: deps.log, lang: detectLang(text), priority: false };
}

function key(res: { processQueryKey?: string }): string {
  return res.processQueryKey ?? '';
}

const running = new Map<string, OutboundDeps>();

/** A running account offers its client (token cache, call budget) to outbound sends; returns the withdrawal. */
export function registerOutbound(deps: OutboundDeps): () => void {
  running.set(deps.account.accountId, deps);
  return () => {
    if (running.get(deps.account.accountId) === deps) running.delete(deps.account.accountId);
  };
}

/** The running account's outbound deps in this process, if it runs here. */
export function runningOutbound(accountId: string): OutboundDeps | undefined {
  return running.get(accountId);
}
