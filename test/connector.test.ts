import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ConfigError } from '../src/config.ts';
import { DingTalkConnector, resolveStandalone } from '../src/connector.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';
import { startFakeGateway, type FakeGateway } from './fake-gateway/index.ts';

let fake: FakeDingTalk;
let gw: FakeGateway;
let stateDir: string;
let logs: string[];
const running: DingTalkConnector[] = [];

beforeEach(async () => {
  fake = await startFakeDingTalk({ redelivery: { afterMs: 60_000 } });
  gw = await startFakeGateway({ token: 'gw-token' });
  stateDir = await mkdtemp(join(tmpdir(), 'dt-connector-'));
  logs = [];
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
  await Promise.all([fake.close(), gw.close()]);
  await rm(stateDir, { recursive: true, force: true });
});

function connector(extra: Record<string, unknown> = {}): DingTalkConnector {
  const c = new DingTalkConnector({
    config: { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: gw.url, gatewayToken: 'gw-token', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, dmPolicy: 'open', allowFrom: ['*'], ...extra },
    stateDir,
    env: {},
    logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) },
  });
  running.push(c);
  return c;
}

async function connected(since = 0): Promise<void> {
  await fake.waitFor(() => fake.conns.slice(since).some((c) => c.open), { timeoutMs: 5000 });
}

async function dm(text: string): Promise<void> {
  const before = new Set(fake.cards.keys());
  const { messageId } = fake.pushRobotMessage(fake.msg.text(text, { senderStaffId: 'u1' }));
  await fake.waitForAck(messageId, { within: 2000 });
  await fake.waitFor(() => [...fake.cards.values()].some((c) => !before.has(c.outTrackId) && ['3', '5'].includes(c.flowStatusHistory.at(-1) ?? '')), { timeoutMs: 5000 });
}

describe('DingTalkConnector (standalone)', () => {
  test('answers through any OpenAI-compatible gateway with the same pipeline; sessions survive a restart in the state folder', async () => {
    const first = connector();
    await first.start();
    await connected();
    await dm('你好');
    const card = fake.cardList().at(-1)!;
    expect(card.flowStatusHistory.at(-1)).toBe('3');
    expect(card.streams.msgContent!.content).toBe('Echo: 你好');
    expect(gw.requests[0]!.body.model).toBe('openclaw:main');
    expect(gw.requests[0]!.headers.authorization).toBe('Bearer gw-token');
    await first.stop();
    expect((await readdir(join(stateDir, 'dingtalk-ai', 'default'))).length).toBeGreaterThan(0);
    expect(logs.some((l) => l.startsWith('[dingtalk-ai] [default] stream connected'))).toBe(true);

    const conns = fake.conns.length;
    const second = connector();
    await second.start();
    await connected(conns);
    await dm('还记得吗');
    expect(gw.requests).toHaveLength(2);
    expect(gw.requests[1]!.body.user).toBe(gw.requests[0]!.body.user);
    expect(gw.requests[1]!.headers['x-openclaw-session-key']).toBe(gw.requests[0]!.body.user);
  });

  test('stop() while an answer is in flight: the card ends with the restart note and stop() resolves', async () => {
    const c = connector();
    await c.start();
    await connected();
    gw.respond = () => ({ kind: 'hang' });
    const { messageId } = fake.pushRobotMessage(fake.msg.text('a long question', { senderStaffId: 'u1' }));
    await fake.waitForAck(messageId, { within: 2000 });
    await fake.waitFor(() => gw.requests.length === 1 && fake.cardList().length === 1, { timeoutMs: 5000 });
    await c.stop();
    const card = fake.cardList()[0]!;
    expect(card.flowStatusHistory.at(-1)).toBe('5');
    expect(card.streams.msgContent!.content).toContain('The service is restarting');
    expect(fake.openConnections()).toBe(0);
  });

  test('config problems throw one ConfigError listing each, naming its key, before anything connects', () => {
    let err: unknown;
    try {
      new DingTalkConnector({ config: { gatewayTimeout: -1 }, env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      "channels.dingtalk-ai.clientId is missing: set it to the robot's AppKey/Client ID (or set DINGTALK_CLIENT_ID)",
      "channels.dingtalk-ai.clientSecret is missing: set it to the robot's AppSecret/Client Secret (or set DINGTALK_CLIENT_SECRET)",
      'channels.dingtalk-ai.gatewayTimeout must be a positive number of milliseconds, got -1',
    ]);
    expect(fake.gatewayOpens).toHaveLength(0);
  });

  test('the environment alone configures it (DINGTALK_*, MOLTBOT_/OPENCLAW_GATEWAY_TOKEN); bad env values name the variable', () => {
    const { accounts, problems } = resolveStandalone({}, {
      DINGTALK_CLIENT_ID: 'dingENV',
      DINGTALK_CLIENT_SECRET: 'ENVSECRET',
      DINGTALK_GATEWAY_URL: 'http://10.0.0.5:8080/v1/chat/completions',
      DINGTALK_SESSION_TIMEOUT: '600000',
      MOLTBOT_GATEWAY_TOKEN: 'molt-token',
      OPENCLAW_GATEWAY_TOKEN: 'openclaw-token',
    });
    expect(problems).toEqual([]);
    expect(accounts[0]).toMatchObject({ clientId: 'dingENV', clientSecret: 'ENVSECRET', sessionTimeoutMs: 600_000 });
    expect(accounts[0]!.gateway).toMatchObject({ url: 'http://10.0.0.5:8080/v1/chat/completions', credential: 'molt-token', credentialFrom: 'env MOLTBOT_GATEWAY_TOKEN' });
    const bad = resolveStandalone({}, { DINGTALK_CLIENT_ID: 'x', DINGTALK_CLIENT_SECRET: 'y', DINGTALK_GATEWAY_URL: 'localhost:80', DINGTALK_SESSION_TIMEOUT: '30min' });
    expect(bad.problems).toEqual(['DINGTALK_GATEWAY_URL is not a valid http(s) URL: "localhost:80"', 'DINGTALK_SESSION_TIMEOUT must be a positive number of milliseconds, got "30min"']);
  });
});
