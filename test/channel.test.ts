import { afterEach, describe, expect, test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import plugin from '../plugin.ts';
import type { AccountSnapshot, DingTalkChannel, PluginApi } from '../src/channel.ts';
import { CLAWDBOT, detectHost, MOLTBOT, OPENCLAW } from '../src/host.ts';
import type { HostConfig } from '../src/config.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';

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

  test('an account without clientSecret is not configured, and the reason names the key', () => {
    const ch = register();
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'x' } } };
    const account = ch.config.resolveAccount(cfg, 'default');
    expect(ch.config.isConfigured(account)).toBe(false);
    expect(ch.config.unconfiguredReason(account)).toContain('channels.dingtalk-ai.clientSecret is missing');
    expect(ch.status.buildAccountSnapshot({ account }).lastError).toContain('clientSecret');
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
    expect(last.lastError).toMatch(/^this robot also runs in another process \(pid \d+ on .+\): each sees about half the messages; run one robot in one place$/);
    expect(last.otherInstances).toHaveLength(1);
    expect(first.every((s) => !s.lastError)).toBe(true);
    controller.abort();
    await Promise.all(runs);
  });
});
