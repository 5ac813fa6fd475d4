/**
 * The README's install section, run literally on both hosts: the code blocks between the
 * `readme-install:begin` / `readme-install:end` markers, in the order written. Shell lines for this host's CLI
 * run as they are (`"$PWD"` is the checkout); the JSON5 snippet is merged into the host's config file as a user
 * would; the status line the README quotes must be what `channels status --probe` prints. If the README's steps or
 * snippet drift from what the hosts accept, this fails.
 *
 * The test adds only what a sandbox needs and a user's machine already has: the mock model and offline settings
 * (written before the first step, no `gateway` or `channels` keys), and, merged over the snippet, the gateway port
 * and the fake DingTalk's credentials and addresses (loopback). Lines for `git clone` / `npm install` are this
 * checkout itself.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import JSON5 from 'json5';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeDingTalk, type FakeDingTalk } from '../fake-dingtalk/index.ts';
import { EgressTrap } from './lib/egress-trap.ts';
import { HostInstance, hostSpec, loadHosts, type HostName } from './lib/hosts.ts';
import { MockLlm } from './lib/mock-llm.ts';
import { freePort } from './lib/net.ts';
import { REPO } from './lib/suite.ts';

interface Block {
  lang: string;
  body: string;
}

/** The fenced code blocks between the README's install markers, in order. */
export function installBlocks(readme: string): Block[] {
  const begin = readme.indexOf('<!-- readme-install:begin');
  const end = readme.indexOf('<!-- readme-install:end -->');
  if (begin < 0 || end < begin) throw new Error('README.md has no readme-install:begin / readme-install:end markers');
  const section = readme.slice(begin, end);
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}

/** `a "b c" $PWD` → ['a', 'b c', REPO]: the little shell the README's lines use. */
function shellWords(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => (m[1] ?? m[2]!).replace(/\$PWD/g, REPO));
}

function deepMerge(base: Record<string, any>, over: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' ? deepMerge(out[k], v) : v;
  }
  return out;
}

const HOSTS: HostName[] = ['openclaw', 'clawdbot'];
const OTHER_CLIS = ['openclaw', 'clawdbot', 'moltbot'];

