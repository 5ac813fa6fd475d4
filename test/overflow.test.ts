import { describe, expect, test } from 'vitest';
import { CARD_CONTENT_MAX_CHARS } from '../src/card.ts';
import { MARKDOWN_CHUNK_CHARS } from '../src/deliver.ts';
import { createLogger } from '../src/log.ts';
import { CardOverflow, cardParts } from '../src/overflow.ts';
import { text } from '../src/texts.ts';

const NOTE = text('answerContinues', 'zh');

/** A card that records what it was finished with, a message route that records parts, and a logger that keeps warnings. */
function setup(opts: { finishes?: boolean; sends?: (part: string, i: number) => boolean; mediaUpload?: boolean } = {}) {
  const finished: string[] = [];
  const sent: string[] = [];
  const warnings: string[] = [];
  const card = {
    usable: true,
    failure: undefined as string | undefined,
    finish: async (t: string) => {
      finished.push(t);
      return opts.finishes ?? true;
    },
  };
  const overflow = new CardOverflow({
    card,
    lang: 'zh',
    msgId: 'm1',
    mediaUpload: opts.mediaUpload ?? false,
    log: createLogger({ info: () => {}, warn: (m) => warnings.push(m), error: () => {} }),
    send: async (part) => {
      sent.push(part);
      return opts.sends?.(part, sent.length - 1) ?? true;
    },
  });
  return { overflow, finished, sent, warnings };
}

/** Paragraphs `P<i>: ……` of about 300 characters each, about `chars` in all. */
function paragraphs(chars: number, from = 0): string[] {
  const out: string[] = [];
  for (let i = from, n = 0; n < chars; i++) {
    const p = `P${i}：${'长回答的内容需要完整送达用户。'.repeat(20)}`;
    out.push(p);
    n += p.length + 2;
  }
  return out;
}

/** Offers `answer` as a stream would, `step` characters at a time, letting the background sends run in between. */
async function stream(overflow: CardOverflow, answer: string, step = 97): Promise<void> {
  for (let at = step; at < answer.length + step; at += step) {
    overflow.offer(answer.slice(0, at));
    await new Promise((r) => setImmediate(r));
  }
}

/** What the user reads: the card's part (without the note), then each message, as paragraphs. */
function read(card: string, messages: string[]): string[] {
  const head = card.endsWith(`\n\n${NOTE}`) ? card.slice(0, -NOTE.length - 2) : card;
  return [head, ...messages].flatMap((t) => t.split(/\n+/)).filter((l) => l.trim() !== '');
}

