import { afterEach, describe, expect, test } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import plugin from '../plugin.ts';
import type { AccountSnapshot, DingTalkChannel, PluginApi } from '../src/channel.ts';
import { CLAWDBOT, detectHost, MOLTBOT, OPENCLAW } from '../src/host.ts';
import type { HostConfig } from '../src/config.ts';
import { budgetFor } from '../src/dingtalk/budget.ts';
import { localDay } from '../src/activity.ts';
import { readFileStoreNamespace } from '../src/store.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';
import { lastUserText, startFakeGateway, type FakeGateway } from './fake-gateway/index.ts';

function register(extra: Partial<PluginApi> = {}): DingTalkChannel {
  let channel: DingTalkChannel | undefined;
  const result: unknown = plugin.register({ registerChannel: (r) => (channel = r.plugin), logger: { info() {}, warn() {}, error() {} }, ...extra });
  expect(result).toBeUndefined(); // register must be synchronous
  return channel!;
}

let fake: FakeDingTalk | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('channel registration', () => {
  test('registers dingtalk-ai with what the hosts require', () => {
    const ch = register();
    expect(ch.id).toBe('dingtalk-ai');
    expect(ch.capabilities.chatTypes).toEqual(['direct', 'group']);
    expect(typeof ch.config.listAccountIds).toBe('function');
    expect(typeof ch.config.resolveAccount).toBe('function');
    expect(ch.meta).toMatchObject({ label: 'DingTalk', docsPath: expect.any(String), blurb: expect.any(String), selectionLabel: expect.any(String) });
  });

  test('access: pairing is the default where the host offers it; the pairing CLI finds the channel; doctor warns about an open gateway DM policy', () => {
    const pairing = { readAllowFromStore: async () => [], upsertPairingRequest: async () => ({ code: 'ABCD2345', created: true }) };
    const ch = register({ runtime: { channel: { pairing } } });
    const base = { clientId: 'x', clientSecret: 'y' };
    const paired = ch.config.resolveAccount({ channels: { 'dingtalk-ai': base } }, 'default');
    expect(paired.access.dmPolicy).toBe('pairing');
    expect(paired.problems).toEqual([]);
    expect(ch.pairing.normalizeAllowEntry('dingtalk:u1')).toBe('u1');
    expect(ch.security.collectWarnings({ account: paired })).toEqual([]);
    const open = ch.config.resolveAccount({ channels: { 'dingtalk-ai': { ...base, dmPolicy: 'open', allowFrom: ['*'] } } }, 'default');
    expect(ch.security.collectWarnings({ account: open })).toEqual([expect.stringContaining('channels.dingtalk-ai.dmPolicy is "open" with engine "gateway"')]);
    // Without the host's pairing API: the allowlist by default, and pairing asked for explicitly is a problem.
    const bare = register();
    expect(bare.config.resolveAccount({ channels: { 'dingtalk-ai': base } }, 'default').access.dmPolicy).toBe('allowlist');
    expect(bare.config.unconfiguredReason(bare.config.resolveAccount({ channels: { 'dingtalk-ai': { ...base, dmPolicy: 'pairing' } } }, 'default'))).toContain(
      'channels.dingtalk-ai.dmPolicy is "pairing" but this host offers no pairing',
    );
  });

  test('a gateway password written without quotes (a PIN) or carried in gatewayUrl never shows in the status or the doctor', async () => {
    const ch = register();
    const cfg = { channels: { 'dingtalk-ai': { clientId: 'dingX', clientSecret: 'SECRET-X', gatewayPassword: 73915820, gatewayUrl: 'http://admin:hunter22@127.0.0.1:9/v1/chat/completions', apiBaseUrl: 'http://127.0.0.1:9', oapiBaseUrl: 'http://127.0.0.1:9' } } } as unknown as HostConfig;
    const account = ch.config.resolveAccount(cfg, 'default');
    const lastError = String(ch.status.buildAccountSnapshot({ account }).lastError);
    expect(lastError).toBe(
      'channels.dingtalk-ai.gatewayPassword must be a string (in quotes), got a number; ' +
        'channels.dingtalk-ai.gatewayUrl carries a user name or password ("http://***@127.0.0.1:9/v1/chat/completions"): remove it from the URL and put the gateway\'s token or password in gatewayToken or gatewayPassword',
    );
    const probe = await ch.status.probeAccount({ account, timeoutMs: 1000, cfg });
    expect(probe.ok).toBe(false);
    // The gateway check ran (fetch refuses such a URL, and its error quotes it).
    expect(probe.checks?.find((c) => c.name === 'gateway reachable')).toMatchObject({ status: 'fail', message: expect.stringContaining('http://***@127.0.0.1:9/v1/chat/completions') });
    expect(JSON.stringify(probe)).not.toMatch(/73915820|hunter22|admin/);
  });

  test('an account without clientSecret is not configured, and the reason names the key', () => {
    const ch = register();
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'x' } } };
    const account = ch.config.resolveAccount(cfg, 'default');
    expect(ch.config.isConfigured(account)).toBe(false);
    expect(ch.config.unconfiguredReason(account)).toContain('channels.dingtalk-ai.clientSecret is missing');
    expect(ch.status.buildAccountSnapshot({ account }).lastError).toContain('clientSecret');
    // What failed while the account still ran (an answer, the connection) must not hide why it does not run now.
    const runtime = { accountId: 'default', running: false, connected: false, lastError: 'answer failed at 2026-12-01T02:03:28.000Z: The gateway rejected our credentials (HTTP 401).' };
    const shown = ch.status.buildAccountSnapshot({ account, runtime }).lastError;
    expect(shown).toContain('channels.dingtalk-ai.clientSecret is missing');
    expect(shown).not.toContain('answer failed');
  });

  test('an unknown key (Clawdbot does not validate the section) makes the account not configured, naming the key', () => {
    const ch = register();
    const cfg = { channels: { 'dingtalk-ai': { clientId: 'x', clientSecret: 'y', bogusKey: 1, accounts: { ops: { clientSecrte: 'z' } } } } } as HostConfig;
    const account = ch.config.resolveAccount(cfg, 'default');
    expect(ch.config.isConfigured(account)).toBe(false);
    expect(ch.config.unconfiguredReason(account)).toContain('channels.dingtalk-ai.bogusKey is not a known setting');
    expect(ch.status.buildAccountSnapshot({ account }).lastError).toContain('bogusKey');
    expect(ch.config.unconfiguredReason(ch.config.resolveAccount(cfg, 'ops'))).toContain('channels.dingtalk-ai.accounts.ops.clientSecrte');
    const known = { channels: { 'dingtalk-ai': { clientId: 'x', clientSecret: 'y', debug: true, accounts: { ops: { clientId: 'x2', agentId: 'ops' } } } } } as HostConfig;
    expect(ch.config.isConfigured(ch.config.resolveAccount(known, 'ops'))).toBe(true);
  });

  test('the status names the engine and the access policy, and says the gateway engine is operator access', () => {
    const ch = register({ registrationMode: 'full' });
    const gateway = ch.status.buildAccountSnapshot({ account: ch.config.resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'x', clientSecret: 'y', dmPolicy: 'allowlist', allowFrom: ['u1'] } } } as HostConfig, 'default') });
    expect(gateway).toMatchObject({ engine: 'gateway', accessPolicy: 'dm allowlist, groups allowlist' });
    expect(gateway.dmPolicy).toBeUndefined(); // the hosts would print it into the status line the README quotes
    expect(gateway.access).toContain('operator access');
    const runtime = ch.status.buildAccountSnapshot({ account: ch.config.resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'x', clientSecret: 'y', engine: 'runtime' } } } as HostConfig, 'default') });
    expect(runtime).toMatchObject({ engine: 'runtime' });
    expect(runtime.access).toBeUndefined();
  });

  test('the status shows the app\'s DingTalk calls this month, the budget and the delivery mode in force (issue 18)', () => {
    const ch = register({ registrationMode: 'full' });
    const account = ch.config.resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'dingSTATUS18', clientSecret: 'y', monthlyCallBudget: 300 } } } as HostConfig, 'default');
    const governor = budgetFor('dingSTATUS18').governor;
    governor.configure({ monthlyCallBudget: 300 });
    for (let i = 0; i < 299; i++) governor.counted('api');
    const text = String(ch.status.buildAccountSnapshot({ account }).callBudget);
    expect(text).toMatch(/^299 of 300 DingTalk calls used in \d{4}-\d{2} \(China Standard Time month\); delivery mode 4 \(markdown\)/);
  });

  test('snapshots and inspection never carry the secret', () => {
    const ch = register();
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'x', clientSecret: 'VERYSECRET', gatewayToken: 'GWTOKEN1' } } };
    const text = JSON.stringify([ch.config.inspectAccount(cfg, 'default'), ch.config.describeAccount(ch.config.resolveAccount(cfg, 'default'))]);
    expect(text).not.toContain('VERYSECRET');
    expect(text).not.toContain('GWTOKEN1');
  });

  test('host detection: OpenClaw by its registration mode, the older hosts by name', () => {
    expect(detectHost({ registrationMode: 'full' })).toBe(OPENCLAW);
    expect(detectHost({}, ['/usr/bin/node', '/x/node_modules/clawdbot/dist/entry.js'])).toBe(CLAWDBOT);
    expect(detectHost({}, ['/usr/bin/node', '/x/node_modules/moltbot/dist/entry.js'])).toBe(MOLTBOT);
    expect(OPENCLAW.model('main')).toBe('openclaw:main');
    expect(CLAWDBOT.model('ops')).toBe('clawdbot:ops');
  });

  test('startAccount connects, reports connected, stays running until aborted, then reports stopped', async () => {
    fake = await startFakeDingTalk();
    const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
    const ch = register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } });
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase } } };
    const statuses: AccountSnapshot[] = [];
    const controller = new AbortController();
    let returned = false;
    const run = ch.gateway
      .startAccount({ cfg, accountId: 'default', account: ch.config.resolveAccount(cfg, 'default'), abortSignal: controller.signal, setStatus: (s) => statuses.push(s) })
      .then(() => (returned = true));
    await fake.waitForConnection();
    await fake.waitFor(() => statuses.some((s) => s.connected === true));
    fake.pushRobotMessage(fake.msg.text('hi'));
    await fake.waitFor(() => statuses.some((s) => typeof s.lastInboundAt === 'number'));
    expect(fake.conns[0]!.ua).toMatch(/^dingtalk-moltbot-connector\//);
    await new Promise((r) => setTimeout(r, 100));
    expect(returned).toBe(false);
    controller.abort();
    await run;
    expect(statuses.at(-1)).toMatchObject({ running: false, connected: false });
    await fake.waitFor(() => fake!.openConnections() === 0);
  });

  test('a state folder that cannot be written (under a file): the status lastError names the folder and stateDir, the probe fails; nothing else leaks', async () => {
    fake = await startFakeDingTalk();
    const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
    await writeFile(join(dir, 'not-a-folder'), 'x');
    const ch = register({ registrationMode: 'full' });
    const stateDir = join(dir, 'not-a-folder', 'state');
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, stateDir } } };
    const account = ch.config.resolveAccount(cfg, 'default');
    expect(account.problems).toEqual([]);
    const status: AccountSnapshot = { accountId: 'default' };
    const stop = new AbortController();
    const run = ch.gateway.startAccount({ cfg, accountId: 'default', account, abortSignal: stop.signal, setStatus: (p) => Object.assign(status, p) });
    await fake.waitFor(() => status.connected === true);
    // The first writes (the call counter of the token fetch, the instance record) fail within the store's write delay.
    await fake.waitFor(() => ch.status.buildAccountSnapshot({ account, runtime: status }).lastError != null);
    expect(ch.status.buildAccountSnapshot({ account, runtime: status }).lastError).toMatch(
      new RegExp(`^state folder: the state folder ${stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be written \\(ENOTDIR\\): call counts, handled messages and sessions are kept in memory only and lost at restart \\(since \\d{4}-[^)]+\\) — fix: set channels\\.dingtalk-ai\\.stateDir to a writable folder`),
    );
    const probe = await ch.status.probeAccount({ account, cfg, timeoutMs: 2_000 });
    expect(probe.ok).toBe(false);
    expect(probe.error).toContain(`✗ 1. state folder: the state folder ${stateDir} cannot be written (ENOTDIR)`);
    stop.abort();
    await run;
  });

  test('a second start of the same robot on the same state folder says so in its status', async () => {
    fake = await startFakeDingTalk();
    const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase } } };
    const controller = new AbortController();
    const start = (statuses: AccountSnapshot[]) => {
      const ch = register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } });
      return ch.gateway.startAccount({ cfg, accountId: 'default', account: ch.config.resolveAccount(cfg, 'default'), abortSignal: controller.signal, setStatus: (s) => statuses.push(s) });
    };
    const first: AccountSnapshot[] = [];
    const second: AccountSnapshot[] = [];
    const runs = [start(first)];
    await fake.waitForConnection();
    runs.push(start(second));
    await fake.waitFor(() => second.some((s) => s.connected === true));
    const last = second.at(-1)!;
    expect(last.lastError).toMatch(/^this robot also runs in another process \(pid \d+ on .+\): each sees about half the messages and counts only its own calls against monthlyCallBudget \(counts in one state folder are not added across processes\); run one robot in one place$/);
    expect(last.otherInstances).toHaveLength(1);
    expect(first.every((s) => !s.lastError)).toBe(true);
    controller.abort();
    await Promise.all(runs);
  });
});

