// AI card routes on api.dingtalk.com (§3.3): create, deliver, createAndDeliver, update, streaming.
import { apiError, type Reply, type Route, type RouteCtx } from './http-host.ts';
import type { CardState, ContentWrite, Delivery, StreamState } from './types.ts';
import { b64, isPlainObject } from './util.ts';

const INSTANCE = 'Card.Instance.Write';
const STREAMING = 'Card.Streaming.Write';

type Space = { spaceType: 'IM_ROBOT' | 'IM_GROUP'; spaceId: string };

/** Validates cardData.cardParamMap (string → string); returns a copy or an error reply. */
function paramMap(cardData: unknown): Record<string, string> | Reply {
  if (cardData === undefined) return {};
  if (!isPlainObject(cardData)) return apiError(400, 'param.invalid', 'cardData must be an object');
  const map = cardData['cardParamMap'] ?? {};
  if (!isPlainObject(map)) return apiError(400, 'param.invalid', 'cardParamMap must be an object');
  for (const [k, v] of Object.entries(map)) {
    if (typeof v !== 'string') return apiError(400, 'param.invalid', `cardParamMap.${k} must be a string`);
  }
  return { ...(map as Record<string, string>) };
}

const isReply = (v: unknown): v is Reply => isPlainObject(v) && typeof v['status'] === 'number';

/** create-body validation shared by create and createAndDeliver. */
function validateCreate(ctx: RouteCtx): { params: Record<string, string> } | Reply {
  const b = ctx.body;
  if (!isPlainObject(b)) return apiError(400, 'param.empty', 'request body is empty');
  if (!b['cardTemplateId']) return apiError(400, 'param.cardTemplateIdEmpty', 'cardTemplateId is empty');
  if (!b['outTrackId']) return apiError(400, 'param.outTrackIdEmpty', 'outTrackId is empty');
  if (b['cardData'] === undefined) return apiError(400, 'param.cardPublicDataEmpty', 'cardData is empty');
  if (b['callbackType'] !== undefined && b['callbackType'] !== 'STREAM' && b['callbackType'] !== 'HTTP') {
    return apiError(400, 'param.invalid', 'callbackType must be STREAM or HTTP');
  }
  const tpl = ctx.st.opts.templates;
  if (tpl !== 'any' && !tpl.includes(String(b['cardTemplateId']))) {
    return apiError(400, 'param.templateNotExist', 'card template not exist');
  }
  if (ctx.st.cards.has(String(b['outTrackId']))) return apiError(400, 'param.cardAlreadyExist', 'card already exist');
  const params = paramMap(b['cardData']);
  return isReply(params) ? params : { params };
}

/** deliver-body validation shared by deliver and createAndDeliver. */
function validateDeliver(ctx: RouteCtx): Space[] | Reply {
  const b = ctx.body;
  const openSpaceId = b?.openSpaceId;
  if (!openSpaceId || typeof openSpaceId !== 'string') return apiError(400, 'param.openSpaceIdEmpty', 'openSpaceId is empty');
  const spaces: Space[] = [];
  for (const part of openSpaceId.split(';').filter(Boolean)) {
    const m = /^dtv1\.card\/\/(im_group|im_robot)\.(.+)$/i.exec(part.trim());
    if (!m) return apiError(400, 'param.openSpaceIdInvalid', `openSpaceId invalid: ${part}`);
    spaces.push({ spaceType: m[1]!.toUpperCase() as Space['spaceType'], spaceId: m[2]! });
  }
  if (!spaces.length) return apiError(400, 'param.openSpaceIdInvalid', 'openSpaceId invalid');
  const group = b.imGroupOpenDeliverModel;
  const robot = b.imRobotOpenDeliverModel;
  if (!group && !robot) return apiError(400, 'param.openDeliverModelEmpty', 'open deliver model is empty');
  for (const s of spaces) {
    if (s.spaceType === 'IM_GROUP') {
      if (!isPlainObject(group)) return apiError(400, 'param.spaceDeliverModelEmpty', 'imGroupOpenDeliverModel is empty');
      if (!group['robotCode']) return apiError(400, 'param.invalid', 'imGroupOpenDeliverModel.robotCode is empty');
    } else {
      if (!isPlainObject(robot)) return apiError(400, 'param.spaceDeliverModelEmpty', 'imRobotOpenDeliverModel is empty');
      if (robot['spaceType'] !== 'IM_ROBOT') return apiError(400, 'param.invalid', 'imRobotOpenDeliverModel.spaceType must be IM_ROBOT');
    }
  }
  return spaces;
}

