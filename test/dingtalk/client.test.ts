import http from 'node:http';
import axios from 'axios';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { clientFor, DingTalkClient } from '../../src/dingtalk/client.ts';
import { resolveAccount, type HostConfig } from '../../src/config.ts';
import { AppBudget } from '../../src/dingtalk/budget.ts';
import { DingTalkApiError } from '../../src/dingtalk/errors.ts';
import { createAndDeliverCard, RobotSendRefusedError, sendBySessionWebhook, sendRobotMessage, streamCard, uploadMedia } from '../../src/dingtalk/endpoints.ts';
import { createLogger } from '../../src/log.ts';
import { startFakeDingTalk, type FakeDingTalk } from '../fake-dingtalk/index.ts';

let fake: FakeDingTalk;
let logs: string[];
let sleeps: number[];
beforeEach(async () => {
  fake = await startFakeDingTalk();
  logs = [];
  sleeps = [];
});
afterEach(() => fake.close());

function client(secret = 'SECRET') {
  const sink = (m: string) => logs.push(m);
  return new DingTalkClient({
    clientId: 'dingAPPKEY',
    clientSecret: secret,
    apiBaseUrl: fake.apiBase,
    oapiBaseUrl: fake.oapiBase,
    log: createLogger({ info: sink, warn: sink, error: sink }),
    sleep: async (ms) => void sleeps.push(ms),
  });
}

const card = (c: DingTalkClient, id = 'card1') =>
  createAndDeliverCard(c, { templateId: 't.schema', outTrackId: id, target: { kind: 'dm', userId: 'u1' }, params: { flowStatus: '2' } });

