/**
 * Config files the CLI reads: the standalone file (the keys of `channels.dingtalk-ai`) and a host's whole config
 * (`openclaw.json`, `clawdbot.json`, `moltbot.json`). Both are read as JSON5: the hosts' files carry comments,
 * unquoted keys and trailing commas (the json5 package, the parser the hosts themselves document).
 */
import { readFile } from 'node:fs/promises';
import JSON5 from 'json5';
import { CHANNEL_ID, type DingTalkChannelConfig, type HostConfig } from '../config.ts';

/** A config file that cannot be read or parsed; the message names the file and the fix. */
export class ConfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFileError';
  }
}

async function readJson5(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ConfigFileError(`${path} cannot be read (${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}): check the path`);
  }
  try {
    return JSON5.parse(text);
  } catch (err) {
    // json5 says where: "JSON5: invalid character 'x' at 3:5".
    throw new ConfigFileError(`${path} is not valid JSON/JSON5 (${(err as Error).message.replace(/^JSON5: /, '')}): fix the syntax there`);
  }
}

/** The standalone connector's file: an object with the keys of `channels.dingtalk-ai`. */
export async function readStandaloneConfig(path: string): Promise<DingTalkChannelConfig> {
  const value = await readJson5(path);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigFileError(`${path} must hold one object with the keys of channels.${CHANNEL_ID} (clientId, clientSecret, …)`);
  return value as DingTalkChannelConfig;
}

/** A host's config file; its `channels.dingtalk-ai` section is what the plugin reads. */
export async function readHostConfig(path: string): Promise<HostConfig> {
  const value = await readJson5(path);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigFileError(`${path} must hold one object (the host's config)`);
  return value as HostConfig;
}
