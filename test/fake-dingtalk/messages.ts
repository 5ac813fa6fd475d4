// Builders for robot callback payloads (§2). Each builder mints a fresh msgId and a sessionWebhook
// served by this fake (oapiBase/robot/sendBySession?session=<32 hex>, valid createAt + 90 min).
//
// Group mention convention (§2.2): DingTalk removes the "@Bot" mention from text.content but keeps
// the space that followed it, so a group text that @-mentions the bot arrives as " hello".
// text()/replyTo() in a group with atBot (default true in groups) therefore prefix one space.
// Pass { rawContent: true } to send content exactly as given.
//
// richText in a group: pass { botNameRun: true } for the clients (HarmonyOS) that keep the robot's name as
// its own first run, glued to the next (`[{"text":"@机器人"},{"text":"/server"}]`, AstrBotDevs/AstrBot#9389).
//
// Quotes (`msg.quote.*` builds a repliedMsg; `replyTo` puts it under `text`, `richTextReplyTo` under `content`,
// as DingTalk does for richText messages, OCC src/core/message-handler.ts). Shapes, from captures:
// text `content.content` (SOIMY#598), markdown `content.text`, richText runs `{msgType, content}` (qwen-code#9536),
// cards `content.cardContent` element trees or no content at all (SOIMY#598, OCC#399), chat records
// `content.title/summary` (SOIMY tests), multi-line text as an encoded blob (dingtalk-stream-sdk-go#22).
// Shared things: `interactiveCard` with `content.biz_custom_action_url` (a DingTalk document, SOIMY tests) or a
// cardContent tree; `chatRecord` with `content.title/summary` and the messages in `content.chatRecord` as a JSON
// string (open-dingtalk/dingtalk-stream-sdk-python#73, QwenLM/qwen-code#9339).
import { createHash } from 'node:crypto';
import type { FakeState } from './state.ts';
import type { RepliedMsg, RichTextPart, RobotMessage } from './types.ts';
import { b64 } from './util.ts';

export interface MsgOptions {
  group?: boolean;
  /** Bot is @-mentioned (isInAtList / atUsers). Default: true in groups. */
  atBot?: boolean;
  senderStaffId?: string;
  senderNick?: string;
  senderId?: string;
  conversationId?: string;
  conversationTitle?: string;
  msgId?: string;
  appKey?: string;
  createAt?: number;
  isAdmin?: boolean;
  /** Extra mentioned users (besides the bot) for group messages. */
  atUsers?: Array<{ dingtalkId: string; staffId?: string }>;
  /** Do not add the leading space of a stripped @bot mention. */
  rawContent?: boolean;
  /** Merged last into the payload (e.g. { senderPlatform: 'Win' }). */
  extra?: Record<string, unknown>;
  /** richText in a group: the robot's name stays as the first run ("@FakeBot"), glued to the next. */
  botNameRun?: boolean;
  /** Quotes: send `isReplyMsg: true` (default) or leave it out, as some captures do. */
  isReplyMsg?: boolean;
}

/** Forwarded message inside a chatRecord. */
export interface ChatRecordEntry {
  senderNick?: string;
  senderId?: string;
  msgType?: string;
  content: string | Record<string, unknown>;
  createAt?: number;
}

export interface QuoteBuilders {
  text(content: string, o?: QuoteOptions): RepliedMsg;
  markdown(text: string, o?: QuoteOptions & { title?: string }): RepliedMsg;
  richText(runs: Array<{ text: string } | { picture: string } | { at: string }>, o?: QuoteOptions): RepliedMsg;
  picture(downloadCode: string, o?: QuoteOptions): RepliedMsg;
  file(downloadCode: string, fileName: string, o?: QuoteOptions): RepliedMsg;
  audio(downloadCode: string, o?: QuoteOptions & { recognition?: string }): RepliedMsg;
  video(downloadCode: string, o?: QuoteOptions): RepliedMsg;
  /** A card; `texts` become TEXT nodes of a cardContent tree; no texts = DingTalk sent no content (OCC#399). */
  card(texts: string[], o?: QuoteOptions): RepliedMsg;
  chatRecord(c: { title?: string; summary?: string }, o?: QuoteOptions): RepliedMsg;
  /** A multi-line text DingTalk sent as an opaque encoded string. */
  encodedText(o?: QuoteOptions): RepliedMsg;
}

export interface QuoteOptions {
  /** The robot sent the quoted message (its own answer card). */
  fromBot?: boolean;
  appKey?: string;
}

