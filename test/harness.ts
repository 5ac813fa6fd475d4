/**
 * Runs the real account monitor (Stream connection, pipeline, card, REST client) against the fake
 * DingTalk and the fake gateway, all on 127.0.0.1.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAccount, type DingTalkAccountConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { monitorAccount } from '../src/monitor.ts';
import { OPENCLAW, type HostFlavor } from '../src/host.ts';
import type { PairingStore } from '../src/pairing.ts';
import { AppBudget } from '../src/dingtalk/budget.ts';
import { FileStore, type StateStore } from '../src/store.ts';
import type { StreamStatus } from '../src/stream.ts';
import type { ChannelReplyRuntime } from '../src/reply/runtime.ts';
import { startFakeDingTalk, type FakeDingTalk, type FakeOptions } from './fake-dingtalk/index.ts';
import { startFakeGateway, type FakeGateway } from './fake-gateway/index.ts';

export interface Harness {
  fake: FakeDingTalk;
  gw: FakeGateway;
  logs: string[];
  statuses: StreamStatus[];
  /** The store of the running account: `opts.store`, else a FileStore in the state folder as in production (a new one per start). */
  store: StateStore;
  /** The host state folder the account runs with (temp). */
  stateDir: string;
  /** Stop the account (abort) and wait until it returned. */
  stop(): Promise<void>;
  /** Stop and close the fakes. */
  close(): Promise<void>;
  /** Start the account again on the same fakes and store (a restart). */
  restart(): Promise<void>;
  /** Secrets/addresses found in every text chat members could have seen so far (see leaksIn). */
  leaks(): string[];
  /** Push a robot message and wait until its answer is final (card finished/failed or a message sent). */
  send(payload: ReturnType<FakeDingTalk['msg']['text']>): Promise<void>;
}

export interface HarnessOptions {
  config?: DingTalkAccountConfig;
  fake?: FakeOptions;
  gatewayToken?: string;
  store?: StateStore;
  cardIntervalMs?: number;
  budget?: AppBudget;
  /** Which host the plugin believes it runs in (default OpenClaw). */
  host?: HostFlavor;
  /** Clock of the session manager. */
  now?: () => number;
  /** The host's channel reply runtime (for `engine: "runtime"`). */
  channelRuntime?: ChannelReplyRuntime;
  /** The host's DM pairing store (default: none). */
  pairing?: PairingStore;
  /** How long a stop waits for answers to close their cards (default: the plugin's). */
  stopGraceMs?: number;
}

/**
 * Secrets and internal addresses found in what chat members could have seen (cards, messages), each as
 * `what: excerpt`. The harness checks this on close(), so every pipeline test also asserts that nothing leaked.
 */
