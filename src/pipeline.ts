/**
 * The whole reply flow in one place, top to bottom:
 * frame data → inbound message → access gate → dedupe → stop word (aborts the running answer, skips the queue)
 * → conversation queue (a waiting user is told so) → answers kept from earlier → reset command or session
 * → card setup + inbound media → reply engine → card updates (a long answer: the card finished with its part, the
 * rest as messages while it streams) → answer media → final card (or markdown, the card then says where the answer
 * went) → files after the card.
 *
 * Failures: the user keeps what was already on screen and gets one fixed text per cause under it (src/texts.ts
 * FAILURE_TEXTS) with a reference id; the detail goes only to the (redacted) log beside that id.
 */
import type { AccessGate } from './access.ts';
import type { AnswerOutcome } from './activity.ts';
import { AiCard, FINAL_CARD_CREATE_DELAY_MS } from './card.ts';
import type { OpenCards } from './cards.ts';
import type { ResolvedAccount } from './config.ts';
import type { Dedupe } from './dedupe.ts';
import { deliverMarkdown, targetOf, UndeliveredError } from './deliver.ts';
import type { DingTalkClient } from './dingtalk/client.ts';
import type { AppBudget } from './dingtalk/budget.ts';
import { MODE_NUMBER, type AnswerPlan, type Arrival } from './dingtalk/governor.ts';
import { DingTalkApiError } from './dingtalk/errors.ts';
import { commandText, parseRobotMessage, type InboundMessage } from './inbound.ts';
import { fetchInboundMedia } from './media/inbound.ts';
import { prepareAnswerMedia, sendAnswerFiles, type PreparedAnswer } from './media/outbound.ts';
import { normalizeMarkdown } from './markdown.ts';
import { CardOverflow, cardParts } from './overflow.ts';
import { dropCutReference, maskLocalMedia } from './media/refs.ts';
import type { MediaPolicy } from './media/safety.ts';
import { errorMessage, type Logger } from './log.ts';
import type { KeyedQueue } from './queue.ts';
import { ReplyError, type ReplyEngine } from './reply/engine.ts';
import type { Notices } from './notices.ts';
import type { PendingAnswers } from './pending.ts';
import { userPrompt } from './prompt.ts';
import { isResetCommand, type Sessions } from './sessions.ts';
import { isStopWord, type AnswersInFlight } from './stop.ts';
import { detectLang, failureText, referenceId, text, type FailureCause, type Lang } from './texts.ts';

export interface PipelineDeps {
  account: ResolvedAccount;
  client: DingTalkClient;
  /** The app's DingTalk call budget (rate limiter, monthly quota switch, monthly call governor). */
  budget: AppBudget;
  engine: ReplyEngine;
  sessions: Sessions;
  /** Who may talk to the robot: asked first, before anything costs. */
  access: AccessGate;
  dedupe: Dedupe;
  queue: KeyedQueue;
  /** Answers a stop word can abort. */
  inFlight: AnswersInFlight;
  /** Cards that may be open on DingTalk (closed at the next start if this run dies). */
  cards: OpenCards;
  /** Answers no route could deliver, kept for the conversation's next message. */
  pending: PendingAnswers;
  /** Lines about a message not answered (not taken, queued, nothing to stop): one of each kind per member per minute. */
  notices: Notices;
  log: Logger;
  /** Aborted when the account stops. */
  signal: AbortSignal;
  /** Shortest time between two card updates. */
  cardIntervalMs: number;
  media: {
    policy: MediaPolicy;
    /** Where files users send are saved. */
    inboundDir: string;
    /** Teaches the agent how to show images and send files; undefined when off. */
    systemPrompt: string | undefined;
    /** The host passes image content to the model. */
    imagesAsContent: boolean;
  };
  /** Told of each answer's end, for the host's status view: reached the user or not, and why it failed. */
  onAnswer?: (outcome: AnswerOutcome) => void;
}

