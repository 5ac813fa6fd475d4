/**
 * The `dingtalk-connector` command as users run it: `node bin/dingtalk-connector.mjs …` in a child process
 * (tsx loader, real signals, real exit codes), against the fake DingTalk and the fake gateway on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.ts';
import { CallGovernor } from '../../src/dingtalk/governor.ts';
import { FileStore } from '../../src/store.ts';
import { startFakeDingTalk, type FakeDingTalk } from '../fake-dingtalk/index.ts';
import { startFakeGateway, type FakeGateway } from '../fake-gateway/index.ts';

const BIN = fileURLToPath(new URL('../../bin/dingtalk-connector.mjs', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Child {
  code: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  kill: (signal: NodeJS.Signals) => void;
}

/** A clean env: nothing of the developer's DINGTALK_* or proxies leaks in. */
function run(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', HOME: dir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return {
    code: new Promise((resolve) => child.on('close', (c) => resolve(c))),
    stdout: () => out,
    stderr: () => err,
    kill: (s) => child.kill(s),
  };
}

describe('dingtalk-connector run: config errors', { timeout: 60_000 }, () => {
  test('no config at all: exit 78 and one line per missing key', async () => {
    const c = run(['run']);
    expect(await c.code).toBe(78);
    expect(c.stderr().trim().split('\n')).toEqual([
      "dingtalk-connector: config: channels.dingtalk-ai.clientId is missing: set it to the robot's AppKey/Client ID (or set DINGTALK_CLIENT_ID)",
      "dingtalk-connector: config: channels.dingtalk-ai.clientSecret is missing: set it to the robot's AppSecret/Client Secret (or set DINGTALK_CLIENT_SECRET)",
    ]);
  });

  test('a JSON file with an unknown key and a bad type: exit 78, the key named, the same text as at start-up in a host', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ clientId: 'dingX', clientSecret: 'SECRETX', sessionTimeout: '30m', clientSecrett: 'typo' }));
    const c = run(['run', '--config', file]);
    expect(await c.code).toBe(78);
    expect(c.stderr().trim().split('\n')).toEqual([
      'dingtalk-connector: config: channels.dingtalk-ai.clientSecrett is not a known setting (misspelt?); remove or rename it',
      'dingtalk-connector: config: channels.dingtalk-ai.sessionTimeout must be a positive number of milliseconds, got "30m"',
    ]);
  });

  test('an unreadable or broken file: exit 78, naming the file and where the syntax breaks', async () => {
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{ clientId: "x",, }');
    let c = run(['run', '--config', broken]);
    expect(await c.code).toBe(78);
    expect(c.stderr().trim()).toMatch(new RegExp(`^dingtalk-connector: config: ${broken} is not valid JSON/JSON5 \\(invalid character ',' at 1:17\\): fix the syntax there$`));
    c = run(['run', '--config', join(dir, 'missing.json')]);
    expect(await c.code).toBe(78);
    expect(c.stderr().trim()).toBe(`dingtalk-connector: config: ${join(dir, 'missing.json')} cannot be read (no such file): check the path`);
  });

  test('bad usage: exit 64 with the usage text', async () => {
    const c = run(['run', '--nope']);
    expect(await c.code).toBe(64);
    expect(c.stderr()).toContain("Unknown option '--nope'");
    expect(c.stderr()).toContain('Usage:');
  });
});

