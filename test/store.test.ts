import { describe, expect, test } from 'vitest';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore, fileStoreAt, MemoryStore, type StateStore } from '../src/store.ts';

async function tempDir() {
  return mkdtemp(join(tmpdir(), 'dt-store-'));
}

const journal = async (dir: string, ns: string) => (await readFile(join(dir, `${ns}.jsonl`), 'utf8')).split('\n').filter(Boolean);

describe('file store', () => {
  test('values survive a new store on the same folder; files are written atomically (no temp files left)', async () => {
    const dir = await tempDir();
    const a = new FileStore({ dir });
    await a.set('sessions', 'k1', { id: 'x' });
    await a.set('sessions', 'k2', { id: 'y' });
    await a.delete('sessions', 'k2');
    await a.flush();
    const b = new FileStore({ dir });
    expect(await b.get('sessions', 'k1')).toEqual({ id: 'x' });
    expect(await b.get('sessions', 'k2')).toBeUndefined();
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('claims are exclusive until they expire, also across restarts', async () => {
    const dir = await tempDir();
    let now = 1000;
    const a = new FileStore({ dir, now: () => now });
    expect(await a.claim('dedupe', 'm1', 5000)).toBe(true);
    expect(await a.claim('dedupe', 'm1', 5000)).toBe(false);
    await a.flush();
    const b = new FileStore({ dir, now: () => now });
    expect(await b.claim('dedupe', 'm1', 5000)).toBe(false);
    now += 5001;
    expect(await b.claim('dedupe', 'm1', 5000)).toBe(true);
  });

  test('a record written after a crash-torn line is still read; the torn line is skipped without a report', async () => {
    const dir = await tempDir();
    const a = new FileStore({ dir });
    await a.set('sessions', 'k1', 1);
    await a.flush();
    await appendFile(join(dir, 'sessions.jsonl'), '["k2",{"half');
    const errors: unknown[] = [];
    const b = new FileStore({ dir, onError: (e) => errors.push(e) });
    expect(await b.get('sessions', 'k1')).toBe(1);
    await b.set('sessions', 'k3', 3);
    await b.flush();
    const c = new FileStore({ dir, onError: (e) => errors.push(e) });
    expect(await c.get('sessions', 'k3')).toBe(3);
    expect(await c.get('sessions', 'k2')).toBeUndefined();
    expect(errors).toEqual([]);
  });

  test('a corrupt line in the middle is reported and ignored, not fatal', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'sessions.jsonl'), '["a",1]\n{broken\n["b",2]\n');
    const errors: unknown[] = [];
    const s = new FileStore({ dir, onError: (e) => errors.push(e) });
    expect([await s.get('sessions', 'a'), await s.get('sessions', 'b')]).toEqual([1, 2]);
    expect(String(errors[0])).toContain('sessions.jsonl: 1 unreadable line(s) ignored');
  });

  test('a folder of the earlier sharded format is imported once and its files removed', async () => {
    const dir = await tempDir();
    const later = Date.now() + 60_000;
    await writeFile(join(dir, 'sessions-007.json'), JSON.stringify({ 'default:dm:u1': { v: { id: 'old' } }, gone: { v: 1, exp: 1 } }));
    await writeFile(join(dir, 'sessions-031.json'), JSON.stringify({ 'default:dm:u2': { v: { id: 'two' }, exp: later } }));
    const s = new FileStore({ dir });
    expect(await s.get('sessions', 'default:dm:u1')).toEqual({ id: 'old' });
    expect(await s.get('sessions', 'default:dm:u2')).toEqual({ id: 'two' });
    expect(await s.get('sessions', 'gone')).toBeUndefined();
    await s.flush();
    expect((await readdir(dir)).sort()).toEqual(['sessions.jsonl']);
    expect(await new FileStore({ dir }).get('sessions', 'default:dm:u2')).toEqual({ id: 'two' });
  });
});

