/**
 * The access gate in the running pipeline, against the fake DingTalk and the fake gateway: a refused sender
 * costs no card and no engine call, hears one polite line at most hourly, and the log names the config to change.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import { lastUserText } from './fake-gateway/index.ts';
import { MemoryStore } from '../src/store.ts';
import type { PairingStore } from '../src/pairing.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const REFUSAL = '🙏 抱歉，你暂时没有使用这个机器人的权限，请联系管理员开通。';

/** Push a message that gets no card and wait until it was ACKed and one more message (allowed) was answered. */
async function sendThenSettle(h: Harness, payload: ReturnType<Harness['fake']['msg']['text']>, settle: ReturnType<Harness['fake']['msg']['text']>) {
  const { messageId } = h.fake.pushRobotMessage(payload);
  await h.fake.waitForAck(messageId, { within: 1000 });
  await h.send(settle);
}

const noticeTexts = (h: Harness) => h.fake.sent.filter((s) => s.channel === 'sessionWebhook').map((s) => s.body.markdown?.text as string);

describe('refused senders', () => {
  test('DM under allowlist: one polite line by the sessionWebhook, no card, no gateway call, a log line naming the fix', async () => {
    h = await startHarness({ config: { dmPolicy: 'allowlist', allowFrom: ['user:boss'] } });
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'user002', senderId: '$:LWCP_v1:$u2==' }));
    expect(h.gw.requests).toHaveLength(0);
    expect(h.fake.cardList()).toHaveLength(0);
    expect(h.fake.sent).toHaveLength(1);
    expect(h.fake.sent[0]).toMatchObject({ channel: 'sessionWebhook', msgtype: 'markdown' });
    expect(noticeTexts(h)).toEqual([REFUSAL]);
    const line = h.logs.find((l) => l.includes('refused message'))!;
    expect(line).toContain('staffId user002');
    expect(line).toContain('senderId $:LWCP_v1:$u2==');
    expect(line).toContain('add "user002" to channels.dingtalk-ai.allowFrom');
    // The allowlisted sender (written as users paste it: `user:boss`) is answered.
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'boss' }));
    expect(h.gw.requests).toHaveLength(1);
    expect(h.fake.cardList()).toHaveLength(1);
  });

  test('reset commands and stop words pass the same gate', async () => {
    h = await startHarness({ config: { dmPolicy: 'disabled', refusalMessage: '本机器人不接受单聊。' } });
    await h.send(h.fake.msg.text('/new', { senderStaffId: 'user002' }));
    await h.send(h.fake.msg.text('停止', { senderStaffId: 'user003' }));
    expect(noticeTexts(h)).toEqual(['本机器人不接受单聊。', '本机器人不接受单聊。']);
    expect(h.logs.filter((l) => l.includes('refused message'))).toHaveLength(2);
    expect(h.logs.some((l) => l.includes('new session started'))).toBe(false);
    expect(h.logs.find((l) => l.includes('refused message'))).toContain('set channels.dingtalk-ai.dmPolicy to "allowlist"');
  });

  test('group not on the allowlist: the refusal @-mentions the asker; the log names the group id to add', async () => {
    h = await startHarness({ config: { groupPolicy: 'allowlist', groupAllowFrom: ['cidOTHER=='] } });
    await h.send(h.fake.msg.text('帮我查一下', { group: true, conversationId: 'cidGRP001==', senderStaffId: 'user002' }));
    expect(h.gw.requests).toHaveLength(0);
    expect(h.fake.cardList()).toHaveLength(0);
    expect(h.fake.sent[0]!.body).toMatchObject({ msgtype: 'markdown', at: { atUserIds: ['user002'] } });
    expect(noticeTexts(h)).toEqual([`${REFUSAL}\n\n@user002`]);
    expect(h.logs.find((l) => l.includes('refused message'))).toContain('add "cidGRP001==" to channels.dingtalk-ai.groupAllowFrom');
  });

  test('an allowlisted sender in an otherwise closed group is answered; the others are refused', async () => {
    h = await startHarness({
      config: { groupPolicy: 'allowlist', groups: { 'cidGRP001==': { allowFrom: ['dingtalk:user001'], systemPrompt: '只谈财务。' } } },
    });
    await h.send(h.fake.msg.text('报销怎么走', { group: true, conversationId: 'cidGRP001==', senderStaffId: 'user001', senderNick: '张三' }));
    expect(h.gw.requests).toHaveLength(1);
    expect(lastUserText(h.gw.requests[0]!)).toBe('[张三 说：]\n报销怎么走');
    // The group's own system prompt comes last.
    const system = h.gw.requests[0]!.body.messages!.filter((m) => m.role === 'system').map((m) => m.content);
    expect(system.at(-1)).toBe('只谈财务。');
    expect(h.fake.cardList()[0]!.flowStatusHistory.at(-1)).toBe('3');

    await h.send(h.fake.msg.text('我也问一下', { group: true, conversationId: 'cidGRP001==', senderStaffId: 'user002' }));
    expect(h.gw.requests).toHaveLength(1);
    expect(noticeTexts(h)).toEqual([`${REFUSAL}\n\n@user002`]);
    expect(h.logs.find((l) => l.includes('refused message'))).toContain('add "user002" to channels.dingtalk-ai.groups.cidGRP001==.allowFrom');
  });

  test('a group message that does not @ the robot is ignored silently (requireMention), and answered when a group turns it off', async () => {
    h = await startHarness({ config: { groups: { 'cidOPEN==': { requireMention: false } } } });
    await sendThenSettle(
      h,
      h.fake.msg.text('大家好', { group: true, conversationId: 'cidGRP001==', atBot: false }),
      h.fake.msg.text('大家好', { group: true, conversationId: 'cidOPEN==', atBot: false }),
    );
    expect(h.gw.requests.map(lastUserText)).toEqual(['[张三 说：]\n大家好']);
    expect(h.fake.cardList().map((c) => c.deliveries[0]!.spaceId)).toEqual(['cidOPEN==']);
    expect(h.fake.sent).toEqual([]);
    expect(h.logs.some((l) => l.includes('refused'))).toBe(false);
  });

  test('the refusal line goes out at most once per sender per hour (injected clock); every refusal is logged', async () => {
    let now = Date.parse('2026-11-30T09:00:00Z');
    h = await startHarness({ store: new MemoryStore(() => now), config: { dmPolicy: 'allowlist' } });
    const ask = () => h!.fake.msg.text('在吗', { senderStaffId: 'user002' });
    await h.send(ask());
    await sendThenSettle(h, ask(), h.fake.msg.text('hi', { senderStaffId: 'user003' }));
    now += 59 * 60_000;
    await sendThenSettle(h, ask(), h.fake.msg.text('hi again', { senderStaffId: 'user004' }));
    // user002 heard it once; user003 and user004 once each.
    expect(h.fake.sent.map((s) => s.target)).toHaveLength(3);
    expect(h.logs.filter((l) => l.includes('refused message') && l.includes('staffId user002'))).toHaveLength(3);
    now += 2 * 60_000;
    await h.send(ask());
    expect(h.fake.sent).toHaveLength(4);
    expect(noticeTexts(h).at(-1)).toBe(REFUSAL);
    expect(h.gw.requests).toHaveLength(0);
  });

  test('refusalMessage "" refuses in silence (log line only)', async () => {
    h = await startHarness({ config: { dmPolicy: 'allowlist', refusalMessage: '' } });
    await sendThenSettle(h, h.fake.msg.text('你好', { senderStaffId: 'user002' }), h.fake.msg.text('/new', { group: true }));
    expect(noticeTexts(h)).toEqual(['✅ 已开始新会话，之前的上下文已清空。\n\n@user001']);
    expect(h.logs.filter((l) => l.includes('refused message'))).toHaveLength(1);
  });
});

