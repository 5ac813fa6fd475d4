import { afterEach, describe, expect, test } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAccount, type HostConfig } from '../src/config.ts';
import { budgetFor } from '../src/dingtalk/budget.ts';
import { CallGovernor, cstMonth } from '../src/dingtalk/governor.ts';
import { createOutbound } from '../src/outbound-adapter.ts';
import { FileStore, fileStoreAt } from '../src/store.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';

let fake: FakeDingTalk | undefined;
const cleanup: string[] = [];
afterEach(async () => {
  await fake?.close();
  fake = undefined;
  for (const dir of cleanup.splice(0)) await rm(dir, { recursive: true, force: true });
});

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(200, 7)]);

const quiet = { info() {}, warn() {}, error() {} };

// The 1st of the month after this one in China time (UTC+8), as YYYY-MM-01.
const cst = new Date(Date.now() + 8 * 3_600_000);
const nextMonth = new Date(Date.UTC(cst.getUTCFullYear(), cst.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);

describe('outbound sends for an account that does not run in this process', () => {
  async function setup(monthlyCallBudget: number) {
    fake = await startFakeDingTalk();
    const stateDir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { accounts: { notify: { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, monthlyCallBudget } } } } };
    const { outbound } = createOutbound({ resolve: (c, id) => resolveAccount(c, id ?? 'default', {}), config: () => cfg, stateDir: () => stateDir, log: quiet });
    return { outbound, cfg, stateDir };
  }

  test('monthlyCallBudget 0 holds: the send is refused naming the key, nothing reaches DingTalk', async () => {
    const { outbound, cfg } = await setup(0);
    for (let i = 0; i < 3; i++) {
      await expect(outbound.sendText({ cfg, to: 'user:u1', text: `hello ${i}`, accountId: 'notify' })).rejects.toThrow(
        `DingTalk message not sent: this app's monthly call budget (0 calls, channels.dingtalk-ai.accounts.notify.monthlyCallBudget) is spent; it resets on ${nextMonth} 00:00 China time (UTC+8); to send sooner, raise channels.dingtalk-ai.accounts.notify.monthlyCallBudget`,
      );
    }
    expect(fake!.sent).toEqual([]);
    expect(fake!.quotaCalls).toEqual([]);
  });

  test('the account’s budget and state folder apply as when it runs: the count is saved there and a restart reads it', async () => {
    const { outbound, cfg, stateDir } = await setup(5);
    await outbound.sendText({ cfg, to: 'user:u1', text: 'one', accountId: 'notify' });
    await outbound.sendText({ cfg, to: 'user:u1', text: 'two', accountId: 'notify' });
    expect(fake!.sent).toHaveLength(2);
    expect(budgetFor('dingAPPKEY').governor.status()).toMatchObject({ calls: 2, budget: 5 });
    const dir = join(stateDir, 'dingtalk-ai', 'notify');
    await new Promise((r) => setTimeout(r, 0));
    await fileStoreAt(dir).flush();
    const restarted = new CallGovernor({ clientId: 'dingAPPKEY' });
    await restarted.attach(new FileStore({ dir }));
    expect(restarted.status()).toMatchObject({ month: cstMonth(Date.now()), calls: 2 });
  });

  test('each send reads the account from the config it is given: file sending turned off, a smaller mediaRoots and a new secret apply to the next send', async () => {
    fake = await startFakeDingTalk();
    const stateDir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    const extra = await mkdtemp(join(homedir(), '.dt-outbound-roots-'));
    cleanup.push(stateDir, extra);
    const file = join(extra, 'chart.png');
    await writeFile(file, PNG);
    const app = { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase };
    const cfgWith = (notify: Record<string, unknown>): HostConfig => ({ channels: { 'dingtalk-ai': { accounts: { notify: { ...app, ...notify } } } } });
    const { outbound } = createOutbound({ resolve: (c, id) => resolveAccount(c, id ?? 'default', {}), config: () => undefined, stateDir: () => stateDir, log: quiet });
    const send = (cfg: HostConfig) => outbound.sendMedia({ cfg, to: 'user:u1', text: '图', mediaUrl: file, accountId: 'notify' });

    await send(cfgWith({ mediaRoots: [extra] }));
    expect(fake.media.size).toBe(1);
    // mediaRoots no longer lists the folder: refused, nothing uploaded.
    await expect(send(cfgWith({}))).rejects.toThrow(/media not sent: chart\.png refused \(outside-roots\).*add its folder to channels\.dingtalk-ai\.mediaRoots/);
    // File sending turned off for the account.
    await expect(send(cfgWith({ mediaRoots: [extra], enableMediaUpload: false }))).rejects.toThrow(
      `media not sent: sending files is off for this account (channels.dingtalk-ai.accounts.notify.enableMediaUpload is false); set it to true to send ${file}`,
    );
    expect(fake.media.size).toBe(1);
    // A new (here: wrong) secret is used at once, not the first send's token.
    await expect(outbound.sendText({ cfg: cfgWith({ clientSecret: 'ROTATED' }), to: 'user:u1', text: 'x', accountId: 'notify' })).rejects.toThrow(/clientId or clientSecret is wrong/);
    expect(fake.sent).toHaveLength(1);
  });

  test('a send without an account id goes from the channel\'s default account: the first listed when only accounts are configured', async () => {
    fake = await startFakeDingTalk();
    const stateDir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    cleanup.push(stateDir);
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { accounts: { notify: { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase } } } } };
    const { outbound } = createOutbound({ resolve: (c, id) => resolveAccount(c, id ?? 'default', {}), config: () => cfg, stateDir: () => stateDir, log: quiet });
    const res = await outbound.sendText({ to: 'user:u1', text: '提醒', accountId: undefined });
    expect(res.messageIds).toHaveLength(1);
    expect(fake.sent).toMatchObject([{ target: ['u1'], body: { text: '提醒' } }]);
    // Its call counts in the account's own state folder.
    await new Promise((r) => setTimeout(r, 0));
    await fileStoreAt(join(stateDir, 'dingtalk-ai', 'notify')).flush();
    const counted = new CallGovernor({ clientId: 'dingAPPKEY' });
    await counted.attach(new FileStore({ dir: join(stateDir, 'dingtalk-ai', 'notify') }));
    expect(counted.status().calls).toBeGreaterThan(0);
  });
});

