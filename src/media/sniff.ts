/**
 * What a file really is, from its first bytes: an "image" must be an image, whatever its name says.
 */

export type SniffedType =
  | 'png' | 'jpeg' | 'gif' | 'bmp' | 'webp'
  | 'pdf' | 'zip' | 'ole' | 'rar'
  | 'mp4' | 'mp3' | 'wav' | 'ogg' | 'amr'
  | 'text' | 'unknown';

const IMAGE_MIME: Partial<Record<SniffedType, string>> = { png: 'image/png', jpeg: 'image/jpeg', gif: 'image/gif', bmp: 'image/bmp', webp: 'image/webp' };

export function sniff(bytes: Buffer): SniffedType {
  const b = bytes;
  const starts = (...sig: number[]) => sig.every((v, i) => b[i] === v);
  const ascii = (at: number, s: string) => b.length >= at + s.length && b.toString('latin1', at, at + s.length) === s;
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'BM') && b.length > 26) return 'bmp';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'RIFF') && ascii(8, 'WAVE')) return 'wav';
  if (ascii(0, '%PDF-')) return 'pdf';
  if (starts(0x50, 0x4b, 0x03, 0x04) || starts(0x50, 0x4b, 0x05, 0x06)) return 'zip';
  if (starts(0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1)) return 'ole';
  if (ascii(0, 'Rar!')) return 'rar';
  if (ascii(4, 'ftyp')) return 'mp4';
  if (ascii(0, 'ID3') || (b[0] === 0xff && ((b[1] ?? 0) & 0xe0) === 0xe0)) return 'mp3';
  if (ascii(0, 'OggS')) return 'ogg';
  if (ascii(0, '#!AMR')) return 'amr';
  if (looksLikeText(b)) return 'text';
  return 'unknown';
}

export function imageMime(t: SniffedType): string | undefined {
  return IMAGE_MIME[t];
}

export function isImage(t: SniffedType): boolean {
  return IMAGE_MIME[t] !== undefined;
}

/**
 * Which sniffed types may carry each extension we send. Images go inline; the rest are DingTalk's file
 * types plus video and audio, which go out as files (voice and video messages need duration and cover
 * metadata an answer cannot supply).
 */
const EXT_TYPES: Record<string, SniffedType[]> = {
  png: ['png'], jpg: ['jpeg'], jpeg: ['jpeg'], gif: ['gif'], bmp: ['bmp'],
  pdf: ['pdf'],
  docx: ['zip'], xlsx: ['zip'], pptx: ['zip'], zip: ['zip'],
  doc: ['ole'], xls: ['ole'], ppt: ['ole'],
  rar: ['rar'],
  mp4: ['mp4'],
  mp3: ['mp3'], wav: ['wav'], ogg: ['ogg'], amr: ['amr'],
};

export const DELIVERABLE_EXTENSIONS = Object.keys(EXT_TYPES);

/** True when the bytes are what the extension claims. */
export function matchesExtension(ext: string, t: SniffedType): boolean {
  return EXT_TYPES[ext.toLowerCase()]?.includes(t) ?? false;
}

function looksLikeText(b: Buffer): boolean {
  const n = Math.min(b.length, 4096);
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 0) return false;
    if (c < 0x09 || (c > 0x0d && c < 0x20 && c !== 0x1b)) return false;
  }
  return true;
}

/** Extension for a downloaded file from its bytes or content type. */
export function extensionFor(t: SniffedType, contentType: string | undefined): string {
  const byType: Partial<Record<SniffedType, string>> = { png: 'png', jpeg: 'jpg', gif: 'gif', bmp: 'bmp', webp: 'webp', pdf: 'pdf', zip: 'zip', ole: 'doc', rar: 'rar', mp4: 'mp4', mp3: 'mp3', wav: 'wav', ogg: 'ogg', amr: 'amr', text: 'txt' };
  if (byType[t]) return byType[t]!;
  const sub = contentType?.split(';')[0]?.split('/')[1]?.replace(/[^a-z0-9]/gi, '').slice(0, 8);
  return sub || 'bin';
}