function deliver(ctx: RouteCtx, card: CardState, spaces: Space[]): Delivery[] {
  const { st, body, app } = ctx;
  const results: Delivery[] = spaces.map((s) => {
    const model = s.spaceType === 'IM_GROUP' ? body.imGroupOpenDeliverModel : body.imRobotOpenDeliverModel;
    const robotCode: string | undefined = model?.robotCode;
    const d: Delivery = { ...s, robotCode, carrierId: b64(16), success: true, at: st.now() };
    if (robotCode !== undefined && robotCode !== app!.robotCode) {
      d.success = false;
      d.errorMsg = 'robot not exist';
    } else if (st.deliverFailure && st.deliverFailure.remaining > 0) {
      st.deliverFailure.remaining--;
      d.success = false;
      d.errorMsg = st.deliverFailure.errorMsg;
    }
    return d;
  });
  card.deliveries.push(...results);
  return results;
}

const wire = (d: Delivery) => ({
  spaceType: d.spaceType, spaceId: d.spaceId, success: d.success, carrierId: d.carrierId,
  ...(d.errorMsg ? { errorMsg: d.errorMsg } : {}),
});

function createCard(ctx: RouteCtx, params: Record<string, string>, via: CardState['createdVia']): CardState {
  const b = ctx.body;
  const at = ctx.st.now();
  const card: CardState = {
    outTrackId: String(b.outTrackId), appKey: ctx.app!.appKey, templateId: String(b.cardTemplateId),
    createdVia: via, callbackType: b.callbackType, createdAt: at, params: { ...params },
    privateData: b.privateData, paramHistory: [{ at, op: 'create', params: { ...params } }],
    flowStatusHistory: params['flowStatus'] !== undefined ? [params['flowStatus']] : [],
    deliveries: [], streams: {},
    contentHistory: markdownWrites(ctx, 'create', params),
  };
  ctx.st.cards.set(card.outTrackId, card);
  return card;
}

/** The markdown variables among `params`, as content writes. */
function markdownWrites(ctx: RouteCtx, via: ContentWrite['via'], params: Record<string, string>): ContentWrite[] {
  return ctx.st.opts.markdownKeys.filter((k) => params[k] !== undefined).map((key) => ({ via, key, content: params[key]! }));
}

const ownCard = (ctx: RouteCtx, id: unknown): CardState | undefined => {
  const card = typeof id === 'string' ? ctx.st.cards.get(id) : undefined;
  return card && card.appKey === ctx.app!.appKey ? card : undefined;
};

const create: Route = {
  method: 'POST', path: '/v1.0/card/instances', auth: 'api', scope: INSTANCE, quota: true,
  handle: (ctx) => {
    const v = validateCreate(ctx);
    if (isReply(v)) return v;
    const card = createCard(ctx, v.params, 'create');
    return { status: 200, json: { success: true, result: card.outTrackId } };
  },
};

const deliverRoute: Route = {
  method: 'POST', path: '/v1.0/card/instances/deliver', auth: 'api', scope: INSTANCE, quota: true,
  handle: (ctx) => {
    if (!ctx.body?.outTrackId) return apiError(400, 'param.outTrackIdEmpty', 'outTrackId is empty');
    const spaces = validateDeliver(ctx);
    if (isReply(spaces)) return spaces;
    const card = ownCard(ctx, ctx.body.outTrackId);
    if (!card) return apiError(400, 'param.cardNotExist', 'card not exist');
    return { status: 200, json: { success: true, result: deliver(ctx, card, spaces).map(wire) } };
  },
};

