/**
 * The fault suite (issue 13): the plugin against the fake DingTalk and the fake gateway under the faults users
 * report, each scenario repeated (more often with env CI). After every trial it counts what a user would notice:
 * answers lost or duplicated, cards left typing, secrets or internal addresses in chat texts, frames not ACKed.
 * The summary line at the end gives the figures; all must be 0.
 */
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { startHarness, type Harness, type HarnessOptions } from './harness.ts';
import { chunkText, lastUserText } from './fake-gateway/index.ts';
import type { FaultRequest } from './fake-dingtalk/faults.ts';
import { startSwapper } from './media/swapper.ts';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROUNDS = process.env.CI ? 8 : 2;
const tally = { trials: 0, lost: 0, duplicated: 0, typing: 0, secrets: 0, outsideRoots: 0, notAcked: 0 };

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

afterAll(() => {
  const line = `fault suite: ${tally.trials} trials, answers lost ${tally.lost}, duplicated ${tally.duplicated}, cards left typing ${tally.typing}, secrets in user-visible text ${tally.secrets}, uploads outside the roots ${tally.outsideRoots}, frames not ACKed ${tally.notAcked}`;
  console.log(line);
  expect(tally.trials).toBeGreaterThan(0);
  expect({ ...tally, trials: 0 }).toEqual({ trials: 0, lost: 0, duplicated: 0, typing: 0, secrets: 0, outsideRoots: 0, notAcked: 0 });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isFinal = (req: FaultRequest) => (req.body as { isFinalize?: boolean } | undefined)?.isFinalize === true;

/** Final texts a user sees: what each card shows now, and every message sent. */
function seen(h: Harness): string[] {
  return [
    ...h.fake.cardList().map((c) => h.fake.cardShows(c)),
    ...h.fake.sent.map((s) => String(s.body?.markdown?.text ?? s.body?.text ?? s.body?.content ?? JSON.stringify(s.body))),
  ];
}

/** Count the trial: `answer` must be visible exactly once; nothing typing, leaked or un-ACKed. Returns what the user sees. */
function account(h: Harness, answer: string): string[] {
  const texts = seen(h);
  const copies = texts.filter((t) => t.includes(answer)).length;
  tally.trials++;
  if (copies === 0) tally.lost++;
  if (copies > 1) tally.duplicated++;
  tally.typing += h.fake.cardList().filter((c) => h.fake.cardTyping(c)).length;
  tally.secrets += h.leaks().length;
  tally.notAcked += h.fake.pushes.filter((p) => p.type === 'CALLBACK' && p.ackedAt === undefined).length;
  expect(copies, `"${answer}" in:\n${texts.join('\n---\n')}`).toBe(1);
  return texts;
}

async function ask(opts: HarnessOptions, setup: (h: Harness) => void, question = '你好'): Promise<Harness> {
  h = await startHarness(opts);
  setup(h);
  await h.send(h.fake.msg.text(question, { senderStaffId: 'u1' }));
  // Let closing calls (final state, redirects) land.
  await h.fake.waitFor(() => h!.fake.cardList().every((c) => !h!.fake.cardTyping(c)), { timeoutMs: 3000 }).catch(() => undefined);
  return h;
}

const ANSWER = '这是一个简短的完整回答，用来检查它只出现一次。';
const rounds = Array.from({ length: ROUNDS }, (_, i) => i + 1);

describe.each(rounds)('fault suite, round %i', () => {
  test('one 400 on the finalize of a short answer → the card shows the whole answer once, FINISHED, no markdown copy', async () => {
    const h = await ask({}, (h) => {
      h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(ANSWER, 3), delayMs: 10 });
      h.fake.faults.add({ match: { path: '/v1.0/card/streaming', when: isFinal, times: 1 }, action: { status: 400, body: { code: 'param.stream.content', message: 'content is too large' } } });
    });
    account(h, ANSWER);
    expect(h.fake.cardList()[0]!.flowStatusHistory.at(-1)).toBe('3');
    expect(h.fake.sent).toEqual([]);
  });

  test('no API can put the answer into the card → one markdown message, the card says where the answer went', async () => {
    const h = await ask({}, (h) => {
      h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(ANSWER, 3), delayMs: 10 });
      const whole = (req: FaultRequest) => JSON.stringify(req.body ?? {}).includes(ANSWER);
      h.fake.faults.add({ match: { method: 'PUT', path: /^\/v1\.0\/card\/(streaming|instances)$/, when: whole }, action: { status: 400, body: { code: 'param.stream.content', message: 'content is too large' } } });
    });
    account(h, ANSWER);
    expect(h.fake.cardShows(h.fake.cardList()[0]!)).toContain('回答已以消息形式发送');
  });

  test('DingTalk creates the card, then the connection drops unanswered → not created twice; the answer once as a message, the card closed', async () => {
    const h = await ask({}, (h) => {
      h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(ANSWER, 3), delayMs: 10 });
      h.fake.faults.add({ match: { path: '/v1.0/card/instances/createAndDeliver', times: 1 }, action: { destroySocket: true, afterActing: true } });
    });
    await h.fake.waitFor(() => h.fake.sent.length > 0, { timeoutMs: 3000 });
    account(h, ANSWER);
    expect(h.fake.calls.filter((c) => c.path === '/v1.0/card/instances/createAndDeliver')).toHaveLength(1);
    const card = h.fake.cardList()[0]!;
    expect(h.fake.cardTyping(card)).toBe(false);
    expect(h.fake.cardShows(card)).toContain('回答已以消息形式发送');
  });

  test('the gateway sends one delta and cuts the connection → the delta stays, a plain note under it', async () => {
    const h = await ask({}, (h) => (h.gw.respond = () => ({ kind: 'stream', deltas: ['第一句已经说完。'], cut: true })));
    const [text] = account(h, '第一句已经说完。');
    expect(text).toMatch(/^第一句已经说完。\n\n⚠️ 与网关的连接中断，回答不完整。请重新发送你的问题。（编号 [0-9a-f]{6}）$/);
    expect(text).not.toMatch(/UND_ERR|terminated|socket/i);
    expect(h.fake.cardList()[0]!.flowStatusHistory.at(-1)).toBe('5');
  });

  test('an error event after words → the words stay, the fixed note under them, the detail only in the log', async () => {
    const h = await ask({}, (h) => (h.gw.respond = () => ({ kind: 'raw', chunks: ['data: {"choices":[{"delta":{"content":"部分回答"}}]}\n\n', 'data: {"error":{"message":"upstream exploded at 10.0.0.7:8080"}}\n\n'] })));
    const [text] = account(h, '部分回答');
    expect(text).toContain('⚠️ 智能体处理出错');
    expect(text).not.toContain('10.0.0.7');
    const ref = /编号 ([0-9a-f]{6})/.exec(text)![1]!;
    expect(h.logs.find((l) => l.includes(`[ref ${ref}]`))).toContain('upstream exploded');
  });

  test('one unreadable SSE line mid-answer is skipped: the whole answer arrives', async () => {
    const h = await ask({}, (h) => {
      h.gw.respond = () => ({
        kind: 'raw',
        chunks: ['data: {"choices":[{"delta":{"content":"前半，"}}]}\n\n', 'data: {oops\n\n', 'data: {"choices":[{"delta":{"content":"后半。"}}]}\n\n', 'data: [DONE]\n\n'],
      });
    });
    const [text] = account(h, '前半，后半。');
    expect(text).toBe('前半，后半。');
  });

  test('the gateway stalls after words past gatewayTimeout → the words stay with the timeout note', async () => {
    const h = await ask({ config: { gatewayTimeout: 300 } }, (h) => (h.gw.respond = () => ({ kind: 'raw', chunks: ['data: {"choices":[{"delta":{"content":"说到一半"}}]}\n\n', ': still thinking\n\n'], delayMs: 5_000 })));
    const [text] = account(h, '说到一半');
    expect(text).toContain('网关长时间没有响应');
  });

  test('keep-alive comments after words cannot hold the answer past answerTimeout → the words stay with the deadline note', async () => {
    const h = await ask({ config: { gatewayTimeout: 300, answerTimeout: 500 } }, (h) => (h.gw.respond = () => ({ kind: 'raw', chunks: ['data: {"choices":[{"delta":{"content":"还在想"}}]}\n\n', ...Array(60).fill(': keep-alive\n\n')], delayMs: 50 })));
    const [text] = account(h, '还在想');
    expect(text).toMatch(/^还在想\n\n⚠️ 回答超过了最长时间/);
  });

  test('gateway 500 whose body carries the gateway token and the clientSecret → neither reaches the chat', async () => {
    const h = await ask({}, (h) => (h.gw.respond = () => ({ kind: 'status', status: 500, body: { error: { message: 'auth gw-token for app dingAPPKEY secret SECRET failed at http://127.0.0.1:18789' } } })));
    const [text] = account(h, '智能体处理出错');
    expect(text).not.toMatch(/gw-token|SECRET|127\.0\.0\.1/);
    expect(h.logs.some((l) => l.includes('auth *** for app dingAPPKEY secret *** failed'))).toBe(true);
  });

  test('a proxy answers with an HTML error page → a fixed text, no HTML in the chat', async () => {
    const h = await ask({}, (h) => (h.gw.respond = () => ({ kind: 'status', status: 502, body: '<html><body><h1>502 Bad Gateway</h1>nginx at 10.1.2.3:3128</body></html>' })));
    const [text] = account(h, '智能体处理出错');
    expect(text).not.toMatch(/<html|nginx|10\.1\.2\.3/);
  });

  test('a sessionWebhook that is not on DingTalk’s host is never POSTed to: the robot API answers once', async () => {
    const h = await ask({}, (h) => {
      h.fake.faults.rejectCardCreate();
      h.gw.respond = (req) => ({ kind: 'stream', deltas: [`答：${lastUserText(req)}`] });
    });
    // (the harness message above had a good webhook; this one points elsewhere)
    const payload = h.fake.msg.text('第二个问题', { senderStaffId: 'u1' });
    payload.sessionWebhook = `${h.fake.apiBase}/robot/sendBySession?session=stolen`;
    const before = h.fake.sent.length;
    await h.send(payload);
    const sent = h.fake.sent.slice(before);
    expect(sent.map((s) => s.channel)).toEqual(['oto']);
    expect(h.fake.calls.some((c) => c.host === 'api' && c.path === '/robot/sendBySession')).toBe(false);
    expect(h.logs.some((l) => l.includes("sessionWebhook is not on DingTalk's webhook host"))).toBe(true);
    account(h, '答：第二个问题');
  });

  test('monthly quota spent and the webhook expired → the answer is kept and delivered with the next message', async () => {
    const h_ = (h = await startHarness());
    h_.fake.faults.monthlyQuotaExhausted();
    h.fake.faults.add({ match: { path: '/robot/sendBySession', times: 1 }, action: { status: 200, body: { errcode: 300001, errmsg: 'session 不存在' } } });
    h.gw.respond = () => ({ kind: 'stream', deltas: [ANSWER] });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    await h.fake.waitFor(() => h_.logs.some((l) => l.includes('kept, it goes out with the next message')), { timeoutMs: 3000 });
    expect(seen(h).some((t) => t.includes(ANSWER))).toBe(false);
    expect(h.logs.some((l) => l.includes('kept, it goes out with the next message'))).toBe(true);
    h.gw.respond = () => ({ kind: 'stream', deltas: ['第二个回答'] });
    await h.send(h.fake.msg.text('还在吗', { senderStaffId: 'u1' }));
    await h_.fake.waitFor(() => h_.fake.sent.length >= 2, { timeoutMs: 3000 });
    const texts = account(h_, ANSWER);
    expect(texts.find((t) => t.includes(ANSWER))).toContain('之前有一条回答没能送达');
    expect(texts.filter((t) => t.includes('第二个回答'))).toHaveLength(1);
  });

  test('stop while DingTalk hangs → no call after stop returned; the card is closed, its words kept, at the next start', async () => {
    h = await startHarness({ stopGraceMs: 300 });
    const words = '一个很长的回答'.repeat(10);
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(words, 2), delayMs: 30 });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    await h.fake.waitFor(() => (h!.fake.cardList()[0]?.streams.msgContent?.content.length ?? 0) > 4);
    h.fake.faults.add({ match: { host: 'api', path: /^\/v1\.0\/card\// }, action: { hang: true } });
    await h.stop();
    const stoppedAt = performance.now();
    await sleep(1_500);
    expect(h.fake.calls.filter((c) => c.mono > stoppedAt).map((c) => `${c.method} ${c.path}`)).toEqual([]);
    const card = h.fake.cardList()[0]!;
    const shown = h.fake.cardShows(card);
    expect(h.fake.cardTyping(card)).toBe(true);

    h.fake.faults.clear();
    await h.restart();
    await h.fake.waitFor(() => !h!.fake.cardTyping(card), { timeoutMs: 3000 });
    expect(card.flowStatusHistory.at(-1)).toBe('5');
    expect(h.fake.cardShows(card)).toBe(`${shown}\n\n⚠️ 服务重启，这条回答没有写完。请重新发送你的问题。`);
    account(h, shown);
  });

  test('stop mid-answer → the words stay with the restart note; the card is not left for the next start', async () => {
    h = await startHarness();
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText('一个很长的回答'.repeat(20), 2), delayMs: 30 });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    await h.fake.waitFor(() => (h!.fake.cardList()[0]?.streams.msgContent?.content.length ?? 0) > 4);
    await h.stop();
    const text = h.fake.cardShows(h.fake.cardList()[0]!);
    expect(text).toMatch(/^(一个很长的回答|一个很长的回|一个很长的|一个很长|一个很)[^⚠]*\n\n⚠️ 服务正在重启/);
    account(h, '服务正在重启');
  });
});