describe('DM pairing through the host', () => {
  function fakePairing() {
    const approved: string[] = [];
    const requests = new Map<string, string>();
    const store: PairingStore = {
      approved: async () => [...approved],
      request: async (id) => {
        const existing = requests.get(id);
        if (existing) return { code: existing, created: false };
        const code = `CODE${requests.size + 1}AB`;
        requests.set(id, code);
        return { code, created: true };
      },
      approveCommand: (code) => `openclaw pairing approve dingtalk-ai ${code}`,
    };
    return { store, approved, requests };
  }

  test('an unknown sender gets the code once; after the owner approves, the sender is answered', async () => {
    const p = fakePairing();
    // No dmPolicy: pairing is the default where the host has it.
    h = await startHarness({ pairing: p.store, config: { dmPolicy: undefined } });
    await h.send(h.fake.msg.text('你好', { senderStaffId: 'user002', senderNick: '王五' }));
    expect(noticeTexts(h)).toEqual(['🔐 你还没有使用这个机器人的权限。配对码：CODE1AB\n\n请把配对码发给管理员，由管理员运行：openclaw pairing approve dingtalk-ai CODE1AB（配对码 1 小时内有效）']);
    expect(h.logs.find((l) => l.includes('not paired'))).toContain('approve with: openclaw pairing approve dingtalk-ai CODE1AB');
    // Asking again within the code's hour sends nothing new.
    await sendThenSettle(h, h.fake.msg.text('在吗', { senderStaffId: 'user002' }), h.fake.msg.text('hi', { group: true }));
    expect(h.fake.sent.filter((s) => s.channel === 'sessionWebhook' && !s.body.at)).toHaveLength(1);
    expect(h.gw.requests.map(lastUserText)).toEqual(['[张三 says:]\nhi']);

    p.approved.push('user002');
    await h.send(h.fake.msg.text('现在可以了吗', { senderStaffId: 'user002' }));
    expect(h.gw.requests.map(lastUserText)).toEqual(['[张三 says:]\nhi', '现在可以了吗']);
  });
});
