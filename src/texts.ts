/**
 * Every text a DingTalk user sees, in Chinese, and in English when the user wrote English.
 * Error texts name the fix; the README FAQ explains each one.
 */
import { randomBytes } from 'node:crypto';
import type { ReplyErrorKind } from './reply/engine.ts';

export type Lang = 'zh' | 'en';

/** English only when the message has Latin letters and no CJK characters. */
export function detectLang(text: string): Lang {
  if (/[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]/.test(text)) return 'zh';
  return /[A-Za-z]/.test(text) ? 'en' : 'zh';
}

const TEXTS = {
  sessionReset: { zh: '✅ 已开始新会话，之前的上下文已清空。', en: '✅ Started a new session; earlier context is cleared.' },
  emptyAnswer: { zh: '（智能体没有返回内容）', en: '(The agent returned no content.)' },
  unsupportedMessage: { zh: '[用户发送了一条暂不支持的消息：{type}]', en: '[The user sent a message type that is not supported yet: {type}]' },
  mediaPlaceholder: { zh: '[用户发送了{what}]', en: '[The user sent {what}]' },
  answerSentAsMessage: { zh: '💬 回答已以消息形式发送（见下方）。', en: '💬 The answer was sent as a message (see below).' },
  answerKept: {
    zh: '⚠️ 回答暂时无法送达（钉钉接口额度用尽或网络故障），已保存，会在你发送下一条消息时补发。',
    en: '⚠️ The answer could not be delivered right now (DingTalk quota used up or a network fault); it is kept and comes with your next message.',
  },
  cardInterrupted: {
    zh: '⚠️ 服务重启，这条回答没有写完。请重新发送你的问题。',
    en: '⚠️ The service restarted before this answer was finished. Please send your question again.',
  },
  maybeDuplicate: {
    zh: '（网络超时后重发：如果你已经收到过这条回答，请忽略本条。）',
    en: '(Resent after a network timeout: if you already got this answer, please ignore this one.)',
  },
  pendingAnswer: {
    zh: '📬 之前有一条回答没能送达（钉钉接口额度用尽或会话已过期），现补发如下：',
    en: '📬 An earlier answer could not be delivered (DingTalk quota used up or the session expired); here it is:',
  },
  mediaPending: { zh: '🖼️（图片处理中…）', en: '🖼️ (preparing image…)' },
  mediaFilePending: { zh: '📎（文件处理中…）', en: '📎 (preparing file…)' },
  mediaSentAsFile: { zh: '📎 {name}（已作为文件发送）', en: '📎 {name} (sent as a file)' },
  mediaRefused: { zh: '⚠️ 未发送「{name}」：{reason}', en: '⚠️ Not sent "{name}": {reason}' },
  mediaFileSendFailed: { zh: '⚠️ 文件「{name}」发送失败，请稍后重试。', en: '⚠️ Sending the file "{name}" failed; please try again.' },
  mediaFileBudgetSpent: { zh: '⚠️ 未发送文件「{name}」：本月的钉钉调用预算已用完。', en: '⚠️ The file "{name}" was not sent: this month’s DingTalk call budget is spent.' },
  'refused.not-found': { zh: '文件不存在', en: 'the file does not exist' },
  // Chat members are not the operator: no config keys here (the log line names mediaRoots).
  'refused.outside-roots': { zh: '文件不在允许发送的目录中', en: 'it is outside the folders files may be sent from' },
  'refused.sensitive': { zh: '这是受保护的配置或凭据文件', en: 'it is a protected config or credential file' },
  'refused.not-image': { zh: '文件内容不是图片', en: 'its content is not an image' },
  'refused.type-mismatch': { zh: '文件内容与扩展名不符', en: 'its content does not match its extension' },
  'refused.unsupported-type': { zh: '钉钉不支持发送这种文件类型', en: 'DingTalk does not accept this file type' },
  'refused.too-large': { zh: '超过钉钉的大小限制（20 MB）', en: 'it is over DingTalk’s size limit (20 MB)' },
  'refused.upload-failed': { zh: '上传到钉钉失败', en: 'the upload to DingTalk failed' },
  'refused.budget-spent': { zh: '本月的钉钉调用预算已用完', en: 'this month’s DingTalk call budget is spent' },
  inboundDownloadFailed: { zh: '⚠️ 未能读取你发送的{what}（{reason}），智能体没有看到它，请重新发送。', en: '⚠️ Could not read the {what} you sent ({reason}); the agent did not see it. Please send it again.' },
  inboundQuotedDownloadFailed: { zh: '⚠️ 未能读取你引用的消息中的{what}（{reason}），智能体没有看到它。', en: '⚠️ Could not read the {what} in the message you quoted ({reason}); the agent did not see it.' },
  // Causes only: the templates above and below already say that reading or downloading failed.
  inboundExpired: { zh: '钉钉的下载链接已过期', en: 'DingTalk’s download link expired' },
  inboundTooLarge: { zh: '超过 {mb} MB 的大小限制', en: 'it is over the {mb} MB size limit' },
  inboundForbidden: { zh: '应用缺少下载用户文件的权限，请在钉钉开发者后台为应用开通 qyapi_robot_sendmsg', en: 'the app may not download users’ files; grant it qyapi_robot_sendmsg in the DingTalk developer console' },
  inboundFailed: { zh: '钉钉文件服务暂时不可用', en: 'DingTalk’s file service was unavailable' },
  inboundSaved: { zh: '[用户发送了{what}，已保存到 {path}]', en: '[The user sent {what}, saved at {path}]' },
  answerStopped: { zh: '⏹️ 已停止回答。', en: '⏹️ Stopped.' },
  nothingToStop: { zh: '当前没有正在进行的回答。', en: 'There is no answer in progress to stop.' },
  queueFull: { zh: '⏳ 你已有 {n} 条消息在等待回答，这条没有收下；请等前面的回答完成后再发送。', en: '⏳ You already have {n} messages waiting for an answer; this one was not taken. Please send it again once they are answered.' },
  queued: { zh: '⏳ 前面还有 {n} 条消息在处理，稍后回答。', en: '⏳ {n} earlier message(s) are being answered first; yours is next in line.' },
  accessRefused: { zh: '🙏 抱歉，你暂时没有使用这个机器人的权限，请联系管理员开通。', en: 'Sorry, you do not have access to this robot yet; please ask an administrator to allow you.' },
  pairingCode: {
    zh: '🔐 你还没有使用这个机器人的权限。配对码：{code}\n\n请把配对码发给管理员，由管理员运行：{command}（配对码 1 小时内有效）',
    en: '🔐 You do not have access to this robot yet. Pairing code: {code}\n\nSend it to an administrator, who runs: {command} (the code is valid for 1 hour)',
  },
  inboundNotSeen: { zh: '[用户发送了{what}，但未能下载（{reason}）]', en: '[The user sent {what}, but it could not be downloaded ({reason})]' },
  quotedMediaPlaceholder: { zh: '[用户引用的较早消息中的{what}（见附带的图片；不是用户这次发送的）]', en: '[{what} from the earlier message the user quoted (attached; not sent by the user now)]' },
  quotedMediaSaved: { zh: '[用户引用的较早消息中的{what}（不是用户这次发送的），已保存到 {path}]', en: '[{what} from the earlier message the user quoted (not sent by the user now), saved at {path}]' },
  quotedMediaNotSeen: { zh: '[用户引用的较早消息中的{what}，未能下载（{reason}）]', en: '[{what} from the earlier message the user quoted could not be downloaded ({reason})]' },
  groupSender: { zh: '[{name} 说：]', en: '[{name} says:]' },
  quoteOfRobot: { zh: '你（机器人）之前的一条回答', en: 'your (the robot’s) earlier answer' },
  quoteOfEarlier: { zh: '一条较早的消息', en: 'an earlier message' },
  quoteHeader: { zh: '[用户引用了{what}：]', en: '[The user quoted {what}:]' },
  quoteUnreadable: { zh: '[用户引用了{what}，但钉钉没有提供它的内容，无法读取]', en: '[The user quoted {what}, but DingTalk did not provide its content, so it cannot be read]' },
  sharedCard: { zh: '[用户分享了一张钉钉卡片或文档：]', en: '[The user shared a DingTalk card or document:]' },
  sharedCardEmpty: { zh: '[用户分享了一张钉钉卡片或文档，但钉钉没有提供它的内容]', en: '[The user shared a DingTalk card or document, but DingTalk did not provide its content]' },
  sharedChatRecord: { zh: '[用户转发了一段聊天记录：]', en: '[The user forwarded a chat history:]' },
  sharedChatRecordEmpty: { zh: '[用户转发了一段聊天记录，但钉钉没有提供其中的消息]', en: '[The user forwarded a chat history, but DingTalk did not provide its messages]' },
  answerContinues: { zh: '（回答较长，其余部分在下方消息中继续）', en: '(The answer is long; it continues in the messages below.)' },
  mentionsWithoutNames: {
    zh: '[用户在消息中 @ 了 {count} 位成员，钉钉没有提供他们的姓名；用户 ID：{ids}]',
    en: '[The user @-mentioned {count} member(s); DingTalk did not include their names. User IDs: {ids}]',
  },
} satisfies Record<string, Record<Lang, string>>;

