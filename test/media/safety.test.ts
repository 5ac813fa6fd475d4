import { beforeAll, describe, expect, test } from 'vitest';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLocalFile, type MediaPolicy } from '../../src/media/safety.ts';

export const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(64, 1)]);
let dir: string;
let policy: MediaPolicy;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dt-safety-'));
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  await mkdir(join(root, 'sub'), { recursive: true });
  await mkdir(join(state, 'media'), { recursive: true });
  await writeFile(join(root, 'ok.png'), PNG);
  await writeFile(join(state, 'openclaw.json'), '{"gateway":{"auth":{"token":"secret"}}}');
  await writeFile(join(state, 'media', 'm.png'), PNG);
  await writeFile(join(dir, 'outside.png'), PNG);
  await symlink(join(dir, 'outside.png'), join(root, 'link.png'));
  await writeFile(join(root, 'config.png'), '{"gateway":{"auth":{"token":"secret"}}}');
  await writeFile(join(root, 'fake.png'), 'not an image at all');
  await writeFile(join(root, 'doc.pdf'), PNG);
  policy = { roots: [root, join(state, 'media')], protectedDirs: [state], sensitiveFiles: [join(state, 'openclaw.json')] };
});

const reason = async (p: string) => {
  const r = await checkLocalFile(p, policy);
  return r.ok ? 'ok' : r.reason;
};

describe('which local files may be sent', () => {
  test('a real image under a root is allowed, with its sniffed type', async () => {
    const r = await checkLocalFile(join(dir, 'root', 'sub', '..', 'ok.png'), policy);
    expect(r).toMatchObject({ ok: true, file: { kind: 'image', contentType: 'image/png', fileName: 'ok.png' } });
  });

  test('escapes and protected places are refused', async () => {
    expect(await reason(join(dir, 'root', 'link.png'))).toBe('outside-roots');
    expect(await reason(join(dir, 'root', '..', 'outside.png'))).toBe('outside-roots');
    expect(await reason('/etc/passwd')).toBe('outside-roots');
    expect(await reason(join(dir, 'state', 'openclaw.json'))).toBe('outside-roots');
    expect(await reason(join(dir, 'state', 'media', 'm.png'))).toBe('ok');
    expect(await reason(join(dir, 'root', 'missing.png'))).toBe('not-found');
  });

  test('content decides: a config copy named .png, text named .png, a png named .pdf', async () => {
    expect(await reason(join(dir, 'root', 'config.png'))).toBe('sensitive');
    expect(await reason(join(dir, 'root', 'fake.png'))).toBe('not-image');
    expect(await reason(join(dir, 'root', 'doc.pdf'))).toBe('type-mismatch');
  });

  test('over 20 MB is refused before reading', async () => {
    const big = join(dir, 'root', 'big.png');
    await writeFile(big, Buffer.concat([PNG, Buffer.alloc(25 * 1024 * 1024)]));
    expect(await reason(big)).toBe('too-large');
  });

  test('the state folder is protected even when it lies under an allowed root', async () => {
    const p: MediaPolicy = { roots: [dir], protectedDirs: [join(dir, 'state')], sensitiveFiles: [] };
    const r = await checkLocalFile(join(dir, 'state', 'openclaw.json'), p);
    expect(r.ok ? 'ok' : r.reason).toBe('sensitive');
  });
});
