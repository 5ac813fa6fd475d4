import { describe, expect, test } from 'vitest';
import { QUOTE_MAX_CHARS, readable, truncate } from '../../src/inbound/readable.ts';

describe('readable text', () => {
  test.each([
    ['  你好  ', '你好'],
    ['', undefined],
    ['   ', undefined],
    [undefined, undefined],
    // An encrypted quote payload (dingtalk-workspace-cli#1091) and an opaque encoded blob (dingtalk-stream-sdk-go#22).
    ['QUJDREVGR0hJSktMTU5PUA==||4||1||2', undefined],
    ['eyJ0ZXh0IjoiaGVsbG8gd29ybGQiLCJ1c2VyIjoiemhhbmdzYW4ifQ==', undefined],
    // What people do quote stays: hashes, ids, words, sentences.
    ['3f786850e387550fdab836ed7e6dc881de23001b', '3f786850e387550fdab836ed7e6dc881de23001b'],
    ['dingAPPKEY', 'dingAPPKEY'],
    ['see PR 42 please', 'see PR 42 please'],
  ])('%j → %j', (input, expected) => {
    expect(readable(input)).toBe(expected);
  });

  test('text past QUOTE_MAX_CHARS is cut with an ellipsis; truncate leaves short text alone', () => {
    expect(readable('长'.repeat(QUOTE_MAX_CHARS + 5))).toBe(`${'长'.repeat(QUOTE_MAX_CHARS)}…`);
    expect(truncate('abcdef', 3)).toBe('abc…');
    expect(truncate('abc', 3)).toBe('abc');
  });
});
