import { afterEach, describe, expect, test } from 'vitest';
import { deliverMarkdown, isDingTalkWebhook, splitFirst, splitMarkdown, titleOf, UndeliveredError } from '../src/deliver.ts';
import { DingTalkClient } from '../src/dingtalk/client.ts';
import { parseRobotMessage, type InboundMessage } from '../src/inbound.ts';
import { createLogger } from '../src/log.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';
import { startHarness, type Harness } from './harness.ts';

let fake: FakeDingTalk | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const logs: string[] = [];
const log = createLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) });

async function setup(webhookTimeoutMs?: number): Promise<{ client: DingTalkClient; msg: InboundMessage; fake: FakeDingTalk }> {
  const fake_ = (fake = await startFakeDingTalk());
  const client = new DingTalkClient({ clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, log, webhookTimeoutMs });
  const parsed = parseRobotMessage(JSON.stringify(fake.msg.text('你好', { senderStaffId: 'u1' })), 'frame1');
  if (!parsed.ok) throw new Error(parsed.reason);
  return { client, msg: parsed.message, fake: fake_ };
}

const webhookPath = '/robot/sendBySession';

describe('notification title', () => {
  test.each([
    ['每日提醒：<b>九点</b>开会'.replace(/<\/?b>/g, '**'), '每日提醒：九点开会'],
    ['今天的图表\n\n![chart.png](@lADPIH9o89ZU6yEX)', '今天的图表 chart.png'],
    ['## 周报\n- 见 [链接](https://example.com/x)', '周报 见 链接'],
    ['![](@lADPIH9o89ZU6yEX)', 'AI'],
    ['snake_case_name and `code`', 'snake_case_name and code'],
  ])('%j → %j (no media id, URL or markdown mark)', (text, title) => {
    expect(titleOf(text)).toBe(title);
  });
});

describe('sessionWebhook host', () => {
  test("only DingTalk's webhook host (or the configured oapiBaseUrl) and its sendBySession path are accepted", () => {
    const oapi = 'http://127.0.0.1:4000';
    expect(isDingTalkWebhook('https://oapi.dingtalk.com/robot/sendBySession?session=abc', oapi)).toBe(true);
    expect(isDingTalkWebhook('http://127.0.0.1:4000/robot/sendBySession?session=abc', oapi)).toBe(true);
    for (const url of [
      'http://oapi.dingtalk.com/robot/sendBySession?session=abc', // not https
      'https://oapi.dingtalk.com.evil.example/robot/sendBySession?session=abc',
      'https://evil.example/robot/sendBySession?session=abc',
      'https://oapi.dingtalk.com/robot/send?access_token=abc',
      'https://user:pw@oapi.dingtalk.com/robot/sendBySession?session=abc',
      'http://127.0.0.1:4001/robot/sendBySession?session=abc',
      'not a url',
    ]) {
      expect(isDingTalkWebhook(url, oapi), url).toBe(false);
    }
  });
});

