import { afterEach, describe, expect, test } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import { chunkText, lastUserText } from './fake-gateway/index.ts';
import { AnswersInFlight, isStopWord } from '../src/stop.ts';
import { DEFAULT_STOP_WORDS } from '../src/config.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('stop words', () => {
  test.each([
    ['停止', true],
    [' /stop ', true],
    ['STOP!', true],
    ['取消。', true],
    ['stop the music', false],
    ['不要停止', false],
    ['', false],
  ])('%j → %s', (text, expected) => {
    expect(isStopWord(text, DEFAULT_STOP_WORDS)).toBe(expected);
  });

  test('only the sender of the running answer can stop it, once', () => {
    const inFlight = new AnswersInFlight();
    const outer = new AbortController();
    const running = inFlight.begin('dm:u1', 'u1', outer.signal);
    expect(inFlight.stop('dm:u1', 'u2')).toBe(false);
    expect(inFlight.stop('dm:u2', 'u1')).toBe(false);
    expect(running.signal.aborted).toBe(false);
    expect(inFlight.stop('dm:u1', 'u1')).toBe(true);
    expect(running.signal.aborted).toBe(true);
    expect(running.stopped).toBe(true);
    expect(inFlight.stop('dm:u1', 'u1')).toBe(false);
  });

  test('a shutdown aborts the answer without counting as a stop; an ended answer cannot be stopped', () => {
    const inFlight = new AnswersInFlight();
    const outer = new AbortController();
    const running = inFlight.begin('dm:u1', 'u1', outer.signal);
    outer.abort();
    expect(running.signal.aborted).toBe(true);
    expect(running.stopped).toBe(false);
    const next = inFlight.begin('dm:u1', 'u1', new AbortController().signal);
    next.end();
    expect(inFlight.stop('dm:u1', 'u1')).toBe(false);
  });
});

const notices = (h: Harness) => h.fake.sent.filter((s) => s.channel === 'sessionWebhook').map((s) => s.body.markdown?.text as string);

describe('stopping an answer in the pipeline', () => {
  test('a stop word mid-answer ends the card FINISHED with the text shown so far; the two queued messages are answered in order', async () => {
    h = await startHarness();
    const long = '这是一个很长的回答。'.repeat(40);
    h.gw.respond = (req) =>
      lastUserText(req) === '写一篇长文'
        ? { kind: 'stream', deltas: chunkText(long, 2), delayMs: 25 }
        : { kind: 'stream', deltas: chunkText(`Echo: ${lastUserText(req)}`) };
    const ask = (text: string) => h!.fake.pushRobotMessage(h!.fake.msg.text(text, { senderStaffId: 'u1' }));
    ask('写一篇长文');
    await h.fake.waitFor(() => (h!.fake.cardList()[0]?.streams.msgContent?.updates.length ?? 0) >= 2);
    ask('第二个问题');
    ask('第三个问题');
    await h.fake.waitFor(() => notices(h!).length >= 1 && h!.logs.some((l) => l.includes('queued notice not sent')));
    // A waiting user hears where they stand (a sessionWebhook line, no card), once a minute (src/notices.ts).
    expect(notices(h)).toEqual(['⏳ 前面还有 1 条消息在处理，稍后回答。']);
    expect(h.fake.cardList()).toHaveLength(1);

    ask('停止');
    await h.fake.waitFor(() => h!.fake.cardList().filter((c) => c.flowStatusHistory.at(-1) === '3').length === 3, { timeoutMs: 5000 });
    const [first, second, third] = h.fake.cardList();
    const shown = first!.params.msgContent!;
    expect(shown.endsWith('\n\n⏹️ 已停止回答。')).toBe(true);
    const kept = shown.slice(0, -'\n\n⏹️ 已停止回答。'.length);
    expect(kept.length).toBeGreaterThan(0);
    expect(long.startsWith(kept)).toBe(true);
    expect(kept.length).toBeLessThan(long.length);
    expect(first!.flowStatusHistory.at(-1)).toBe('3');
    // The gateway request was aborted: its stream never reached the end.
    expect(h.gw.timings[0]!.end).toBeUndefined();
    // The stop word never reached the engine; the queued messages did, in order.
    expect(h.gw.requests.map(lastUserText)).toEqual(['写一篇长文', '第二个问题', '第三个问题']);
    expect(second!.params.msgContent).toBe('Echo: 第二个问题');
    expect(third!.params.msgContent).toBe('Echo: 第三个问题');
  });

  test('a stop word with nothing running gets a short line and costs no card or engine call', async () => {
    h = await startHarness();
    await h.send(h.fake.msg.text('/stop', { senderStaffId: 'u1' }));
    expect(notices(h)).toEqual(['There is no answer in progress to stop.']);
    // Another member (one such line per member per minute: src/notices.ts).
    await h.send(h.fake.msg.text('停止', { senderStaffId: 'u3' }));
    expect(notices(h).at(-1)).toBe('当前没有正在进行的回答。');
    expect(h.gw.requests).toHaveLength(0);
    expect(h.fake.cardList()).toHaveLength(0);
  });

  test('in a shared group session, another member\'s stop word does not stop the asker\'s answer', async () => {
    h = await startHarness({ config: { stopWords: ['停'] } });
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText('慢慢回答'.repeat(10), 2), delayMs: 20 });
    h.fake.pushRobotMessage(h.fake.msg.text('介绍一下', { group: true, senderStaffId: 'u1' }));
    await h.fake.waitFor(() => (h!.fake.cardList()[0]?.streams.msgContent?.updates.length ?? 0) >= 1);
    await h.send(h.fake.msg.text('停', { group: true, senderStaffId: 'u2' }));
    expect(notices(h)).toEqual(['当前没有正在进行的回答。\n\n@u2']);
    await h.fake.waitFor(() => h!.fake.cardList()[0]!.flowStatusHistory.at(-1) === '3', { timeoutMs: 5000 });
    expect(h.fake.cardList()[0]!.params.msgContent).toBe('慢慢回答'.repeat(10));
    // With a custom list the default words are ordinary questions.
    expect(h.gw.requests).toHaveLength(1);
  });
});
