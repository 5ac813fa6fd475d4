/**
 * The ReplyEngine seam: given a user's turn and its session, produce the answer as text chunks.
 * Two engines: the gateway's OpenAI-compatible endpoint (./gateway.ts: every sender acts as the gateway's
 * owner) and the host's in-process channel reply runtime (./runtime.ts: senders are ordinary senders under
 * the host's pairing, allowlists and tool policy).
 */

export interface ReplyImage {
  /** Local path of the saved file. */
  path: string;
  mimeType: string;
  /** Base64 bytes, when the engine should send the picture itself. */
  base64?: string;
}

export interface ReplyRequest {
  /** Stable key of the conversation's current session. */
  sessionKey: string;
  /** What the user said (placeholders for media the engine cannot see). */
  text: string;
  images: ReplyImage[];
  /** System prompts for this turn, in order. */
  systemPrompts: string[];
  sender: { id: string; name?: string };
  /** Where the message was written: a DM with the sender, or a group (DingTalk openConversationId). */
  conversation: { type: 'direct' | 'group'; id: string; title?: string };
  /** DingTalk msgId of the user's message. */
  messageId: string;
  signal: AbortSignal;
}

/** A text delta to append, or the whole answer so far (it replaces what was shown: the host rewrote its text). */
export type ReplyChunk = string | { snapshot: string };

export interface ReplyEngine {
  readonly name: string;
  /** Yields text chunks and ends when the turn is over; throws ReplyError when no answer can be produced. */
  reply(req: ReplyRequest): AsyncIterable<ReplyChunk>;
}

export type ReplyErrorKind =
  | 'unauthorized' // 401/403: token or password wrong
  | 'endpoint-disabled' // 405, or 404 on …/v1/chat/completions (OpenClaw 2026.9.6): chatCompletions endpoint off
  | 'not-found' // 404 on another path: wrong gatewayUrl
  | 'no-model' // the gateway has no model configured for the agent
  | 'rejected' // 400: the gateway refused the request (e.g. unknown agent)
  | 'unreachable' // connection refused / DNS
  | 'timeout' // nothing arrived for `gatewayTimeout`
  | 'deadline' // the whole answer took longer than `answerTimeout` (set by the pipeline, whichever engine)
  | 'cut' // the stream ended without [DONE] and without a finish_reason, or the connection broke
  | 'failed'; // 5xx, error event in the stream

export class ReplyError extends Error {
  readonly kind: ReplyErrorKind;
  readonly status: number | undefined;
  /** Detail from the gateway, for the log only (it may contain anything the gateway echoed; never shown to users). */
  readonly detail: string | undefined;

  constructor(kind: ReplyErrorKind, message: string, opts: { status?: number; detail?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ReplyError';
    this.kind = kind;
    this.status = opts.status;
    this.detail = opts.detail;
  }
}
