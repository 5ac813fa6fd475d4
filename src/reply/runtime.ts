/**
 * ReplyEngine over the host's in-process channel reply runtime (`engine: "runtime"`): the turn runs the way the
 * host's own channel plugins run theirs, with the DingTalk user as an ordinary sender, so the host applies its
 * pairing, allowlists, tool policy and owner checks instead of treating every sender as the gateway's owner.
 *
 * Host contract (read from the installed hosts, not from any SDK import: no one import path works in both):
 * - `api.runtime.channel` (OpenClaw 2026.9.6 `dist/runtime-channel-*.mjs` `createRuntimeChannel`; Clawdbot
 *   2026.1.24-3 `dist/plugins/runtime/index.js`), and on OpenClaw also `startAccount`'s `ctx.channelRuntime`
 *   (Plugin SDK ≥ 2026.2.19), offers the same three calls the bundled channels (e.g. Clawdbot's
 *   `extensions/nextcloud-talk/src/inbound.ts`) use:
 *   `routing.resolveAgentRoute({ cfg, channel, accountId, peer })` → `{ agentId, accountId, sessionKey, matchedBy }`,
 *   `reply.finalizeInboundContext(ctx)` (the `MsgContext` fields: Body, From, To, SessionKey, ChatType,
 *   SenderId, SenderName, GroupSubject, GroupSystemPrompt, Provider, Surface, OriginatingChannel/To,
 *   CommandAuthorized …), and `reply.dispatchReplyWithBufferedBlockDispatcher({ ctx, cfg, dispatcherOptions:
 *   { deliver(payload, { kind: "tool" | "block" | "final" }), onError }, replyOptions })` which resolves when the
 *   host's turn is over. `session.recordInboundSession` stores the sender on the session entry.
 * - Streaming: `replyOptions.onPartialReply({ text })` carries the text of the current assistant message so far
 *   (OpenClaw adds `delta` / `replace`); `onAssistantMessageStart` starts the next message after a tool call.
 *   `disableBlockStreaming: true` keeps finals whole (no block deliveries), as a card shows the partials anyway.
 * - Peer kind for routing: OpenClaw `"direct"`, Clawdbot `"dm"` (its `routing/session-key.js`); groups `"group"`.
 * - `GroupSystemPrompt` reaches the model's system prompt for DMs and groups alike on both hosts
 *   (OpenClaw `get-reply-*.mjs`, Clawdbot `auto-reply/reply/get-reply-run.js`: extraSystemPrompt).
 * - `replyOptions.images` (`{ type: "image", data, mimeType }`) go to the model as image content;
 *   `replyOptions.abortSignal` aborts the run.
 *
 * Known trap (peers: DingTalk-Real-AI/dingtalk-openclaw-connector issues #644, #668, soimy/openclaw-channel-dingtalk
 * #292): OpenClaw ≥ 2026.5 has turns that never deliver a `final` (a turn ending in a tool call, an empty final
 * dropped by normalisation, a follow-up claimed by a running turn, `message_tool` visible-reply mode), and
 * cards that waited for one spun forever. This engine ends on the dispatcher's own promise; the text streamed
 * so far is the answer then, and an empty turn ends with the pipeline's "no content" text.
 *
 * Sessions: the key is the pipeline's (per DM sender / per group, `sessionTimeout`, `/new`), in the host's
 * `agent:<agentId>:…` form, so both engines keep the same conversation boundaries and staff never share the
 * host's default `main` DM session (OpenClaw `session.dmScope` defaults to `main`). The agent comes from the
 * host's bindings (`resolveAgentRoute`) when one matches, else from `agentId`.
 */
import { CHANNEL_ID, type HostConfig } from '../config.ts';
import { errorMessage, type Logger } from '../log.ts';
import { ReplyError, type ReplyChunk, type ReplyEngine, type ReplyRequest } from './engine.ts';

