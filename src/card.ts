/**
 * One AI Card answer: create and deliver it (already in the INPUTING state), stream the whole markdown
 * as it grows, then finalize with the exact final text and set FINISHED — or FAILED with a short message.
 *
 * Updates are coalesced: at most one call in flight, only the newest text is kept, and updates go out no
 * more often than `intervalMs` (the first words go out as soon as the card exists).
 *
 * A card never stays "typing": when the final streaming write fails (too long, Card.Streaming.Write revoked,
 * throttled past the retries, hung), the instance update (`PUT /v1.0/card/instances`, Card.Instance.Write, spec §3.3)
 * sets the text and flowStatus instead. When neither can show the answer, the caller sends it as a message and
 * `redirect()` ends the card with a note saying where the answer went, so the user never sees a stale prefix
 * beside the whole answer.
 */
import { randomUUID } from 'node:crypto';
import type { DingTalkClient } from './dingtalk/client.ts';
import { createAndDeliverCard, streamCard, updateCard, type Target } from './dingtalk/endpoints.ts';
import { DingTalkNetworkError } from './dingtalk/errors.ts';
import { errorMessage, type Logger } from './log.ts';

/** flowStatus values of the AI card template (spec §3.3). PROCESSING is the "thinking" state. */
export const FLOW = { PROCESSING: '1', INPUTING: '2', FINISHED: '3', FAILED: '5' } as const;
/**
 * A final-only card waits this long before it is created: an answer ready by then is created already finished, in
 * one call (createAndDeliver carries the final cardParamMap: flowStatus and text, spec §3.3).
 */
export const FINAL_CARD_CREATE_DELAY_MS = 1_500;
export const CONTENT_KEY = 'msgContent';
/**
 * The most one card shows; a longer answer continues in markdown messages. DingTalk documents ≤1 K per streaming
 * call and ≤3 K in total as recommended (spec §3.3, DOC:api-streamingupdate) and rejects some long content with
 * `param.stream.content` "content is too large"; users see a blank card past ~3,000 Chinese characters
 * (soimy/openclaw-channel-dingtalk#615). References stream whole texts over 1 K with isFull and they render, so
 * the per-call figure is not enforced as written. 2,500 characters stays under the observed failure for CJK
 * (~7.5 KB UTF-8) and near the 3 K recommendation for Latin text. Evidence note: docs/long-answers.md.
 */
export const CARD_CONTENT_MAX_CHARS = 2500;
/** How late a slot may be taken and still count as on the grid. */
const SLOT_SLACK_MS = 50;
/**
 * A card exists only when its answer's plan reserved its create and final calls (src/dingtalk/governor.ts): those
 * may pass a spent monthly budget; its optional streaming updates may not.
 */
const RESERVED = { reserved: true } as const;

export interface AiCardOptions {
  client: DingTalkClient;
  templateId: string;
  target: Target;
  log: Logger;
  /** Shortest time between two streaming updates when DingTalk's budget is not under pressure. */
  intervalMs: number;
  /** Queued streaming calls of this app, in seconds of budget; updates slow down as it grows. */
  pressure?: () => number;
  /** Told when the card may exist on DingTalk, what it shows, and when it is closed (the open-card registry). */
  tracker?: CardTracker;
  /**
   * Final-only card (delivery mode 3, ./dingtalk/governor.ts): created in the thinking state (PROCESSING), no
   * streaming updates, and the whole text with FINISHED/FAILED in one instance update (spec §3.3: `PUT
   * /v1.0/card/instances` sets cardParamMap values, flowStatus among them). Created after `createDelayMs`; an answer
   * ready by then makes a card created already finished: one call in all.
   */
  finalOnly?: { createDelayMs: number };
  /** Asked before each streaming update (the monthly call governor); false skips it (the final carries the text). */
  mayStream?: () => boolean;
}

/** Follows the cards that may be open on DingTalk, so that a crash or stop cannot leave them typing (see ./cards.ts). */
export interface CardTracker {
  opened(outTrackId: string): void;
  shown(outTrackId: string, text: string): void;
  closed(outTrackId: string): void;
}

/**
 * creating → streaming → closed, or: broken (create failed; the card may still exist when the create call timed out),
 * unclosed (the final text could not be shown: the caller must send it elsewhere and `redirect()`).
 */
type State = 'creating' | 'streaming' | 'closed' | 'broken' | 'unclosed';

