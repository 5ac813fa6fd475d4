/**
 * One short wrapper per DingTalk endpoint the plugin uses (spec §3). Bodies are typed here once.
 */
import FormData from 'form-data';
import type { DingTalkClient } from './client.ts';
import type { QuotaMeter } from './governor.ts';

/**
 * The one list of what DingTalk's monthly meters count (the call governor, ./governor.ts, counts by it):
 * - Not counted: `oauth2.accessToken`. DingTalk's list of calls outside the monthly limit
 *   (DOC:basic-interfaces-such-as-log-off-and-address-book, updated 2026-07-22: access tokens, log-in, contacts)
 *   names 获取企业内部应用的accessToken; no card, robot or media API is on it (protocol notes §4).
 * - `robot.sendBySession` (the sessionWebhook) runs on the separate Webhook&Stream meter: DingTalk's billing model
 *   (DOC:dingtalk-application-development-platform-billing-model, 2026-05-09) meters "API接口调用量" (5,000/month on
 *   the standard edition since 2025-11-19, the one `ApiCountLimitForOrg` enforces) apart from "Webhook&Stream调用量"
 *   (3,000/month), and says robots' webhook & Stream message traffic is billed there. No document names the
 *   sessionWebhook explicitly: we count its replies on the webhook meter (shown in the status, not budgeted: every
 *   message users send over Stream is metered there too, which this plugin cannot govern); the fake treats it as not
 *   counted against the API allowance.
 * - Everything else through the client counts against the API allowance (cards, robot send, media, file download).
 *   The Stream registration (`/v1.0/gateway/connections/open`) is made by the dingtalk-stream SDK, not this client.
 */
const NOT_COUNTED_APIS: ReadonlySet<string> = new Set(['oauth2.accessToken']);
const WEBHOOK_METER_APIS: ReadonlySet<string> = new Set(['robot.sendBySession']);

/** The meter a call of `api` (CallOptions.api) runs on; undefined: not counted. */
export function quotaMeterOf(api: string): QuotaMeter | undefined {
  if (NOT_COUNTED_APIS.has(api)) return undefined;
  return WEBHOOK_METER_APIS.has(api) ? 'webhook' : 'api';
}

export type CardParams = Record<string, string>;

/**
 * `reserved`: the call is one an answer's plan reserved (its card's create and final, src/dingtalk/governor.ts): it may
 * pass a spent monthly budget. Only the answer's own card (src/card.ts) sets it.
 */
export interface Reserved {
  reserved?: boolean;
}

/** Where a card or message goes: a 1:1 chat with the robot, or a group (optionally @-ing the asker). */
export type Target =
  | { kind: 'dm'; userId: string }
  | { kind: 'group'; conversationId: string; atUser?: { userId: string; name?: string } };

export interface DeliverResult {
  spaceType?: string;
  spaceId?: string;
  success?: boolean;
  carrierId?: string;
  errorMsg?: string;
}

export interface CreateAndDeliverResponse {
  success?: boolean;
  result?: { outTrackId?: string; deliverResults?: DeliverResult[] };
}

export function createAndDeliverCard(
  client: DingTalkClient,
  req: { templateId: string; outTrackId: string; target: Target; params: CardParams },
  opts: Reserved = {},
): Promise<CreateAndDeliverResponse> {
  const robotCode = client.clientId;
  const space =
    req.target.kind === 'dm'
      ? {
          openSpaceId: `dtv1.card//IM_ROBOT.${req.target.userId}`,
          imRobotOpenSpaceModel: { supportForward: true },
          imRobotOpenDeliverModel: { spaceType: 'IM_ROBOT', robotCode },
        }
      : {
          openSpaceId: `dtv1.card//IM_GROUP.${req.target.conversationId}`,
          imGroupOpenSpaceModel: { supportForward: true },
          // `atUserIds` {userId: name} @-mentions the asker with the card (DOC:delivery-card-interface, spec §3.3;
          // the official SDK's CreateAndDeliverRequestImGroupOpenDeliverModel carries the same at_user_ids map).
          imGroupOpenDeliverModel: { robotCode, ...(req.target.atUser ? { atUserIds: { [req.target.atUser.userId]: req.target.atUser.name ?? req.target.atUser.userId } } : {}) },
        };
  return client.api<CreateAndDeliverResponse>(
    'POST',
    '/v1.0/card/instances/createAndDeliver',
    {
      cardTemplateId: req.templateId,
      outTrackId: req.outTrackId,
      callbackType: 'STREAM',
      cardData: { cardParamMap: req.params },
      userIdType: 1,
      ...space,
    },
    { api: 'card.createAndDeliver', priority: true, reserved: opts.reserved },
  );
}

