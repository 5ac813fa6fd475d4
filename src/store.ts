/**
 * State that must survive restarts (sessions, dedupe claims) behind one small interface. The file store
 * is the default; a shared store (Redis) can implement the same interface for several instances — each
 * method's contract below names the Redis command it corresponds to.
 *
 * Cost stays bounded by what is alive, not by everyone who ever wrote: every record the plugin keeps
 * per sender carries a TTL (sessions: the session timeout; dedupe claims: 10 min), expired records are
 * never loaded, never written back and swept from memory, and the per-message cost does not depend on
 * how many records exist (see the file store below).
 */
import { appendFile, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';

/**
 * Namespaced key/value state with per-record expiry. Values must be JSON-serialisable (a shared store
 * keeps them as JSON). Keys and namespaces are opaque strings; namespaces are `[a-z0-9-]+`.
 */
export interface StateStore {
  /**
   * The value, or `undefined` when absent or expired (Redis `GET ns:key`). In-process stores return the
   * stored object itself and a shared store a copy: a changed value counts only once passed to `set`.
   */
  get<T>(ns: string, key: string): Promise<T | undefined>;
  /**
   * Store a value, replacing any previous one; with `ttlMs` the record is gone `ttlMs` after this call,
   * without it the record lives until deleted (Redis `SET ns:key v [PX ttlMs]`).
   */
  set<T>(ns: string, key: string, value: T, ttlMs?: number): Promise<void>;
  /** Remove the record if present (Redis `DEL ns:key`). */
  delete(ns: string, key: string): Promise<void>;
  /**
   * Atomic set-if-absent: true for exactly one of any number of concurrent callers while the record
   * lives; it expires `ttlMs` after the winning call (Redis `SET ns:key 1 NX PX ttlMs`).
   */
  claim(ns: string, key: string, ttlMs: number): Promise<boolean>;
  /**
   * Atomic add to a counter (absent or expired counts as 0); returns the new value. With `ttlMs` the record
   * is gone `ttlMs` after the call that created it (later adds keep that expiry) (Redis `INCRBY ns:key by`, then
   * `PEXPIRE ns:key ttlMs NX`).
   */
  incr(ns: string, key: string, by: number, ttlMs?: number): Promise<number>;
  /** Resolves when everything written so far is durable in the backing store (call on stop). */
  flush(): Promise<void>;
}

interface Entry {
  v: unknown;
  /** Epoch ms after which the entry is gone. */
  exp?: number;
}

const live = (e: Entry | undefined, now: number): e is Entry => e !== undefined && (e.exp === undefined || e.exp > now);

/** One namespace of the file store: all its live records in memory, its journal on disk. */
interface Space {
  ns: string;
  file: string;
  map: Map<string, Entry>;
  /** Changes since the last append: the entry, or null for a deletion. */
  pending: Map<string, Entry | null>;
  /** Records and bytes in the journal file (live or not), and its bytes right after the last compaction: decide when to compact. */
  journalRecords: number;
  journalBytes: number;
  compactedBytes: number;
  /** The journal does not end with a newline (a write torn by a crash): the next append starts one. */
  tornTail: boolean;
  /** Appends and compactions of this namespace, one after the other. */
  chain: Promise<void>;
  nextSweepAt: number;
}

export interface FileStoreOptions {
  dir: string;
  /** Changes within this window go out as one append per namespace. */
  writeDelayMs?: number;
  /** How often expired records are swept from memory. */
  sweepIntervalMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/**
 * One append-only journal per namespace (`<ns>.jsonl`, one JSON array per line: `[key, value]`,
 * `[key, value, expiresAtMs]`, or `[key]` for a deletion; the last line of a key wins). A namespace is
 * read once (from the start, in the background, or on first use), skipping expired records; after that
 * every operation is a Map lookup, and a write costs one line in a coalesced append (no whole-file rewrite per change; a key changed many times
 * within `writeDelayMs` is written once). When the journal holds more than twice the live records
 * (+1,000) or twice its compacted size (+1 MiB), it is rewritten with only the live ones (temp file +
 * rename, so a crash leaves the old or the new journal, never a mix). A line torn by a crash is skipped.
 * A failed append keeps its changes for the next write (they are still served from memory meanwhile).
 *
 * Memory and disk are proportional to the live records: with TTLs on everything per-sender this is the
 * senders of the last session timeout, not everyone who ever wrote. Folders written by the earlier
 * sharded format (`<ns>-NNN.json`) are imported on first use and removed.
 *
 * One process per folder: the store is not shared between processes (see README, one robot in one place).
 */
export class FileStore implements StateStore {
  private readonly dir: string;
  private readonly writeDelayMs: number;
  private readonly sweepIntervalMs: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  private readonly spaces = new Map<string, Promise<Space>>();
  private readonly dirty = new Set<Space>();
  private timer: NodeJS.Timeout | undefined;
  private dirReady: Promise<unknown> | undefined;
  private failed: { error: unknown; at: number } | undefined;

  constructor(opts: FileStoreOptions) {
    this.dir = opts.dir;
    this.writeDelayMs = opts.writeDelayMs ?? 200;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? (() => {});
    // Read what the folder holds now, in the background: the first message after a start need not wait for it.
    readdir(this.dir).then(
      (files) => files.filter((f) => /^[a-z0-9-]+\.jsonl$/i.test(f)).forEach((f) => void this.space(f.slice(0, -'.jsonl'.length)).catch(this.onError)),
      () => {},
    );
  }

  /**
   * Tries a write now: creates the folder, writes and removes an empty temp file. A failure is `writeFailure` (and goes
   * to `onError`), so a folder that cannot be written shows before the first change has to be kept; a success clears an
   * earlier failure (the folder was fixed) and writes the changes that failure kept waiting. Never throws.
   */
  async checkWritable(): Promise<void> {
    try {
      await this.ensureDir();
      const probe = join(this.dir, `.write-check-${process.pid}-${randomUUID()}.tmp`);
      await writeFile(probe, '', { mode: 0o600 });
      await unlink(probe);
      this.failed = undefined;
      // Changes a failed write put back in line: written now (a failure here sets writeFailure again).
      if (this.dirty.size > 0) await this.flush();
    } catch (err) {
      this.failed = { error: err, at: this.now() };
      this.onError(err);
    }
  }

  /**
   * The last write (append, compaction, creating the folder) that failed, with its epoch ms, while no write has
   * succeeded since; undefined when writing works. Changes meanwhile live in memory only (lost at restart).
   */
  get writeFailure(): { error: unknown; at: number } | undefined {
    return this.failed;
  }

  async get<T>(ns: string, key: string): Promise<T | undefined> {
    const sp = await this.space(ns);
    const e = sp.map.get(key);
    if (live(e, this.now())) return e.v as T;
    // Expired: its expiry is already in the journal, nothing to write.
    if (e) sp.map.delete(key);
    return undefined;
  }

  async set<T>(ns: string, key: string, value: T, ttlMs?: number): Promise<void> {
    this.put(await this.space(ns), key, ttlMs === undefined ? { v: value } : { v: value, exp: this.now() + ttlMs });
  }

  async delete(ns: string, key: string): Promise<void> {
    const sp = await this.space(ns);
    if (!sp.map.delete(key)) return;
    sp.pending.set(key, null);
    this.markDirty(sp);
  }

  async claim(ns: string, key: string, ttlMs: number): Promise<boolean> {
    const sp = await this.space(ns);
    // From here on synchronous: no other caller can run between the check and the set.
    const now = this.now();
    if (live(sp.map.get(key), now)) return false;
    this.put(sp, key, { v: 1, exp: now + ttlMs });
    return true;
  }

  async incr(ns: string, key: string, by: number, ttlMs?: number): Promise<number> {
    const sp = await this.space(ns);
    // Synchronous from here, like claim.
    const now = this.now();
    const e = sp.map.get(key);
    const base = live(e, now) && typeof e.v === 'number' ? e : undefined;
    const v = ((base?.v as number | undefined) ?? 0) + by;
    const exp = base ? base.exp : ttlMs === undefined ? undefined : now + ttlMs;
    this.put(sp, key, exp === undefined ? { v } : { v, exp });
    return v;
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const spaces = [...this.dirty];
    this.dirty.clear();
    await Promise.all(spaces.map((sp) => this.write(sp)));
    // Loads and writes started before this call, also of namespaces that had nothing pending.
    await Promise.all([...this.spaces.values()].map((p) => p.then((sp) => sp.chain).catch(() => {})));
  }

  private put(sp: Space, key: string, e: Entry): void {
    sp.map.set(key, e);
    sp.pending.set(key, e);
    this.markDirty(sp);
  }

  private space(ns: string): Promise<Space> {
    let p = this.spaces.get(ns);
    if (!p) {
      if (!/^[a-z0-9-]+$/i.test(ns)) throw new Error(`state namespace ${JSON.stringify(ns)} must match [a-z0-9-]+`);
      p = this.load(ns);
      this.spaces.set(ns, p);
    }
    return p;
  }

  private async load(ns: string): Promise<Space> {
    const file = join(this.dir, `${ns}.jsonl`);
    const sp: Space = { ns, file, map: new Map(), pending: new Map(), journalRecords: 0, journalBytes: 0, compactedBytes: 0, tornTail: false, chain: Promise.resolve(), nextSweepAt: this.now() + this.sweepIntervalMs };
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(err);
    }
    const now = this.now();
    if (text !== undefined) {
      const lines = text.split('\n');
      sp.journalBytes = sp.compactedBytes = Buffer.byteLength(text);
      sp.tornTail = text.length > 0 && !text.endsWith('\n');
      let bad = 0;
      for (let i = 0; i < lines.length; i++) {
        // A large journal is read in slices so the connection (pings, ACKs) keeps running meanwhile.
        if (i > 0 && i % 20_000 === 0) await new Promise((r) => setImmediate(r));
        const line = lines[i]!;
        if (!line) continue;
        sp.journalRecords++;
        let rec: unknown;
        try {
          rec = JSON.parse(line);
        } catch {
          // The last line may be torn by a crash mid-append: expected, not worth a report.
          if (!(i === lines.length - 1 && sp.tornTail)) bad++;
          continue;
        }
        if (!Array.isArray(rec) || typeof rec[0] !== 'string') {
          bad++;
          continue;
        }
        const [key, v, exp] = rec as [string, unknown, unknown];
        if (rec.length === 1) sp.map.delete(key);
        else if (typeof exp === 'number' && exp <= now) sp.map.delete(key);
        else sp.map.set(key, typeof exp === 'number' ? { v, exp } : { v });
      }
      if (bad) this.onError(new Error(`state file ${ns}.jsonl: ${bad} unreadable line(s) ignored`));
    } else {
      await this.importSharded(sp, now);
    }
    // A torn tail is rewritten away at once: later appends would otherwise leave it mid-file.
    if (sp.tornTail || needsCompaction(sp)) this.enqueue(sp, () => this.compact(sp));
    return sp;
  }

  /** The earlier format: `<ns>-NNN.json` objects of `{ key: { v, exp? } }`. Imported once, then removed. */
  private async importSharded(sp: Space, now: number): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((f) => new RegExp(`^${sp.ns}-\\d{3}\\.json$`).test(f));
    } catch {
      return;
    }
    if (names.length === 0) return;
    for (const name of names) {
      try {
        for (const [k, e] of Object.entries(JSON.parse(await readFile(join(this.dir, name), 'utf8')) as Record<string, Entry>)) {
          if (live(e, now)) sp.map.set(k, e.exp === undefined ? { v: e.v } : { v: e.v, exp: e.exp });
        }
      } catch (err) {
        this.onError(new Error(`state file ${name} could not be imported and was ignored: ${(err as Error).message}`));
      }
    }
    this.enqueue(sp, async () => {
      await this.compact(sp);
      await Promise.all(names.map((n) => unlink(join(this.dir, n)).catch(() => {})));
    });
  }

  private markDirty(sp: Space): void {
    this.dirty.add(sp);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(this.onError);
    }, this.writeDelayMs);
    this.timer.unref?.();
  }

  private enqueue(sp: Space, step: () => Promise<void>): Promise<void> {
    const next = sp.chain.then(step).catch((err: unknown) => {
      this.failed = { error: err, at: this.now() };
      this.onError(err);
    });
    sp.chain = next;
    return next;
  }

  private write(sp: Space): Promise<void> {
    return this.enqueue(sp, async () => {
      if (sp.pending.size === 0) return;
      const changes = [...sp.pending];
      sp.pending.clear();
      const chunk = (sp.tornTail ? '\n' : '') + changes.map(([k, e]) => line(k, e)).join('');
      try {
        await this.ensureDir();
        await appendFile(sp.file, chunk, { mode: 0o600 });
      } catch (err) {
        // Not lost: back in line (behind anything newer) for the next write or the flush at stop.
        for (const [k, e] of changes) if (!sp.pending.has(k)) sp.pending.set(k, e);
        this.dirty.add(sp);
        throw err;
      }
      sp.tornTail = false;
      this.failed = undefined;
      sp.journalRecords += changes.length;
      sp.journalBytes += Buffer.byteLength(chunk);
      const now = this.now();
      if (now >= sp.nextSweepAt) {
        sp.nextSweepAt = now + this.sweepIntervalMs;
        for (const [k, e] of sp.map) if (!live(e, now)) sp.map.delete(k);
      }
      if (needsCompaction(sp)) await this.compact(sp);
    });
  }

  /** Rewrite the journal with only the live records. */
  private async compact(sp: Space): Promise<void> {
    const now = this.now();
    const lines: string[] = [];
    for (const [k, e] of sp.map) {
      if (live(e, now)) lines.push(line(k, e));
      else sp.map.delete(k);
    }
    await this.ensureDir();
    const tmp = `${sp.file}.${process.pid}.${Date.now()}.tmp`;
    const text = lines.join('');
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, sp.file);
    sp.journalRecords = lines.length;
    sp.journalBytes = sp.compactedBytes = Buffer.byteLength(text);
    sp.tornTail = false;
    this.failed = undefined;
  }

  private ensureDir(): Promise<unknown> {
    this.dirReady ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).catch((err) => {
      this.dirReady = undefined;
      throw err;
    });
    return this.dirReady;
  }
}