export class AiCard {
  readonly outTrackId = `dtai_${randomUUID()}`;
  private readonly opts: AiCardOptions;
  private state: State = 'creating';
  private ready: Promise<boolean> | undefined;
  /** Newest text not yet sent. */
  private pending: string | undefined;
  private lastSent = '';
  /**
   * The slot (ideal send time, performance.now() ms) of the last update: slots sit on a fixed grid so timer delays
   * never add up, on the monotonic clock so a wall-clock step cannot stretch a gap.
   */
  private slotAt: number | undefined;
  private inFlight: Promise<void> | undefined;
  /** Withdraws the in-flight update while it still waits for DingTalk's budget. */
  private inFlightAbort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Why the card broke, for logs. */
  failure: string | undefined;
  failureError: unknown;
  /** DingTalk card calls attempted for this card (create, updates, finals), for the answer's cost in logs. */
  calls = 0;
  /** finish/fail was called: later updates are dropped. */
  private closing = false;
  /** The final text to create the card with (final-only card, answer ready before the create). */
  private createFinal: { text: string; isError: boolean } | undefined;
  private wakeCreate: (() => void) | undefined;

  constructor(opts: AiCardOptions) {
    this.opts = opts;
  }

  /** Create and deliver the card. Resolves false (never throws) when the card cannot be used. */
  start(): Promise<boolean> {
    this.ready ??= this.opts.finalOnly ? this.deferredCreate(this.opts.finalOnly.createDelayMs) : this.create();
    return this.ready;
  }

