/**
 * `dingtalk-connector <command>`: `run` (the standalone connector) and `doctor` (checks that name the fix).
 * Exit codes: 0 fine; 1 a check failed or the connector stopped on an error; 64 bad usage; 78 config error
 * (EX_CONFIG, as the hosts use), with one line per problem on stderr.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../config.ts';
import { hostErrorMessage } from '../dingtalk/errors.ts';
import { DingTalkConnector, type GatewayFlavor } from '../connector.ts';
import type { HostLogger } from '../log.ts';
import { ConfigFileError, readStandaloneConfig } from './config-file.ts';
import { doctorCommand } from './doctor.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 64;
export const EXIT_CONFIG = 78;

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  /** Where SIGINT/SIGTERM come from (tests pass their own emitter). */
  signals: Pick<NodeJS.Process, 'once' | 'removeListener'>;
}

const defaultIo = (): CliIo => ({
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  env: process.env,
  signals: process,
});

export const USAGE = `Usage:
  dingtalk-connector run    [--config <file.json>] [--state-dir <dir>] [--gateway openclaw|clawdbot|moltbot]
  dingtalk-connector doctor [--config <file.json> | --host-config <openclaw.json|clawdbot.json|moltbot.json>] [--account <id>]

The config file has the keys of channels.dingtalk-ai (see README). Without one, the environment is used:
DINGTALK_CLIENT_ID, DINGTALK_CLIENT_SECRET, DINGTALK_GATEWAY_URL, DINGTALK_SESSION_TIMEOUT,
MOLTBOT_GATEWAY_TOKEN / OPENCLAW_GATEWAY_TOKEN.`;

export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        config: { type: 'string' },
        'host-config': { type: 'string' },
        'state-dir': { type: 'string' },
        gateway: { type: 'string' },
        account: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    io.err(`dingtalk-connector: ${(err as Error).message}`);
    io.err(USAGE);
    return EXIT_USAGE;
  }
  if (!command || command === 'help' || command === '--help' || command === '-h' || parsed.help) {
    io.out(USAGE);
    return command && command !== 'help' && command !== '--help' && command !== '-h' && !parsed.help ? EXIT_USAGE : EXIT_OK;
  }
  try {
    if (command === 'run') return await runCommand(parsed, io);
    if (command === 'doctor') return await doctorCommand({ config: parsed.config, hostConfig: parsed['host-config'], account: parsed.account, gateway: parsed.gateway }, io);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof ConfigFileError) {
      for (const line of err instanceof ConfigError ? err.problems : [err.message]) io.err(`dingtalk-connector: config: ${line}`);
      return EXIT_CONFIG;
    }
    // Our words with DingTalk's code and requestid, never its body (hostErrorMessage); the log lines above have the rest.
    io.err(`dingtalk-connector: ${hostErrorMessage(err)}`);
    return EXIT_FAILED;
  }
  io.err(`dingtalk-connector: unknown command "${command}"`);
  io.err(USAGE);
  return EXIT_USAGE;
}

async function runCommand(args: { config?: string; 'state-dir'?: string; gateway?: string }, io: CliIo): Promise<number> {
  const config = args.config ? await readStandaloneConfig(args.config) : {};
  const logger: HostLogger = {
    info: (m) => io.out(`${new Date().toISOString()} info ${m}`),
    warn: (m) => io.err(`${new Date().toISOString()} warn ${m}`),
    error: (m) => io.err(`${new Date().toISOString()} error ${m}`),
    debug: (m) => io.out(`${new Date().toISOString()} debug ${m}`),
  };
  const connector = new DingTalkConnector({
    config,
    stateDir: args['state-dir'] ?? io.env.DINGTALK_STATE_DIR,
    gateway: args.gateway as GatewayFlavor | undefined,
    logger,
    env: io.env,
  });
  await connector.start();
  let stopping: Promise<void> | undefined;
  const onSignal = (signal: string) => {
    if (stopping) {
      io.err(`dingtalk-connector: ${signal} again; exiting now`);
      process.exit(EXIT_FAILED);
    }
    io.out(`dingtalk-connector: ${signal}: stopping (answers in flight end with a restart note)`);
    stopping = connector.stop();
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  io.signals.once('SIGINT', onInt);
  io.signals.once('SIGTERM', onTerm);
  try {
    await connector.done();
    await stopping;
    io.out('dingtalk-connector: stopped');
    return EXIT_OK;
  } catch (err) {
    io.err(`dingtalk-connector: stopped on an error: ${hostErrorMessage(err)}`);
    return EXIT_FAILED;
  } finally {
    io.signals.removeListener('SIGINT', onInt);
    io.signals.removeListener('SIGTERM', onTerm);
  }
}
