// Public types of the fake DingTalk (test-only). Shapes follow docs/dingtalk-protocol.md §5.3.

export type Host = 'api' | 'oapi';
export type MediaType = 'image' | 'voice' | 'video' | 'file';

export interface AppConfig {
  appKey: string;
  appSecret: string;
  /** Defaults to appKey (enterprise-internal robots). */
  robotCode?: string;
  scopes?: string[];
  /** Display name used in group mentions; default 'FakeBot'. */
  botName?: string;
}

export interface AppState {
  appKey: string;
  appSecret: string;
  robotCode: string;
  scopes: string[];
  botName: string;
  /** Encrypted bot id as it appears in callbacks (chatbotUserId / atUsers). */
  chatbotUserId: string;
  corpId: string;
  /** headers.appId of stream frames. */
  appId: string;
}

export interface RedeliveryOptions {
  afterMs: number;
  max: number;
  messageId: 'new' | 'same';
}

export interface MediaLimit {
  maxBytes: number;
  exts: string[];
}

export interface FakeOptions {
  apps?: AppConfig[];
  redelivery?: Partial<RedeliveryOptions>;
  rateLimit?: { perApiQps: number; burst?: number };
  latencyMs?: number;
  tokenTtlSec?: number;
  /** Stream ticket lifetime, default 90 000 ms. */
  ticketTtlMs?: number;
  /** Lifetime of a minted downloadUrl, default 3 600 000 ms. */
  downloadUrlTtlMs?: number;
  /** sessionWebhook lifetime after createAt, default 90 min. */
  sessionTtlMs?: number;
  /** Accepted card template ids; default 'any'. */
  templates?: 'any' | string[];
  /** Card variables that are markdown (streaming requires isFull:true); default ['msgContent']. */
  markdownKeys?: string[];
  /** Reject streaming content above this many UTF-8 bytes (param.stream.content); default: no limit. */
  streamContentMaxBytes?: number;
  /** Accept content:"" on PUT /v1.0/card/streaming; default false (400 param.stream.contentEmpty). */
  allowEmptyStreamContent?: boolean;
  mediaLimits?: Partial<Record<MediaType, MediaLimit>>;
  /** Accept image/file/voice/video msgtypes on sendBySession; default false. */
  allowSessionMedia?: boolean;
  /** Status for unknown/expired api tokens; default 400 (real DingTalk). */
  authErrorStatus?: 400 | 401;
}

export interface CallRecord {
  seq: number;
  /** fake.now() when the request arrived. */
  at: number;
  /** performance.now() when the request arrived (unaffected by advance()). */
  mono: number;
  host: Host;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
  status: number;
  response: unknown;
  appKey?: string;
  fault?: string;
  /** The route counts against the org's monthly API quota (protocol notes §4); set only for routed calls. */
  quota?: true;
}

export interface StreamUpdate {
  at: number;
  guid: string;
  isFull: boolean;
  isFinalize: boolean;
  isError: boolean;
  content: string;
  duplicateGuid: boolean;
  afterFinalize: boolean;
}

export interface StreamState {
  content: string;
  finalized: boolean;
  error: boolean;
  updates: StreamUpdate[];
}

export interface Delivery {
  spaceType: 'IM_ROBOT' | 'IM_GROUP';
  spaceId: string;
  robotCode?: string;
  carrierId: string;
  success: boolean;
  errorMsg?: string;
  at: number;
}

export interface ParamHistoryEntry {
  at: number;
  op: 'create' | 'put-merge' | 'put-overwrite';
  params: Record<string, string>;
}

export interface CardState {
  outTrackId: string;
  appKey: string;
  templateId: string;
  createdVia: 'create' | 'createAndDeliver';
  callbackType?: string;
  createdAt: number;
  /** Current cardParamMap. */
  params: Record<string, string>;
  privateData?: unknown;
  paramHistory: ParamHistoryEntry[];
  flowStatusHistory: string[];
  deliveries: Delivery[];
  streams: Record<string, StreamState>;
  /**
   * Every applied write of a markdown variable (`markdownKeys`), by streaming or by instance update, in arrival order.
   * FAKE-CHOICE: the card shows the newest write of a variable, whichever API wrote it.
   */
  contentHistory: ContentWrite[];
}

