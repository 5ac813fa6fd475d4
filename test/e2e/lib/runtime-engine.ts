/**
 * `engine: "runtime"` in the real host: the same user-visible behaviour as the gateway engine (card streaming, DM and
 * group, context, /new, pictures in and out, the 403 card fallback), with the host's OpenAI-compatible endpoint
 * switched off and the DingTalk user, not the owner, as the sender the host records and the model is told about; a
 * stop word ends the host's turn; an empty model answer never leaves the card spinning.
 * One gateway restart for the block, shared with the DM pairing step (`ensureGateway`): the default access policies
 * (DM pairing, groups allowlisted) with this block's sender and group listed. The next block restores the config.
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

export interface RuntimeGateway {
  /**
   * Makes sure the gateway runs with this block's config (engine runtime, HTTP endpoint off, default access policies
   * with this block's sender and group listed), restarting it only the first time; resolves once the plugin connected.
   */
  ensureGateway(): Promise<void>;
}

export function defineRuntimeEngineSteps(ctx: SuiteContext, o: RuntimeStepsOptions): RuntimeGateway {
  const { name } = o;
  const staffId = `rt-staff-${name}`;
  const nick = `钉钉用户${name}`;
  const groupId = `cidRT${name}==`;
  let started = false;
  const ensureGateway = async () => {
    if (started && ctx.host.running) return;
    const config = structuredClone(o.installedConfig());
    config.gateway.http = { endpoints: { chatCompletions: { enabled: false } } };
    // The defaults users get (dmPolicy pairing, groupPolicy allowlist), this block's sender and group allowed.
    const { dmPolicy: _dm, allowFrom: _allow, groupPolicy: _group, ...defaults } = ctx.channelSection();
    const since = ctx.fake.conns.length;
    await ctx.host.stopGateway();
    await ctx.host.writeConfig({ ...config, channels: { 'dingtalk-ai': { ...defaults, engine: 'runtime', allowFrom: [staffId, mediaStaff, stopStaff], groups: { [groupId]: {} } } } });
    await ctx.restartGateway();
    await ctx.waitForNewConnection(since);
    started = true;
  };
  const text = (t: string, extra: Record<string, unknown> = {}) => ctx.fake.msg.text(t, { senderStaffId: staffId, senderNick: nick, ...extra });
  // The call governor gives a sender with more than FLOOD_SENDER_ANSWERS (6) answers within 60 s a final-only card,
  // then markdown (src/dingtalk/governor.ts): steps that prove streaming use their own senders (allowFrom lists them).
  const mediaStaff = `${staffId}-media`;
  const stopStaff = `${staffId}-stop`;
  const from = (sender: string) => (t: string, extra: Record<string, unknown> = {}) => ctx.fake.msg.text(t, { senderStaffId: sender, senderNick: nick, ...extra });
  /**
   * Every message the model got, as one string, for each request whose latest user words contain `marker` (the
   * mock's summary strips host wrappers: OpenClaw puts its context block in a separate, later user message).
   */
  const rawFor = async (marker: string) => {
    const [summaries, raw] = await Promise.all([ctx.mock.requests(), ctx.mock.rawRequests() as Promise<Array<{ messages?: unknown[] }>>]);
    return summaries.flatMap((r, i) => (r.summary.userTexts.at(-1)?.includes(marker) ? [JSON.stringify(raw[i]?.messages)] : []));
  };

  ctx.step('engine runtime: the gateway HTTP endpoint is off and no gateway token is set; a DM streams into the card', { needs: ['install'], provides: 'runtime' }, async () => {
    await ensureGateway();
    // The endpoint the gateway engine would need is really off.
    const off = await fetch(`http://127.0.0.1:${ctx.host.gatewayPort}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${String(o.installedConfig().gateway.auth?.token ?? '')}` },
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
    const around = await storedText(ctx, `dingtalk-ai:${staffId}`);
    expect(around.length, 'no host session entry names the DingTalk sender').toBeGreaterThan(0);
    // A SQLite file (and its WAL) holds older page copies too: one occurrence must carry the whole origin.
    expect(around.find((t) => t.includes(nick) && t.includes('direct')), JSON.stringify(around.map((t) => t.replace(/\0+/g, ' ').slice(0, 300)))).toBeDefined();
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
    const conversationId = groupId;
    const { card } = await ctx.dm(text(q, { group: true, conversationId, conversationTitle: '运行时测试群' }));
    expect(card!.flowStatusHistory.at(-1)).toBe('3');
    expect(card!.deliveries[0]).toMatchObject({ spaceType: 'IM_GROUP', spaceId: conversationId });
    expect(card!.streams.msgContent!.content).toContain(q);
    // The host recorded a group session for that DingTalk group.
    expect((await storedText(ctx, `dingtalk-ai:group:${conversationId}`)).length, 'no host session entry for the group').toBeGreaterThan(0);
    const [messages] = await rawFor(q);
    expect(messages).toContain(nick);
  });

  ctx.step('engine runtime: a picture the user sends reaches the model exactly once', { needs: ['runtime'] }, async () => {
    const code = ctx.fake.registerDownload(o.png, { contentType: 'image/png', fileName: 'photo.png' });
    const before = (await ctx.mock.requests()).length;
    const { card } = await ctx.dm(ctx.fake.msg.picture({ downloadCode: code }, { senderStaffId: mediaStaff, senderNick: nick }));
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
    const { card } = await ctx.dm(from(mediaStaff)(`runtime chart SEND_IMAGE:${image}`));
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
      const { card, sent } = await ctx.dm(from(mediaStaff)(q));
      expect(card?.flowStatusHistory.at(-1)).not.toBe('3');
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ msgtype: 'markdown' });
      expect(sent[0]!.body.markdown.text.trim()).toBe(`MOCK_ANSWER: ${q}`);
    } finally {
      ctx.fake.faults.grantScope('Card.Instance.Write');
    }
  });

  ctx.step('engine runtime: a stop word mid-answer ends the card "stopped" with the text shown; the model request is cut', { needs: ['runtime'] }, async () => {
    // [[slow]]: the mock streams 8 characters every 300 ms, ~4 s for this answer.
    const q = `runtime stop ${name} papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu [[slow]]`;
    const full = `MOCK_ANSWER: ${q}`;
    const cardsBefore = new Set(ctx.fake.cards.keys());
    const question = from(stopStaff)(q);
    const asked = ctx.fake.pushRobotMessage(question);
    await ctx.fake.waitForAck(asked.messageId, { within: 10_000 });
    const card = () => [...ctx.fake.cards.values()].find((c) => !cardsBefore.has(c.outTrackId));
    await ctx.fake.waitFor(() => card()?.streams.msgContent?.content.includes('MOCK_ANSWER: runtime'), {
      timeoutMs: 60_000,
      message: `the answer never started streaming into the card\n${ctx.host.logTail()}`,
    });
    const sentBefore = ctx.fake.sent.length;
    const stop = ctx.fake.pushRobotMessage(from(stopStaff)('停止'));
    await ctx.fake.waitForAck(stop.messageId, { within: 10_000 });
    await ctx.fake.waitFor(() => ['3', '5'].includes(card()!.flowStatusHistory.at(-1) ?? ''), { timeoutMs: 30_000, message: `the card never ended\n${ctx.host.logTail()}` });
    expect(card()!.flowStatusHistory.at(-1)).toBe('3');
    // The stopped card's final text is in its instance params (the last streamed text has no note).
    const shown = card()!.params.msgContent ?? '';
    const note = '\n\n⏹️ Stopped.';
    expect(shown.endsWith(note), shown).toBe(true);
    const kept = shown.slice(0, -note.length).trim();
    expect(kept.length).toBeGreaterThan(0);
    expect(full.startsWith(kept), kept).toBe(true);
    expect(kept.length).toBeLessThan(full.length);
    // No "nothing to stop" line: the stop word found the answer.
    expect(ctx.fake.sent.slice(sentBefore)).toEqual([]);
    // The host aborted its run: the model's stream was closed before its end.
    const cut = await ctx.fake.waitFor(
      async () => {
        const [req] = await ctx.mock.requestsFor(`runtime stop ${name} papa`);
        return req?.summary.stream?.closedEarly ? req : undefined;
      },
      { timeoutMs: 10_000, message: `the model request ran to its end after the stop\n${ctx.host.logTail()}` },
    );
    expect(cut!.summary.stream!.chunks).toBeLessThan(Math.ceil(full.length / 8));
    // The host's run settled after the abort (the engine logs how long it took).
    await ctx.fake.waitFor(() => ctx.host.logTail(200).includes(`turn for ${question.msgId} aborted`), { timeoutMs: 10_000, message: `the host's run never settled after the stop\n${ctx.host.logTail()}` });
    console.log(`[e2e] ${name}: ${/runtime: turn for \S+ aborted[^\n]*/.exec(ctx.host.logTail(200))?.[0] ?? ''}`);
  });

  ctx.step('engine runtime: an empty model answer ends the card with a clear text, in a DM and in a group', { needs: ['runtime'] }, async () => {
    for (const extra of [{}, { group: true, conversationId: groupId, conversationTitle: '运行时测试群' }]) {
      const where = 'group' in extra ? 'group' : 'DM';
      const { card, sent } = await ctx.dm(from(stopStaff)(`runtime empty ${where} ${name} [[empty]]`, extra));
      expect(card, `no card; sent: ${JSON.stringify(sent)}`).toBeDefined();
      expect(card!.flowStatusHistory.at(-1)).toBe('3');
      const shown = card!.streams.msgContent!.content.trim();
      console.log(`[e2e] ${name}: empty ${where} turn shows ${JSON.stringify(shown)}`);
      // OpenClaw retries an empty model turn and then says so itself; with nothing from the host, the plugin's text
      // (texts.ts emptyAnswer, in English: the question is English).
      // OpenClaw may also recover by itself: its retry prompt gets a visible answer from the mock (the card then
      // shows that answer, FINISHED: not stuck, not empty).
      if (name === 'openclaw' && shown.startsWith(`MOCK_ANSWER: ${OPENCLAW_RETRY_PROMPT}`)) continue;
      expect(['(The agent returned no content.)', ...OPENCLAW_EMPTY_TURN]).toContain(shown);
    }
  });

  return { ensureGateway };
}