const createAndDeliver: Route = {
  method: 'POST', path: '/v1.0/card/instances/createAndDeliver', auth: 'api', scope: INSTANCE, quota: true,
  handle: (ctx) => {
    const v = validateCreate(ctx);
    if (isReply(v)) return v;
    const spaces = validateDeliver(ctx);
    if (isReply(spaces)) return spaces;
    const card = createCard(ctx, v.params, 'createAndDeliver');
    const results = deliver(ctx, card, spaces);
    return { status: 200, json: { success: true, result: { outTrackId: card.outTrackId, deliverResults: results.map(wire) } } };
  },
};

const update: Route = {
  method: 'PUT', path: '/v1.0/card/instances', auth: 'api', scope: INSTANCE, quota: true,
  handle: (ctx) => {
    const b = ctx.body;
    if (!b?.outTrackId) return apiError(400, 'param.outTrackIdEmpty', 'outTrackId is empty');
    if (b.cardData === undefined && b.privateData === undefined) {
      return apiError(400, 'param.cardDataAndPrivateDataBothEmpty', 'cardData and privateData are both empty');
    }
    const card = ownCard(ctx, b.outTrackId);
    if (!card) return apiError(400, 'param.cardNotExist', 'card not exist');
    if (b.privateData !== undefined) card.privateData = b.privateData;
    if (b.cardData !== undefined) {
      const params = paramMap(b.cardData);
      if (isReply(params)) return params;
      const merge = b.cardUpdateOptions?.updateCardDataByKey === true;
      card.params = merge ? { ...card.params, ...params } : params;
      card.paramHistory.push({ at: ctx.st.now(), op: merge ? 'put-merge' : 'put-overwrite', params: { ...card.params } });
      if (params['flowStatus'] !== undefined) card.flowStatusHistory.push(params['flowStatus']);
      card.contentHistory.push(...markdownWrites(ctx, 'instance', params));
    }
    return { status: 200, json: { success: true, result: true } };
  },
};

const streaming: Route = {
  method: 'PUT', path: '/v1.0/card/streaming', auth: 'api', scope: STREAMING, quota: true,
  handle: (ctx) => {
    const b = ctx.body ?? {};
    const { st } = ctx;
    const card = ownCard(ctx, b.outTrackId);
    if (!card) return apiError(400, 'param.stream.outTrackId', 'card is not exist');
    if (!b.key) return apiError(400, 'param.stream.keyEmpty', 'key is empty');
    if (!b.guid) return apiError(400, 'param.stream.guidEmpty', 'guid is empty');
    if (typeof b.content !== 'string' || (b.content === '' && !st.opts.allowEmptyStreamContent)) {
      return apiError(400, 'param.stream.contentEmpty', 'content is empty');
    }
    if (typeof b.isFull !== 'boolean') return apiError(400, 'param.stream.isFull', 'isFull is null');
    if (!b.isFull && st.opts.markdownKeys.includes(b.key)) {
      return apiError(400, 'param.stream.isFull', 'markdown variable requires isFull=true');
    }
    const max = st.opts.streamContentMaxBytes;
    if (max !== undefined && Buffer.byteLength(b.content) > max) {
      return apiError(400, 'param.stream.content', 'content is too large');
    }
    const stream: StreamState = (card.streams[b.key] ??= { content: '', finalized: false, error: false, updates: [] });
    const duplicateGuid = Object.values(card.streams).some((s) => s.updates.some((u) => u.guid === b.guid));
    const afterFinalize = stream.finalized;
    stream.updates.push({
      at: st.now(), guid: String(b.guid), isFull: b.isFull, isFinalize: b.isFinalize === true,
      isError: b.isError === true, content: b.content, duplicateGuid, afterFinalize,
    });
    if (!duplicateGuid) {
      stream.content = b.isFull ? b.content : stream.content + b.content;
      if (b.isFinalize === true) stream.finalized = true;
      if (b.isError === true) stream.error = true;
      card.contentHistory.push({ via: 'streaming', key: String(b.key), content: stream.content });
    }
    return { status: 200, json: { success: true, result: true } };
  },
};

export const cardRoutes: Route[] = [create, deliverRoute, createAndDeliver, update, streaming];
