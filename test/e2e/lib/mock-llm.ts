/**
 * Starts test/e2e/mock-llm.mjs (plain Node, any version) as a child in its own process group and reads
 * what it recorded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killGroup, trackGroup, untrackGroup } from './hosts.ts';

export interface MockSummary {
  messageCount: number;
  roles: string[];
  systemPrompts: string[];
  userTexts: string[];
  assistantTexts: string[];
  imageParts: number;
  /** Streaming requests: content chunks written, and whether the client closed the connection before the end. */
  stream?: { chunks: number; closedEarly: boolean };
  answer: string;
  /** The `message` tool call the mock answered with (TOOL_MESSAGE), arguments as JSON text. */
  toolCall?: { name: string; arguments: string };
}

export interface MockRequest {
  at: number;
  model: string;
  user: string | null;
  summary: MockSummary;
}

export class MockLlm {
  readonly baseUrl: string;
  private readonly child: ChildProcess;
  private output = '';

  private constructor(child: ChildProcess, baseUrl: string, output: string) {
    this.child = child;
    this.baseUrl = baseUrl;
    this.output = output;
    child.stdout?.on('data', (d) => (this.output += d));
    child.stderr?.on('data', (d) => (this.output += d));
  }

  static start(): Promise<MockLlm> {
    const script = fileURLToPath(new URL('../mock-llm.mjs', import.meta.url));
    const child = spawn(process.execPath, [script, '--port', '0'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    trackGroup(child.pid);
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        killGroup(child.pid, 'SIGKILL');
        reject(new Error(`mock LLM did not start: ${out}`));
      }, 10_000);
      child.on('exit', (code) => reject(new Error(`mock LLM exited ${code}: ${out}`)));
      child.stderr!.on('data', (d) => (out += d));
      child.stdout!.on('data', function onData(d) {
        out += d;
        const line = out.split('\n').find((l) => l.includes('"listening"'));
        if (!line) return;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.removeAllListeners('exit');
        resolve(new MockLlm(child, JSON.parse(line).baseUrl as string, out));
      });
    });
  }

  /** Summaries of every chat completion the mock answered, oldest first. */
  async requests(): Promise<MockRequest[]> {
    const res = await fetch(`${this.baseUrl.replace(/\/v1$/, '')}/__requests?summary=1`);
    return (await res.json()) as MockRequest[];
  }

  /** Everything recorded (messages and bodies included), for the debugging dump. */
  async rawRequests(): Promise<unknown[]> {
    const res = await fetch(`${this.baseUrl.replace(/\/v1$/, '')}/__requests`);
    return (await res.json()) as unknown[];
  }

  /** The requests whose latest user words contain `marker`. */
  async requestsFor(marker: string): Promise<MockRequest[]> {
    return (await this.requests()).filter((r) => r.summary.userTexts.at(-1)?.includes(marker));
  }

  async stop(): Promise<void> {
    untrackGroup(this.child.pid);
    killGroup(this.child.pid, 'SIGTERM');
    await new Promise((r) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return r(undefined);
      const t = setTimeout(() => {
        killGroup(this.child.pid, 'SIGKILL');
        r(undefined);
      }, 3000);
      this.child.on('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    });
  }
}