describe('writes that fail or repeat', () => {
  test('a state folder under a file: every write fails (ENOTDIR) and says so until the folder can be made', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'blocker'), 'x');
    const s = new FileStore({ dir: join(dir, 'blocker', 'state') });
    await s.incr('call-budget', 'calls', 1);
    await s.flush();
    expect(s.writeFailure).toMatchObject({ error: expect.objectContaining({ code: 'ENOTDIR' }) });
    await rm(join(dir, 'blocker'));
    await s.flush();
    expect(s.writeFailure).toBeUndefined();
    expect(await new FileStore({ dir: join(dir, 'blocker', 'state') }).get('call-budget', 'calls')).toBe(1);
  });

  test('the process\'s store on a folder checks at once that it can write there (the status shows it before any change)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'blocker'), 'x');
    const errors: unknown[] = [];
    const s = fileStoreAt(join(dir, 'blocker', 'state'), (e) => errors.push(e));
    await s.flush();
    await new Promise((r) => setTimeout(r, 50));
    expect(s.writeFailure).toMatchObject({ error: expect.objectContaining({ code: 'ENOTDIR' }) });
    expect(errors).toHaveLength(1);
    const ok = fileStoreAt(join(dir, 'fine'));
    await ok.checkWritable();
    expect(ok.writeFailure).toBeUndefined();
    expect(await readdir(join(dir, 'fine'))).toEqual([]);
  });

  test('a fixed folder stops showing as failed: the check at the account\'s next start clears it and writes what waited', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'blocker'), 'x'); // a file in the path: ENOTDIR even as root
    const state = join(dir, 'blocker', 'sales');
    const s = fileStoreAt(state);
    await s.checkWritable();
    await s.incr('call-budget', 'calls', 1);
    await s.flush();
    expect(s.writeFailure).toMatchObject({ error: expect.objectContaining({ code: 'ENOTDIR' }) });
    await rm(join(dir, 'blocker'));
    // The account restarts (a config reload) and opens its store again: the folder is checked again.
    expect(fileStoreAt(state)).toBe(s);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.writeFailure).toBeUndefined();
    expect(await new FileStore({ dir: state }).get('call-budget', 'calls')).toBe(1);
    // And a direct check that succeeds clears a failure too.
    await writeFile(join(dir, 'blocker2'), 'x');
    const t = new FileStore({ dir: join(dir, 'blocker2', 'ops') });
    await t.checkWritable();
    expect(t.writeFailure).toBeDefined();
    await rm(join(dir, 'blocker2'));
    await t.checkWritable();
    expect(t.writeFailure).toBeUndefined();
  });

  test('a failed append is not lost: its changes go out with the next write', async () => {
    const dir = await tempDir();
    const errors: unknown[] = [];
    const s = new FileStore({ dir, onError: (e) => errors.push(e) });
    expect(await s.get('sessions', 'k0')).toBeUndefined();
    await mkdir(join(dir, 'sessions.jsonl'));
    await s.set('sessions', 'k1', 1);
    await s.flush();
    expect(String(errors[0])).toContain('EISDIR');
    // The status reads this (src/channel.ts): failing since the failed append, until a write succeeds.
    expect(s.writeFailure).toMatchObject({ error: expect.objectContaining({ code: 'EISDIR' }), at: expect.any(Number) });
    await rmdir(join(dir, 'sessions.jsonl'));
    await s.set('sessions', 'k2', 2);
    await s.flush();
    expect(s.writeFailure).toBeUndefined();
    const fresh = new FileStore({ dir });
    expect([await fresh.get('sessions', 'k1'), await fresh.get('sessions', 'k2')]).toEqual([1, 2]);
  });

  test('one large value rewritten often keeps the journal within twice its size + 1 MiB', async () => {
    const dir = await tempDir();
    const s = new FileStore({ dir, writeDelayMs: 1 });
    const big = 'x'.repeat(100_000);
    for (let i = 0; i < 60; i++) {
      await s.set('cards', 'open', { text: big, i });
      await s.flush();
    }
    expect((await stat(join(dir, 'cards.jsonl'))).size).toBeLessThanOrEqual(2 * 100_020 + 1024 * 1024 + 100_020);
    expect(await new FileStore({ dir }).get('cards', 'open')).toEqual({ text: big, i: 59 });
  });
});

