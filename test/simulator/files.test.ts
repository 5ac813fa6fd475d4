import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sniff } from '../../src/media/sniff.ts';
import { chartPng, crc32, encodePng, pngSize, simplePdf } from '../../src/simulator/files.ts';

/** Chunks of a PNG with their CRC checked, as a decoder would. */
function chunks(png: Buffer): Array<{ type: string; data: Buffer }> {
  const out: Array<{ type: string; data: Buffer }> = [];
  for (let at = 8; at < png.length;) {
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + len);
    expect(png.readUInt32BE(at + 8 + len), `${type} CRC`).toBe(crc32(png.subarray(at + 4, at + 8 + len)));
    out.push({ type, data });
    at += 12 + len;
  }
  return out;
}

describe('simulator files', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('encodes a PNG a decoder accepts: signature, IHDR, one row per line, valid CRCs', () => {
    const png = encodePng(3, 2, (x, y) => [x * 10, y * 20, 255]);
    expect(sniff(png)).toBe('png');
    expect(pngSize(png)).toEqual({ width: 3, height: 2 });
    const c = chunks(png);
    expect(c.map((x) => x.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const raw = inflateSync(c[1]!.data);
    expect(raw.length).toBe((3 * 3 + 1) * 2);
    // Row 1, pixel 2: filter byte, then RGB.
    expect([...raw.subarray(10 + 1 + 6, 10 + 1 + 9)]).toEqual([20, 20, 255]);
  });

  it('makes different charts for different seeds', () => {
    const a = chartPng(1);
    expect(pngSize(a)).toEqual({ width: 480, height: 270 });
    expect(a.equals(chartPng(2))).toBe(false);
  });

  it('writes a PDF whose cross-reference offsets point at its objects', () => {
    const pdf = simplePdf(['Hello (world)', 'line 2']);
    expect(sniff(pdf)).toBe('pdf');
    const text = pdf.toString('latin1');
    const xrefAt = Number(/startxref\n(\d+)/.exec(text)![1]);
    expect(text.slice(xrefAt, xrefAt + 4)).toBe('xref');
    const offsets = [...text.slice(xrefAt).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    expect(offsets).toHaveLength(5);
    offsets.forEach((off, i) => expect(text.slice(off, off + 8)).toBe(`${i + 1} 0 obj\n`));
    expect(text).toContain('(Hello \\(world\\)) \'');
  });
});
