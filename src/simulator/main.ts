/**
 * `npm start` entry: parse the command line, start the simulator (./server.ts), print the page's URL, and stop
 * everything on Ctrl-C (SIGINT) or SIGTERM. A second Ctrl-C exits at once.
 *
 *   npm start [-- --port 8780] [--gateway-url http://127.0.0.1:18789/v1/chat/completions] [--host openclaw|clawdbot|moltbot]
 *
 * The gateway's token comes from MOLTBOT_GATEWAY_TOKEN / OPENCLAW_GATEWAY_TOKEN / CLAWDBOT_GATEWAY_TOKEN.
 */
import { parseArgs } from 'node:util';
import { CLAWDBOT, MOLTBOT, OPENCLAW } from '../host.ts';
import { startSimulator } from './server.ts';

const HOSTS = { openclaw: OPENCLAW, clawdbot: CLAWDBOT, moltbot: MOLTBOT };
const USAGE = `usage: npm start -- [--port N] [--gateway-url URL] [--host openclaw|clawdbot|moltbot] [--quiet]
  --port         port of the web page (default 8780; another free port when taken)
  --gateway-url  answer with this OpenAI-compatible /v1/chat/completions endpoint instead of the built-in echo model
                 (token from MOLTBOT_GATEWAY_TOKEN, OPENCLAW_GATEWAY_TOKEN or CLAWDBOT_GATEWAY_TOKEN)
  --host         which host the plugin believes it runs in (default openclaw)
  --quiet        do not print the plugin's log lines`;

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        port: { type: 'string', default: '8780' },
        'gateway-url': { type: 'string' },
        host: { type: 'string', default: 'openclaw' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(args.port);
  const host = HOSTS[args.host as keyof typeof HOSTS];
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !host) {
    console.error(`${!host ? `--host must be openclaw, clawdbot or moltbot, got "${args.host}"` : `--port must be a port number, got "${args.port}"`}\n${USAGE}`);
    process.exit(2);
  }
  const gatewayUrl = args['gateway-url'];
  if (gatewayUrl !== undefined && !/^https?:\/\/[^/\s]+/.test(gatewayUrl)) {
    console.error(`--gateway-url must be an http(s) URL such as http://127.0.0.1:18789/v1/chat/completions, got "${gatewayUrl}"`);
    process.exit(2);
  }
  const env = process.env;
  const sim = await startSimulator({
    port,
    host,
    gatewayUrl,
    gatewayToken: env.MOLTBOT_GATEWAY_TOKEN ?? env.OPENCLAW_GATEWAY_TOKEN ?? env.CLAWDBOT_GATEWAY_TOKEN,
    print: args.quiet ? () => {} : (line) => console.log(line),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    console.log(`\n${signal}: stopping the simulator…`);
    sim.close().then(
      () => {
        console.log('simulator stopped; temp folder removed');
        process.exit(0);
      },
      (err: unknown) => {
        console.error(`simulator stop failed: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  console.log(`\n  钉钉模拟器 DingTalk simulator:  ${sim.url}\n  answers from: ${gatewayUrl ?? 'built-in echo model'} · Ctrl-C to stop\n`);
}

main().catch((err: unknown) => {
  console.error(`simulator failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