/**
 * More than twice the live records (+1,000), or more than twice the bytes of the last compaction (+1 MiB: a
 * few large values rewritten often): rewriting costs at most what was appended since, so O(1) per change.
 */
function needsCompaction(sp: Space): boolean {
  return sp.journalRecords > 2 * sp.map.size + 1000 || sp.journalBytes > 2 * sp.compactedBytes + 1024 * 1024;
}

function line(key: string, e: Entry | null): string {
  if (e === null) return `${JSON.stringify([key])}\n`;
  return `${JSON.stringify(e.exp === undefined ? [key, e.v ?? null] : [key, e.v ?? null, e.exp])}\n`;
}

/**
 * The live records of one namespace of a FileStore folder, read without opening a store: nothing is written (no
 * compaction, no import), so another process may look while the owner runs (e.g. `doctor` reading the call counters).
 * Empty when the journal is missing or unreadable.
 */
export async function readFileStoreNamespace(dir: string, ns: string, now: number = Date.now()): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  let text: string;
  try {
    text = await readFile(join(dir, `${ns}.jsonl`), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    let rec: unknown;
    try {
      rec = line ? JSON.parse(line) : undefined;
    } catch {
      continue;
    }
    if (!Array.isArray(rec) || typeof rec[0] !== 'string') continue;
    const [key, v, exp] = rec as [string, unknown, unknown];
    if (rec.length === 1 || (typeof exp === 'number' && exp <= now)) out.delete(key);
    else out.set(key, v);
  }
  return out;
}

