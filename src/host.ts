/**
 * The differences between the hosts this plugin runs in. OpenClaw (2026.9+) answers 400 to any model
 * but `openclaw[:/]<agent>` / `agent:<agent>`; Clawdbot matches `clawdbot[:/]<agent>` / `agent:<agent>`
 * and runs `main` for anything else. Each reads its own session-key header.
 */
export interface HostFlavor {
  name: 'openclaw' | 'clawdbot' | 'moltbot';
  /** The `model` field that selects an agent. */
  model(agentId: string): string;
  sessionHeaders: string[];
  /**
   * Does the chat endpoint pass `image_url` parts to the model? OpenClaw does (and would load a path named in
   * the text a second time); Clawdbot drops them and loads the path instead.
   */
  imageParts: boolean;
  /** How the host's router (`resolveAgentRoute`) names a direct chat peer. */
  directPeerKind: 'direct' | 'dm';
  /** Before the session key sent to the chat endpoint: OpenClaw needs it agent-scoped (`agent:<id>:…`). */
  sessionKeyPrefix(agentId: string): string;
}

export const OPENCLAW: HostFlavor = {
  name: 'openclaw',
  model: (agentId) => `openclaw:${agentId}`,
  sessionHeaders: ['x-openclaw-session-key'],
  imageParts: true,
  directPeerKind: 'direct',
  sessionKeyPrefix: (agentId) => `agent:${agentId}:`,
};

export const CLAWDBOT: HostFlavor = {
  name: 'clawdbot',
  model: (agentId) => `clawdbot:${agentId}`,
  sessionHeaders: ['x-clawdbot-session-key'],
  imageParts: false,
  directPeerKind: 'dm',
  sessionKeyPrefix: () => '',
};

/** Moltbot sat between the two; `agent:<id>` is the spelling both of its neighbours accept. */
export const MOLTBOT: HostFlavor = {
  name: 'moltbot',
  model: (agentId) => `agent:${agentId}`,
  sessionHeaders: ['x-moltbot-session-key', 'x-clawdbot-session-key', 'x-openclaw-session-key'],
  imageParts: false,
  directPeerKind: 'dm',
  sessionKeyPrefix: () => '',
};

/** The parts of the host's plugin API that tell the hosts apart. */
export interface HostProbe {
  registrationMode?: unknown;
  source?: unknown;
}

/** OpenClaw's plugin API has `registrationMode`; the older hosts do not, and differ only in name. */
export function detectHost(api: HostProbe, argv: string[] = process.argv): HostFlavor {
  if (api.registrationMode !== undefined) return OPENCLAW;
  const where = `${argv.slice(0, 2).join(' ')} ${typeof api.source === 'string' ? api.source : ''}`.toLowerCase();
  if (where.includes('moltbot')) return MOLTBOT;
  if (where.includes('openclaw')) return OPENCLAW;
  return CLAWDBOT;
}
