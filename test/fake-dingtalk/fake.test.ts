// Self-test of the fake DingTalk, driven by the real dingtalk-stream@2.1.5 DWClient, axios and form-data.
import axios from 'axios';
import { DWClient, type DWClientDownStream } from 'dingtalk-stream';
import FormData from 'form-data';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROBOT_TOPIC, startFakeDingTalk, type FakeDingTalk, type FakeOptions } from './index.ts';

const http = axios.create({ validateStatus: () => true, proxy: false });

let fake: FakeDingTalk | undefined;
const clients: DWClient[] = [];

beforeAll(() => {
  // the SDK logs "connect success" / "Disconnecting." on every connection
  vi.spyOn(console, 'info').mockImplementation(() => undefined);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await fake?.close();
  fake = undefined;
});

async function start(opts: FakeOptions = {}): Promise<FakeDingTalk> {
  fake = await startFakeDingTalk(opts);
  return fake;
}

/** Real SDK client pointed at the fake via an instance override of getEndpoint() (§5.6 option F). */
async function connectSdk(f: FakeDingTalk, onMessage: (msg: DWClientDownStream, client: DWClient) => void,
  creds = { clientId: 'dingAPPKEY', clientSecret: 'SECRET' }): Promise<DWClient> {
  const client = new DWClient({ ...creds, keepAlive: false, ua: 'fake-selftest/1' });
  client.config.autoReconnect = false;
  client.getEndpoint = async () => {
    const res = await http.post(f.streamGatewayUrl, {
      clientId: client.config.clientId, clientSecret: client.config.clientSecret,
      ua: client.config.ua, subscriptions: client.config.subscriptions,
    }, { headers: { Accept: 'application/json' } });
    if (!res.data?.endpoint || !res.data?.ticket) throw new Error(`gateway: ${res.status}`);
    (client as unknown as { dw_url: string }).dw_url = `${res.data.endpoint}?ticket=${res.data.ticket}`;
    return client;
  };
  client.registerCallbackListener(ROBOT_TOPIC, (msg) => onMessage(msg, client));
  clients.push(client);
  await client.connect();
  await f.waitForConnection({ timeoutMs: 2000 });
  return client;
}

async function token(f: FakeDingTalk): Promise<string> {
  const r = await http.post(`${f.apiBase}/v1.0/oauth2/accessToken`, { appKey: 'dingAPPKEY', appSecret: 'SECRET' });
  return r.data.accessToken as string;
}

