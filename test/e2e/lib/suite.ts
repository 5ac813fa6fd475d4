/**
 * The end-to-end suite, run once per host: fake DingTalk (in this process) → the real host gateway
 * (child process, Node 24, isolated HOME) with the plugin installed by the host's own CLI → the mock
 * LLM. Tests run in order and share one gateway; later tests restart it with other configs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import JSON5 from 'json5';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startFakeDingTalk, type CardState, type FakeDingTalk, type RobotMessage } from '../../fake-dingtalk/index.ts';
import { EgressTrap } from './egress-trap.ts';
import { HostInstance, hostSpec, loadHosts, type HostName } from './hosts.ts';
import { MockLlm } from './mock-llm.ts';
import { freePort } from './net.ts';
import { defineRuntimeEngineSteps } from './runtime-engine.ts';
import { SECOND_APP } from './several-robots.ts';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const PLUGIN_ID = 'dingtalk-connector';
const CHANNEL = 'dingtalk-ai';
/** channels.dingtalk-ai.systemPrompt: must reach the model. */
const SYSTEM_PROMPT = 'Answer in one short paragraph. (e2e system prompt 7f3a)';
/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

export interface SuiteContext {
  host: HostInstance;
  fake: FakeDingTalk;
  mock: MockLlm;
  root: string;
  /** The channel section the happy path uses (no gatewayUrl, no gatewayToken: both defaults). */
  channelSection(): Record<string, unknown>;
  /** Writes the installed config plus `channels.dingtalk-ai = section` as commented JSON5. */
  writeChannelConfig(section: Record<string, unknown>): Promise<void>;
  /** Stops the gateway if it runs, starts it again (same port), waits for health. */
  restartGateway(): Promise<void>;
  /**
   * Stops the gateway, writes the channel section, starts it again. Never restart an openclaw gateway right after
   * writing its config: it reloads on change, and a restart racing ours refuses to start (exit 78, "migration inputs
   * changed during startup"). A channel-only change under a running gateway is fine: the host reloads the channel.
   */
  reconfigure(section: Record<string, unknown>): Promise<void>;
  /** Waits for a stream connection opened after `since` (an index into fake.conns). */
  waitForNewConnection(since: number): Promise<void>;
  /** `channels status --json` → the accounts of dingtalk-ai. */
  channelAccounts(): Promise<Array<Record<string, any>>>;
  /** Pushes a DM (text, or a built message) and waits until its answer is final (a new card FINISHED/FAILED, or a message sent). */
  dm(message: string | RobotMessage): Promise<{ card?: CardState; sent: FakeDingTalk['sent'] }>;
  /**
   * A test that is skipped when a test it `needs` failed, so one broken prerequisite does not cost every later
   * test its full timeout. `provides` names what later tests may need from this one.
   */
  step(title: string, o: { provides?: string; needs?: string[] }, fn: () => Promise<void>): void;
}

export interface HostSuiteOptions {
  /** Host-specific tests, run after the common ones and before the misconfiguration tests. */
  extra?: (ctx: SuiteContext) => void;
  /** How this host reports an unknown key in channels.dingtalk-ai. */
  unknownKey: (ctx: SuiteContext) => void;
}