describe.each(rounds)('fault suite, state and media, round %i', () => {
  test('one message pushed twice in the same tick → answered once', async () => {
    h = await startHarness();
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(ANSWER, 3), delayMs: 5 });
    const payload = h.fake.msg.text('你好', { senderStaffId: 'u1' });
    const pushes = [h.fake.pushRobotMessage(payload), h.fake.pushRobotMessage(payload)];
    for (const p of pushes) await h.fake.waitForAck(p.messageId);
    await h.fake.waitFor(() => h!.fake.cardList().some((c) => c.flowStatusHistory.at(-1) === '3'), { timeoutMs: 5000 });
    await sleep(200);
    account(h, ANSWER);
  });

  test('10 answers send a file another process swaps for a symlink to a protected file → none uploads it', async () => {
    h = await startHarness();
    const dir = await mkdtemp(join(tmpdir(), 'dt-fault-race-'));
    const outside = await mkdtemp(join(h.stateDir, 'credentials-'));
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(64, 1)]);
    const inside = Buffer.concat([png, Buffer.from('chart')]);
    const secret = Buffer.concat([png, Buffer.from('CREDENTIALS')]);
    await writeFile(join(outside, 'secret.png'), secret);
    await writeFile(join(dir, 'race.png'), inside);
    h.gw.respond = (req) => ({ kind: 'stream', deltas: [`${lastUserText(req)}：![c](${join(dir, 'race.png')})`] });
    const stop = await startSwapper({ file: join(dir, 'race.png'), outsideFile: join(outside, 'secret.png'), inside });
    try {
      const pushes = Array.from({ length: 10 }, (_, i) => h!.fake.pushRobotMessage(h!.fake.msg.text(`图表${i}`, { senderStaffId: `u${i}` })));
      for (const p of pushes) await h.fake.waitForAck(p.messageId, { within: 5000 });
      await h.fake.waitFor(() => h!.fake.cardList().filter((c) => !h!.fake.cardTyping(c)).length === 10, { timeoutMs: 15_000 });
    } finally {
      await stop();
    }
    const leaked = [...h.fake.media.values()].filter((m) => m.sha256 === createHash('sha256').update(secret).digest('hex')).length;
    tally.outsideRoots += leaked;
    for (let i = 0; i < 10; i++) account(h, `图表${i}：`);
    expect(leaked).toBe(0);
  }, 30_000);
});

