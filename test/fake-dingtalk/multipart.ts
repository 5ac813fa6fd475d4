// Minimal multipart/form-data parser (RFC 7578) for the fake's /media/upload.

export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

export interface Multipart {
  fields: Record<string, string>;
  files: MultipartPart[];
}

/** Boundary of a multipart/form-data content type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return undefined;
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

function headerParam(header: string, param: string): string | undefined {
  // filename*=UTF-8''… (RFC 5987) wins over filename=
  if (param === 'filename') {
    const ext = /filename\*=(?:UTF-8|utf-8)''([^;]+)/.exec(header);
    if (ext) return decodeURIComponent(ext[1]!.trim());
  }
  const re = new RegExp(`(?:^|;)\\s*${param}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;]*))`, 'i');
  const m = re.exec(header);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!.trim();
}

/** Parses a whole multipart body. Throws on a structurally broken body. */
export function parseMultipart(body: Buffer, boundary: string): Multipart {
  const delimiter = Buffer.from(`--${boundary}`);
  const result: Multipart = { fields: {}, files: [] };
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new Error('multipart: boundary not found');
  for (;;) {
    pos += delimiter.length;
    // "--" right after a delimiter closes the body
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new Error('multipart: unterminated part headers');
    const headerText = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) throw new Error('multipart: missing closing boundary');
    const data = body.subarray(headerEnd + 4, next);

    const headers: Record<string, string> = {};
    for (const line of headerText.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const disposition = headers['content-disposition'] ?? '';
    const name = headerParam(disposition, 'name') ?? '';
    const filename = headerParam(disposition, 'filename');
    if (filename !== undefined) {
      result.files.push({ name, filename, contentType: headers['content-type'], data: Buffer.from(data) });
    } else {
      result.fields[name] = data.toString('utf8');
    }
    pos = next + 2;
  }
  return result;
}

/** JSON-friendly summary recorded in fake.calls instead of raw bytes. */
export function summarizeMultipart(mp: Multipart): unknown {
  return {
    multipart: {
      fields: mp.fields,
      files: mp.files.map((f) => ({ name: f.name, filename: f.filename, contentType: f.contentType, size: f.data.length })),
    },
  };
}