describe('exactly once when a webhook send is slow or times out', () => {
  test('a slow webhook answer (under the webhook timeout) counts: one delivery, no robot API copy', async () => {
    const { client, msg, fake } = await setup(1_000);
    fake.faults.add({ match: { path: webhookPath, times: 1 }, action: { delayMs: 400 } });
    await deliverMarkdown(client, msg, '回答', log);
    expect(fake.sent.map((s) => s.channel)).toEqual(['sessionWebhook']);
  });

  test('a webhook that times out may have delivered: the robot API copy says it may be a duplicate', async () => {
    const { client, msg, fake } = await setup(150);
    fake.faults.add({ match: { path: webhookPath, times: 1 }, action: { delayMs: 400 } });
    await deliverMarkdown(client, msg, '回答', log);
    await fake.waitFor(() => fake.sent.length === 2, { timeoutMs: 2000 });
    const [late, copy] = [fake.sent.find((s) => s.channel === 'sessionWebhook')!, fake.sent.find((s) => s.channel === 'oto')!];
    expect(late.body.markdown.text).toBe('回答');
    expect(copy.body.text).toBe('回答\n\n（网络超时后重发：如果你已经收到过这条回答，请忽略本条。）');
  });

  test('a webhook DingTalk refuses (expired session) was not delivered: the robot API sends it once, unmarked', async () => {
    const { client, msg, fake } = await setup();
    fake.faults.sessionExpired();
    await deliverMarkdown(client, msg, '回答', log);
    expect(fake.sent.map((s) => [s.channel, s.body.text])).toEqual([['oto', '回答']]);
  });

  test('no route works → UndeliveredError with the text that is missing', async () => {
    const { client, msg, fake } = await setup();
    fake.faults.sessionExpired();
    fake.faults.monthlyQuotaExhausted();
    const err = await deliverMarkdown(client, msg, '回答', log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UndeliveredError);
    expect((err as UndeliveredError).undelivered).toBe('回答');
  });
});

// The asker is @-mentioned in group answers on every delivery path the protocol allows (spec §3.3, §3.6, §3.7).
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const createBodies = (h: Harness) => h.fake.calls.filter((c) => c.path.endsWith('/card/instances/createAndDeliver')).map((c) => c.body as Record<string, any>);

describe('the asker is @-mentioned in group answers', () => {
  test('AI card: delivered to the group with atUserIds {staffId: nick}; a DM card carries no at', async () => {
    h = await startHarness();
    await h.send(h.fake.msg.text('帮我总结一下', { group: true, senderStaffId: 'u9', senderNick: '李四' }));
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'u9' }));
    const [group, dm] = createBodies(h);
    expect(group!.imGroupOpenDeliverModel).toEqual({ robotCode: 'dingAPPKEY', atUserIds: { u9: '李四' } });
    expect(dm!.imRobotOpenDeliverModel).not.toHaveProperty('atUserIds');
    expect(h.fake.cardList()[0]!.deliveries[0]).toMatchObject({ spaceType: 'IM_GROUP', spaceId: 'cidGRP001==', success: true });
  });

  test('an external sender without a staff id: the card goes out without an at (DingTalk needs a userId)', async () => {
    h = await startHarness();
    const msg = h.fake.msg.text('hi', { group: true, senderNick: '访客' });
    delete (msg as { senderStaffId?: string }).senderStaffId;
    await h.send(msg);
    expect(createBodies(h)[0]!.imGroupOpenDeliverModel).toEqual({ robotCode: 'dingAPPKEY' });
  });

  test('robot OpenAPI (sessionWebhook expired, card refused): groupMessages/send cannot @, so the text names the asker', async () => {
    h = await startHarness();
    h.fake.faults.revokeScope('Card.Instance.Write');
    await h.send(h.fake.msg.text('hi', { group: true, senderStaffId: 'u9', senderNick: '李四', extra: { sessionWebhookExpiredTime: Date.now() - 60_000 } }));
    const [sent] = h.fake.sent;
    expect(sent).toMatchObject({ channel: 'group', target: 'cidGRP001==', msgtype: 'sampleMarkdown' });
    expect(sent!.body.text).toBe('Echo: [李四 says:]\nhi\n\n@李四');
  });
});

