/**
 * Notices a robot running in two places. DingTalk pushes each message to one of an app's open Stream
 * connections at random (PEDIA protocol.md:386-390, spec §1.8), so two processes on one robot each see about
 * half the messages, keep separate sessions, and may both answer a redelivered message: dedupe, sessions and
 * the app's QPS budget are per process until the state is shared.
 *
 * Every running account keeps a heartbeat record (pid, host, start time) in a registry and reads the others'.
 * The registry here is a folder beside the account's state (`<stateDir>/instances/`), so it sees a second
 * process on the same state folder (same machine, or a shared disk). A shared state store (e.g. Redis) could
 * implement `InstanceRegistry` and make the check cross-host.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { robotId } from './config-values.ts';
import { errorMessage, type Logger } from './log.ts';

export interface InstanceInfo {
  /** `<host>-<pid>-<startedAt>`: unique per run. */
  id: string;
  clientId: string;
  pid: number;
  host: string;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms of the last heartbeat. */
  heartbeatAt: number;
}

/** Where running instances announce themselves. */
export interface InstanceRegistry {
  /** Write (or refresh) our record; resolves with every record present, ours included. */
  beat(self: InstanceInfo): Promise<InstanceInfo[]>;
  /** Remove our record (on stop). */
  leave(self: InstanceInfo): Promise<void>;
  /** Remove a record found dead. */
  evict(other: InstanceInfo): Promise<void>;
}

export const INSTANCE_HEARTBEAT_MS = 30_000;
/**
 * A record not refreshed for this many heartbeats, and at least STALE_MIN_MS, is stale (its process died
 * without removing it). The floor absorbs clock skew between hosts sharing the disk and a busy event loop.
 */
const STALE_AFTER_BEATS = 3;
const STALE_MIN_MS = 10_000;
/** Ids of the instances running in this process (a record with our pid is live only if listed here). */
const runningHere = new Set<string>();

export interface InstanceWatchOptions {
  registry: InstanceRegistry;
  clientId: string;
  log: Logger;
  /** Called with the other live instances of this robot whenever that list changes. */
  onChange: (others: InstanceInfo[]) => void;
  heartbeatMs?: number;
  now?: () => number;
  /** For tests: is this pid alive on this host (default: `process.kill(pid, 0)`). */
  pidAlive?: (pid: number) => boolean;
}

export interface InstanceWatch {
  stop(): Promise<void>;
}

/**
 * Announces this run and checks for others every `heartbeatMs` (default 30 s). A record is another live
 * instance when it names the same clientId, was refreshed within 3 heartbeats (at least 10 s), and, when it is on this host,
 * its pid is alive. The first check has happened when this resolves. Registry errors are logged, never thrown.
 */
export async function watchInstances(opts: InstanceWatchOptions): Promise<InstanceWatch> {
  const now = opts.now ?? Date.now;
  const heartbeatMs = opts.heartbeatMs ?? INSTANCE_HEARTBEAT_MS;
  const pidAlive = opts.pidAlive ?? defaultPidAlive;
  const host = hostname();
  const startedAt = now();
  const self: InstanceInfo = { id: `${host}-${process.pid}-${startedAt}`, clientId: opts.clientId, pid: process.pid, host, startedAt, heartbeatAt: startedAt };
  runningHere.add(self.id);
  let known = new Map<string, InstanceInfo>();

  const check = async () => {
    self.heartbeatAt = now();
    let records: InstanceInfo[];
    try {
      records = await opts.registry.beat(self);
    } catch (err) {
      opts.log.warn(`instance check failed: ${errorMessage(err)}`);
      return;
    }
    const others = new Map<string, InstanceInfo>();
    for (const r of records) {
      if (r.id === self.id || r.clientId !== self.clientId) continue;
      const sameHost = r.host === host;
      const dead = sameHost && (r.pid === process.pid ? !runningHere.has(r.id) : !pidAlive(r.pid));
      if (dead || now() - r.heartbeatAt > Math.max(STALE_AFTER_BEATS * heartbeatMs, STALE_MIN_MS)) {
        await opts.registry.evict(r).catch(() => undefined);
        continue;
      }
      others.set(r.id, r);
    }
    for (const [id, r] of others) {
      if (!known.has(id)) {
        opts.log.warn(
          `this robot (clientId ${self.clientId}) is also running in another process: ${describeInstance(r)}; this one is ${describeInstance(self)}. ` +
            'DingTalk pushes each message to one of the connections at random, so each process sees about half the messages with its own sessions, and a redelivered message may be answered twice. Run one robot in one place: stop one of them.',
        );
      }
    }
    for (const [id, r] of known) if (!others.has(id)) opts.log.info(`the other process running this robot is gone: ${describeInstance(r)}`);
    const changed = others.size !== known.size || [...others.keys()].some((id) => !known.has(id));
    known = others;
    if (changed) opts.onChange([...others.values()]);
  };

  await check();
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => (stopped ? undefined : check()));
  }, heartbeatMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
      runningHere.delete(self.id);
      await opts.registry.leave(self).catch((err) => opts.log.warn(`could not remove the instance record: ${errorMessage(err)}`));
    },
  };
}

