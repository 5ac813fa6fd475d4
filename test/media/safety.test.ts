import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { copyFile, link, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';
import { strToU8, zipSync } from 'fflate';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLocalFile, type MediaPolicy } from '../../src/media/safety.ts';
import { startSwapper } from './swapper.ts';

export const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(64, 1)]);
const INSIDE_PNG = Buffer.concat([PNG, Buffer.from('inside')]);
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
  policy = { roots: [root, join(state, 'media')], protectedDirs: [state], sensitiveFiles: [join(state, 'openclaw.json')], secrets: [] };
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
    const p: MediaPolicy = { roots: [dir], protectedDirs: [join(dir, 'state')], sensitiveFiles: [], secrets: [] };
    const r = await checkLocalFile(join(dir, 'state', 'openclaw.json'), p);
    expect(r.ok ? 'ok' : r.reason).toBe('sensitive');
  });
});

const OUTSIDE_PNG = Buffer.concat([PNG, Buffer.from('OUTSIDE-SECRET')]);

describe.each([
  ['Linux (/proc/self/fd)', undefined],
  ['other systems (real path re-checked by device and inode)', 'darwin'],
] as Array<[string, NodeJS.Platform | undefined]>)('the check cannot be raced, %s', (_name, platform) => {
  const real = process.platform;
  beforeEach(() => {
    if (platform) Object.defineProperty(process, 'platform', { value: platform, configurable: true });
  });
  afterEach(() => {
    Object.defineProperty(process, 'platform', { value: real, configurable: true });
  });

  test('a file and a folder swapped for symlinks while 300 checks run: 0 files from outside the roots', async () => {
    const base = await mkdtemp(join(tmpdir(), 'dt-race-'));
    const root = join(base, 'root');
    const outside = join(base, 'outside');
    await mkdir(join(root, 'd'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, 'secret.png'), OUTSIDE_PNG);
    await writeFile(join(outside, 'pic.png'), OUTSIDE_PNG);
    await writeFile(join(root, 'race.png'), INSIDE_PNG);
    await writeFile(join(root, 'd', 'pic.png'), INSIDE_PNG);
    const p: MediaPolicy = { roots: [root], protectedDirs: [], sensitiveFiles: [], secrets: [] };
    const stop = await startSwapper({ file: join(root, 'race.png'), outsideFile: join(outside, 'secret.png'), dir: join(root, 'd'), outsideDir: outside, inside: INSIDE_PNG });
    const tally = { outside: 0, inside: 0, refused: 0 };
    let swaps = 0;
    try {
      for (let round = 0; round < 30; round++) {
        const batch = await Promise.all(Array.from({ length: 10 }, (_, i) => checkLocalFile(i % 2 ? join(root, 'race.png') : join(root, 'd', 'pic.png'), p).catch(() => ({ ok: false }) as const)));
        for (const r of batch) {
          if (!r.ok) tally.refused++;
          else if (r.file.bytes.equals(OUTSIDE_PNG)) tally.outside++;
          else if (r.file.bytes.equals(INSIDE_PNG)) tally.inside++;
        }
      }
    } finally {
      swaps = await stop();
    }
    expect(swaps).toBeGreaterThan(0);
    expect(tally).toMatchObject({ outside: 0 });
    // Every check either sent the inside file or refused; the swaps did land in between.
    expect(tally.inside + tally.refused).toBe(300);
    expect(tally.refused).toBeGreaterThan(0);
  }, 30_000);
});

