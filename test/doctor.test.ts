import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { resolveAccount, type DingTalkAccountConfig, type HostConfig } from '../src/config.ts';
import { doctorFailed, formatCheck, runDoctor, type DoctorCheck } from '../src/doctor.ts';
import { CLAWDBOT, OPENCLAW } from '../src/host.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';
import { startFakeGateway, type FakeGateway } from './fake-gateway/index.ts';
import { startHarness } from './harness.ts';
import { createChannel, type AccountSnapshot } from '../src/channel.ts';
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failureFix } from '../src/texts.ts';

let fake: FakeDingTalk;
let gw: FakeGateway;

beforeEach(async () => {
  fake = await startFakeDingTalk();
  gw = await startFakeGateway({ token: 'gw-token' });
  // What OpenClaw answers to a chat request without messages once auth and the agent passed.
  gw.respond = (req) =>
    (req.body.messages ?? []).length === 0
      ? { kind: 'status', status: 400, body: { error: { message: 'Missing user message in `messages`.', type: 'invalid_request_error' } } }
      : { kind: 'stream', deltas: ['ok'] };
});
afterEach(async () => {
  await Promise.all([fake.close(), gw.close()]);
});

const HOST_CONFIG = { agents: { defaults: { model: { primary: 'mock/mock-model' } } } } as HostConfig;

function account(config: DingTalkAccountConfig = {}) {
  return resolveAccount(
    { channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: gw.url, gatewayToken: 'gw-token', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, dmPolicy: 'open', allowFrom: ['*'], ...config } } },
    'default',
    {},
  );
}

async function doctor(config: DingTalkAccountConfig = {}, o: { hostConfig?: HostConfig } = { hostConfig: HOST_CONFIG }) {
  return runDoctor({ account: account(config), host: OPENCLAW, hostConfig: o.hostConfig, timeoutMs: 3000 });
}