const hash = (s: string, n: number): string => createHash('sha256').update(s).digest('base64').replace(/[+/=]/g, 'x').slice(0, n);

export interface MessageBuilders {
  text(content: string, opts?: MsgOptions): RobotMessage;
  richText(parts: RichTextPart[], opts?: MsgOptions): RobotMessage;
  picture(c: { downloadCode: string; pictureDownloadCode?: string }, opts?: MsgOptions): RobotMessage;
  audio(c: { downloadCode: string; recognition?: string; duration?: number }, opts?: MsgOptions): RobotMessage;
  video(c: { downloadCode: string; duration?: number | string; videoType?: string }, opts?: MsgOptions): RobotMessage;
  file(c: { downloadCode: string; fileName: string; spaceId?: string; fileId?: string }, opts?: MsgOptions): RobotMessage;
  replyTo(text: string, replied: RobotMessage | RepliedMsg, opts?: MsgOptions): RobotMessage;
  /** A richText message quoting `replied` (the quote sits under `content`). */
  richTextReplyTo(parts: RichTextPart[], replied: RepliedMsg, opts?: MsgOptions): RobotMessage;
  /** A shared card or DingTalk document. */
  interactiveCard(c: { title?: string; texts?: string[]; url?: string }, opts?: MsgOptions): RobotMessage;
  /** A forwarded chat history; `entries` go into content.chatRecord as a JSON string. */
  chatRecord(c: { title?: string; summary?: string; entries?: ChatRecordEntry[] }, opts?: MsgOptions): RobotMessage;
  unknown(opts?: MsgOptions & { label?: string }): RobotMessage;
  quote: QuoteBuilders;
}

export function messageBuilders(st: FakeState): MessageBuilders {
  const common = (msgtype: string, o: MsgOptions = {}): RobotMessage => {
    const app = st.app(o.appKey);
    const group = o.group ?? false;
    const staffId = o.senderStaffId ?? 'user001';
    const createAt = o.createAt ?? st.now();
    const conversationId = o.conversationId ?? (group ? 'cidGRP001==' : `cidDM${hash(`${app.appKey}/${staffId}`, 20)}==`);
    const msgId = o.msgId ?? `msg${b64(16)}`;
    const expiresAt = createAt + st.opts.sessionTtlMs;
    const session = st.mintSession({
      appKey: app.appKey, conversationId, conversationType: group ? '2' : '1', senderStaffId: staffId, msgId, expiresAt,
    });
    const m: RobotMessage = {
      conversationId,
      chatbotCorpId: app.corpId,
      chatbotUserId: app.chatbotUserId,
      msgId,
      senderNick: o.senderNick ?? '张三',
      isAdmin: o.isAdmin ?? false,
      senderStaffId: staffId,
      sessionWebhookExpiredTime: expiresAt,
      createAt,
      senderCorpId: app.corpId,
      conversationType: group ? '2' : '1',
      senderId: o.senderId ?? `$:LWCP_v1:$${hash(staffId, 22)}==`,
      sessionWebhook: `${st.oapiBase}/robot/sendBySession?session=${session}`,
      robotCode: app.robotCode,
      msgtype,
    };
    if (group) {
      const atBot = o.atBot ?? true;
      m.conversationTitle = o.conversationTitle ?? '测试群';
      m.isInAtList = atBot;
      m.atUsers = [...(atBot ? [{ dingtalkId: app.chatbotUserId }] : []), ...(o.atUsers ?? [])];
    }
    return m;
  };
  const finish = (m: RobotMessage, o: MsgOptions = {}): RobotMessage => (o.extra ? { ...m, ...o.extra } : m);
  const groupPrefix = (text: string, o: MsgOptions = {}): string =>
    (o.group && (o.atBot ?? true) && !o.rawContent ? ` ${text}` : text);

  return {
    text: (content, o) => finish({ ...common('text', o), text: { content: groupPrefix(content, o) } }, o),
    richText: (parts, o) => finish({ ...common('richText', o), content: { richText: richRuns(parts, o) } }, o),
    picture: (c, o) => finish({
      ...common('picture', o), content: { downloadCode: c.downloadCode, pictureDownloadCode: c.pictureDownloadCode ?? c.downloadCode },
    }, o),
    audio: (c, o) => finish({
      ...common('audio', o),
      content: { downloadCode: c.downloadCode, duration: c.duration ?? 4000, ...(c.recognition !== undefined ? { recognition: c.recognition } : {}) },
    }, o),
    video: (c, o) => finish({
      ...common('video', o), content: { downloadCode: c.downloadCode, duration: c.duration ?? 15000, videoType: c.videoType ?? 'mp4' },
    }, o),
    file: (c, o) => finish({
      ...common('file', o),
      content: { downloadCode: c.downloadCode, fileName: c.fileName, spaceId: c.spaceId ?? '12345', fileId: c.fileId ?? '67890' },
    }, o),
    replyTo: (text, replied, o) => {
      const r: RepliedMsg = 'msgtype' in replied
        ? {
          msgType: replied.msgtype, msgId: replied.msgId, senderId: replied.senderId, createdAt: replied.createAt,
          content: replied.msgtype === 'text' ? { content: replied.text?.content ?? '' } : { ...replied.content },
        }
        : replied;
      return finish({
        ...common('text', o),
        text: { content: groupPrefix(text, o), ...(o?.isReplyMsg === false ? {} : { isReplyMsg: true }), repliedMsg: r },
        originalMsgId: r.msgId,
      }, o);
    },
    richTextReplyTo: (parts, r, o) => finish({
      ...common('richText', o),
      content: { richText: richRuns(parts, o), ...(o?.isReplyMsg === false ? {} : { isReplyMsg: true }), repliedMsg: r },
      originalMsgId: r.msgId,
    }, o),
    interactiveCard: (c, o) => finish({
      ...common('interactiveCard', o),
      content: {
        ...(c.title ? { title: c.title } : {}),
        ...(c.texts ? { cardContent: cardTree(c.texts) } : {}),
        ...(c.url ? { biz_custom_action_url: c.url } : {}),
      },
    }, o),
    chatRecord: (c, o) => finish({
      ...common('chatRecord', o),
      content: {
        ...(c.title ? { title: c.title } : {}),
        ...(c.summary ? { summary: c.summary } : {}),
        ...(c.entries ? { chatRecord: JSON.stringify(c.entries) } : {}),
      },
      isForwardMsg: '1',
    }, o),
    unknown: (o) => finish({ ...common('unknownMsgType', o), content: { unknownMsgType: o?.label ?? '[表情]' } }, o),
    quote: quoteBuilders(st),
  };

  function richRuns(parts: RichTextPart[], o: MsgOptions = {}): RichTextPart[] {
    const runs = parts.map((p): RichTextPart => ('type' in p && p.type === 'picture'
      ? { type: 'picture', downloadCode: p.downloadCode, pictureDownloadCode: p.pictureDownloadCode ?? p.downloadCode }
      : p));
    const botRun = o.group && (o.atBot ?? true) && o.botNameRun ? [{ text: `@${st.app(o.appKey).botName}` }] : [];
    return [...botRun, ...runs];
  }
}