for (const name of HOSTS) {
  const hosts = loadHosts();
  const spec = hostSpec(name, hosts);
  describe(`README install section on ${name}@${spec.version}`, () => {
    let root = '';
    let fake: FakeDingTalk;
    let mock: MockLlm;
    let host: HostInstance;
    let port = 0;
    let failed = false;
    const trap = new EgressTrap();

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), `dt-e2e-readme-${name}-`));
      port = await freePort();
      await trap.start();
      fake = await startFakeDingTalk({ redelivery: { afterMs: 120_000 } });
      mock = await MockLlm.start();
      host = new HostInstance({ spec, hosts, root, extraEnv: trap.env() });
    });

    afterAll(async () => {
      await host?.stopGateway();
      await mock?.stop();
      await fake?.close();
      await trap.stop();
      if (!failed && !process.env.E2E_KEEP) await rm(root, { recursive: true, force: true });
      else console.log(`[e2e] README on ${name}: kept ${root}`);
    });

    test('the steps work in the order written, the snippet starts a fresh host, and the quoted status line is what it prints', { timeout: 600_000 }, async () => {
      try {
        const blocks = installBlocks(await readFile(join(REPO, 'README.md'), 'utf8'));
        // The sandbox: the mock model, nothing that reaches the internet. No gateway, no channels: those are the README's.
        const sandbox = spec.baseConfig({ gatewayPort: port, token: 'unused', llmBaseUrl: mock.baseUrl });
        delete sandbox.gateway;
        await host.writeConfig(sandbox, { models: 'sandbox: the mock model on 127.0.0.1 (not part of the README)' });

        const ran: string[] = [];
        let statusOutput = '';
        let quoted: string[] = [];
        for (const block of blocks) {
          if (block.lang === 'bash') {
            for (const raw of block.body.split('\n')) {
              const line = raw.replace(/\s+#.*$/, '').trim();
              if (!line || line.startsWith('#')) continue;
              const [cli, ...args] = shellWords(line);
              if (cli !== name) {
                // Another host's line, or the checkout itself (git clone / npm install): this repository is it.
                expect(OTHER_CLIS.includes(cli!) || /^git clone .*npm install --omit=dev$/.test(line), `unexpected README line: ${line}`).toBe(true);
                continue;
              }
              ran.push(args.slice(0, 2).join(' '));
              if (args[0] === 'gateway' && args[1] === 'run') {
                await host.startGateway(port);
                await host.waitForHealth(240_000);
                await fake.waitFor(() => fake.conns.some((c) => c.open), { timeoutMs: 60_000, message: `the plugin did not connect\n${host.logTail()}` });
                continue;
              }
              const r = await host.cli(args, { timeoutMs: 300_000 });
              expect(r.code, `${line}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
              if (args[0] === 'channels' && args[1] === 'status') statusOutput = r.stdout;
            }
          } else if (block.lang === 'json5') {
            const snippet = JSON5.parse(block.body) as Record<string, any>;
            // Loopback stand-ins for what a user's machine has: the port, the fake DingTalk and its app.
            const overlay = {
              gateway: { port },
              channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, streamGatewayUrl: fake.streamGatewayUrl } },
            };
            await host.writeConfig(deepMerge(deepMerge(await host.readConfig(), snippet), overlay));
            ran.push('config');
          } else if (block.lang === 'text') {
            quoted = block.body.split('\n').filter((l) => l.trim());
          }
        }
        expect(ran).toEqual(['plugins install', 'config', 'gateway run', 'channels status']);
        expect(quoted.length).toBeGreaterThan(0);
        for (const line of quoted) expect(statusOutput.split('\n')).toContain(line);

        // The first DM, as the README's access section says: the stranger gets a pairing code, the owner approves it
        // with the host CLI (the command the notice names), and the next DM is answered in a finished AI card.
        const readme = await readFile(join(REPO, 'README.md'), 'utf8');
        expect(readme).toContain(`${name} pairing approve dingtalk-ai`);
        const sender = `readme-${name}`;
        const ask = async () => {
          const sentBefore = fake.sent.length;
          const cardsBefore = new Set(fake.cards.keys());
          const { messageId } = fake.pushRobotMessage(fake.msg.text('hello from the README test', { senderStaffId: sender }));
          await fake.waitForAck(messageId, { within: 10_000 });
          const newCard = () => [...fake.cards.values()].find((c) => !cardsBefore.has(c.outTrackId));
          await fake.waitFor(() => fake.sent.length > sentBefore || ['3', '5'].includes(newCard()?.flowStatusHistory.at(-1) ?? ''), {
            timeoutMs: 240_000,
            message: `no answer\n${host.logTail()}`,
          });
          return { card: newCard(), sent: fake.sent.slice(sentBefore) };
        };
        const refused = await ask();
        const notice = String(refused.sent[0]?.body?.markdown?.text ?? refused.sent[0]?.body?.text?.content ?? '');
        const command = /runs: (\S+ pairing approve dingtalk-ai \S+)/.exec(notice)?.[1];
        expect(command, `pairing notice: ${notice}`).toBeDefined();
        const [cli, ...approveArgs] = command!.split(' ');
        expect(cli).toBe(name);
        const approved = await host.cli(approveArgs, { timeoutMs: 120_000 });
        expect(approved.code, `${command}\n${approved.stdout}\n${approved.stderr}`).toBe(0);
        const connsBefore = fake.conns.length;
        if (await host.reviveIfExited(15_000)) await fake.waitFor(() => fake.conns.length > connsBefore && fake.openConnections() > 0, { timeoutMs: 120_000 });
        const { card } = await ask();
        expect(card?.flowStatusHistory.at(-1)).toBe('3');
        expect(card!.streams.msgContent!.content.trim()).toBe('MOCK_ANSWER: hello from the README test');

        // The log command the README names finds the plugin's lines.
        const logs = name === 'openclaw' ? await host.cli(['logs', '--plain', '--limit', '500'], { timeoutMs: 60_000 }) : await host.cli(['channels', 'logs', '--channel', 'dingtalk-ai'], { timeoutMs: 60_000 });
        expect(logs.code).toBe(0);
        expect(logs.stdout).toMatch(/\[dingtalk-ai\] \[default\] stream connected/);
      } catch (err) {
        failed = true;
        throw err;
      }
    });
  });
}