/**
 * Create a card instance without delivering it to anyone (spec §3.3 "Create"): nobody sees it. `doctor` uses it to
 * check Card.Instance.Write and that the template exists (`param.templateNotExist` / `param.templateUnpublished`).
 */
export function createCard(client: DingTalkClient, req: { templateId: string; outTrackId: string; params: CardParams }): Promise<{ success?: boolean; result?: string }> {
  return client.api(
    'POST',
    '/v1.0/card/instances',
    { cardTemplateId: req.templateId, outTrackId: req.outTrackId, callbackType: 'STREAM', cardData: { cardParamMap: req.params }, userIdType: 1 },
    { api: 'card.create' },
  );
}

/** Streaming update of one card variable; `guid` makes a repeated call harmless. */
export function streamCard(
  client: DingTalkClient,
  req: { outTrackId: string; key: string; content: string; guid: string; isFinalize: boolean; isError: boolean },
  priority: boolean,
  signal?: AbortSignal,
  opts: Reserved = {},
): Promise<{ success?: boolean }> {
  return client.api(
    'PUT',
    '/v1.0/card/streaming',
    { outTrackId: req.outTrackId, guid: req.guid, key: req.key, content: req.content, isFull: true, isFinalize: req.isFinalize, isError: req.isError },
    { api: 'card.streaming', idempotent: true, priority, signal, reserved: opts.reserved },
  );
}

/** Merge `params` into the card's data (without the option DingTalk would overwrite every variable). */
export function updateCard(client: DingTalkClient, req: { outTrackId: string; params: CardParams }, opts: Reserved = {}): Promise<{ success?: boolean }> {
  return client.api(
    'PUT',
    '/v1.0/card/instances',
    { outTrackId: req.outTrackId, cardData: { cardParamMap: req.params }, cardUpdateOptions: { updateCardDataByKey: true } },
    { api: 'card.update', idempotent: true, priority: true, reserved: opts.reserved },
  );
}

export interface WebhookMessage {
  msgtype: 'text' | 'markdown';
  text?: { content: string };
  markdown?: { title: string; text: string };
  at?: { atUserIds: string[]; isAtAll: boolean };
}

/** Reply through the message's sessionWebhook (valid about 90 minutes after the message). */
export function sendBySessionWebhook(client: DingTalkClient, webhookUrl: string, message: WebhookMessage): Promise<unknown> {
  return client.postToUrl(webhookUrl, message, { api: 'robot.sendBySession' });
}

export interface RobotSendResponse {
  /** DingTalk's id of the sent message (batchSend and groupMessages/send alike). */
  processQueryKey?: string;
  invalidStaffIdList?: string[];
  flowControlledStaffIdList?: string[];
}

/**
 * DingTalk accepted the call (200) but did not deliver to some recipients (the official SDK's BatchSendOTOResponseBody:
 * `invalidStaffIdList` "无效的用户userId列表", `flowControlledStaffIdList` "推送频繁，被限流的用户userId列表"). The message names
 * the list, the ids and what to do.
 */
