/**
 * The open-card registry: every AI card that may be "typing" on DingTalk is recorded in the state store from the
 * moment it is created until it is closed, with the text it last showed. A crash or `kill -9` leaves records
 * behind; the next start of the account closes those cards (FAILED, their text kept, a short note under it)
 * through the instance update (`PUT /v1.0/card/instances`, spec §3.3).
 */
import type { CardTracker } from './card.ts';
import { FLOW, CONTENT_KEY } from './card.ts';
import type { DingTalkClient } from './dingtalk/client.ts';
import { updateCard } from './dingtalk/endpoints.ts';
import { DingTalkApiError } from './dingtalk/errors.ts';
import { errorMessage, type Logger } from './log.ts';
import type { StateStore } from './store.ts';
import { text, type Lang } from './texts.ts';

const NS = 'cards';
/** A card left open longer than this is not worth closing any more (and DingTalk may have dropped it). */
const KEEP_MS = 7 * 24 * 3600_000;

export interface OpenCardRecord {
  /** What the card showed last (the newest accepted update), '' before the first one. */
  text: string;
  lang: Lang;
  /** Epoch ms when the card was created. */
  openedAt: number;
}

type Records = Record<string, OpenCardRecord>;

export class OpenCards {
  private readonly store: StateStore;
  private readonly key: string;
  private readonly log: Logger;
  private readonly now: () => number;
  /** Store writes, one at a time in call order (read-modify-write of one key). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: { store: StateStore; accountId: string; log: Logger; now?: () => number }) {
    this.store = opts.store;
    this.key = opts.accountId;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  /** A tracker for one answer's card, in the user's language. */
  tracker(lang: Lang): CardTracker {
    return {
      opened: (id) => this.change((r) => void (r[id] = { text: '', lang, openedAt: this.now() })),
      shown: (id, shown) => this.change((r) => void (r[id] && (r[id].text = shown))),
      closed: (id) => this.change((r) => void delete r[id]),
    };
  }

  /** Cards recorded as open (for tests and status). */
  async list(): Promise<Records> {
    await this.chain;
    return (await this.store.get<Records>(NS, this.key)) ?? {};
  }

  /**
   * Close the cards a previous run left open: FAILED, the text they showed plus a note. Cards that DingTalk no
   * longer knows are forgotten; on other failures the record stays for the next start. Resolves the number closed.
   */
  async closeLeftovers(client: DingTalkClient): Promise<number> {
    let leftovers: Records = {};
    await this.change((r) => {
      leftovers = { ...r };
      for (const id of Object.keys(r)) delete r[id];
    });
    let closed = 0;
    for (const [id, rec] of Object.entries(leftovers)) {
      if (rec.openedAt < this.now() - KEEP_MS) continue;
      const note = text('cardInterrupted', rec.lang);
      try {
        // Reserved: this is the final call the dead run's plan reserved and never made. A spent monthly budget must
        // not leave the card "typing" until next month (src/dingtalk/governor.ts: reserved calls pass a spent budget).
        await updateCard(client, { outTrackId: id, params: { flowStatus: FLOW.FAILED, [CONTENT_KEY]: rec.text ? `${rec.text}\n\n${note}` : note } }, { reserved: true });
        closed++;
        this.log.info(`card ${id} left open by an earlier run: closed`);
      } catch (err) {
        if (err instanceof DingTalkApiError && err.kind === 'bad-request') continue;
        this.log.warn(`card ${id} left open by an earlier run could not be closed (${errorMessage(err)}); trying again at the next start`);
        await this.change((r) => void (r[id] = rec));
      }
    }
    return closed;
  }

  private change(edit: (records: Records) => void): Promise<void> {
    const next = this.chain.then(async () => {
      const records = (await this.store.get<Records>(NS, this.key)) ?? {};
      edit(records);
      await this.store.set(NS, this.key, records);
    });
    this.chain = next.catch((err) => this.log.warn(`open-card registry: state store failed: ${errorMessage(err)}`));
    return this.chain as Promise<void>;
  }
}