/** Longer randomized trials (env CI only): random answers, cut points and DingTalk faults; the seed is printed. */
describe.runIf(!!process.env.CI)('fault suite, randomized', () => {
  const seed = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000);
  let state = seed;
  const rand = (n: number) => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state % n;
  };
  const faults: Array<[string, (h: Harness) => void]> = [
    ['none', () => {}],
    ['finalize 400', (h) => h.fake.faults.add({ match: { path: '/v1.0/card/streaming', when: isFinal, times: 1 }, action: { status: 400, body: { code: 'param.stream.content', message: 'content is too large' } } })],
    ['streaming scope revoked', (h) => h.fake.faults.revokeScope('Card.Streaming.Write')],
    ['card create refused', (h) => h.fake.faults.rejectCardCreate()],
    ['streaming throttled twice', (h) => h.fake.faults.qpsLimit('/v1.0/card/streaming', { times: 2 })],
  ];

  test.each(Array.from({ length: 30 }, (_, i) => i + 1))('trial %i', async () => {
    const words = Array.from({ length: 3 + rand(20) }, (_, i) => `词${i}${'。，'[rand(2)]}`).join('');
    const cutAt = rand(3) === 0 ? 1 + rand(Math.max(1, words.length - 1)) : undefined;
    const [name, inject] = faults[rand(faults.length)]!;
    const shown = cutAt === undefined ? words : words.slice(0, cutAt);
    const h = await ask({}, (h) => {
      inject(h);
      h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(shown, 1 + rand(4)), delayMs: rand(15), ...(cutAt === undefined ? {} : { cut: true }) });
    });
    const texts = account(h, shown);
    if (cutAt !== undefined) expect(texts.find((t) => t.includes(shown)), `seed ${seed}, ${name}`).toContain('与网关的连接中断');
  });

  afterAll(() => console.log(`fault suite randomized seed: ${seed} (rerun with FAULT_SEED=${seed})`));
});
