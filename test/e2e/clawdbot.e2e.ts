import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { hostSpec } from './lib/hosts.ts';
import { defineHostSuite, REPO } from './lib/suite.ts';

defineHostSuite('clawdbot', {
  extra: (ctx) => {
    ctx.step('moltbot.plugin.json is a manifest the Clawdbot-line loader accepts (strict JSON, id, configSchema, channels)', {}, async () => {
      // Clawdbot 2026.1.24-3 reads only clawdbot.plugin.json and ~/.clawdbot; there is no moltbot build to
      // install here. The Moltbot manifest is checked with the loader of the host line it belongs to.
      const dist = join(dirname(hostSpec('clawdbot').cli));
      const { loadPluginManifest } = (await import(pathToFileURL(join(dist, 'plugins', 'manifest.js')).href)) as {
        loadPluginManifest(root: string): { ok: boolean; error?: string; manifest?: { id: string; channels: string[]; configSchema: unknown } };
      };
      const dir = await mkdtemp(join(tmpdir(), 'dt-e2e-moltbot-manifest-'));
      try {
        await copyFile(join(REPO, 'moltbot.plugin.json'), join(dir, 'clawdbot.plugin.json'));
        const loaded = loadPluginManifest(dir);
        expect(loaded.error).toBeUndefined();
        expect(loaded.ok).toBe(true);
        expect(loaded.manifest).toMatchObject({ id: 'dingtalk-connector', channels: ['dingtalk-ai'] });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8'));
      expect(pkg.moltbot.extensions).toEqual(['./plugin.ts']);
      // If a later Clawdbot learns Moltbot paths (~/.moltbot/moltbot.json), this suite must grow a real test for them.
      const files = (await readdir(join(dist, 'config'))).filter((f) => f.endsWith('.js'));
      const texts = await Promise.all(files.map((f) => readFile(join(dist, 'config', f), 'utf8')));
      expect(texts.some((t) => /moltbot/i.test(t))).toBe(false);
    });
  },
  unknownKey: (ctx) => {
    ctx.step('an unknown key: clawdbot accepts the section, the plugin reports the key in channels status and does not start', { needs: ['install'] }, async () => {
      const opensBefore = ctx.fake.gatewayOpens.length;
      await ctx.reconfigure({ ...ctx.channelSection(), bogusKey: true });
      const accounts = await ctx.channelAccounts();
      expect(accounts).toHaveLength(1);
      expect(accounts[0]).toMatchObject({ accountId: 'default', configured: false });
      expect(String(accounts[0]!.lastError)).toContain('channels.dingtalk-ai.bogusKey is not a known setting');
      expect(ctx.fake.gatewayOpens.length).toBe(opensBefore);
    });
  },
});