function cardTree(texts: string[]): unknown[] {
  return [{ elementType: 'LIST', children: [{ elementType: 'RICHTEXT', children: texts.map((value) => ({ elementType: 'TEXT', value })) }] }];
}

function quoteBuilders(st: FakeState): QuoteBuilders {
  const base = (msgType: string, content: Record<string, unknown> | undefined, o: QuoteOptions = {}): RepliedMsg => ({
    msgType,
    msgId: `msg${b64(16)}`,
    senderId: o.fromBot ? st.app(o.appKey).chatbotUserId : `$:LWCP_v1:$${b64(16)}`,
    createdAt: st.now() - 60_000,
    ...(content ? { content } : {}),
  });
  return {
    text: (content, o) => base('text', { content }, o),
    markdown: (text, o) => base('markdown', { ...(o?.title ? { title: o.title } : {}), text }, o),
    richText: (runs, o) => base('richText', {
      richText: runs.map((r) => ('picture' in r ? { msgType: 'picture', downloadCode: r.picture }
        : 'at' in r ? { msgType: 'at', atName: r.at } : { msgType: 'text', content: r.text })),
    }, o),
    picture: (downloadCode, o) => base('picture', { downloadCode }, o),
    file: (downloadCode, fileName, o) => base('file', { downloadCode, fileName }, o),
    audio: (downloadCode, o) => base('audio', { downloadCode, ...(o?.recognition ? { recognition: o.recognition } : {}) }, o),
    video: (downloadCode, o) => base('video', { downloadCode }, o),
    card: (texts, o) => base('interactiveCard', texts.length ? { cardContent: cardTree(texts) } : undefined, o),
    chatRecord: (c, o) => base('chatRecord', { ...c }, o),
    encodedText: (o) => base('text', { text: `${b64(48).replace(/[^A-Za-z0-9]/g, 'Q')}aZ9+/w==` }, o),
  };
}