describe('a long answer continues in messages while it streams', () => {
  test('the card is finished with its part once that is final; each complete part follows at once; the end gives the rest: all of it once, in order', async () => {
    const { overflow, finished, sent } = setup();
    const answer = paragraphs(12_000).join('\n\n');
    await stream(overflow, answer.slice(0, 9_000));
    // While the answer still streams, the card is finished and at least one part went out.
    expect(finished).toHaveLength(1);
    expect(finished[0]).toBe(cardParts(answer, 'zh').card);
    expect(finished[0]!.length).toBeLessThanOrEqual(CARD_CONTENT_MAX_CHARS);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    for (const part of sent) expect(part.length).toBeLessThanOrEqual(MARKDOWN_CHUNK_CHARS);
    await stream(overflow, answer);
    const end = await overflow.end(answer);
    expect(end).toBeDefined();
    expect(read(finished[0]!, [...sent, end!.rest!])).toEqual(answer.split('\n\n'));
    // Nothing is sent once the answer ended.
    const count = sent.length;
    overflow.offer(`${answer}\n\nmore`);
    await new Promise((r) => setImmediate(r));
    expect(sent).toHaveLength(count);
  });

  test('the answer ends while a part is on its way: the end waits for it and gives only what follows', async () => {
    const finished: string[] = [];
    const answer = paragraphs(9_000).join('\n\n');
    const parts: string[] = [];
    let release: () => void = () => {};
    const o = new CardOverflow({
      card: { usable: true, failure: undefined, finish: async (t) => (finished.push(t), true) },
      lang: 'zh',
      msgId: 'm1',
      mediaUpload: false,
      log: createLogger({ info: () => {}, warn: () => {}, error: () => {} }),
      send: (part) => new Promise((resolve) => (release = () => (parts.push(part), resolve(true)))),
    });
    await stream(o, answer);
    const ending = o.end(answer);
    await new Promise((r) => setTimeout(r, 10));
    release();
    const end = await ending;
    expect(parts).toHaveLength(1);
    expect(read(finished[0]!, [...parts, end!.rest!])).toEqual(answer.split('\n\n'));
  });

  test('a code fence cut between two parts is closed and reopened; the end continues inside it', async () => {
    const { overflow, finished, sent } = setup();
    const code = Array.from({ length: 400 }, (_, k) => `print(${k})  # 第${k}步`).join('\n');
    const answer = `${paragraphs(3_000).join('\n\n')}\n\n\`\`\`python\n${code}\n\`\`\`\n\n结束。`;
    await stream(overflow, answer);
    const end = await overflow.end(answer);
    const messages = [...sent, end!.rest!];
    for (const m of messages) expect(m.split('\n').filter((l) => l.startsWith('```')).length % 2).toBe(0);
    expect(messages.slice(1).every((m) => !m.includes('print(') || m.startsWith('```python\n') || m.indexOf('```') < m.indexOf('print('))).toBe(true);
    const lines = read(finished[0]!, messages).filter((l) => !l.startsWith('```'));
    expect(lines).toEqual(answer.split(/\n+/).filter((l) => l.trim() !== '' && !l.startsWith('```')));
  });

  test('text from the first local media reference on waits for the end, where the media step rewrote it', async () => {
    const { overflow, finished, sent } = setup({ mediaUpload: true });
    const before = paragraphs(7_000).join('\n\n');
    const after = paragraphs(6_000, 100).join('\n\n');
    const answer = `${before}\n\nMEDIA: /tmp/report.pdf\n\n${after}`;
    await stream(overflow, answer);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    for (const part of sent) expect(part).not.toContain('report.pdf');
    // The media step replaced the MEDIA line at the end (src/media/outbound.ts).
    const final = answer.replace('MEDIA: /tmp/report.pdf', '（report.pdf 已作为文件发送）');
    const end = await overflow.end(final);
    expect(end!.rest).toContain('（report.pdf 已作为文件发送）');
    expect(read(finished[0]!, [...sent, end!.rest!])).toEqual(final.split('\n\n'));
  });

  test('the last complete line waits for the next one (a table header is read with its delimiter row)', async () => {
    const { overflow, finished, sent } = setup();
    // Rows of one line each (no paragraph break to cut at), a table header, then the first characters of the next line.
    const rows = Array.from({ length: 30 }, (_, k) => `第${k}行：${'内容'.repeat(50)}`).join('\n');
    const answer = `${paragraphs(2_600).join('\n\n')}\n\n${rows}\n| 项目 | 状态 |\n|${'-'.repeat(300)}`;
    overflow.offer(answer);
    await new Promise((r) => setImmediate(r));
    expect(finished).toHaveLength(1);
    for (const part of sent) expect(part).not.toContain('| 项目 | 状态 |');
    // Once the delimiter row is complete and another line follows, the header is final (a table now).
    const more = `${answer}|------|\n| 甲 | 好 |\n| 乙 | 好 |\n`;
    overflow.offer(more);
    await new Promise((r) => setImmediate(r));
    expect(sent.some((p) => p.includes('| 项目 | 状态 |'))).toBe(true);
  });

  test('a card that cannot be finished early: nothing goes out early, the answer is delivered at the end as usual', async () => {
    const { overflow, finished, sent } = setup({ finishes: false });
    const answer = paragraphs(12_000).join('\n\n');
    await stream(overflow, answer);
    expect(finished).toHaveLength(1);
    expect(sent).toEqual([]);
    expect(await overflow.end(answer)).toBeUndefined();
  });

  test('a part no route took stops the early sends and is not delivered text: the end gives it and all after it, in order', async () => {
    const { overflow, finished, sent } = setup({ sends: (_part, i) => i !== 0 });
    const answer = paragraphs(14_000).join('\n\n');
    await stream(overflow, answer);
    // Nothing went out after the failed part.
    expect(sent).toHaveLength(1);
    const end = await overflow.end(answer);
    // The user reads the card, then the end's messages: the answer from its start, the failed part first.
    expect(end!.rest!.startsWith(sent[0]!)).toBe(true);
    expect(read(finished[0]!, [end!.rest!])).toEqual(answer.split('\n\n'));
  });

  test('a final text that no longer starts with what was sent: the messages go on from the last paragraph both share (a repeat, never a loss), with a warning', async () => {
    const { overflow, finished, sent, warnings } = setup();
    const answer = paragraphs(9_000).join('\n\n');
    await stream(overflow, answer);
    // P12 already went out in the first message.
    expect(sent[0]).toContain('P12：');
    const final = answer.replace('P12：', 'P12（改）：');
    const end = await overflow.end(final);
    expect(end!.rest).toBe(final.slice(final.indexOf('P12（改）：')));
    // Every paragraph of the final answer reached the user, the changed one after the old.
    const seen = read(finished[0]!, [...sent, end!.rest!]);
    expect(final.split('\n\n').filter((p) => !seen.includes(p))).toEqual([]);
    expect(warnings.some((w) => w.includes('differs from the part already sent'))).toBe(true);
  });

  test('a final text that shares no paragraph with what was sent (a streamed preamble the final dropped): the whole final answer follows as messages', async () => {
    const { overflow, finished, sent } = setup();
    const preamble = `说明：${'这是一段之后被替换掉的开场白。'.repeat(60)}`;
    const body = paragraphs(3_500).join('\n\n');
    await stream(overflow, `${preamble}\n\n${body}`);
    expect(finished).toHaveLength(1);
    const end = await overflow.end(body);
    expect(end!.rest).toBe(body);
    expect(sent.join('').includes('P0：')).toBe(false);
  });

  test('resuming inside a code block reopens it, so the message renders on its own', async () => {
    const { overflow, finished, sent } = setup();
    const lines = Array.from({ length: 200 }, (_, k) => `print("第${k}行示例代码，演示如何处理长回答")`);
    const code = `${lines.slice(0, 3).join('\n')}\n\n${lines.slice(3).join('\n')}`;
    const answer = `${paragraphs(2_000).join('\n\n')}\n\n\`\`\`python\n${code}\n\`\`\``;
    await stream(overflow, answer);
    expect(finished).toHaveLength(1);
    // Line 5 of the code already went out; the final changes it.
    expect([finished[0]!, ...sent].join('\n')).toContain(lines[5]);
    const final = answer.replace('第5行', '第五行');
    const end = await overflow.end(final);
    expect(end!.rest).toBe(`\`\`\`python\n${final.slice(final.indexOf(lines[3]!))}`);
  });

  test('an answer the card holds: nothing is finished or sent early', async () => {
    const { overflow, finished, sent } = setup();
    const answer = paragraphs(2_000).join('\n\n');
    await stream(overflow, answer);
    expect([finished, sent]).toEqual([[], []]);
    expect(await overflow.end(answer)).toBeUndefined();
  });
});