const timings: Record<string, number> = {};
const fmt = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function defineHostSuite(name: HostName, options: HostSuiteOptions): void {
  const hosts = loadHosts();
  const spec = hostSpec(name, hosts);
  const label = `${name}@${spec.version}`;
  let suiteStarted = Date.now();
  const token = `e2e-${randomBytes(12).toString('hex')}`;
  const staffId = `e2e-${name}`;
  let installedConfig: Record<string, any> = {};
  /** One port for the whole run: the CLI finds the gateway through gateway.port in the config. */
  let gatewayPort = 0;
  let failed = false;
  const trap = new EgressTrap();
  const ctx = {} as SuiteContext;
  const broken = new Map<string, string>();
  ctx.step = (title, o, fn) =>
    test(title, async (t) => {
      const missing = (o.needs ?? []).find((k) => broken.has(k));
      if (missing) {
        if (o.provides) broken.set(o.provides, broken.get(missing)!);
        t.skip(`skipped: it needs "${broken.get(missing)}", which failed`);
      }
      try {
        await fn();
      } catch (err) {
        if (o.provides) broken.set(o.provides, title);
        throw err;
      }
    });

  const comments = {
    gateway: 'Gateway on loopback only; token auth; the OpenAI-compatible endpoint the plugin calls',
    'gateway.auth.token': 'the plugin uses this token when channels.dingtalk-ai.gatewayToken is unset',
    models: 'the only model: the mock LLM on 127.0.0.1',
    plugins: 'written by `plugins install -l`',
    channels: 'DingTalk: the fake DingTalk on 127.0.0.1 stands in for api/oapi.dingtalk.com',
    [`channels.${CHANNEL}.clientSecret`]: 'AppSecret of the robot',
  };

  describe(`${label}: plugin ${PLUGIN_ID} in the real host`, () => {
    beforeAll(async () => {
      suiteStarted = Date.now();
      ctx.root = await mkdtemp(join(tmpdir(), `dt-e2e-${name}-`));
      gatewayPort = await freePort();
      await trap.start();
      // Two robots: most steps use the first; several-robots.ts runs both at once.
      ctx.fake = await startFakeDingTalk({ redelivery: { afterMs: 120_000 }, apps: [{ appKey: 'dingAPPKEY', appSecret: 'SECRET' }, SECOND_APP] });
      ctx.mock = await MockLlm.start();
      ctx.host = new HostInstance({ spec, hosts, root: ctx.root, extraEnv: trap.env() });
      const { fake, host } = ctx;

      ctx.channelSection = () => ({
        clientId: 'dingAPPKEY',
        clientSecret: 'SECRET',
        apiBaseUrl: fake.apiBase,
        oapiBaseUrl: fake.oapiBase,
        streamGatewayUrl: fake.streamGatewayUrl,
        systemPrompt: SYSTEM_PROMPT,
        // The suite's senders are strangers to the host: without this the default (DM pairing, group allowlist) refuses them.
        dmPolicy: 'open',
        allowFrom: ['*'],
        groupPolicy: 'open',
      });
      ctx.writeChannelConfig = async (section) => {
        await host.writeConfig({ ...installedConfig, channels: { [CHANNEL]: section } }, comments);
      };
      ctx.restartGateway = async () => {
        await host.stopGateway();
        const t0 = Date.now();
        await host.startGateway(gatewayPort);
        await host.waitForHealth();
        timings[`${name}.gatewayStart`] = Date.now() - t0;
      };
      ctx.reconfigure = async (section) => {
        await host.stopGateway();
        await ctx.writeChannelConfig(section);
        await ctx.restartGateway();
      };
      ctx.waitForNewConnection = async (since) => {
        await fake.waitFor(() => fake.conns.slice(since).some((c) => c.open && c.appKey === 'dingAPPKEY'), {
          timeoutMs: 60_000,
          message: `the plugin did not connect to the fake DingTalk stream\n${host.logTail()}`,
        });
      };
      ctx.channelAccounts = async () => {
        const { json } = await host.cliJson(['channels', 'status', '--json'], { timeoutMs: 90_000 });
        return (json.channelAccounts?.[CHANNEL] ?? []) as Array<Record<string, any>>;
      };
      ctx.dm = async (message) => {
        const text = typeof message === 'string' ? message : `(${message.msgtype} message)`;
        const payload = typeof message === 'string' ? fake.msg.text(message, { senderStaffId: staffId, senderNick: 'E2E' }) : message;
        const cardsBefore = new Set(fake.cards.keys());
        const sentBefore = fake.sent.length;
        const { messageId } = fake.pushRobotMessage(payload);
        await fake.waitForAck(messageId, { within: 10_000 });
        const newCard = () => [...fake.cards.values()].find((c) => !cardsBefore.has(c.outTrackId));
        await fake.waitFor(() => ['3', '5'].includes(newCard()?.flowStatusHistory.at(-1) ?? '') || (!newCard() && fake.sent.length > sentBefore), {
          timeoutMs: 60_000,
          message: `no final answer to "${text}"\n${host.logTail()}`,
        });
        // Files and notes sent after the card.
        await new Promise((r) => setTimeout(r, 200));
        return { card: newCard(), sent: fake.sent.slice(sentBefore) };
      };
    });

    afterEach((t) => {
      if (t.task.result?.state === 'fail') {
        failed = true;
        console.log(`${label}: "${t.task.name}" failed; host home ${ctx.host?.home}\n${ctx.host?.logTail(80)}`);
      }
    });

    afterAll(async () => {
      await ctx.host?.stopGateway();
      if (ctx.mock && ctx.root) await writeFile(join(ctx.root, 'mock-requests.json'), JSON.stringify(await ctx.mock.rawRequests().catch(() => []), null, 2)).catch(() => {});
      await ctx.mock?.stop();
      await ctx.fake?.close();
      await trap.stop();
      timings[`${name}.run`] = Date.now() - suiteStarted;
      const t = (k: string) => (timings[`${name}.${k}`] !== undefined ? fmt(timings[`${name}.${k}`]!) : 'n/a');
      console.log(
        `[e2e] ${label}: plugin install ${t('install')}, first gateway start ${t('firstGatewayStart')}, whole run ${t('run')}` +
          (trap.attempts.length ? `; requests beyond loopback refused: ${trap.attempts.map((a) => `${a.method} ${a.target}`).join(', ')}` : '; no request beyond loopback'),
      );
      if (!failed && !process.env.E2E_KEEP && ctx.root) await rm(ctx.root, { recursive: true, force: true });
      else if (ctx.root) console.log(`[e2e] ${label}: kept ${ctx.root}`);
    });

    ctx.step('installs with its own CLI: plugins install -l <repo>', { provides: 'install' }, async () => {
      const { host, mock } = ctx;
      await host.writeConfig(spec.baseConfig({ gatewayPort, token, llmBaseUrl: mock.baseUrl }), comments);
      const r = await host.cli(['plugins', 'install', '-l', ...spec.installFlags, REPO], { timeoutMs: 120_000 });
      timings[`${name}.install`] = r.ms;
      expect(r.code, `plugins install failed\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('Linked plugin path');
      installedConfig = await host.readConfig();
      expect(installedConfig.plugins?.load?.paths).toContain(REPO);
      expect(installedConfig.plugins?.entries?.[PLUGIN_ID]?.enabled).toBe(true);
      // From here on the config is the user's JSON5 (comments, unquoted keys) at the host's real path.
      await ctx.writeChannelConfig(ctx.channelSection());
    });

    ctx.step('plugins list --json lists the plugin as loaded', { needs: ['install'] }, async () => {
      const { json } = await ctx.host.cliJson(['plugins', 'list', '--json'], { timeoutMs: 90_000 });
      const entry = (json.plugins as Array<Record<string, any>>).find((p) => p.id === PLUGIN_ID);
      expect(entry, `plugins: ${JSON.stringify((json.plugins as any[]).map((p) => [p.id, p.status]))}`).toBeDefined();
      expect(entry).toMatchObject({ status: 'loaded', enabled: true });
      expect(entry!.channelIds).toContain(CHANNEL);
      expect(entry!.error ?? null).toBeNull();
    });

    ctx.step('the gateway starts healthy and the account connects to DingTalk', { needs: ['install'], provides: 'gateway' }, async () => {
      const since = ctx.fake.conns.length;
      await ctx.restartGateway();
      timings[`${name}.firstGatewayStart`] = timings[`${name}.gatewayStart`]!;
      await ctx.waitForNewConnection(since);
      const conn = ctx.fake.conns.slice(since).find((c) => c.open)!;
      expect(conn.subscriptions).toContainEqual({ type: 'CALLBACK', topic: '/v1.0/im/bot/messages/get' });
    });

    ctx.step('channels status --json reports the account connected', { needs: ['gateway'] }, async () => {
      let accounts: Array<Record<string, any>> = [];
      for (let i = 0; i < 5; i++) {
        accounts = await ctx.channelAccounts();
        if (accounts[0]?.connected) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(accounts).toHaveLength(1);
      expect(accounts[0]).toMatchObject({ accountId: 'default', enabled: true, configured: true, running: true, connected: true, mode: 'stream' });
      expect(accounts[0]!.lastError ?? null).toBeNull();
    });

    const turn1 = `first question ${name} alpha`;
    const turn2 = `second question ${name} beta`;
    const turn3 = `after reset ${name} gamma`;

    ctx.step('a DM is answered through an AI Card whose final text is the model answer', { needs: ['gateway'], provides: 'dm' }, async () => {
      const { card, sent } = await ctx.dm(turn1);
      expect(card, `no card; sent: ${JSON.stringify(sent)}`).toBeDefined();
      expect(card!.flowStatusHistory.at(-1)).toBe('3');
      expect(card!.deliveries[0]).toMatchObject({ spaceType: 'IM_ROBOT', spaceId: staffId, success: true });
      const stream = card!.streams.msgContent!;
      expect(stream.finalized).toBe(true);
      expect(stream.content.trim()).toBe(`MOCK_ANSWER: ${turn1}`);
      expect(sent).toEqual([]);
      const [req] = await ctx.mock.requestsFor(turn1);
      expect(req, 'the mock LLM never saw the question').toBeDefined();
      expect(req!.summary.answer).toBe(`MOCK_ANSWER: ${turn1}`);
      // The host merges the plugin's system prompts (media instructions, then the configured one) into its own.
      const system = req!.summary.systemPrompts.join('\n');
      expect(system).toContain(SYSTEM_PROMPT);
      expect(system).toContain('DingTalk');
      expect(req!.summary.imageParts).toBe(0);
    });

    ctx.step('a second message continues the session: the model sees the first turn', { needs: ['dm'] }, async () => {
      const { card } = await ctx.dm(turn2);
      expect(card!.streams.msgContent!.content.trim()).toBe(`MOCK_ANSWER: ${turn2}`);
      const [req] = await ctx.mock.requestsFor(turn2);
      expect(req).toBeDefined();
      expect(req!.summary.userTexts.some((t) => t.includes(turn1))).toBe(true);
      expect(req!.summary.assistantTexts.some((t) => t.includes(`MOCK_ANSWER: ${turn1}`))).toBe(true);
    });

    ctx.step('/new starts a new session: the model sees no earlier turn', { needs: ['dm'] }, async () => {
      const reset = await ctx.dm('/new');
      expect(reset.card).toBeUndefined();
      expect(reset.sent).toHaveLength(1);
      expect(JSON.stringify(reset.sent[0]!.body)).toContain('新会话');
      const { card } = await ctx.dm(turn3);
      expect(card!.streams.msgContent!.content.trim()).toBe(`MOCK_ANSWER: ${turn3}`);
      const [req] = await ctx.mock.requestsFor(turn3);
      expect(req).toBeDefined();
      expect(req!.summary.userTexts.filter((t) => t.includes(name))).toEqual([turn3]);
      expect(req!.summary.assistantTexts).toEqual([]);
    });

    ctx.step('a local image in the answer is uploaded and shown inline', { needs: ['gateway'] }, async () => {
      const dir = join(ctx.root, 'media-out');
      await mkdir(dir, { recursive: true });
      const image = join(dir, 'chart.png');
      await writeFile(image, PNG);
      // Own sender: the call governor gives a sender's 4th answer within 60 s a final-only card (src/dingtalk/governor.ts).
      const { card } = await ctx.dm(ctx.fake.msg.text(`draw the chart SEND_IMAGE:${image}`, { senderStaffId: `${staffId}-media`, senderNick: 'E2E' }));
      expect(card!.flowStatusHistory.at(-1)).toBe('3');
      const uploads = [...ctx.fake.media.values()];
      expect(uploads, `uploads: ${JSON.stringify(ctx.fake.sequence().filter((s) => s.includes('media')))}`).toHaveLength(1);
      expect(uploads[0]).toMatchObject({ type: 'image', filename: 'chart.png' });
      expect(uploads[0]!.sha256).toBe(createHash('sha256').update(PNG).digest('hex'));
      const text = card!.streams.msgContent!.content;
      expect(text).toContain('MOCK_IMAGE: draw the chart');
      expect(text).toContain(`![chart](${uploads[0]!.mediaId})`);
      expect(text).not.toContain(image);
    });

    ctx.step('a picture the user sends is saved in the host media folder and reaches the model', { needs: ['gateway'] }, async () => {
      const code = ctx.fake.registerDownload(PNG, { contentType: 'image/png', fileName: 'photo.png' });
      const before = (await ctx.mock.requests()).length;
      const { card } = await ctx.dm(ctx.fake.msg.picture({ downloadCode: code }, { senderStaffId: `${staffId}-media` }));
      expect(card!.flowStatusHistory.at(-1)).toBe('3');
      const inbound = join(ctx.host.stateDir, 'media', 'inbound');
      const saved = (await readdir(inbound)).filter((f) => f.endsWith('.png'));
      expect(saved).toHaveLength(1);
      expect(await readFile(join(inbound, saved[0]!))).toEqual(PNG);
      const requests = (await ctx.mock.requests()).slice(before);
      expect(requests).toHaveLength(1);
      // OpenClaw passes image_url parts to the model: the plugin sends the picture as one and does not name the
      // file (OpenClaw would load it a second time). Clawdbot drops image parts: the plugin names the saved file
      // and the host loads it. Either way the model sees the picture exactly once.
      const userText = requests[0]!.summary.userTexts.at(-1)!;
      if (name === 'openclaw') expect(userText).not.toContain(inbound);
      else expect(userText).toContain(join(inbound, saved[0]!));
      expect(requests[0]!.summary.imageParts).toBe(1);
    });

    const group = 'cidE2EGROUPxYz09+/=';
    // One CLI run per step: on a loaded machine one OpenClaw CLI run can take over a minute.
    const send = (...args: string[]) => ctx.host.cli(['message', 'send', '--channel', CHANNEL, ...args], { timeoutMs: 170_000 });
    ctx.step('message send (the host CLI) to user:<staffId> arrives as a robot message to that user', { needs: ['gateway'] }, async () => {
      const before = ctx.fake.sent.length;
      const text = `outbound ${name} 九点开会`;
      const r = await send('--target', `user:${staffId}`, '--message', text);
      expect(r.code, `message send failed\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      expect(ctx.fake.sent.slice(before).map((s) => [s.channel, s.target, s.msgtype, s.body.text])).toEqual([['oto', [staffId], 'sampleMarkdown', text]]);
    });

    ctx.step('message send --media to a bare group id: the image is uploaded and shown under the caption in the group', { needs: ['gateway'] }, async () => {
      const before = ctx.fake.sent.length;
      const image = join(ctx.root, 'media-out', 'outbound.png');
      await mkdir(join(ctx.root, 'media-out'), { recursive: true });
      await writeFile(image, PNG);
      const r = await send('--target', group, '--message', `chart ${name}`, '--media', image);
      expect(r.code, `message send --media failed\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      const upload = [...ctx.fake.media.values()].find((m) => m.filename === 'outbound.png');
      expect(upload, `uploads: ${[...ctx.fake.media.values()].map((m) => m.filename)}`).toBeDefined();
      expect(upload!.sha256).toBe(createHash('sha256').update(PNG).digest('hex'));
      expect(ctx.fake.sent.slice(before).map((s) => [s.channel, s.target, s.msgtype, s.body.text])).toEqual([
        ['group', group, 'sampleMarkdown', `chart ${name}\n\n![outbound.png](${upload!.mediaId})`],
      ]);
    });

    ctx.step("the agent's message tool sends to a group while it answers a DM", { needs: ['dm'] }, async () => {
      const words = `tool ${name} notice`;
      const before = ctx.fake.sent.length;
      const { card } = await ctx.dm(`${words} TOOL_MESSAGE:${CHANNEL}:group:${group}`);
      const [call] = await ctx.mock.requestsFor(words);
      expect(call?.summary.answer ?? '', 'the host offered no message tool to the model').not.toMatch(/^MOCK_NO_MESSAGE_TOOL/);
      // Clawdbot offers `message` itself; OpenClaw through its Tool Search (`tool_call` with id "message").
      expect(call!.summary.toolCall?.arguments).toContain(`"target":"group:${group}"`);
      await ctx.fake.waitFor(() => ctx.fake.sent.slice(before).some((s) => s.channel === 'group'), {
        timeoutMs: 30_000,
        message: `the tool's message never reached DingTalk; card: ${card ? ctx.fake.cardShows(card) : 'none'}\n${ctx.host.logTail()}`,
      });
      expect(ctx.fake.sent.slice(before).filter((s) => s.channel === 'group').map((s) => [s.target, s.msgtype, s.body.text])).toEqual([[group, 'sampleMarkdown', words]]);
      expect(card!.flowStatusHistory.at(-1)).toBe('3');
      expect(ctx.fake.cardShows(card!)).toContain('MOCK_TOOL_RESULT');
    });

    options.extra?.(ctx);

    // Channel-only changes under the running gateway (the first one, HTTP endpoint on): both hosts reload just the
    // channel (the plugin's reload.configPrefixes), in about a second instead of a ~1 min gateway restart.
    ctx.step('a wrong gatewayToken: the card fails with the hint that names gatewayToken', { needs: ['gateway'] }, async () => {
      const since = ctx.fake.conns.length;
      await ctx.writeChannelConfig({ ...ctx.channelSection(), gatewayToken: 'wrong-token-for-e2e' });
      await ctx.waitForNewConnection(since);
      const question = `wrong token ${name} delta`;
      const { card } = await ctx.dm(ctx.fake.msg.text(question, { senderStaffId: `${staffId}-token`, senderNick: 'E2E' }));
      expect(card!.flowStatusHistory.at(-1)).toBe('5');
      expect(card!.streams.msgContent!.content).toContain('gatewayToken');
      expect(card!.streams.msgContent!.content).toContain('401');
      expect(await ctx.mock.requestsFor(question)).toEqual([]);
    });

    ctx.step('a missing clientSecret: channels status shows the account not configured, naming clientSecret', { needs: ['gateway'] }, async () => {
      const { clientSecret: _omit, ...section } = ctx.channelSection();
      const opensBefore = ctx.fake.gatewayOpens.length;
      await ctx.writeChannelConfig(section);
      let accounts = await ctx.channelAccounts();
      for (let i = 0; i < 10 && accounts[0]?.configured !== false; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        accounts = await ctx.channelAccounts();
      }
      expect(accounts).toHaveLength(1);
      expect(accounts[0]).toMatchObject({ accountId: 'default', configured: false });
      expect(accounts[0]!.connected ?? false).toBe(false);
      expect(String(accounts[0]!.lastError)).toContain(`channels.${CHANNEL}.clientSecret`);
      // The account never started: no connection attempt reached DingTalk.
      expect(ctx.fake.gatewayOpens.length).toBe(opensBefore);
    });

    // engine "runtime" (issue 15): one gateway restart, shared with the pairing step below.
    const runtime = defineRuntimeEngineSteps(ctx, { name, installedConfig: () => installedConfig, systemPrompt: SYSTEM_PROMPT, png: PNG });

    // Same gateway as the runtime-engine steps (one restart for both): the default access policies, engine runtime.
    ctx.step('DM pairing (the default dmPolicy): a stranger gets a code, the owner approves it with the host CLI, then the stranger is answered', { needs: ['install'] }, async () => {
      await runtime.ensureGateway();
      const stranger = (text: string) => ctx.fake.msg.text(text, { senderStaffId: 'stranger01', senderNick: 'Stranger' });
      const question = `pairing ${name} question`;
      const refused = await ctx.dm(stranger(question));
      expect(refused.card).toBeUndefined();
      const notice = String(refused.sent[0]?.body?.markdown?.text ?? '');
      // English question → the English notice (texts.ts pairingCode).
      const code = /Pairing code: (\S+?)\n/.exec(notice)?.[1];
      expect(code, `pairing notice: ${notice}`).toMatch(/^[A-Z0-9]{6,}$/);
      expect(notice).toContain(`${name} pairing approve ${CHANNEL} ${code}`);
      expect(await ctx.mock.requestsFor(question)).toEqual([]);
      const connsBefore = ctx.fake.conns.length;
      const approved = await ctx.host.cli(['pairing', 'approve', CHANNEL, code!], { timeoutMs: 120_000 });
      expect(approved.code, `pairing approve failed\nstdout: ${approved.stdout}\nstderr: ${approved.stderr}`).toBe(0);
      // OpenClaw's first approval also makes the sender the command owner (commands.ownerAllowFrom, docs/channels/
      // pairing.md), and a change under `commands` restarts every channel (dist config-reload-plan, SHARED_CHANNEL_PREFIXES):
      // wait for that restart, or it cuts the answer below (under load it came 21 s after the approval).
      const written = JSON5.parse(await readFile(ctx.host.configPath, 'utf8')) as { commands?: { ownerAllowFrom?: unknown[] } };
      const ownerBootstrapped = (written.commands?.ownerAllowFrom ?? []).some((e) => String(e).startsWith(`${CHANNEL}:`));
      if (await ctx.host.reviveIfExited(ownerBootstrapped ? 0 : 15_000)) await ctx.waitForNewConnection(connsBefore);
      else if (ownerBootstrapped) await ctx.waitForNewConnection(connsBefore);
      const { card } = await ctx.dm(stranger(question));
      expect(card!.flowStatusHistory.at(-1)).toBe('3');
      expect(await ctx.mock.requestsFor(question)).toHaveLength(1);
    });

    options.unknownKey(ctx);

    ctx.step('nothing tried to reach beyond loopback (Node fetch/http through the refusing proxy)', {}, async () => {
      expect(trap.attempts).toEqual([]);
    });
  });
}
