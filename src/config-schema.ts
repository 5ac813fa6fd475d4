/**
 * The JSON schema of `channels.dingtalk-ai` and the Dashboard hints (labels, help, sensitive fields).
 * The plugin manifests carry the same data; `npm run manifests` writes them from here and test/manifests.test.ts keeps
 * them in sync.
 *
 * No property carries a JSON-schema `default`: OpenClaw fills schema defaults into the config it hands the plugin
 * (dist/json-schema-defaults-*.mjs, seen on 2026.9.6), also inside `accounts.<id>`, so a default there would override
 * what the account inherits from the top level (a named account got https://api.dingtalk.com and groupPolicy
 * allowlist under a top-level apiBaseUrl and groupPolicy open) and would make the per-app share of
 * `monthlyCallBudget` look set by the user. The defaults live in src/config.ts (resolveAccount) and the help texts.
 */

/** The channel's id in the host's config (`channels.dingtalk-ai`) and in its CLI (`--channel dingtalk-ai`). */
export const CHANNEL_ID = 'dingtalk-ai';

const accountProperties = {
  enabled: { type: 'boolean' },
  name: { type: 'string' },
  clientId: { type: 'string' },
  clientSecret: { type: 'string' },
  engine: { type: 'string', enum: ['gateway', 'runtime'] },
  gatewayToken: { type: 'string' },
  gatewayPassword: { type: 'string' },
  gatewayUrl: { type: 'string' },
  agentId: { type: 'string' },
  gatewayTimeout: { type: 'number', exclusiveMinimum: 0 },
  answerTimeout: { type: 'number', exclusiveMinimum: 0 },
  sessionTimeout: { type: 'number', exclusiveMinimum: 0 },
  groupSessionScope: { type: 'string', enum: ['group', 'sender'] },
  enableMediaUpload: { type: 'boolean' },
  mediaRoots: { type: 'array', items: { type: 'string' } },
  mediaSystemPrompt: { type: 'string' },
  systemPrompt: { type: 'string' },
  cardTemplateId: { type: 'string' },
  dingtalkEdition: { type: 'string', enum: ['standard', 'professional', 'exclusive'] },
  apiBaseUrl: { type: 'string' },
  oapiBaseUrl: { type: 'string' },
  streamGatewayUrl: { type: 'string' },
  stateDir: { type: 'string' },
  debug: { type: 'boolean' },
  dmPolicy: { type: 'string', enum: ['pairing', 'allowlist', 'open', 'disabled'] },
  allowFrom: { type: 'array', items: { type: 'string' } },
  groupPolicy: { type: 'string', enum: ['allowlist', 'open', 'disabled'] },
  groupAllowFrom: { type: 'array', items: { type: 'string' } },
  requireMention: { type: 'boolean' },
  groups: {
    type: 'object',
    additionalProperties: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        allowFrom: { type: 'array', items: { type: 'string' } },
        requireMention: { type: 'boolean' },
        systemPrompt: { type: 'string' },
      },
    },
  },
  refusalMessage: { type: 'string' },
  stopWords: { type: 'array', items: { type: 'string' } },
  monthlyCallBudget: { type: 'integer', minimum: 0, maximum: 1000000 },
  streaming: { type: 'string', enum: ['on', 'off', 'dm', 'group'] },
} as const;

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...accountProperties,
    accounts: {
      type: 'object',
      additionalProperties: { type: 'object', additionalProperties: false, properties: accountProperties },
    },
  },
} as const;

export interface UiHint {
  label: string;
  help?: string;
  sensitive?: boolean;
  advanced?: boolean;
  placeholder?: string;
}

