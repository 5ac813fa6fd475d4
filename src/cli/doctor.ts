/**
 * `dingtalk-connector doctor`: runs the checks of src/doctor.ts for every account of a standalone config (file or
 * environment) or of a host's config (`--host-config ~/.openclaw/openclaw.json`), one line per check.
 * Exit code 1 when any check failed.
 */
import { basename, dirname, join } from 'node:path';
import { CallGovernor, CALL_BUDGET_NS } from '../dingtalk/governor.ts';
import { readFileStoreNamespace } from '../store.ts';
import { DEFAULT_STATE_DIR } from '../connector.ts';
import { CHANNEL_ID, listAccountIds, resolveAccount, type HostConfig } from '../config.ts';
import { doctorFailed, formatCheck, runDoctor } from '../doctor.ts';
import type { GovernorStatus } from '../dingtalk/governor.ts';
import { CLAWDBOT, MOLTBOT, OPENCLAW, type HostFlavor } from '../host.ts';
import { readHostConfig, readStandaloneConfig } from './config-file.ts';
import type { CliIo } from './main.ts';
import { withoutUserinfo } from '../log.ts';

export interface DoctorArgs {
  config?: string;
  hostConfig?: string;
  account?: string;
  gateway?: string;
}

export async function doctorCommand(args: DoctorArgs, io: CliIo): Promise<number> {
  if (args.config && args.hostConfig) {
    io.err('dingtalk-connector: doctor takes --config or --host-config, not both');
    return 64;
  }
  let cfg: HostConfig;
  let host: HostFlavor;
  if (args.hostConfig) {
    cfg = await readHostConfig(args.hostConfig);
    host = flavorOf(args.gateway, args.hostConfig);
    if (!cfg.channels?.[CHANNEL_ID]) io.out(`! ${args.hostConfig} has no channels.${CHANNEL_ID} section (install the plugin first, then add it: see README)`);
  } else {
    cfg = { channels: { [CHANNEL_ID]: args.config ? await readStandaloneConfig(args.config) : {} } };
    host = flavorOf(args.gateway, '');
  }
  const ids = args.account ? [args.account] : listAccountIds(cfg, io.env);
  let failed = false;
  for (const id of ids) {
    // Resolved exactly as the host resolves it: OpenClaw, Clawdbot and Moltbot give channel plugins DM pairing
    // (api.runtime.channel.pairing), so "pairing" is valid there and the default; the standalone connector has none.
    const account = resolveAccount(cfg, id, io.env, { pairing: !!args.hostConfig });
    io.out(`dingtalk-connector doctor: account "${id}"${args.hostConfig ? ` in ${args.hostConfig}` : ''} (${host.name} gateway at ${withoutUserinfo(account.gateway.url)})`);
    const checks = await runDoctor({ account, hostConfig: args.hostConfig ? cfg : undefined, host, callBudget: await callBudgetOnRecord(account, args, io), stateDir: stateDirOf(account, args, io) });
    for (const c of checks) io.out(formatCheck(c));
    failed ||= doctorFailed(checks);
  }
  io.out(failed ? 'Some checks failed: apply the fixes above and run doctor again.' : 'All checks passed.');
  return failed ? 1 : 0;
}

/**
 * The app's call counters of this month as the running gateway (or connector) keeps them in the account's state folder,
 * read without writing (src/store.ts readFileStoreNamespace); undefined when the folder is not known or holds none.
 * The host's folder: its state-dir env variable, else the folder of `--host-config`; the standalone connector's:
 * DINGTALK_STATE_DIR, else its default folder.
 */
async function callBudgetOnRecord(account: ReturnType<typeof resolveAccount>, args: DoctorArgs, io: CliIo): Promise<GovernorStatus | undefined> {
  if (!account.clientId) return undefined;
  const dir = stateDirOf(account, args, io);
  if (!dir) return undefined;
  const records = await readFileStoreNamespace(dir, CALL_BUDGET_NS);
  if (records.size === 0) return undefined;
  const governor = new CallGovernor({ clientId: account.clientId, monthlyCallBudget: account.monthlyCallBudget });
  await governor.attach({ get: async <T>(_ns: string, key: string) => records.get(key) as T | undefined }, { readOnly: true });
  return governor.status();
}

/** The account's state folder: its stateDir, else `<host or connector state folder>/dingtalk-ai/<accountId>`. */
function stateDirOf(account: ReturnType<typeof resolveAccount>, args: DoctorArgs, io: CliIo): string | undefined {
  const hostDir = args.hostConfig ? (io.env.OPENCLAW_STATE_DIR ?? io.env.CLAWDBOT_STATE_DIR ?? io.env.MOLTBOT_STATE_DIR ?? dirname(args.hostConfig)) : (io.env.DINGTALK_STATE_DIR ?? DEFAULT_STATE_DIR);
  return account.stateDir ?? (hostDir ? join(hostDir, 'dingtalk-ai', account.accountId) : undefined);
}

/** `--gateway` when given, else the host named by the config file (`clawdbot.json` → Clawdbot), else OpenClaw. */
function flavorOf(flag: string | undefined, path: string): HostFlavor {
  const name = (flag ?? basename(path)).toLowerCase();
  if (name.includes('clawdbot')) return CLAWDBOT;
  if (name.includes('moltbot')) return MOLTBOT;
  return OPENCLAW;
}