describe('account ids as the host routes them', () => {
  test('`message send --account Sales` (OpenClaw hands over "sales") is refused naming accounts["Sales"] and the new name; nothing is sent', async () => {
    fake = await startFakeDingTalk();
    const stateDir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { accounts: { Sales: { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase } } } } };
    const { outbound } = createOutbound({ resolve: (c, id) => resolveAccount(c, id ?? 'default', {}), config: () => cfg, stateDir: () => stateDir, log: quiet });
    await expect(outbound.sendText({ cfg, to: 'user:u1', text: '九点开会', accountId: 'sales' })).rejects.toThrow(
      'DingTalk account "sales" is not configured: channels.dingtalk-ai.accounts["Sales"]: an account id must be lower-case letters a-z, digits, "-" or "_"',
    );
    await expect(outbound.sendText({ cfg, to: 'user:u1', text: '九点开会', accountId: 'sales' })).rejects.toThrow(/; rename the key to "sales"$/);
    expect(fake.sent).toEqual([]);
  });

  test('`--account slaes` (a typo) is refused as no such account, listing the accounts there are; nothing is sent', async () => {
    fake = await startFakeDingTalk();
    const stateDir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    cleanup.push(stateDir);
    const robot = { apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase };
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingabc123', clientSecret: 'secret-one-123', ...robot, accounts: { sales: { clientId: 'dingxyz789', clientSecret: 'secret-two-456' } } } } };
    const { outbound } = createOutbound({ resolve: (c, id) => resolveAccount(c, id ?? 'default', {}), config: () => cfg, stateDir: () => stateDir, log: quiet });
    await expect(outbound.sendText({ cfg, to: 'user:u1', text: 'hi', accountId: 'slaes' })).rejects.toThrow(new Error('DingTalk account "slaes" is not in the config; accounts: default, sales'));
    const only: HostConfig = { channels: { 'dingtalk-ai': { accounts: { notify: { clientId: 'dingabc123', clientSecret: 'secret-one-123', ...robot } } } } };
    await expect(outbound.sendText({ cfg: only, to: 'user:u1', text: 'hi', accountId: 'notfy' })).rejects.toThrow(new Error('DingTalk account "notfy" is not in the config; accounts: notify'));
    expect(fake.sent).toEqual([]);
  });

  test('a send without an account goes to the first enabled one, not a retired robot listed first', async () => {
    fake = await startFakeDingTalk();
    const stateDir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    cleanup.push(stateDir);
    const cfg: HostConfig = {
      channels: {
        'dingtalk-ai': {
          accounts: {
            old: { enabled: false, clientId: 'dingold111', clientSecret: 'secret-old-111', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase },
            notify: { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase },
          },
        },
      },
    };
    const { outbound } = createOutbound({ resolve: (c, id) => resolveAccount(c, id ?? 'default', {}), config: () => cfg, stateDir: () => stateDir, log: quiet });
    await outbound.sendText({ cfg, to: 'user:u1', text: 'hi' });
    expect(fake.sent).toHaveLength(1);
  });
});