describe('dingtalk-connector run: a running connector', () => {
  let fake: FakeDingTalk;
  let gw: FakeGateway;
  beforeAll(async () => {
    fake = await startFakeDingTalk({ redelivery: { afterMs: 60_000 } });
    gw = await startFakeGateway({ token: 'gw-token' });
  });
  afterAll(async () => {
    await Promise.all([fake.close(), gw.close()]);
  });

  test('configured by env + file; SIGTERM: the answer in flight ends with the restart note, exit 0, sessions written', async () => {
    const file = join(dir, 'connector.json');
    await writeFile(file, `// JSON5 is fine too\n{ apiBaseUrl: "${fake.apiBase}", oapiBaseUrl: "${fake.oapiBase}", allowFrom: ["u1"], }\n`);
    const state = join(dir, 'state');
    const c = run(['run', '--config', file, '--state-dir', state], {
      DINGTALK_CLIENT_ID: 'dingAPPKEY',
      DINGTALK_CLIENT_SECRET: 'SECRET',
      DINGTALK_GATEWAY_URL: gw.url,
      OPENCLAW_GATEWAY_TOKEN: 'gw-token',
    });
    try {
      await fake.waitFor(() => fake.openConnections() > 0, { timeoutMs: 20_000, message: `no connection\n${c.stdout()}\n${c.stderr()}` });
      // One answer completes…
      const first = fake.pushRobotMessage(fake.msg.text('hello', { senderStaffId: 'u1' }));
      await fake.waitForAck(first.messageId, { within: 5000 });
      await fake.waitFor(() => fake.cardList()[0]?.flowStatusHistory.at(-1) === '3', { timeoutMs: 10_000 });
      expect(fake.cardList()[0]!.streams.msgContent!.content).toBe('Echo: hello');
      // …the next one is in flight when SIGTERM arrives.
      gw.respond = () => ({ kind: 'hang' });
      const second = fake.pushRobotMessage(fake.msg.text('and a long one', { senderStaffId: 'u1' }));
      await fake.waitForAck(second.messageId, { within: 5000 });
      await fake.waitFor(() => gw.requests.length === 2 && fake.cardList().length === 2, { timeoutMs: 10_000 });
      c.kill('SIGTERM');
      expect(await c.code).toBe(0);
    } finally {
      c.kill('SIGKILL');
    }
    const card = fake.cardList()[1]!;
    expect(card.flowStatusHistory.at(-1)).toBe('5');
    expect(card.streams.msgContent!.content).toContain('The service is restarting');
    expect(c.stdout()).toContain('dingtalk-connector: SIGTERM: stopping (answers in flight end with a restart note)');
    expect(c.stdout()).toContain('dingtalk-connector: stopped');
    expect(c.stderr()).not.toMatch(/\n\s+at /);
    expect(fake.openConnections()).toBe(0);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(join(state, 'dingtalk-ai', 'default'))).not.toHaveLength(0);
  }, 60_000);
});

