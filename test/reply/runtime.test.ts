import { afterEach, describe, expect, test } from 'vitest';
import { ReplyError, type ReplyChunk, type ReplyRequest } from '../../src/reply/engine.ts';
import {
  channelReplyRuntime,
  RuntimeEngine,
  type ChannelReplyRuntime,
  type InboundContext,
  type RuntimeDispatchParams,
  type RuntimeRoute,
} from '../../src/reply/runtime.ts';
import { createLogger } from '../../src/log.ts';
import { monitorAccount } from '../../src/monitor.ts';
import { resolveAccount } from '../../src/config.ts';
import { CLAWDBOT, OPENCLAW } from '../../src/host.ts';
import { startHarness, type Harness } from '../harness.ts';

type Script = (p: RuntimeDispatchParams) => Promise<unknown>;

/** A host channel runtime shaped like OpenClaw's / Clawdbot's `api.runtime.channel`, scripted per turn. */
class FakeRuntime implements ChannelReplyRuntime {
  script: Script = async () => ({ queuedFinal: false, counts: { tool: 0, block: 0, final: 0 } });
  route: RuntimeRoute = { agentId: 'main', accountId: 'default', sessionKey: 'agent:main:main', matchedBy: 'default' };
  readonly routes: Array<{ channel: string; accountId: string; peer: { kind: string; id: string } }> = [];
  readonly dispatched: RuntimeDispatchParams[] = [];
  readonly recorded: Array<{ storePath: string; sessionKey: string; ctx: InboundContext }> = [];
  reply = {
    finalizeInboundContext: (ctx: InboundContext) => ({ ...ctx, finalized: true }),
    dispatchReplyWithBufferedBlockDispatcher: async (p: RuntimeDispatchParams) => {
      this.dispatched.push(p);
      return this.script(p);
    },
  };
  routing = {
    resolveAgentRoute: (input: { channel: string; accountId: string; peer: { kind: string; id: string } }) => {
      this.routes.push({ channel: input.channel, accountId: input.accountId, peer: input.peer });
      return this.route;
    },
  };
  session = {
    resolveStorePath: (store: string | undefined, o: { agentId: string }) => `${store ?? '/state/sessions'}/${o.agentId}`,
    recordInboundSession: async (p: { storePath: string; sessionKey: string; ctx: InboundContext }) => {
      this.recorded.push(p);
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 5));
const logs: string[] = [];
const log = createLogger({ info: (m) => logs.push(`INFO ${m}`), warn: (m) => logs.push(`WARN ${m}`), error: (m) => logs.push(`ERROR ${m}`) });

function engine(rt: FakeRuntime, over: Partial<ConstructorParameters<typeof RuntimeEngine>[0]> = {}) {
  return new RuntimeEngine({ runtime: rt, cfg: { session: { store: '/cfg/store' } } as never, accountId: 'default', agentId: 'main', directPeerKind: 'direct', log, now: () => 1_700_000_000_000, ...over });
}

function request(over: Partial<ReplyRequest> = {}): ReplyRequest {
  return {
    sessionKey: 'dingtalk-ai:default:dm:staff42:abc',
    text: '你好',
    images: [],
    systemPrompts: ['media prompt', 'configured prompt'],
    sender: { id: 'staff42', name: '张三' },
    conversation: { type: 'direct', id: 'cidDM42==' },
    messageId: 'msg-1',
    signal: new AbortController().signal,
    ...over,
  };
}

/** Applies chunks the way the pipeline does; also returns each state the card would show. */
async function collect(it: AsyncIterable<ReplyChunk>): Promise<{ text: string; states: string[] }> {
  let text = '';
  const states: string[] = [];
  for await (const c of it) {
    text = typeof c === 'string' ? text + c : c.snapshot;
    states.push(text);
  }
  return { text, states };
}

describe('runtime engine: the turn goes through the host runtime as the DingTalk sender', () => {
  test('a DM: the host gets the sender (id, name, direct chat), the plugin prompts, the session key in agent form', async () => {
    const rt = new FakeRuntime();
    rt.script = async (p) => {
      await p.dispatcherOptions.deliver({ text: '你好，张三' }, { kind: 'final' });
      return { queuedFinal: true, counts: { tool: 0, block: 0, final: 1 } };
    };
    expect((await collect(engine(rt).reply(request()))).text).toBe('你好，张三');
    expect(rt.routes).toEqual([{ channel: 'dingtalk-ai', accountId: 'default', peer: { kind: 'direct', id: 'staff42' } }]);
    const ctx = rt.dispatched[0]!.ctx;
    expect(ctx).toMatchObject({
      finalized: true,
      Body: '你好',
      SenderId: 'staff42',
      SenderName: '张三',
      ChatType: 'direct',
      From: 'dingtalk-ai:staff42',
      To: 'dingtalk-ai:staff42',
      SessionKey: 'agent:main:dingtalk-ai:default:dm:staff42:abc',
      AccountId: 'default',
      Provider: 'dingtalk-ai',
      Surface: 'dingtalk-ai',
      OriginatingChannel: 'dingtalk-ai',
      MessageSid: 'msg-1',
      GroupSystemPrompt: 'media prompt\n\nconfigured prompt',
      // Host text commands are not the DingTalk sender's to run.
      CommandAuthorized: false,
    });
    expect(ctx.GroupSubject).toBeUndefined();
    expect(rt.recorded).toEqual([{ storePath: '/cfg/store/main', sessionKey: ctx.SessionKey, ctx, onRecordError: expect.any(Function) }]);
    expect(rt.dispatched[0]!.replyOptions).toMatchObject({ disableBlockStreaming: true });
    expect(rt.dispatched[0]!.replyOptions.images).toBeUndefined();
  });

  test('a group: routed as the group, labelled with its title, mentioned; Clawdbot names a DM peer "dm"', async () => {
    const rt = new FakeRuntime();
    await collect(engine(rt).reply(request({ conversation: { type: 'group', id: 'cidGRP==', title: '项目组' }, sessionKey: 'dingtalk-ai:default:group:cidGRP==:x' })));
    expect(rt.routes[0]!.peer).toEqual({ kind: 'group', id: 'cidGRP==' });
    expect(rt.dispatched[0]!.ctx).toMatchObject({ ChatType: 'group', GroupSubject: '项目组', ConversationLabel: '项目组', From: 'dingtalk-ai:group:cidGRP==', WasMentioned: true, SenderId: 'staff42' });
    await collect(engine(rt, { directPeerKind: CLAWDBOT.directPeerKind }).reply(request()));
    expect(rt.routes[1]!.peer).toEqual({ kind: 'dm', id: 'staff42' });
    expect(OPENCLAW.directPeerKind).toBe('direct');
  });

  test('a host binding picks the agent; without one, channels.dingtalk-ai.agentId does', async () => {
    const rt = new FakeRuntime();
    rt.route = { agentId: 'support', matchedBy: 'binding.channel' };
    await collect(engine(rt).reply(request()));
    expect(rt.dispatched[0]!.ctx.SessionKey).toBe('agent:support:dingtalk-ai:default:dm:staff42:abc');
    rt.route = { agentId: 'main', matchedBy: 'default' };
    await collect(engine(rt, { agentId: 'sales' }).reply(request()));
    expect(rt.dispatched[1]!.ctx.SessionKey).toBe('agent:sales:dingtalk-ai:default:dm:staff42:abc');
  });

  test('partial replies stream as deltas; text before a tool call stays; the final replaces the stream', async () => {
    const rt = new FakeRuntime();
    rt.script = async (p) => {
      const o = p.replyOptions;
      o.onPartialReply({ text: '让我查' });
      await tick();
      o.onPartialReply({ text: '让我查一下。' });
      await tick();
      o.onAssistantMessageStart();
      await p.dispatcherOptions.deliver({ text: 'ls -la output: secret.txt' }, { kind: 'tool' });
      o.onPartialReply({ text: '结果是' });
      await tick();
      o.onPartialReply({ delta: ' 42。' });
      await tick();
      await p.dispatcherOptions.deliver({ text: '结果是 42。' }, { kind: 'final' });
      return { counts: { final: 1 } };
    };
    const { text, states } = await collect(engine(rt).reply(request()));
    expect(states).toEqual(['让我查', '让我查一下。', '让我查一下。\n\n结果是', '让我查一下。\n\n结果是 42。', '结果是 42。']);
    expect(text).toBe('结果是 42。');
    expect(states.some((s) => s.includes('secret.txt'))).toBe(false);
  });

  test('no final at all (turn ended in a tool call): the turn ends on the dispatcher promise with the streamed text', async () => {
    const rt = new FakeRuntime();
    rt.script = async (p) => {
      p.replyOptions.onPartialReply({ text: '我来创建这个文件' });
      await tick();
      p.replyOptions.onAssistantMessageStart();
      return { queuedFinal: false, counts: { tool: 1, block: 0, final: 0 } };
    };
    logs.length = 0;
    expect((await collect(engine(rt).reply(request()))).text).toBe('我来创建这个文件');
    expect(logs.some((l) => l.includes('msg-1') && l.includes('without a final reply'))).toBe(true);
  });

  test('an empty turn (no text, no final) ends with no text; partials after the end are ignored', async () => {
    const rt = new FakeRuntime();
    let late: ((t: string) => void) | undefined;
    rt.script = async (p) => {
      late = (t) => p.replyOptions.onPartialReply({ text: t });
      return { counts: { final: 0 } };
    };
    const it = engine(rt).reply(request());
    expect((await collect(it)).text).toBe('');
    late!('too late');
  });

  test('media the host attaches: images inline, other files as MEDIA lines, for the answer-media step', async () => {
    const rt = new FakeRuntime();
    rt.script = async (p) => {
      await p.dispatcherOptions.deliver({ text: '图表如下', mediaUrls: ['/tmp/out/chart.png', '/tmp/out/report.pdf'] }, { kind: 'final' });
      return {};
    };
    expect((await collect(engine(rt).reply(request()))).text).toBe('图表如下\n\n![chart.png](/tmp/out/chart.png)\n\nMEDIA: /tmp/out/report.pdf');
  });

  test('inbound pictures with bytes go as image content; the abort signal reaches the run', async () => {
    const rt = new FakeRuntime();
    const ctl = new AbortController();
    await collect(engine(rt).reply(request({ signal: ctl.signal, images: [{ path: '/m/a.png', mimeType: 'image/png', base64: 'QUJD' }, { path: '/m/b.png', mimeType: 'image/png' }] })));
    expect(rt.dispatched[0]!.replyOptions.images).toEqual([{ type: 'image', data: 'QUJD', mimeType: 'image/png' }]);
    expect(rt.dispatched[0]!.replyOptions.abortSignal).toBe(ctl.signal);
  });

  /** A host turn streaming `(n)` every 10 ms until it has sent 50 or, when `honours`, its abort signal fires. */
  function slowTurn(rt: FakeRuntime, honours: boolean) {
    const state = { sawAbort: false, settled: false, sentAfterAbort: 0 };
    rt.script = async (p) => {
      const signal = p.replyOptions.abortSignal;
      try {
        for (let i = 1; i <= 50; i++) {
          if (signal.aborted) {
            state.sawAbort = true;
            if (honours) throw signal.reason;
            state.sentAfterAbort++;
          }
          p.replyOptions.onPartialReply({ text: Array.from({ length: i }, (_, k) => `(${k + 1})`).join('') });
          await new Promise((r) => setTimeout(r, 10));
        }
        await p.dispatcherOptions.deliver({ text: 'the whole answer' }, { kind: 'final' });
        return {};
      } finally {
        state.settled = true;
      }
    };
    return state;
  }

  test.each([
    ['a host that aborts its run', true],
    ['a host that keeps running', false],
  ])('a stop mid-turn (%s): the chunks end at once with the stop reason, nothing after it shows', async (_label, honours) => {
    const rt = new FakeRuntime();
    const state = slowTurn(rt, honours);
    const ctl = new AbortController();
    const states: string[] = [];
    let text = '';
    logs.length = 0;
    const err = await (async () => {
      for await (const c of engine(rt).reply(request({ signal: ctl.signal }))) {
        text = typeof c === 'string' ? text + c : c.snapshot;
        states.push(text);
        if (states.length === 3) ctl.abort(new Error('stopped by the user'));
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ message: 'stopped by the user' });
    // What the card showed up to the stop, and nothing the host produced later (no final either).
    expect(states).toEqual(['(1)', '(1)(2)', '(1)(2)(3)']);
    expect(rt.dispatched[0]!.replyOptions.abortSignal.aborted).toBe(true);
    // The engine did not wait for the host to wind down (one that ignores the signal runs on for ~470 ms).
    expect(state.settled).toBe(false);
    await new Promise((r) => setTimeout(r, honours ? 20 : 600));
    expect(state.settled).toBe(true);
    expect(state.sawAbort).toBe(true);
    if (!honours) expect(state.sentAfterAbort).toBeGreaterThan(0);
    expect(logs.some((l) => l.includes('turn for msg-1 aborted') && l.includes("host's run settled"))).toBe(true);
  });

  test('a signal aborted before the turn starts: no chunk, the abort reason', async () => {
    const rt = new FakeRuntime();
    slowTurn(rt, true);
    const ctl = new AbortController();
    ctl.abort(new Error('deadline'));
    await expect(collect(engine(rt).reply(request({ signal: ctl.signal })))).rejects.toThrow('deadline');
  });

  test('the runtime throwing is a ReplyError "failed" with the host message; text streamed before is not kept', async () => {
    const rt = new FakeRuntime();
    rt.script = async (p) => {
      p.replyOptions.onPartialReply({ text: 'half' });
      await tick();
      throw new Error('model provider unavailable');
    };
    const err = await collect(engine(rt).reply(request())).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ReplyError);
    expect(err).toMatchObject({ kind: 'failed', detail: 'model provider unavailable' });
  });

  test('a failing session record is logged and the turn still runs', async () => {
    const rt = new FakeRuntime();
    rt.session.recordInboundSession = async () => {
      throw new Error('disk full');
    };
    rt.script = async (p) => {
      await p.dispatcherOptions.deliver({ text: 'ok' }, { kind: 'final' });
      return {};
    };
    logs.length = 0;
    expect((await collect(engine(rt).reply(request()))).text).toBe('ok');
    expect(logs.some((l) => l.startsWith('WARN') && l.includes('disk full'))).toBe(true);
  });

  test('channelReplyRuntime accepts the host surface and refuses objects without the calls', () => {
    const rt = new FakeRuntime();
    expect(channelReplyRuntime(rt)).toBe(rt);
    expect(channelReplyRuntime(undefined)).toBeUndefined();
    expect(channelReplyRuntime({ reply: {}, routing: {} })).toBeUndefined();
    expect(channelReplyRuntime({ reply: rt.reply })).toBeUndefined();
  });
});

describe('engine "runtime" in the account', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('without the host runtime (standalone connector): refused naming engine and the fix', async () => {
    const account = resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'k', clientSecret: 's', engine: 'runtime' } } }, 'default', {});
    expect(account.problems).toEqual([]);
    await expect(monitorAccount({ account, host: OPENCLAW, log, signal: new AbortController().signal, defaultStateDir: '/tmp' })).rejects.toThrow(
      'channels.dingtalk-ai.engine is "runtime", but openclaw gave this plugin no channel reply runtime: set engine to "gateway"',
    );
  });

  test('an unknown engine is a config problem naming the key; gateway is the default', () => {
    expect(resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'k', clientSecret: 's', engine: 'agent' as never } } }, 'default', {}).problems).toEqual([
      'channels.dingtalk-ai.engine must be one of "gateway", "runtime", got "agent"',
    ]);
    expect(resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'k', clientSecret: 's' } } }, 'default', {}).engine).toBe('gateway');
  });

  test('the card streams the runtime text and ends FINISHED when the host sends no final; the gateway is never called', async () => {
    const rt = new FakeRuntime();
    rt.script = async (p) => {
      p.replyOptions.onPartialReply({ text: '正在处理' });
      await new Promise((r) => setTimeout(r, 60));
      p.replyOptions.onPartialReply({ text: '正在处理你的请求，已完成。' });
      await new Promise((r) => setTimeout(r, 60));
      return { counts: { final: 0 } };
    };
    h = await startHarness({ config: { engine: 'runtime' }, channelRuntime: rt });
    await h.send(h.fake.msg.text('帮我处理', { senderStaffId: 'staff7', senderNick: '王五' }));
    const [card] = h.fake.cardList();
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
    expect(card!.streams.msgContent!.content).toBe('正在处理你的请求，已完成。');
    expect(card!.streams.msgContent!.updates.length).toBeGreaterThan(1);
    expect(h.gw.requests).toEqual([]);
    expect(rt.dispatched[0]!.ctx).toMatchObject({ SenderId: 'staff7', SenderName: '王五' });
    expect(h.logs.some((l) => l.includes('engine runtime') && !l.includes('gateway http'))).toBe(true);
    expect(h.logs.some((l) => l.includes('gateway token'))).toBe(false);
  });

  test('an empty turn ends the card with the "no content" text, never left typing', async () => {
    const rt = new FakeRuntime();
    h = await startHarness({ config: { engine: 'runtime' }, channelRuntime: rt });
    await h.send(h.fake.msg.text('?', { senderStaffId: 'staff7' }));
    const [card] = h.fake.cardList();
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
    expect(card!.streams.msgContent!.content).toBe('（智能体没有返回内容）');
  });

  test('a stop word mid-turn: the host run is aborted, the card ends FINISHED "stopped" with the text shown', async () => {
    const rt = new FakeRuntime();
    let aborted = false;
    rt.script = async (p) => {
      const signal = p.replyOptions.abortSignal;
      for (let i = 1; i <= 200 && !signal.aborted; i++) {
        p.replyOptions.onPartialReply({ text: '慢慢回答'.repeat(i) });
        await new Promise((r) => setTimeout(r, 20));
      }
      aborted = signal.aborted;
      if (aborted) throw signal.reason;
      return {};
    };
    h = await startHarness({ config: { engine: 'runtime' }, channelRuntime: rt });
    h.fake.pushRobotMessage(h.fake.msg.text('写一篇长文', { senderStaffId: 'u1' }));
    await h.fake.waitFor(() => (h!.fake.cardList()[0]?.streams.msgContent?.updates.length ?? 0) >= 2);
    h.fake.pushRobotMessage(h.fake.msg.text('停止', { senderStaffId: 'u1' }));
    await h.fake.waitFor(() => h!.fake.cardList()[0]!.flowStatusHistory.at(-1) === '3', { timeoutMs: 5000 });
    const shown = h.fake.cardList()[0]!.params.msgContent!;
    expect(shown).toMatch(/^(慢慢回答)+\n\n⏹️ 已停止回答。$/);
    await h.fake.waitFor(() => aborted);
    // No "nothing to stop" line, no second card.
    expect(h.fake.cardList()).toHaveLength(1);
    expect(h.fake.sent).toEqual([]);
  });

  test('card refused (403): the runtime answer goes out once as markdown', async () => {
    const rt = new FakeRuntime();
    rt.script = async (p) => {
      await p.dispatcherOptions.deliver({ text: '**完整**回答' }, { kind: 'final' });
      return {};
    };
    h = await startHarness({ config: { engine: 'runtime' }, channelRuntime: rt });
    h.fake.faults.revokeScope('Card.Instance.Write');
    await h.send(h.fake.msg.text('问题', { senderStaffId: 'u1' }));
    expect(h.fake.sent).toHaveLength(1);
    expect(h.fake.sent[0]!.body.markdown.text).toBe('**完整**回答');
  });
});