  private async deferredCreate(delayMs: number): Promise<boolean> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.wakeCreate = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeCreate = undefined;
    return this.create();
  }

  get usable(): boolean {
    return this.state === 'creating' || this.state === 'streaming';
  }

  /** The whole answer so far; the newest text wins. */
  update(text: string): void {
    // Trailing spaces and newlines change nothing on screen: not worth a call.
    if (this.opts.finalOnly || !this.usable || this.closing || text.trimEnd() === this.lastSent.trimEnd()) return;
    this.pending = text;
    if (this.state === 'streaming') this.schedule();
  }

  /** Show the final text and mark the card FINISHED. False when the card could not show it (send it elsewhere, then `redirect`). */
  async finish(finalText: string): Promise<boolean> {
    return this.close(finalText, false);
  }

  /** Show `message` and mark the card FAILED. False when the card could not show it (send it elsewhere, then `redirect`). */
  async fail(message: string): Promise<boolean> {
    return this.close(message, true);
  }

  /**
   * The answer went out as a message: end the card (if it may exist) with `note` instead of a stale prefix, by the
   * instance update or else the streaming API. Never throws; true when the card is closed.
   */
  async redirect(note: string): Promise<boolean> {
    const mayExist = this.state === 'unclosed' || (this.state === 'broken' && this.createAmbiguous);
    if (!mayExist) return false;
    this.state = 'closed';
    const done = await this.closeWith(note, true, 'instance-first');
    if (done) this.opts.tracker?.closed(this.outTrackId);
    return done;
  }

  private createAmbiguous = false;

  private async create(): Promise<boolean> {
    this.opts.tracker?.opened(this.outTrackId);
    const final = this.createFinal;
    try {
      this.calls++;
      const res = await createAndDeliverCard(this.opts.client, {
        templateId: this.opts.templateId,
        outTrackId: this.outTrackId,
        target: this.opts.target,
        params: {
          flowStatus: final ? (final.isError ? FLOW.FAILED : FLOW.FINISHED) : this.opts.finalOnly ? FLOW.PROCESSING : FLOW.INPUTING,
          [CONTENT_KEY]: final?.text ?? '',
          staticMsgContent: '',
          sys_full_json_obj: JSON.stringify({ order: [CONTENT_KEY] }),
        },
      }, RESERVED);
      const failed = res.result?.deliverResults?.find((r) => r.success === false);
      if (failed) throw new Error(`card not delivered to ${failed.spaceType ?? '?'}.${failed.spaceId ?? '?'}: ${failed.errorMsg ?? 'no reason given'}`);
      if (final) {
        this.state = 'closed';
        this.opts.tracker?.shown(this.outTrackId, final.text);
        this.opts.tracker?.closed(this.outTrackId);
        return true;
      }
      if (this.state === 'creating') this.state = 'streaming';
      if (this.pending !== undefined) this.schedule();
      return true;
    } catch (err) {
      this.failureError = err;
      // A create that timed out may have made the card: keep it tracked so that it gets closed.
      this.createAmbiguous = err instanceof DingTalkNetworkError && !err.notSent;
      if (!this.createAmbiguous) this.opts.tracker?.closed(this.outTrackId);
      this.break(`create: ${errorMessage(err)}`);
      return false;
    }
  }

  private schedule(): void {
    if (this.inFlight || this.timer || this.state !== 'streaming') return;
    const intervalMs = this.opts.intervalMs * (1 + (this.opts.pressure?.() ?? 0));
    const due = this.slotAt === undefined ? performance.now() : this.slotAt + intervalMs;
    const waitMs = due - performance.now();
    if (waitMs <= 0) return this.sendPending(due);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sendPending(due);
    }, waitMs);
  }

  private sendPending(due: number): void {
    const text = this.pending;
    this.pending = undefined;
    if (text === undefined || text.trimEnd() === this.lastSent.trimEnd() || this.state !== 'streaming') return;
    // The month's budget has no room for optional updates: keep the text for the final (or a later update).
    if (this.opts.mayStream?.() === false) {
      this.pending = text;
      return;
    }
    // On time (or a timer's few ms late): keep the grid. Long after the slot (tokens paused): start a new grid now.
    const now = performance.now();
    this.slotAt = now - due < SLOT_SLACK_MS ? due : now;
    const abort = (this.inFlightAbort = new AbortController());
    this.inFlight = this.stream(text, false, false, abort.signal)
      .then(() => {
        this.lastSent = text;
        this.opts.tracker?.shown(this.outTrackId, text);
      })
      .catch((err) => {
        // A lost or withdrawn intermediate update is harmless: the next one carries the whole text again.
        if (!abort.signal.aborted) this.opts.log.warn(`card ${this.outTrackId}: streaming update failed: ${errorMessage(err)}`);
      })
      .finally(() => {
        this.inFlight = undefined;
        if (this.pending !== undefined) this.schedule();
      });
  }

  private async close(text: string, isError: boolean): Promise<boolean> {
    // From now on the final carries the text: an update arriving meanwhile (the answer still streams while its card is
    // finished early, src/overflow.ts) must not go out after it.
    this.closing = true;
    if (this.wakeCreate && this.state === 'creating') {
      // A final-only card not created yet: create it already finished, one call.
      this.createFinal = { text, isError };
      this.wakeCreate();
      const created = await this.start();
      return created && (this.state as State) === 'closed';
    }
    const ok = await this.start();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    // The final carries the whole text: an update still queued for the budget is not worth waiting for.
    this.inFlightAbort?.abort();
    await this.inFlight;
    if (!ok || this.state !== 'streaming') return false;
    this.state = 'closed';
    // A final-only card streamed nothing: one instance update sets the text and the state (the streaming finalize then
    // only serves when that update fails).
    if (await this.closeWith(text, isError, this.opts.finalOnly ? 'instance-first' : 'streaming-first')) {
      this.opts.tracker?.closed(this.outTrackId);
      return true;
    }
    this.state = 'unclosed';
    this.failure = `${isError ? 'fail' : 'finish'}: the card could not show the final text`;
    return false;
  }

  /**
   * Put `text` in the card and end it FINISHED/FAILED by whichever API still works. With 'streaming-first', the
   * streaming finalize (the usual way) then the instance update; with 'instance-first' the reverse. True when one
   * of them showed the text.
   */
  private async closeWith(text: string, isError: boolean, order: 'streaming-first' | 'instance-first'): Promise<boolean> {
    const flowStatus = isError ? FLOW.FAILED : FLOW.FINISHED;
    const viaStreaming = async () => {
      await this.stream(text, true, isError);
      try {
        this.calls++;
        await updateCard(this.opts.client, { outTrackId: this.outTrackId, params: { flowStatus, [CONTENT_KEY]: text } }, RESERVED);
      } catch (err) {
        // The finalize already ended the card (spec §3.3: isFinalize → FINISHED, isError → FAILED); only the badge may lag.
        this.opts.log.warn(`card ${this.outTrackId}: final state not set: ${errorMessage(err)}`);
      }
    };
    const viaInstance = () => (this.calls++, updateCard(this.opts.client, { outTrackId: this.outTrackId, params: { flowStatus, [CONTENT_KEY]: text } }, RESERVED));
    const ways = order === 'streaming-first' ? [['streaming finalize', viaStreaming], ['instance update', viaInstance]] as const : [['instance update', viaInstance], ['streaming finalize', viaStreaming]] as const;
    for (const [name, way] of ways) {
      try {
        await way();
        return true;
      } catch (err) {
        this.failureError = err;
        this.opts.log.warn(`card ${this.outTrackId}: ${name} failed: ${errorMessage(err)}`);
      }
    }
    return false;
  }

  private async stream(content: string, isFinalize: boolean, isError: boolean, signal?: AbortSignal): Promise<unknown> {
    try {
      return await streamCard(
        this.opts.client,
        { outTrackId: this.outTrackId, key: CONTENT_KEY, content, guid: randomUUID(), isFinalize, isError },
        isFinalize,
        signal,
        isFinalize ? RESERVED : {},
      );
    } finally {
      // An update withdrawn while it waited for the budget was never sent.
      if (!signal?.aborted) this.calls++;
    }
  }

  private break(reason: string): void {
    this.state = 'broken';
    this.failure = reason;
    clearTimeout(this.timer);
    this.opts.log.warn(`card ${this.outTrackId}: ${reason}`);
  }
}
