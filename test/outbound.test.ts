import { afterEach, describe, expect, test } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import plugin from '../plugin.ts';
import type { DingTalkChannel } from '../src/channel.ts';
import { AppBudget } from '../src/dingtalk/budget.ts';
import { MARKDOWN_CHUNK_CHARS } from '../src/deliver.ts';
import { formatTarget, parseTarget, TARGET_FORMS } from '../src/outbound.ts';
import { startHarness, type Harness } from './harness.ts';
import { chunkText } from './fake-gateway/index.ts';
import { startFakeDingTalk, type FakeDingTalk } from './fake-dingtalk/index.ts';

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(200, 7)]);
const PDF = Buffer.from('%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n');
const CID = 'cid8tfOR+7uip234mJoPjImGsuJt4fHDZ7qaZmlW1GdaOk=';

function channel(config?: Record<string, unknown>): DingTalkChannel {
  let ch: DingTalkChannel | undefined;
  plugin.register({ registerChannel: (r) => (ch = r.plugin), logger: { info() {}, warn() {}, error() {} }, ...(config ? { config } : {}) });
  return ch!;
}

let h: Harness | undefined;
let fake: FakeDingTalk | undefined;
const cleanup: string[] = [];
afterEach(async () => {
  await h?.close();
  await fake?.close();
  h = undefined;
  fake = undefined;
  for (const dir of cleanup.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('outbound targets', () => {
  test.each([
    ['user:030008551219215', 'user:030008551219215'],
    ['group:' + CID, 'group:' + CID],
    ['dingtalk-ai:user:Manager_01', 'user:Manager_01'],
    ['dingtalk-ai:group:' + CID, 'group:' + CID],
    ['DingTalk:DM:abc-1', 'user:abc-1'],
    ['  030008551219215  ', 'user:030008551219215'],
    [CID, 'group:' + CID],
    ['channel:' + CID, 'group:' + CID],
    // A bare id is a group only with a character no staffId has (+ / =): openConversationIds end in base64 padding.
    ['cidney', 'user:cidney'],
    ['cidGRP001==', 'group:cidGRP001=='],
    ['group:cidney', 'group:cidney'],
    // What a paste or a Chinese IME adds: a zero-width space, a BOM, the full-width colon and digits.
    ['user:030008551219215\u200b', 'user:030008551219215'],
    ['\ufeffgroup:' + CID, 'group:' + CID],
    ['user\uff1a030008551219215', 'user:030008551219215'],
    ['user:\uff10\uff13\uff10\uff10', 'user:0300'],
  ])('%j reads as %s (case kept)', (raw, canonical) => {
    expect(formatTarget(parseTarget(raw))).toBe(canonical);
  });

  test.each([
    ['', 'it is empty'],
    ['dingtalk-ai:', 'it is empty'],
    ['user:', 'the id after the prefix is missing'],
    ['$:LWCP_v1:$pTZor09tFmT3sHMgZEYEow==', 'is a senderId'],
    ['user:$:LWCP_v1:$pTZor09', 'is a senderId'],
    ['group:12345', 'is not an openConversationId (they start with "cid")'],
    ['张三', 'is not a staffId'],
    ['user:a b', 'is not a staffId'],
    ['user:.', 'is not a staffId'],
    ['user:..', 'is not a staffId'],
    ['user:@', 'is not a staffId'],
    ['group:cid', 'is not an openConversationId'],
    ['user:u1\nu2', 'it contains a control character (U+000A) at position 3 of the id'],
  ])('"%s" is refused: %s, naming the accepted forms', (raw, why) => {
    expect(() => parseTarget(raw)).toThrow(why);
    expect(() => parseTarget(raw)).toThrow(`use ${TARGET_FORMS}`);
  });

  test('a huge target is refused by its length, and the error does not repeat it', () => {
    const huge = 'group:cid' + 'A'.repeat(100_000) + '==';
    const err = (() => {
      try {
        parseTarget(huge);
      } catch (e) {
        return e as Error;
      }
    })()!;
    expect(err.message).toContain('it is 100011 characters long, more than any DingTalk id (at most 256)');
    expect(err.message).toContain(`"${huge.slice(0, 60)}…"`);
    expect(err.message.length).toBeLessThan(500);
    expect(() => parseTarget('user:' + 'a'.repeat(65))).toThrow(/"a{40}…" is not a staffId/);
  });

  test('the host adapter: resolveTarget canonicalises or returns the error; normalizeTarget never lower-cases an id', () => {
    const ch = channel();
    expect(ch.outbound.resolveTarget({ to: 'dingtalk-ai:user:Manager_01' })).toEqual({ ok: true, to: 'user:Manager_01' });
    const bad = ch.outbound.resolveTarget({ to: 'Zhang San' });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error.message).toContain('user:<staffId> or group:<openConversationId>');
    expect(ch.messaging.normalizeTarget(CID)).toBe('group:' + CID);
    expect(ch.messaging.normalizeTarget('Zhang San')).toBe('Zhang San');
    expect(ch.messaging.targetResolver.looksLikeId('anything')).toBe(true);
    expect(ch.outbound.deliveryMode).toBe('gateway');
  });
});

describe('outbound sends through the running account', () => {
  test('text to a user and markdown to a group, through the robot OpenAPI, normalised; ids returned', async () => {
    h = await startHarness();
    const ch = channel();
    const dm = await ch.outbound.sendText({ to: 'user:u1', text: '每日提醒：<b>九点</b>开会' });
    const group = await ch.outbound.sendText({ to: CID, text: '| a | b |\n|---|---|\n| 1 | 2 |' });
    const [oto, grp] = h.fake.sent;
    expect(h.fake.sent).toHaveLength(2);
    expect(oto).toMatchObject({ channel: 'oto', target: ['u1'], msgtype: 'sampleMarkdown', body: { text: '每日提醒：**九点**开会', title: '每日提醒：九点开会' } });
    expect(grp).toMatchObject({ channel: 'group', target: CID, msgtype: 'sampleMarkdown', body: { text: '| a | b |\n| --- | --- |\n| 1 | 2 |' } });
    expect(dm).toEqual({ channel: 'dingtalk-ai', messageId: oto!.processQueryKey, messageIds: [oto!.processQueryKey], to: 'user:u1' });
    expect(group.to).toBe('group:' + CID);
    expect(h.logs).toContain('INFO [dingtalk-ai] [default] outbound: sent 1 message(s) to user:u1');
  });

  test('long text is split at paragraph and code-fence boundaries, every part renders on its own, in order', async () => {
    h = await startHarness();
    const para = (i: number) => `第 ${i} 段：${'内容'.repeat(1000)}`;
    const code = '```ts\n' + Array.from({ length: 120 }, (_, i) => `const line${i} = ${i};`).join('\n') + '\n```';
    const text = [para(1), para(2), para(3), code, para(4)].join('\n\n');
    const res = await channel().outbound.sendText({ to: 'user:u1', text });
    const parts = h.fake.sent.map((s) => s.body.text as string);
    expect(parts.length).toBeGreaterThan(2);
    expect(res.messageIds).toEqual(h.fake.sent.map((s) => s.processQueryKey));
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(MARKDOWN_CHUNK_CHARS);
      expect((p.match(/^```/gm) ?? []).length % 2).toBe(0); // fences balanced in every message
    }
    // Nothing lost: the parts without the fences added at the cuts are the text again.
    const joined = parts.join('\n\n').replace(/\n```\n\n```ts\n/g, '\n');
    expect(joined).toBe(text);
  });

  test('a message showing how to attach a file (MEDIA: in a code block, an image in inline code) is sent as written; nothing is uploaded', async () => {
    h = await startHarness();
    const dir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    cleanup.push(dir);
    const pdf = join(dir, 'a.pdf');
    await writeFile(pdf, PDF);
    const text = `附件写法：\n\n\`\`\`\nMEDIA: ${pdf}\n\`\`\`\n\n或者行内：\`![x](${pdf})\``;
    await channel().outbound.sendText({ to: 'user:u1', text });
    expect(h.fake.sent.map((s) => [s.msgtype, s.body.text])).toEqual([['sampleMarkdown', text]]);
    expect(h.fake.media.size).toBe(0);
  });

  test('an image is checked, uploaded once and shown inline under the caption; a file follows its caption as a file message', async () => {
    h = await startHarness();
    const dir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    await writeFile(join(dir, 'chart.png'), PNG);
    await writeFile(join(dir, '周报.pdf'), PDF);
    const ch = channel();
    await ch.outbound.sendMedia({ to: 'user:u1', text: '今天的图表', mediaUrl: join(dir, 'chart.png') });
    const file = await ch.outbound.sendMedia({ to: 'group:' + CID, text: '周报见附件', mediaUrl: 'file://' + encodeURI(join(dir, '周报.pdf')) });
    const [img, pdf] = [...h.fake.media.values()];
    expect(img).toMatchObject({ type: 'image', filename: 'chart.png', size: PNG.length });
    expect(pdf).toMatchObject({ type: 'file', filename: '周报.pdf', size: PDF.length });
    expect(h.fake.sent.map((s) => [s.channel, s.msgtype, s.body])).toEqual([
      ['oto', 'sampleMarkdown', { title: '今天的图表 chart.png', text: `今天的图表\n\n![chart.png](${img!.mediaId})` }],
      ['group', 'sampleMarkdown', { title: '周报见附件', text: '周报见附件' }],
      ['group', 'sampleFile', { mediaId: pdf!.mediaId, fileName: '周报.pdf', fileType: 'pdf' }],
    ]);
    expect(file.messageIds).toHaveLength(2);
  });

  test('media URLs: a malformed one names the URL and the fix, nothing sent; a link name with "](" or brackets keeps the markdown whole', async () => {
    h = await startHarness();
    const ch = channel();
    await expect(ch.outbound.sendMedia({ to: 'user:u1', text: '', mediaUrl: 'https://example.com/%E0%A4%A' })).rejects.toThrow(
      'media not sent: "https://example.com/%E0%A4%A" has a broken percent-escape in its path ("%" must be followed by two hex digits; write a literal "%" as %25); fix the URL',
    );
    await expect(ch.outbound.sendMedia({ to: 'user:u1', text: '', mediaUrl: 'https://exa mple.com/' + 'x'.repeat(500) })).rejects.toThrow(
      /^media not sent: "https:\/\/exa mple\.com\/x{39}…" is not a valid URL; check it/,
    );
    expect(h.fake.sent).toEqual([]);
    await ch.outbound.sendMedia({ to: 'user:u1', text: '报告', mediaUrl: 'https://example.com/files/a%5D(x)%5Bb.pdf' });
    await ch.outbound.sendMedia({ to: 'user:u1', text: '', mediaUrl: 'https://example.com/img/(1).png' });
    expect(h.fake.sent.map((m) => m.body?.text)).toEqual([
      '报告\n\n[a\\](x)\\[b.pdf](https://example.com/files/a%5D%28x%29%5Bb.pdf)',
      '![(1).png](https://example.com/img/%281%29.png)',
    ]);
  });

  test('DingTalk\'s error body never reaches the host: the error names the cause, the fix, the code and the requestid', async () => {
    h = await startHarness();
    const logged: string[] = [];
    let ch: DingTalkChannel | undefined;
    const keep = (m: string) => void logged.push(m);
    plugin.register({ registerChannel: (r) => (ch = r.plugin), logger: { info: keep, warn: keep, error: keep } });
    h.fake.faults.add({
      match: { path: '/v1.0/robot/oToMessages/batchSend', times: 1 },
      action: { status: 400, body: { code: 'invalidParameter', message: 'internal at http://10.1.2.3:8080 token=TOKEN_SECRET_123', requestid: 'RID-42' } },
    });
    const err = (await ch!.outbound.sendText({ to: 'user:u1', text: 'hi' }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(
      "DingTalk refused robot.batchSend (code invalidParameter, HTTP 400, requestid RID-42): DingTalk found the request invalid: check the target id (a staffId or an openConversationId the robot belongs to) and the message; the gateway log has DingTalk's detail",
    );
    expect(logged.some((l) => l.includes('outbound: send to user:u1 failed') && l.includes('RID-42'))).toBe(true);
  });

  test('an upload DingTalk refuses: the error names the file, the cause in our words, the code and the requestid, never DingTalk\'s errmsg', async () => {
    h = await startHarness();
    const dir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    cleanup.push(dir);
    await writeFile(join(dir, 'chart.png'), PNG);
    h.fake.faults.add({ match: { path: '/media/upload' }, action: { status: 200, body: { errcode: 40035, errmsg: 'denied at 10.1.2.3 token=TOK_X', request_id: 'RQ9' } } });
    const err = (await channel().outbound.sendMedia({ to: 'user:u1', text: 'x', mediaUrl: join(dir, 'chart.png') }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(
      "media not sent: chart.png refused (upload-failed): upload to DingTalk failed: DingTalk refused media.upload (code 40035, HTTP 200, requestid RQ9): DingTalk refused the file: check that the app may upload files (DingTalk developer console, 权限管理) and the file's type and size; the gateway log has DingTalk's detail",
    );
    expect(h.fake.sent).toHaveLength(0);
  });

  test('a file outside the allowed folders is refused with the reason and the fix; nothing is uploaded or sent', async () => {
    h = await startHarness();
    // Not under the repo: a clone under /tmp is inside the allowed tmp root. The home folder is no root (src/media/policy.ts).
    const dir = await mkdtemp(join(homedir(), '.dt-outside-'));
    expect(dir.startsWith(tmpdir())).toBe(false);
    cleanup.push(dir);
    await writeFile(join(dir, 'secret.pdf'), PDF);
    await expect(channel().outbound.sendMedia({ to: 'user:u1', text: 'x', mediaUrl: join(dir, 'secret.pdf') })).rejects.toThrow(
      /^media not sent: secret\.pdf refused \(outside-roots\): .* is outside the allowed folders .*; to allow it, add its folder to channels\.dingtalk-ai\.mediaRoots$/,
    );
    await expect(channel().outbound.sendMedia({ to: 'user:u1', text: 'x', mediaUrl: 'reports/a.pdf' })).rejects.toThrow('neither an absolute local path');
    expect(h.fake.media.size).toBe(0);
    expect(h.fake.sent).toHaveLength(0);
  });

  test('a send cut part-way says which parts arrived: 3 parts, the 2nd flow-controlled → part 1 of 3 delivered, the 3rd never tried', async () => {
    h = await startHarness();
    h.fake.faults.add({
      match: { path: '/v1.0/robot/oToMessages/batchSend', nth: 2, times: 1 },
      action: { status: 200, body: { processQueryKey: 'k', invalidStaffIdList: [], flowControlledStaffIdList: ['u1'] } },
    });
    const text = [1, 2, 3].map((i) => `第 ${i} 段：${'内容'.repeat(1500)}`).join('\n\n');
    const err = (await channel().outbound.sendText({ to: 'user:u1', text }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(
      'robot message not delivered: DingTalk flow-controlled the message to u1 (flowControlledStaffIdList: too many robot messages to this user); send less often, or later; ' +
        'part 2 of 3 not delivered and not tried after it; part 1 of 3 was delivered (send only the rest again)',
    );
    // The fake records what DingTalk delivered: the 1st part only.
    expect(h.fake.sent.map((s) => (s.body.text as string).slice(0, 5))).toEqual(['第 1 段']);
    expect(h.fake.stats.count('/v1.0/robot/oToMessages/batchSend')).toBe(2);
  });

  test('a file after its caption that DingTalk refuses: parts 1-2 of 3 delivered; DingTalk\'s words stay out, its code is named', async () => {
    h = await startHarness();
    const dir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    cleanup.push(dir);
    await writeFile(join(dir, 'a.pdf'), PDF);
    h.fake.faults.add({
      match: { path: '/v1.0/robot/oToMessages/batchSend', nth: 3, times: 1 },
      action: { status: 400, body: { code: 'invalidParameter.userIds.invalid', message: 'internal detail 10.0.0.7' } },
    });
    const caption = [1, 2].map((i) => `说明 ${i}：${'内容'.repeat(1500)}`).join('\n\n');
    const err = (await channel().outbound.sendMedia({ to: 'user:u1', text: caption, mediaUrl: join(dir, 'a.pdf') }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^DingTalk refused robot\.batchSend \(code invalidParameter\.userIds\.invalid, HTTP 400.*; part 3 of 3 not delivered and not tried after it; parts 1-2 of 3 were delivered \(send only the rest again\)$/);
    expect(err.message).not.toContain('10.0.0.7');
    expect(h.fake.sent.map((s) => s.msgtype)).toEqual(['sampleMarkdown', 'sampleMarkdown']);
  });

  test('a 200,000-character text is refused before any call, naming its length, the limit and the fix; 10 parts still go out', async () => {
    h = await startHarness();
    const dir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    cleanup.push(dir);
    await writeFile(join(dir, 'chart.png'), PNG);
    const log = Array.from({ length: 2_000 }, (_, i) => `line ${i}: ${'x'.repeat(90)}`).join('\n\n');
    const text = `${log}\n\n![图](${join(dir, 'chart.png')})`;
    await expect(channel().outbound.sendText({ to: 'user:u1', text })).rejects.toThrow(
      `message not sent: its ${text.length} characters would take 60 DingTalk messages, more than the 10 one send may make (about 35000 characters); ` +
        'send it as a file instead (write it to a .pdf, .docx or .zip and attach it: --media / mediaUrl, or a "MEDIA: <path>" line), or send a shorter summary',
    );
    // A caption that long with a file is refused before the upload.
    await expect(channel().outbound.sendMedia({ to: 'user:u1', text: log, mediaUrl: join(dir, 'chart.png') })).rejects.toThrow(`message not sent: its ${log.length} characters would take 61 DingTalk messages`);
    expect(h.fake.sent).toHaveLength(0);
    expect(h.fake.media.size).toBe(0);
    expect(h.fake.calls.filter((c) => c.quota)).toHaveLength(0);
    // At the limit: 10 parts are sent.
    const ten = Array.from({ length: 10 }, (_, i) => `第 ${i + 1} 段：${'内容'.repeat(1500)}`).join('\n\n');
    expect((await channel().outbound.sendText({ to: 'user:u1', text: ten })).messageIds).toHaveLength(10);
  });

  test('a 200 that lists the user as invalid fails the send with the list and the fix', async () => {
    h = await startHarness();
    h.fake.faults.add({
      match: { path: '/v1.0/robot/oToMessages/batchSend' },
      action: { status: 200, body: { processQueryKey: 'k', invalidStaffIdList: ['u404'], flowControlledStaffIdList: [] } },
    });
    await expect(channel().outbound.sendText({ to: 'user:u404', text: 'hi' })).rejects.toThrow(
      'DingTalk lists u404 as invalid (invalidStaffIdList): not a staffId of the robot\'s organisation, or outside the app\'s visible range (可见范围)',
    );
  });

  test('the inbound log line prints the sender and the group in the target syntax, ready to copy', async () => {
    h = await startHarness();
    await h.send(h.fake.msg.text('hi', { senderStaffId: 'Manager_01', group: true, conversationId: CID }));
    const line = h.logs.find((l) => l.includes('(text) from'))!;
    expect(line).toMatch(new RegExp(`from user:Manager_01 in group:${CID.replace(/[+=]/g, '\\$&')}$`));
    const fromLog = /from (\S+) in (\S+)$/.exec(line)!;
    expect([formatTarget(parseTarget(fromLog[1]!)), formatTarget(parseTarget(fromLog[2]!))]).toEqual(['user:Manager_01', `group:${CID}`]);
  });

  test('an unreadable target fails before any DingTalk call', async () => {
    h = await startHarness();
    const calls = h.fake.calls.length;
    await expect(channel().outbound.sendText({ to: '$:LWCP_v1:$pTZor09', text: 'hi' })).rejects.toThrow('is a senderId');
    expect(h.fake.calls.length).toBe(calls);
  });

  test('a burst of outbound sends does not hold up an answer: its file message goes ahead of the queued sends', async () => {
    // 4 calls/s less the safety margin: 2 robot sends a second, so six outbound sends take about three seconds.
    h = await startHarness({ budget: new AppBudget({ perSecond: 4 }) });
    const dir = await mkdtemp(join(tmpdir(), 'dt-outbound-'));
    await writeFile(join(dir, 'answer.pdf'), PDF);
    const ch = channel();
    const burst = Array.from({ length: 6 }, (_, i) => ch.outbound.sendText({ to: 'user:u2', text: `通知 ${i}` }));
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(`给你\n\nMEDIA: ${join(dir, 'answer.pdf')}`, 50), delayMs: 1 });
    h.fake.pushRobotMessage(h.fake.msg.text('要报告', { senderStaffId: 'u1' }));
    await Promise.all(burst);
    await h.fake.waitFor(() => h!.fake.sent.some((s) => s.msgtype === 'sampleFile'), { timeoutMs: 10_000 });
    const order = h.fake.sent.filter((s) => s.channel === 'oto').map((s) => (s.msgtype === 'sampleFile' ? 'answer' : s.body.text));
    // FIFO would put the answer's file last; as a final it overtakes every send still waiting.
    expect(order).toHaveLength(7);
    expect(order.indexOf('answer')).toBeLessThan(4);
    expect(order.filter((o) => o !== 'answer')).toEqual(Array.from({ length: 6 }, (_, i) => `通知 ${i}`));
  });
});

describe('outbound sends when the account does not run in this process', () => {
  test('a client is made from the config (the app budget shared), and a disabled or unconfigured account says so', async () => {
    fake = await startFakeDingTalk();
    const section = { clientId: 'dingAPPKEY', clientSecret: 'SECRET', apiBaseUrl: fake.apiBase, oapiBaseUrl: fake.oapiBase, dmPolicy: 'open' as const, allowFrom: ['*'] };
    const cfg = { channels: { 'dingtalk-ai': section } };
    const ch = channel(cfg);
    await ch.outbound.sendText({ to: 'user:u1', text: 'cron 提醒', accountId: 'default' });
    expect(fake.sent).toMatchObject([{ channel: 'oto', target: ['u1'], body: { text: 'cron 提醒' } }]);
    await expect(ch.outbound.sendText({ cfg: { channels: { 'dingtalk-ai': { ...section, enabled: false } } }, to: 'user:u1', text: 'x' })).rejects.toThrow(
      'DingTalk account "default" is disabled (channels.dingtalk-ai.enabled is false); set it to true to send',
    );
    await expect(ch.outbound.sendText({ cfg: { channels: { 'dingtalk-ai': { clientId: 'dingAPPKEY' } } }, to: 'user:u1', text: 'x' })).rejects.toThrow(
      /DingTalk account "default" is not configured: .*clientSecret/,
    );
  });
});
