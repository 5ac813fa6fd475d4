/**
 * Where answers may send files from, what is never sent, and the prompt that tells the agent how to
 * show an image or send a file.
 */
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostConfig, ResolvedAccount } from '../config.ts';
import type { MediaPolicy } from './safety.ts';
import { secretsInConfig } from './secrets.ts';

export function mediaPolicy(account: ResolvedAccount, cfg: HostConfig, stateDir: string): MediaPolicy {
  const home = homedir();
  const workspace = cfg.agents?.defaults?.workspace;
  const hostDirs = [stateDir, join(home, '.openclaw'), join(home, '.clawdbot'), join(home, '.moltbot')];
  return {
    roots: [tmpdir(), join(stateDir, 'media'), join(stateDir, 'workspace'), join(home, 'clawd'), ...(workspace ? [workspace] : []), ...account.mediaRoots],
    protectedDirs: [...hostDirs, join(home, '.ssh'), join(home, '.aws'), join(home, '.gnupg')],
    sensitiveFiles: [
      ...[process.env.OPENCLAW_CONFIG_PATH, process.env.CLAWDBOT_CONFIG_PATH, process.env.MOLTBOT_CONFIG_PATH].filter((p): p is string => !!p),
      ...hostDirs.flatMap((d) => ['openclaw.json', 'clawdbot.json', 'moltbot.json'].map((f) => join(d, f))),
    ],
    // The config as the host resolved it (env substitutions included) plus this robot's own credentials;
    // the config files on disk are read again at each check (safety.ts).
    secrets: [...secretsInConfig(cfg, new Set([account.clientSecret, account.gateway.credential ?? ''].filter((v) => v.length >= 8)))],
    inboundDir: inboundMediaDir(stateDir),
  };
}

/** Where files users send are saved (under the host's media folder, so the host may read them). */
export function inboundMediaDir(stateDir: string): string {
  return join(stateDir, 'media', 'inbound');
}

export function mediaSystemPrompt(account: ResolvedAccount, policy: MediaPolicy): string | undefined {
  if (!account.enableMediaUpload) return undefined;
  if (account.mediaSystemPrompt !== undefined) return account.mediaSystemPrompt.trim() || undefined;
  return [
    'You are answering in DingTalk. To show the user an image stored on this machine, write markdown with its absolute path: ![short description](/absolute/path/image.png).',
    'To send a document, spreadsheet, slide deck, archive, audio or video file (pdf, docx, xlsx, pptx, zip, rar, mp3, mp4 …), put a line `MEDIA: /absolute/path/to/file` in your answer; it is delivered as a file after your answer.',
    `Only files under these folders can be sent, up to 20 MB each: ${policy.roots.join(', ')}.`,
    ...(policy.inboundDir
      ? [`Files the user sent you are saved under ${policy.inboundDir}; the user already has them, so naming such a path sends nothing. Send one back only when the user asks for it, with a \`MEDIA:\` line.`]
      : []),
  ].join('\n');
}
