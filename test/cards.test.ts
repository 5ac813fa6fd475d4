import { afterEach, describe, expect, test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenCards } from '../src/cards.ts';
import { DingTalkClient } from '../src/dingtalk/client.ts';
import { CallGovernor } from '../src/dingtalk/governor.ts';
import { createAndDeliverCard } from '../src/dingtalk/endpoints.ts';
import { createLogger } from '../src/log.ts';
import { FileStore } from '../src/store.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';

let fake: FakeDingTalk;
afterEach(() => fake.close());

const logs: string[] = [];
const log = createLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) });

describe('open-card registry', () => {
  test('cards open when a run died are closed at the next start (FAILED, their words kept, a note under them)', async () => {
    fake = await startFakeDingTalk();
    const client = new DingTalkClient({ clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, log });
    for (const id of ['c1', 'c2', 'c3']) {
      await createAndDeliverCard(client, { templateId: 't', outTrackId: id, target: { kind: 'dm', userId: 'u1' }, params: { flowStatus: '2' } });
    }
    const dir = await mkdtemp(join(tmpdir(), 'dt-cards-'));
    const first = new FileStore({ dir });
    const before = new OpenCards({ store: first, accountId: 'default', log });
    const zh = before.tracker('zh');
    zh.opened('c1');
    zh.shown('c1', '说到一半');
    zh.opened('c2');
    zh.closed('c2');
    before.tracker('en').opened('c3');
    expect(Object.keys(await before.list())).toEqual(['c1', 'c3']);
    await first.flush();

    // The next run reads only what reached the disk.
    const after = new OpenCards({ store: new FileStore({ dir }), accountId: 'default', log });
    expect(await after.closeLeftovers(client)).toBe(2);
    expect(fake.cardShows(fake.card('c1'))).toBe('说到一半\n\n⚠️ 服务重启，这条回答没有写完。请重新发送你的问题。');
    expect(fake.card('c1').flowStatusHistory.at(-1)).toBe('5');
    expect(fake.cardShows(fake.card('c3'))).toBe('⚠️ The service restarted before this answer was finished. Please send your question again.');
    expect(fake.cardTyping(fake.card('c2'))).toBe(true); // closed by its own run: not touched
    expect(await after.list()).toEqual({});
  });

  test('a spent monthly budget does not keep a card left open "typing": closing it is the call its answer reserved', async () => {
    fake = await startFakeDingTalk();
    const setup = new DingTalkClient({ clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, log });
    await createAndDeliverCard(setup, { templateId: 't', outTrackId: 'spent', target: { kind: 'dm', userId: 'u1' }, params: { flowStatus: '2' } });
    const governor = new CallGovernor({ clientId: 'dingAPPKEY', monthlyCallBudget: 0 });
    const client = new DingTalkClient({ clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, log, meter: governor });
    const cards = new OpenCards({ store: new FileStore({ dir: await mkdtemp(join(tmpdir(), 'dt-cards-')) }), accountId: 'default', log });
    cards.tracker('zh').opened('spent');
    expect(await cards.closeLeftovers(client)).toBe(1);
    expect(fake.card('spent').flowStatusHistory.at(-1)).toBe('5');
    expect(fake.cardTyping(fake.card('spent'))).toBe(false);
  });

  test('a card DingTalk no longer knows is forgotten; one that cannot be reached now is kept for the next start', async () => {
    fake = await startFakeDingTalk();
    const client = new DingTalkClient({ clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, log, sleep: async () => {} });
    await createAndDeliverCard(client, { templateId: 't', outTrackId: 'busy', target: { kind: 'dm', userId: 'u1' }, params: { flowStatus: '2' } });
    const store = new FileStore({ dir: await mkdtemp(join(tmpdir(), 'dt-cards-')) });
    const cards = new OpenCards({ store, accountId: 'default', log });
    cards.tracker('zh').opened('gone');
    cards.tracker('zh').opened('busy');
    fake.faults.add({ match: { path: '/v1.0/card/instances', when: (r) => (r.body as { outTrackId?: string }).outTrackId === 'busy' }, action: { status: 500, body: { code: 'system.busy', message: '系统繁忙' } } });
    expect(await cards.closeLeftovers(client)).toBe(0);
    expect(Object.keys(await cards.list())).toEqual(['busy']);
  });
});
