import { afterEach, describe, expect, test } from 'vitest';
import { codeRegions, normalizeMarkdown } from '../src/markdown.ts';
import { chunkText } from './fake-gateway/index.ts';
import { startHarness, type Harness } from './harness.ts';

// Input the agent wrote → the text DingTalk receives (card and markdown message alike). Evidence in src/markdown.ts.
const CASES: Array<[string, string, string]> = [
  ['a table right after a paragraph gets the blank line it needs to render (else raw pipes)',
    '结果如下：\n| 名称 | 价格 |\n|---|---:|\n| 苹果 | 5 |\n合计 5',
    '结果如下：\n\n| 名称 | 价格 |\n| --- | ---: |\n| 苹果 | 5 |\n\n合计 5'],
  ['a table without outer pipes and with a short row is rebuilt to the header width',
    'a | b | c\n:-- | :-: | --\n1 | 2\n',
    '| a | b | c |\n| :--- | :---: | --- |\n| 1 | 2 |  |\n'],
  ['a row with too many cells keeps them all in the last column',
    '| k | v |\n|---|---|\n| x | 1 | 2 |',
    '| k | v |\n| --- | --- |\n| x | 1 / 2 |'],
  ['escaped pipes and pipes in inline code stay inside their cell',
    '| expr | meaning |\n|---|---|\n| `a|b` | a or b \\| c |',
    '| expr | meaning |\n| --- | --- |\n| `a|b` | a or b \\| c |'],
  ['a table inside a code fence is code: untouched',
    '```\n| a | b |\n|---|---|\n```',
    '```\n| a | b |\n|---|---|\n```'],
  ['"a | b" over "---" is a heading, not a table (column counts differ)',
    'a | b\n---\ntext',
    'a | b\n---\ntext'],
  ['<br> inside a table cell stays in the cell',
    '| 步骤 | 说明 |\n|---|---|\n| 1 | 先备份<br>再升级 |',
    '| 步骤 | 说明 |\n| --- | --- |\n| 1 | 先备份 / 再升级 |'],
  ['HTML becomes markdown or its text',
    '<b>注意</b>：见 <a href="https://x.cn/d">文档</a>，<i>尽快</i><br>执行 <code>npm ci</code><div>完成</div>',
    '**注意**：见 [文档](https://x.cn/d)，*尽快*  \n执行 `npm ci`完成'],
  ['<img> becomes a markdown image keeping its alt text, whatever the attribute order or quotes',
    '图：<img alt="趋势" src="/srv/w/a.png"> <img src=\'https://e.cn/b.png\' alt=b /> <img alt="无图">',
    '图：![趋势](/srv/w/a.png) ![b](https://e.cn/b.png) 无图'],
  ['<script> and <style> elements and HTML comments are dropped with their content',
    '答案<script>alert(1)</script><style>p{color:red}</style><!-- token: gw-token -->完',
    '答案完'],
  ['a comment or script spanning lines is dropped whole; the lines around it stay',
    '前\n<!-- 内部备注\n路径 /srv/x -->\n后\n<script>\nx()\n</script>\n尾',
    '前\n\n后\n\n尾'],
  ['an unclosed comment (a streamed answer so far) hides the rest, as HTML does',
    '答案<!-- gw-token\n更多',
    '答案'],
  ['a comment opener inside inline code is code: untouched',
    '用 `<!--` 开始注释，`<script>` 也一样',
    '用 `<!--` 开始注释，`<script>` 也一样'],
  ['HTML inside inline code and code fences is code: untouched',
    '用 `<br>` 换行\n```html\n<b>x</b>\n```',
    '用 `<br>` 换行\n```html\n<b>x</b>\n```'],
  ['2-space nesting under a numbered item becomes real nesting (4 spaces per level)',
    '1. 准备\n  - 备份\n    - 数据库\n  - 通知\n2. 升级',
    '1. 准备\n    - 备份\n        - 数据库\n    - 通知\n2. 升级'],
  ['task-list boxes, which DingTalk shows raw, become ☐ / ☑',
    '- [ ] 写测试\n- [x] 修复',
    '- ☐ 写测试\n- ☑ 修复'],
  ['an indented code block is not a list',
    '示例：\n\n    - not a list item',
    '示例：\n\n    - not a list item'],
  ['an unclosed code fence (a streamed answer so far) is closed so the rest is not swallowed',
    '代码：\n```python\nprint(1)',
    '代码：\n```python\nprint(1)\n```'],
  ['headings, quotes, emphasis, links and images pass unchanged',
    '# 标题\n\n> 引用\n\n**粗** *斜* [链接](https://a.b) ![图](@lADP123)',
    '# 标题\n\n> 引用\n\n**粗** *斜* [链接](https://a.b) ![图](@lADP123)'],
  ['CRLF line ends become LF',
    'a\r\nb\r\n',
    'a\nb\n'],
];

describe('markdown sent to DingTalk', () => {
  test.each(CASES)('%s', (_name, input, sent) => {
    expect(normalizeMarkdown(input)).toBe(sent);
  });

  test('normalising twice changes nothing more', () => {
    for (const [, input] of CASES) {
      const once = normalizeMarkdown(input);
      expect(normalizeMarkdown(once)).toBe(once);
    }
  });
});

describe('every answer passes the normaliser', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const answer = '对比：\n| 方案 | 成本 |\n|---|---|\n| A | 低 |';
  const sent = '对比：\n\n| 方案 | 成本 |\n| --- | --- |\n| A | 低 |';

  test('in the AI card', async () => {
    h = await startHarness();
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 5) });
    await h.send(h.fake.msg.text('对比一下', { senderStaffId: 'u1' }));
    expect(h.fake.cardList()[0]!.streams.msgContent!.content).toBe(sent);
  });

  test('in a markdown message when there is no card', async () => {
    h = await startHarness();
    h.fake.faults.revokeScope('Card.Instance.Write');
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(answer, 5) });
    await h.send(h.fake.msg.text('对比一下', { senderStaffId: 'u1' }));
    expect(h.fake.sent.at(-1)!.body.markdown.text).toBe(sent);
  });
});

describe('where the code is', () => {
  test('fenced blocks (closed, unclosed, ~~~) and inline spans of matching backtick runs; a lone backtick opens nothing', () => {
    const text = 'a `x` b ``y ` z`` it`s\n```js\nq\n```\n\n~~~\nopen';
    const shown = codeRegions(text).map((r) => [text.slice(r.start, r.end), r.block]);
    expect(shown).toEqual([
      ['`x`', false],
      ['``y ` z``', false],
      ['```js\nq\n```', true],
      ['~~~\nopen', true],
    ]);
    // A span does not cross a blank line (a new paragraph).
    expect(codeRegions('a `b\n\nc` d')).toEqual([]);
  });
});