const find = (checks: DoctorCheck[], name: string) => {
  const c = checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check "${name}" in ${checks.map((x) => x.name).join(', ')}`);
  return c;
};

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('doctor', () => {
  test('everything right: every check passes, in order 1–5, plus the operator-access note; nothing reaches a user', async () => {
    const checks = await doctor();
    expect(checks.map((c) => `${c.step} ${c.name} ${c.status}`)).toEqual([
      '1 config pass',
      '2 DingTalk access token pass',
      '2 Stream registration pass',
      '3 AI card pass',
      '4 gateway reachable pass',
      '4 chat endpoint enabled pass',
      '4 gateway auth pass',
      '4 agent id pass',
      '4 model configured pass',
      '4 access note',
      '5 media upload pass',
    ]);
    expect(doctorFailed(checks)).toBe(false);
    expect(find(checks, 'access').message).toContain('full operator access');
    expect(find(checks, 'access').message).toContain('in force: dmPolicy "open" (allowFrom: everyone), groupPolicy "allowlist", groups need an @mention');
    // The card was created for no one, and the gateway was asked nothing an agent would run.
    expect(fake.cardList()).toHaveLength(1);
    expect(fake.cardList()[0]!.deliveries).toHaveLength(0);
    expect(fake.sent).toHaveLength(0);
    expect(gw.requests).toHaveLength(1);
    expect(gw.requests[0]!.body).toMatchObject({ model: 'openclaw:main', messages: [] });
    expect(formatCheck(checks[0]!)).toBe('✓ 1. config: account "default" resolves with no problems');
  });

  test('1. config: the start-up messages, each naming its key; DingTalk checks skipped without credentials', async () => {
    const checks = await doctor({ clientSecret: '', groupSessionScope: 'everyone' as 'group', bogus: 1 } as DingTalkAccountConfig);
    const config = checks.filter((c) => c.step === 1);
    expect(config.every((c) => c.status === 'fail')).toBe(true);
    expect(config.map((c) => c.message)).toEqual(account({ clientSecret: '', groupSessionScope: 'everyone' as 'group', bogus: 1 } as DingTalkAccountConfig).problems);
    expect(config.map((c) => c.message).join('\n')).toMatch(/channels\.dingtalk-ai\.bogus is not a known setting[\s\S]*clientSecret is missing[\s\S]*groupSessionScope must be one of/);
    expect(find(checks, 'DingTalk access token').status).toBe('skip');
    expect(doctorFailed(checks)).toBe(true);
  });

  test('1. an oapiBaseUrl that is no URL: the config check names the key, the DingTalk checks are skipped (the doctor and the probe do not throw)', async () => {
    const checks = await doctor({ oapiBaseUrl: 'oapi.example' });
    expect(find(checks, 'config')).toMatchObject({ status: 'fail', message: 'channels.dingtalk-ai.oapiBaseUrl is not a valid http(s) URL: "oapi.example"' });
    expect(find(checks, 'DingTalk access token')).toMatchObject({ status: 'skip', message: 'needs valid apiBaseUrl, oapiBaseUrl and streamGatewayUrl (see config)' });
    expect(find(checks, 'media upload').status).toBe('skip');
    expect(fake.calls).toHaveLength(0);
    const probe = await createChannel({ registerChannel: () => {}, registrationMode: 'full' }).status.probeAccount({ account: account({ oapiBaseUrl: 'oapi.example' }), cfg: HOST_CONFIG });
    expect(probe.error).toContain('✗ 1. config: channels.dingtalk-ai.oapiBaseUrl is not a valid http(s) URL');
  });

  test('2. a wrong secret: access token and Stream registration fail, naming where to copy the credentials from', async () => {
    const checks = await doctor({ clientSecret: 'WRONG-SECRET' });
    for (const name of ['DingTalk access token', 'Stream registration']) {
      expect(find(checks, name)).toMatchObject({ status: 'fail', message: expect.stringContaining('DingTalk rejected clientId/clientSecret') });
      expect(find(checks, name).fix).toContain("copy channels.dingtalk-ai.clientId and clientSecret again from the app’s credentials page");
    }
    expect(find(checks, 'AI card').status).toBe('skip');
  });

  test('2. DingTalk unreachable: says which host could not be reached and that corporate proxies need HTTPS_PROXY', async () => {
    const port = await closedPort();
    const checks = await doctor({ apiBaseUrl: `http://127.0.0.1:${port}`, streamGatewayUrl: `http://127.0.0.1:${port}/v1.0/gateway/connections/open` });
    const token = find(checks, 'DingTalk access token');
    expect(token.message).toBe(`Cannot reach 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(token.fix).toContain('HTTPS_PROXY');
    expect(find(checks, 'Stream registration').message).toBe(`Cannot reach 127.0.0.1:${port} (ECONNREFUSED)`);
  });

  test('3. card permission missing: names the scopes and says to grant them and publish the app again', async () => {
    fake.faults.revokeScope('Card.Instance.Write');
    const card = find(await doctor(), 'AI card');
    expect(card.status).toBe('fail');
    expect(card.message).toContain('Card.Instance.Write');
    expect(card.fix).toBe('grant Card.Instance.Write / Card.Streaming.Write to the app in the DingTalk developer console and publish the app again');
  });

  test('3. streaming permission missing is found too (the card is created, the streaming call refused)', async () => {
    fake.faults.revokeScope('Card.Streaming.Write');
    const card = find(await doctor(), 'AI card');
    expect(card).toMatchObject({ status: 'fail', message: expect.stringContaining('Card.Streaming.Write') });
  });

  test('3. unknown template: names cardTemplateId', async () => {
    fake.faults.rejectCardCreate('param.templateNotExist');
    const card = find(await doctor(), 'AI card');
    expect(card.message).toContain('param.templateNotExist');
    expect(card.fix).toContain('channels.dingtalk-ai.cardTemplateId');
  });

  test.each([
    ['404 on /v1/chat/completions (OpenClaw 2026.9.6 with the endpoint off)', 404, 'chat endpoint enabled', 'Set gateway.http.endpoints.chatCompletions.enabled = true'],
    ['405 (older hosts with the endpoint off)', 405, 'chat endpoint enabled', 'Set gateway.http.endpoints.chatCompletions.enabled = true'],
    ['400 naming the agent', 400, 'agent id', 'channels.dingtalk-ai.agentId'],
  ])('4. gateway %s → the fix', async (_name, status, check, fix) => {
    gw.respond = () => ({ kind: 'status', status, body: { error: { message: status === 400 ? 'Unknown agent "nope".' : 'Not Found' } } });
    const checks = await doctor();
    expect(find(checks, check)).toMatchObject({ status: 'fail', fix: expect.stringContaining(fix) });
    expect(checks.filter((c) => c.step === 4 && c.status === 'fail')).toHaveLength(1);
    expect(doctorFailed(checks)).toBe(true);
  });

  test('4. a wrong path is not mistaken for a disabled endpoint', async () => {
    const checks = await doctor({ gatewayUrl: gw.url.replace('/v1/chat/completions', '/v1/chat') });
    expect(find(checks, 'chat endpoint enabled')).toMatchObject({ status: 'fail', message: 'HTTP 404: /v1/chat is not the chat endpoint', fix: expect.stringContaining('it should end with /v1/chat/completions') });
  });

  test('4. 401: says which credential was refused and where it was read from', async () => {
    let checks = await doctor({ gatewayToken: 'wrong-token' });
    expect(find(checks, 'gateway auth')).toMatchObject({ status: 'fail', message: expect.stringContaining('the credential from channels.dingtalk-ai.gatewayToken was refused') });
    const noToken = resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: gw.url, apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase } } }, 'default', {});
    checks = await runDoctor({ account: noToken, host: OPENCLAW, timeoutMs: 3000 });
    expect(find(checks, 'gateway auth')).toMatchObject({ status: 'fail', message: expect.stringContaining('no token or password'), fix: expect.stringContaining('gatewayToken') });
    const fromEnv = resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: gw.url, apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase } } }, 'default', { OPENCLAW_GATEWAY_TOKEN: 'env-wrong' });
    checks = await runDoctor({ account: fromEnv, host: OPENCLAW, timeoutMs: 3000 });
    expect(find(checks, 'gateway auth').message).toContain('env OPENCLAW_GATEWAY_TOKEN');
  });

  test('4. gateway not running: unreachable names host and port; later gateway checks are skipped', async () => {
    const port = await closedPort();
    const checks = await doctor({ gatewayUrl: `http://127.0.0.1:${port}/v1/chat/completions` });
    expect(find(checks, 'gateway reachable')).toMatchObject({ status: 'fail', message: `cannot reach the gateway at 127.0.0.1:${port} (ECONNREFUSED)`, fix: expect.stringContaining('Make sure it is running') });
    expect(['chat endpoint enabled', 'gateway auth', 'agent id', 'model configured'].map((n) => find(checks, n).status)).toEqual(['skip', 'skip', 'skip', 'skip']);
  });

  test('4. no model configured in the host config: fails with the model fix; unknown without the host config', async () => {
    expect(find(await doctor({}, { hostConfig: {} }), 'model configured')).toMatchObject({ status: 'fail', fix: expect.stringContaining('agents.defaults.model.primary') });
    expect(find(await doctor({}, {}), 'model configured').status).toBe('skip');
  });

  test('4. an agent\'s own model counts, keyed (OpenClaw 2026.9 agents.entries) or listed (older hosts)', async () => {
    const keyed = { agents: { entries: { sales: { model: { primary: 'mock/mock-vision' } } } } } as HostConfig;
    const listed = { agents: { list: [{ id: 'sales', model: 'mock/mock-vision' }] } } as HostConfig;
    for (const hostConfig of [keyed, listed]) {
      expect(find(await doctor({ agentId: 'sales' }, { hostConfig }), 'model configured')).toMatchObject({ status: 'pass', message: 'agent "sales" uses mock/mock-vision' });
    }
    expect(find(await doctor({ agentId: 'ops' }, { hostConfig: keyed }), 'model configured').status).toBe('fail');
  });

  test('4. the Clawdbot flavor asks for its own model name', async () => {
    await runDoctor({ account: account({ agentId: 'ops' }), host: CLAWDBOT, timeoutMs: 3000 });
    expect(gw.requests[0]!.body.model).toBe('clawdbot:ops');
  });

  test('DingTalk\'s error bodies (a token, an internal address) stay out of the checks: our words, the code and requestid', async () => {
    fake.faults.add({ match: { path: '/media/upload' }, action: { status: 200, body: { errcode: 40035, errmsg: 'denied at 10.1.2.3 token=TOK_X', request_id: 'RQ9' } } });
    fake.faults.add({ match: { path: '/v1.0/gateway/connections/open' }, action: { status: 500, body: { code: 'system.err', message: 'backend 10.1.2.3:8080 down' } } });
    const checks = await doctor();
    expect(find(checks, 'media upload').message).toContain('(code 40035, requestid RQ9)');
    expect(find(checks, 'Stream registration')).toMatchObject({ status: 'fail', message: 'DingTalk refused the Stream registration (HTTP 500)' });
    expect(JSON.stringify(checks)).not.toMatch(/10\.1\.2\.3|TOK_X/);
  });

  test('a refused token, template or card permission: our words with DingTalk\'s code and requestid, never its message', async () => {
    fake.faults.add({ match: { path: '/v1.0/oauth2/accessToken', times: 1 }, action: { status: 400, body: { code: 'invalidClientIdOrSecret', message: 'app at 10.1.2.3 token=TOK_X', requestid: 'RQ1' } } });
    const token = find(await doctor(), 'DingTalk access token');
    expect(token).toMatchObject({ status: 'fail', message: expect.stringMatching(/^DingTalk rejected clientId\/clientSecret.* \(code invalidClientIdOrSecret, requestid RQ1\)$/) });
    fake.faults.add({ match: { path: '/v1.0/card/instances', times: 1 }, action: { status: 400, body: { code: 'param.templateNotExist', message: 'template at 10.1.2.3', requestid: 'RQ2' } } });
    const template = find(await doctor(), 'AI card');
    expect(template.message).toBe('The AI card template is unavailable (code param.templateNotExist, requestid RQ2)');
    fake.faults.add({ match: { path: '/v1.0/card/instances', times: 1 }, action: { status: 403, body: { code: 'Forbidden.AccessDenied.AccessTokenPermissionDenied', message: 'denied at 10.1.2.3', requestid: 'RQ3', accessdenieddetail: { requiredScopes: ['Card.Instance.Write'] } } } });
    const permission = find(await doctor(), 'AI card');
    expect(permission.message).toBe('The DingTalk app lacks the AI card permissions (DingTalk requires: Card.Instance.Write; code Forbidden.AccessDenied.AccessTokenPermissionDenied, requestid RQ3)');
    expect(JSON.stringify([token, template, permission])).not.toMatch(/10\.1\.2\.3|TOK_X/);
  });

  test('5. media upload refused → the media fix; off → skipped', async () => {
    fake.faults.add({ match: { path: '/media/upload' }, action: { status: 200, body: { errcode: 40035, errmsg: 'no permission' } } });
    expect(find(await doctor(), 'media upload')).toMatchObject({ status: 'fail', fix: expect.stringContaining('enableMediaUpload: false') });
    expect(find(await doctor({ enableMediaUpload: false }), 'media upload').status).toBe('skip');
  });

  test.each([
    ['endpoint off (404)', 404, 'endpoint-disabled', 'chat endpoint enabled'],
    ['unknown agent (400)', 400, 'rejected', 'agent id'],
  ] as const)('%s: the user’s card and the doctor name the same fix (one causes table)', async (_n, status, cause, check) => {
    const reply = { kind: 'status' as const, status, body: { error: { message: status === 400 ? 'Unknown agent "x".' : 'Not Found' } } };
    gw.respond = () => reply;
    const doctorFix = find(await doctor(), check).fix!;
    expect(doctorFix).toBe(failureFix(cause, { status }));
    const h = await startHarness();
    try {
      h.gw.respond = () => reply;
      await h.send(h.fake.msg.text('hello there', { senderStaffId: 'u1' }));
      const text = h.fake.cardList()[0]!.streams.msgContent!.content;
      expect(text).toContain(doctorFix);
    } finally {
      await h.close();
    }
  });

  test('the host’s probe (every 60 s on Clawdbot) makes no quota-counted DingTalk call, and is not "works" while the gateway endpoint is off', async () => {
    const channel = createChannel({ registerChannel: () => {}, registrationMode: 'full' });
    for (let i = 0; i < 5; i++) expect(await channel.status.probeAccount({ account: account(), cfg: HOST_CONFIG })).toMatchObject({ ok: true });
    expect(fake.quotaCalls.map((c) => c.path)).toEqual([]);
    // Nor the Stream registration: it is not evidenced exempt (protocol notes §4 exempts tokens/auth/contacts only).
    expect(fake.gatewayOpens).toHaveLength(0);
    gw.respond = () => ({ kind: 'status', status: 404, body: { error: { message: 'Not Found' } } });
    const bad = await channel.status.probeAccount({ account: account(), cfg: HOST_CONFIG });
    expect(bad.ok).toBe(false);
    expect(bad.error).toContain('✗ 4. chat endpoint enabled');
    expect(bad.error).toContain('gateway.http.endpoints.chatCompletions.enabled = true');
    expect(fake.quotaCalls).toHaveLength(0);
    // Clawdbot prints "works" / "probe failed" from the snapshot.
    expect(channel.status.buildAccountSnapshot({ account: account(), probe: bad }).probe).toBe(bad);
    // The full doctor, an explicit command, still checks card and media with real calls.
    await doctor();
    expect(fake.quotaCalls.map((c) => c.path).sort()).toEqual(['/media/upload', '/v1.0/card/instances', '/v1.0/card/streaming']);
  });

  test('the probe reports the card permission the running account was refused, with the fix, at no quota cost', async () => {
    const h = await startHarness();
    try {
      h.fake.faults.revokeScope('Card.Instance.Write');
      await h.send(h.fake.msg.text('hello there', { senderStaffId: 'u1' }));
      const quotaBefore = h.fake.quotaCalls.length;
      const running = resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: h.gw.url, gatewayToken: 'gw-token', apiBaseUrl: h.fake.apiBase, oapiBaseUrl: h.fake.oapiBase, dmPolicy: 'open', allowFrom: ['*'] } } }, 'default', {});
      const channel = createChannel({ registerChannel: () => {}, registrationMode: 'full' });
      h.gw.respond = () => ({ kind: 'status', status: 400, body: { error: { message: 'Missing user message in `messages`.' } } });
      const probe = await channel.status.probeAccount({ account: running, cfg: HOST_CONFIG });
      expect(probe.ok).toBe(false);
      expect(probe.error).toContain('✗ 3. AI card');
      expect(probe.error).toContain('Card.Instance.Write');
      expect(probe.error).toContain('grant Card.Instance.Write / Card.Streaming.Write to the app in the DingTalk developer console and publish the app again');
      expect(h.fake.quotaCalls.length).toBe(quotaBefore);
    } finally {
      await h.close();
    }
  });

  test('1. the state folder: writable passes (a folder not made yet is not made by the check); under a file fails naming the key and the fix', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-doctor-'));
    const check = async (stateDir: string, accountId = 'default') => find(await runDoctor({ account: { ...account(), accountId }, host: OPENCLAW, timeoutMs: 3000, stateDir }), 'state folder');
    expect(await check(dir)).toMatchObject({ step: 1, status: 'pass', message: `${dir} can be written` });
    expect(await check(join(dir, 'later', 'state'))).toMatchObject({ status: 'pass' });
    await expect(stat(join(dir, 'later'))).rejects.toThrow(/ENOENT/);
    await writeFile(join(dir, 'not-a-folder'), 'x');
    expect(await check(join(dir, 'not-a-folder', 'state'), 'sales')).toEqual({
      step: 1,
      name: 'state folder',
      status: 'fail',
      message: `the state folder ${join(dir, 'not-a-folder', 'state')} cannot be written (ENOTDIR): call counts, handled messages and sessions are kept in memory only and lost at restart`,
      fix: "set channels.dingtalk-ai.accounts.sales.stateDir to a writable folder (or let the gateway's user write this one)",
    });
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  describe('the probe never says "works" while answers would fail', () => {
    const channel = () => createChannel({ registerChannel: () => {}, registrationMode: 'full' });
    const running = (h: Awaited<ReturnType<typeof startHarness>>) =>
      resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: h.gw.url, gatewayToken: 'gw-token', apiBaseUrl: h.fake.apiBase, oapiBaseUrl: h.fake.oapiBase, dmPolicy: 'open', allowFrom: ['*'] } } }, 'default', {});
    const missingUserMessage = () => ({ kind: 'status', status: 400, body: { error: { message: 'Missing user message in `messages`.' } } }) as const;

    test('a wrong gateway token: "gateway auth" fails naming where the token was read and the fix; no token leaks', async () => {
      const probe = await channel().status.probeAccount({ account: account({ gatewayToken: 'wrong-token-456' }), cfg: HOST_CONFIG });
      expect(probe.ok).toBe(false);
      expect(probe.error).toContain('✗ 4. gateway auth: HTTP 401: the credential from channels.dingtalk-ai.gatewayToken was refused — fix: ');
      expect(probe.error).toContain(failureFix('unauthorized', { status: 401 }));
      expect(JSON.stringify(probe)).not.toContain('wrong-token-456');
    });

    test('the gateway answers 404 on the chat endpoint while the engine is "gateway": fails; with engine "runtime" the endpoint does not matter', async () => {
      gw.respond = () => ({ kind: 'status', status: 404, body: { error: { message: 'Not Found' } } });
      const off = await channel().status.probeAccount({ account: account(), cfg: HOST_CONFIG });
      expect(off.ok).toBe(false);
      expect(off.error).toContain('✗ 4. chat endpoint enabled');
      const rt = await channel().status.probeAccount({ account: account({ engine: "runtime" }), cfg: HOST_CONFIG });
      expect(rt.error ?? "").toBe("");
      expect(rt.ok).toBe(true);
    });

    test('the app has no robot (the card is made but not delivered, 200 with deliverResults success:false): the AI card check fails with the fix', async () => {
      const h = await startHarness();
      try {
        // DingTalk's errorMsg reaches neither the probe nor the status: it can carry a token or an internal address.
        h.fake.faults.deliverResultFailure('robot not exist token=TOK_X at 10.1.2.3');
        await h.send(h.fake.msg.text('hello robot', { senderStaffId: 'u1' }));
        // The answer still reached the user, as markdown.
        expect(h.fake.sent).toHaveLength(1);
        h.gw.respond = missingUserMessage;
        const probe = await channel().status.probeAccount({ account: running(h), cfg: HOST_CONFIG });
        expect(probe.ok).toBe(false);
        expect(probe.error).toMatch(/✗ 3\. AI card: DingTalk made the AI card but did not deliver it \(deliverResults\.failed, spaceType IM_ROBOT\) \(seen [^)]+\) — fix: add the robot capability to the app/);
        const status = channel().status.buildAccountSnapshot({ account: running(h) });
        expect(status.lastError).toMatch(/^AI card: DingTalk made the AI card but did not deliver it \(deliverResults\.failed, spaceType IM_ROBOT\) \(seen [^)]+\) — fix: add the robot capability/);
        expect(JSON.stringify([probe, status])).not.toMatch(/robot not exist|TOK_X|10\.1\.2\.3/);
      } finally {
        await h.close();
      }
    });

    test('an account that failed to start in this gateway (engine "runtime", the host gave no channel runtime): "not running" with the fix; started again: passes', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'dt-doctor-'));
      const ch = createChannel({ registerChannel: () => {}, registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } });
      const failing = account({ engine: 'runtime' });
      const status: AccountSnapshot = { accountId: 'default' };
      const start = (a: typeof failing, signal = new AbortController().signal) =>
        ch.gateway.startAccount({ cfg: HOST_CONFIG, accountId: 'default', account: a, abortSignal: signal, setStatus: (p) => Object.assign(status, p) });
      await expect(start(failing)).rejects.toThrow(/no channel reply runtime/);
      const probe = await ch.status.probeAccount({ account: failing, cfg: HOST_CONFIG });
      expect(probe.ok).toBe(false);
      expect(probe.error).toMatch(
        /^✗ 2\. running in this gateway: not running: channels\.dingtalk-ai\.engine is "runtime", but openclaw gave this plugin no channel reply runtime: set engine to "gateway" \(since \d{4}-[^)]+\)$/,
      );
      expect(ch.status.buildAccountSnapshot({ account: failing, runtime: status })).toMatchObject({ running: false, lastError: expect.stringContaining('set engine to "gateway"') });
      // Fixed (engine "gateway") and started: the probe passes while it runs; stopped by the host it is no failure.
      const stop = new AbortController();
      const run = start(account(), stop.signal);
      await fake.waitFor(() => status.connected === true);
      const ok = await ch.status.probeAccount({ account: account(), cfg: HOST_CONFIG });
      expect(ok).toMatchObject({ ok: true });
      expect(ok.checks!.map((c) => c.name)).not.toContain('running in this gateway');
      stop.abort();
      await run;
      const stopped = await ch.status.probeAccount({ account: account(), cfg: HOST_CONFIG });
      expect(stopped.checks!.find((c) => c.name === 'running in this gateway')).toMatchObject({ status: 'skip', message: expect.stringMatching(/^stopped by the gateway at \d{4}-/) });
    });

    test('the running account lost its Stream connection and cannot get it back: fails naming the cause without addresses; connected again: passes', async () => {
      const h = await startHarness();
      try {
        h.gw.respond = missingUserMessage;
        // The fake counts the socket open a moment before the account's own status says so (seen under load).
        await h.fake.waitFor(() => h.statuses.at(-1)?.connected === true);
        const ok = await channel().status.probeAccount({ account: running(h), cfg: HOST_CONFIG });
        expect(ok.checks!.find((c) => c.name === 'Stream connection')).toMatchObject({ status: 'pass', message: expect.stringMatching(/^connected since \d{4}-/) });
        h.fake.faults.gatewayFail(503, 1000);
        h.fake.ws.drop();
        await h.fake.waitFor(() => h.statuses.at(-1)?.connected === false && !!h.statuses.at(-1)?.lastError);
        const down = await channel().status.probeAccount({ account: running(h), cfg: HOST_CONFIG });
        expect(down.ok).toBe(false);
        expect(down.error).toMatch(/✗ 2\. Stream connection: not connected since [^:]+:\d\d:[\d.]+Z: DingTalk refused the Stream registration \(HTTP 503\) — fix: in the DingTalk developer console set the robot’s message receiving mode to Stream/);
        expect(down.error).not.toMatch(/127\.0\.0\.1|localhost/);
        h.fake.faults.clear();
        await h.fake.waitFor(() => h.statuses.at(-1)?.connected === true, { timeoutMs: 10_000 });
        const again = await channel().status.probeAccount({ account: running(h), cfg: HOST_CONFIG });
        expect(again.error ?? "").toBe("");
      } finally {
        await h.close();
      }
      // A stopped account: the probe does not claim a connection.
      const stopped = await channel().status.probeAccount({ account: account(), cfg: HOST_CONFIG });
      expect(stopped.checks!.find((c) => c.name === 'Stream connection')!.status).toBe('skip');
    });
  });

  test('engine runtime: no gateway endpoint checks; the note says senders are ordinary senders', async () => {
    const checks = await doctor({ engine: 'runtime' });
    expect(find(checks, 'gateway endpoint').status).toBe('skip');
    expect(gw.requests).toHaveLength(0);
    expect(find(checks, 'access').message).toContain('ordinary senders');
    expect(doctorFailed(checks)).toBe(false);
  });
});

test('the monthly call budget as the running app knows it: a note with calls, budget and the mode in force (issue 18)', async () => {
  const noCredentials = resolveAccount({ channels: { 'dingtalk-ai': {} } }, 'default', {});
  const checks = await runDoctor({
    account: noCredentials,
    host: OPENCLAW,
    timeoutMs: 3000,
    callBudget: { month: '2026-12', calls: 2100, budget: 4000, mode: 'stream-wide', webhookCalls: 12, answers: 150, runsOutOn: '2026-12-24' },
  });
  expect(checks.filter((c) => c.name === 'monthly call budget').map(formatCheck)).toEqual([
    expect.stringContaining('2. monthly call budget: 2100 of 4000 DingTalk calls used in 2026-12 (China Standard Time month); delivery mode 2 (stream-wide); at this rate the budget runs out on 2026-12-24; 12 sessionWebhook replies'),
  ]);
});
