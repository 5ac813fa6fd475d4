import { afterEach, describe, expect, test } from 'vitest';
import { copyFile, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startHarness, type Harness } from '../harness.ts';
import { chunkText, lastUserText } from '../fake-gateway/index.ts';
import { startSwapper } from './swapper.ts';
import { CLAWDBOT } from '../../src/host.ts';

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(200, 7)]);
const PDF = Buffer.from('%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function answerWith(answer: string) {
  h ??= await startHarness();
  h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 7), delayMs: 2 });
  await h.send(h.fake.msg.text('给我看看', { senderStaffId: 'u1' }));
  return h.fake.cardList().at(-1)!;
}

describe('local media in answers', () => {
  test('an image path is uploaded once, with the right bytes and type, and shown inline in the final card', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-out-'));
    const img = join(dir, 'chart.png');
    await writeFile(img, PNG);
    const card = await answerWith(`这是图表：\n\n![图表](${img})\n\n再看一次 ${img}`);
    const uploads = [...h!.fake.media.values()];
    expect(uploads).toHaveLength(1);
    expect(uploads[0]).toMatchObject({ type: 'image', filename: 'chart.png', sha256: sha(PNG) });
    const id = uploads[0]!.mediaId;
    expect(card.streams.msgContent!.content).toBe(`这是图表：\n\n![图表](${id})\n\n再看一次 ![chart.png](${id})`);
    // No streaming update ever showed the raw local path as an image.
    expect(card.streams.msgContent!.updates.some((u) => u.content.includes(`](${img})`))).toBe(false);
  });

  test('a path with spaces and Chinese characters (markdown and file://)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-out-'));
    const img = join(dir, '季度 报表 图.png');
    await writeFile(img, PNG);
    const card = await answerWith(`![a](<${img}>) and file://${encodeURI(img)}`);
    expect(h!.fake.media.size).toBe(1);
    const id = [...h!.fake.media.keys()][0]!;
    expect(card.streams.msgContent!.content).toBe(`![a](${id}) and ![季度 报表 图.png](${id})`);
  });

  test('refused with a visible note and no upload: symlink out of a root, /etc/passwd, the host config renamed .png, a 25 MB image', async () => {
    h = await startHarness();
    const dir = await mkdtemp(join(tmpdir(), 'dt-out-'));
    const outside = await mkdtemp(join(h.stateDir, 'credentials-'));
    await writeFile(join(outside, 'secret.png'), PNG);
    await symlink(join(outside, 'secret.png'), join(dir, 'escape.png'));
    await writeFile(join(h.stateDir, 'openclaw.json'), JSON.stringify({ gateway: { auth: { token: 'real-secret' } } }));
    await copyFile(join(h.stateDir, 'openclaw.json'), join(dir, 'innocent.png'));
    await writeFile(join(dir, 'huge.png'), Buffer.concat([PNG, Buffer.alloc(25 * 1024 * 1024)]));
    const card = await answerWith(`![1](${join(dir, 'escape.png')})\n![2](/etc/passwd)\n![3](${join(dir, 'innocent.png')})\n![4](${join(dir, 'huge.png')})`);
    expect(h.fake.media.size).toBe(0);
    const lines = card.streams.msgContent!.content.split('\n');
    expect(lines).toEqual([
      '⚠️ 未发送「escape.png」：这是受保护的配置或凭据文件',
      '⚠️ 未发送「passwd」：文件不在允许发送的目录中',
      '⚠️ 未发送「innocent.png」：这是受保护的配置或凭据文件',
      '⚠️ 未发送「huge.png」：超过钉钉的大小限制（20 MB）',
    ]);
    expect(h.logs.filter((l) => l.includes('media: refused'))).toHaveLength(4);
    // The fix is the operator's: the config key is in the log, never in the chat.
    expect(h.logs.find((l) => l.includes('media: refused /etc/passwd'))).toContain('channels.dingtalk-ai.mediaRoots');
    expect(card.streams.msgContent!.content).not.toContain('channels.dingtalk-ai');
  });

  test('a pdf is uploaded as a file, sent as its own message after the card, and named in the card text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-out-'));
    const pdf = join(dir, '报价单.pdf');
    await writeFile(pdf, PDF);
    h = await startHarness();
    h.gw.respond = () => ({ kind: 'stream', deltas: ['报价单已生成。\n', `MEDIA: ${pdf}\n`] });
    await h.send(h.fake.msg.text('生成报价单', { senderStaffId: 'u1' }));
    await h.fake.waitFor(() => h!.fake.sent.some((s) => s.channel === 'oto'));
    const [upload] = [...h.fake.media.values()];
    expect(upload).toMatchObject({ type: 'file', filename: '报价单.pdf', sha256: sha(PDF) });
    const card = h.fake.cardList()[0]!;
    expect(card.streams.msgContent!.content).toBe('报价单已生成。\n📎 报价单.pdf（已作为文件发送）\n');
    const sent = h.fake.sent.find((s) => s.channel === 'oto')!;
    expect(sent).toMatchObject({ msgtype: 'sampleFile', target: ['u1'], body: { mediaId: upload!.mediaId, fileName: '报价单.pdf', fileType: 'pdf' } });
    // The file message follows the finished card.
    const finished = h.fake.calls.findIndex((c) => c.path === '/v1.0/card/instances' && c.method === 'PUT');
    const fileSend = h.fake.calls.findIndex((c) => c.path === '/v1.0/robot/oToMessages/batchSend');
    expect(fileSend).toBeGreaterThan(finished);
  });

  test('an answer explaining the MEDIA: syntax in a code block sends no file and keeps its code as written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-out-'));
    const pdf = join(dir, '报价单.pdf');
    await writeFile(pdf, PDF);
    const answer = `这样写就会发送文件：\n\n\`\`\`\nMEDIA: ${pdf}\n\`\`\`\n\n图片则是 \`![图](${pdf})\``;
    const card = await answerWith(answer);
    expect(card.streams.msgContent!.content).toBe(answer);
    expect(h!.fake.media.size).toBe(0);
    expect(h!.fake.sent).toEqual([]);
  });

  test('a file the user sent is not sent back when the answer repeats its saved path; a MEDIA: line sends it', async () => {
    h = await startHarness({ host: CLAWDBOT });
    const code = h.fake.registerDownload(PDF, { contentType: 'application/pdf', fileName: '合同.pdf' });
    // The agent repeats the path it was given, as prose, in backticks and as a markdown link.
    h.gw.respond = (req) => {
      const saved = /已保存到 (\S+)\]/.exec(lastUserText(req))![1]!;
      return { kind: 'stream', deltas: [`已收到 ${saved}，也就是 \`${saved}\`，见[合同](${saved})。`] };
    };
    await h.send(h.fake.msg.file({ downloadCode: code, fileName: '合同.pdf' }, { senderStaffId: 'u1' }));
    expect(h.fake.media.size).toBe(0);
    expect(h.fake.sent.filter((s) => s.msgtype === 'sampleFile')).toEqual([]);
    const saved = /已保存到 (\S+)\]/.exec(lastUserText(h.gw.requests[0]!))![1]!;
    expect(h.fake.cardList()[0]!.streams.msgContent!.content).toBe(`已收到 ${saved}，也就是 \`${saved}\`，见合同。`);

    // Asked explicitly, it goes back.
    h.gw.respond = () => ({ kind: 'stream', deltas: ['给你：\n', `MEDIA: ${saved}\n`] });
    await h.send(h.fake.msg.text('把合同发回给我', { senderStaffId: 'u1' }));
    await h.fake.waitFor(() => h!.fake.sent.some((s) => s.msgtype === 'sampleFile'));
    expect([...h.fake.media.values()]).toEqual([expect.objectContaining({ type: 'file', sha256: sha(PDF) })]);
  });

  test('the media prompt tells the agent that files users sent go back only on a MEDIA: line', async () => {
    const card = await answerWith('好的');
    expect(card).toBeDefined();
    const system = h!.gw.requests[0]!.body.messages!.filter((m) => m.role === 'system').map((m) => String(m.content)).join('\n');
    expect(system).toContain(`Files the user sent you are saved under ${join(h!.stateDir, 'media', 'inbound')}`);
    expect(system).toContain('with a `MEDIA:` line');
  });

  test('enableMediaUpload: false leaves the answer untouched and adds no media prompt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-out-'));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'a.png'), PNG);
    h = await startHarness({ config: { enableMediaUpload: false } });
    const answer = `![a](${join(dir, 'a.png')})`;
    const card = await answerWith(answer);
    expect(h.fake.media.size).toBe(0);
    expect(card.streams.msgContent!.content).toBe(answer);
    expect(h.gw.requests[0]!.body.messages!.filter((m) => m.role === 'system')).toEqual([]);
  });
});

