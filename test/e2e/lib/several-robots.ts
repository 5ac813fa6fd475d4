/**
 * Several robots in one real gateway (issue 17): two accounts of two DingTalk apps, each bound to its own agent with
 * its own model; `channels status --json` lists both; a config change under one account restarts only that one.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import JSON5 from 'json5';
import { localDay } from '../../../src/activity.ts';
import { readFileStoreNamespace } from '../../../src/store.ts';
import { expect } from 'vitest';
import type { SuiteContext } from './suite.ts';

/** The second robot of the fake DingTalk (the suite starts it with both apps). */
export const SECOND_APP = { appKey: 'dingSECOND', appSecret: 'SECRET2' };

export function defineSeveralRobotsSteps(ctx: SuiteContext): void {
  /** The config file as it is now (the suite writes it as commented JSON5). */
  const currentConfig = async (): Promise<Record<string, any>> => JSON5.parse(await readFile(ctx.host.configPath, 'utf8'));
  const openConn = (appKey: string) => ctx.fake.conns.find((c) => c.appKey === appKey && c.open);

  ctx.step('two robots, two agents: each account answers through the agent it names (its model); channels status lists both', { needs: ['gateway'], provides: 'robots' }, async () => {
    const config = await currentConfig();
    const mock = config.models.providers.mock;
    mock.models = [...mock.models, { ...mock.models[0], id: 'mock-vision', name: 'Mock 2' }];
    config.agents = { ...config.agents, entries: { main: {}, sales: { model: { primary: 'mock/mock-vision' } } } };
    // Top-level keys are the default account's robot and are inherited by `sales`, which names its own robot and agent.
    const section = { ...ctx.channelSection(), accounts: { sales: { clientId: SECOND_APP.appKey, clientSecret: SECOND_APP.appSecret, agentId: 'sales' } } };
    await ctx.host.stopGateway();
    await ctx.host.writeConfig({ ...config, channels: { 'dingtalk-ai': section } });
    await ctx.restartGateway();
    await ctx.fake.waitFor(() => !!openConn('dingAPPKEY') && !!openConn(SECOND_APP.appKey), { timeoutMs: 60_000, message: `both robots did not connect\n${ctx.host.logTail()}` });

    // The gateway's startup migration leaves the top-level keys in place (package.json declares configPromotion
    // "preserve-root"): they are the default account's robot, and `sales` inherits the rest.
    const migrated = (await currentConfig()).channels['dingtalk-ai'];
    expect(migrated.clientId).toBe('dingAPPKEY');
    expect(Object.keys(migrated.accounts)).toEqual(['sales']);

    // answersToday is counted in each account's state folder (src/activity.ts): the default robot's earlier answers
    // today (the DM steps before this one) survive the gateway restart; the new `sales` account starts at 0.
    const answeredBefore = async (accountId: string) =>
      Number((await readFileStoreNamespace(join(ctx.host.stateDir, 'dingtalk-ai', accountId), 'answers')).get(`${accountId}:${localDay(Date.now())}`) ?? 0);
    const before = { default: await answeredBefore('default'), sales: await answeredBefore('sales') };
    expect(before.sales).toBe(0);
    const [qMain, qSales] = ['robots main question', 'robots sales question'];
    const main = await ctx.dm(qMain);
    const sales = await ctx.dm(ctx.fake.msg.text(qSales, { appKey: SECOND_APP.appKey, senderStaffId: 'e2e-sales-user', senderNick: 'Sales' }));
    expect(main.card!.appKey).toBe('dingAPPKEY');
    expect(sales.card!.appKey).toBe(SECOND_APP.appKey);
    expect(main.card!.streams.msgContent!.content.trim()).toBe(`MOCK_ANSWER: ${qMain}`);
    expect(sales.card!.streams.msgContent!.content.trim()).toBe(`MOCK_ANSWER: ${qSales}`);
    // The agent's model tells which agent answered.
    expect((await ctx.mock.requestsFor(qMain)).map((r) => r.model)).toEqual(['mock-model']);
    expect((await ctx.mock.requestsFor(qSales)).map((r) => r.model)).toEqual(['mock-vision']);

    const accounts = await ctx.channelAccounts();
    expect(accounts.map((a) => a.accountId).sort()).toEqual(['default', 'sales']);
    for (const a of accounts) {
      expect(a, JSON.stringify(a)).toMatchObject({ configured: true, running: true, connected: true, engine: 'gateway', answersToday: before[a.accountId as 'default' | 'sales'] + 1, lastError: null });
      // What `sales` inherits from the top level survives the host's handling of the config (OpenClaw fills schema
      // defaults into accounts.<id>; the schema has none): the open policies, and the 4,000 default calls split in two.
      expect(a.accessPolicy).toBe('dm open, groups open');
      expect(a.callBudget).toMatch(/^\d+ of 2000 DingTalk calls used in /);
      expect(a.lastOutboundAt).toBeGreaterThanOrEqual(a.lastInboundAt);
      expect(a.lastConnectedAt).toBeLessThanOrEqual(a.lastInboundAt);
    }
  });

  ctx.step('a config change under accounts.sales restarts only that robot: the other keeps its connection and answers on', { needs: ['robots'] }, async () => {
    const kept = openConn('dingAPPKEY')!;
    const before = openConn(SECOND_APP.appKey)!;
    // Written under the running gateway on purpose: its config watcher applies the change as a hot reload. Read
    // again first: only this one key may differ from what the gateway runs with.
    const current = await currentConfig();
    current.channels['dingtalk-ai'].accounts.sales.systemPrompt = 'You sell. (e2e 5c1d)';
    await ctx.host.writeConfig(current);
    await ctx.fake.waitFor(() => !before.open && !!openConn(SECOND_APP.appKey), { timeoutMs: 60_000, message: `the sales robot did not reconnect\n${ctx.host.logTail()}` });
    expect(kept.open).toBe(true);
    expect(ctx.fake.conns.filter((c) => c.appKey === 'dingAPPKEY' && c.openedAt >= kept.openedAt)).toEqual([kept]);
    const q = 'robots after reload';
    const sales = await ctx.dm(ctx.fake.msg.text(q, { appKey: SECOND_APP.appKey, senderStaffId: 'e2e-sales-user' }));
    expect(sales.card!.streams.msgContent!.content.trim()).toBe(`MOCK_ANSWER: ${q}`);
    const [req] = await ctx.mock.requestsFor(q);
    expect(req!.summary.systemPrompts.join('\n')).toContain('You sell. (e2e 5c1d)');
    const main = await ctx.dm('robots main after reload');
    expect(main.card!.appKey).toBe('dingAPPKEY');
    expect(kept.open).toBe(true);
  });
}
