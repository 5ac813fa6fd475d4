import { describe, expect, test } from 'vitest';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../src/store.ts';

async function tempDir() {
  return mkdtemp(join(tmpdir(), 'dt-store-'));
}

describe('file store', () => {
  test('values survive a new store on the same folder; files are written atomically (no temp files left)', async () => {
    const dir = await tempDir();
    const a = new FileStore({ dir });
    await a.set('sessions', 'k1', { id: 'x' });
    await a.set('sessions', 'k2', { id: 'y' });
    await a.flush();
    const b = new FileStore({ dir });
    expect(await b.get('sessions', 'k1')).toEqual({ id: 'x' });
    expect(await b.get('sessions', 'k2')).toEqual({ id: 'y' });
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

  test('memory stays bounded: many keys across shards are all readable after eviction', async () => {
    const dir = await tempDir();
    const store = new FileStore({ dir, shards: 32, maxShardsInMemory: 4, writeDelayMs: 5 });
    for (let i = 0; i < 2000; i++) await store.set('sessions', `user${i}`, { n: i });
    await store.flush();
    const loaded = (store as unknown as { loaded: Map<string, unknown> }).loaded;
    expect(loaded.size).toBeLessThanOrEqual(4);
    for (let i = 0; i < 2000; i += 97) expect(await store.get('sessions', `user${i}`)).toEqual({ n: i });
  });

  test('a corrupt state file is reported and ignored, not fatal', async () => {
    const dir = await tempDir();
    const a = new FileStore({ dir });
    await a.set('sessions', 'k', 1);
    await a.flush();
    const [file] = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    await writeFile(join(dir, file!), '{broken');
    const errors: unknown[] = [];
    const b = new FileStore({ dir, onError: (e) => errors.push(e) });
    expect(await b.get('sessions', 'k')).toBeUndefined();
    expect(String(errors[0])).toContain('corrupt');
    await b.set('sessions', 'k', 2);
    await b.flush();
    expect(JSON.parse(await readFile(join(dir, file!), 'utf8'))).toEqual({ k: { v: 2 } });
  });
});