export const UI_HINTS: Record<string, UiHint> = {
  enabled: { label: '启用 Enabled', help: '默认开启；false 时不连接此机器人。Default on; false leaves this robot unconnected.' },
  name: { label: '名称 Name', help: '账号的显示名称。Display name of this robot account.' },
  clientId: { label: 'Client ID (AppKey)', help: '钉钉开放平台 → 应用 → 凭证与基础信息。DingTalk app credentials page.', placeholder: 'dingxxxxxxxx' },
  clientSecret: { label: 'Client Secret (AppSecret)', help: '钉钉应用的 AppSecret。The app secret of the DingTalk app.', sensitive: true },
  engine: {
    label: '回答引擎 Answer engine',
    help: 'gateway（默认）：经网关 /v1/chat/completions，每位发送者都拥有网关所有者的全部权限；runtime：经宿主内置的频道回复运行时，发送者是普通用户，受宿主的配对、白名单和工具策略约束。gateway: every sender acts as the gateway owner; runtime: senders are ordinary senders under the host’s pairing, allowlists and tool policy.',
  },
  gatewayToken: { label: '网关令牌 Gateway token', help: '网关 gateway.auth.token；留空时使用网关自身配置。Defaults to the gateway’s own auth.', sensitive: true },
  gatewayPassword: { label: '网关密码 Gateway password', help: '网关使用密码鉴权时填写。When the gateway uses password auth.', sensitive: true },
  gatewayUrl: { label: '网关地址 Gateway URL', help: '默认 http://127.0.0.1:<gateway.port>/v1/chat/completions', advanced: true },
  agentId: { label: '智能体 Agent', help: '回答消息的智能体 id，默认 main。The agent that answers.', placeholder: 'main' },
  gatewayTimeout: { label: '网关超时 (ms)', help: '网关无任何输出的最长等待时间，默认 300000（5 分钟）。Longest silence from the gateway, default 5 minutes.', advanced: true },
  answerTimeout: { label: '回答最长时间 (ms)', help: '一条回答从开始到结束的最长时间（即使网关一直发送保活），默认 30 分钟。Longest time for one whole answer, keep-alives or not.', advanced: true },
  sessionTimeout: { label: '会话超时 (ms)', help: '无活动超过此时间后开始新会话，默认 30 分钟。Idle time before a new session.' },
  groupSessionScope: { label: '群聊会话 Group sessions', help: 'group（默认）：全群共享一个会话；sender：群内每人一个会话。One session per group, or per sender.' },
  enableMediaUpload: { label: '图片上传 Media upload', help: '默认开启：回答中的本地图片上传到钉钉并内嵌显示。Upload local images in answers (default on).' },
  mediaRoots: { label: '可发送文件的目录 Media folders', help: '回答中的本地文件只有位于这些目录（以及系统临时目录、网关的 media/workspace 目录）下才会发送。Extra folders answers may send files from.', advanced: true },
  mediaSystemPrompt: { label: '媒体提示词 Media prompt', help: '替换内置的“如何展示图片/发送文件”提示；留空字符串则不发送。Replaces the built-in media prompt; empty turns it off.', advanced: true },
  systemPrompt: { label: '系统提示词 System prompt', help: '每轮对话附加的系统提示。Added to every turn.' },
  cardTemplateId: { label: 'AI 卡片模板 Card template', help: '默认官方 AI markdown 卡片模板。', advanced: true },
  dingtalkEdition: { label: '钉钉版本 Edition', help: '标准版 standard（默认，每个接口 20 次/秒）、专业版 professional（40）、专属版 exclusive（60）。Sets the API call budget.', advanced: true },
  apiBaseUrl: { label: 'API base URL', help: '默认 https://api.dingtalk.com（测试或代理时修改）。', advanced: true },
  oapiBaseUrl: { label: 'OAPI base URL', help: '默认 https://oapi.dingtalk.com', advanced: true },
  streamGatewayUrl: { label: 'Stream gateway URL', help: '默认 ${apiBaseUrl}/v1.0/gateway/connections/open', advanced: true },
  stateDir: { label: '状态目录 State folder', help: '会话状态保存位置，默认在网关状态目录下。Where session state is kept.', advanced: true },
  debug: { label: '调试日志 Debug logs', help: '默认关闭。Default off.', advanced: true },
  dmPolicy: { label: '单聊权限 DM policy', help: 'pairing（主机支持配对时的默认）：陌生人收到配对码，管理员批准后可用；allowlist（主机不支持配对时的默认）：仅 allowFrom 中的人；open：所有人（需同时设置 allowFrom: ["*"]；经网关引擎时每个人都拥有网关所有者的全部权限）；disabled：不回答单聊。Who may DM the robot; default pairing where the host offers it to channel plugins, else allowlist.' },
  allowFrom: { label: '单聊白名单 DM allowlist', help: '钉钉 userId（staffId）或 senderId，可写 user:<id> / dingtalk:<id>；"*" 表示所有人。DingTalk user ids allowed to DM the robot.' },
  groupPolicy: { label: '群聊权限 Group policy', help: 'allowlist（默认）：仅 groupAllowFrom 或 groups 中列出的群；open：所有群；disabled：不回答群聊。Which groups the robot answers in.' },
  groupAllowFrom: { label: '群白名单 Group allowlist', help: '群的 openConversationId（cid…），"*" 表示所有群。openConversationIds of allowed groups.' },
  requireMention: { label: '群聊需 @机器人 Require mention', help: '默认开启：群里只回答 @机器人 的消息（机器人设为“接收群内所有消息”时也一样）。Answer group messages only when the robot is @-mentioned.' },
  groups: { label: '按群设置 Per-group settings', help: '键为群的 openConversationId：enabled、allowFrom（群内可用的人）、requireMention、systemPrompt。Per-group overrides.', advanced: true },
  refusalMessage: { label: '拒绝提示 Refusal message', help: '没有权限的人收到的一句话（每人每小时最多一次）；留空字符串则不回复。Sent to refused senders at most once an hour; "" for silence.', advanced: true },
  stopWords: { label: '停止词 Stop words', help: '发送这些词会停止正在进行的回答，默认 停止、/stop、stop、取消。Words that stop the answer in progress.', advanced: true },
  monthlyCallBudget: {
    label: '每月调用预算 Monthly call budget',
    help: '本应用每个自然月（按北京时间计）最多使用的钉钉接口调用次数，同一应用的所有账号共用；用完后只发 markdown 消息。默认 4000：标准版组织每月 5000 次（所有应用共用，获取 token 等不计），留 20% 给其他应用。实际额度见 钉钉开发者后台 → 资源管理。DingTalk calls this app may spend per calendar month (China time), shared by its accounts; default 4000 = 80 % of the standard edition’s 5,000 for the whole org. See the developer console → 资源管理 for your org’s figure.',
  },
  streaming: {
    label: '流式输出 Streaming',
    help: 'on（默认）：卡片逐字显示；dm：仅单聊；group：仅群聊；off：不流式，卡片先显示思考中，完成后一次显示全文（预算紧张时改用 markdown 消息）。Where answers stream; elsewhere a thinking card shows the whole answer at once.',
  },
  accounts: { label: '多个机器人 Accounts', help: '每个键是一个账号 id，未填写的项继承上层配置。Per-robot overrides.', advanced: true },
};
