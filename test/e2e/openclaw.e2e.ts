import { expect } from 'vitest';
import { defineHostSuite } from './lib/suite.ts';
import { defineSeveralRobotsSteps } from './lib/several-robots.ts';

defineHostSuite('openclaw', {
  extra: defineSeveralRobotsSteps,
  unknownKey: (ctx) => {
    ctx.step('an unknown key: config validate --json names channels.dingtalk-ai and the key; the gateway refuses to start', { needs: ['install'] }, async () => {
      await ctx.host.stopGateway();
      await ctx.writeChannelConfig({ ...ctx.channelSection(), bogusKey: true });
      const { json, result } = await ctx.host.cliJson(['config', 'validate', '--json'], { allowFailure: true, timeoutMs: 90_000 });
      expect(result.code).not.toBe(0);
      expect(json).toMatchObject({ ok: false, valid: false });
      const issue = (json.issues as Array<{ path: string; message: string }>).find((i) => i.path.startsWith('channels.dingtalk-ai'));
      expect(issue, JSON.stringify(json.issues)).toBeDefined();
      expect(`${issue!.path} ${issue!.message}`).toContain('bogusKey');
      // The gateway itself refuses such a config (exit 78, EX_CONFIG).
      const run = await ctx.host.cli(['gateway', 'run', '--port', String(ctx.host.gatewayPort), '--bind', 'loopback'], { timeoutMs: 60_000 });
      expect(run.code).toBe(78);
      expect(run.stdout + run.stderr).toContain('config is invalid');
    });
  },
});
