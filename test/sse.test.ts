import { describe, expect, test } from 'vitest';
import { SseParser } from '../src/sse.ts';

function feed(chunks: Array<string | Uint8Array>): Array<{ event: string; data: string }> {
  const p = new SseParser();
  const out = chunks.flatMap((c) => p.push(c));
  return [...out, ...p.end()].map(({ event, data }) => ({ event, data }));
}

describe('SSE parsing', () => {
  test('events split across chunks at every position give the same result', () => {
    const wire = 'data: {"a":1}\n\n: keep-alive\n\nevent: error\ndata: bad\n\ndata: [DONE]\n\n';
    const expected = [
      { event: 'message', data: '{"a":1}' },
      { event: 'error', data: 'bad' },
      { event: 'message', data: '[DONE]' },
    ];
    for (let i = 0; i <= wire.length; i++) expect(feed([wire.slice(0, i), wire.slice(i)])).toEqual(expected);
  });

  test('CRLF and lone CR line ends, including CR and LF in different chunks', () => {
    expect(feed(['data: one\r', '\n\r\ndata: two\r\r'])).toEqual([
      { event: 'message', data: 'one' },
      { event: 'message', data: 'two' },
    ]);
  });

  test('a UTF-8 character split between chunks is decoded whole', () => {
    const bytes = new TextEncoder().encode('data: 你好\n\n');
    expect(feed([bytes.slice(0, 8), bytes.slice(8)])).toEqual([{ event: 'message', data: '你好' }]);
  });

  test('multi-line data joins with newlines; a last event without a blank line is kept', () => {
    expect(feed(['data: a\ndata: b\n\ndata: tail'])).toEqual([
      { event: 'message', data: 'a\nb' },
      { event: 'message', data: 'tail' },
    ]);
  });

  test('comments and empty keep-alives produce no events', () => {
    expect(feed([': ping\n\n\n\n:another\n\n'])).toEqual([]);
  });
});