/** What a channel may put into the host's inbound context (`MsgContext`); the fields this plugin sets. */
export interface InboundContext {
  Body: string;
  RawBody: string;
  CommandBody: string;
  From: string;
  To: string;
  SessionKey: string;
  AccountId: string;
  ChatType: 'direct' | 'group';
  ConversationLabel: string;
  SenderId: string;
  SenderName?: string;
  GroupSubject?: string;
  GroupSystemPrompt?: string;
  Provider: string;
  Surface: string;
  OriginatingChannel: string;
  OriginatingTo: string;
  MessageSid: string;
  Timestamp: number;
  WasMentioned?: boolean;
  /** False: host text commands are not run for DingTalk senders (the pipeline handles `/new`). */
  CommandAuthorized: boolean;
  [key: string]: unknown;
}

/** A reply payload as the host delivers it. */
export interface RuntimeReplyPayload {
  text?: string;
  mediaUrl?: string;
  mediaUrls?: string[];
  isError?: boolean;
}

export type RuntimeDispatchKind = 'tool' | 'block' | 'final';

export interface RuntimePartialReply {
  text?: string;
  delta?: string;
  replace?: boolean;
}

export interface RuntimeImage {
  type: 'image';
  data: string;
  mimeType: string;
}

export interface RuntimeDispatchParams {
  ctx: InboundContext;
  cfg: HostConfig;
  dispatcherOptions: {
    deliver: (payload: RuntimeReplyPayload, info: { kind: RuntimeDispatchKind }) => Promise<void>;
    onError?: (err: unknown, info: { kind: RuntimeDispatchKind }) => void;
  };
  replyOptions: {
    abortSignal: AbortSignal;
    images?: RuntimeImage[];
    disableBlockStreaming: boolean;
    onPartialReply: (payload: RuntimePartialReply) => void;
    onAssistantMessageStart: () => void;
  };
}

export interface RuntimeRoute {
  agentId: string;
  accountId?: string;
  sessionKey?: string;
  matchedBy?: string;
}

/** The part of the host's `api.runtime.channel` this engine uses. */
export interface ChannelReplyRuntime {
  reply: {
    finalizeInboundContext(ctx: InboundContext): InboundContext;
    dispatchReplyWithBufferedBlockDispatcher(params: RuntimeDispatchParams): Promise<unknown>;
  };
  routing: {
    resolveAgentRoute(input: { cfg: HostConfig; channel: string; accountId: string; peer: { kind: string; id: string } }): RuntimeRoute;
  };
  session?: {
    resolveStorePath?: (store: string | undefined, opts: { agentId: string }) => string;
    recordInboundSession?: (params: { storePath: string; sessionKey: string; ctx: InboundContext; onRecordError: (err: unknown) => void }) => Promise<unknown>;
  };
}

/** The host's channel runtime, when the object offers the calls this engine needs; undefined otherwise. */
export function channelReplyRuntime(candidate: unknown): ChannelReplyRuntime | undefined {
  const rt = candidate as Partial<ChannelReplyRuntime> | undefined;
  if (!rt || typeof rt !== 'object') return undefined;
  const ok =
    typeof rt.reply?.finalizeInboundContext === 'function' &&
    typeof rt.reply?.dispatchReplyWithBufferedBlockDispatcher === 'function' &&
    typeof rt.routing?.resolveAgentRoute === 'function';
  return ok ? (rt as ChannelReplyRuntime) : undefined;
}

export interface RuntimeEngineOptions {
  runtime: ChannelReplyRuntime;
  /** The host's whole config, as the host gave it to `startAccount`. */
  cfg: HostConfig;
  accountId: string;
  /** The agent when no host binding matches (`channels.dingtalk-ai.agentId`). */
  agentId: string;
  /** How the host's router names a direct chat: OpenClaw `direct`, Clawdbot `dm`. */
  directPeerKind: 'direct' | 'dm';
  log: Logger;
  now?: () => number;
}

export class RuntimeEngine implements ReplyEngine {
  readonly name = 'runtime';
  private readonly opts: RuntimeEngineOptions;

  constructor(opts: RuntimeEngineOptions) {
    this.opts = opts;
  }