describe('an answer cut short still gets its media step', () => {
  const PLACEHOLDERS = /处理中|preparing/;

  test('the connection drops after an image and a MEDIA: line: the FAILED card shows the uploaded image, the file follows, no host path or placeholder stays', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-cut-'));
    const [img, pdf] = [join(dir, 'chart.png'), join(dir, 'report.pdf')];
    await writeFile(img, PNG);
    await writeFile(pdf, PDF);
    h = await startHarness();
    h.gw.respond = () => ({ kind: 'stream', deltas: ['报告如下：\n', `![图](${img})\n`, `MEDIA: ${pdf}\n`, '还有', `![趋势](${dir}/tre`], cut: true });
    h.fake.pushRobotMessage(h.fake.msg.text('给我报告', { senderStaffId: 'u1' }));
    await h.fake.waitFor(() => h!.fake.sent.some((s) => s.msgtype === 'sampleFile'), { timeoutMs: 8000 });
    const card = h.fake.cardList()[0]!;
    expect(card.flowStatusHistory.at(-1)).toBe('5');
    const image = [...h.fake.media.values()].find((m) => m.type === 'image')!;
    expect(image).toMatchObject({ filename: 'chart.png', sha256: sha(PNG) });
    const final = card.streams.msgContent!.content;
    expect(final.startsWith(`报告如下：\n![图](${image.mediaId})\n📎 report.pdf（已作为文件发送）\n还有\n\n⚠️ `)).toBe(true);
    expect(h.fake.sent.find((s) => s.msgtype === 'sampleFile')).toMatchObject({ body: { fileName: 'report.pdf' } });
    // Neither the final card nor any update on the way showed a host path, a MEDIA: line or a lasting placeholder.
    for (const shown of [final, ...card.streams.msgContent!.updates.map((u) => u.content)]) {
      expect(shown).not.toContain(dir);
      expect(shown).not.toContain('MEDIA:');
    }
    expect(final).not.toMatch(PLACEHOLDERS);
  });

  test('a stop word after an image: the FINISHED card shows the uploaded image, not the placeholder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-stop-'));
    const img = join(dir, 'chart.png');
    await writeFile(img, PNG);
    h = await startHarness();
    h.gw.respond = () => ({ kind: 'stream', deltas: [`![图](${img})\n`, ...chunkText('后面还有很长的分析。'.repeat(40), 2)], delayMs: 25 });
    h.fake.pushRobotMessage(h.fake.msg.text('画图', { senderStaffId: 'u1' }));
    await h.fake.waitFor(() => (h!.fake.cardList()[0]?.streams.msgContent?.updates.length ?? 0) >= 2);
    expect(h.fake.cardList()[0]!.streams.msgContent!.content).toMatch(PLACEHOLDERS);
    h.fake.pushRobotMessage(h.fake.msg.text('停止', { senderStaffId: 'u1' }));
    await h.fake.waitFor(() => h!.fake.cardList()[0]!.flowStatusHistory.at(-1) === '3', { timeoutMs: 5000 });
    const [image] = [...h.fake.media.values()];
    const final = h.fake.cardList()[0]!.streams.msgContent!.content;
    expect(final.startsWith(`![图](${image!.mediaId})\n后面`)).toBe(true);
    expect(final.endsWith('\n\n⏹️ 已停止回答。')).toBe(true);
    expect(final).not.toMatch(PLACEHOLDERS);
    expect(final).not.toContain(dir);
  });

  test('an HTML <img> of a local file is uploaded like a markdown image, keeping its alt text; a closed script and a comment line are dropped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-html-'));
    const img = join(dir, 'chart.png');
    await writeFile(img, PNG);
    h = await startHarness();
    h.gw.respond = () => ({ kind: 'stream', deltas: [`图表：<img alt="趋势" src="${img}">`, '<script>x()</script>\n<!-- note -->'] });
    await h.send(h.fake.msg.text('画图', { senderStaffId: 'u1' }));
    const [image] = [...h.fake.media.values()];
    expect(image).toMatchObject({ type: 'image', filename: 'chart.png' });
    expect(h.fake.cardList()[0]!.streams.msgContent!.content).toBe(`图表：![趋势](${image!.mediaId})`);
  });
});

