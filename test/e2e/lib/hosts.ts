/**
 * The two real hosts as the e2e suite drives them: where the cache put them (hosts.json from
 * install-hosts.sh), their config file and the offline settings, their CLI, and the gateway as a child
 * process in its own process group (killed as a group).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { toJson5 } from './json5.ts';

export type HostName = 'openclaw' | 'clawdbot';

export interface HostsJson {
  cache: string;
  node24: { bin: string; version: string };
  openclaw: { cli: string; version: string; prefix: string };
  clawdbot: { cli: string; version: string; prefix: string };
}

export const CACHE_DIR = process.env.DINGTALK_E2E_CACHE ?? join(homedir(), '.cache', 'dingtalk-connector-e2e');

/** hosts.json, or a message that says how to get it. */
export function loadHosts(): HostsJson {
  const file = join(CACHE_DIR, 'hosts.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`bash test/e2e/install-hosts.sh\` first (it installs Node 24 and both hosts into the cache)`);
  const hosts = JSON.parse(readFileSync(file, 'utf8')) as HostsJson;
  for (const f of [hosts.node24.bin, hosts.openclaw.cli, hosts.clawdbot.cli]) {
    if (!existsSync(f)) throw new Error(`${f} (from ${file}) is missing: run \`bash test/e2e/install-hosts.sh\` again`);
  }
  return hosts;
}

/** What differs between the hosts (found by running them; test/e2e/README.md lists the quirks). */
export interface HostSpec {
  name: HostName;
  version: string;
  cli: string;
  /** Folder under HOME that holds state and config (`~/.openclaw`, `~/.clawdbot`). */
  stateDirName: string;
  configFileName: string;
  /** Extra flags `plugins install -l` needs. */
  installFlags: string[];
  /** Env that turns off everything that would reach the internet or the local network. */
  offlineEnv: Record<string, string>;
  /** The host config minus channels and plugins (those come from `plugins install` and the test). */
  baseConfig(o: { gatewayPort: number; token: string; llmBaseUrl: string }): Record<string, unknown>;
}

export function hostSpec(name: HostName, hosts: HostsJson = loadHosts()): HostSpec {
  const mockProvider = (llmBaseUrl: string) => ({
    baseUrl: llmBaseUrl,
    apiKey: 'mock-local',
    api: 'openai-completions',
    models: [{ id: 'mock-model', name: 'Mock', input: ['text', 'image'], contextWindow: 32000, maxTokens: 4096 }],
  });
  const gateway = (port: number, token: string) => ({
    mode: 'local',
    port,
    bind: 'loopback',
    auth: { mode: 'token', token },
    http: { endpoints: { chatCompletions: { enabled: true } } },
  });
  const agents = { defaults: { model: { primary: 'mock/mock-model' }, heartbeat: { every: '0m' } } };
  if (name === 'openclaw') {
    return {
      name,
      version: hosts.openclaw.version,
      cli: hosts.openclaw.cli,
      stateDirName: '.openclaw',
      configFileName: 'openclaw.json',
      installFlags: ['--force', '--accept-capabilities'],
      offlineEnv: { OPENCLAW_NO_AUTO_UPDATE: '1', OPENCLAW_DISABLE_BONJOUR: '1', OPENCLAW_OFFLINE: '1', DO_NOT_TRACK: '1' },
      baseConfig: ({ gatewayPort, token, llmBaseUrl }) => ({
        gateway: gateway(gatewayPort, token),
        update: { checkOnStart: false },
        telemetry: { enabled: false },
        discovery: { mdns: { mode: 'off' } },
        browser: { enabled: false },
        // catalogRefresh would fetch the remote model catalog.
        models: { mode: 'replace', catalogRefresh: { enabled: false }, providers: { mock: mockProvider(llmBaseUrl) } },
        agents,
        // Without an allow list about 14 bundled plugins load (several would reach the internet).
        plugins: { allow: ['dingtalk-connector'] },
      }),
    };
  }
  return {
    name,
    version: hosts.clawdbot.version,
    cli: hosts.clawdbot.cli,
    stateDirName: '.clawdbot',
    configFileName: 'clawdbot.json',
    installFlags: [],
    offlineEnv: {
      CLAWDBOT_DISABLE_BONJOUR: '1',
      CLAWDBOT_SKIP_BROWSER_CONTROL_SERVER: '1',
      CLAWDBOT_SKIP_CANVAS_HOST: '1',
      CLAWDBOT_SKIP_GMAIL_WATCHER: '1',
      CLAWDBOT_SKIP_CRON: '1',
    },
    // Strict schema: no telemetry/catalogRefresh keys; no plugins.allow (it would have to list every bundled id).
    baseConfig: ({ gatewayPort, token, llmBaseUrl }) => ({
      gateway: gateway(gatewayPort, token),
      update: { checkOnStart: false },
      discovery: { wideArea: { enabled: false } },
      browser: { enabled: false },
      models: { providers: { mock: mockProvider(llmBaseUrl) } },
      agents,
    }),
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** One host instance: an isolated HOME, its config file, its CLI and its gateway. */
export class HostInstance {
  readonly spec: HostSpec;
  readonly hosts: HostsJson;
  readonly home: string;
  readonly logFile: string;
  readonly env: Record<string, string>;
  gatewayPort = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private logStart = 0;

  constructor(o: { spec: HostSpec; hosts: HostsJson; root: string; extraEnv?: Record<string, string> }) {
    this.spec = o.spec;
    this.hosts = o.hosts;
    this.home = join(o.root, 'home');
    this.logFile = join(o.root, 'gateway.log');
    // A clean env: nothing of the test runner (NODE_OPTIONS, VITEST_*) leaks into the host.
    this.env = {
      HOME: this.home,
      PATH: `${join(o.hosts.node24.bin, '..')}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'C.UTF-8',
      TZ: 'UTC',
      NO_COLOR: '1',
      CI: '1',
      ...o.spec.offlineEnv,
      ...o.extraEnv,
    };
  }

  get stateDir(): string {
    return join(this.home, this.spec.stateDirName);
  }
  /** The host's real config path: `~/.openclaw/openclaw.json`, `~/.clawdbot/clawdbot.json`. */
  get configPath(): string {
    return join(this.stateDir, this.spec.configFileName);
  }

  async writeConfig(config: Record<string, unknown>, comments: Record<string, string> = {}): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    await writeFile(this.configPath, toJson5(config, { header: `${this.spec.name} config for the dingtalk-connector e2e suite, written by hand-style JSON5`, comments }), { mode: 0o600 });
  }

  /** The config as the host last wrote it (hosts rewrite it as plain JSON). */
  async readConfig(): Promise<Record<string, any>> {
    return JSON.parse(await readFile(this.configPath, 'utf8'));
  }

  /** Runs `<host> <args…>` under Node 24 with this instance's env. */
  cli(args: string[], o: { timeoutMs?: number } = {}): Promise<CliResult> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(this.hosts.node24.bin, [this.spec.cli, ...args], { cwd: this.home, env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      trackGroup(child.pid);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => (stdout += d));
      child.stderr!.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => {
        killGroup(child.pid, 'SIGKILL');
        reject(new Error(`${this.spec.name} ${args.join(' ')} timed out after ${o.timeoutMs ?? 60_000} ms\nstdout: ${tail(stdout)}\nstderr: ${tail(stderr)}`));
      }, o.timeoutMs ?? 60_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        // A CLI may leave helpers in its group: none may outlive the command.
        killGroup(child.pid, 'SIGKILL');
        untrackGroup(child.pid);
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      });
    });
  }

  /** `cli(args)` whose stdout holds JSON (after whatever the host prints first), parsed. */
  async cliJson<T = any>(args: string[], o: { timeoutMs?: number; allowFailure?: boolean } = {}): Promise<{ json: T; result: CliResult }> {
    const result = await this.cli(args, o);
    if (result.code !== 0 && !o.allowFailure) throw new Error(`${this.spec.name} ${args.join(' ')} exited ${result.code}\nstdout: ${tail(result.stdout)}\nstderr: ${tail(result.stderr)}`);
    return { json: extractJson(result.stdout, `${this.spec.name} ${args.join(' ')}`) as T, result };
  }

  async startGateway(port: number): Promise<void> {
    if (this.child) throw new Error('gateway already running');
    this.gatewayPort = port;
    await mkdir(this.home, { recursive: true });
    this.logStart = existsSync(this.logFile) ? readFileSync(this.logFile).length : 0;
    const fd = openSync(this.logFile, 'a');
    try {
      const child = spawn(this.hosts.node24.bin, [this.spec.cli, 'gateway', 'run', '--port', String(port), '--bind', 'loopback'], {
        cwd: this.home,
        env: this.env,
        detached: true, // own process group: stopGateway kills it and whatever it spawned
        stdio: ['ignore', fd, fd],
      });
      this.child = child;
      trackGroup(child.pid);
      this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
    } finally {
      closeSync(fd);
    }
  }

  /** Waits until the gateway answers HTTP on its port (openclaw: /healthz ok). */
  async waitForHealth(timeoutMs = 150_000): Promise<number> {
    const started = Date.now();
    const exited = this.exited!;
    let gone: number | null | undefined;
    void exited.then((c) => (gone = c));
    while (Date.now() - started < timeoutMs) {
      if (gone !== undefined) throw new Error(`${this.spec.name} gateway exited with ${gone} before it was healthy\n${this.logTail()}`);
      try {
        const path = this.spec.name === 'openclaw' ? '/healthz' : '/';
        const res = await fetch(`http://127.0.0.1:${this.gatewayPort}${path}`, { signal: AbortSignal.timeout(2000) });
        const body = await res.text();
        if (this.spec.name === 'openclaw' ? res.ok && JSON.parse(body).ok === true : res.status < 500) return Date.now() - started;
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    throw new Error(`${this.spec.name} gateway not healthy within ${timeoutMs} ms\n${this.logTail()}`);
  }

  /**
   * Some host changes end the gateway process and leave starting it again to a supervisor (systemd, launchd): seen with
   * OpenClaw 2026.9.6 applying `pairing approve` as a config reload under load ("draining for restart", then exit 0).
   * Waits `settleMs` for such an exit and, when it happened, does what the supervisor would. True when it restarted.
   */
  async reviveIfExited(settleMs: number): Promise<boolean> {
    const child = this.child;
    if (!child || !this.exited) return false;
    const outcome = await Promise.race([this.exited, sleep(settleMs).then(() => 'running' as const)]);
    if (outcome === 'running') return false;
    this.child = undefined;
    untrackGroup(child.pid);
    await this.startGateway(this.gatewayPort);
    await this.waitForHealth(240_000);
    return true;
  }

  /** SIGTERM to the whole process group, SIGKILL after a grace period; resolves when the group is gone. */
  async stopGateway(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    killGroup(child.pid, 'SIGTERM');
    const code = await Promise.race([this.exited!, sleep(graceMs).then(() => 'timeout' as const)]);
    if (code === 'timeout') killGroup(child.pid, 'SIGKILL');
    // Helpers in the group (e.g. openclaw's sqlite worker) go too.
    for (let i = 0; i < 50 && groupAlive(child.pid); i++) {
      if (i === 20) killGroup(child.pid, 'SIGKILL');
      await sleep(100);
    }
    untrackGroup(child.pid);
  }

  get running(): boolean {
    return !!this.child;
  }

  /** Gateway output since the last start. */
  log(): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile).subarray(this.logStart).toString('utf8');
  }

  logTail(lines = 60): string {
    return `--- ${this.spec.name} gateway log (${this.logFile}), last ${lines} lines ---\n${this.log().split('\n').slice(-lines).join('\n')}`;
  }
}

/** Process groups this test process started and has not reaped yet: killed if the test process exits early. */
const liveGroups = new Set<number>();
process.once('exit', () => {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
});
export function trackGroup(pid: number | undefined): void {
  if (pid) liveGroups.add(pid);
}
export function untrackGroup(pid: number | undefined): void {
  if (pid) liveGroups.delete(pid);
}

export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function groupAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * JSON from a CLI's stdout: clawdbot prints a "Doctor changes" box before the JSON of every command, so
 * parsing starts at the first line that begins with `{` or `[`.
 */
export function extractJson(stdout: string, what = 'command'): unknown {
  const lines = stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^[[{]/.test(lines[i]!)) continue;
    const rest = lines.slice(i).join('\n').trim();
    try {
      return JSON.parse(rest);
    } catch {
      // maybe a later line starts the JSON
    }
  }
  throw new Error(`${what}: no JSON in stdout:\n${tail(stdout)}`);
}

export function tail(text: string, n = 40): string {
  return text.split('\n').slice(-n).join('\n');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