/** In-memory store with the same contract (tests, and a template for other stores). */
export class MemoryStore implements StateStore {
  private readonly data = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  async get<T>(ns: string, key: string): Promise<T | undefined> {
    const k = `${ns}\0${key}`;
    const e = this.data.get(k);
    if (live(e, this.now())) return e.v as T;
    if (e) this.data.delete(k);
    return undefined;
  }

  async set<T>(ns: string, key: string, value: T, ttlMs?: number): Promise<void> {
    this.data.set(`${ns}\0${key}`, ttlMs === undefined ? { v: value } : { v: value, exp: this.now() + ttlMs });
  }

  async delete(ns: string, key: string): Promise<void> {
    this.data.delete(`${ns}\0${key}`);
  }

  async claim(ns: string, key: string, ttlMs: number): Promise<boolean> {
    // Check and set with no await between them: atomic on the event loop.
    const k = `${ns}\0${key}`;
    const now = this.now();
    if (live(this.data.get(k), now)) return false;
    this.data.set(k, { v: 1, exp: now + ttlMs });
    return true;
  }

  async incr(ns: string, key: string, by: number, ttlMs?: number): Promise<number> {
    const k = `${ns}\0${key}`;
    const now = this.now();
    const e = this.data.get(k);
    const base = live(e, now) && typeof e.v === 'number' ? e : undefined;
    const v = ((base?.v as number | undefined) ?? 0) + by;
    const exp = base ? base.exp : ttlMs === undefined ? undefined : now + ttlMs;
    this.data.set(k, exp === undefined ? { v } : { v, exp });
    return v;
  }

