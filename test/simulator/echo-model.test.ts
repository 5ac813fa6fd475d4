import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayEngine } from '../../src/reply/gateway.ts';
import { ReplyError } from '../../src/reply/engine.ts';
import { composeAnswer, startEchoModel, tokenize, type EchoModel } from '../../src/simulator/echo-model.ts';
import { chartPng } from '../../src/simulator/files.ts';

const noFiles = async (): Promise<string> => {
  throw new Error('no file expected');
};

describe('echo model', { timeout: 20_000 }, () => {
  let model: EchoModel | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await model?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const engine = (url: string) => new GatewayEngine({ url, credential: 'x', model: 'openclaw:main', sessionHeaders: ['x-openclaw-session-key'], idleTimeoutMs: 2000 });
  const ask = async (e: GatewayEngine, text: string, sessionKey = 's1', images: Array<{ path: string; mimeType: string; base64?: string }> = []) => {
    const deltas: string[] = [];
    for await (const d of e.reply({ sessionKey, text, images, systemPrompts: [], sender: { id: 'u' }, conversation: { type: 'direct', id: 'cid1' }, messageId: 'm1', signal: new AbortController().signal })) deltas.push(d);
    return deltas;
  };

  it('streams a multi-paragraph markdown answer token by token through the real GatewayEngine, counting turns per session', async () => {
    dir = await mkdtemp(join(tmpdir(), 'echo-test-'));
    model = await startEchoModel({ mediaDir: dir, tokenDelayMs: 0 });
    const e = engine(model.url);
    const first = await ask(e, '你好');
    const answer = first.join('');
    expect(first.length).toBeGreaterThan(50);
    expect(answer).toContain('本会话第 1 轮');
    expect(answer).toContain('> 你好');
    expect(answer.split('\n\n').length).toBeGreaterThanOrEqual(4);
    expect((await ask(e, '再来')).join('')).toContain('本会话第 2 轮');
    expect((await ask(e, 'hi', 's2')).join('')).toContain('turn 1 of this session');
  });

  it('writes a real PNG and a PDF when asked, referenced the way the media prompt teaches', async () => {
    dir = await mkdtemp(join(tmpdir(), 'echo-test-'));
    model = await startEchoModel({ mediaDir: dir, tokenDelayMs: 0 });
    const answer = (await ask(engine(model.url), 'send me an image and a file')).join('');
    const image = /!\[Sample chart\]\((\/[^)]+\.png)\)/.exec(answer)?.[1];
    const file = /^MEDIA: (\/\S+\.pdf)$/m.exec(answer)?.[1];
    expect(image?.startsWith(dir)).toBe(true);
    expect(file?.startsWith(dir)).toBe(true);
    expect((await readFile(image!)).subarray(1, 4).toString()).toBe('PNG');
    expect((await readFile(file!)).subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('describes the pictures it was given from their real bytes', async () => {
    const png = chartPng(3);
    const answer = await composeAnswer({ text: '看看这张图', images: [{ mimeType: 'image/png', bytes: png }], turn: 1 }, async () => '/tmp/x.png');
    expect(answer).toContain(`我收到了 **1 张图片**：image/png, 480×270, ${(png.length / 1024).toFixed(1)} KB`);
  });

  it('answers in English to English and offers the media commands when none was asked for', async () => {
    const answer = await composeAnswer({ text: 'hello there', images: [], turn: 3 }, noFiles);
    expect(answer).toMatch(/^### Echo, turn 3/);
    expect(answer).toContain('send me an image');
  });

  it('is refused while down and answers again on the same URL once back', async () => {
    dir = await mkdtemp(join(tmpdir(), 'echo-test-'));
    model = await startEchoModel({ mediaDir: dir, tokenDelayMs: 0 });
    const url = model.url;
    await model.setDown(true);
    const err = await ask(engine(url), 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplyError);
    expect((err as ReplyError).kind).toBe('unreachable');
    await model.setDown(false);
    expect(model.url).toBe(url);
    expect((await ask(engine(url), 'x')).length).toBeGreaterThan(10);
  });

  it('tokenizes without losing a character', () => {
    const text = '### 标题\n\n你好 world, `code` ![a](/tmp/x-1.png)\nMEDIA: /tmp/r.pdf';
    const tokens = tokenize(text);
    expect(tokens.join('')).toBe(text);
    expect(tokens).toContain('/tmp/x-1.png');
  });
});
