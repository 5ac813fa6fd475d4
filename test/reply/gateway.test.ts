import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { CLAWDBOT, OPENCLAW } from '../../src/host.ts';
import { GatewayEngine } from '../../src/reply/gateway.ts';
import { ReplyError, type ReplyRequest } from '../../src/reply/engine.ts';
import { failureText } from '../../src/texts.ts';
import { startFakeGateway, type FakeGateway } from '../fake-gateway/index.ts';

let gw: FakeGateway;
beforeEach(async () => {
  gw = await startFakeGateway({ token: 'gw-secret' });
});
afterEach(async () => {
  await gw.close();
});

function engine(over: Partial<ConstructorParameters<typeof GatewayEngine>[0]> = {}) {
  return new GatewayEngine({ url: gw.url, credential: 'gw-secret', model: 'openclaw:main', sessionHeaders: ['x-openclaw-session-key'], idleTimeoutMs: 2000, ...over });
}

function request(over: Partial<ReplyRequest> = {}): ReplyRequest {
  return { sessionKey: 'dingtalk-ai:default:dm:u1:abc', text: '你好', images: [], systemPrompts: ['sys A', 'sys B'], sender: { id: 'u1' }, conversation: { type: 'direct', id: 'cid1' }, messageId: 'm1', signal: new AbortController().signal, ...over };
}

async function collect(it: AsyncIterable<string>): Promise<string> {
  let s = '';
  for await (const d of it) s += d;
  return s;
}

async function failure(it: AsyncIterable<string>): Promise<ReplyError> {
  try {
    await collect(it);
  } catch (e) {
    if (e instanceof ReplyError) return e;
    throw e;
  }
  throw new Error('expected a ReplyError');
}

