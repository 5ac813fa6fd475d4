/**
 * `engine: "runtime"` in the real host: the same user-visible behaviour as the gateway engine (card streaming, DM and
 * group, context, /new, pictures in and out, the 403 card fallback), with the host's OpenAI-compatible endpoint
 * switched off and the DingTalk user, not the owner, as the sender the host records and the model is told about.
 * One gateway restart for the whole block; the next block restores the config.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { HostName } from './hosts.ts';
import type { SuiteContext } from './suite.ts';

export interface RuntimeStepsOptions {
  name: HostName;
  /** The installed host config (plugins section included), without channels. */
  installedConfig(): Record<string, any>;
  /** channels.dingtalk-ai.systemPrompt of the suite. */
  systemPrompt: string;
  png: Buffer;
}

export function defineRuntimeEngineSteps(ctx: SuiteContext, o: RuntimeStepsOptions): void {
  const { name } = o;
  const staffId = `rt-staff-${name}`;
  const nick = `钉钉用户${name}`;
  const text = (t: string, extra: Record<string, unknown> = {}) => ctx.fake.msg.text(t, { senderStaffId: staffId, senderNick: nick, ...extra });
  /** Every message the model got for the request whose last user words contain `marker`, as one string. */
  const rawFor = async (marker: string) => {
    const raw = (await ctx.mock.rawRequests()) as Array<{ messages?: unknown[] }>;
    const hits = raw.filter((r) => {
      const users = (r.messages ?? []).filter((m) => (m as { role?: string }).role === 'user');
      return JSON.stringify(users.at(-1) ?? '').includes(marker);
    });
    return hits.map((r) => JSON.stringify(r.messages));
  };

  ctx.step('engine runtime: the gateway HTTP endpoint is off and no gateway token is set; a DM streams into the card', { needs: ['gateway'], provides: 'runtime' }, async () => {
    const config = structuredClone(o.installedConfig());
    config.gateway.http = { endpoints: { chatCompletions: { enabled: false } } };
    const since = ctx.fake.conns.length;
    await ctx.host.stopGateway();
    await ctx.host.writeConfig({ ...config, channels: { 'dingtalk-ai': { ...ctx.channelSection(), engine: 'runtime' } } });
    await ctx.restartGateway();
    await ctx.waitForNewConnection(since);
    // The endpoint the gateway engine would need is really off.
    const off = await fetch(`http://127.0.0.1:${ctx.host.gatewayPort}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${String(config.gateway.auth?.token ?? '')}` },
      body: JSON.stringify({ model: 'openclaw:main', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(off.ok).toBe(false);

    const q = `runtime first ${name} kilo`;
    const { card, sent } = await ctx.dm(text(q));
    expect(card, `no card; sent: ${JSON.stringify(sent)}\n${ctx.host.logTail()}`).toBeDefined();
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
    expect(card!.deliveries[0]).toMatchObject({ spaceType: 'IM_ROBOT', spaceId: staffId, success: true });
    const stream = card!.streams.msgContent!;
    expect(stream.content.trim()).toBe(`MOCK_ANSWER: ${q}`);
    expect(stream.finalized).toBe(true);
    const [req] = await ctx.mock.requestsFor(q);
    expect(req, 'the mock LLM never saw the question').toBeDefined();
    const system = req!.summary.systemPrompts.join('\n');
    expect(system).toContain(o.systemPrompt);
    expect(system).toContain('DingTalk');
    expect(ctx.host.logTail(400)).toContain('engine runtime');
    expect(ctx.host.logTail(400)).not.toContain('no gateway token');
  });

  ctx.step('engine runtime: the host saw the DingTalk user as the sender, not the owner', { needs: ['runtime'] }, async () => {
    // The session the host stored for the turn: its origin is the DingTalk user (address, display name, direct chat),
    // not the gateway's owner.
    const origin = await storedText(ctx, `dingtalk-ai:${staffId}`);
    expect(origin, 'no host session entry names the DingTalk sender').toBeDefined();
    expect(origin).toContain(nick);
    expect(origin).toContain('direct');
    if (name === 'openclaw') {
      // OpenClaw also tells the model who sent the message (its per-turn context block carries the sender id).
      const [messages] = await rawFor(`runtime first ${name} kilo`);
      expect(messages).toContain(staffId);
    }
  });

  ctx.step('engine runtime: a second message keeps the context; /new starts over', { needs: ['runtime'] }, async () => {
    const q1 = `runtime first ${name} kilo`;
    const q2 = `runtime second ${name} lima`;
    const { card } = await ctx.dm(text(q2));
    expect(card!.streams.msgContent!.content.trim()).toBe(`MOCK_ANSWER: ${q2}`);
    const [req] = await ctx.mock.requestsFor(q2);
    expect(req!.summary.userTexts.some((t) => t.includes(q1))).toBe(true);
    expect(req!.summary.assistantTexts.some((t) => t.includes(`MOCK_ANSWER: ${q1}`))).toBe(true);

    const reset = await ctx.dm(text('/new'));
    expect(reset.card).toBeUndefined();
    expect(JSON.stringify(reset.sent[0]?.body)).toContain('新会话');
    const q3 = `runtime after reset ${name} mike`;
    const after = await ctx.dm(text(q3));
    expect(after.card!.streams.msgContent!.content.trim()).toBe(`MOCK_ANSWER: ${q3}`);
    const [req3] = await ctx.mock.requestsFor(q3);
    expect(req3!.summary.userTexts.filter((t) => t.includes('runtime'))).toEqual([q3]);
    expect(req3!.summary.assistantTexts).toEqual([]);
  });

  ctx.step('engine runtime: a group message is answered in a group card; the host knows the group and the sender', { needs: ['runtime'] }, async () => {
    const q = `runtime group ${name} november`;
    const conversationId = `cidRT${name}==`;
    const { card } = await ctx.dm(text(q, { group: true, conversationId, conversationTitle: '运行时测试群' }));
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
    expect(card!.deliveries[0]).toMatchObject({ spaceType: 'IM_GROUP', spaceId: conversationId });
    expect(card!.streams.msgContent!.content).toContain(q);
    // The host recorded a group session for that DingTalk group.
    expect(await storedText(ctx, `dingtalk-ai:group:${conversationId}`), 'no host session entry for the group').toBeDefined();
    const [messages] = await rawFor(q);
    expect(messages).toContain(nick);
  });

  ctx.step('engine runtime: a picture the user sends reaches the model exactly once', { needs: ['runtime'] }, async () => {
    const code = ctx.fake.registerDownload(o.png, { contentType: 'image/png', fileName: 'photo.png' });
    const before = (await ctx.mock.requests()).length;
    const { card } = await ctx.dm(ctx.fake.msg.picture({ downloadCode: code }, { senderStaffId: staffId, senderNick: nick }));
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
    const requests = (await ctx.mock.requests()).slice(before);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.summary.imageParts).toBe(1);
  });

  ctx.step('engine runtime: a local image in the answer is uploaded and shown inline', { needs: ['runtime'] }, async () => {
    const dir = join(ctx.root, 'media-out-rt');
    await mkdir(dir, { recursive: true });
    const image = join(dir, 'rt-chart.png');
    await writeFile(image, o.png);
    const before = new Set(ctx.fake.media.keys());
    const { card } = await ctx.dm(text(`runtime chart SEND_IMAGE:${image}`));
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
    const uploads = [...ctx.fake.media.entries()].filter(([k]) => !before.has(k)).map(([, v]) => v);
    expect(uploads).toHaveLength(1);
    expect(uploads[0]!.sha256).toBe(createHash('sha256').update(o.png).digest('hex'));
    expect(card!.streams.msgContent!.content).toContain(`![chart](${uploads[0]!.mediaId})`);
  });

  ctx.step('engine runtime: cards refused (403): the answer arrives once as markdown', { needs: ['runtime'] }, async () => {
    ctx.fake.faults.revokeScope('Card.Instance.Write');
    try {
      const q = `runtime fallback ${name} oscar`;
      const { card, sent } = await ctx.dm(text(q));
      expect(card?.flowStatusHistory.at(-1)).not.toBe('3');
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ msgtype: 'markdown' });
      expect(sent[0]!.body.markdown.text.trim()).toBe(`MOCK_ANSWER: ${q}`);
    } finally {
      ctx.fake.faults.clear();
    }
  });
}

/**
 * Text around `needle` in the host's session store: Clawdbot keeps `agents/<id>/sessions/sessions.json` (entries with
 * `origin: { from, label, chatType }`), OpenClaw 2026.9 a SQLite state database; both are searched as raw bytes.
 */
async function storedText(ctx: SuiteContext, needle: string): Promise<string | undefined> {
  const files = await listFiles(ctx.host.stateDir);
  for (const f of files) {
    if (!/(sessions?\.json|\.sqlite|\.db)(-wal)?$/i.test(f)) continue;
    const bytes = await readFile(f).catch(() => undefined);
    if (!bytes) continue;
    const at = bytes.indexOf(needle);
    if (at >= 0) return bytes.subarray(Math.max(0, at - 400), at + 400).toString('utf8');
  }
  return undefined;
}

async function listFiles(dir: string, depth = 0): Promise<string[]> {
  if (depth > 5) return [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, depth + 1)));
    else out.push(p);
  }
  return out;
}