/** A robot's Stream connection held by one account of this process. */
interface RobotHolder {
  accountId: string;
  /** Where that account's clientId is written (config key or env name). */
  clientIdFrom: string;
  /** Runs of that account holding it (a restart may start before the previous run has let go). */
  runs: number;
}

/** Which account of this process holds each robot, by robotId (the duplicate check's comparison). */
const holders = new Map<string, RobotHolder>();
/** Called whenever a robot is let go, so that waiting accounts try again. */
const onRelease = new Set<() => void>();

export interface HoldRobotOptions {
  clientId: string;
  accountId: string;
  clientIdFrom: string;
  signal: AbortSignal;
  /** Called once when another account of this process holds the robot, with the problem (naming both keys and the fix). */
  onHeld: (problem: string) => void;
}

/**
 * Holds the robot `clientId` for `accountId` in this process; resolves with the function that lets go of it, or
 * undefined when `signal` aborted first. While another account holds it, waits (onHeld says why) and takes it when
 * that account stops. Config resolution refuses the later of two accounts on one robot, but OpenClaw restarts only
 * the accounts a reload touched (dist/config-reload-plan-*.mjs accountScopedRestart), so the other may still run
 * under an older config: without this, both would connect, and DingTalk would push each message to only one of them
 * (spec §1.8). Runs of one account id are not held back (its own restart; another process on its state folder is
 * watchInstances' business). Never throws.
 */
export async function holdRobot(opts: HoldRobotOptions): Promise<(() => void) | undefined> {
  const robot = robotId(opts.clientId);
  let told = false;
  for (;;) {
    if (opts.signal.aborted) return undefined;
    const holder = holders.get(robot);
    if (!holder || holder.accountId === opts.accountId) {
      if (holder) holder.runs++;
      else holders.set(robot, { accountId: opts.accountId, clientIdFrom: opts.clientIdFrom, runs: 1 });
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        const h = holders.get(robot)!;
        if (--h.runs === 0) holders.delete(robot);
        for (const retry of [...onRelease]) retry();
      };
    }
    if (!told) {
      told = true;
      opts.onHeld(
        `${opts.clientIdFrom} names the robot ${opts.clientId}, which account "${holder.accountId}" (${holder.clientIdFrom}) already runs in this gateway: ` +
          `DingTalk pushes each message to only one of a robot's connections, so this account does not connect while "${holder.accountId}" runs (it connects when that one stops). ` +
          `Set this account's own robot's clientId and clientSecret, or disable one of them (enabled: false)`,
      );
    }
    await new Promise<void>((resolve) => {
      const wake = () => {
        onRelease.delete(wake);
        opts.signal.removeEventListener('abort', wake);
        resolve();
      };
      onRelease.add(wake);
      opts.signal.addEventListener('abort', wake, { once: true });
    });
  }
}

/** The account status line when others run this robot, or undefined when none does. */
export function runningElsewhere(others: InstanceInfo[]): string | undefined {
  if (!others.length) return undefined;
  return `this robot also runs in another process (${others.map(describeInstance).join('; ')}): each sees about half the messages and counts only its own calls against monthlyCallBudget (counts in one state folder are not added across processes); run one robot in one place`;
}

/** `pid 4242 on host-b, started 2026-11-30T20:00:00.000Z`. */
export function describeInstance(i: InstanceInfo): string {
  return `pid ${i.pid} on ${i.host}, started ${new Date(i.startedAt).toISOString()}`;
}

/** One JSON file per running instance in `dir` (created on first use), written atomically (temp file + rename). */
export class FolderRegistry implements InstanceRegistry {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async beat(self: InstanceInfo): Promise<InstanceInfo[]> {
    await mkdir(this.dir, { recursive: true });
    const file = this.file(self);
    await writeFile(`${file}.tmp`, JSON.stringify(self));
    await rename(`${file}.tmp`, file);
    const out: InstanceInfo[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const r: unknown = JSON.parse(await readFile(join(this.dir, name), 'utf8'));
        if (isInstance(r)) out.push(r);
      } catch {
        // removed meanwhile, or half-written by an old version: not an instance
      }
    }
    return out;
  }

  async leave(self: InstanceInfo): Promise<void> {
    await rm(this.file(self), { force: true });
  }

  async evict(other: InstanceInfo): Promise<void> {
    await rm(this.file(other), { force: true });
  }

  private file(i: InstanceInfo): string {
    return join(this.dir, `${i.id.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
  }
}

function isInstance(v: unknown): v is InstanceInfo {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.id === 'string' && typeof r.clientId === 'string' && typeof r.pid === 'number' && typeof r.host === 'string' &&
    typeof r.startedAt === 'number' && typeof r.heartbeatAt === 'number';
}

function defaultPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, owned by another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
