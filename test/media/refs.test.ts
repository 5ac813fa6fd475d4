import { describe, expect, test } from 'vitest';
import { homedir } from 'node:os';
import { dropCutReference, findMediaReferences, maskLocalMedia } from '../../src/media/refs.ts';

const paths = (text: string) => findMediaReferences(text, '/work/space').map((r) => r.path);

describe('finding local media in an answer', () => {
  test('markdown images and links, but not web or DingTalk media', () => {
    expect(paths('![图](/tmp/a.png) [报告](</tmp/my report.pdf>) ![w](https://x.com/a.png) ![m](@lADP123)')).toEqual(['/tmp/a.png', '/tmp/my report.pdf']);
  });

  test('file:// URLs are decoded (spaces, Chinese)', () => {
    expect(paths('see file:///tmp/%E5%9B%BE%20%E8%A1%A8.png now')).toEqual(['/tmp/图 表.png']);
  });

  test('MEDIA: lines keep spaces; attachment:// is relative to the workspace', () => {
    expect(paths('done\nMEDIA: /tmp/季度 报告.pdf\nattachment://out/chart.png')).toEqual(['/tmp/季度 报告.pdf', '/work/space/out/chart.png']);
  });

  test('bare paths, in backticks or not, ~ and Windows drives', () => {
    expect(paths('saved to /tmp/x/chart.png, and `~/out/a b.pdf`, and C:\\Users\\me\\r.docx')).toEqual([
      '/tmp/x/chart.png',
      `${homedir()}/out/a b.pdf`,
      'C:\\Users\\me\\r.docx',
    ]);
    expect(paths('edit /etc/nginx/nginx.conf or visit https://a.b/c.png')).toEqual([]);
  });

  test('explicit references are marked so refusals can be explained', () => {
    const refs = findMediaReferences('![a](/tmp/a.png) and /tmp/b.png');
    expect(refs.map((r) => r.explicit)).toEqual([true, false]);
  });

  test('while streaming, local images show a placeholder instead of a broken image', () => {
    expect(maskLocalMedia('A ![x](/tmp/a.png) B ![y](https://e.com/y.png)', '⏳', '📎')).toBe('A ⏳ B ![y](https://e.com/y.png)');
  });

  test('while streaming, no host path shows: MEDIA: lines, file URLs, local links and a cut-off image are hidden', () => {
    const streamed = '见[报告](/srv/w/r.pdf)\nMEDIA: /etc/shadow\n或 file:///srv/w/a.csv\n![图](/srv/w/cha';
    expect(maskLocalMedia(streamed, '⏳', '📎')).toBe('见报告\n📎\n或 📎\n⏳');
    // A MEDIA: line still being written is hidden too.
    expect(maskLocalMedia('好的\nMEDIA: /srv/wo', '⏳', '📎')).toBe('好的\n📎');
    // A path merely named in prose stays, as it does in the final text.
    expect(maskLocalMedia('已保存到 /srv/w/out.csv', '⏳', '📎')).toBe('已保存到 /srv/w/out.csv');
  });

  test('an answer cut inside a markdown link or image keeps the label, never the half-written target', () => {
    expect(dropCutReference('见[报告](/srv/agent/wor')).toBe('见报告');
    expect(dropCutReference('图：![趋势](/srv/agent/wor')).toBe('图：');
    expect(dropCutReference('完整 [a](/x.pdf) 之后')).toBe('完整 [a](/x.pdf) 之后');
  });

  test('an indented code block (4 spaces or a tab after a blank line) is code: its MEDIA: line and image are no references', () => {
    expect(paths('To send a file, write a line like this:\n\n    MEDIA: /tmp/report.pdf\n\nand it is attached.')).toEqual([]);
    expect(paths('Markdown for an image:\n\n    ![chart](/tmp/chart.png)\n\n\tMEDIA: /tmp/b.pdf\n\nDone.')).toEqual([]);
    // At the start of the answer, too.
    expect(paths('    MEDIA: /tmp/report.pdf')).toEqual([]);
    // A MEDIA: line takes at most 3 leading spaces (4 make it code or a continuation); 0–3 still deliver.
    const lines = findMediaReferences('done\n   MEDIA: /tmp/a.pdf\nnext\n    MEDIA: /tmp/b.pdf').filter((r) => r.mediaLine);
    expect(lines.map((r) => r.path)).toEqual(['/tmp/a.pdf']);
    // Indented under a list item it continues the item (CommonMark §5.2): an image there is a reference.
    expect(paths('1. The chart:\n\n    ![chart](/tmp/chart.png)\n\n2. Next')).toEqual(['/tmp/chart.png']);
    // After the list ends (a blank line, then an unindented paragraph), 4 spaces after a blank line are code again.
    expect(paths('- a\n\nText.\n\n    ![chart](/tmp/chart.png)')).toEqual([]);
  });

  test('code shows syntax: nothing in a fenced block or inside inline code is a reference, except a code span that is exactly one path', () => {
    const text = [
      '```',
      'MEDIA: /srv/w/a.pdf',
      '![x](/srv/w/b.png)',
      'cp out.pdf /srv/w/c.pdf',
      '```',
      '~~~md',
      'file:///srv/w/d.png',
      '~~~',
      'inline: `![x](/srv/w/e.png)`, `MEDIA: /srv/w/f.pdf`, `cat /srv/w/g.csv`, ``/srv/w/h.pdf``',
      'named: `/srv/w/report.pdf`',
    ].join('\n');
    expect(paths(text)).toEqual(['/srv/w/report.pdf']);
    // An unclosed fence (a streamed answer) is code to the end.
    expect(paths('看：\n```sh\nMEDIA: /srv/w/a.pdf\n![x](/srv/w/b.png)')).toEqual([]);
    // Outside the code the same lines still count; a lone backtick opens no code.
    expect(paths('```\nMEDIA: /srv/w/a.pdf\n```\nMEDIA: /srv/w/a.pdf\nit`s ![x](/srv/w/b.png)')).toEqual(['/srv/w/a.pdf', '/srv/w/b.png']);
  });

  test('while streaming and when cut, code stays as written', () => {
    const code = '```\nMEDIA: /srv/w/a.pdf\n![x](/srv/w/b.png)\n```\n`![y](/srv/w/c.png)`';
    expect(maskLocalMedia(code, '⏳', '📎')).toBe(code);
    expect(dropCutReference('```md\n![图](/srv/agent/wor')).toBe('```md\n![图](/srv/agent/wor');
    expect(dropCutReference('写法 `![图](/srv/agent/wor')).toBe('写法 `![图](/srv/agent/wor');
    expect(dropCutReference('`a` 图：![趋势](/srv/agent/wor')).toBe('`a` 图：');
  });
});
