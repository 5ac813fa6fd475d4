/**
 * The differences between the hosts this plugin runs in (OpenClaw, Clawdbot, Moltbot): how the gateway's
 * chat endpoint names an agent and which header sets the session key.
 */
export interface HostFlavor {
  name: 'openclaw' | 'clawdbot' | 'moltbot';
  /** The `model` field that selects an agent. */
  model(agentId: string): string;
  sessionHeaders: string[];
}

export const OPENCLAW: HostFlavor = {
  name: 'openclaw',
  model: (agentId) => `openclaw:${agentId}`,
  sessionHeaders: ['x-openclaw-session-key'],
};
