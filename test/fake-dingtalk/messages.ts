// Builders for robot callback payloads (§2). Each builder mints a fresh msgId and a sessionWebhook
// served by this fake (oapiBase/robot/sendBySession?session=<32 hex>, valid createAt + 90 min).
//
// Group mention convention (§2.2): DingTalk removes the "@Bot" mention from text.content but keeps
// the space that followed it, so a group text that @-mentions the bot arrives as " hello".
// text()/replyTo() in a group with atBot (default true in groups) therefore prefix one space.
// Pass { rawContent: true } to send content exactly as given.
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
  unknown(opts?: MsgOptions & { label?: string }): RobotMessage;
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
    richText: (parts, o) => finish({
      ...common('richText', o),
      content: {
        richText: parts.map((p) => ('type' in p
          ? { type: 'picture' as const, downloadCode: p.downloadCode, pictureDownloadCode: p.pictureDownloadCode ?? p.downloadCode }
          : { text: p.text })),
      },
    }, o),
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
          content: replied.msgtype === 'text' ? { text: replied.text?.content ?? '' } : { ...replied.content },
        }
        : replied;
      return finish({
        ...common('text', o),
        text: { content: groupPrefix(text, o), isReplyMsg: true, repliedMsg: r },
        originalMsgId: r.msgId,
      }, o);
    },
    unknown: (o) => finish({ ...common('unknownMsgType', o), content: { unknownMsgType: o?.label ?? '[表情]' } }, o),
  };
}