describe('expiry keeps state proportional to what is alive', () => {
  test('expired records are not loaded, are swept from memory, and leave the file on compaction', async () => {
    const dir = await tempDir();
    let now = 1_000_000;
    const s = new FileStore({ dir, now: () => now, writeDelayMs: 1, sweepIntervalMs: 1000 });
    // 3,000 senders write once, with a 30-min TTL.
    for (let i = 0; i < 3000; i++) await s.set('sessions', `old${i}`, { i }, 30 * 60_000);
    await s.flush();
    expect(await journal(dir, 'sessions')).toHaveLength(3000);
    // Their timeout passes; 10 others keep writing.
    now += 30 * 60_000 + 1;
    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < 10; i++) await s.set('sessions', `new${i}`, { round }, 30 * 60_000);
      await s.flush();
    }
    const map = (s as unknown as { spaces: Map<string, Promise<{ map: Map<string, unknown> }>> }).spaces.get('sessions')!;
    expect((await map).map.size).toBe(10);
    // Compaction keeps the journal within 2 × live + 1,000 records.
    expect((await journal(dir, 'sessions')).length).toBeLessThanOrEqual(2 * 10 + 1000);
    const fresh = new FileStore({ dir, now: () => now });
    expect(await fresh.get('sessions', 'old5')).toBeUndefined();
    expect(await fresh.get('sessions', 'new3')).toEqual({ round: 399 });
  });

  test('the journal of a steady load stops growing (state folder bounded)', async () => {
    const dir = await tempDir();
    let now = 0;
    const s = new FileStore({ dir, now: () => now, writeDelayMs: 1 });
    const sizes: number[] = [];
    for (let minute = 0; minute < 60; minute++) {
      // 100 new message ids a minute, each claimed for 10 min.
      for (let i = 0; i < 100; i++) await s.claim('dedupe', `m${minute}-${i}`, 10 * 60_000);
      await s.flush();
      sizes.push((await stat(join(dir, 'dedupe.jsonl'))).size);
      now += 60_000;
    }
    // Live: 1,000 claims; the journal is compacted at 2 × 1,000 + 1,000 records.
    expect(Math.max(...sizes.slice(30))).toBeLessThanOrEqual(Math.max(...sizes.slice(0, 30)) * 1.05);
    expect((await journal(dir, 'dedupe')).length).toBeLessThanOrEqual(3000);
  });
});

describe.each([
  ['FileStore', async (): Promise<StateStore> => new FileStore({ dir: await tempDir() })],
  ['MemoryStore', async (): Promise<StateStore> => new MemoryStore()],
])('%s claim is atomic', (_name, make) => {
  test('50 concurrent claims of one key (while the namespace loads): exactly one wins', async () => {
    const store = await make();
    const results = await Promise.all(Array.from({ length: 50 }, () => store.claim('dedupe', 'a:msg1', 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test('concurrent claims of many keys interleaved with other namespaces: one winner per key', async () => {
    const store = await make();
    const calls: Array<Promise<boolean>> = [];
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 200; k++) {
        calls.push(store.claim('dedupe', `k${k}`, 60_000));
        void store.set('sessions', `s${k}`, { round });
      }
    }
    const results = await Promise.all(calls);
    expect(results.filter(Boolean)).toHaveLength(200);
    expect(results.slice(0, 200).every(Boolean)).toBe(true);
  });
});

describe.each([
  ['FileStore', async (): Promise<StateStore> => new FileStore({ dir: await tempDir() })],
  ['MemoryStore', async (): Promise<StateStore> => new MemoryStore()],
])('%s incr (the call governor’s counters)', (_name, make) => {
  test('100 concurrent adds while the namespace loads: every one counted, each caller sees a distinct total', async () => {
    const store = await make();
    const totals = await Promise.all(Array.from({ length: 100 }, () => store.incr('call-budget', 'app:2026-11:calls', 1)));
    expect(new Set(totals).size).toBe(100);
    expect(Math.max(...totals)).toBe(100);
    expect(await store.get('call-budget', 'app:2026-11:calls')).toBe(100);
  });
});

test('FileStore incr survives a reopen and keeps the expiry of the call that created the counter', async () => {
  const dir = await tempDir();
  let now = 1_000;
  const a = new FileStore({ dir, now: () => now });
  await a.incr('call-budget', 'k', 5, 10_000);
  now = 9_000;
  await a.incr('call-budget', 'k', 2, 10_000);
  await a.flush();
  const b = new FileStore({ dir, now: () => now });
  expect(await b.get('call-budget', 'k')).toBe(7);
  now = 11_001;
  expect(await b.get('call-budget', 'k')).toBeUndefined();
  expect(await b.incr('call-budget', 'k', 1)).toBe(1);
});
