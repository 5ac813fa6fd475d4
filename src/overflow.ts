/**
 * The part of a long answer the card cannot hold (docs/long-answers.md), sent while the answer still streams.
 *
 * One card shows at most CARD_CONTENT_MAX_CHARS; the rest follows as markdown messages. Sent only at the end, a
 * 120-s answer left the user looking at a full card for ~90 s (npm run bench, section 1). So, as soon as the answer
 * outgrows the card and the card's part is final, the card is finished with it (FINISHED, with the note that the
 * answer continues below), and each further part goes out as a message once it is complete (MARKDOWN_CHUNK_CHARS,
 * cut by the one splitter, src/deliver.ts). The end of the answer (its last part, a stop or failure note) follows as
 * the last message.
 *
 * What a message shows can never change, so only final text is sent early:
 * - text before the answer's last two line breaks (the markdown normaliser reads a line together with the next one:
 *   a table's header with its delimiter row; an unclosed code fence is closed at the end of the text for now);
 * - text before the first local media reference (the media step rewrites those at the end, src/media/outbound.ts).
 * A part no route took is not delivered text: the early sends stop and the end sends it with everything after it, in
 * order (what still fails then is kept for the conversation's next message, src/pipeline.ts deliver), so nothing
 * overtakes it.
 * The end compares the final text with what was sent; should the final no longer start with it (the runtime engine
 * replaces the streamed text with the host's final, src/reply/runtime.ts), the messages continue from the last
 * paragraph break both share, or carry the whole final answer when they share none: a repeat at worst, never a loss
 * (a warning is logged). The finished card keeps what it showed.
 *
 * Card rules kept: the card is closed by its own reserved final calls (src/card.ts, src/dingtalk/governor.ts: no
 * extra counted call; the messages go by the sessionWebhook, like the continuation always did); a card that cannot
 * be closed early stays open and the answer is delivered at the end as before (src/pipeline.ts finishAnswer: all of
 * it as a message, the card told where it went), so nothing is sent twice.
 */
import { CARD_CONTENT_MAX_CHARS, type AiCard } from './card.ts';
import { MARKDOWN_CHUNK_CHARS, splitFirst } from './deliver.ts';
import { errorMessage, type Logger } from './log.ts';
import { markdownStateAt } from './markdown.ts';
import { findMediaReferences } from './media/refs.ts';
import { text, type Lang } from './texts.ts';

/**
 * What a card shows of `body`: all of it, or its first part and a note that the rest follows as messages; `restAt` is
 * where the rest's own text begins in `body`.
 */
export function cardParts(body: string, lang: Lang): { card: string; rest?: string; restAt: number } {
  const note = text('answerContinues', lang);
  const [head, rest, restAt] = splitFirst(body, cardRoom(lang));
  return rest === undefined ? { card: body, restAt } : { card: `${head}\n\n${note}`, rest, restAt };
}

/** Characters of the answer a card holds beside the note that the answer continues. */
function cardRoom(lang: Lang): number {
  return CARD_CONTENT_MAX_CHARS - text('answerContinues', lang).length - 2;
}

export interface CardOverflowOptions {
  /** A streaming card (modes 1–2); a final-only card shows nothing before the end, so its answer never overflows early. */
  card: Pick<AiCard, 'usable' | 'finish' | 'failure'>;
  lang: Lang;
  /** Sends one part as a markdown message; false when no route took it (not kept: the end sends it again, in order). */
  send: (part: string) => Promise<boolean>;
  /** Local media references are rewritten at the end (enableMediaUpload): no text from the first one on is sent early. */
  mediaUpload: boolean;
  log: Logger;
  /** For logs. */
  msgId: string;
}

export class CardOverflow {
  private readonly opts: CardOverflowOptions;
  /** The answer so far, as it will be delivered (before the media step). */
  private latest = '';
  /** What the user has got of `latest`: the card's part and the messages sent, as a prefix of the answer. */
  private consumed = '';
  /** What the next part starts with to render on its own (a reopened code fence, a repeated table header). */
  private carry = '';
  /** The card was finished with its part: the rest goes (went) as messages. */
  private closed = false;
  /** Parts may still go out early (false once the answer ended, the card could not be closed, or a send failed). */
  private early = true;
  private pumping: Promise<void> | undefined;

  constructor(opts: CardOverflowOptions) {
    this.opts = opts;
  }