/** Handle one robot callback's `data`. Never throws: every failure is logged and, where possible, told to the user. */
export async function handleRobotMessage(deps: PipelineDeps, data: string, frameMessageId: string): Promise<void> {
  const { log } = deps;
  const parsed = parseRobotMessage(data, frameMessageId);
  if (!parsed.ok) {
    log.warn(`dropped robot message ${frameMessageId}: ${parsed.reason}`);
    return;
  }
  const msg = parsed.message;
  const admission = await deps.access.admit(msg);
  if (!admission.admitted) return;
  try {
    if (!(await deps.dedupe.firstSeen(deps.account.accountId, msg.msgId))) {
      log.info(`message ${msg.msgId} already handled (redelivery); skipped`);
      return;
    }
  } catch (err) {
    // Better a rare duplicate answer than a lost one.
    log.warn(`message ${msg.msgId}: dedupe store failed (${errorMessage(err)}); answering anyway`);
  }
  // The sender and the group in the target syntax of outbound sends (README "Sending first"): copy them from here.
  const from = msg.senderStaffId ? `user:${msg.senderStaffId}` : `senderId ${msg.senderId} (no staffId: cannot be messaged first)`;
  log.info(`message ${msg.msgId} (${msg.msgtype}) from ${from} in ${msg.isGroup ? `group:${msg.conversationId}` : `DM ${msg.conversationId}`}`);
  const conversation = deps.sessions.conversationKey(msg);
  if (isStopWord(commandText(msg), deps.account.stopWords)) {
    const stopped = deps.inFlight.stop(conversation, msg.senderStaffId ?? msg.senderId);
    log.info(`message ${msg.msgId}: stop word; ${stopped ? 'answer in progress aborted' : 'nothing to stop'}`);
    if (!stopped) await deps.notices.send(msg, 'nothingToStop', text('nothingToStop', detectLang(msg.text)));
    return;
  }
  const sender = msg.senderStaffId ?? msg.senderId;
  // In a group, one member's burst must not hold everybody else up: with MAX_WAITING_PER_SENDER of their messages
  // waiting, the next is not taken, and they hear so (one sessionWebhook line, no counted call; once a minute).
  const waiting = deps.queue.depth(conversation, sender);
  if (msg.isGroup && waiting >= MAX_WAITING_PER_SENDER) {
    log.info(`message ${msg.msgId}: not taken: ${waiting} messages of this sender already wait in this group`);
    void deps.notices.send(msg, 'queueFull', text('queueFull', detectLang(msg.text), { n: waiting }));
    return;
  }
  // The flood windows of the call governor count messages as they arrive (not answers as they start).
  const arrival = deps.budget.governor.arrived({ senderId: sender, conversationId: msg.conversationId });
  // A user whose message waits behind others hears so: one sessionWebhook line (once a minute), no card (cards cost several calls).
  const ahead = deps.queue.depth(conversation);
  if (ahead > 0) void deps.notices.send(msg, 'queued', text('queued', detectLang(msg.text), { n: ahead }));
  await deps.queue.run(
    conversation,
    () => answer(deps, msg, admission.systemPrompt, arrival).catch((err) => log.error(`message ${msg.msgId}: reply lost: ${errorMessage(err)}`)),
    sender,
  );
}

/**
 * A group member with this many messages queued or being answered: their next one is not taken (they are told to send
 * it again later). Others' messages then wait behind at most this many answers of one member.
 */
export const MAX_WAITING_PER_SENDER = 5;

async function answer(deps: PipelineDeps, msg: InboundMessage, groupPrompt: string | undefined, arrival: Arrival): Promise<void> {
  const { account, log } = deps;
  // A command like `/new` says nothing about the user's language.
  const lang = detectLang(msg.text.replace(/^\s*\/\S+/, ''));

  await deliverKeptAnswers(deps, msg, lang);

  if (isResetCommand(commandText(msg))) {
    await deps.sessions.reset(msg);
    log.info(`message ${msg.msgId}: new session started by command`);
    await deliver(deps, msg, text('sessionReset', lang));
    return;
  }

  const session = await deps.sessions.touch(msg);
  // From here a stop word can abort the answer (also while media downloads: the engine then never starts).
  const running = deps.inFlight.begin(deps.sessions.conversationKey(msg), msg.senderStaffId ?? msg.senderId, deps.signal);
  // How this answer is delivered, from the month's call budget, the rate of answers and `streaming` (governor.ts).
  const governor = deps.budget.governor;
  const plan = governor.plan({ isGroup: msg.isGroup, senderId: msg.senderStaffId ?? msg.senderId, conversationId: msg.conversationId, streaming: account.streaming, arrival });
  try {
    await answerPlanned(deps, msg, groupPrompt, session, running, plan, lang);
  } finally {
    // Whatever happens after the plan (a throw in the media rewrite, in finishAnswer), its reservation goes back.
    plan.done();
  }
}