export class RobotSendRefusedError extends Error {
  readonly invalid: string[];
  readonly flowControlled: string[];
  constructor(invalid: string[], flowControlled: string[]) {
    const parts = [
      ...(invalid.length
        ? [
            `DingTalk lists ${invalid.join(', ')} as invalid (invalidStaffIdList): not a staffId of the robot's organisation, or outside the app's visible range (可见范围); send to the staffId (the inbound log line prints it; a senderId "$:LWCP…" or unionId is not one) and add the user to the app's visible range in the DingTalk developer console`,
          ]
        : []),
      ...(flowControlled.length
        ? [`DingTalk flow-controlled the message to ${flowControlled.join(', ')} (flowControlledStaffIdList: too many robot messages to this user); send less often, or later`]
        : []),
    ];
    super(`robot message not delivered: ${parts.join('; ')}`);
    this.name = 'RobotSendRefusedError';
    this.invalid = invalid;
    this.flowControlled = flowControlled;
  }
}

/**
 * Proactive robot message (works after the sessionWebhook expired). `msgParam` is a JSON string on the wire.
 * `priority`: part of an answer (a final; served before streaming updates and outbound sends, see budget.ts).
 * DingTalk answers 200 even when it did not deliver (recipient invalid or flow-controlled): that throws
 * RobotSendRefusedError here (spec §3.6).
 */
export async function sendRobotMessage(
  client: DingTalkClient,
  target: Target,
  msgKey: string,
  msgParam: Record<string, string>,
  opts: { priority?: boolean } = {},
): Promise<RobotSendResponse> {
  const robotCode = client.clientId;
  const priority = opts.priority ?? false;
  const res: RobotSendResponse =
    target.kind === 'dm'
      ? await client.api(
          'POST',
          '/v1.0/robot/oToMessages/batchSend',
          { robotCode, userIds: [target.userId], msgKey, msgParam: JSON.stringify(msgParam) },
          { api: 'robot.batchSend', priority },
        )
      : await client.api(
          'POST',
          '/v1.0/robot/groupMessages/send',
          { robotCode, openConversationId: target.conversationId, msgKey, msgParam: JSON.stringify(msgParam) },
          { api: 'robot.groupSend', priority },
        );
  const invalid = res.invalidStaffIdList ?? [];
  const flowControlled = res.flowControlledStaffIdList ?? [];
  if (invalid.length > 0 || flowControlled.length > 0) throw new RobotSendRefusedError(invalid, flowControlled);
  return res;
}

export type MediaType = 'image' | 'voice' | 'video' | 'file';

/** Upload bytes to oapi media/upload; the returned media id starts with '@'. `priority`: part of an answer (see sendRobotMessage). */
export async function uploadMedia(
  client: DingTalkClient,
  req: { type: MediaType; bytes: Buffer; fileName: string; contentType: string },
  opts: { priority?: boolean } = {},
): Promise<string> {
  const form = new FormData();
  form.append('media', req.bytes, { filename: req.fileName, contentType: req.contentType });
  const res = await client.oapi<{ media_id?: string }>(
    'POST',
    '/media/upload',
    // A buffer, not the form stream: a retry must be able to send the same body again.
    { params: { type: req.type }, data: form.getBuffer(), headers: form.getHeaders(), maxBodyLength: Infinity },
    { api: 'media.upload', timeoutMs: 60_000, priority: opts.priority ?? false },
  );
  if (!res.media_id) throw new Error('DingTalk media.upload returned no media_id');
  return res.media_id;
}

/** A temporary URL for a file a user sent to the robot. */
export async function messageFileDownloadUrl(client: DingTalkClient, downloadCode: string): Promise<string> {
  const res = await client.api<{ downloadUrl?: string }>(
    'POST',
    '/v1.0/robot/messageFiles/download',
    { downloadCode, robotCode: client.clientId },
    { api: 'robot.messageFiles.download', idempotent: true },
  );
  if (!res.downloadUrl) throw new Error('DingTalk robot.messageFiles.download returned no downloadUrl');
  return res.downloadUrl;
}