  async flush(): Promise<void> {}
}

const fileStores = new Map<string, { store: FileStore; onError: (err: unknown) => void }>();

/** The process's file store on `dir` if one was opened (fileStoreAt), without opening one. */
export function openFileStore(dir: string): FileStore | undefined {
  return fileStores.get(resolve(dir))?.store;
}

/**
 * The process's one file store on `dir`: every path that needs an account's state (its running account, an outbound
 * send while it does not run, each restart) gets the same instance. Two FileStores on one folder would each keep their
 * own copy in memory and overwrite each other's appends and compactions. `onError`: the latest caller's. Each call
 * checks the folder can be written (checkWritable, in the background).
 */
export function fileStoreAt(dir: string, onError: (err: unknown) => void = () => {}): FileStore {
  const key = resolve(dir);
  let entry = fileStores.get(key);
  if (!entry) {
    const created: { store?: FileStore; onError: (err: unknown) => void } = { onError };
    created.store = new FileStore({ dir: key, onError: (err) => created.onError(err) });
    entry = created as { store: FileStore; onError: (err: unknown) => void };
    fileStores.set(key, entry);
  }
  entry.onError = onError;
  // Checked at each open (an account's start or restart, an outbound send): a folder that cannot be written shows in
  // the account's status from the start (src/channel.ts), and one fixed since stops showing.
  void entry.store.checkWritable();
  return entry.store;
}