export function leaksIn(texts: string[], secrets: Record<string, string>): string[] {
  const out: string[] = [];
  for (const t of texts) {
    for (const [name, value] of Object.entries(secrets)) if (value && t.includes(value)) out.push(`${name}: ${t.slice(0, 200)}`);
    // Loopback addresses are how the fakes and the gateway are reached: internal addresses in a chat.
    const addr = /\b(?:127\.0\.0\.1|localhost|0\.0\.0\.0)(?::\d+)?/.exec(t);
    if (addr) out.push(`internal address ${addr[0]}: ${t.slice(0, 200)}`);
  }
  return out;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const fake = await startFakeDingTalk({ redelivery: { afterMs: 60_000 }, ...opts.fake });
  const gw = await startFakeGateway({ token: 'gw-token' });
  const logs: string[] = [];
  const statuses: StreamStatus[] = [];
  const stateDir = await mkdtemp(join(tmpdir(), 'dt-state-'));
  // The store production uses (monitorAccount's default folder), so races and restarts behave as they would there.
  const openStore = () => opts.store ?? new FileStore({ dir: join(stateDir, 'dingtalk-ai', 'default'), onError: (err) => logs.push(`WARN state store: ${String(err)}`) });
  let store = openStore();
  let running: Promise<void> | undefined;
  // One budget per harness (the real one is process-wide per app; tests must not share its quota switch).
  const budget = opts.budget ?? new AppBudget();
  const hostLog = { info: (m: string) => logs.push(`INFO ${m}`), warn: (m: string) => logs.push(`WARN ${m}`), error: (m: string) => logs.push(`ERROR ${m}`) };
  let controller = new AbortController();

  const start = async () => {
    controller = new AbortController();
    if (running !== undefined) store = openStore();
    const account = resolveAccount(
      {
        channels: {
          'dingtalk-ai': {
            clientId: 'dingAPPKEY',
            clientSecret: 'SECRET',
            gatewayUrl: gw.url,
            gatewayToken: opts.gatewayToken ?? 'gw-token',
            apiBaseUrl: fake.apiBase,
            oapiBaseUrl: fake.oapiBase,
            // Most tests are about answers, not access: everyone may talk unless a test sets a DM policy.
            ...(opts.config && 'dmPolicy' in opts.config ? {} : { dmPolicy: 'open', allowFrom: ['*'] }),
            groupPolicy: 'open',
            // The monthly call governor never runs short unless a test says so: answers must not depend on today's date.
            monthlyCallBudget: 1_000_000,
            ...opts.config,
          },
        },
      },
      'default',
      {},
      { pairing: opts.pairing !== undefined },
    );
    const connectionsBefore = fake.conns.length;
    running = monitorAccount({
      account,
      host: opts.host ?? OPENCLAW,
      log: createLogger(hostLog).child('default'),
      signal: controller.signal,
      defaultStateDir: stateDir,
      store,
      onStatus: (s) => statuses.push(s),
      cardIntervalMs: opts.cardIntervalMs ?? 30,
      backoffMinMs: 50,
      stopGraceMs: opts.stopGraceMs,
      budget,
      now: opts.now,
      channelRuntime: opts.channelRuntime,
      pairing: opts.pairing,
    });
    await fake.waitFor(() => fake.conns.length > connectionsBefore && fake.openConnections() > 0, { timeoutMs: 5000 });
  };
  await start();

  const h: Harness = {
    fake,
    gw,
    logs,
    statuses,
    get store() {
      return store;
    },
    stateDir,
    stop: async () => {
      controller.abort();
      await running;
    },
    close: async () => {
      await h.stop();
      const leaks = h.leaks();
      await Promise.all([fake.close(), gw.close()]);
      if (leaks.length > 0) throw new Error(`user-visible text carries secrets or internal addresses:\n${leaks.join('\n')}`);
    },
    leaks: () => {
      const secrets: Record<string, string> = {
        clientSecret: 'SECRET',
        gatewayToken: opts.gatewayToken ?? 'gw-token',
        ...(opts.config?.gatewayToken ? { configuredGatewayToken: opts.config.gatewayToken } : {}),
        ...(opts.config?.clientSecret ? { configuredClientSecret: opts.config.clientSecret } : {}),
      };
      fake.issuedTokens().forEach((t, i) => (secrets[`accessToken${i}`] = t));
      let i = 0;
      for (const s of fake.sessions.values()) secrets[`webhookSession${i++}`] = s.session;
      return leaksIn(fake.visibleTexts(), secrets);
    },
    restart: async () => {
      await h.stop();
      await start();
    },
    send: async (payload) => {
      const cardsBefore = new Set(fake.cards.keys());
      const sentBefore = fake.sent.length;
      const { messageId } = fake.pushRobotMessage(payload);
      await fake.waitForAck(messageId, { within: 1000 });
      await fake.waitFor(
        () =>
          fake.sent.length > sentBefore ||
          [...fake.cards.values()].some((c) => !cardsBefore.has(c.outTrackId) && ['3', '5'].includes(c.flowStatusHistory.at(-1) ?? '')),
        { timeoutMs: 5000 },
      );
    },
  };
  return h;
}