  /**
   * Chunks of the host's turn. A stop word or the answer deadline (`req.signal`) ends them at once with the
   * signal's reason: the host aborts its own run through `replyOptions.abortSignal` (OpenClaw 2026.9.6
   * `reply-run-registry` turns it into a `user_abort` of the reply operation, whose signal reaches the model call;
   * Clawdbot 2026.1.24-3 passes it to the embedded agent run, `agent-runner-execution.js`), and whatever the host
   * still streams or delivers after that is discarded, so a host that is slow to stop never keeps the card open.
   */
  async *reply(req: ReplyRequest): AsyncIterable<ReplyChunk> {
    const turn = new Turn();
    const started = (this.opts.now ?? Date.now)();
    let abortedAt: number | undefined;
    const onAbort = () => {
      abortedAt = (this.opts.now ?? Date.now)();
      turn.fail(req.signal.reason ?? new Error('aborted'));
    };
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });
    void this.run(req, turn)
      .then(
        () => turn.end(),
        (err: unknown) => turn.fail(req.signal.aborted ? err : toReplyError(err)),
      )
      .finally(() => {
        req.signal.removeEventListener('abort', onAbort);
        if (abortedAt !== undefined) {
          const now = (this.opts.now ?? Date.now)();
          this.opts.log.info(`runtime: turn for ${req.messageId} aborted after ${abortedAt - started} ms; the host's run settled ${now - abortedAt} ms later`);
        }
      });
    yield* turn.chunks();
  }

  private async run(req: ReplyRequest, turn: Turn): Promise<void> {
    const { runtime, cfg, accountId, log } = this.opts;
    const group = req.conversation.type === 'group';
    const route = runtime.routing.resolveAgentRoute({
      cfg,
      channel: CHANNEL_ID,
      accountId,
      peer: group ? { kind: 'group', id: req.conversation.id } : { kind: this.opts.directPeerKind, id: req.sender.id },
    });
    const agentId = route.matchedBy && route.matchedBy !== 'default' ? route.agentId : this.opts.agentId;
    const sessionKey = `agent:${agentId}:${req.sessionKey}`;
    const to = `${CHANNEL_ID}:${group ? `group:${req.conversation.id}` : req.sender.id}`;
    const ctx = runtime.reply.finalizeInboundContext({
      Body: req.text,
      RawBody: req.text,
      CommandBody: req.text,
      From: to,
      To: to,
      SessionKey: sessionKey,
      AccountId: accountId,
      ChatType: group ? 'group' : 'direct',
      ConversationLabel: group ? (req.conversation.title ?? req.conversation.id) : (req.sender.name ?? req.sender.id),
      SenderId: req.sender.id,
      ...(req.sender.name ? { SenderName: req.sender.name } : {}),
      ...(group && req.conversation.title ? { GroupSubject: req.conversation.title } : {}),
      ...(req.systemPrompts.length ? { GroupSystemPrompt: req.systemPrompts.join('\n\n') } : {}),
      Provider: CHANNEL_ID,
      Surface: CHANNEL_ID,
      OriginatingChannel: CHANNEL_ID,
      OriginatingTo: to,
      MessageSid: req.messageId,
      Timestamp: (this.opts.now ?? Date.now)(),
      // DingTalk pushes a group message to a robot only when it is @-mentioned.
      ...(group ? { WasMentioned: true } : {}),
      CommandAuthorized: false,
    });

    const record = runtime.session?.recordInboundSession;
    const storePath = runtime.session?.resolveStorePath?.(sessionStore(cfg), { agentId });
    if (record && storePath) {
      await record({ storePath, sessionKey: ctx.SessionKey ?? sessionKey, ctx, onRecordError: (err) => log.warn(`runtime: recording the session failed: ${errorMessage(err)}`) }).catch((err: unknown) =>
        log.warn(`runtime: recording the session failed: ${errorMessage(err)}`),
      );
    }

    const images = req.images.filter((i) => i.base64).map((i): RuntimeImage => ({ type: 'image', data: i.base64!, mimeType: i.mimeType }));
    await runtime.reply.dispatchReplyWithBufferedBlockDispatcher({
      ctx,
      cfg,
      dispatcherOptions: {
        deliver: async (payload, info) => turn.deliver(payload, info.kind),
        onError: (err, info) => log.warn(`runtime: ${info.kind} reply failed: ${errorMessage(err)}`),
      },
      replyOptions: {
        abortSignal: req.signal,
        ...(images.length ? { images } : {}),
        disableBlockStreaming: true,
        onPartialReply: (p) => turn.partial(p),
        onAssistantMessageStart: () => turn.messageStart(),
      },
    });
    if (!turn.hasFinal) log.info(`runtime: turn for ${req.messageId} ended without a final reply; the card ends with what was streamed`);
  }
}

