/**
 * Server-sent events: bytes in, events out. Robust to chunks split anywhere (even inside a UTF-8
 * character or between CR and LF), CRLF/CR/LF line ends, comments, multi-line data, and a stream
 * that ends without a final blank line.
 */

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  private pendingCR = false;
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  private hasData = false;

  /** Feed a chunk; returns the events it completed. */
  push(chunk: Uint8Array | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    return this.consume(text);
  }

  /** The stream ended: flush a last event that had no blank line after it. */
  end(): SseEvent[] {
    const out = this.consume(this.decoder.decode());
    if (this.buffer.length > 0) this.line(this.buffer, out);
    this.buffer = '';
    this.dispatch(out);
    return out;
  }

  private consume(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    let s = text;
    // A CR at the end of the previous chunk may be the first half of CRLF.
    if (this.pendingCR && s.startsWith('\n')) s = s.slice(1);
    this.pendingCR = false;
    this.buffer += s;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i), out);
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCR = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') return this.dispatch(out);
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    } else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
  }

  private dispatch(out: SseEvent[]): void {
    if (this.hasData) out.push({ event: this.event || 'message', data: this.data.join('\n'), ...(this.id !== undefined ? { id: this.id } : {}) });
    this.event = '';
    this.data = [];
    this.hasData = false;
  }
}