describe('DingTalk REST client', () => {
  test('one token for many calls, fetched once even when calls start together', async () => {
    const c = client();
    await Promise.all([card(c, 'a'), card(c, 'b'), card(c, 'c')]);
    expect(fake.sequence().filter((s) => s.includes('accessToken'))).toHaveLength(1);
  });

  test('a token DingTalk no longer accepts (400 InvalidAuthentication) is refreshed once and the call retried', async () => {
    const c = client();
    await card(c, 'a');
    fake.faults.expireAllTokens();
    await card(c, 'b');
    expect(fake.sequence()).toEqual([
      'POST api /v1.0/oauth2/accessToken 200',
      'POST api /v1.0/card/instances/createAndDeliver 200',
      'POST api /v1.0/card/instances/createAndDeliver 400',
      'POST api /v1.0/oauth2/accessToken 200',
      'POST api /v1.0/card/instances/createAndDeliver 200',
    ]);
  });

  test('wrong credentials: a typed error with DingTalk code and request id, secret not in the message', async () => {
    const err = await card(client('WRONGSECRET')).catch((e) => e);
    expect(err).toBeInstanceOf(DingTalkApiError);
    expect(err).toMatchObject({ status: 400, code: 'invalidClientIdOrSecret', kind: 'credentials' });
    expect(err.requestId).toBeTruthy();
    expect(err.message).not.toContain('WRONGSECRET');
  });

  test('missing permission: kind permission with the required scopes, not retried', async () => {
    fake.faults.revokeScope('Card.Instance.Write');
    const err = await card(client()).catch((e) => e);
    expect(err).toMatchObject({ status: 403, kind: 'permission', code: 'Forbidden.AccessDenied.AccessTokenPermissionDenied' });
    expect(err.requiredScopes).toContain('Card.Instance.Write');
    expect(fake.sequence().filter((s) => s.includes('createAndDeliver'))).toHaveLength(1);
  });

  test('throttling (403 QpsLimit, 429) backs off and retries', async () => {
    fake.faults.qpsLimit('/v1.0/card/instances/createAndDeliver', { status: 403 });
    await card(client(), 'a');
    fake.faults.qpsLimit('/v1.0/card/instances/createAndDeliver', { status: 429 });
    await card(client(), 'b');
    expect(sleeps).toEqual([1000, 1000]);
    expect(fake.cards.size).toBe(2);
  });

  test('a reset on a reused kept-alive socket may have been acted on: a card create and a robot send go out once, and are counted', async () => {
    // A proxy or crashing server that reads and acts on the request, then drops the kept-alive socket unanswered.
    const acted: string[] = [];
    let business = 0;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url!.includes('accessToken')) return res.end(JSON.stringify({ accessToken: 'tok', expireIn: 7200 }));
        const b = JSON.parse(body) as { msgParam?: string; outTrackId?: string };
        acted.push(b.outTrackId ?? JSON.parse(b.msgParam!).text);
        if (++business % 2 === 0) return req.socket.destroy();
        res.end(JSON.stringify({ processQueryKey: 'k', success: true, result: { outTrackId: b.outTrackId, deliverResults: [{ success: true }] } }));
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const counted: string[] = [];
    const sink = (m: string) => logs.push(m);
    const c = new DingTalkClient({
      clientId: 'dingAPPKEY',
      clientSecret: 'SECRET',
      apiBaseUrl: base,
      oapiBaseUrl: base,
      log: createLogger({ info: sink, warn: sink, error: sink }),
      sleep: async (ms) => void sleeps.push(ms),
      meter: { counted: (m) => void counted.push(m) },
    });
    try {
      const dm = { kind: 'dm', userId: 'u1' } as const;
      await sendRobotMessage(c, dm, 'sampleMarkdown', { title: 't', text: 'first' });
      const second = await sendRobotMessage(c, dm, 'sampleMarkdown', { title: 't', text: 'SECOND' }).catch((e: unknown) => e);
      expect(second).toMatchObject({ name: 'DingTalkNetworkError', notSent: false });
      await card(c, 'card-A');
      const cardB = await card(c, 'card-B').catch((e: unknown) => e);
      expect(cardB).toMatchObject({ name: 'DingTalkNetworkError', notSent: false });
      expect(acted).toEqual(['first', 'SECOND', 'card-A', 'card-B']);
      expect(counted).toEqual(['api', 'api', 'api', 'api']);
      expect(sleeps).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('a reset on a reused socket is retried for calls DingTalk ignores when repeated (streaming update with its guid)', async () => {
    const c = client();
    await card(c, 'a');
    fake.faults.add({ match: { path: '/v1.0/card/streaming', times: 1 }, action: { destroySocket: true } });
    await streamCard(c, { outTrackId: 'a', key: 'msgContent', content: 'hi', guid: 'g1', isFinalize: false, isError: false }, false);
    expect(fake.sequence().filter((s) => s.includes('streaming'))).toEqual(['PUT api /v1.0/card/streaming 0', 'PUT api /v1.0/card/streaming 200']);
    expect(sleeps).toEqual([1000]);
  });

  test('a token fetch reset in flight is fetched again: the call itself had not gone out', async () => {
    fake.faults.add({ match: { path: '/v1.0/oauth2/accessToken', times: 1 }, action: { destroySocket: true } });
    await card(client(), 'a');
    expect(fake.sequence()).toEqual([
      'POST api /v1.0/oauth2/accessToken 0',
      'POST api /v1.0/oauth2/accessToken 200',
      'POST api /v1.0/card/instances/createAndDeliver 200',
    ]);
  });

  test('a reset on a new connection may have been read: a card create is not sent twice', async () => {
    const sink = (m: string) => logs.push(m);
    const fresh = new DingTalkClient({
      clientId: 'dingAPPKEY',
      clientSecret: 'SECRET',
      apiBaseUrl: fake.apiBase,
      oapiBaseUrl: fake.oapiBase,
      log: createLogger({ info: sink, warn: sink, error: sink }),
      sleep: async (ms) => void sleeps.push(ms),
      http: axios.create({ proxy: false, httpAgent: new http.Agent({ keepAlive: false }) }),
    });
    fake.faults.add({ match: { path: '/v1.0/card/instances/createAndDeliver', times: 1 }, action: { destroySocket: true } });
    const err = await card(fresh, 'b').catch((e: unknown) => e);
    expect(err).toMatchObject({ notSent: false });
    expect(fake.sequence().filter((s) => s.includes('createAndDeliver'))).toHaveLength(1);
  });

  test('oapi errors arrive as HTTP 200 + errcode and become typed errors', async () => {
    const msg = fake.msg.text('x');
    fake.faults.sessionExpired();
    const err = await sendBySessionWebhook(client(), msg.sessionWebhook as string, { msgtype: 'text', text: { content: 'hi' } }).catch((e) => e);
    expect(err).toMatchObject({ code: '300001', kind: 'session-expired' });
  });

  test('media upload sends multipart with the media field and returns the media id', async () => {
    const bytes = Buffer.from('89504e470d0a1a0a0000', 'hex');
    const id = await uploadMedia(client(), { type: 'image', bytes, fileName: '图 1.png', contentType: 'image/png' });
    expect(id.startsWith('@')).toBe(true);
    expect(fake.media.get(id)).toMatchObject({ type: 'image', filename: '图 1.png', size: bytes.length });
  });

  test('a robot send that DingTalk answers 200 but did not deliver (flow-controlled) is an error', async () => {
    fake.faults.add({
      match: { path: '/v1.0/robot/oToMessages/batchSend' },
      action: { status: 200, body: { processQueryKey: 'k', invalidStaffIdList: [], flowControlledStaffIdList: ['u1'] } },
    });
    await expect(sendRobotMessage(client(), { kind: 'dm', userId: 'u1' }, 'sampleText', { content: 'hi' })).rejects.toThrow(
      'DingTalk flow-controlled the message to u1 (flowControlledStaffIdList: too many robot messages to this user); send less often, or later',
    );
  });

  test('a 200 listing the user as invalid names that list, the visible range and the staffId to use', async () => {
    fake.faults.add({
      match: { path: '/v1.0/robot/oToMessages/batchSend' },
      action: { status: 200, body: { processQueryKey: 'k', invalidStaffIdList: ['u9'], flowControlledStaffIdList: [] } },
    });
    const err = await sendRobotMessage(client(), { kind: 'dm', userId: 'u9' }, 'sampleText', { content: 'hi' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RobotSendRefusedError);
    expect((err as RobotSendRefusedError).invalid).toEqual(['u9']);
    expect((err as Error).message).toMatch(/^robot message not delivered: DingTalk lists u9 as invalid \(invalidStaffIdList\): .*visible range \(可见范围\).*staffId/);
    expect((err as Error).message).not.toContain('flow-controlled');
  });
});

describe('stopping the account (client signal)', () => {
  function stoppable(over: { sleep?: (ms: number) => Promise<void>; gate?: AppBudget } = {}) {
    const halt = new AbortController();
    const sink = (m: string) => logs.push(m);
    const c = new DingTalkClient({
      clientId: 'dingAPPKEY',
      clientSecret: 'SECRET',
      apiBaseUrl: fake.apiBase,
      oapiBaseUrl: fake.oapiBase,
      log: createLogger({ info: sink, warn: sink, error: sink }),
      signal: halt.signal,
      ...over,
    });
    return { c, halt };
  }

  test('a call hanging at DingTalk ends at once, and no later call reaches the network', async () => {
    const { c, halt } = stoppable();
    await c.accessToken();
    fake.faults.add({ match: { path: '/v1.0/card/instances/createAndDeliver' }, action: { hang: true } });
    const hanging = card(c, 'h1');
    await fake.waitFor(() => fake.sequence().some((s) => s.includes('createAndDeliver')));
    halt.abort();
    // It reached DingTalk before the stop: whether it took effect is unknown (a card made this way gets closed later).
    await expect(hanging).rejects.toMatchObject({ name: 'DingTalkNetworkError', notSent: false });
    const before = fake.calls.length;
    await expect(card(c, 'h2')).rejects.toThrow('the account stopped');
    await expect(c.accessToken().then(() => card(c, 'h3'))).rejects.toThrow();
    expect(fake.calls.length).toBe(before);
  });

  test('a retry back-off and a wait for the budget end when the account stops (nothing is sent afterwards)', async () => {
    const { c, halt } = stoppable({ sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
    await c.accessToken();
    fake.faults.qpsLimit('/v1.0/card/instances/createAndDeliver', { times: 1 });
    const retrying = card(c, 'r1');
    await fake.waitFor(() => logs.some((l) => l.includes('retrying in 1000 ms')));
    halt.abort();
    await expect(retrying).rejects.toThrow('the account stopped');

    const budget = new AppBudget({ perSecond: 3 });
    budget.penalize('card.createAndDeliver', 60_000);
    const gated = stoppable({ gate: budget });
    const waiting = card(gated.c, 'g1');
    await new Promise((r) => setTimeout(r, 50));
    gated.halt.abort();
    await expect(waiting).rejects.toThrow('the account stopped');
    await new Promise((r) => setTimeout(r, 1_200));
    expect(fake.sequence().filter((s) => s.includes('createAndDeliver'))).toEqual(['POST api /v1.0/card/instances/createAndDeliver 403']);
  });
});

describe('clientFor (the client of an account)', () => {
  test("talks as the account's app to its two bases (cards to api, uploads to oapi), through the caller's gate; a wrong secret is DingTalk's refusal", async () => {
    const account = resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase } } } as HostConfig, 'default', {});
    const gated: string[] = [];
    const c = clientFor(account, { log: createLogger({ info() {}, warn() {}, error() {} }), gate: { run: (api, _priority, call) => (gated.push(api), call()) } });
    await card(c, 'a');
    await uploadMedia(c, { type: 'image', bytes: Buffer.from('89504e470d0a1a0a0000', 'hex'), fileName: 'a.png', contentType: 'image/png' });
    expect(c.clientId).toBe('dingAPPKEY');
    expect(fake.sequence()).toEqual(['POST api /v1.0/oauth2/accessToken 200', 'POST api /v1.0/card/instances/createAndDeliver 200', 'POST oapi /media/upload 200']);
    expect(gated).toEqual(['card.createAndDeliver', 'media.upload']);
    await expect(clientFor({ ...account, clientSecret: 'WRONG' }, { log: createLogger({ info() {}, warn() {}, error() {} }), sleep: async () => {} }).accessToken()).rejects.toMatchObject({ code: 'invalidClientIdOrSecret' });
  });
});
