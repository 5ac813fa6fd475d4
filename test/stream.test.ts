import { afterEach, describe, expect, test, vi } from 'vitest';
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

async function start(opts: { clientSecret?: string; drainMs?: number; heartbeatMs?: number } = {}) {
  fake ??= await startFakeDingTalk({ redelivery: { afterMs: 60_000 } });
  controller = new AbortController();
  const logs: string[] = [];
  const statuses: StreamStatus[] = [];
  const received: string[] = [];
  const receivedIds: string[] = [];
  const sink = (m: string) => logs.push(m);
  running = runStream({
    clientId: 'dingAPPKEY',
    clientSecret: opts.clientSecret ?? 'SECRET',
    gatewayUrl: fake.streamGatewayUrl,
    ua: 'test',
    log: createLogger({ info: sink, warn: sink, error: sink, debug: sink }, { debug: true }),
    signal: controller.signal,
    onRobotMessage: (data, messageId) => {
      received.push(data);
      receivedIds.push(messageId);
    },
    onStatus: (s) => statuses.push(s),
    backoffMinMs: 40,
    backoffMaxMs: 400,
    drainMs: opts.drainMs,
    heartbeatMs: opts.heartbeatMs,
  });
  return { logs, statuses, received, receivedIds };
}

/** The open connection opened last. */
const newest = () => fake!.conns.filter((c) => c.open).at(-1)!;

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

describe('around a reconnect, nothing is lost', () => {
  test('a robot message pushed on the old socket 0–10 ms after a SYSTEM disconnect is ACKed and handed over (100 trials)', async () => {
    const s = await start();
    await fake!.waitForConnection();
    const pushed: string[] = [];
    for (let i = 0; i < 100; i++) {
      const old = newest();
      const opened = fake!.conns.length;
      fake!.ws.sendDisconnect({ connId: old.id, closeAfterMs: 400 });
      await sleep(i % 11); // around the reported 5 ms: the new socket is usually opening or just open
      pushed.push(fake!.pushRobotMessage(fake!.msg.text(`m${i}`), { connId: old.id }).messageId);
      await fake!.waitFor(() => fake!.conns.length > opened && fake!.conns.at(-1)!.open, { timeoutMs: 2000 });
    }
    await fake!.waitFor(() => pushed.every((id) => fake!.acksOf(id).length > 0 && s.receivedIds.includes(id)), { timeoutMs: 3000 }).catch(() => undefined);
    const lost = pushed.filter((id) => fake!.acksOf(id).length === 0 || !s.receivedIds.includes(id));
    expect(lost).toEqual([]);
    expect(s.receivedIds).toHaveLength(100);
    // Each ACK went back on the socket the frame came on.
    for (const id of pushed) expect(fake!.acksOf(id).map((f) => f.connId)).toEqual([fake!.pushes.find((p) => p.messageId === id)!.connId]);
  }, 30_000);

  test('under reconnect-heavy load (a disconnect every few ms, 300 frames on old and new sockets) no frame is lost', async () => {
    const s = await start();
    await fake!.waitForConnection();
    const pushed: string[] = [];
    for (let round = 0; round < 30; round++) {
      const old = newest();
      fake!.ws.sendDisconnect({ connId: old.id, closeAfterMs: 500 });
      for (let k = 0; k < 10; k++) {
        const target = Math.random() < 0.5 ? old : newest();
        pushed.push(fake!.pushRobotMessage(fake!.msg.text(`r${round}.${k}`), { connId: target.id }).messageId);
        await sleep(k % 3);
      }
    }
    await fake!.waitFor(() => pushed.every((id) => s.receivedIds.includes(id) && fake!.acksOf(id).length > 0), { timeoutMs: 5000 }).catch(() => undefined);
    const notAcked = pushed.filter((id) => fake!.acksOf(id).length === 0);
    const notHandled = pushed.filter((id) => !s.receivedIds.includes(id));
    expect({ notAcked, notHandled }).toEqual({ notAcked: [], notHandled: [] });
    expect(fake!.conns.length).toBeGreaterThan(20);
  }, 30_000);

  test('a frame pushed on the old socket 1 s after the disconnect, long after the new one opened, is still handled', async () => {
    const s = await start();
    const old = await fake!.waitForConnection();
    fake!.ws.sendDisconnect({ connId: old.id, closeAfterMs: 1500 });
    await fake!.waitFor(() => fake!.conns.length === 2 && fake!.conns[1]!.open, { timeoutMs: 1000 });
    await sleep(1000);
    const { messageId } = fake!.pushRobotMessage(fake!.msg.text('late'), { connId: old.id });
    await fake!.waitForAck(messageId, { within: 500 });
    expect(s.receivedIds).toEqual([messageId]);
    await fake!.waitFor(() => !old.open, { timeoutMs: 2000 });
    expect(fake!.openConnections()).toBe(1);
  });

  test('an old socket the server never closes is closed by us after the drain period', async () => {
    await start({ drainMs: 200 });
    const old = await fake!.waitForConnection();
    fake!.ws.sendDisconnect({ connId: old.id, closeAfterMs: 60_000 });
    await fake!.waitFor(() => !old.open, { timeoutMs: 1500 });
    expect(fake!.openConnections()).toBe(1);
    expect(fake!.conns).toHaveLength(2);
  });

  test('stop closes draining sockets too', async () => {
    await start();
    const old = await fake!.waitForConnection();
    fake!.ws.sendDisconnect({ connId: old.id, closeAfterMs: 60_000 });
    await fake!.waitFor(() => fake!.conns.length === 2 && fake!.conns[1]!.open, { timeoutMs: 1000 });
    controller!.abort();
    await running;
    await fake!.waitFor(() => fake!.openConnections() === 0, { timeoutMs: 1000 });
  });

  test('the same messageId on the old and the new socket is ACKed on each (the pipeline dedupes by msgId)', async () => {
    const s = await start();
    const old = await fake!.waitForConnection();
    fake!.ws.sendDisconnect({ connId: old.id, closeAfterMs: 2000 });
    await fake!.waitFor(() => fake!.conns.length === 2 && fake!.conns[1]!.open, { timeoutMs: 1000 });
    const frame = JSON.stringify({ specVersion: '1.0', type: 'CALLBACK', headers: { messageId: 'dup_1', topic: ROBOT, contentType: 'application/json', time: '1' }, data: '{"msgId":"x"}' });
    fake!.pushRaw(frame, { connId: old.id });
    fake!.pushRaw(frame, { connId: fake!.conns[1]!.id });
    await fake!.waitFor(() => fake!.acksOf('dup_1').length === 2, { timeoutMs: 1000 });
    expect(new Set(fake!.acksOf('dup_1').map((f) => f.connId))).toEqual(new Set([old.id, fake!.conns[1]!.id]));
    expect(s.receivedIds).toEqual(['dup_1', 'dup_1']);
  });
});

