import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { FolderRegistry, holdRobot, runningElsewhere, watchInstances, type InstanceInfo, type InstanceWatch } from '../src/instances.ts';
import { createLogger } from '../src/log.ts';
import { resolveAccount } from '../src/config.ts';
import { monitorAccount, type AccountStatus } from '../src/monitor.ts';
import { OPENCLAW } from '../src/host.ts';
import { MemoryStore } from '../src/store.ts';
import { AppBudget } from '../src/dingtalk/budget.ts';
import { startHarness, type Harness } from './harness.ts';

const watches: InstanceWatch[] = [];
let harness: Harness | undefined;
afterEach(async () => {
  for (const w of watches.splice(0)) await w.stop();
  await harness?.close();
  harness = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function watcher(dir: string, o: { clientId?: string; heartbeatMs?: number; pidAlive?: (pid: number) => boolean } = {}) {
  const logs: string[] = [];
  const changes: InstanceInfo[][] = [];
  const sink = (m: string) => logs.push(m);
  const w = await watchInstances({
    registry: new FolderRegistry(dir),
    clientId: o.clientId ?? 'dingAPPKEY',
    log: createLogger({ info: sink, warn: (m) => logs.push(`WARN ${m}`), error: sink }),
    onChange: (others) => changes.push(others),
    heartbeatMs: o.heartbeatMs ?? 50,
    pidAlive: o.pidAlive,
  });
  watches.push(w);
  return { w, logs, changes };
}

const record = (o: Partial<InstanceInfo>): InstanceInfo => {
  const at = Date.now();
  return { id: `h-${o.pid ?? 1}-${at}`, clientId: 'dingAPPKEY', pid: 1, host: 'other-host', startedAt: at - 60_000, heartbeatAt: at, ...o };
};

describe('one robot in two places', () => {
  test('two instances on one state folder see each other; each warns naming both; stopping one clears it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-inst-'));
    const a = await watcher(dir);
    expect(a.changes).toEqual([]);
    const b = await watcher(dir);
    // The second sees the first at once; the first sees the second at its next heartbeat.
    expect(b.changes).toHaveLength(1);
    expect(b.changes[0]!.map((i) => i.pid)).toEqual([process.pid]);
    await sleep(200);
    expect(a.changes).toHaveLength(1);
    const warning = b.logs.find((l) => l.startsWith('WARN '))!;
    expect(warning).toContain(`is also running in another process: pid ${process.pid} on ${hostname()}`);
    expect(warning).toContain('this one is pid');
    expect(warning).toContain('Run one robot in one place');
    expect(a.logs.filter((l) => l.startsWith('WARN '))).toHaveLength(1);
    // No repeated warning on every heartbeat.
    await sleep(200);
    expect(b.logs.filter((l) => l.startsWith('WARN '))).toHaveLength(1);

    await b.w.stop();
    watches.splice(watches.indexOf(b.w), 1);
    await sleep(200);
    expect(a.changes.at(-1)).toEqual([]);
    expect(a.logs.join('\n')).toContain('the other process running this robot is gone');
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toHaveLength(1);
  });

  test('a record of a dead process, a stale heartbeat, a previous run of this process or another robot does not count', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-inst-'));
    const dead = record({ pid: 999_999, host: hostname() });
    const stale = record({ pid: 7, heartbeatAt: Date.now() - 10 * 60_000 });
    const previousRunHere = record({ id: `${hostname()}-${process.pid}-1`, pid: process.pid, host: hostname() });
    const otherRobot = record({ pid: 8, clientId: 'dingOTHER' });
    const live = record({ pid: 9, host: 'host-b' });
    for (const r of [dead, stale, previousRunHere, otherRobot, live]) await writeFile(join(dir, `${r.id}.json`), JSON.stringify(r));
    await writeFile(join(dir, 'garbage.json'), '{"half');
    const w = await watcher(dir, { heartbeatMs: 30_000, pidAlive: (pid) => pid !== 999_999 });
    expect(w.changes).toEqual([[live]]);
    expect(w.logs.join('\n')).toContain('pid 9 on host-b');
    // Dead and stale records are removed; another robot's record is left alone.
    const left = await readdir(dir);
    expect(left).not.toContain(`${dead.id}.json`);
    expect(left).not.toContain(`${stale.id}.json`);
    expect(left).toContain(`${otherRobot.id}.json`);
  });

  test('a state folder that cannot be written is a warning, not a crash', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'dt-inst-'));
    await writeFile(join(parent, 'file'), 'x');
    const w = await watcher(join(parent, 'file', 'instances')); // ENOTDIR, even for root
    expect(w.logs.join('\n')).toContain('instance check failed');
    expect(w.changes).toEqual([]);
  });

  test('the status line names the other process and the rule', () => {
    expect(runningElsewhere([])).toBeUndefined();
    expect(runningElsewhere([record({ pid: 42, host: 'host-b', startedAt: Date.UTC(2026, 10, 30, 20) })])).toBe(
      'this robot also runs in another process (pid 42 on host-b, started 2026-11-30T20:00:00.000Z): each sees about half the messages and counts only its own calls against monthlyCallBudget (counts in one state folder are not added across processes); run one robot in one place',
    );
  });
});

