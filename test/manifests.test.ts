/**
 * The three host manifests carry the channel's config schema and Dashboard hints from src/config-schema.ts.
 * `UPDATE_MANIFESTS=1 npx vitest run test/manifests.test.ts` rewrites them; otherwise this checks they agree.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_SCHEMA, UI_HINTS } from '../src/config-schema.ts';
import plugin from '../plugin.ts';

const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

function expected(host: 'openclaw' | 'clawdbot' | 'moltbot') {
  const common = {
    id: plugin.id,
    name: plugin.name,
    description: plugin.description,
    version: pkg.version,
    channels: ['dingtalk-ai'],
    configSchema: plugin.configSchema,
  };
  // Clawdbot parses its manifest strictly and has no channelConfigs; the newer hosts validate channels.dingtalk-ai with it.
  if (host === 'clawdbot') return common;
  return { ...common, channelConfigs: { 'dingtalk-ai': { label: 'DingTalk', description: '钉钉机器人 (Stream 模式 + AI 卡片)', schema: CONFIG_SCHEMA, uiHints: UI_HINTS } } };
}

describe('plugin manifests', () => {
  for (const host of ['openclaw', 'clawdbot', 'moltbot'] as const) {
    test(`${host}.plugin.json matches the plugin and the config schema`, () => {
      const file = new URL(`${host}.plugin.json`, root);
      if (process.env.UPDATE_MANIFESTS) writeFileSync(file, `${JSON.stringify(expected(host), null, 2)}\n`);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(JSON.parse(JSON.stringify(expected(host))));
    });
  }

  test("OpenClaw's doctor leaves the top-level keys where they are: they are the default account and named accounts inherit them", () => {
    // docs/plugins/sdk-setup.md (OpenClaw 2026.9.6) "Channel-owned single-account promotion": without this static
    // declaration `openclaw doctor` may move root keys (dmPolicy, allowFrom, groupPolicy, …) into accounts.default,
    // and every named account would silently lose the access policy it inherits.
    expect(pkg.openclaw.setupFeatures).toEqual({ configPromotion: 'preserve-root' });
  });

  test('package.json points every host at plugin.ts, and its name is the plugin id (Clawdbot keys installs by it)', () => {
    expect(pkg.name).toBe(plugin.id);
    for (const host of ['openclaw', 'clawdbot', 'moltbot']) expect(pkg[host].extensions).toEqual(['./plugin.ts']);
  });
});
