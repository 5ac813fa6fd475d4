/**
 * The simulator end to end without a browser: its HTTP API and live event stream over the real monitor, the
 * fake DingTalk and the echo model (fast settings), including faults and a clean stop.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { SseParser } from '../../src/sse.ts';
import { startSimulator, type Simulator } from '../../src/simulator/server.ts';
import type { AnswerItem, CallItem, ChatItem } from '../../src/simulator/view.ts';

interface Live {
  items: Map<string, ChatItem>;
  calls: CallItem[];
  answers: Map<string, AnswerItem>;
  snapshot: { answerSource?: string; [k: string]: unknown };
  stop(): void;
}

/** Follows /events like the page does. */
async function follow(url: string): Promise<Live> {
  const controller = new AbortController();
  const res = await fetch(`${url}events`, { signal: controller.signal });
  const live: Live = { items: new Map(), calls: [], answers: new Map(), snapshot: {}, stop: () => controller.abort() };
  const parser = new SseParser();
  let ready: () => void = () => {};
  const gotSnapshot = new Promise<void>((r) => (ready = r));
  void (async () => {
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        for (const ev of parser.push(chunk)) {
          const data = JSON.parse(ev.data);
          if (ev.event === 'snapshot') {
            live.snapshot = data;
            for (const i of data.items) live.items.set(i.id, i);
            live.calls.push(...data.calls);
            ready();
          } else if (ev.event === 'item') live.items.set(data.id, data);
          else if (ev.event === 'call') live.calls.push(data);
          else if (ev.event === 'answer') live.answers.set(data.id, data);
        }
      }
    } catch {
      // aborted by stop()
    }
  })();
  await gotSnapshot;
  return live;
}