const ROBOT = '/v1.0/im/bot/messages/get';

describe('only real SYSTEM frames reconnect; every frame with an id is ACKed', () => {
  test('a CALLBACK or EVENT whose topic is server-disconnect, disconnect or error is ACKed and changes nothing', async () => {
    const s = await start();
    const conn = await fake!.waitForConnection();
    const ids = [
      ...['server-disconnect', 'disconnect', 'error', 'newListener'].map((t) => fake!.pushCallback(t, { x: 1 }, { connId: conn.id }).messageId),
      fake!.pushEvent('disconnect', { x: 1 }, { connId: conn.id }).messageId,
    ];
    for (const id of ids) await fake!.waitForAck(id, { within: 1000 });
    await sleep(200);
    expect(fake!.gatewayOpens).toHaveLength(1);
    expect(conn.open).toBe(true);
    expect(s.received).toEqual([]);
    const { messageId } = fake!.pushRobotMessage(fake!.msg.text('still here'));
    await fake!.waitForAck(messageId, { within: 500 });
    expect(s.receivedIds).toEqual([messageId]);
  });

  test('a frame too deep for the SDK (100k nested arrays) is ACKed; as a data string it reaches the handler', async () => {
    const s = await start();
    const conn = await fake!.waitForConnection();
    const nest = '['.repeat(100_000) + ']'.repeat(100_000);
    fake!.pushRaw(`{"specVersion":"1.0","type":"CALLBACK","headers":{"contentType":"application/json","messageId":"deep_value","topic":"${ROBOT}"},"data":${nest}}`, { connId: conn.id });
    fake!.pushRaw(JSON.stringify({ specVersion: '1.0', type: 'CALLBACK', headers: { messageId: 'deep_string', topic: ROBOT }, data: nest }), { connId: conn.id });
    await fake!.waitFor(() => fake!.acksOf('deep_value').length === 1 && fake!.acksOf('deep_string').length === 1, { timeoutMs: 2000 });
    expect(s.receivedIds).toEqual(['deep_string']);
    expect(conn.open).toBe(true);
    expect(s.logs.join('\n')).toContain('ACKed and dropped deep_value: robot frame whose data is not a string');
  });

  test('malformed, untyped, huge and unsubscribed frames with an id are ACKed; pings are echoed; the socket stays up', async () => {
    const s = await start();
    const conn = await fake!.waitForConnection();
    const h = (messageId: string, topic = ROBOT) => ({ contentType: 'application/json', messageId, topic, time: '1' });
    fake!.pushRaw(`{"type":"CALLBACK","headers":{"messageId":"cut","topic":"${ROBOT}"},"data":"{`, { connId: conn.id });
    fake!.pushRaw(JSON.stringify({ headers: h('untyped'), data: '{}' }), { connId: conn.id });
    fake!.pushRaw(JSON.stringify({ type: 'CALLBACK', headers: h('card', '/v1.0/card/instances/callback'), data: '{}' }), { connId: conn.id });
    fake!.pushRaw(JSON.stringify({ type: 'CALLBACK', headers: h('objdata'), data: { msgId: 'x' } }), { connId: conn.id });
    const big = fake!.msg.text('x'.repeat(5_000_000));
    fake!.pushRaw(JSON.stringify({ type: 'CALLBACK', headers: h('huge'), data: JSON.stringify(big) }), { connId: conn.id });
    const [ping] = fake!.ws.ping(conn.id);
    await fake!.waitForAck(ping!.messageId, { within: 1000 });
    await fake!.waitFor(() => ['cut', 'untyped', 'card', 'objdata', 'huge'].every((id) => fake!.acksOf(id).length === 1), { timeoutMs: 3000 });
    expect(s.receivedIds).toEqual(['huge']);
    expect(conn.open).toBe(true);
    expect(fake!.gatewayOpens).toHaveLength(1);
  });

  test('a peer that stops answering pings is dropped and replaced', async () => {
    await start({ heartbeatMs: 100 });
    const first = await fake!.waitForConnection();
    fake!.ws.pause(first.id);
    await fake!.waitFor(() => fake!.conns.length === 2 && fake!.conns[1]!.open, { timeoutMs: 2000 });
    fake!.ws.resume(first.id);
    await fake!.waitFor(() => !first.open, { timeoutMs: 1000 });
  });
});