describe('several robots in one gateway', () => {
  let gw: FakeGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  /** One account run as the host runs it: its own abort signal, its status patches merged as the host merges them. */
  function runAccount(ch: DingTalkChannel, cfg: HostConfig, accountId: string) {
    const controller = new AbortController();
    const status: AccountSnapshot = { accountId };
    const done = ch.gateway.startAccount({
      cfg,
      accountId,
      account: ch.config.resolveAccount(cfg, accountId),
      abortSignal: controller.signal,
      setStatus: (patch) => Object.assign(status, patch),
    });
    return { status, stop: async () => (controller.abort(), await done) };
  }

  test('two accounts each answer through their own robot and agent; stopping and restarting one leaves the other connected and answering, every message answered once', async () => {
    fake = await startFakeDingTalk({ apps: [{ appKey: 'dingSALES', appSecret: 'S1' }, { appKey: 'dingHR', appSecret: 'S2' }] });
    gw = await startFakeGateway({ token: 'gw-token' });
    const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
    const ch = register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } });
    const cfg: HostConfig = {
      channels: {
        'dingtalk-ai': {
          // Shared by both robots (inherited): where DingTalk and the gateway are, who may talk.
          apiBaseUrl: fake.apiBase,
          oapiBaseUrl: fake.oapiBase,
          gatewayUrl: gw.url,
          gatewayToken: 'gw-token',
          dmPolicy: 'open',
          allowFrom: ['*'],
          accounts: { sales: { clientId: 'dingSALES', clientSecret: 'S1', agentId: 'sales-agent' }, hr: { clientId: 'dingHR', clientSecret: 'S2', agentId: 'hr-agent' } },
        },
      },
    };
    expect(ch.config.listAccountIds(cfg)).toEqual(['sales', 'hr']);
    // Asked without an account id (Clawdbot does for sends and lookups), the channel answers with its default account.
    expect(ch.config.resolveAccount(cfg).accountId).toBe('sales');
    expect(ch.config.resolveAccount(cfg, null).clientId).toBe('dingSALES');
    const ask = async (appKey: string, text: string) => {
      const before = new Set(fake!.cards.keys());
      const { messageId } = fake!.pushRobotMessage(fake!.msg.text(text, { appKey, senderStaffId: 'u1' }));
      await fake!.waitForAck(messageId, { within: 2000 });
      const card = () => [...fake!.cards.values()].find((c) => !before.has(c.outTrackId) && c.appKey === appKey);
      await fake!.waitFor(() => card()?.flowStatusHistory.at(-1) === '3', { timeoutMs: 5000 });
      return card()!;
    };

    let sales = runAccount(ch, cfg, 'sales');
    const hr = runAccount(ch, cfg, 'hr');
    await fake.waitFor(() => fake!.openConnections('dingSALES') === 1 && fake!.openConnections('dingHR') === 1);
    const hrConn = fake.conns.find((c) => c.appKey === 'dingHR' && c.open)!;

    const s1 = await ask('dingSALES', 'quote please');
    const h1 = await ask('dingHR', 'leave policy');
    expect([s1.appKey, s1.streams.msgContent!.content]).toEqual(['dingSALES', 'Echo: quote please']);
    expect([h1.appKey, h1.streams.msgContent!.content]).toEqual(['dingHR', 'Echo: leave policy']);
    // Each account's agentId picks the agent that answers it.
    expect(gw.requests.map((r) => r.body.model)).toEqual(['openclaw:sales-agent', 'openclaw:hr-agent']);

    // Stop sales (a config reload of that account): hr keeps its very connection and answers on.
    await sales.stop();
    expect(sales.status).toMatchObject({ running: false, connected: false });
    expect(fake.openConnections('dingSALES')).toBe(0);
    const h2 = await ask('dingHR', 'while sales is down');
    expect(h2.streams.msgContent!.content).toBe('Echo: while sales is down');
    sales = runAccount(ch, cfg, 'sales');
    await fake.waitFor(() => fake!.openConnections('dingSALES') === 1);
    const [s2, h3] = await Promise.all([ask('dingSALES', 'back again'), ask('dingHR', 'during the restart')]);
    expect(s2.streams.msgContent!.content).toBe('Echo: back again');
    expect(h3.streams.msgContent!.content).toBe('Echo: during the restart');
    expect(hrConn.open).toBe(true);
    expect(fake.conns.filter((c) => c.appKey === 'dingHR')).toHaveLength(1);

    // Every message answered exactly once, by its own robot.
    expect(gw.requests.map((r) => lastUserText(r)).sort()).toEqual(['back again', 'during the restart', 'leave policy', 'quote please', 'while sales is down']);
    expect(fake.cardList().map((c) => c.appKey).sort()).toEqual(['dingHR', 'dingHR', 'dingHR', 'dingSALES', 'dingSALES']);
    expect(fake.cardList().every((c) => c.flowStatusHistory.filter((s) => s === '3').length === 1)).toBe(true);

    // The status of each account: connected and since when, last inbound/outbound, answers today (kept across the restart).
    const snapshot = (id: string, runtime: AccountSnapshot) => ch.status.buildAccountSnapshot({ account: ch.config.resolveAccount(cfg, id), runtime });
    await fake.waitFor(() => sales.status.answersToday === 2 && hr.status.answersToday === 3);
    for (const [id, run, answers] of [['sales', sales, 2], ['hr', hr, 3]] as const) {
      const s = snapshot(id, run.status);
      expect(s).toMatchObject({ accountId: id, running: true, connected: true, answersToday: answers, engine: 'gateway', accessPolicy: 'dm open, groups allowlist', lastError: null });
      expect(s.lastConnectedAt).toBeGreaterThan(Date.now() - 60_000);
      expect(s.lastInboundAt).toBeGreaterThanOrEqual(s.lastConnectedAt as number);
      expect(s.lastOutboundAt).toBeGreaterThanOrEqual(s.lastInboundAt as number);
    }
    // sales reconnected after its restart; hr's connection is as old as its start.
    expect(snapshot('sales', sales.status).lastConnectedAt).toBeGreaterThan(snapshot('hr', hr.status).lastConnectedAt as number);
    await Promise.all([sales.stop(), hr.stop()]);
  });

  test('a message the agent sends first (the host\'s outbound adapter) shows as the account\'s last outbound', async () => {
    fake = await startFakeDingTalk();
    const ch = register({ registrationMode: 'full' });
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { accounts: { notify: { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase } } } } };
    const account = ch.config.resolveAccount(cfg, 'notify');
    expect(ch.status.buildAccountSnapshot({ account }).lastOutboundAt).toBeNull();
    const before = Date.now();
    await ch.outbound.sendText({ cfg, to: 'user:staff42', text: 'reminder', accountId: 'notify' });
    expect(fake.sent).toHaveLength(1);
    expect(ch.status.buildAccountSnapshot({ account }).lastOutboundAt).toBeGreaterThanOrEqual(before);
    expect(ch.status.buildAccountSnapshot({ account }).answersToday).toBe(0);
  });

  test('a second account on the same clientId does not start (the error names both keys); the first keeps its connection', async () => {
    fake = await startFakeDingTalk();
    const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
    const ch = register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } });
    const cfg: HostConfig = {
      channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, accounts: { copy: { agentId: 'other' } } } },
    };
    const first = runAccount(ch, cfg, 'default');
    await fake.waitFor(() => first.status.connected === true);
    const copy = ch.config.resolveAccount(cfg, 'copy');
    expect(ch.config.isConfigured(copy)).toBe(false);
    expect(ch.status.buildAccountSnapshot({ account: copy }).lastError).toMatch(
      /^channels\.dingtalk-ai\.clientId \(inherited by accounts\.copy\) names the same robot \(clientId dingAPPKEY\) as channels\.dingtalk-ai\.clientId \(account "default"\)/,
    );
    const opens = fake.gatewayOpens.length;
    await expect(
      ch.gateway.startAccount({ cfg, accountId: 'copy', account: copy, abortSignal: new AbortController().signal, setStatus: () => {} }),
    ).rejects.toThrow(/names the same robot/);
    expect(fake.gatewayOpens.length).toBe(opens);
    expect(fake.openConnections()).toBe(1);
    await first.stop();
  });

  describe('a reload restarts only the accounts it touched (OpenClaw accountScopedRestart)', () => {
    async function twoRobots() {
      fake = await startFakeDingTalk({ apps: [{ appKey: 'dingA', appSecret: 'SA' }, { appKey: 'dingB', appSecret: 'SB' }] });
      const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
      const ch = register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } });
      const config = (accounts: Record<string, { clientId: string; clientSecret: string; enabled?: boolean }>): HostConfig => ({
        channels: { 'dingtalk-ai': { apiBaseUrl: fake!.apiBase, oapiBaseUrl: fake!.oapiBase, dmPolicy: 'open', allowFrom: ['*'], accounts } },
      });
      return { ch, config, A: { clientId: 'dingA', clientSecret: 'SA' }, B: { clientId: 'dingB', clientSecret: 'SB' } };
    }
    const settle = () => new Promise((r) => setTimeout(r, 300));

    test('a pointed at b\'s robot while b runs: a waits and says why naming both keys, b keeps its one connection; a connects once b stops', async () => {
      const { ch, config, A, B } = await twoRobots();
      const cfg1 = config({ a: A, b: B });
      let a = runAccount(ch, cfg1, 'a');
      const b = runAccount(ch, cfg1, 'b');
      await fake!.waitFor(() => a.status.connected === true && b.status.connected === true);
      const cfg2 = config({ a: B, b: B });
      await a.stop();
      a = runAccount(ch, cfg2, 'a');
      await settle();
      expect(fake!.openConnections('dingB')).toBe(1);
      expect(fake!.openConnections('dingA')).toBe(0);
      expect(a.status).toMatchObject({ running: true, connected: false });
      expect(a.status.lastError).toBe(
        'channels.dingtalk-ai.accounts.a.clientId names the robot dingB, which account "b" (channels.dingtalk-ai.accounts.b.clientId) already runs in this gateway: ' +
          'DingTalk pushes each message to only one of a robot\'s connections, so this account does not connect while "b" runs (it connects when that one stops). ' +
          'Set this account\'s own robot\'s clientId and clientSecret, or disable one of them (enabled: false)',
      );
      // The probe does not say "works" for it: it answers no one.
      const probe = await ch.status.probeAccount({ account: ch.config.resolveAccount(cfg2, 'a'), timeoutMs: 1000, cfg: cfg2 });
      expect(probe.ok).toBe(false);
      expect(probe.error).toContain('not running: channels.dingtalk-ai.accounts.a.clientId names the robot dingB, which account "b"');
      // b's own restart (the new config refuses it: a comes first) hands the robot to a.
      await b.stop();
      await fake!.waitFor(() => a.status.connected === true);
      expect(a.status.lastError).toBeNull();
      expect((await ch.status.probeAccount({ account: ch.config.resolveAccount(cfg2, 'a'), timeoutMs: 1000, cfg: cfg2 })).error ?? '').not.toContain('not running');
      await expect(ch.gateway.startAccount({ cfg: cfg2, accountId: 'b', account: ch.config.resolveAccount(cfg2, 'b'), abortSignal: new AbortController().signal, setStatus: () => {} })).rejects.toThrow(/names the same robot/);
      expect(fake!.openConnections('dingB')).toBe(1);
      await a.stop();
    });

    test('a disabled, b moved to a\'s robot, then a enabled again: never two connections on one robot', async () => {
      const { ch, config, A, B } = await twoRobots();
      const cfg1 = config({ a: A, b: B });
      const a = runAccount(ch, cfg1, 'a');
      let b = runAccount(ch, cfg1, 'b');
      await fake!.waitFor(() => a.status.connected === true && b.status.connected === true);
      // a disabled (a stops), then b pointed at a's robot (b restarts): b takes it.
      await a.stop();
      const cfg2 = config({ a: { ...A, enabled: false }, b: A });
      await b.stop();
      b = runAccount(ch, cfg2, 'b');
      await fake!.waitFor(() => b.status.connected === true && fake!.openConnections('dingA') === 1);
      // a enabled again: only a restarts; b still runs its robot, so a waits.
      const cfg3 = config({ a: A, b: A });
      const a2 = runAccount(ch, cfg3, 'a');
      await settle();
      expect(fake!.openConnections('dingA')).toBe(1);
      expect(a2.status.lastError).toMatch(/^channels\.dingtalk-ai\.accounts\.a\.clientId names the robot dingA, which account "b" \(channels\.dingtalk-ai\.accounts\.b\.clientId\) already runs/);
      await a2.stop();
      expect(a2.status).toMatchObject({ running: false, connected: false });
      await b.stop();
    });

    test('a third robot added (only accounts.hr starts): the running default robot\'s budget follows, 4000 / 3 = 1333', async () => {
      fake = await startFakeDingTalk({ apps: [{ appKey: 'dingBudMAIN', appSecret: 'SM' }, { appKey: 'dingBudOPS', appSecret: 'SO' }, { appKey: 'dingBudHR', appSecret: 'SH' }] });
      const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
      const ch = register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } });
      const top = { clientId: 'dingBudMAIN', clientSecret: 'SM', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, dmPolicy: 'open' as const, allowFrom: ['*'] };
      const ops = { clientId: 'dingBudOPS', clientSecret: 'SO' };
      const cfg1: HostConfig = { channels: { 'dingtalk-ai': { ...top, accounts: { ops } } } };
      const main = runAccount(ch, cfg1, 'default');
      await fake.waitFor(() => main.status.connected === true);
      const shown = (cfg: HostConfig) => String(ch.status.buildAccountSnapshot({ account: ch.config.resolveAccount(cfg, 'default'), runtime: main.status }).callBudget);
      expect(shown(cfg1)).toMatch(/^0 of 2000 DingTalk calls used in /);
      const cfg2: HostConfig = { channels: { 'dingtalk-ai': { ...top, accounts: { ops, hr: { clientId: 'dingBudHR', clientSecret: 'SH' } } } } };
      const hr = runAccount(ch, cfg2, 'hr');
      await fake.waitFor(() => hr.status.connected === true);
      expect(budgetFor('dingBudMAIN').governor.budget).toBe(1333);
      expect(shown(cfg2)).toMatch(/^\d+ of 1333 DingTalk calls used in /);
      await Promise.all([hr.stop(), main.stop()]);
    });
  });

  test('answersToday survives a gateway restart: a new process on the same state folder shows the morning\'s answers before any new one', async () => {
    fake = await startFakeDingTalk({ apps: [{ appKey: 'dingDAY', appSecret: 'S-DAY' }] });
    gw = await startFakeGateway({ token: 'gw-token' });
    const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingDAY', clientSecret: 'S-DAY', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, gatewayUrl: gw.url, gatewayToken: 'gw-token', dmPolicy: 'open', allowFrom: ['*'] } } };
    const morning = runAccount(register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } }), cfg, 'default');
    await fake.waitFor(() => morning.status.connected === true);
    for (const q of ['one', 'two']) fake.pushRobotMessage(fake.msg.text(q, { appKey: 'dingDAY' }));
    await fake.waitFor(() => morning.status.answersToday === 2, { timeoutMs: 5000 });
    await morning.stop();
    // The store's records of the account as a new process reads them (src/store.ts readFileStoreNamespace).
    expect([...(await readFileStoreNamespace(join(dir, 'dingtalk-ai', 'default'), 'answers')).values()]).toEqual([2]);
    const noon = runAccount(register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } }), cfg, 'default');
    await fake.waitFor(() => noon.status.answersToday === 2);
    expect(noon.status.answersDay).toBe(localDay(Date.now()));
    await noon.stop();
  });

  test('the status says what went wrong with the fix: a refused gateway token, cards refused by DingTalk', async () => {
    fake = await startFakeDingTalk();
    gw = await startFakeGateway({ token: 'gw-token' });
    const dir = await mkdtemp(join(tmpdir(), 'dt-channel-'));
    const ch = register({ registrationMode: 'full', runtime: { state: { resolveStateDir: () => dir } } });
    const section = { clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, gatewayUrl: gw.url, dmPolicy: 'open' as const, allowFrom: ['*'],
      // The app's monthly calls are counted per process (src/dingtalk/budget.ts): earlier tests of this file spent
      // enough of dingAPPKEY's default 4,000 that the governor chose markdown-only (no card to refuse) on a fast run.
      monthlyCallBudget: 1_000_000 };
    const ask = async (text: string) => {
      const sent = fake!.sent.length;
      const cards = fake!.cards.size;
      fake!.pushRobotMessage(fake!.msg.text(text));
      await fake!.waitFor(() => fake!.sent.length > sent || [...fake!.cards.values()].slice(cards).some((c) => ['3', '5'].includes(c.flowStatusHistory.at(-1) ?? '')), { timeoutMs: 5000 });
    };
    // A wrong gateway token: the answer fails; the status names the key to fix, without the token.
    let cfg: HostConfig = { channels: { 'dingtalk-ai': { ...section, accounts: { desk: { clientId: 'dingAPPKEY', gatewayToken: 'wrong-token-123' } } } } };
    let run = runAccount(ch, cfg, 'desk');
    await fake.waitFor(() => run.status.connected === true);
    await ask('hello');
    await fake.waitFor(() => typeof run.status.lastError === 'string');
    const snap = () => ch.status.buildAccountSnapshot({ account: ch.config.resolveAccount(cfg, 'desk'), runtime: run.status });
    expect(snap().lastError).toMatch(/^answer failed at \d{4}-\d\d-\d\dT[\d:.]+Z: The gateway rejected our credentials \(HTTP 401\)\. Check channels\.dingtalk-ai\.gatewayToken/);
    expect(JSON.stringify(snap())).not.toMatch(/wrong-token-123|127\.0\.0\.1/);
    expect(snap().answersToday).toBe(0);
    await run.stop();

    // Fixed token, cards refused: answers arrive as markdown (they count), and the status names the card permission fix.
    cfg = { channels: { 'dingtalk-ai': { ...section, accounts: { desk: { clientId: 'dingAPPKEY', gatewayToken: 'gw-token' } } } } };
    fake.faults.revokeScope('Card.Instance.Write');
    run = runAccount(ch, cfg, 'desk');
    await fake.waitFor(() => run.status.connected === true);
    await ask('hello again');
    await fake.waitFor(() => run.status.answersToday === 1);
    expect(run.status.lastError).toBeNull();
    expect(snap().lastError).toMatch(/^AI card: The DingTalk app lacks the AI card permissions .*\(seen .*\) — fix: grant Card\.Instance\.Write \/ Card\.Streaming\.Write to the app/);
    await run.stop();
  });
});