/**
 * OpenClaw 2026.9.6's own texts for a turn that ends without a visible reply: after its retry of an empty model answer
 * (dist/builtin-openclaw-*.mjs EMPTY_RESPONSE_RETRY_INSTRUCTION, then this notice), and for a turn whose final text it
 * did not deliver (dist/commentary-progress-owner-*.mjs).
 */
/** The start of OpenClaw 2026.9.6's retry instruction after an empty model answer (seen in the e2e run of 2026-12-01). */
const OPENCLAW_RETRY_PROMPT = 'The previous attempt did not produce a user-visible answer.';
const OPENCLAW_EMPTY_TURN = [
  "⚠️ Agent couldn't generate a response. Please try again.",
  'I finished the turn, but it did not produce a visible reply. Please try again, or start a new session if this keeps happening.',
];

/**
 * The text around every occurrence of `needle` in the host's session store: Clawdbot keeps `agents/<id>/sessions/sessions.json` (entries with
 * `origin: { from, label, chatType }`), OpenClaw 2026.9 a SQLite state database; both are searched as raw bytes.
 */
async function storedText(ctx: SuiteContext, needle: string): Promise<string[]> {
  const files = await listFiles(ctx.host.stateDir);
  const around: string[] = [];
  for (const f of files) {
    if (!/(sessions?\.json|\.sqlite|\.db)(-wal)?$/i.test(f)) continue;
    const bytes = await readFile(f).catch(() => undefined);
    if (!bytes) continue;
    for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + needle.length)) {
      around.push(bytes.subarray(Math.max(0, at - 400), at + 400).toString('utf8'));
    }
  }
  return around;
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
