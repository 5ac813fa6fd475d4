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
    expect(lastUserText(h.gw.requests[0]!)).toContain('下载失败：下载链接已过期');
    const shown = h.fake.cardList()[0]!.streams.msgContent!.content;
    expect(shown.startsWith('⚠️ 未能读取你发送的一张图片（下载链接已过期），智能体没有看到它，请重新发送。')).toBe(true);
  });
});