async function answerPlanned(
  deps: PipelineDeps,
  msg: InboundMessage,
  groupPrompt: string | undefined,
  session: Awaited<ReturnType<Sessions['touch']>>,
  running: ReturnType<AnswersInFlight['begin']>,
  plan: AnswerPlan,
  lang: Lang,
): Promise<void> {
  const { account, client, log } = deps;
  const governor = deps.budget.governor;
  log.info(`message ${msg.msgId}: delivery mode ${MODE_NUMBER[plan.mode]} (${plan.mode}${plan.mode === 'stream-wide' ? `, ${plan.intervalMs} ms grid` : ''}): ${plan.reason}`);
  // Card setup runs while media downloads and the gateway thinks: the user never waits for it.
  // With the org's monthly quota spent, cards would fail anyway: plain markdown until it recovers.
  const card = deps.budget.quotaExhausted() || plan.mode === 'markdown'
    ? undefined
    : new AiCard({
        client,
        templateId: account.cardTemplateId,
        target: targetOf(msg),
        log,
        intervalMs: plan.intervalMs,
        pressure: () => deps.budget.pressure('card.streaming'),
        tracker: deps.cards.tracker(lang),
        finalOnly: plan.mode === 'final-card' ? { createDelayMs: FINAL_CARD_CREATE_DELAY_MS } : undefined,
        mayStream: () => governor.mayStream(),
      });
  void card?.start();
  const messages = answerMessages(deps, msg);
  // A streamed card that fills up is finished early, the rest of the answer following as messages (src/overflow.ts).
  const overflow = card && (plan.mode === 'stream' || plan.mode === 'stream-wide')
    ? new CardOverflow({ card, lang, log, msgId: msg.msgId, mediaUpload: account.enableMediaUpload, send: messages.offer })
    : undefined;
  const inbound = msg.media.length
    ? await fetchInboundMedia(msg, { client, log, lang, mediaDir: deps.media.inboundDir, imagesAsContent: deps.media.imagesAsContent })
    : { prompts: [], images: [], notices: [] };
  const withNotices = (body: string) => [...inbound.notices, body].join('\n\n');
  const [pendingImage, pendingFile] = [text('mediaPending', lang), text('mediaFilePending', lang)];
  // Every answer text DingTalk shows passes here: markdown made renderable first (src/markdown.ts: HTML images
  // become markdown ones), then, while streaming, local media hidden (no host path, no MEDIA: line) …
  const shown = (md: string) => (account.enableMediaUpload ? maskLocalMedia(md, pendingImage, pendingFile) : md);
  // … and at the end, complete or cut short, local media checked, uploaded and rewritten (src/media/outbound.ts).
  // Only an answer cut short can end inside a reference; a complete one ending in `[a](b` is the agent's text.
  const withMedia = async (t: string, cutShort = true): Promise<PreparedAnswer> => {
    const md = normalizeMarkdown(cutShort ? dropCutReference(t) : t);
    return account.enableMediaUpload ? prepareAnswerMedia(md, { client, policy: deps.media.policy, log, lang }) : { text: md, files: [] };
  };

  let answerText = '';
  // The whole answer's deadline: an engine kept busy by keep-alives or a stuck tool cannot hold the conversation forever.
  const deadline = AbortSignal.timeout(account.answerTimeoutMs);
  try {
    const chunks = deps.engine.reply({
      sessionKey: session.key,
      text: userPrompt(msg, lang, inbound.prompts),
      images: inbound.images,
      systemPrompts: [deps.media.systemPrompt, account.systemPrompt, groupPrompt].filter((p): p is string => !!p),
      sender: { id: msg.senderStaffId ?? msg.senderId, name: msg.senderNick },
      conversation: { type: msg.isGroup ? 'group' : 'direct', id: msg.conversationId, title: msg.conversationTitle },
      messageId: msg.msgId,
      signal: AbortSignal.any([running.signal, deadline]),
    });
    for await (const chunk of chunks) {
      answerText = typeof chunk === 'string' ? answerText + chunk : chunk.snapshot;
      const md = normalizeMarkdown(answerText, { streaming: true });
      card?.update(cardParts(shown(md), lang).card);
      overflow?.offer(withNotices(md));
    }
  } catch (err) {
    if (running.stopped && !deps.signal.aborted) {
      // Keep what the user already saw and say it stopped; the card ends finished, not failed.
      const soFar = await withMedia(answerText);
      const body = soFar.text.trim();
      const message = withNotices(body ? `${body}\n\n${text('answerStopped', lang)}` : text('answerStopped', lang));
      log.info(`message ${msg.msgId}: answer stopped by the sender`);
      const delivered = await finishAnswer(deps, msg, messages, card, message, false, lang, overflow);
      deps.onAnswer?.({ delivered });
      await sendFiles(deps, msg, messages, soFar, lang);
      answered(deps, msg, plan, card);
      return;
    }
    // What the user already saw stays; one fixed note under it says what happened (detail only in the log).
    const cause: FailureCause = deps.signal.aborted ? 'shutdown' : deadline.aborted ? 'deadline' : err instanceof ReplyError ? err.kind : 'internal';
    const ref = referenceId();
    const detail = err instanceof ReplyError && err.detail ? ` (upstream said: ${err.detail})` : '';
    log.warn(`message ${msg.msgId}: [ref ${ref}] ${answerText.trim() ? 'answer cut short' : 'no answer'} from ${deps.engine.name} (${cause}): ${errorMessage(err)}${detail}`);
    const note = failureText(cause, lang, { ref, status: err instanceof ReplyError ? err.status : undefined });
    const soFar = await withMedia(answerText);
    const message = withNotices(soFar.text.trim() ? `${soFar.text.trimEnd()}\n\n${note}` : note);
    const delivered = await finishAnswer(deps, msg, messages, card, message, true, lang, overflow);
    deps.onAnswer?.({ delivered, cause, ...(err instanceof ReplyError && err.status ? { status: err.status } : {}) });
    await sendFiles(deps, msg, messages, soFar, lang);
    answered(deps, msg, plan, card);
    return;
  } finally {
    running.end();
  }

  const prepared = await withMedia(answerText.trim() ? answerText : text('emptyAnswer', lang), false);
  const delivered = await finishAnswer(deps, msg, messages, card, withNotices(prepared.text), false, lang, overflow);
  deps.onAnswer?.({ delivered });
  await sendFiles(deps, msg, messages, prepared, lang);
  answered(deps, msg, plan, card);
}

