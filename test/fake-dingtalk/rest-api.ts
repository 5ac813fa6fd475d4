// api.dingtalk.com routes other than cards and the stream gateway:
// access token, proactive robot messages, messageFiles/download and the /__dl stand-in for OSS.
import { apiError, type Reply, type Route, type RouteCtx } from './http-host.ts';
import { b64 } from './util.ts';

const ROBOT_SCOPE = 'qyapi_robot_sendmsg';

/** msgKey → keys msgParam must carry (§3.6). */
export const MSG_KEYS: Record<string, string[]> = {
  sampleText: ['content'],
  sampleMarkdown: ['title', 'text'],
  sampleImageMsg: ['photoURL'],
  sampleLink: ['text', 'title', 'picUrl', 'messageUrl'],
  sampleActionCard: ['title', 'text', 'singleTitle', 'singleURL'],
  sampleActionCard2: ['title', 'text'],
  sampleActionCard3: ['title', 'text'],
  sampleActionCard4: ['title', 'text'],
  sampleActionCard5: ['title', 'text'],
  sampleActionCard6: ['title', 'text'],
  sampleFile: ['mediaId', 'fileName', 'fileType'],
  sampleAudio: ['mediaId', 'duration'],
  sampleVideo: ['duration', 'videoMediaId', 'videoType', 'picMediaId'],
};

const accessToken: Route = {
  method: 'POST', path: '/v1.0/oauth2/accessToken', auth: 'none',
  handle: ({ st, body }) => {
    const app = st.appByCreds(body?.appKey, body?.appSecret);
    if (!app) return apiError(400, 'invalidClientIdOrSecret', '无效的clientId或者clientSecret');
    const { token, expireIn } = st.issueToken(app);
    return { status: 200, json: { accessToken: token, expireIn } };
  },
};

/** Shared robotCode + msgKey + msgParam validation; returns the parsed msgParam or an error reply. */
function validateRobotSend(ctx: RouteCtx): { msgParam: Record<string, unknown> } | Reply {
  const { body, app } = ctx;
  if (!body?.robotCode || ctx.st.appByRobotCode(body.robotCode)?.appKey !== app?.appKey) {
    return apiError(400, 'invalidParameter.robotCode.notExsit', 'robot 不存在');
  }
  const required = MSG_KEYS[body.msgKey as string];
  if (!required) return apiError(400, 'invalidParameter.msgKey.invalid', `msgKey ${String(body.msgKey)} is invalid`);
  if (typeof body.msgParam !== 'string') {
    return apiError(400, 'invalidParameter.msgParam.invalid', 'msgParam must be a JSON string');
  }
  let msgParam: unknown;
  try { msgParam = JSON.parse(body.msgParam); } catch { /* checked below */ }
  if (typeof msgParam !== 'object' || msgParam === null || Array.isArray(msgParam)) {
    return apiError(400, 'invalidParameter.msgParam.invalid', 'msgParam is not a JSON object');
  }
  const missing = required.filter((k) => (msgParam as Record<string, unknown>)[k] === undefined);
  if (missing.length) {
    return apiError(400, 'invalidParameter.msgParam.invalid', `msgParam missing ${missing.join(',')} for ${body.msgKey}`);
  }
  return { msgParam: msgParam as Record<string, unknown> };
}

const otoSend: Route = {
  method: 'POST', path: '/v1.0/robot/oToMessages/batchSend', auth: 'api', scope: ROBOT_SCOPE, quota: true,
  handle: (ctx) => {
    const v = validateRobotSend(ctx);
    if ('status' in v) return v;
    const userIds = ctx.body.userIds;
    if (!Array.isArray(userIds) || userIds.length === 0) return apiError(400, 'invalidParameter.userIds.empty', 'userIds 为空');
    if (userIds.some((u) => typeof u !== 'string' || !u)) return apiError(400, 'invalidParameter.userIds.invalid', 'userIds 不合法');
    const processQueryKey = b64(24);
    ctx.st.sent.push({
      channel: 'oto', target: [...userIds], msgtype: ctx.body.msgKey, body: v.msgParam,
      at: ctx.st.now(), appKey: ctx.app!.appKey, processQueryKey,
    });
    return { status: 200, json: { processQueryKey, invalidStaffIdList: [], flowControlledStaffIdList: [] } };
  },
};

const groupSend: Route = {
  method: 'POST', path: '/v1.0/robot/groupMessages/send', auth: 'api', scope: ROBOT_SCOPE, quota: true,
  handle: (ctx) => {
    const v = validateRobotSend(ctx);
    if ('status' in v) return v;
    const cid = ctx.body.openConversationId;
    if (typeof cid !== 'string' || !cid) return apiError(400, 'invalidParameter.openConversationId.invalid', 'openConversationId 不合法');
    const processQueryKey = b64(24);
    ctx.st.sent.push({
      channel: 'group', target: cid, msgtype: ctx.body.msgKey, body: v.msgParam,
      at: ctx.st.now(), appKey: ctx.app!.appKey, conversationId: cid, processQueryKey,
    });
    return { status: 200, json: { processQueryKey } };
  },
};

const messageFileDownload: Route = {
  method: 'POST', path: '/v1.0/robot/messageFiles/download', auth: 'api', scope: ROBOT_SCOPE, quota: true,
  handle: ({ st, body, app }) => {
    if (!body?.downloadCode) return apiError(400, 'invalidParameter.downloadCode.empty', 'downloadCode 为空');
    if (!body.robotCode) return apiError(400, 'invalidParameter.robotCode.empty', 'robotCode 为空');
    const dl = st.downloads.get(body.downloadCode);
    if (!dl || dl.robotCode !== body.robotCode || dl.appKey !== app!.appKey) {
      return apiError(400, 'invalidParameter', 'downloadCode invalid');
    }
    return { status: 200, json: { downloadUrl: st.mintDownloadUrl(dl.code) } };
  },
};

/** Stand-in for the OSS-signed temporary URL: serves the bytes, 403 after expiry. */
const ossDownload: Route = {
  method: 'GET', path: /^\/__dl\/([0-9a-f]+)$/, auth: 'none',
  handle: ({ st, match }) => {
    const dl = st.resolveDownloadUrl(match![1]!);
    if (dl === 'expired') {
      return {
        status: 403, contentType: 'application/xml',
        text: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>',
      };
    }
    if (!dl) return { status: 404, contentType: 'application/xml', text: '<Error><Code>NoSuchKey</Code></Error>' };
    const headers: Record<string, string> = {};
    if (dl.fileName) headers['content-disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(dl.fileName)}`;
    return { status: 200, bytes: dl.bytes, contentType: dl.contentType, headers };
  },
};

export const apiRoutes: Route[] = [accessToken, otoSend, groupSend, messageFileDownload, ossDownload];