describe('gateway engine', () => {
  test('OpenClaw gets an agent-scoped session key (several agents: an unscoped key has no owner there), in the header and as user', async () => {
    await collect(engine({ model: 'openclaw:sales', sessionKeyPrefix: OPENCLAW.sessionKeyPrefix('sales') }).reply(request()));
    expect(gw.requests[0]!.headers['x-openclaw-session-key']).toBe('agent:sales:dingtalk-ai:default:dm:u1:abc');
    expect(gw.requests[0]!.body.user).toBe('agent:sales:dingtalk-ai:default:dm:u1:abc');
    expect(CLAWDBOT.sessionKeyPrefix('sales')).toBe('');
  });

  test('sends the OpenAI request the gateway expects and streams the answer', async () => {
    expect(await collect(engine().reply(request()))).toBe('Echo: 你好');
    const req = gw.requests[0]!;
    expect(req.headers.authorization).toBe('Bearer gw-secret');
    expect(req.headers['x-openclaw-session-key']).toBe('dingtalk-ai:default:dm:u1:abc');
    expect(req.body).toMatchObject({ model: 'openclaw:main', stream: true, user: 'dingtalk-ai:default:dm:u1:abc' });
    expect(req.body.messages).toEqual([
      { role: 'system', content: 'sys A' },
      { role: 'system', content: 'sys B' },
      { role: 'user', content: '你好' },
    ]);
  });

  test('CRLF streams, and a stream that ends with a finish_reason but without [DONE], give the whole answer', async () => {
    gw.respond = () => ({ kind: 'stream', deltas: ['a', 'b', 'c'], crlf: true, done: false, finishReason: 'stop' });
    expect(await collect(engine().reply(request()))).toBe('abc');
  });

  /** The deltas that arrived before the reply failed, and the failure. */
  async function partial(it: AsyncIterable<string>): Promise<{ text: string; err: ReplyError }> {
    let text = '';
    try {
      for await (const d of it) text += d;
    } catch (e) {
      if (e instanceof ReplyError) return { text, err: e };
      throw e;
    }
    throw new Error(`expected a ReplyError after "${text}"`);
  }

  test('a stream that ends without [DONE] and without finish_reason is a cut answer, after its words', async () => {
    gw.respond = () => ({ kind: 'stream', deltas: ['a', 'b', 'c'], done: false });
    const { text, err } = await partial(engine().reply(request()));
    expect(text).toBe('abc');
    expect(err.kind).toBe('cut');
  });

  test('the TCP connection cut after one delta: the delta arrives, then a cut (not a generic failure)', async () => {
    gw.respond = () => ({ kind: 'stream', deltas: ['第一句。'], cut: true });
    const { text, err } = await partial(engine().reply(request()));
    expect(text).toBe('第一句。');
    expect(err.kind).toBe('cut');
  });

  test('one unreadable SSE line is skipped and logged; the answer goes on', async () => {
    const warnings: string[] = [];
    gw.respond = () => ({
      kind: 'raw',
      chunks: ['data: {"choices":[{"delta":{"content":"A"}}]}\n\n', 'data: {not json\n\n', 'data: {"choices":[{"delta":{"content":"B"}}]}\n\n', 'data: [DONE]\n\n'],
    });
    expect(await collect(engine({ log: { warn: (m) => warnings.push(m) } }).reply(request()))).toBe('AB');
    expect(warnings).toEqual([expect.stringContaining('unreadable stream event; skipped: {not json')]);
  });


  test('an error event in the stream fails the reply with its message', async () => {
    gw.respond = () => ({ kind: 'raw', chunks: ['data: {"choices":[{"delta":{"content":"par"}}]}\n\n', 'data: {"error":{"message":"model overloaded"}}\n\n'] });
    const err = await failure(engine().reply(request()));
    expect(err.kind).toBe('failed');
    expect(err.detail).toBe('model overloaded');
  });

  test('401, 405, 400 and 404 map to the errors that name their fix', async () => {
    expect((await failure(engine({ credential: 'wrong' }).reply(request()))).kind).toBe('unauthorized');
    gw.respond = () => ({ kind: 'status', status: 405, body: { error: { message: 'Method Not Allowed' } } });
    expect((await failure(engine().reply(request()))).kind).toBe('endpoint-disabled');
    gw.respond = () => ({ kind: 'status', status: 400, body: { error: { message: 'Unknown agent: nope' } } });
    const rejected = await failure(engine().reply(request()));
    expect(rejected).toMatchObject({ kind: 'rejected', detail: 'Unknown agent: nope' });
    expect((await failure(engine({ url: gw.url.replace('/v1/chat/completions', '/wrong') }).reply(request()))).kind).toBe('not-found');
  });

  test('OpenClaw 2026.9.6 answers 404 on /v1/chat/completions when the endpoint is off: that is endpoint-disabled', async () => {
    gw.respond = () => ({ kind: 'status', status: 404, body: { error: { message: 'Not Found' } } });
    expect((await failure(engine().reply(request()))).kind).toBe('endpoint-disabled');
  });

  test('a gateway without a usable model (HTTP error or error event) is no-model, not "try again later"', async () => {
    gw.respond = () => ({ kind: 'status', status: 500, body: { error: { message: 'No API key found for provider "anthropic".' } } });
    expect(await failure(engine().reply(request()))).toMatchObject({ kind: 'no-model', status: 500 });
    gw.respond = () => ({ kind: 'raw', chunks: [`data: ${JSON.stringify({ error: { message: 'No model configured for agent main.' } })}\n\n`] });
    expect((await failure(engine().reply(request()))).kind).toBe('no-model');
  });

  test('connection refused and silence become unreachable and timeout', async () => {
    const url = gw.url;
    await gw.close();
    const refused = await failure(engine({ url }).reply(request()));
    expect(refused).toMatchObject({ kind: 'unreachable', detail: 'ECONNREFUSED' });
    // What the user is shown names the fix, not the gateway's internal address nor the transport code.
    const shown = failureText(refused.kind, 'zh', { ref: 'a1b2c3' });
    expect(shown).toContain('gatewayUrl');
    expect(shown).not.toContain('ECONNREFUSED');
    expect(shown).not.toContain(new URL(url).host);
    gw = await startFakeGateway({ token: 'gw-secret' });
    gw.respond = () => ({ kind: 'hang' });
    const err = await failure(engine({ url: gw.url, idleTimeoutMs: 150 }).reply(request()));
    expect(err.kind).toBe('timeout');
  });

  test('images are sent as image_url parts next to the text', async () => {
    await collect(engine().reply(request({ images: [{ path: '/tmp/a.png', mimeType: 'image/png', base64: 'QUJD' }] })));
    expect(gw.requests[0]!.body.messages!.at(-1)!.content).toEqual([
      { type: 'text', text: '你好' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,QUJD' } },
    ]);
  });
});
