import { afterEach, describe, expect, test } from 'vitest';
import { runStream, type StreamStatus } from '../src/stream.ts';
import { createLogger } from '../src/log.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';

let fake: FakeDingTalk | undefined;
let controller: AbortController | undefined;
let running: Promise<void> | undefined;
afterEach(async () => {
  controller?.abort();
  await running;
  await fake?.close();
  fake = controller = running = undefined;
});

async function start(opts: { clientSecret?: string } = {}) {
  fake ??= await startFakeDingTalk({ redelivery: { afterMs: 60_000 } });
  controller = new AbortController();
  const logs: string[] = [];
  const statuses: StreamStatus[] = [];
  const received: string[] = [];
  const sink = (m: string) => logs.push(m);
  running = runStream({
    clientId: 'dingAPPKEY',
    clientSecret: opts.clientSecret ?? 'SECRET',
    gatewayUrl: fake.streamGatewayUrl,
    ua: 'test',
    log: createLogger({ info: sink, warn: sink, error: sink }),
    signal: controller.signal,
    onRobotMessage: (data) => received.push(data),
    onStatus: (s) => statuses.push(s),
    backoffMinMs: 40,
    backoffMaxMs: 400,
  });
  return { logs, statuses, received };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stream connection', () => {
  test('subscribes only to robot callbacks, with a fresh ticket, and ACKs on receipt', async () => {
    const s = await start();
    const conn = await fake!.waitForConnection();
    expect(conn.subscriptions).toEqual([{ type: 'CALLBACK', topic: '/v1.0/im/bot/messages/get' }]);
    const { messageId } = fake!.pushRobotMessage(fake!.msg.text('hi'));
    await fake!.waitForAck(messageId, { within: 500 });
    expect(s.received).toHaveLength(1);
    expect(s.statuses.at(-1)?.connected).toBe(true);
  });

  test('abort closes the connection for good: no open socket, no reconnect afterwards', async () => {
    await start();
    await fake!.waitForConnection();
    controller!.abort();
    await running;
    await fake!.waitFor(() => fake!.openConnections() === 0, { timeoutMs: 2000 });
    const opens = fake!.gatewayOpens.length;
    await sleep(300);
    expect(fake!.gatewayOpens.length).toBe(opens);
    expect(fake!.openConnections()).toBe(0);
  });

  test('abort while the ticket request is in flight leaves no zombie connection', async () => {
    fake = await startFakeDingTalk();
    fake.faults.add({ match: { path: '/v1.0/gateway/connections/open' }, action: { delayMs: 200 } });
    await start();
    await sleep(50);
    controller!.abort();
    await running;
    await sleep(400);
    expect(fake.openConnections()).toBe(0);
  });

  test('a dropped connection reconnects with a new ticket and messages flow again', async () => {
    const s = await start();
    await fake!.waitForConnection();
    fake!.ws.drop();
    await fake!.waitFor(() => fake!.conns.length === 2 && fake!.openConnections() === 1, { timeoutMs: 3000 });
    expect(fake!.gatewayOpens.length).toBe(2);
    const { messageId } = fake!.pushRobotMessage(fake!.msg.text('after reconnect'));
    await fake!.waitForAck(messageId, { within: 500 });
    expect(s.received).toHaveLength(1);
  });

  test('a SYSTEM disconnect opens the new connection at once, before the old one is gone', async () => {
    await start();
    await fake!.waitForConnection();
    fake!.ws.sendDisconnect({ closeAfterMs: 2000 });
    await fake!.waitFor(() => fake!.conns.length === 2 && fake!.conns[1]!.open, { timeoutMs: 1500 });
    const [first, second] = fake!.conns;
    // The new socket opened while the server still held the old one (it closes it after 2 s).
    expect(second!.openedAt).toBeLessThan(first!.openedAt + 1500);
  });

  test('refused upgrades back off exponentially instead of storming', async () => {
    fake = await startFakeDingTalk();
    fake.ws.refuseUpgrades(4);
    const s = await start();
    await fake.waitForConnection({ timeoutMs: 5000 });
    expect(fake.gatewayOpens.length).toBe(5);
    const attempts = s.statuses.map((x) => x.reconnectAttempts);
    expect(Math.max(...attempts)).toBe(4);
  });

  test('wrong credentials: the status says which keys to fix, and retries slow down', async () => {
    const s = await start({ clientSecret: 'WRONG' });
    await fake!.waitFor(() => s.statuses.length >= 3, { timeoutMs: 3000 });
    expect(s.statuses.at(-1)!.lastError).toContain('clientId and clientSecret');
    expect(s.statuses.at(-1)!.connected).toBe(false);
    expect(s.logs.join('\n')).not.toContain('WRONG');
  });
});