/** The answer is out: its reserved calls go back to the governor; its cost goes to the log (and the simulator's panel). */
function answered(deps: PipelineDeps, msg: InboundMessage, plan: AnswerPlan, card: AiCard | undefined): void {
  plan.done();
  const { calls, budget } = deps.budget.governor.status();
  deps.log.info(`message ${msg.msgId}: answer cost ${card?.calls ?? 0} card calls in mode ${MODE_NUMBER[plan.mode]} (${plan.mode}); ${calls}/${budget} calls this month`);
}

/** Files the answer names go out after the card, each as its own message; none once the account is stopping. */
async function sendFiles(deps: PipelineDeps, msg: InboundMessage, messages: AnswerMessages, prepared: PreparedAnswer, lang: Lang): Promise<void> {
  if (prepared.files.length === 0 || deps.signal.aborted) return;
  const failed = await sendAnswerFiles(deps.client, targetOf(msg), prepared.files, deps.log);
  for (const f of failed) await messages.send(text(f.budgetSpent ? 'mediaFileBudgetSpent' : 'mediaFileSendFailed', lang, { name: f.fileName }));
}

/**
 * The final text goes into the card (FINISHED, or FAILED when `isError`). When the card cannot show it, the text goes
 * out once as a message and the card is ended with a note saying so: never a stale prefix beside the whole answer.
 * True when the user got the text (card or message). A card finished early with the first part of a long answer
 * (`overflow`) stays FINISHED: only what the user has not got follows, the failure note under it.
 */