describe('with the account monitor', () => {
  test('a second process on the same state folder warns and reports the first in its status', async () => {
    harness = await startHarness();
    const h = harness;
    const logs: string[] = [];
    const statuses: AccountStatus[] = [];
    const controller = new AbortController();
    const account = resolveAccount(
      { channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY', clientSecret: 'SECRET', gatewayUrl: h.gw.url, gatewayToken: 'gw-token', apiBaseUrl: h.fake.apiBase, oapiBaseUrl: h.fake.oapiBase } } },
      'default',
      {},
    );
    const second = monitorAccount({
      account,
      host: OPENCLAW,
      log: createLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`), error: (m) => logs.push(m) }).child('default'),
      signal: controller.signal,
      defaultStateDir: h.stateDir,
      store: new MemoryStore(),
      budget: new AppBudget(),
      onStatus: (s) => statuses.push(s),
      backoffMinMs: 50,
    });
    try {
      await h.fake.waitFor(() => h.fake.openConnections() === 2 && statuses.at(-1)?.connected, { timeoutMs: 5000 });
      expect(statuses.at(-1)!.otherInstances.map((i) => i.pid)).toEqual([process.pid]);
      expect(logs.find((l) => l.startsWith('WARN ') && l.includes('also running in another process'))).toMatch(/^WARN \[dingtalk-ai\] \[default\] this robot \(clientId dingAPPKEY\)/);
      // The first one's open cards are its answers in progress, not leftovers of a crash.
      expect(logs).toContain('WARN [dingtalk-ai] [default] cards left open are not closed at this start: another process runs this robot and may still be writing them');
    } finally {
      controller.abort();
      await second;
    }
    // The second removed its record on stop; the first's remains.
    expect((await readdir(join(h.stateDir, 'dingtalk-ai', 'default', 'instances'))).filter((n) => n.endsWith('.json'))).toHaveLength(1);
  });
});

describe('one robot, two accounts of this process', () => {
  const hold = (accountId: string, clientId: string, signal: AbortSignal = new AbortController().signal) => {
    const held: string[] = [];
    const release = holdRobot({ clientId, accountId, clientIdFrom: `channels.dingtalk-ai.accounts.${accountId}.clientId`, signal, onHeld: (p) => held.push(p) });
    return { release, held };
  };

  test('the second account waits, told why with both keys, and takes the robot when the first lets go; a third keeps waiting', async () => {
    const a = hold('a', 'dingHOLD1');
    const releaseA = (await a.release)!;
    // Another spelling of the same clientId (case, a zero-width space) is the same robot.
    const b = hold('b', 'DINGhold1\u200B');
    const c = hold('c', 'dingHOLD1');
    let bHeld: (() => void) | undefined;
    void b.release.then((r) => (bHeld = r));
    await sleep(20);
    expect(bHeld).toBeUndefined();
    expect(b.held).toEqual([
      'channels.dingtalk-ai.accounts.b.clientId names the robot DINGhold1\u200B, which account "a" (channels.dingtalk-ai.accounts.a.clientId) already runs in this gateway: ' +
        'DingTalk pushes each message to only one of a robot\'s connections, so this account does not connect while "a" runs (it connects when that one stops). ' +
        'Set this account\'s own robot\'s clientId and clientSecret, or disable one of them (enabled: false)',
    ]);
    releaseA();
    await sleep(0);
    expect(bHeld).toBeTypeOf('function');
    // c now waits for b (told once, when it first found the robot taken).
    expect(c.held).toHaveLength(1);
    let cHeld: (() => void) | undefined;
    void c.release.then((r) => (cHeld = r));
    await sleep(20);
    expect(cHeld).toBeUndefined();
    bHeld!();
    bHeld!(); // letting go twice changes nothing
    await sleep(0);
    expect(cHeld).toBeTypeOf('function');
    cHeld!();
  });

  test('a restart of the same account is not held back; a stop while waiting resolves undefined and holds nothing; another robot is free', async () => {
    const first = (await hold('ops', 'dingHOLD2').release)!;
    const second = (await hold('ops', 'dingHOLD2').release)!;
    expect((await hold('hr', 'dingHOLD3').release)).toBeTypeOf('function');
    const stop = new AbortController();
    const waiting = hold('desk', 'dingHOLD2', stop.signal);
    stop.abort();
    expect(await waiting.release).toBeUndefined();
    // Held until both runs of ops let go.
    first();
    const next = hold('desk', 'dingHOLD2');
    await sleep(20);
    expect(next.held).toHaveLength(1);
    second();
    expect(await next.release).toBeTypeOf('function');
  });
});
