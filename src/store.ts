/**
 * State that must survive restarts (sessions, dedupe claims) behind one small interface. The file store
 * is the default; a shared store (Redis) can implement the same interface for several instances.
 *
 * The file store shards keys over a fixed number of JSON files so that memory stays bounded with many
 * senders: only recently used shards are held in memory, the rest are read back on demand. Writes are
 * coalesced per shard and land atomically (temp file + rename).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

export interface StateStore {
  get<T>(ns: string, key: string): Promise<T | undefined>;
  set<T>(ns: string, key: string, value: T, ttlMs?: number): Promise<void>;
  delete(ns: string, key: string): Promise<void>;
  /** Set only if absent (or expired). True when this caller got the claim. */
  claim(ns: string, key: string, ttlMs: number): Promise<boolean>;
  /** Write everything pending (call on stop). */
  flush(): Promise<void>;
}

interface Entry {
  v: unknown;
  /** Epoch ms after which the entry is gone. */
  exp?: number;
}

type Shard = Map<string, Entry>;

export interface FileStoreOptions {
  dir: string;
  shards?: number;
  /** How many shards may be held in memory at once. */
  maxShardsInMemory?: number;
  /** Writes to one shard within this window go out as one file write. */
  writeDelayMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

export class FileStore implements StateStore {
  private readonly dir: string;
  private readonly shardCount: number;
  private readonly maxInMemory: number;
  private readonly writeDelayMs: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  /** Insertion order = least recently used first. */
  private readonly loaded = new Map<string, Shard>();
  private readonly loading = new Map<string, Promise<Shard>>();
  private readonly dirty = new Set<string>();
  private readonly writing = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private dirReady: Promise<unknown> | undefined;

  constructor(opts: FileStoreOptions) {
    this.dir = opts.dir;
    this.shardCount = opts.shards ?? 64;
    this.maxInMemory = opts.maxShardsInMemory ?? 16;
    this.writeDelayMs = opts.writeDelayMs ?? 200;
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? (() => {});
  }

  async get<T>(ns: string, key: string): Promise<T | undefined> {
    const shard = await this.shard(ns, key);
    const e = shard.get(key);
    if (!e) return undefined;
    if (e.exp !== undefined && e.exp <= this.now()) {
      shard.delete(key);
      return undefined;
    }
    return e.v as T;
  }

  async set<T>(ns: string, key: string, value: T, ttlMs?: number): Promise<void> {
    const shard = await this.shard(ns, key);
    shard.set(key, ttlMs === undefined ? { v: value } : { v: value, exp: this.now() + ttlMs });
    this.markDirty(this.shardName(ns, key), shard);
  }

  async delete(ns: string, key: string): Promise<void> {
    const shard = await this.shard(ns, key);
    if (shard.delete(key)) this.markDirty(this.shardName(ns, key), shard);
  }

  async claim(ns: string, key: string, ttlMs: number): Promise<boolean> {
    const shard = await this.shard(ns, key);
    const e = shard.get(key);
    if (e && (e.exp === undefined || e.exp > this.now())) return false;
    shard.set(key, { v: 1, exp: this.now() + ttlMs });
    this.markDirty(this.shardName(ns, key), shard);
    return true;
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const names = [...this.dirty];
    this.dirty.clear();
    await Promise.all(names.map((n) => this.write(n)));
    await Promise.all([...this.writing.values()]);
  }

  private shardName(ns: string, key: string): string {
    const h = createHash('sha1').update(key).digest().readUInt32BE(0) % this.shardCount;
    return `${ns}-${h.toString().padStart(3, '0')}`;
  }

  private async shard(ns: string, key: string): Promise<Shard> {
    const name = this.shardName(ns, key);
    const hit = this.loaded.get(name);
    if (hit) {
      this.loaded.delete(name);
      this.loaded.set(name, hit);
      return hit;
    }
    let p = this.loading.get(name);
    if (!p) {
      p = this.read(name).finally(() => this.loading.delete(name));
      this.loading.set(name, p);
    }
    const shard = this.loaded.get(name) ?? (await p);
    if (!this.loaded.has(name)) {
      this.loaded.set(name, shard);
      this.evict(name);
    }
    return shard;
  }

  private async read(name: string): Promise<Shard> {
    // A write of this shard may still be on its way to disk.
    await this.writing.get(name);
    const shard: Shard = new Map();
    let text: string;
    try {
      text = await readFile(join(this.dir, `${name}.json`), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(err);
      return shard;
    }
    try {
      const now = this.now();
      for (const [k, e] of Object.entries(JSON.parse(text) as Record<string, Entry>)) {
        if (e.exp === undefined || e.exp > now) shard.set(k, e);
      }
    } catch (err) {
      this.onError(new Error(`state file ${name}.json is corrupt and was ignored: ${(err as Error).message}`));
    }
    return shard;
  }

  /** Drop the least recently used clean shards; dirty ones stay until written. */
  private evict(keep?: string): void {
    for (const name of this.loaded.keys()) {
      if (this.loaded.size <= this.maxInMemory) return;
      if (name !== keep && !this.dirty.has(name) && !this.writing.has(name)) this.loaded.delete(name);
    }
  }

  private markDirty(name: string, shard: Shard): void {
    // The caller may hold a shard that was evicted meanwhile: put it back so the write sees it.
    if (!this.loaded.has(name)) this.loaded.set(name, shard);
    this.dirty.add(name);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(this.onError);
    }, this.writeDelayMs);
    this.timer.unref?.();
  }

  private async write(name: string): Promise<void> {
    const previous = this.writing.get(name) ?? Promise.resolve();
    const next = previous.then(async () => {
      const shard = this.loaded.get(name);
      if (!shard) return;
      this.dirReady ??= mkdir(this.dir, { recursive: true, mode: 0o700 });
      await this.dirReady;
      const now = this.now();
      const obj: Record<string, Entry> = {};
      for (const [k, e] of shard) if (e.exp === undefined || e.exp > now) obj[k] = e;
      const file = join(this.dir, `${name}.json`);
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(tmp, JSON.stringify(obj), { mode: 0o600 });
      await rename(tmp, file);
    });
    const tracked = next.catch(this.onError).finally(() => {
      if (this.writing.get(name) === tracked) this.writing.delete(name);
      this.evict();
    });
    this.writing.set(name, tracked);
    await tracked;
  }
}

/** In-memory store with the same semantics, for tests and for `stateDir: false`-like setups. */
export class MemoryStore implements StateStore {
  private readonly data = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  async get<T>(ns: string, key: string): Promise<T | undefined> {
    const e = this.data.get(`${ns}\0${key}`);
    if (!e || (e.exp !== undefined && e.exp <= this.now())) return undefined;
    return e.v as T;
  }

  async set<T>(ns: string, key: string, value: T, ttlMs?: number): Promise<void> {
    this.data.set(`${ns}\0${key}`, ttlMs === undefined ? { v: value } : { v: value, exp: this.now() + ttlMs });
  }

  async delete(ns: string, key: string): Promise<void> {
    this.data.delete(`${ns}\0${key}`);
  }

  async claim(ns: string, key: string, ttlMs: number): Promise<boolean> {
    if ((await this.get(ns, key)) !== undefined) return false;
    await this.set(ns, key, 1, ttlMs);
    return true;
  }

  async flush(): Promise<void> {}
}