async function until<T>(fn: () => T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const post = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('simulator', { timeout: 30_000 }, () => {
  let sim: Simulator | undefined;
  let live: Live | undefined;
  const logs: string[] = [];
  afterEach(async () => {
    live?.stop();
    await sim?.close();
  });

  const start = async () => {
    sim = await startSimulator({ tokenDelayMs: 1, cardIntervalMs: 40, print: (l) => logs.push(l) });
    live = await follow(sim.url);
    await sim.fake.waitForConnection();
    return { sim, live };
  };

  it('streams an answer into an AI card in the sender\'s DM and counts the DingTalk calls it cost', async () => {
    const { sim, live } = await start();
    const res = await post(sim.url, 'api/send', { conv: 'dm:user002', sender: 'user002', text: '你好' });
    expect(res.status).toBe(200);
    const card = await until(() => [...live.items.values()].find((i) => i.kind === 'card' && i.state === 'finished'), 'a finished card');
    expect(card.conv).toBe('dm:user002');
    expect(card.text).toContain('> 你好');
    expect(card.text).toContain('本会话第 1 轮');
    // It streamed: updates before the final one.
    expect(card.updates).toBeGreaterThan(1);
    const answer = [...live.answers.values()][0]!;
    expect(card.answerId).toBe(answer.id);
    // The text is final once the stream is finalized; the FINISHED status follows in one more call.
    await until(() => live.calls.some((c) => c.path === '/v1.0/card/instances'), 'the status update');
    const own = live.calls.filter((c) => c.answerId === answer.id);
    expect(live.answers.get(answer.id)!.calls).toBe(own.length);
    // The panel shows the delivery mode the call governor chose (issue 18).
    expect(live.answers.get(answer.id)!.mode).toEqual({ n: 1, name: 'stream' });
    expect(own[0]).toMatchObject({ method: 'POST', path: '/v1.0/card/instances/createAndDeliver', status: 200 });
    expect(own.at(-1)).toMatchObject({ method: 'PUT', path: '/v1.0/card/instances', status: 200 });
    // Token and Stream registration are not charged to the answer.
    expect(live.calls.some((c) => c.path === '/v1.0/gateway/connections/open' && c.answerId === undefined)).toBe(true);
  });

  it('answers with an uploaded image inline and a file message when asked, and reads a picture the user sent', async () => {
    const { sim, live } = await start();
    await post(sim.url, 'api/send', { conv: 'group', sender: 'user001', text: '来张图片，再发个文件', atBot: true });
    const card = await until(() => [...live.items.values()].find((i) => i.kind === 'card' && i.state === 'finished'), 'a finished card');
    expect(card.conv).toBe('group');
    const mediaId = /!\[示意图\]\((@[^)]+)\)/.exec(card.text ?? '')?.[1];
    expect(mediaId).toBeDefined();
    const png = await fetch(`${sim.url}media/${encodeURIComponent(mediaId!)}`);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await png.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
    const file = await until(() => [...live.items.values()].find((i) => i.kind === 'file' && i.from === 'bot'), 'the file message');
    expect(file).toMatchObject({ conv: 'group', fileName: 'report-2.pdf', via: '机器人 API' });

    // A picture from a user: through messageFiles/download and the OSS-style URL, then to the model as an image.
    const picture = await fetch(png.url).then((r) => r.arrayBuffer());
    const up = await fetch(`${sim.url}api/upload?conv=dm:user002&sender=user002&name=photo.png`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: picture });
    expect(up.status).toBe(200);
    const second = await until(() => [...live.items.values()].find((i) => i.kind === 'card' && i.conv === 'dm:user002' && i.state === 'finished'), 'the answer to the picture');
    expect(second.text).toContain('我收到了 **1 张图片**：image/png, 480×270');
    const pictureAnswer = [...live.answers.values()].find((a) => a.conv === 'dm:user002')!;
    expect(live.calls.filter((c) => c.answerId === pictureAnswer.id).map((c) => c.path)).toContain('/v1.0/robot/messageFiles/download');
  });

  it('falls back to markdown when the card permission is missing, through the robot API when the sessionWebhook expired', async () => {
    const { sim, live } = await start();
    expect((await post(sim.url, 'api/fault', { name: 'cardPermission', on: true })).status).toBe(200);
    await post(sim.url, 'api/send', { conv: 'dm:user001', sender: 'user001', text: 'hello' });
    const md = await until(() => [...live.items.values()].find((i) => i.kind === 'markdown'), 'a markdown answer');
    expect(md).toMatchObject({ conv: 'dm:user001', via: 'sessionWebhook' });
    expect(md.text).toContain('> hello');
    const denied = live.calls.find((c) => c.path === '/v1.0/card/instances/createAndDeliver');
    expect(denied).toMatchObject({ status: 403, code: 'Forbidden.AccessDenied.AccessTokenPermissionDenied' });

    await post(sim.url, 'api/fault', { name: 'webhookExpired', on: true });
    await post(sim.url, 'api/send', { conv: 'dm:user001', sender: 'user001', text: 'again' });
    const viaRobot = await until(() => [...live.items.values()].find((i) => i.kind === 'markdown' && i.via === '机器人 API'), 'a markdown answer through the robot API');
    expect(viaRobot.text).toContain('> again');

    // Permission back: cards again.
    await post(sim.url, 'api/fault', { name: 'cardPermission', on: false });
    await post(sim.url, 'api/send', { conv: 'dm:user001', sender: 'user001', text: 'third' });
    const card = await until(() => [...live.items.values()].find((i) => i.kind === 'card' && i.state === 'finished'), 'a card after recovery');
    expect(card.text).toContain('> third');
  });

  it('ends the card as failed with a reason while the gateway is down, and answers again once it is back', async () => {
    const { sim, live } = await start();
    await post(sim.url, 'api/fault', { name: 'gatewayDown', on: true });
    await post(sim.url, 'api/send', { conv: 'dm:user001', sender: 'user001', text: '在吗' });
    const failed = await until(() => [...live.items.values()].find((i) => i.kind === 'card' && i.state === 'failed'), 'a failed card');
    expect(failed.text).toMatch(/网关/);
    expect(failed.text).not.toContain('127.0.0.1');
    await post(sim.url, 'api/fault', { name: 'gatewayDown', on: false });
    await post(sim.url, 'api/send', { conv: 'dm:user001', sender: 'user001', text: '现在呢' });
    await until(() => [...live.items.values()].find((i) => i.kind === 'card' && i.state === 'finished'), 'a finished card after recovery');
  });

  it('delivers the whole answer through a QPS storm (every other card call throttled)', async () => {
    const { sim, live } = await start();
    await post(sim.url, 'api/fault', { name: 'qpsStorm', on: true });
    await post(sim.url, 'api/send', { conv: 'dm:user001', sender: 'user001', text: '风暴中的问题' });
    const answered = await until(
      () => [...live.items.values()].find((i) => i.from === 'bot' && i.text?.includes('> 风暴中的问题') && (i.kind === 'markdown' || i.state === 'finished')),
      'the answer',
    );
    expect(answered.text).toContain('本会话第 1 轮');
    const throttled = live.calls.filter((c) => c.code === 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi');
    expect(throttled.length).toBeGreaterThan(0);
    expect(live.answers.get(answered.answerId!)!.failedCalls).toBe(throttled.length);
  });

  it('answers through a gateway given by URL, where the gateway-down button is unavailable', async () => {
    const { startEchoModel } = await import('../../src/simulator/echo-model.ts');
    const external = await startEchoModel({ mediaDir: tmpdir(), tokenDelayMs: 0 });
    try {
      sim = await startSimulator({ gatewayUrl: external.url, gatewayToken: 'tok-123456', cardIntervalMs: 40, print: (l) => logs.push(l) });
      live = await follow(sim.url);
      expect(live.snapshot.answerSource).toBe(`网关 ${new URL(external.url).host}`);
      const down = await post(sim.url, 'api/fault', { name: 'gatewayDown', on: true });
      expect(down.status).toBe(400);
      expect(((await down.json()) as { error: string }).error).toContain('--gateway-url');
      await sim.fake.waitForConnection();
      await post(sim.url, 'api/send', { conv: 'dm:user001', sender: 'user001', text: 'via URL' });
      await until(() => [...live!.items.values()].find((i) => i.kind === 'card' && i.state === 'finished'), 'a finished card');
    } finally {
      await external.close();
    }
  });

  it('refuses to start with a gateway URL that is not one, naming the problem', async () => {
    await expect(startSimulator({ gatewayUrl: 'localhost:18789', print: () => {} })).rejects.toThrow(/gatewayUrl is not a valid http\(s\) URL/);
  });

  it('reconnects after a socket drop and still answers', async () => {
    const { sim, live } = await start();
    const opensBefore = sim.fake.gatewayOpens.length;
    expect((await post(sim.url, 'api/fault', { name: 'socketDrop' })).status).toBe(200);
    await post(sim.url, 'api/send', { conv: 'dm:user001', sender: 'user001', text: 'after the drop' });
    await until(() => [...live.items.values()].find((i) => i.kind === 'card' && i.state === 'finished'), 'a finished card');
    expect(sim.fake.gatewayOpens.length).toBeGreaterThan(opensBefore);
  });

  it('refuses a sender who is not in allowFrom, with the refusal message in the chat', async () => {
    const { sim, live } = await start();
    await post(sim.url, 'api/send', { conv: 'dm:user003', sender: 'user003', text: '你好' });
    const refusal = await until(() => [...live.items.values()].find((i) => i.from === 'bot' && i.conv === 'dm:user003'), 'the refusal');
    expect(refusal.kind).toBe('markdown');
    expect(sim.fake.cardList()).toHaveLength(0);
  });

  it('does not push a group message that does not @ the robot', async () => {
    const { sim, live } = await start();
    await post(sim.url, 'api/send', { conv: 'group', sender: 'user002', text: '大家好', atBot: false });
    const item = await until(() => [...live.items.values()].find((i) => i.from === 'user'), 'the user item');
    expect(item.note).toContain('未 @ 机器人');
    expect(sim.fake.pushes).toHaveLength(0);
  });

  it('refuses requests that do not name the loopback host, and removes its temp folder on close', async () => {
    const { sim } = await start();
    const status = await new Promise<number>((resolve, reject) => {
      // fetch() always sends the URL's host; a page on another name (DNS rebinding) sends its own.
      request(sim.url, { headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject).end();
    });
    expect(status).toBe(403);
    const dir = sim.tempDir;
    expect(existsSync(dir)).toBe(true);
    live!.stop();
    await sim.close();
    expect(existsSync(dir)).toBe(false);
    await expect(fetch(sim.url)).rejects.toThrow();
  });
});
