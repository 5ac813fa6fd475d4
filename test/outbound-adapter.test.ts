import { afterEach, describe, expect, test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAccount, type HostConfig } from '../src/config.ts';
import { budgetFor } from '../src/dingtalk/budget.ts';
import { CallGovernor, cstMonth } from '../src/dingtalk/governor.ts';
import { createOutbound } from '../src/outbound-adapter.ts';
import { FileStore, fileStoreAt } from '../src/store.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';

let fake: FakeDingTalk | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const quiet = { info() {}, warn() {}, error() {} };

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
      await expect(outbound.sendText({ cfg, to: 'user:u1', text: `hello ${i}`, accountId: 'notify' })).rejects.toThrow(/monthlyCallBudget \(0 calls\) is spent/);
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
});