describe('dingtalk-connector doctor', () => {
  let fake: FakeDingTalk;
  let gw: FakeGateway;
  beforeAll(async () => {
    fake = await startFakeDingTalk();
    gw = await startFakeGateway({ token: 'gw-token' });
  });
  afterAll(async () => {
    await Promise.all([fake.close(), gw.close()]);
  });

  const capture = (env: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env, signals: process };
    return { io, out, err };
  };

  test('--host-config reads the host’s JSON5 (comments, trailing commas); one marked line per check; exit 1 on a failure', async () => {
    const hostFile = join(dir, 'openclaw.json');
    await writeFile(
      hostFile,
      `// my gateway\n{\n  gateway: { auth: { mode: "token", token: "gw-token" } }, // the token the plugin reuses\n  agents: { defaults: { model: { primary: "mock/m" } } },\n  channels: { "dingtalk-ai": { clientId: "dingAPPKEY", clientSecret: "SECRET", gatewayUrl: "${gw.url}", apiBaseUrl: "${fake.apiBase}", oapiBaseUrl: "${fake.oapiBase}", }, },\n}\n`,
    );
    gw.respond = () => ({ kind: 'status', status: 404, body: { error: { message: 'Not Found' } } });
    const { io, out } = capture();
    expect(await main(['doctor', '--host-config', hostFile], io)).toBe(1);
    expect(out[0]).toBe(`dingtalk-connector doctor: account "default" in ${hostFile} (openclaw gateway at ${gw.url})`);
    expect(out).toContain('✓ 2. DingTalk access token: clientId dingAPPKEY accepted by ' + new URL(fake.apiBase).host);
    expect(out).toContain(
      '✗ 4. chat endpoint enabled: HTTP 404 at /v1/chat/completions: the OpenAI-compatible endpoint is off — fix: The gateway’s OpenAI-compatible endpoint is off (HTTP 404). Set gateway.http.endpoints.chatCompletions.enabled = true in the gateway config (it reloads by itself).',
    );
    expect(out.at(-1)).toBe('Some checks failed: apply the fixes above and run doctor again.');
    expect(out.every((l, i) => i === 0 || i === out.length - 1 || /^[✓✗!-] [1-5]\. /.test(l))).toBe(true);
  });

  test('--host-config resolves as the host does: the host offers DM pairing, so "pairing" is valid and the default in force', async () => {
    gw.respond = () => ({ kind: 'status', status: 400, body: { error: { message: 'Missing user message in `messages`.' } } });
    const section = { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: gw.url, apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase };
    for (const [file, extra] of [['clawdbot.json', { dmPolicy: 'pairing' }], ['openclaw.json', {}]] as const) {
      const hostFile = join(dir, file);
      await writeFile(hostFile, JSON.stringify({ gateway: { auth: { token: 'gw-token' } }, agents: { defaults: { model: 'mock/m' } }, channels: { 'dingtalk-ai': { ...section, ...extra } } }));
      const { io, out } = capture();
      expect(await main(['doctor', '--host-config', hostFile], io), out.join('\n')).toBe(0);
      expect(out).toContain('✓ 1. config: account "default" resolves with no problems');
      expect(out.find((l) => l.startsWith('! 4. access'))).toContain('dmPolicy "pairing"');
    }
  });

  test('the app\'s DingTalk calls this month, read from the gateway\'s state folder without writing to it (issue 18)', async () => {
    gw.respond = () => ({ kind: 'status', status: 400, body: { error: { message: 'Missing user message in `messages`.' } } });
    const stateDir = await mkdtemp(join(tmpdir(), 'dt-doctor-state-'));
    const hostFile = join(stateDir, 'openclaw.json');
    await writeFile(hostFile, JSON.stringify({ gateway: { auth: { token: 'gw-token' } }, agents: { defaults: { model: 'mock/m' } }, channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: gw.url, apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, monthlyCallBudget: 1000 } } }));
    // What the running gateway wrote: 123 counted calls this month.
    const store = new FileStore({ dir: join(stateDir, 'dingtalk-ai', 'default') });
    const running = new CallGovernor({ clientId: 'dingAPPKEY', monthlyCallBudget: 1000 });
    await running.attach(store);
    for (let i = 0; i < 123; i++) running.counted('api');
    await new Promise((r) => setTimeout(r, 0));
    await store.flush();
    const journal = await readFile(join(stateDir, 'dingtalk-ai', 'default', 'call-budget.jsonl'), 'utf8');
    const { io, out } = capture();
    await main(['doctor', '--host-config', hostFile], io);
    expect(out.find((l) => l.includes('monthly call budget'))).toMatch(/^! 2\. monthly call budget: 123 of 1000 DingTalk calls used in \d{4}-\d{2} \(China Standard Time month\); delivery mode 1 \(stream\)/);
    expect(await readFile(join(stateDir, 'dingtalk-ai', 'default', 'call-budget.jsonl'), 'utf8')).toBe(journal);
    await rm(stateDir, { recursive: true, force: true });
  });

  test('standalone config from the environment, all fine: exit 0', async () => {
    gw.respond = () => ({ kind: 'status', status: 400, body: { error: { message: 'Missing user message in `messages`.' } } });
    const file = join(dir, 'doctor.json');
    await writeFile(file, JSON.stringify({ apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase }));
    const { io, out } = capture({ DINGTALK_CLIENT_ID: 'dingAPPKEY', DINGTALK_CLIENT_SECRET: 'SECRET', DINGTALK_GATEWAY_URL: gw.url, OPENCLAW_GATEWAY_TOKEN: 'gw-token' });
    expect(await main(['doctor', '--config', file], io)).toBe(0);
    expect(out.filter((l) => l.startsWith('✗'))).toEqual([]);
    expect(out).toContain('- 4. model configured: unknown without the host config (doctor --host-config <path>)');
    expect(out.at(-1)).toBe('All checks passed.');
  });
});
