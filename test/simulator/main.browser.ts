/**
 * `npm start` as a user runs it: the real command in its own process group (like a terminal's foreground job),
 * the page answers, and Ctrl-C (SIGINT to the whole group) stops everything: exit code 0, no process left in
 * the group, nothing left in the temp folder. In the slow suite (npm run test:browser): it starts npm and vite-node.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start', () => {
  let tmp: string | undefined;
  let pgid: number | undefined;
  afterEach(async () => {
    if (pgid && groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('prints the page URL, serves the page, and on Ctrl-C leaves no process and no temp folder behind', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'sim-start-'));
    const child = spawn('npm', ['start', '--', '--port', '0', '--quiet'], {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, TMPDIR: tmp, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pgid = child.pid!;
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    while (!(url = /simulator:\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1])) {
      if (Date.now() > deadline) throw new Error(`no URL printed:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('钉钉模拟器');
    expect((await readdir(tmp)).filter((n) => n.startsWith('dingtalk-sim-'))).toHaveLength(1);

    process.kill(-pgid, 'SIGINT');
    // npm itself dies of the SIGINT as in a terminal (or exits 0); what matters is what the simulator leaves.
    const { code, signal } = await exited;
    expect(code === 0 || signal === 'SIGINT').toBe(true);
    // npm and the simulator are both gone, and the simulator's temp folder with them.
    const gone = Date.now() + 5_000;
    while (groupAlive(pgid) && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    expect(groupAlive(pgid)).toBe(false);
    expect(await readdir(tmp)).toEqual([]);
    await expect.poll(() => out, { timeout: 5_000 }).toContain('simulator stopped; temp folder removed');
    await expect(fetch(url)).rejects.toThrow();
  });
});
