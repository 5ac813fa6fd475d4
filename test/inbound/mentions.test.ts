import { describe, expect, test } from 'vitest';
import { BOT, LISI, WANGWU, msg, parse } from './payloads.ts';

describe('mentions', () => {
  test('group text: DingTalk already removed the robot; a member named in the text keeps the mention', () => {
    // Arrives as " @李四 帮他看看这个报错" with 李四 in atUsers.
    const m = parse(msg.text('@李四 帮他看看这个报错', { group: true, atUsers: [LISI] }));
    expect(m.text).toBe('@李四 帮他看看这个报错');
    expect(m.mentions).toEqual([LISI]);
    expect(m.mentionNamesMissing).toBe(false);
  });

  test('group text whose member names DingTalk removed: the members are known from atUsers', () => {
    // "@bot 给 @王五 发个消息" arrives as " 给  发个消息".
    const m = parse(msg.text('给  发个消息', { group: true, atUsers: [WANGWU] }));
    expect(m.text).toBe('给  发个消息');
    expect(m.mentions).toEqual([WANGWU]);
    expect(m.mentionNamesMissing).toBe(true);
  });

  test('group text that kept the robot name (the only @name, more than the members listed): the robot name goes', () => {
    const m = parse(msg.text('@FakeBot 帮我总结一下', { group: true }));
    expect(m.text).toBe('帮我总结一下');
  });

  test('richText: the robot name run glued to the next run is removed ("@小助手帮我看下")', () => {
    const payload = msg.richText([{ text: '帮我看下' }], { group: true, botNameRun: true });
    expect(payload.content!.richText![0]).toEqual({ text: '@FakeBot' });
    const m = parse(payload);
    expect(m.text).toBe('帮我看下');
  });

  test('richText with the robot and a member: the leading robot name goes, the member stays', () => {
    const m = parse(msg.richText([{ text: '@李四 ' }, { text: '帮他看看' }], { group: true, botNameRun: true, atUsers: [LISI] }));
    expect(m.text).toBe('@李四 帮他看看');
    expect(m.mentionNamesMissing).toBe(false);
  });

  test('structured at-runs: the robot is recognised by its id, a member by theirs stays', () => {
    const m = parse(msg.richText(
      [{ type: 'at', atName: 'FakeBot', atUserId: BOT }, { text: ' 请 ' }, { type: 'at', atName: '李四', atUserId: LISI.dingtalkId }, { text: ' 看看' }],
      { group: true, atUsers: [LISI] },
    ));
    expect(m.text).toBe('请 @李四 看看');
  });

  test('when the robot name cannot be told from a member name, no mention is removed', () => {
    const m = parse(msg.richText([{ text: '请 @李四 和 @FakeBot 一起看' }], { group: true, atUsers: [LISI] }));
    expect(m.text).toBe('请 @李四 和 @FakeBot 一起看');
  });

  test('an email address or a bare @ is not a mention', () => {
    const m = parse(msg.text('发到 a@b.com 或者 @ 一下', { group: true, atUsers: [] }));
    expect(m.text).toBe('发到 a@b.com 或者 @ 一下');
  });

});
