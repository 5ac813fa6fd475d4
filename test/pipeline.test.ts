import { afterEach, describe, expect, test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './harness.ts';
import { chunkText, lastUserText } from './fake-gateway/index.ts';
import { FileStore, MemoryStore } from '../src/store.ts';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** REST calls without the stream gateway handshake. */
const restCalls = (h: Harness) => h.fake.sequence().filter((s) => !s.includes('/gateway/connections/open'));

describe('a DingTalk message becomes a streaming AI Card answer', () => {
  test('DM text: token, createAndDeliver (INPUTING), streaming updates, finalize with the exact text, FINISHED', async () => {
    h = await startHarness();
    const answer = '你好！这是一个**流式**回答，分很多小块到达。';
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 2), delayMs: 15 });
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'user001' }));

    const calls = restCalls(h);
    expect(calls[0]).toBe('POST api /v1.0/oauth2/accessToken 200');
    expect(calls[1]).toBe('POST api /v1.0/card/instances/createAndDeliver 200');
    expect(calls.at(-1)).toBe('PUT api /v1.0/card/instances 200');
    const streaming = calls.slice(2, -1);
    expect(streaming.length).toBeGreaterThanOrEqual(2);
    expect(new Set(streaming)).toEqual(new Set(['PUT api /v1.0/card/streaming 200']));

    const [card] = h.fake.cardList();
    expect(card!.deliveries[0]).toMatchObject({ spaceType: 'IM_ROBOT', spaceId: 'user001', success: true });
    expect(card!.paramHistory[0]!.params.flowStatus).toBe('2');
    const updates = card!.streams.msgContent!.updates;
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.content.startsWith(updates[i - 1]!.content)).toBe(true);
    expect(updates.at(-1)).toMatchObject({ content: answer, isFinalize: true, isError: false, isFull: true });
    expect(updates.some((u) => u.afterFinalize || u.duplicateGuid)).toBe(false);
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
    expect(card!.params.msgContent).toBe(answer);
    expect(h.fake.sent).toEqual([]);
  });

  test('the gateway gets the session key, the model and the text; no second token fetch for the next message', async () => {
    h = await startHarness({ config: { systemPrompt: '你是公司助手' } });
    await h.send(h.fake.msg.text('第一句', { senderStaffId: 'u7' }));
    await h.send(h.fake.msg.text('第二句', { senderStaffId: 'u7' }));
    const [a, b] = h.gw.requests;
    expect(a!.body.model).toBe('openclaw:main');
    expect(a!.body.user).toMatch(/^agent:main:dingtalk-ai:default:dm:u7:/);
    expect(a!.headers['x-openclaw-session-key']).toBe(a!.body.user);
    expect(b!.body.user).toBe(a!.body.user);
    // The media prompt (on by default) comes first, then the configured system prompt, then the user.
    const system = a!.body.messages!.filter((m) => m.role === 'system').map((m) => m.content as string);
    expect(system).toHaveLength(2);
    expect(system[0]).toContain('MEDIA: /absolute/path');
    expect(system[1]).toBe('你是公司助手');
    expect(a!.body.messages!.at(-1)!.role).toBe('user');
    expect(lastUserText(b!)).toBe('第二句');
    expect(h.fake.sequence().filter((s) => s.includes('oauth2/accessToken'))).toHaveLength(1);
  });

  test('group @bot: card goes to the group with the robotCode; mention stripped, speaker named', async () => {
    h = await startHarness();
    await h.send(h.fake.msg.text('帮我总结一下', { group: true, conversationId: 'cidGRP001==', senderNick: '李四' }));
    const [card] = h.fake.cardList();
    expect(card!.deliveries[0]).toMatchObject({ spaceType: 'IM_GROUP', spaceId: 'cidGRP001==', robotCode: 'dingAPPKEY' });
    expect(lastUserText(h.gw.requests[0]!)).toBe('[李四 说：]\n帮我总结一下');
    expect(h.gw.requests[0]!.body.user).toMatch(/^agent:main:dingtalk-ai:default:group:cidGRP001==:/);
  });

  test('reset commands confirm without calling the gateway, and the next message starts a new session', async () => {
    h = await startHarness();
    await h.send(h.fake.msg.text('hello', { senderStaffId: 'u1' }));
    await h.send(h.fake.msg.text(' /NEW ', { senderStaffId: 'u1' }));
    expect(h.gw.requests).toHaveLength(1);
    expect(h.fake.sent).toHaveLength(1);
    expect(h.fake.sent[0]!.body.markdown.text).toContain('新会话');
    await h.send(h.fake.msg.text('新会话', { senderStaffId: 'u1' }));
    await h.send(h.fake.msg.text('again', { senderStaffId: 'u1' }));
    expect(h.gw.requests).toHaveLength(2);
    expect(h.gw.requests[1]!.body.user).not.toBe(h.gw.requests[0]!.body.user);
  });

  test('inactivity longer than sessionTimeout starts a new session (injected clock)', async () => {
    let now = Date.now();
    h = await startHarness({ config: { sessionTimeout: 60_000 }, now: () => now });
    await h.send(h.fake.msg.text('one', { senderStaffId: 'u1' }));
    now += 30_000;
    await h.send(h.fake.msg.text('two', { senderStaffId: 'u1' }));
    now += 60_001;
    await h.send(h.fake.msg.text('three', { senderStaffId: 'u1' }));
    const users = h.gw.requests.map((r) => r.body.user);
    expect(users[1]).toBe(users[0]);
    expect(users[2]).not.toBe(users[1]);
  });

  test('a restart keeps the session (file store in a temp dir)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-restart-'));
    h = await startHarness({ store: new FileStore({ dir }) });
    await h.send(h.fake.msg.text('before', { senderStaffId: 'u1' }));
    await h.stop();
    // A new store object on the same folder: only what reached the disk counts.
    const fresh = await startHarness({ store: new FileStore({ dir }) });
    try {
      await fresh.send(fresh.fake.msg.text('after', { senderStaffId: 'u1' }));
      expect(fresh.gw.requests[0]!.body.user).toBe(h.gw.requests[0]!.body.user);
    } finally {
      await fresh.close();
    }
  });

  test('card rejected (template missing) → the whole answer goes out as one markdown message', async () => {
    h = await startHarness();
    h.fake.faults.rejectCardCreate('param.templateNotExist');
    const answer = '这是完整的回答。';
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 3) });
    await h.send(h.fake.msg.text('问题', { senderStaffId: 'u1' }));
    expect(h.fake.sequence().some((s) => s.includes('/card/streaming'))).toBe(false);
    expect(h.fake.sent).toHaveLength(1);
    expect(h.fake.sent[0]).toMatchObject({ channel: 'sessionWebhook', msgtype: 'markdown' });
    expect(h.fake.sent[0]!.body.markdown.text).toBe(answer);
    expect(h.logs.some((l) => l.includes('param.templateNotExist'))).toBe(true);
  });

  test('missing Card permission in a group → markdown that @-mentions the sender', async () => {
    h = await startHarness();
    h.fake.faults.revokeScope('Card.Instance.Write');
    await h.send(h.fake.msg.text('hi', { group: true, senderStaffId: 'u9' }));
    expect(h.fake.sent[0]!.body.at).toEqual({ atUserIds: ['u9'], isAtAll: false });
    expect(h.fake.sent[0]!.body.markdown.text).toContain('@u9');
  });

  test.each([
    ['401', { gatewayToken: 'wrong-token' }, undefined, 'gatewayToken'],
    ['405', {}, { kind: 'status' as const, status: 405 }, 'chatCompletions'],
  ])('gateway %s: the card ends FAILED with the hint that names the fix', async (_name, config, reply, hint) => {
    h = await startHarness({ config });
    if (reply) h.gw.respond = () => reply;
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    const [card] = h.fake.cardList();
    expect(card!.flowStatusHistory.at(-1)).toBe('5');
    expect(card!.streams.msgContent!.content).toContain(hint);
    expect(card!.streams.msgContent!.updates.at(-1)).toMatchObject({ isFinalize: true, isError: true });
  });

  test('gateway refused: the user is told to check that the gateway runs; English for English', async () => {
    const port = await closedPort();
    h = await startHarness({ config: { gatewayUrl: `http://127.0.0.1:${port}/v1/chat/completions` } });
    await h.send(h.fake.msg.text('hello there', { senderStaffId: 'u1' }));
    const text = h.fake.cardList()[0]!.streams.msgContent!.content;
    expect(text).toContain('Cannot reach the gateway');
    expect(text).toContain('gatewayUrl');
  });

  test('gateway failure and no card → the hint still reaches the user as markdown', async () => {
    h = await startHarness();
    h.fake.faults.rejectCardCreate();
    h.gw.respond = () => ({ kind: 'status', status: 405 });
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    expect(h.fake.sent[0]!.body.markdown.text).toContain('gateway.http.endpoints.chatCompletions.enabled');
  });

  test('a redelivered message (same msgId, new frame id) is answered once', async () => {
    h = await startHarness();
    const payload = h.fake.msg.text('只回答一次', { senderStaffId: 'u1' });
    await h.send(payload);
    const again = h.fake.pushRobotMessage(payload);
    await h.fake.waitForAck(again.messageId, { within: 1000 });
    await new Promise((r) => setTimeout(r, 200));
    expect(h.gw.requests).toHaveLength(1);
    expect(h.fake.cardList()).toHaveLength(1);
    expect(h.logs.some((l) => l.includes('already handled'))).toBe(true);
  });

  test('messages of one conversation are answered in order; other conversations do not wait', async () => {
    h = await startHarness();
    h.gw.respond = (req) => ({ kind: 'stream', deltas: chunkText(`A:${lastUserText(req)}`), delayMs: lastUserText(req) === 'slow' ? 40 : 1 });
    const m1 = h.fake.pushRobotMessage(h.fake.msg.text('slow', { senderStaffId: 'u1' }));
    const m2 = h.fake.pushRobotMessage(h.fake.msg.text('second', { senderStaffId: 'u1' }));
    const m3 = h.fake.pushRobotMessage(h.fake.msg.text('other', { senderStaffId: 'u2' }));
    for (const m of [m1, m2, m3]) await h.fake.waitForAck(m.messageId, { within: 1000 });
    await h.fake.waitFor(() => h!.fake.cardList().filter((c) => c.flowStatusHistory.at(-1) === '3').length === 3, { timeoutMs: 5000 });
    const order = h.gw.requests.map((r) => lastUserText(r));
    expect(order.indexOf('second')).toBeGreaterThan(order.indexOf('slow'));
    expect(order.indexOf('other')).toBeLessThan(order.indexOf('second'));
  });

  test('in a group, one member with 5 messages waiting gets no 6th taken (told so); another member is answered after at most those 5', async () => {
    h = await startHarness();
    h.gw.respond = (req) => ({ kind: 'stream', deltas: chunkText(`A:${lastUserText(req)}`), delayMs: 30 });
    const group = { group: true, conversationId: 'cidBUSY==' } as const;
    const burst = ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7'].map((q) => h!.fake.pushRobotMessage(h!.fake.msg.text(q, { ...group, senderStaffId: 'flooder' })));
    const other = h.fake.pushRobotMessage(h.fake.msg.text('colleague', { ...group, senderStaffId: 'u2' }));
    for (const m of [...burst, other]) await h.fake.waitForAck(m.messageId, { within: 1000 });
    await h.fake.waitFor(() => h!.gw.requests.length === 6 && h!.fake.cardList().filter((c) => c.flowStatusHistory.at(-1) === '3').length === 6, { timeoutMs: 5000 });
    expect(h.gw.requests.map((r) => lastUserText(r).split('\n').at(-1))).toEqual(['q1', 'q2', 'q3', 'q4', 'q5', 'colleague']);
    const notices = h.fake.calls.filter((c) => c.path === '/robot/sendBySession').map((c) => (c.body as { markdown: { text: string } }).markdown.text);
    // q6 and q7 are not taken; the member hears it once (src/notices.ts: once a minute), q7's line is only logged.
    expect(notices.filter((t) => t.startsWith('⏳ You already have 5 messages waiting for an answer; this one was not taken.'))).toHaveLength(1);
    expect(h.logs.filter((l) => l.includes('queueFull notice not sent'))).toHaveLength(1);
    expect(notices.at(-1)).toBe('⏳ 5 earlier message(s) are being answered first; yours is next in line.\n\n@u2');
  });

  test('malformed frames are ACKed (when they have an id) and logged; the next message is still answered', async () => {
    h = await startHarness();
    h.fake.pushRaw('{this is not json');
    const bad = h.fake.pushCallback('/v1.0/im/bot/messages/get', 'not an object');
    await h.fake.waitForAck(bad.messageId, { within: 1000 });
    await h.send(h.fake.msg.text('still here?', { senderStaffId: 'u1' }));
    expect(h.logs.some((l) => l.includes('not JSON'))).toBe(true);
    expect(h.logs.some((l) => l.includes('data is not an object'))).toBe(true);
    expect(h.fake.cardList()).toHaveLength(1);
  });

  test('no secret appears in any log line', async () => {
    h = await startHarness({ config: { gatewayToken: 'wrong-token-value' } });
    await h.send(h.fake.msg.text('hi', { senderStaffId: 'u1' }));
    const all = h.logs.join('\n');
    expect(all).not.toContain('SECRET');
    expect(all).not.toContain('wrong-token-value');
    expect(all).not.toContain(h.fake.token());
  });
});