describe('the media check cannot be raced', () => {
  test('40 answers sending a file that another process swaps for a symlink to a protected file: no upload of it', async () => {
    h = await startHarness();
    const dir = await mkdtemp(join(tmpdir(), 'dt-race-out-'));
    const outside = await mkdtemp(join(h.stateDir, 'credentials-'));
    const inside = Buffer.concat([PNG, Buffer.from('chart')]);
    const secret = Buffer.concat([PNG, Buffer.from('CREDENTIALS')]);
    await writeFile(join(outside, 'secret.png'), secret);
    await writeFile(join(dir, 'race.png'), inside);
    h.gw.respond = () => ({ kind: 'stream', deltas: [`图表：![c](${join(dir, 'race.png')})`] });
    const stop = await startSwapper({ file: join(dir, 'race.png'), outsideFile: join(outside, 'secret.png'), inside });
    try {
      const pushes = Array.from({ length: 40 }, (_, i) => h!.fake.pushRobotMessage(h!.fake.msg.text('图表', { senderStaffId: `u${i}` })));
      for (const p of pushes) await h.fake.waitForAck(p.messageId, { within: 5000 });
      await h.fake.waitFor(() => h!.fake.cardList().filter((c) => ['3', '5'].includes(c.flowStatusHistory.at(-1) ?? '')).length === 40, { timeoutMs: 20_000 });
    } finally {
      expect(await stop()).toBeGreaterThan(0);
    }
    const uploads = [...h.fake.media.values()];
    expect(uploads.filter((u) => u.sha256 === sha(secret))).toHaveLength(0);
    // Every answer either shows the real chart or says it was not sent.
    const texts = h.fake.cardList().map((c) => c.streams.msgContent!.content);
    expect(texts.every((t) => /^图表：!\[c\]\(@/.test(t) || t.startsWith('图表：⚠️ 未发送「race.png」'))).toBe(true);
  }, 30_000);
});