describe('stream mode with the real DWClient', () => {
  it('registers, delivers a CALLBACK, records the ACK, echoes pings and rejects a reused ticket', async () => {
    const f = await start();
    const received: DWClientDownStream[] = [];
    await connectSdk(f, (msg, client) => {
      received.push(msg);
      client.socketCallBackResponse(msg.headers.messageId, { success: true });
    });
    expect(f.openConnections()).toBe(1);
    expect(f.conns[0]!.subscriptions).toContainEqual({ type: 'CALLBACK', topic: ROBOT_TOPIC });
    expect(f.conns[0]!.ua).toBe('fake-selftest/1');
    expect(f.gatewayOpens).toHaveLength(1);
    expect((f.gatewayOpens[0]!.body as { clientSecret: string }).clientSecret).toBe('<redacted>');

    const payload = f.msg.text('hello');
    const { messageId } = f.pushRobotMessage(payload);
    const ack = await f.waitForAck(messageId, { within: 1000 });
    expect(ack.ack).toMatchObject({ code: 200, headers: { messageId }, data: JSON.stringify({ response: { success: true } }) });
    expect(received).toHaveLength(1);
    expect(received[0]!.headers).toMatchObject({ topic: ROBOT_TOPIC, contentType: 'application/json', messageId });
    expect(JSON.parse(received[0]!.data)).toEqual(payload);

    const [ping] = f.ws.ping();
    const echo = await f.waitForAck(ping!.messageId, { within: 1000 });
    expect(JSON.parse(echo.ack.data)).toEqual(ping!.payload);

    // tickets are single-use: replay the one the SDK used
    const used = (clients[0] as unknown as { dw_url: string }).dw_url;
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(used);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(401);
    expect(f.upgrades.at(-1)).toMatchObject({ status: 401, reason: 'ticket already used' });
  });

  it('redelivers an un-ACKed callback with a new messageId and the same data.msgId', async () => {
    const f = await start({ redelivery: { afterMs: 200, max: 1, messageId: 'new' } });
    const received: DWClientDownStream[] = [];
    await connectSdk(f, (msg) => received.push(msg)); // never ACKs
    const payload = f.msg.text('no ack');
    const first = f.pushRobotMessage(payload);
    await expect(f.waitForAck(first.messageId, { within: 50 })).rejects.toThrow(/no ACK/);
    await f.waitFor(() => received.length === 2, { timeoutMs: 1000 });
    const [a, b] = received.map((m) => ({ id: m.headers.messageId, msgId: JSON.parse(m.data).msgId }));
    expect(a!.id).toBe(first.messageId);
    expect(b!.id).not.toBe(a!.id);
    expect(b!.msgId).toBe(a!.msgId);
    expect(f.pushes.at(-1)).toMatchObject({ redeliveryOf: first.messageId, attempt: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toHaveLength(2); // max: 1
  });

  it('ws.drop() closes the connection; pushing then throws', async () => {
    const f = await start();
    const client = await connectSdk(f, () => undefined);
    expect(f.ws.drop()).toBe(1);
    await f.waitFor(() => !client.connected && f.conns[0]!.closeCode === 1006, { timeoutMs: 1000 });
    expect(f.openConnections()).toBe(0);
    expect(() => f.pushRobotMessage(f.msg.text('x'))).toThrow(/no open stream connection/);
  });

  it('pushRaw sends verbatim text; gateway rejects bad credentials with 401 authFailed', async () => {
    const f = await start();
    const open = await http.post(f.streamGatewayUrl, { clientId: 'dingAPPKEY', clientSecret: 'SECRET', subscriptions: [{ type: 'EVENT', topic: '*' }] });
    const ws = new WebSocket(`${open.data.endpoint}?ticket=${open.data.ticket}`);
    const got = new Promise<string>((resolve) => ws.on('message', (d) => resolve(d.toString())));
    await new Promise((r) => ws.on('open', r));
    expect(f.pushRaw('{not json')).toBe(1);
    expect(await got).toBe('{not json');
    expect(f.frames.at(-1)).toMatchObject({ dir: 'down', json: null, raw: '{not json' });
    ws.terminate();
    const bad = await http.post(f.streamGatewayUrl, { clientId: 'dingAPPKEY', clientSecret: 'nope', subscriptions: [] });
    expect(bad.status).toBe(401);
    expect(bad.data).toMatchObject({ code: 'authFailed' });
  });
});

describe('tokens and error envelopes', () => {
  it('new and old token endpoints share a store; auth errors follow each host envelope', async () => {
    const f = await start();
    const t1 = await token(f);
    expect(await token(f)).toBe(t1);
    const old = await http.get(`${f.oapiBase}/gettoken`, { params: { appkey: 'dingAPPKEY', appsecret: 'SECRET' } });
    expect(old.data).toMatchObject({ errcode: 0, access_token: t1, expires_in: 7200 });
    const badNew = await http.post(`${f.apiBase}/v1.0/oauth2/accessToken`, { appKey: 'dingAPPKEY', appSecret: 'x' });
    expect([badNew.status, badNew.data.code]).toEqual([400, 'invalidClientIdOrSecret']);
    const badOld = await http.get(`${f.oapiBase}/gettoken?appkey=dingAPPKEY&appsecret=x`);
    expect([badOld.status, badOld.data.errcode]).toEqual([200, 40096]);

    const card = `${f.apiBase}/v1.0/card/instances`;
    const missing = await http.put(card, { outTrackId: 'x', cardData: {} });
    expect([missing.status, missing.data.code]).toEqual([400, 'AuthenticationFailed.MissingParameter']);
    const wrong = await http.put(card, { outTrackId: 'x', cardData: {} }, { headers: { 'x-acs-dingtalk-access-token': 'bogus' } });
    expect([wrong.status, wrong.data.code]).toEqual([400, 'InvalidAuthentication']);
    expect(wrong.data.requestid).toEqual(expect.any(String));
    const oapiBad = await http.post(`${f.oapiBase}/media/upload?access_token=bogus&type=image`);
    expect(oapiBad.status).toBe(200);
    expect(oapiBad.data).toMatchObject({ errcode: 88, sub_code: '40014' });

    f.faults.expireAllTokens();
    const expired = await http.put(card, { outTrackId: 'x', cardData: {} }, { headers: { 'x-acs-dingtalk-access-token': t1 } });
    expect(expired.data.code).toBe('InvalidAuthentication');
    const t2 = await token(f);
    expect(t2).not.toBe(t1);

    f.faults.revokeScope('Card.Streaming.Write');
    const denied = await http.put(`${f.apiBase}/v1.0/card/streaming`, {}, { headers: { 'x-acs-dingtalk-access-token': t2 } });
    expect(denied.status).toBe(403);
    expect(denied.data).toMatchObject({
      code: 'Forbidden.AccessDenied.AccessTokenPermissionDenied', accessdenieddetail: { requiredScopes: ['Card.Streaming.Write'] },
    });
    const wrongHost = await http.post(`${f.oapiBase}/v1.0/oauth2/accessToken`, { appKey: 'dingAPPKEY', appSecret: 'SECRET' });
    expect(wrongHost.status).toBe(404);

    const recorded = JSON.stringify(f.calls);
    expect(recorded).not.toContain(t1);
    expect(recorded).not.toContain(t2);
    expect(recorded).not.toContain('"SECRET"');
    expect(recorded).not.toContain('appsecret=SECRET');
  });
});

describe('AI cards', () => {
  it('createAndDeliver + streaming + finalize + overwrite update are recorded faithfully', async () => {
    const f = await start();
    const h = { headers: { 'x-acs-dingtalk-access-token': await token(f) } };
    const api = (p: string) => `${f.apiBase}${p}`;
    const created = await http.post(api('/v1.0/card/instances/createAndDeliver'), {
      cardTemplateId: '382e4302-551d-4880-bf29-a30acfab2e71.schema', outTrackId: 'card-1', callbackType: 'STREAM',
      cardData: { cardParamMap: { flowStatus: '2', msgContent: '', staticMsgContent: '' } },
      openSpaceId: 'dtv1.card//IM_ROBOT.user001', imRobotOpenDeliverModel: { spaceType: 'IM_ROBOT' },
    }, h);
    expect(created.status).toBe(200);
    expect(created.data).toMatchObject({ success: true, result: { outTrackId: 'card-1', deliverResults: [{ spaceType: 'IM_ROBOT', spaceId: 'user001', success: true }] } });

    const stream = (guid: string, content: string, extra: object = {}) => http.put(api('/v1.0/card/streaming'),
      { outTrackId: 'card-1', guid, key: 'msgContent', content, isFull: true, isFinalize: false, isError: false, ...extra }, h);
    expect((await stream('g1', 'Hel')).data).toEqual({ success: true, result: true });
    await stream('g2', 'Hello');
    await stream('g2', 'IGNORED');
    await stream('g3', 'Hello world', { isFinalize: true });
    await stream('g4', 'late');
    const appendMd = await stream('g5', 'x', { isFull: false });
    expect([appendMd.status, appendMd.data.code]).toEqual([400, 'param.stream.isFull']);
    const noCard = await http.put(api('/v1.0/card/streaming'), { outTrackId: 'nope', guid: 'g', key: 'msgContent', content: 'x', isFull: true }, h);
    expect([noCard.status, noCard.data.code]).toEqual([400, 'param.stream.outTrackId']);

    await http.put(api('/v1.0/card/instances'), { outTrackId: 'card-1', cardData: { cardParamMap: { flowStatus: '3', msgContent: 'Hello world' } } }, h);
    const card = f.card('card-1');
    expect(card.createdVia).toBe('createAndDeliver');
    expect(card.deliveries).toMatchObject([{ spaceType: 'IM_ROBOT', spaceId: 'user001' }]);
    expect(card.flowStatusHistory).toEqual(['2', '3']);
    expect(card.params).toEqual({ flowStatus: '3', msgContent: 'Hello world' }); // overwrite dropped staticMsgContent
    const s = card.streams['msgContent']!;
    expect(s.finalized).toBe(true);
    expect(s.content).toBe('late');
    expect(s.updates.map((u) => [u.content, u.duplicateGuid, u.afterFinalize])).toEqual([
      ['Hel', false, false], ['Hello', false, false], ['IGNORED', true, false], ['Hello world', false, false], ['late', false, true],
    ]);
    expect(f.sequence().filter((x) => x.includes('/card/'))).toEqual([
      'POST api /v1.0/card/instances/createAndDeliver 200',
      ...Array(5).fill('PUT api /v1.0/card/streaming 200'),
      'PUT api /v1.0/card/streaming 400', 'PUT api /v1.0/card/streaming 400',
      'PUT api /v1.0/card/instances 200',
    ]);
  });

  it('create + deliver to a group (case-insensitive openSpaceId) and merge updates', async () => {
    const f = await start({ templates: ['tpl.schema'] });
    const h = { headers: { 'x-acs-dingtalk-access-token': await token(f) } };
    const api = (p: string) => `${f.apiBase}${p}`;
    const badTpl = await http.post(api('/v1.0/card/instances'), { cardTemplateId: 'other', outTrackId: 'c2', cardData: { cardParamMap: {} } }, h);
    expect(badTpl.data.code).toBe('param.templateNotExist');
    const c = await http.post(api('/v1.0/card/instances'), { cardTemplateId: 'tpl.schema', outTrackId: 'c2', cardData: { cardParamMap: { a: '1', b: '2' } } }, h);
    expect(c.data).toEqual({ success: true, result: 'c2' });
    const noModel = await http.post(api('/v1.0/card/instances/deliver'), { outTrackId: 'c2', openSpaceId: 'dtv1.card//im_group.cidX==' }, h);
    expect(noModel.data.code).toBe('param.openDeliverModelEmpty');
    const d = await http.post(api('/v1.0/card/instances/deliver'), {
      outTrackId: 'c2', openSpaceId: 'dtv1.card//im_group.cidX==', imGroupOpenDeliverModel: { robotCode: 'dingAPPKEY' },
    }, h);
    expect(d.data.result).toMatchObject([{ spaceType: 'IM_GROUP', spaceId: 'cidX==', success: true }]);
    await http.put(api('/v1.0/card/instances'), { outTrackId: 'c2', cardData: { cardParamMap: { b: '3' } }, cardUpdateOptions: { updateCardDataByKey: true } }, h);
    expect(f.card('c2').params).toEqual({ a: '1', b: '3' });
    expect(f.card('c2').deliveries[0]).toMatchObject({ robotCode: 'dingAPPKEY', spaceType: 'IM_GROUP' });
  });
});

describe('media, downloads, robot messages', () => {
  it('uploads multipart media (form-data) with per-type limits', async () => {
    const f = await start();
    const t = await token(f);
    const upload = async (type: string, name: string, bytes: Buffer, field = 'media') => {
      const form = new FormData();
      form.append(field, bytes, { filename: name, contentType: 'application/octet-stream' });
      return (await http.post(`${f.oapiBase}/media/upload?access_token=${t}&type=${type}`, form, { headers: form.getHeaders() })).data;
    };
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const ok = await upload('image', 'a.png', png);
    expect(ok).toMatchObject({ errcode: 0, errmsg: 'ok', type: 'image' });
    expect(ok.media_id).toMatch(/^@/);
    const m = f.media.get(ok.media_id)!;
    expect(m).toMatchObject({ filename: 'a.png', size: png.length, sha256: createHash('sha256').update(png).digest('hex') });
    expect(m.bytes.equals(png)).toBe(true);
    expect((await upload('voice', 'v.mp3', Buffer.alloc(2 * 1024 * 1024 + 1))).errcode).toBe(40006);
    expect((await upload('image', 'x.exe', png)).errcode).toBe(40005);
    expect((await upload('image', 'a.png', png, 'file')).errcode).toBe(41005);
    const summary = f.calls.at(-1)!.body as { multipart: { files: Array<{ name: string; size: number }> } };
    expect(summary.multipart.files[0]).toMatchObject({ name: 'file', size: png.length });
  });

  it('messageFiles/download mints an expiring URL that serves the bytes', async () => {
    const f = await start();
    const h = { headers: { 'x-acs-dingtalk-access-token': await token(f) } };
    const bytes = Buffer.from('%PDF-1.4 fake');
    const code = f.registerDownload(bytes, { contentType: 'application/pdf', fileName: '报价单.pdf' });
    const msg = f.msg.file({ downloadCode: code, fileName: '报价单.pdf' });
    expect(msg.content).toMatchObject({ downloadCode: code, fileName: '报价单.pdf' });
    const r = await http.post(`${f.apiBase}/v1.0/robot/messageFiles/download`, { downloadCode: code, robotCode: 'dingAPPKEY' }, h);
    expect(r.data.downloadUrl).toMatch(new RegExp(`^${f.apiBase}/__dl/[0-9a-f]+\\?Expires=\\d+`));
    const got = await http.get(r.data.downloadUrl, { responseType: 'arraybuffer' });
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('application/pdf');
    expect(Buffer.from(got.data).equals(bytes)).toBe(true);
    const wrongRobot = await http.post(`${f.apiBase}/v1.0/robot/messageFiles/download`, { downloadCode: code, robotCode: 'other' }, h);
    expect(wrongRobot.status).toBe(400);
    f.advance(3_600_001);
    expect((await http.get(r.data.downloadUrl)).status).toBe(403);
  });

  it('sendBySession accepts text/markdown while the session is valid', async () => {
    const f = await start();
    const m = f.msg.text('hi', { group: true, conversationId: 'cidG==' });
    expect(m).toMatchObject({ conversationType: '2', conversationTitle: '测试群', isInAtList: true, text: { content: ' hi' } });
    expect(m.atUsers).toEqual([{ dingtalkId: m.chatbotUserId }]);
    expect(m.sessionWebhookExpiredTime - m.createAt).toBe(90 * 60_000);
    expect(m.sessionWebhook.startsWith(`${f.oapiBase}/robot/sendBySession?session=`)).toBe(true);
    const md = { msgtype: 'markdown', markdown: { title: 't', text: '**hi** @user001' }, at: { atUserIds: ['user001'] } };
    expect((await http.post(m.sessionWebhook, md)).data).toEqual({ errcode: 0, errmsg: 'ok' });
    expect(f.sent).toMatchObject([{ channel: 'sessionWebhook', msgtype: 'markdown', conversationId: 'cidG==', body: md }]);
    expect((await http.post(m.sessionWebhook, { msgtype: 'image', image: { mediaId: '@x' } })).data.errcode).toBe(400001);
    f.advance(91 * 60_000);
    expect((await http.post(m.sessionWebhook, { msgtype: 'text', text: { content: 'late' } })).data).toMatchObject({ errcode: 300001, errmsg: 'session 不存在' });
    expect(f.sent).toHaveLength(1);
  });

  it('oToMessages/batchSend requires msgParam as a JSON string', async () => {
    const f = await start();
    const h = { headers: { 'x-acs-dingtalk-access-token': await token(f) } };
    const url = `${f.apiBase}/v1.0/robot/oToMessages/batchSend`;
    const ok = await http.post(url, { robotCode: 'dingAPPKEY', userIds: ['user001'], msgKey: 'sampleMarkdown', msgParam: JSON.stringify({ title: 't', text: 'x' }) }, h);
    expect(ok.data).toMatchObject({ processQueryKey: expect.any(String), invalidStaffIdList: [], flowControlledStaffIdList: [] });
    const bad = await http.post(url, { robotCode: 'dingAPPKEY', userIds: ['user001'], msgKey: 'sampleMarkdown', msgParam: { title: 't', text: 'x' } }, h);
    expect(bad.status).toBe(400);
    expect(f.sent).toMatchObject([{ channel: 'oto', target: ['user001'], msgtype: 'sampleMarkdown', body: { title: 't', text: 'x' } }]);
  });
});

describe('faults', () => {
  it('qpsLimit answers one 403 QpsLimitForAppkeyAndApi, then recovers; the rate limiter throttles bursts', async () => {
    const f = await start({ rateLimit: { perApiQps: 5 } });
    const h = { headers: { 'x-acs-dingtalk-access-token': await token(f) } };
    const url = `${f.apiBase}/v1.0/robot/groupMessages/send`;
    const body = { robotCode: 'dingAPPKEY', openConversationId: 'cidG==', msgKey: 'sampleText', msgParam: '{"content":"x"}' };
    const rule = f.faults.qpsLimit('/v1.0/robot/groupMessages/send');
    const first = await http.post(url, body, h);
    expect([first.status, first.data.code]).toEqual([403, 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi']);
    expect(rule.fired).toBe(1);
    expect(f.calls.at(-1)!.fault).toBe(`fault#${rule.id}`);
    const bucketStart = performance.now();
    expect((await http.post(url, body, h)).status).toBe(200);

    const burst = await Promise.all(Array.from({ length: 8 }, () => http.post(url, body, h)));
    const statuses = burst.map((r) => r.status);
    // 5-token bucket, one used above; a slow (loaded) machine refills 5 tokens per second meanwhile.
    const refilled = Math.floor(((performance.now() - bucketStart) / 1000) * 5);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(4 + refilled);
    expect(statuses).toContain(403);
    expect(f.stats.maxQps('/groupMessages/send')).toBe(10);
  });

  it('gatewayFail and hang / destroySocket actions', async () => {
    const f = await start();
    f.faults.gatewayFail(503, 1);
    const creds = { clientId: 'dingAPPKEY', clientSecret: 'SECRET', subscriptions: [{ type: 'EVENT', topic: '*' }] };
    expect((await http.post(f.streamGatewayUrl, creds)).status).toBe(503);
    expect((await http.post(f.streamGatewayUrl, creds)).status).toBe(200);
    f.faults.add({ match: { path: '/v1.0/oauth2/accessToken', times: 1 }, action: { destroySocket: true } });
    await expect(http.post(`${f.apiBase}/v1.0/oauth2/accessToken`, {})).rejects.toThrow();
    f.faults.add({ match: { host: 'oapi', path: '/gettoken', times: 1 }, action: { hang: true } });
    await expect(http.get(`${f.oapiBase}/gettoken`, { timeout: 100 })).rejects.toThrow(/timeout/);
    expect(f.sequence().slice(-2)).toEqual(['POST api /v1.0/oauth2/accessToken 0', 'GET oapi /gettoken 0']);
  });
});

describe('presets and message builders', () => {
  it('rejectCardCreate, deliverResultFailure, monthlyQuotaExhausted, systemBusy, sessionExpired', async () => {
    const f = await start();
    const h = { headers: { 'x-acs-dingtalk-access-token': await token(f) } };
    const cad = (id: string) => http.post(`${f.apiBase}/v1.0/card/instances/createAndDeliver`, {
      cardTemplateId: 't', outTrackId: id, cardData: { cardParamMap: {} },
      openSpaceId: 'dtv1.card//IM_GROUP.cidG==', imGroupOpenDeliverModel: { robotCode: 'dingAPPKEY' },
    }, h);
    const reject = f.faults.rejectCardCreate();
    expect((await cad('a')).data.code).toBe('param.templateNotExist');
    reject.remove();
    f.faults.deliverResultFailure('robot not in group', 1);
    const failed = await cad('b');
    expect(failed.status).toBe(200);
    expect(failed.data.result.deliverResults[0]).toMatchObject({ success: false, errorMsg: 'robot not in group' });
    expect((await cad('c')).data.result.deliverResults[0].success).toBe(true);
    f.faults.monthlyQuotaExhausted();
    const quota = await cad('d');
    expect([quota.status, quota.data.code]).toEqual([403, 'Forbidden.AccessDenied.ApiCountLimitForOrg']);
    expect((await token(f))).toEqual(expect.any(String)); // token API is exempt
    f.faults.clear();
    f.faults.systemBusy('/v1.0/card/instances/createAndDeliver');
    expect((await cad('e')).status).toBe(500);
    expect((await cad('e')).status).toBe(200);
    const m = f.msg.text('x');
    f.faults.sessionExpired();
    expect((await http.post(m.sessionWebhook, { msgtype: 'text', text: { content: 'y' } })).data.errcode).toBe(300001);
  });

  it('sendDisconnect sends a SYSTEM disconnect without messageId and closes later', async () => {
    const f = await start();
    const open = await http.post(f.streamGatewayUrl, { clientId: 'dingAPPKEY', clientSecret: 'SECRET', subscriptions: [{ type: 'EVENT', topic: '*' }] });
    const ws = new WebSocket(`${open.data.endpoint}?ticket=${open.data.ticket}`);
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(d.toString()));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    await new Promise((r) => ws.on('open', r));
    f.ws.sendDisconnect({ closeAfterMs: 50 });
    expect(await closed).toBe(1006);
    const frame = JSON.parse(frames[0]!);
    expect(frame).toMatchObject({ type: 'SYSTEM', headers: { topic: 'disconnect' } });
    expect(frame.headers.messageId).toBeUndefined();
  });

  it('builds every callback type', async () => {
    const f = await start();
    const dm = f.msg.text('hi');
    expect(dm).toMatchObject({ conversationType: '1', msgtype: 'text', text: { content: 'hi' }, robotCode: 'dingAPPKEY', senderStaffId: 'user001' });
    expect(dm.conversationTitle).toBeUndefined();
    expect(f.msg.text('hi').msgId).not.toBe(dm.msgId);
    expect(f.msg.richText([{ text: '看' }, { type: 'picture', downloadCode: 'dc1' }]).content!.richText)
      .toEqual([{ text: '看' }, { type: 'picture', downloadCode: 'dc1', pictureDownloadCode: 'dc1' }]);
    expect(f.msg.picture({ downloadCode: 'p' }).content).toMatchObject({ downloadCode: 'p' });
    expect(f.msg.audio({ downloadCode: 'a', recognition: '你好' }).content).toEqual({ downloadCode: 'a', duration: 4000, recognition: '你好' });
    expect(f.msg.video({ downloadCode: 'v' }).content).toMatchObject({ downloadCode: 'v', videoType: 'mp4' });
    const reply = f.msg.replyTo('这是什么', f.msg.picture({ downloadCode: 'old' }));
    expect(reply.text).toMatchObject({ content: '这是什么', isReplyMsg: true, repliedMsg: { msgType: 'picture', content: { downloadCode: 'old' } } });
    expect(reply.originalMsgId).toBe(reply.text!.repliedMsg!.msgId);
    expect(f.msg.unknown().content).toEqual({ unknownMsgType: '[表情]' });
    expect(f.msg.text('raw', { group: true, rawContent: true }).text!.content).toBe('raw');
    expect(f.msg.text('no at', { group: true, atBot: false })).toMatchObject({ isInAtList: false, atUsers: [], text: { content: 'no at' } });
  });
});
