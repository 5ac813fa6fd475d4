/** Robot callback payloads for the inbound tests, from the fake's builders (each shape DingTalk sends; sources in messages.ts). */
import { parseRobotMessage, type InboundMessage } from '../../src/inbound.ts';
import { messageBuilders } from '../fake-dingtalk/messages.ts';
import { FakeState } from '../fake-dingtalk/state.ts';

const st = new FakeState();
export const msg = messageBuilders(st);
export const BOT = st.app().chatbotUserId;
export const LISI = { dingtalkId: '$:LWCP_v1:$lisi0000000000000000', staffId: 'lisi01' };
export const WANGWU = { dingtalkId: '$:LWCP_v1:$wangwu000000000000000', staffId: 'wangwu01' };

/** The parsed message; throws the reason when the payload is refused. */
export function parse(payload: object): InboundMessage {
  const r = parseRobotMessage(JSON.stringify(payload));
  if (!r.ok) throw new Error(r.reason);
  return r.message;
}