describe('one answer, one ping: a group answer in several messages @-mentions the asker in the first only', () => {
  async function groupSetup() {
    const { client, fake } = await setup();
    const parsed = parseRobotMessage(JSON.stringify(fake.msg.text('写报告', { group: true, senderStaffId: 'u1', senderNick: '张三' })), 'frame2');
    if (!parsed.ok) throw new Error(parsed.reason);
    return { client, msg: parsed.message, fake };
  }
  const longText = Array.from({ length: 30 }, (_, i) => `第${i}段：${'内容'.repeat(150)}`).join('\n\n');

  test('sessionWebhook: the first chunk carries the at and the @userId, the others neither', async () => {
    const { client, msg, fake } = await groupSetup();
    await deliverMarkdown(client, msg, longText, log);
    expect(fake.sent.length).toBeGreaterThanOrEqual(3);
    expect(fake.sent.map((s) => s.body.at?.atUserIds ?? [])).toEqual([['u1'], ...fake.sent.slice(1).map(() => [])]);
    expect(fake.sent.map((s) => (s.body.markdown.text as string).endsWith('@u1'))).toEqual([true, ...fake.sent.slice(1).map(() => false)]);
  });

  test('a later message of the same answer (mention: false) mentions nobody, on the robot API route too', async () => {
    const { client, msg, fake } = await groupSetup();
    await deliverMarkdown(client, msg, '续：第二部分', log, { mention: false });
    fake.faults.sessionExpired();
    await deliverMarkdown(client, msg, '续：第三部分', log, { mention: false });
    expect(fake.sent.map((s) => [s.channel, s.body.at?.atUserIds ?? [], s.body.markdown?.text ?? s.body.text])).toEqual([
      ['sessionWebhook', [], '续：第二部分'],
      ['group', [], '续：第三部分'],
    ]);
  });
});

describe('splitting long markdown', () => {
  const fences = (chunk: string) => chunk.split('\n').filter((l) => /^\s*```/.test(l)).length;

  test('each chunk fits, paragraphs are not cut, and a cut code block is closed and reopened with its language', () => {
    const code = Array.from({ length: 80 }, (_, i) => `  console.log(${i}); // 第 ${i} 行`).join('\n');
    const text = `说明一段。\n\n\`\`\`ts\n${code}\n\`\`\`\n\n结尾。`;
    const chunks = splitMarkdown(text, 800);
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks) {
      expect(c.length).toBeLessThanOrEqual(800);
      expect(fences(c) % 2).toBe(0);
    }
    expect(chunks[1]!.startsWith('```ts\n')).toBe(true);
    // Nothing lost, nothing doubled: without the added fence lines the chunks are the original.
    const body = (s: string) => s.split('\n').filter((l) => l.trim() && !/^```/.test(l));
    expect(chunks.flatMap(body)).toEqual(body(text));
  });

  test('a table cut between rows repeats its header so the next chunk renders as a table', () => {
    const rows = Array.from({ length: 60 }, (_, i) => `| 项目 ${i} | ${'说明'.repeat(10)} |`).join('\n');
    const chunks = splitMarkdown(`| 项目 | 说明 |\n| --- | --- |\n${rows}`, 1000);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.startsWith('| 项目 | 说明 |\n| --- | --- |\n')).toBe(true);
  });

  test('a line longer than a chunk is cut hard, never inside a surrogate pair', () => {
    const chunks = splitMarkdown('😀'.repeat(1000), 301);
    expect(chunks.join('')).toBe('😀'.repeat(1000));
    for (const c of chunks) expect(/^(?:😀)+$/u.test(c)).toBe(true);
  });

  test('splitFirst: a text that fits is one part with no rest', () => {
    expect(splitFirst('短文本', 100)).toEqual(['短文本', undefined, 3]);
  });

  test('splitFirst: restAt is where the rest’s own text begins in the input, after the code fence the rest reopens', () => {
    const text = `${'说明'.repeat(20)}\n\n\`\`\`js\n${'step();\n'.repeat(40)}\`\`\``;
    const [head, rest, restAt] = splitFirst(text, 120);
    expect(head.endsWith('\n```')).toBe(true);
    expect(rest!.startsWith('```js\n')).toBe(true);
    expect(rest!.slice('```js\n'.length)).toBe(text.slice(restAt));
    const [, plain, plainAt] = splitFirst(`${'段落'.repeat(30)}\n\n\n${'下一段'.repeat(30)}`, 100);
    expect(plain).toBe('下一段'.repeat(30));
    expect(plainAt).toBe(63);
  });
});