/** `session.store` of the host config, when set. */
function sessionStore(cfg: HostConfig): string | undefined {
  const store = (cfg as { session?: { store?: unknown } }).session?.store;
  return typeof store === 'string' ? store : undefined;
}

function toReplyError(err: unknown): unknown {
  if (err instanceof ReplyError) return err;
  const msg = errorMessage(err).slice(0, 200);
  return new ReplyError('failed', `host reply runtime failed: ${msg}`, { detail: msg, cause: err });
}

/**
 * One turn's text as the host produces it, turned into chunks for the pipeline. Streamed partials show until the
 * host delivers finals; finals (text plus media lines) are the answer when they come. `chunks()` ends when the
 * host's dispatch settles — never waits for a final that may not come.
 */
export class Turn {
  /** Text of assistant messages finished earlier in this turn (before tool calls). */
  private readonly earlier: string[] = [];
  private current = '';
  private readonly finals: string[] = [];
  private shown = '';
  private readonly queue: ReplyChunk[] = [];
  private done = false;
  private error: { err: unknown } | undefined;
  private wake: (() => void) | undefined;

  get hasFinal(): boolean {
    return this.finals.length > 0;
  }

  partial(p: RuntimePartialReply): void {
    if (this.done) return;
    if (typeof p.text === 'string') this.current = p.text;
    else if (typeof p.delta === 'string') this.current = p.replace ? p.delta : this.current + p.delta;
    this.publish();
  }

  messageStart(): void {
    if (this.done || !this.current.trim()) return;
    this.earlier.push(this.current.trim());
    this.current = '';
  }

  deliver(payload: RuntimeReplyPayload, kind: RuntimeDispatchKind): void {
    // Tool summaries are raw tool output: never shown.
    if (this.done || kind === 'tool') return;
    const parts = [payload.text?.trim(), ...mediaLines(payload)].filter((p): p is string => !!p);
    if (parts.length === 0) return;
    this.finals.push(parts.join('\n\n'));
    this.publish();
  }

  end(): void {
    this.done = true;
    this.wake?.();
  }

  /** Ends the turn with `err` (thrown by `chunks()` after what is queued); a turn already over stays as it ended. */
  fail(err: unknown): void {
    if (this.done) return;
    this.error = { err };
    this.end();
  }

  async *chunks(): AsyncIterable<ReplyChunk> {
    for (;;) {
      while (this.queue.length) yield this.queue.shift()!;
      if (this.done) {
        while (this.queue.length) yield this.queue.shift()!;
        if (this.error) throw this.error.err;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  private publish(): void {
    const next = this.finals.length ? this.finals.join('\n\n') : [...this.earlier, this.current.trim()].filter(Boolean).join('\n\n');
    if (next === this.shown) return;
    this.queue.push(next.startsWith(this.shown) ? next.slice(this.shown.length) : { snapshot: next });
    this.shown = next;
    this.wake?.();
  }
}

const IMAGE_EXT = /\.(png|jpe?g|gif|webp|bmp)$/i;

/** Media the host attached to a payload, as lines the answer-media step understands (markdown image / `MEDIA:`). */
function mediaLines(payload: RuntimeReplyPayload): string[] {
  const urls = [...(payload.mediaUrls ?? []), ...(payload.mediaUrl ? [payload.mediaUrl] : [])];
  return [...new Set(urls)].map((u) => {
    const name = u.split(/[\\/]/).pop() ?? 'file';
    if (/^https?:/i.test(u)) return IMAGE_EXT.test(u) ? `![${name}](${u})` : `[${name}](${u})`;
    return IMAGE_EXT.test(u) ? `![${name}](${u})` : `MEDIA: ${u}`;
  });
}