describe('the host config cannot leave by another name or in another container', () => {
  const TOKEN = 'gw-9f8e7d6c5b4a3f2e1d0c';
  const CLIENT_SECRET = 'cs-ABCDEFGHijklmnop1234';
  const API_KEY = 'sk-proj-abcdefghijklmnop0987';
  const config = { gateway: { auth: { mode: 'token', token: TOKEN } }, channels: { 'dingtalk-ai': { clientId: 'dingXYZ', clientSecret: CLIENT_SECRET } }, models: { providers: { openai: { apiKey: API_KEY } } } };
  const pretty = JSON.stringify(config, null, 4);
  let base: string;
  let root: string;
  let p: MediaPolicy;
  const check = async (name: string, bytes: Buffer | Uint8Array) => {
    await writeFile(join(root, name), bytes);
    const r = await checkLocalFile(join(root, name), p);
    return r.ok ? 'ok' : r.reason;
  };
  const pdfWith = (content: Buffer) => Buffer.concat([Buffer.from('%PDF-1.7\n1 0 obj\n<< /Length 99 /Filter /FlateDecode >>\nstream\n'), content, Buffer.from('\nendstream\nendobj\n%%EOF\n')]);

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'dt-secrets-'));
    root = join(base, 'root');
    const state = join(base, 'state');
    await mkdir(root, { recursive: true });
    await mkdir(state, { recursive: true });
    // JSON5 as the host writes it: comments, unquoted keys.
    await writeFile(join(state, 'openclaw.json'), `// host config\n{ gateway: { auth: { mode: "token", token: "${TOKEN}" } },\n channels: { "dingtalk-ai": { clientSecret: '${CLIENT_SECRET}' } },\n models: { providers: { openai: { apiKey: "${API_KEY}" } } } }\n`);
    await writeFile(join(state, 'notes.pdf'), pdfWith(Buffer.from('nothing secret in here')));
    p = { roots: [root], protectedDirs: [state], sensitiveFiles: [join(state, 'openclaw.json')], secrets: [] };
  });

  test('a hard link to a protected file is refused, whatever its name; a copy of an innocent file passes', async () => {
    await link(join(base, 'state', 'notes.pdf'), join(root, 'report.pdf'));
    const r = await checkLocalFile(join(root, 'report.pdf'), p);
    expect(r).toMatchObject({ ok: false, reason: 'sensitive' });
    expect(r.ok ? '' : r.detail).toContain('2 hard links');
    await link(join(base, 'state', 'openclaw.json'), join(root, 'cfg.pdf'));
    expect((await checkLocalFile(join(root, 'cfg.pdf'), p)).ok).toBe(false);
    await copyFile(join(base, 'state', 'notes.pdf'), join(root, 'copy.pdf'));
    expect((await checkLocalFile(join(root, 'copy.pdf'), p)).ok).toBe(true);
  });

  test('the config re-serialised into zip, docx, pdf, png, doc, base64 and hex is refused', async () => {
    const b64 = Buffer.from(pretty).toString('base64');
    const cases: Array<[string, Buffer | Uint8Array]> = [
      ['stored.zip', zipSync({ 'openclaw.json': strToU8(pretty) }, { level: 0 })],
      ['deflated.zip', zipSync({ 'backup/config.json': strToU8(JSON.stringify(config)) }, { level: 9 })],
      ['nested.zip', zipSync({ 'inner.zip': zipSync({ 'c.json': strToU8(pretty) }) })],
      ['base64-in.zip', zipSync({ 'c.txt': strToU8(b64) })],
      ['report.docx', zipSync({ '[Content_Types].xml': strToU8('<Types/>'), 'word/document.xml': strToU8(`<w:document><w:t>${pretty.replace(/"/g, '&quot;')}</w:t></w:document>`) })],
      ['flate.pdf', pdfWith(deflateSync(Buffer.from(pretty)))],
      ['plain.pdf', pdfWith(Buffer.from(pretty))],
      ['base64.pdf', pdfWith(Buffer.from(b64))],
      ['base64-offset.pdf', pdfWith(Buffer.from(Buffer.from(`xy${CLIENT_SECRET}`).toString('base64')))],
      ['base64-lines.pdf', pdfWith(Buffer.from(b64.replace(/(.{76})/g, '$1\r\n')))],
      ['base64url.pdf', pdfWith(Buffer.from(Buffer.from(`?>${API_KEY}`).toString('base64url')))],
      ['hex.pdf', pdfWith(Buffer.from(Buffer.from(TOKEN).toString('hex')))],
      ['utf16.doc', Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), Buffer.alloc(504), Buffer.from(pretty, 'utf16le')])],
      ['text-chunk.png', pngWithText(pretty)],
    ];
    const results = Object.fromEntries(await Promise.all(cases.map(async ([name, bytes]) => [name, await check(name, bytes)])));
    expect(results).toEqual(Object.fromEntries(cases.map(([name]) => [name, 'sensitive'])));
  });

  test('a private key is refused; what cannot be inspected is refused; ordinary documents pass', async () => {
    expect(await check('key.pdf', pdfWith(Buffer.from('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n')))).toBe('sensitive');
    expect(await check('archive.rar', Buffer.concat([Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), Buffer.alloc(64, 3)]))).toBe('sensitive');
    const encrypted = Buffer.from(zipSync({ 'c.json': strToU8(pretty) }, { level: 0 }));
    // Set the "encrypted" flag (bit 0) in the local and central headers, as ZipCrypto writes it.
    for (const sig of [0x04034b50, 0x02014b50]) {
      const at = encrypted.indexOf(Buffer.from(new Uint32Array([sig]).buffer));
      encrypted.writeUInt16LE(encrypted.readUInt16LE(at + (sig === 0x04034b50 ? 6 : 8)) | 1, at + (sig === 0x04034b50 ? 6 : 8));
    }
    expect(await check('locked.zip', encrypted)).toBe('sensitive');
    expect(await check('fine.docx', zipSync({ 'word/document.xml': strToU8('<w:t>季度报告 token: see the admin</w:t>') }))).toBe('ok');
    expect(await check('fine.pdf', pdfWith(deflateSync(Buffer.from('BT /F1 12 Tf (Hello) Tj ET'))))).toBe('ok');
    expect(await check('chart.png', pngWithText('a chart of sales'))).toBe('ok');
  });

  test('secrets given by the account (resolved from env) count too', async () => {
    const q: MediaPolicy = { ...p, secrets: ['env-only-secret-value-42'] };
    await writeFile(join(root, 'env.pdf'), pdfWith(deflateSync(Buffer.from('{"x":"env-only-secret-value-42"}'))));
    expect(await checkLocalFile(join(root, 'env.pdf'), q)).toMatchObject({ ok: false, reason: 'sensitive' });
  });
});

/** A real PNG (1×1, IHDR + IDAT + IEND) with a zTXt chunk holding `text`. */
function pngWithText(text: string): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'latin1'), data])));
    return Buffer.concat([len, Buffer.from(type, 'latin1'), data, crc]);
  };
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
  return Buffer.concat([
    Buffer.from('89504e470d0a1a0a', 'hex'),
    chunk('IHDR', ihdr),
    chunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync(Buffer.from(text))])),
    chunk('IDAT', deflateSync(Buffer.from([0, 0]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