export type TextKey = keyof typeof TEXTS;

/**
 * Setup problems on the DingTalk side that only the operator sees (`doctor`, the host's channel probe), each with
 * its fix. Failures a user sees (the gateway's, shutdown, …) are in FAILURE_TEXTS below; the doctor names their
 * fix with `failureFix`, so the card and the doctor say the same.
 */
export const CAUSES = {
  'dingtalk.credentials': {
    zh: { problem: '钉钉拒绝了 clientId/clientSecret', fix: '请从钉钉开放平台的应用“凭证与基础信息”页重新复制 channels.dingtalk-ai.clientId 和 clientSecret' },
    en: { problem: 'DingTalk rejected clientId/clientSecret', fix: 'copy channels.dingtalk-ai.clientId and clientSecret again from the app’s credentials page in the DingTalk developer console' },
  },
  'dingtalk.unreachable': {
    zh: { problem: '无法连接 {detail}', fix: '请检查 DNS 和防火墙；需要经公司代理上网时设置 HTTPS_PROXY（本地地址写进 NO_PROXY）' },
    en: { problem: 'Cannot reach {detail}', fix: 'check DNS and the firewall; behind a corporate proxy set HTTPS_PROXY=http://<proxy>:<port> (and NO_PROXY for local addresses)' },
  },
  'card.permission': {
    zh: { problem: '钉钉应用缺少 AI 卡片权限{detail}', fix: '请在钉钉开放平台为应用开通 Card.Instance.Write / Card.Streaming.Write 并重新发布应用' },
    en: { problem: 'The DingTalk app lacks the AI card permissions{detail}', fix: 'grant Card.Instance.Write / Card.Streaming.Write to the app in the DingTalk developer console and publish the app again' },
  },
  'card.delivery': {
    zh: { problem: '钉钉创建了 AI 卡片但没有送达（{detail}）', fix: '请在钉钉开放平台为应用添加“机器人”能力（消息接收模式选 Stream）并重新发布应用，并确认用户或群在机器人的可见范围内' },
    en: { problem: 'DingTalk made the AI card but did not deliver it ({detail})', fix: 'add the robot capability to the app in the DingTalk developer console (message receiving mode: Stream), publish the app again, and make sure the user or group can see the robot' },
  },
  'card.template': {
    zh: { problem: 'AI 卡片模板不可用（{detail}）', fix: '请把 channels.dingtalk-ai.cardTemplateId 设为已发布的模板，或删掉它以使用默认模板' },
    en: { problem: 'The AI card template is unavailable ({detail})', fix: 'set channels.dingtalk-ai.cardTemplateId to a published template, or remove it to use the default' },
  },
  'media.permission': {
    zh: { problem: '钉钉应用不能上传文件{detail}', fix: '请在钉钉开放平台为应用开通所需权限并重新发布应用，或设置 channels.dingtalk-ai.enableMediaUpload: false' },
    en: { problem: 'The DingTalk app cannot upload media{detail}', fix: 'grant the app the permission DingTalk names and publish it again, or set channels.dingtalk-ai.enableMediaUpload: false' },
  },
} satisfies Record<string, Record<Lang, { problem: string; fix: string }>>;