async function finishAnswer(deps: PipelineDeps, msg: InboundMessage, messages: AnswerMessages, card: AiCard | undefined, finalText: string, isError: boolean, lang: Lang, overflow?: CardOverflow): Promise<boolean> {
  const continued = await overflow?.end(finalText);
  if (continued) return continued.rest === undefined || (await messages.send(continued.rest));
  const parts = cardParts(finalText, lang);
  if (card && (isError ? await card.fail(parts.card) : await card.finish(parts.card))) {
    // Longer than a card holds: the rest follows, in order, as markdown messages.
    if (parts.rest) await messages.send(parts.rest);
    return true;
  }
  deps.log.info(`message ${msg.msgId}: card unavailable (${card ? (card.failure ?? 'unknown') : 'monthly API quota exhausted'}); answering with markdown`);
  const delivered = await messages.send(finalText);
  await card?.redirect(text(delivered ? 'answerSentAsMessage' : 'answerKept', lang));
  noteQuota(deps, card);
  return delivered;
}

/**
 * The messages of one answer, in order. In a group the asker is @-mentioned in the first one only: one answer, one
 * ping (src/deliver.ts). `send` keeps what no route takes for the conversation's next message; `offer` (an early part
 * of a long answer, src/overflow.ts) keeps nothing: false when no route took it, and the end sends it again in order.
 */
interface AnswerMessages {
  send(body: string): Promise<boolean>;
  offer(body: string): Promise<boolean>;
}

function answerMessages(deps: PipelineDeps, msg: InboundMessage): AnswerMessages {
  let mention = true;
  const sent = () => ((mention = false), true);
  return {
    send: async (body) => (await deliver(deps, msg, body, mention)) && sent(),
    offer: (body) =>
      deliverMarkdown(deps.client, msg, body, deps.log, { mention }).then(sent, (err) => {
        deps.log.warn(`message ${msg.msgId}: a part of the long answer was not sent (${errorMessage(err)}); it goes out again at the end`);
        return false;
      }),
  };
}

/** Send a message; what no route can take is kept for the conversation's next message. True when all was sent. */
async function deliver(deps: PipelineDeps, msg: InboundMessage, body: string, mention = true): Promise<boolean> {
  try {
    await deliverMarkdown(deps.client, msg, body, deps.log, { mention });
    return true;
  } catch (err) {
    const rest = err instanceof UndeliveredError ? err.undelivered : body;
    if (deps.signal.aborted) {
      // Stopping: the card registry closes this answer's card at the next start; a late copy would only repeat it.
      deps.log.warn(`message ${msg.msgId}: not delivered while stopping (${errorMessage(err)})`);
      return false;
    }
    try {
      await deps.pending.keep(targetOf(msg), rest);
      deps.log.warn(`message ${msg.msgId}: answer not delivered (${errorMessage(err)}); kept, it goes out with the next message of this conversation`);
    } catch (storeErr) {
      deps.log.error(`message ${msg.msgId}: answer not delivered (${errorMessage(err)}) and could not be kept (${errorMessage(storeErr)}): lost`);
    }
    return false;
  }
}

/** Answers an earlier message could not get out go first, through this message's fresh sessionWebhook. */
async function deliverKeptAnswers(deps: PipelineDeps, msg: InboundMessage, lang: Lang): Promise<void> {
  let kept;
  try {
    kept = await deps.pending.take(targetOf(msg));
  } catch (err) {
    deps.log.warn(`message ${msg.msgId}: could not read kept answers (${errorMessage(err)})`);
    return;
  }
  for (const [i, p] of kept.entries()) {
    try {
      await deliverMarkdown(deps.client, msg, `${text('pendingAnswer', lang)}\n\n${p.text}`, deps.log);
      deps.log.info(`message ${msg.msgId}: delivered an answer kept since ${new Date(p.at).toISOString()}`);
    } catch (err) {
      deps.log.warn(`message ${msg.msgId}: kept answers still not delivered (${errorMessage(err)}); keeping them`);
      for (const rest of kept.slice(i)) await deps.pending.keep(targetOf(msg), rest.text).catch((e) => deps.log.error(`message ${msg.msgId}: a kept answer could not be kept again (${errorMessage(e)}): lost`));
      return;
    }
  }
}

/** The org's monthly API quota ran out: switch the app to markdown for a while, and say so once. */
function noteQuota(deps: PipelineDeps, card: AiCard | undefined): void {
  const err = card?.failureError;
  if (err instanceof DingTalkApiError && err.kind === 'quota' && deps.budget.markQuotaExhausted()) {
    deps.log.warn(`DingTalk monthly API quota of the org is exhausted (${err.code}); answering with plain markdown messages for the next hour`);
  }
}
