// oapi.dingtalk.com routes (§3.2 old token, §3.4 media upload, §3.7 sessionWebhook).
// Every answer is HTTP 200 with {errcode, errmsg}.
import { createHash } from 'node:crypto';
import { oapiError, type Route } from './http-host.ts';
import type { MediaType } from './types.ts';
import { b64url } from './util.ts';

const getToken: Route = {
  method: 'GET', path: '/gettoken', auth: 'none',
  handle: ({ st, query }) => {
    const app = st.appByCreds(query['appkey'], query['appsecret']);
    if (!app) return oapiError(40096, '不合法的appKey或appSecret');
    const { token, expireIn } = st.issueToken(app);
    return { status: 200, json: { errcode: 0, access_token: token, errmsg: 'ok', expires_in: expireIn } };
  },
};

const MEDIA_TYPES: MediaType[] = ['image', 'voice', 'video', 'file'];

const mediaUpload: Route = {
  method: 'POST', path: '/media/upload', auth: 'oapi', quota: true,
  handle: ({ st, query, multipart, app }) => {
    if (!multipart) return oapiError(41005, '缺少media参数');
    const type = (query['type'] ?? multipart.fields['type']) as MediaType | undefined;
    if (!type) return oapiError(40004, '缺少type参数');
    if (!MEDIA_TYPES.includes(type)) return oapiError(40004, '不合法的媒体文件类型');
    const file = multipart.files.find((f) => f.name === 'media');
    if (!file) return oapiError(41005, '缺少media参数');
    const limit = st.opts.mediaLimits[type];
    const filename = file.filename ?? '';
    const ext = filename.includes('.') ? filename.slice(filename.lastIndexOf('.') + 1).toLowerCase() : '';
    if (!limit.exts.includes(ext)) return oapiError(40005, '不合法的文件类型');
    if (file.data.length === 0) return oapiError(41005, '缺少media参数');
    if (file.data.length > limit.maxBytes) return oapiError(40006, '文件大小超过限制');
    const mediaId = `@lADP${b64url(18)}`;
    const createdAt = st.now();
    st.media.set(mediaId, {
      mediaId, type, filename, contentType: file.contentType ?? 'application/octet-stream',
      size: file.data.length, sha256: createHash('sha256').update(file.data).digest('hex'),
      bytes: file.data, appKey: app!.appKey, createdAt,
    });
    return { status: 200, json: { errcode: 0, errmsg: 'ok', media_id: mediaId, created_at: createdAt, type } };
  },
};

/** msgtype → required sub-keys of body[msgtype]. */
const SESSION_MSGTYPES: Record<string, string[]> = {
  text: ['content'],
  markdown: ['title', 'text'],
  link: ['title', 'text', 'messageUrl'],
  actionCard: ['title', 'text'],
  feedCard: ['links'],
};
const MEDIA_MSGTYPES = ['image', 'file', 'voice', 'audio', 'video'];

const sendBySession: Route = {
  method: 'POST', path: '/robot/sendBySession', auth: 'none',
  handle: ({ st, query, body }) => {
    const s = st.sessionValid(query['session'] ?? null);
    if (!s) return oapiError(300001, 'session 不存在');
    const msgtype = body?.msgtype;
    if (typeof msgtype !== 'string') return oapiError(40035, '缺少参数 msgtype');
    if (MEDIA_MSGTYPES.includes(msgtype)) {
      if (!st.opts.allowSessionMedia) return oapiError(400001, 'msgtype not supported');
    } else {
      const required = SESSION_MSGTYPES[msgtype];
      if (!required) return oapiError(40035, `不合法的参数 msgtype=${msgtype}`);
      const inner = body[msgtype];
      const missing = required.filter((k) => inner?.[k] === undefined);
      if (missing.length) return oapiError(40035, `缺少参数 ${msgtype}.${missing.join(',')}`);
    }
    st.sent.push({
      channel: 'sessionWebhook', target: s.session, msgtype, body,
      at: st.now(), appKey: s.appKey, conversationId: s.conversationId,
    });
    return { status: 200, json: { errcode: 0, errmsg: 'ok' } };
  },
};

export const oapiRoutes: Route[] = [getToken, mediaUpload, sendBySession];