  /**
   * The whole answer so far, in its delivered form (the inbound-media notices and normalised markdown; local media
   * not yet rewritten). Finishes the card and sends complete parts in the background, one at a time, in order.
   */
  offer(answer: string): void {
    if (!this.early) return;
    this.latest = answer.trimStart();
    // Nothing to do until the answer outgrows the card.
    if (this.latest.length <= cardRoom(this.opts.lang)) return;
    this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
  }

  /**
   * The answer ended with `finalText` (what finishAnswer would deliver). Undefined when the card was not finished early:
   * deliver as usual. Otherwise `rest` is what the user has not got yet (undefined: nothing).
   */
  async end(finalText: string): Promise<{ rest: string | undefined } | undefined> {
    this.early = false;
    await this.pumping;
    if (!this.closed) return undefined;
    const final = finalText.trimStart();
    if (final.startsWith(this.consumed)) {
      const own = final.slice(this.consumed.length).replace(/^\n+/, '');
      return { rest: own.trim() ? this.carry + own : undefined };
    }
    const from = resumeAt(this.consumed, final);
    this.opts.log.warn(`message ${this.opts.msgId}: the final answer differs from the part already sent; it is sent again from ${from > 0 ? `the last paragraph both share (character ${from})` : 'its start'}`);
    const own = final.slice(from).replace(/^\n+/, '');
    if (!own.trim()) return { rest: undefined };
    const fence = markdownStateAt(final.slice(0, from)).fence;
    return { rest: fence ? `${fence.opener}\n${own}` : own };
  }

  private async pump(): Promise<void> {
    try {
      while (this.early) {
        const answer = this.latest;
        if (!this.closed) {
          if (!this.opts.card.usable) return void (this.early = false);
          const parts = cardParts(answer, this.opts.lang);
          if (parts.rest === undefined || parts.restAt > this.finalUpTo(answer)) return;
          if (!(await this.opts.card.finish(parts.card))) {
            this.opts.log.warn(`message ${this.opts.msgId}: card could not be finished early (${this.opts.card.failure ?? 'unknown'}); the answer follows at its end`);
            return void (this.early = false);
          }
          this.closed = true;
          this.advance(answer, parts.rest, parts.restAt);
          continue;
        }
        if (!answer.startsWith(this.consumed)) return void (this.early = false);
        const remaining = this.carry + answer.slice(this.consumed.length);
        const [part, rest, restAt] = splitFirst(remaining, MARKDOWN_CHUNK_CHARS);
        const at = this.consumed.length + restAt - this.carry.length;
        if (rest === undefined || at > this.finalUpTo(answer)) return;
        // A part no route took is still the user's to get: the end sends it with all that follows, nothing overtakes it.
        if (!(await this.opts.send(part))) return void (this.early = false);
        this.advance(answer, rest, at);
      }
    } catch (err) {
      this.early = false;
      this.opts.log.warn(`message ${this.opts.msgId}: sending the long answer's continuation early failed (${errorMessage(err)}); it follows at the end`);
    }
  }

  /** The user now has `answer` up to `at`; the next part is `rest` (its carry, then `answer` from `at`). */
  private advance(answer: string, rest: string, at: number): void {
    this.consumed = answer.slice(0, at);
    this.carry = rest.slice(0, rest.length - (answer.length - at));
  }

  /** How much of `answer` can no longer change (see the file comment): up to the line break before the last complete line. */
  private finalUpTo(answer: string): number {
    const lastBreak = answer.lastIndexOf('\n');
    let limit = lastBreak <= 0 ? 0 : answer.lastIndexOf('\n', lastBreak - 1) + 1;
    if (this.opts.mediaUpload) {
      const first = findMediaReferences(answer)[0];
      if (first) limit = Math.min(limit, first.start);
    }
    return limit;
  }
}

/**
 * Where in `final` the messages resume when it no longer starts with `sent`: just after the last paragraph break
 * ("\n\n") inside their common prefix, or 0 (the whole final answer) when they share none.
 */
function resumeAt(sent: string, final: string): number {
  let common = 0;
  while (common < sent.length && common < final.length && sent.charCodeAt(common) === final.charCodeAt(common)) common++;
  const brk = common < 2 ? -1 : final.lastIndexOf('\n\n', common - 2);
  return brk < 0 ? 0 : brk + 2;
}