export interface ContentWrite {
  via: 'create' | 'streaming' | 'instance';
  key: string;
  content: string;
}

export type SentChannel = 'sessionWebhook' | 'oto' | 'group';

export interface SentRecord {
  channel: SentChannel;
  /** session id, userIds[] or openConversationId. */
  target: string | string[];
  /** msgtype (sessionWebhook) or msgKey (oto/group). */
  msgtype: string;
  /** Full JSON body (sessionWebhook) or the parsed msgParam (oto/group). */
  body: any;
  at: number;
  appKey?: string;
  conversationId?: string;
  processQueryKey?: string;
}

export interface MediaRecord {
  mediaId: string;
  type: MediaType;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  bytes: Buffer;
  appKey: string;
  createdAt: number;
}

export interface FrameRecord {
  seq: number;
  at: number;
  connId: string;
  dir: 'down' | 'up';
  /** Parsed frame, or null when the text was not JSON (see raw). */
  json: any;
  raw?: string;
}

export interface ConnRecord {
  id: string;
  appKey: string;
  subscriptions: Array<{ type: string; topic: string }>;
  ua: string;
  openedAt: number;
  closedAt?: number;
  closeCode?: number;
  open: boolean;
  paused: boolean;
}

export interface PushRecord {
  messageId: string;
  connId: string;
  appKey: string;
  type: 'CALLBACK' | 'EVENT' | 'SYSTEM';
  topic: string;
  payload: unknown;
  sentAt: number;
  ackedAt?: number;
  /** The upstream frame that acknowledged this push. */
  ack?: any;
  /** messageId of the first push of a redelivery chain (undefined on the first push). */
  redeliveryOf?: string;
  attempt: number;
}

export interface UpgradeRecord {
  at: number;
  status: number;
  reason: string;
  appKey?: string;
}

export interface DownloadEntry {
  code: string;
  bytes: Buffer;
  contentType: string;
  fileName?: string;
  appKey: string;
  robotCode: string;
}

export interface SessionEntry {
  session: string;
  appKey: string;
  conversationId: string;
  conversationType: '1' | '2';
  senderStaffId?: string;
  msgId: string;
  expiresAt: number;
  expired: boolean;
}

// ---- robot callback payload (§2) ----

export type RichTextPart =
  | { text: string }
  | { type: 'picture'; downloadCode: string; pictureDownloadCode?: string }
  /** A structured mention run (SOIMY src/types.ts: `{type:"at", atName, atUserId}`). */
  | { type: 'at'; atName: string; atUserId?: string };

export interface RepliedMsg {
  msgType: string;
  msgId: string;
  senderId?: string;
  createdAt?: number;
  content?: Record<string, unknown>;
}

export interface RobotMessage {
  conversationId: string;
  chatbotCorpId: string;
  chatbotUserId: string;
  msgId: string;
  senderNick: string;
  isAdmin: boolean;
  senderStaffId?: string;
  sessionWebhookExpiredTime: number;
  createAt: number;
  senderCorpId: string;
  conversationType: '1' | '2';
  senderId: string;
  sessionWebhook: string;
  robotCode: string;
  msgtype: string;
  conversationTitle?: string;
  isInAtList?: boolean;
  atUsers?: Array<{ dingtalkId: string; staffId?: string }>;
  text?: { content: string; isReplyMsg?: boolean; repliedMsg?: RepliedMsg };
  content?: {
    downloadCode?: string;
    pictureDownloadCode?: string;
    fileName?: string;
    spaceId?: string;
    fileId?: string;
    recognition?: string;
    duration?: number | string;
    videoType?: string;
    richText?: RichTextPart[];
    unknownMsgType?: string;
    /** interactiveCard, chatRecord and quote fields (see messages.ts for their sources). */
    [field: string]: unknown;
  };
  originalMsgId?: string;
  [extra: string]: unknown;
}
