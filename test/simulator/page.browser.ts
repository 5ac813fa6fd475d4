/**
 * The simulator's page in a real browser (Debian's chromium via playwright-core): a user types a message and
 * watches the AI card stream and finish with an inline image, sends a picture, turns on the card-permission
 * fault and gets the markdown fallback. Screenshots go to test/simulator/output/ (gitignored);
 * UPDATE_SCREENSHOT=1 also writes the README's docs/simulator.png.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartPng } from '../../src/simulator/files.ts';
import { startSimulator, type Simulator } from '../../src/simulator/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUTPUT = join(ROOT, 'test/simulator/output');

/** Runs in the page: the width of an <img> once it has loaded (0 while loading or broken). */
const loadedWidth = (el: unknown): number => {
  const img = el as { complete: boolean; naturalWidth: number };
  return img.complete ? img.naturalWidth : 0;
};

describe.skipIf(!existsSync(CHROMIUM))('simulator page in chromium', () => {
  let sim: Simulator;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const logs: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    await mkdir(OUTPUT, { recursive: true });
    sim = await startSimulator({ tokenDelayMs: 12, cardIntervalMs: 400, print: (l) => logs.push(l) });
    profile = await mkdtemp(join(tmpdir(), 'sim-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(sim.url);
    await page.getByText('Stream 已连接').waitFor();
  });

  afterAll(async () => {
    await context?.close();
    await sim?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('streams a typed message into an AI card that finishes with an inline image uploaded through the media path', async () => {
    await page.locator('#input').fill('你好，来张图片');
    await page.locator('#input').press('Enter');
    await expect.poll(() => page.locator('.msg.user .bubble.text').last().textContent()).toBe('你好，来张图片');
    // Seen while streaming, then finished.
    const card = page.locator('.card').last();
    await card.locator('.card-state', { hasText: '输入中…' }).waitFor({ timeout: 15_000 });
    const partial = (await card.locator('.card-body').textContent()) ?? '';
    await card.locator('.card-state', { hasText: '已完成' }).waitFor({ timeout: 20_000 });
    const final = (await card.locator('.card-body').textContent()) ?? '';
    expect(final).toContain('回声模型 · 本会话第 1 轮');
    expect(final.length).toBeGreaterThan(partial.length);
    const img = card.locator('.card-body img');
    await expect.poll(() => img.evaluate(loadedWidth)).toBe(480);
    expect(await img.getAttribute('src')).toMatch(/^\/media\/%40/);
    // The side panel counted this answer's DingTalk calls.
    await expect.poll(() => page.locator('.msg.user .cost').last().textContent()).toMatch(/本条回答：\d+ 次钉钉调用/);
    expect(await page.locator('#calls tr', { hasText: '/card/instances/createAndDeliver' }).count()).toBe(1);
    expect(await page.locator('#calls tr', { hasText: '/media/upload' }).count()).toBe(1);
    await page.screenshot({ path: join(OUTPUT, '1-card-finished.png') });
  });

  it('sends a picture through the download path and the model describes it', async () => {
    await page.locator('#image-input').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: chartPng(7) });
    const mine = page.locator('.msg.user .bubble.picture img').last();
    await expect.poll(() => mine.evaluate(loadedWidth)).toBe(480);
    const card = page.locator('.card').last();
    await card.locator('.card-state', { hasText: '已完成' }).waitFor({ timeout: 20_000 });
    expect(await card.locator('.card-body').textContent()).toContain('我收到了 1 张图片：image/png, 480×270');
    expect(await page.locator('#calls tr', { hasText: '/robot/messageFiles/download' }).count()).toBe(1);
  });

  it('falls back to a markdown message when the card permission is missing, and shows the 403 in the panel', async () => {
    const button = page.locator('[data-fault="cardPermission"]');
    await button.click();
    await expect.poll(() => button.getAttribute('aria-pressed')).toBe('true');
    await page.locator('#input').fill('权限没了还能回答吗？');
    await page.locator('#send').click();
    const fallback = page.locator('.msg.bot', { has: page.locator('.bubble.markdown') }).last();
    await fallback.waitFor({ timeout: 20_000 });
    expect(await fallback.locator('.bubble.markdown').textContent()).toContain('权限没了还能回答吗？');
    expect(await fallback.locator('.meta .via').textContent()).toBe('经 sessionWebhook');
    const denied = page.locator('#calls tr.failed', { hasText: 'createAndDeliver' });
    expect(await denied.count()).toBe(1);
    expect(await denied.textContent()).toContain('403');
    await page.screenshot({ path: join(OUTPUT, '2-markdown-fallback.png') });
    // Turned back off: the next answer is a card again (the state a README screenshot should show).
    await button.click();
    await expect.poll(() => button.getAttribute('aria-pressed')).toBe('false');
  });

  it('renders the group conversation with @mentions and several senders, without page errors', async () => {
    await page.locator('#conversations li', { hasText: '产品讨论群' }).click();
    await page.locator('#sender').selectOption('user002');
    await page.locator('#input').fill('帮大家总结一下，再发个文件');
    await page.locator('#input').press('Enter');
    const card = page.locator('.card').last();
    await card.locator('.card-state', { hasText: '已完成' }).waitFor({ timeout: 20_000 });
    const file = page.locator('.msg.bot .bubble.file').last();
    await file.waitFor({ timeout: 10_000 });
    expect(await file.textContent()).toContain('.pdf');
    expect(await page.locator('.msg.user .at').count()).toBe(1);
    await page.locator('.card-body.typing').waitFor({ state: 'detached' });
    await page.screenshot({ path: join(OUTPUT, '3-group.png') });
    if (process.env.UPDATE_SCREENSHOT) await copyFile(join(OUTPUT, '3-group.png'), join(ROOT, 'docs/simulator.png'));
    expect(pageErrors).toEqual([]);
  });
});