export type Cause = keyof typeof CAUSES;

const fill = (t: string, vars: Record<string, string | number>) => t.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));

/** The operator's fix for a cause (English), as `doctor` and the channel probe print it. */
export function causeFix(cause: Cause): string {
  return CAUSES[cause].en.fix;
}

/** The operator's one-line description of a cause (English). */
export function causeProblem(cause: Cause, vars: Record<string, string | number> = {}): string {
  return fill(CAUSES[cause].en.problem, vars);
}

export function text(key: TextKey, lang: Lang, vars: Record<string, string | number> = {}): string {
  return TEXTS[key][lang].replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
}

/**
 * Why an answer failed or stopped short, as a user may be told. The same causes are used by the logs (with the
 * detail and the reference id) and by the doctor; the texts never carry upstream bodies, addresses or secrets.
 */
export type FailureCause = ReplyErrorKind | 'shutdown' | 'internal';

/**
 * One fixed text per cause, naming the fix where the operator can fix it. `{ref}` is a short reference id that
 * also appears in the log line with the detail; `{status}` the gateway's HTTP status. Written to stand alone
 * (no answer) and as a note under a partial answer.
 */
export const FAILURE_TEXTS: Record<FailureCause, Record<Lang, string>> = {
  unauthorized: {
    zh: '⚠️ 网关鉴权失败（HTTP {status}）。请检查 channels.dingtalk-ai.gatewayToken / gatewayPassword 是否与网关的 gateway.auth 配置一致。（编号 {ref}）',
    en: '⚠️ The gateway rejected our credentials (HTTP {status}). Check channels.dingtalk-ai.gatewayToken / gatewayPassword against gateway.auth. (ref {ref})',
  },
  // OpenClaw 2026.9.6 answers 404 on /v1/chat/completions when the endpoint is off, older hosts 405.
  'endpoint-disabled': {
    zh: '⚠️ 网关未开启 OpenAI 兼容接口（HTTP {status}）。请在网关配置中设置 gateway.http.endpoints.chatCompletions.enabled = true（网关会自动重新加载配置）。（编号 {ref}）',
    en: '⚠️ The gateway’s OpenAI-compatible endpoint is off (HTTP {status}). Set gateway.http.endpoints.chatCompletions.enabled = true in the gateway config (it reloads by itself). (ref {ref})',
  },
  'no-model': {
    zh: '⚠️ 网关没有可用的模型。请在网关中为智能体配置模型（agents.defaults.model.primary）及其服务商的 API 密钥。（编号 {ref}）',
    en: '⚠️ The gateway has no model to answer with. Configure a model for the agent in the gateway (agents.defaults.model.primary) and its provider’s API key. (ref {ref})',
  },
  'not-found': {
    zh: '⚠️ 网关地址不对（HTTP 404）。请检查 channels.dingtalk-ai.gatewayUrl，应以 /v1/chat/completions 结尾。（编号 {ref}）',
    en: '⚠️ Wrong gateway address (HTTP 404). Check channels.dingtalk-ai.gatewayUrl; it should end with /v1/chat/completions. (ref {ref})',
  },
  rejected: {
    zh: '⚠️ 网关拒绝了请求（HTTP 400）。请检查 channels.dingtalk-ai.agentId 是否为已存在的智能体；详情见插件日志。（编号 {ref}）',
    en: '⚠️ The gateway refused the request (HTTP 400). Check that channels.dingtalk-ai.agentId names an existing agent; details are in the plugin log. (ref {ref})',
  },
  unreachable: {
    zh: '⚠️ 无法连接网关。请确认网关正在运行，且 channels.dingtalk-ai.gatewayUrl 的地址和端口正确。（编号 {ref}）',
    en: '⚠️ Cannot reach the gateway. Make sure it is running and channels.dingtalk-ai.gatewayUrl has the right host and port. (ref {ref})',
  },
  timeout: {
    zh: '⚠️ 网关长时间没有响应，已停止等待。请稍后重试；如经常发生，可调大 channels.dingtalk-ai.gatewayTimeout。（编号 {ref}）',
    en: '⚠️ The gateway stopped responding. Please try again; if this keeps happening, raise channels.dingtalk-ai.gatewayTimeout. (ref {ref})',
  },
  deadline: {
    zh: '⚠️ 回答超过了最长时间，已停止等待，以上内容可能不完整。如需更长的回答时间，可调大 channels.dingtalk-ai.answerTimeout。（编号 {ref}）',
    en: '⚠️ The answer took longer than allowed and was stopped; it may be incomplete. Raise channels.dingtalk-ai.answerTimeout for longer answers. (ref {ref})',
  },
  cut: {
    zh: '⚠️ 与网关的连接中断，回答不完整。请重新发送你的问题。（编号 {ref}）',
    en: '⚠️ The connection to the gateway broke off; the answer is incomplete. Please send your question again. (ref {ref})',
  },
  failed: {
    zh: '⚠️ 智能体处理出错。请稍后重试，或按编号查看插件和网关日志。（编号 {ref}）',
    en: '⚠️ The agent failed. Please try again, or look up the reference in the plugin and gateway logs. (ref {ref})',
  },
  shutdown: {
    zh: '⚠️ 服务正在重启，这条消息没有回答完，请稍后重新发送。',
    en: '⚠️ The service is restarting and this answer was cut short; please send your message again shortly.',
  },
  internal: {
    zh: '⚠️ 插件内部出错，这条消息没有回答完。请稍后重试，或按编号查看插件日志。（编号 {ref}）',
    en: '⚠️ Something went wrong inside the plugin and this answer is incomplete. Please try again, or look up the reference in the plugin log. (ref {ref})',
  },
};

/** The fixed text for `cause`; `ref` is the reference id also written to the log. */
export function failureText(cause: FailureCause, lang: Lang, vars: { ref: string; status?: number }): string {
  return FAILURE_TEXTS[cause][lang].replace(/\{(\w+)\}/g, (_, k: string) => String((vars as Record<string, unknown>)[k] ?? ''));
}

/** A short reference id shown to the user and written to the log beside the detail, e.g. `a1b2c3`. */
export function referenceId(): string {
  return randomBytes(3).toString('hex');
}

/**
 * What `doctor` and the channel probe print as the fix for a failure a user would see: the user's English text
 * without the warning sign and the reference, so both name the same fix.
 */
export function failureFix(cause: FailureCause, vars: { status?: number } = {}): string {
  return failureText(cause, 'en', { ref: '', ...vars }).replace(/^⚠️ /, '').replace(/ \(ref \)$/, '');
}
