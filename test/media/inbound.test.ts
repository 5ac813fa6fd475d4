import { afterEach, describe, expect, test } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLAWDBOT } from '../../src/host.ts';
import { startHarness, type Harness } from '../harness.ts';
import { lastUserText } from '../fake-gateway/index.ts';

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(100, 3)]);

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('media users send', () => {
  test('OpenClaw: a picture reaches the gateway as image content (once: no path in the text), saved under the host media folder', async () => {
    h = await startHarness();
    const code = h.fake.registerDownload(PNG, { contentType: 'image/png' });
    await h.send(h.fake.msg.picture({ downloadCode: code }, { senderStaffId: 'u1' }));
    const user = h.gw.requests[0]!.body.messages!.at(-1)!;
    const parts = user.content as Array<{ type: string; text?: string; image_url?: { url: string } }>;
    expect(parts).toEqual([
      { type: 'text', text: '[用户发送了一张图片]' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG.toString('base64')}` } },
    ]);
    const saved = await readdir(join(h.stateDir, 'media', 'inbound'));
    expect(saved).toHaveLength(1);
    expect(await readFile(join(h.stateDir, 'media', 'inbound', saved[0]!))).toEqual(PNG);
    const dl = h.fake.calls.find((c) => c.path === '/v1.0/robot/messageFiles/download')!;
    expect(dl.body).toEqual({ downloadCode: code, robotCode: 'dingAPPKEY' });
  });

  test('Clawdbot (drops image parts): the agent gets the saved path, which the host loads itself', async () => {
    h = await startHarness({ host: CLAWDBOT });
    const code = h.fake.registerDownload(PNG, { contentType: 'image/png' });
    await h.send(h.fake.msg.picture({ downloadCode: code }, { senderStaffId: 'u1' }));
    const content = h.gw.requests[0]!.body.messages!.at(-1)!.content;
    expect(typeof content).toBe('string');
    const saved = /已保存到 (\S+)\]/.exec(content as string)![1]!;
    expect(saved.startsWith(`${h.stateDir}/media/inbound/`)).toBe(true);
    expect(await readFile(saved)).toEqual(PNG);
  });

  test("a voice note's recognition text is the prompt (no download needed)", async () => {
    h = await startHarness();
    await h.send(h.fake.msg.audio({ downloadCode: 'dc-voice', recognition: '帮我建个任务', duration: 3000 }, { senderStaffId: 'u1' }));
    expect(lastUserText(h.gw.requests[0]!)).toBe('帮我建个任务');
  });

  test('a file is saved and the agent gets its name and path', async () => {
    h = await startHarness();
    const code = h.fake.registerDownload(Buffer.from('%PDF-1.4\n'), { contentType: 'application/pdf', fileName: '合同.pdf' });
    await h.send(h.fake.msg.file({ downloadCode: code, fileName: '合同.pdf' }, { senderStaffId: 'u1' }));
    expect(lastUserText(h.gw.requests[0]!)).toMatch(/^\[用户发送了一个文件「合同\.pdf」，已保存到 \S+\.pdf\]$/);
  });

  test('an expired download URL: the agent and the user are told plainly', async () => {
    // The URL lives 1 ms; every fake call takes 5 ms, so it has expired when the plugin fetches it.
    h = await startHarness({ fake: { downloadUrlTtlMs: 1, latencyMs: 5 } });
    const code = h.fake.registerDownload(PNG, { contentType: 'image/png' });
    await h.send(h.fake.msg.picture({ downloadCode: code }, { senderStaffId: 'u1' }));
    expect(lastUserText(h.gw.requests[0]!)).toBe('[用户发送了一张图片，但未能下载（钉钉的下载链接已过期）]');
    const shown = h.fake.cardList()[0]!.streams.msgContent!.content;
    expect(shown.startsWith('⚠️ 未能读取你发送的一张图片（钉钉的下载链接已过期），智能体没有看到它，请重新发送。')).toBe(true);
    // The plugin asked for a fresh URL once before giving up.
    expect(h.fake.calls.filter((c) => c.path === '/v1.0/robot/messageFiles/download')).toHaveLength(2);
  });

  test('a download URL that expired is fetched anew and the picture arrives', async () => {
    h = await startHarness();
    // OSS's answer to an expired signed URL, once.
    h.fake.faults.add({
      match: { path: /^\/__dl\//, times: 1 },
      action: { status: 403, contentType: 'application/xml', body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>' },
    });
    const code = h.fake.registerDownload(PNG, { contentType: 'image/png' });
    await h.send(h.fake.msg.picture({ downloadCode: code }, { senderStaffId: 'u1' }));
    expect(lastUserText(h.gw.requests[0]!)).toBe('[用户发送了一张图片]');
    expect(h.fake.calls.filter((c) => c.path === '/v1.0/robot/messageFiles/download')).toHaveLength(2);
  });

  test.each([
    ['one 502', { status: 502, body: '<html>Bad Gateway</html>', contentType: 'text/html' }],
    ['one reset connection', { destroySocket: true as const }],
  ])('%s on the download URL is retried and the file arrives', async (_name, action) => {
    h = await startHarness();
    h.fake.faults.add({ match: { path: /^\/__dl\//, times: 1 }, action });
    const code = h.fake.registerDownload(Buffer.from('%PDF-1.4\n'), { contentType: 'application/pdf', fileName: '合同.pdf' });
    await h.send(h.fake.msg.file({ downloadCode: code, fileName: '合同.pdf' }, { senderStaffId: 'u1' }));
    expect(lastUserText(h.gw.requests[0]!)).toMatch(/^\[用户发送了一个文件「合同\.pdf」，已保存到 \S+\.pdf\]$/);
    expect(h.fake.calls.filter((c) => c.path.startsWith('/__dl/'))).toHaveLength(2);
  });

  test('a download that keeps failing names its cause once, for the agent and the user', async () => {
    h = await startHarness();
    h.fake.faults.add({ match: { path: /^\/__dl\// }, action: { status: 502, body: '<html>Bad Gateway</html>', contentType: 'text/html' } });
    const code = h.fake.registerDownload(PNG, { contentType: 'image/png' });
    await h.send(h.fake.msg.picture({ downloadCode: code }, { senderStaffId: 'u1' }));
    expect(lastUserText(h.gw.requests[0]!)).toBe('[用户发送了一张图片，但未能下载（钉钉文件服务暂时不可用）]');
    const shown = h.fake.cardList()[0]!.streams.msgContent!.content;
    expect(shown.startsWith('⚠️ 未能读取你发送的一张图片（钉钉文件服务暂时不可用），智能体没有看到它，请重新发送。')).toBe(true);
    expect(shown).not.toContain('Bad Gateway');
    // The first try and the client's two retries.
    expect(h.fake.calls.filter((c) => c.path.startsWith('/__dl/'))).toHaveLength(3);
  });

  test('a quoted file is downloaded and described as the earlier message’s, not the user’s', async () => {
    h = await startHarness({ host: CLAWDBOT });
    const code = h.fake.registerDownload(Buffer.from('%PDF-1.4\n'), { contentType: 'application/pdf', fileName: '周报.pdf' });
    await h.send(h.fake.msg.replyTo('帮我总结', h.fake.msg.quote.file(code, '周报.pdf'), { senderStaffId: 'u1' }));
    expect(lastUserText(h.gw.requests[0]!)).toMatch(/^\[用户引用了一条较早的消息：\]\n\[用户引用的较早消息中的一个文件「周报\.pdf」（不是用户这次发送的），已保存到 \S+\.pdf\]\n帮我总结$/);
  });

  test('richText pictures reach the agent between the texts they were written between', async () => {
    h = await startHarness({ host: CLAWDBOT });
    const a = h.fake.registerDownload(PNG, { contentType: 'image/png' });
    const b = h.fake.registerDownload(PNG, { contentType: 'image/png' });
    await h.send(h.fake.msg.richText([{ text: '旧版' }, { type: 'picture', downloadCode: a }, { text: '新版' }, { type: 'picture', downloadCode: b }], { senderStaffId: 'u1' }));
    const lines = lastUserText(h.gw.requests[0]!).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('旧版');
    expect(lines[1]).toMatch(/^\[用户发送了一张图片，已保存到 \S+\.png\]$/);
    expect(lines[2]).toBe('新版');
    expect(lines[3]).toMatch(/^\[用户发送了一张图片，已保存到 \S+\.png\]$/);
    expect(lines[1]).not.toBe(lines[3]);
  });
});