describe('stopping mid-answer', () => {
  test('the card is closed with a restart note instead of hanging in INPUTING', async () => {
    h = await startHarness();
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText('一个很长的回答'.repeat(20), 2), delayMs: 30 });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('你好', { senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    await h.fake.waitFor(() => h!.fake.cardList()[0]?.streams.msgContent?.updates.length);
    await h.stop();
    const card = h.fake.cardList()[0]!;
    expect(card.flowStatusHistory.at(-1)).toBe('5');
    expect(card.streams.msgContent!.content).toContain('服务正在重启');
  });
});

describe('when the state store fails', () => {
  test('the message is still answered (a dedupe failure never loses a reply)', async () => {
    const store = new MemoryStore();
    store.claim = async () => {
      throw new Error('disk full');
    };
    h = await startHarness({ store });
    await h.send(h.fake.msg.text('还在吗', { senderStaffId: 'u1' }));
    expect(h.fake.cardList()[0]!.streams.msgContent!.content).toBe('Echo: 还在吗');
    expect(h.logs.some((l) => l.includes('dedupe store failed (disk full); answering anyway'))).toBe(true);
  });
});

describe('long answers: the card holds the first part, the rest follows in order, once', () => {
  /** A long answer of paragraphs, code blocks and tables, in Chinese or English, ending with a marker line. */
  function longAnswer(chars: number, lang: 'zh' | 'en'): string {
    const parts: string[] = [];
    let size = 0;
    for (let i = 0; size < chars; i++) {
      let part: string;
      if (i % 5 === 3) {
        part = `\`\`\`python\n${Array.from({ length: 40 }, (_, k) => `def step_${i}_${k}(x):\n    return x * ${k}  # ${lang === 'zh' ? '第' + k + '步' : 'step ' + k}`).join('\n\n')}\n\`\`\``;
      } else if (i % 5 === 1) {
        const head = lang === 'zh' ? '| 项目 | 状态 | 说明 |' : '| Item | State | Note |';
        part = `${head}\n|---|---|---|\n${Array.from({ length: 30 }, (_, k) => `| ${i}-${k} | ${k % 2 ? 'ok' : 'todo'} | ${lang === 'zh' ? '这一行说明了第' + k + '项的情况' : 'this row explains item ' + k} |`).join('\n')}`;
      } else {
        const sentence = lang === 'zh' ? `第${i}段：钉钉机器人需要把很长的回答完整地发给用户，不能丢失任何内容。` : `Paragraph ${i}: the robot must deliver a long answer completely, losing nothing. `;
        part = sentence.repeat(lang === 'zh' ? 12 : 8);
      }
      parts.push(part);
      size += part.length + 2;
    }
    parts.push('END-OF-ANSWER');
    return parts.join('\n\n');
  }

  /** The visible lines, without the fence and table-header lines the split adds for each part to render alone. */
  function bodyLines(text: string): string[] {
    const lines = text.split('\n');
    // Trailing spaces at a cut are not shown and may go.
    return lines.filter((l, i) => l.trim() !== '' && !/^\s*```/.test(l) && !/^\|[\s:|-]+\|$/.test(l) && !/^\|[\s:|-]+\|$/.test(lines[i + 1] ?? '')).map((l) => l.trimEnd());
  }

  test.each([
    [5_000, 'zh'],
    [5_000, 'en'],
    [60_000, 'zh'],
    [60_000, 'en'],
  ] as const)('%i characters (%s)', async (chars, lang) => {
    h = await startHarness();
    const answer = longAnswer(chars, lang);
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 1500) });
    await h.send(h.fake.msg.text(lang === 'zh' ? '写一份详细的报告' : 'Write a detailed report', { senderStaffId: 'u1' }));
    const messages = () => h!.fake.sent.filter((s) => s.msgtype === 'markdown').map((s) => s.body.markdown.text as string);
    await h.fake.waitFor(() => messages().some((m) => m.endsWith('END-OF-ANSWER')), { timeoutMs: 30_000 });

    const card = h.fake.cardList()[0]!;
    const shown = card.streams.msgContent!;
    const note = lang === 'zh' ? '（回答较长，其余部分在下方消息中继续）' : '(The answer is long; it continues in the messages below.)';
    expect(card.flowStatusHistory.at(-1)).toBe('3');
    expect(shown.content.endsWith(`\n\n${note}`)).toBe(true);
    // Never more than the card holds, while streaming either.
    for (const u of shown.updates) expect(u.content.length).toBeLessThanOrEqual(2500);
    for (const m of messages()) {
      expect(m.length).toBeLessThanOrEqual(3500);
      // Every part renders on its own: code fences balanced.
      expect(m.split('\n').filter((l) => /^\s*```/.test(l)).length % 2).toBe(0);
    }
    // All of it, in order, once: the card's part then the messages give back the answer line for line.
    const delivered = [shown.content.slice(0, -note.length), ...messages()].flatMap(bodyLines);
    expect(delivered).toEqual(bodyLines(answer));
  }, 60_000);

  /** Markdown messages with their arrival time at the fake (performance.now(), the gateway timings' clock). */
  const messageCalls = (h: Harness) =>
    h.fake.calls.filter((c) => c.path === '/robot/sendBySession' && (c.response as { errcode?: number }).errcode === 0).map((c) => ({ mono: c.mono, text: (c.body as { markdown: { text: string } }).markdown.text }));

  test('while a long answer still streams, its card is finished with the first part and each complete part follows as a message', async () => {
    h = await startHarness({ cardIntervalMs: 50 });
    const answer = longAnswer(12_000, 'zh');
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 200), delayMs: 25, pace: 'between' });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('写一份详细的报告', { senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    await h.fake.waitFor(() => messageCalls(h!).some((m) => m.text.endsWith('END-OF-ANSWER')), { timeoutMs: 30_000 });

    const lastToken = h.gw.timings[0]!.lastDelta!;
    const messages = messageCalls(h);
    // The user reads on while the answer streams: at least one part arrived before the last token left the gateway.
    expect(messages.filter((m) => m.mono < lastToken).length).toBeGreaterThanOrEqual(1);
    const card = h.fake.cardList()[0]!;
    const note = '（回答较长，其余部分在下方消息中继续）';
    // The card shows its part and the note, FINISHED before the first message, and was never written after that.
    expect(card.flowStatusHistory).toEqual(['2', '3']);
    expect(card.params.msgContent).toMatch(new RegExp(`\n\n${note}$`));
    const cardWrites = h.fake.calls.filter((c) => c.path.startsWith('/v1.0/card/'));
    expect(cardWrites.at(-1)!.mono).toBeLessThan(messages[0]!.mono);
    expect(card.streams.msgContent!.updates.some((u) => u.afterFinalize)).toBe(false);
    expect(cardWrites.map((c) => `${c.method} ${c.path}`).filter((c) => !c.endsWith('/streaming') || c.startsWith('PUT'))).toContain('PUT /v1.0/card/instances');
    // All of it, in order, once; each part within the message size and rendering on its own.
    for (const m of messages) {
      expect(m.text.length).toBeLessThanOrEqual(3500);
      expect(m.text.split('\n').filter((l) => /^\s*```/.test(l)).length % 2).toBe(0);
    }
    expect([card.params.msgContent!.slice(0, -note.length), ...messages.map((m) => m.text)].flatMap(bodyLines)).toEqual(bodyLines(answer));
  }, 60_000);

  test('an early part no route could take is not overtaken: at the end it goes out with all that follows, in order; nothing is kept for later', async () => {
    h = await startHarness({ cardIntervalMs: 50 });
    const answer = longAnswer(14_000, 'zh');
    // The first early part fails on both routes (the sessionWebhook, then the robot API); later sends work again.
    h.fake.faults.add({ match: { path: '/robot/sendBySession', times: 1 }, action: { status: 200, body: { errcode: 400013, errmsg: 'busy' } } });
    h.fake.faults.add({ match: { path: '/v1.0/robot/oToMessages/batchSend', times: 1 }, action: { status: 403, body: { code: 'Forbidden.AccessDenied', message: 'no' } } });
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 200), delayMs: 20, pace: 'between' });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('写一份详细的报告', { senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    const messages = () => h!.fake.sent.filter((s) => s.msgtype === 'markdown' || s.msgtype === 'sampleMarkdown').map((s) => (s.body.markdown?.text ?? s.body.text) as string);
    await h.fake.waitFor(() => messages().some((m) => m.endsWith('END-OF-ANSWER')), { timeoutMs: 30_000 });
    const card = h.fake.cardList()[0]!;
    const note = '（回答较长，其余部分在下方消息中继续）';
    expect(card.flowStatusHistory).toEqual(['2', '3']);
    // The user reads the whole answer once, in order, now (not part of it on their next message).
    expect([card.params.msgContent!.slice(0, -note.length), ...messages()].flatMap(bodyLines)).toEqual(bodyLines(answer));
    await h.send(h.fake.msg.text('谢谢', { senderStaffId: 'u1' }));
    // Nothing was kept: the next message brings no earlier answer.
    expect(messages().some((m) => m.includes('之前有一条回答没能送达'))).toBe(false);
  }, 60_000);

  test('in a group, a long answer @-mentions the asker in its first message only', async () => {
    h = await startHarness({ cardIntervalMs: 50 });
    const answer = longAnswer(20_000, 'zh');
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 400), delayMs: 10, pace: 'between' });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('写一份详细的报告', { group: true, senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    const messages = () => h!.fake.sent.filter((s) => s.msgtype === 'markdown');
    await h.fake.waitFor(() => messages().some((m) => (m.body.markdown.text as string).includes('END-OF-ANSWER')), { timeoutMs: 30_000 });
    const ms = messages();
    expect(ms.length).toBeGreaterThanOrEqual(4);
    expect(ms.map((m) => m.body.at?.atUserIds ?? [])).toEqual([['u1'], ...ms.slice(1).map(() => [])]);
    for (const m of ms) expect((m.body.markdown.text as string).length).toBeLessThanOrEqual(3_500 + '\n\n@u1'.length);
  }, 60_000);

  test('the answer breaks off after its card was finished early: the card stays FINISHED with its part; the rest and one failure note follow, nothing twice', async () => {
    h = await startHarness({ cardIntervalMs: 50 });
    const answer = longAnswer(12_000, 'zh').replace(/\n\nEND-OF-ANSWER$/, '');
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 200), delayMs: 25, pace: 'between', cut: true });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('写一份详细的报告', { senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    await h.fake.waitFor(() => messageCalls(h!).some((m) => /（编号 [0-9a-f]{6}）/.test(m.text)), { timeoutMs: 30_000 });

    const card = h.fake.cardList()[0]!;
    expect(card.flowStatusHistory).toEqual(['2', '3']);
    const messages = messageCalls(h).map((m) => m.text);
    const note = '（回答较长，其余部分在下方消息中继续）';
    const lines = [card.params.msgContent!.slice(0, -note.length), ...messages].flatMap(bodyLines);
    // Everything that streamed, once and in order, then the failure note as the last thing the user reads.
    expect(lines.slice(0, bodyLines(answer).length)).toEqual(bodyLines(answer));
    expect(lines.length).toBeGreaterThan(bodyLines(answer).length);
    expect(messages.at(-1)).toMatch(/⚠️.*（编号 [0-9a-f]{6}）$/);
  }, 60_000);

  test('a card that cannot be finished early: nothing goes out early; the whole answer is one delivery at the end and the card says where it went', async () => {
    h = await startHarness({ cardIntervalMs: 50 });
    const isFinal = (r: { body: unknown }) => (r.body as { isFinalize?: boolean }).isFinalize === true;
    const tooLarge = { status: 400, body: { code: 'param.stream.content', message: 'content is too large' } };
    h.fake.faults.add({ match: { path: '/v1.0/card/streaming', when: isFinal }, action: tooLarge });
    h.fake.faults.add({ match: { path: '/v1.0/card/instances', method: 'PUT', times: 1 }, action: tooLarge });
    const answer = longAnswer(12_000, 'zh');
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 200), delayMs: 25, pace: 'between' });
    const { messageId } = h.fake.pushRobotMessage(h.fake.msg.text('写一份详细的报告', { senderStaffId: 'u1' }));
    await h.fake.waitForAck(messageId);
    await h.fake.waitFor(() => messageCalls(h!).some((m) => m.text.endsWith('END-OF-ANSWER')), { timeoutMs: 30_000 });
    await h.fake.waitFor(() => ['3', '5'].includes(h!.fake.cardList()[0]!.flowStatusHistory.at(-1) ?? ''));

    const lastToken = h.gw.timings[0]!.lastDelta!;
    const messages = messageCalls(h);
    expect(messages.filter((m) => m.mono < lastToken)).toEqual([]);
    expect(messages.map((m) => m.text).flatMap(bodyLines)).toEqual(bodyLines(answer));
    // Not typing: the card is closed with the note saying the answer went out as a message.
    const card = h.fake.cardList()[0]!;
    expect(card.flowStatusHistory.at(-1)).toBe('5');
    expect(card.params.msgContent).toBe('💬 回答已以消息形式发送（见下方）。');
  }, 60_000);
});
