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
  ['closed <script> and <style> elements are dropped with their content',
    '答案<script>alert(1)</script><style type="text/css">p{color:red}</style>完',
    '答案完'],
  ['an HTML comment starting a line is dropped; the text after it on its last line stays',
    '<!-- 内部备注 --> 正文\n<!-- a -->\n\n<script>\nx()\n</script>\n\n尾',
    ' 正文\n\n\n尾'],
  ['<!-- and --> named inside one sentence are prose: the words between them stay (attack 4)',
    'HTML 注释以 <!-- 开头，以 --> 结尾。',
    'HTML 注释以 <!-- 开头，以 --> 结尾。'],
  ['<style> and <script> named in prose, never closed, hide nothing (attack 4)',
    '把 CSS 放进 <style> 标签，把脚本放进 <script> 标签。\n\n第二段：样式写在页面头部。\n\n第三段：脚本放在页面底部。',
    '把 CSS 放进 <style> 标签，把脚本放进 <script> 标签。\n\n第二段：样式写在页面头部。\n\n第三段：脚本放在页面底部。'],
  ['an unclosed comment at the end of an answer is shown as written (attack 4)',
    '写 <!-- 即可开始注释。\n\n<!-- 也可以放在行首\n\n第三段。',
    '写 <!-- 即可开始注释。\n\n<!-- 也可以放在行首\n\n第三段。'],
  ['"<script" not followed by a real tag end is prose',
    '<script 标签不能自闭合，</script> 必须写出',
    '<script 标签不能自闭合，</script> 必须写出'],
  ['a "<" comparison that looks like a tag name but is not tag syntax stays',
    '若 a <p 且 q> b，则 x <s 时 y> 0；<think> 未闭合<details>也一样',
    '若 a <p 且 q> b，则 x <s 时 y> 0；<think> 未闭合也一样'],
  ['lone emphasis marks, brackets and dollars pass unchanged',
    '单个 * 号、snake_case_name、[未闭合 与 $5 和 $x 都照写\n* 列表项 [a\n_半个强调',
    '单个 * 号、snake_case_name、[未闭合 与 $5 和 $x 都照写\n* 列表项 [a\n_半个强调'],
  ['an unclosed code fence keeps HTML-looking lines inside it as code',
    '示例：\n```html\n<!-- 注释\n<style>\np{}',
    '示例：\n```html\n<!-- 注释\n<style>\np{}\n```'],
  ['a comment or script spanning lines is dropped whole; the lines around it stay',
    '前\n<!-- 内部备注\n路径 /srv/x -->\n后\n<script>\nx()\n</script>\n尾',
    '前\n\n后\n\n尾'],
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

describe('an answer still streaming', () => {
  const streaming = (t: string) => normalizeMarkdown(t, { streaming: true });

  test('hidden HTML opened but not yet closed holds back the rest until it closes', () => {
    expect(streaming('前\n<!-- 内部备注\n路径')).toBe('前');
    expect(streaming('答案<script>var a = 1;\nvar b')).toBe('答案');
    expect(streaming('答案<script>var a = 1;\nvar b</script>完')).toBe('答案完');
  });

  test('prose naming tags is shown while streaming too when nothing hides it', () => {
    expect(streaming('HTML 注释以 <!-- 开头，以 --> 结尾。')).toBe('HTML 注释以 <!-- 开头，以 --> 结尾。');
    expect(streaming('`<style>` 与 `<!--` 都是代码')).toBe('`<style>` 与 `<!--` 都是代码');
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

  test('prose naming <style> and <script>, streamed in pieces, ends with every paragraph in the card (attack 4)', async () => {
    h = await startHarness();
    const prose = '把 CSS 放进 <style> 标签，把脚本放进 <script> 标签。\n\n第二段：样式写在页面头部。\n\n第三段：脚本放在页面底部。';
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(prose, 7) });
    await h.send(h.fake.msg.text('style 标签怎么用', { senderStaffId: 'u1' }));
    expect(h.fake.cardList()[0]!.streams.msgContent!.content).toBe(prose);
  });

  test('a complete answer ending in an unbalanced "[a](b" keeps it as written (only an answer cut short loses a cut reference)', async () => {
    h = await startHarness();
    const written = '参数写法：[名称](可选，默认为空';
    h.gw.respond = () => ({ kind: 'stream', deltas: chunkText(written, 4) });
    await h.send(h.fake.msg.text('参数怎么写', { senderStaffId: 'u1' }));
    expect(h.fake.cardList()[0]!.streams.msgContent!.content).toBe(written);
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