describe('console', () => {
  test('nothing is printed to the console around connects, errors and reconnects; every line is ours and redacted', async () => {
    const printed: unknown[][] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void printed.push([m, ...args])),
    );
    try {
      fake = await startFakeDingTalk({ redelivery: { afterMs: 60_000 } });
      fake.ws.refuseUpgrades(1, 503);
      fake.faults.add({ match: { path: '/v1.0/gateway/connections/open', times: 1 }, action: { status: 500 } });
      const s = await start();
      await fake.waitForConnection({ timeoutMs: 3000 });
      fake.ws.refuseUpgrades(1, 401);
      fake.ws.drop();
      await fake.waitFor(() => fake!.openConnections() === 1 && fake!.gatewayOpens.length >= 4, { timeoutMs: 3000 });
      fake.pushRaw('{not json');
      fake.ws.ping();
      fake.ws.sendDisconnect({ closeAfterMs: 100 });
      await fake.waitFor(() => fake!.conns.filter((c) => c.open).length === 1 && fake!.conns.at(-1)!.open && fake!.conns.length >= 3, { timeoutMs: 3000 });
      const { messageId } = fake.pushRobotMessage(fake.msg.text('hi'));
      await fake.waitForAck(messageId, { within: 1000 });
      controller!.abort();
      await running;

      expect(printed).toEqual([]);
      const tickets = fake.gatewayOpens.map((c) => (c.response as { ticket?: string })?.ticket).filter((t): t is string => !!t);
      expect(tickets.length).toBeGreaterThanOrEqual(3);
      const text = s.logs.join('\n');
      for (const t of tickets) expect(text).not.toContain(t);
      expect(text).not.toContain('SECRET');
      expect(s.logs.filter((l) => !l.startsWith('[dingtalk-ai] '))).toEqual([]);
      expect(text).toContain('stream connection failed');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});
