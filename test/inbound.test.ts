import { describe, expect, test } from 'vitest';
import { commandText, parseRobotMessage } from '../src/inbound.ts';
import { isResetCommand } from '../src/sessions.ts';
import { isStopWord } from '../src/stop.ts';
import { DEFAULT_STOP_WORDS } from '../src/config.ts';
import { BOT, msg, parse } from './inbound/payloads.ts';

describe('robot message parsing', () => {
  test('DM text is trimmed; nothing else is touched', () => {
    const m = parse(msg.text(' 你好 '));
    expect(m).toMatchObject({ isGroup: false, text: '你好', senderStaffId: 'user001', media: [], mentions: [], mentionNamesMissing: false });
  });

  test('audio recognition becomes the text; file keeps its name', () => {
    const a = parse(msg.audio({ downloadCode: 'dca', recognition: '帮我建个任务', duration: 4000 }));
    expect(a.text).toBe('帮我建个任务');
    expect(a.media[0]).toMatchObject({ kind: 'audio', durationMs: 4000 });
    expect(parse(msg.file({ downloadCode: 'dcf', fileName: '报价单.pdf' })).media[0]).toMatchObject({ kind: 'file', fileName: '报价单.pdf' });
  });

  test('unusable payloads give a reason instead of throwing', () => {
    expect(parseRobotMessage('{not json')).toEqual({ ok: false, reason: 'data is not JSON' });
    expect(parseRobotMessage('[1,2]')).toEqual({ ok: false, reason: 'data is not an object' });
    expect(parseRobotMessage(JSON.stringify({ ...msg.text('x'), msgtype: undefined }))).toEqual({ ok: false, reason: 'no msgtype' });
    const { msgId: _m, ...noId } = msg.text('x');
    expect(parseRobotMessage(JSON.stringify(noId), 'frame-id')).toMatchObject({ ok: true, message: { msgId: 'frame-id' } });
  });
});

describe('commands', () => {
  test('reset and stop commands are seen after @robot in every shape', () => {
    const shapes = [
      msg.text('/new', { group: true }), // " /new"
      msg.text('@FakeBot /new', { group: true, rawContent: true }),
      msg.richText([{ text: '/new' }], { group: true, botNameRun: true }), // "@FakeBot" + "/new", glued
      msg.richText([{ type: 'at', atName: 'FakeBot', atUserId: BOT }, { text: ' /new' }], { group: true }),
      msg.text('/new'),
    ];
    for (const s of shapes) {
      const m = parse(s);
      expect(commandText(m)).toBe('/new');
      expect(isResetCommand(commandText(m))).toBe(true);
    }
    expect(commandText({ text: '@李四\u2005停止' })).toBe('停止');
    for (const s of [msg.richText([{ text: '停止' }], { group: true, botNameRun: true }), msg.text('@FakeBot 停止', { group: true, rawContent: true })]) {
      expect(isStopWord(commandText(parse(s)), DEFAULT_STOP_WORDS)).toBe(true);
    }
  });
});

describe('richText order', () => {
  test('text and pictures keep the order the user wrote them in', () => {
    const m = parse(msg.richText([
      { text: '第一张' }, { type: 'picture', downloadCode: 'p1' }, { text: '第二张' }, { type: 'picture', downloadCode: 'p2' }, { text: '哪张好？' },
    ]));
    expect(m.body).toEqual([{ text: '第一张' }, { media: 0 }, { text: '第二张' }, { media: 1 }, { text: '哪张好？' }]);
    expect(m.media.map((x) => x.downloadCode)).toEqual(['p1', 'p2']);
    expect(m.text).toBe('第一张\n第二张\n哪张好？');
  });
});
