/**
 * DingTalk (钉钉) channel for OpenClaw / Clawdbot / Moltbot. Registers the channel `dingtalk-ai`;
 * everything else lives in src/. `register` stays synchronous and side-effect free: hosts call it in
 * several modes (and from CLI commands); connections start only when the gateway starts an account.
 */
import { createChannel, type PluginApi } from './src/channel.ts';

export default {
  id: 'dingtalk-connector',
  name: 'DingTalk',
  description: 'DingTalk robot channel (Stream mode) with streaming AI Card answers',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  register(api: PluginApi): void {
    api.registerChannel({ plugin: createChannel(api) });
  },
};
