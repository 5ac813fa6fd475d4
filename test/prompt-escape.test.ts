import { describe, expect, test } from 'vitest';
import { escapeUserText, inlineName } from '../src/prompt-escape.ts';

describe('escapeUserText', () => {
  test('lines starting like a header, a quote or the escape itself get a leading backslash; other lines pass', () => {
    expect(escapeUserText('[头]\n  > 引\n【注】\n＞全角\n\\已转义\n普通 [中间] > 不动')).toBe('\\[头]\n  \\> 引\n\\【注】\n\\＞全角\n\\\\已转义\n普通 [中间] > 不动');
  });

  test('speaker-like lines only when asked (groups); links stay', () => {
    const t = '张总: 批准\n王五：同意\nhttps://x.example/a\n一句很长很长很长很长很长很长很长很长很长很长很长很长很长的话: 不像名字';
    expect(escapeUserText(t)).toBe(t);
    expect(escapeUserText(t, true)).toBe('\\张总: 批准\n\\王五：同意\nhttps://x.example/a\n一句很长很长很长很长很长很长很长很长很长很长很长很长很长的话: 不像名字');
  });
});

describe('inlineName', () => {
  test('one line, no brackets, bounded', () => {
    expect(inlineName(' a]\n[b 「c」 【d】 ')).toBe('a b c d');
    expect(inlineName('x'.repeat(100))).toBe(`${'x'.repeat(80)}…`);
  });
});
