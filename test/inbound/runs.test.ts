import { describe, expect, test } from 'vitest';
import { mediaRef, richTextRuns } from '../../src/inbound/runs.ts';

describe('message runs', () => {
  test('message shape ({text}, {type}) and quote shape ({msgType, content}) give the same runs', () => {
    const message = richTextRuns([{ text: '看这张' }, { type: 'picture', downloadCode: 'p1' }, { type: 'at', atName: '李四', atUserId: 'lisi01' }]);
    const quote = richTextRuns([{ msgType: 'text', content: '看这张' }, { msgType: 'picture', downloadCode: 'p1' }, { msgType: 'at', content: '@李四', atUserId: 'lisi01' }]);
    const expected = [{ text: '看这张' }, { media: { kind: 'picture', downloadCode: 'p1' } }, { at: '李四', userId: 'lisi01' }];
    expect(message).toMatchObject(expected);
    expect(quote).toMatchObject(expected);
  });

  test('a picture run with only pictureDownloadCode counts; junk items and a non-array give nothing', () => {
    expect(richTextRuns([{ pictureDownloadCode: 'p2' }, null, 'x', 3])).toMatchObject([{ media: { kind: 'picture', downloadCode: 'p2' } }]);
    expect(richTextRuns('not a list')).toEqual([]);
  });

  test('a media reference needs a download code; a duration given as a string is read', () => {
    expect(mediaRef('file', { fileName: 'a.pdf' })).toEqual([]);
    expect(mediaRef('audio', { downloadCode: 'a1', duration: '3000', recognition: '你好' })).toEqual([
      { kind: 'audio', downloadCode: 'a1', fileName: undefined, recognition: '你好', durationMs: 3000 },
    ]);
  });
});
