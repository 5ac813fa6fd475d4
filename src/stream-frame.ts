/**
 * Reading one downstream Stream frame and writing what goes back (spec §1.3–1.5). Pure functions: no socket.
 *
 * Every frame whose `headers.messageId` can be read gets an answer, whatever else is wrong with it, so that
 * DingTalk does not push it again (§1.6); only a real SYSTEM frame can ask us to reconnect.
 */

export const ROBOT_TOPIC = '/v1.0/im/bot/messages/get';

/** What a downstream frame asks of us. `reply` is the text frame to send back on the same socket. */
export type Downstream =
  /** A robot message (CALLBACK on the robot topic): ACK with `reply`, then handle `data` (a JSON string). */
  | { kind: 'robot'; messageId: string; data: string; reply: string }
  /** SYSTEM ping: send `reply` (the echo) at once. */
  | { kind: 'ping'; reply: string }
  /** SYSTEM disconnect: the server closes this socket within 10 s (§1.4); open a new one now. */
  | { kind: 'disconnect'; reason: string }
  /** Anything else that carries a messageId (other topics, EVENTs, malformed frames): ACK and log `why`. */
  | { kind: 'ack'; messageId: string; reply: string; why: string }
  /** Nothing to answer: SYSTEM bookkeeping frames, or a frame whose messageId cannot be read (`why` says which). */
  | { kind: 'ignore'; why: string; quiet?: boolean };

/** Longest messageId we echo (real ids are ~30 characters, §1.3). */
const MAX_ID_LENGTH = 256;

/**
 * Classifies one text frame. Never throws: a frame that is not JSON, or too deep for the parser, is still ACKed
 * when its messageId can be found by a flat scan of the text.
 */
export function readFrame(text: string): Downstream {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch (err) {
    // SyntaxError for bad JSON; RangeError when a parser recurses on deeply nested input.
    const messageId = scanMessageId(text);
    const what = err instanceof RangeError ? 'too deeply nested to read' : 'not JSON';
    return messageId
      ? { kind: 'ack', messageId, reply: callbackAck(messageId), why: `frame ${what} (${text.length} bytes)` }
      : { kind: 'ignore', why: `frame ${what} and without a readable messageId (${text.length} bytes)` };
  }
  if (!isObject(frame) || !isObject(frame.headers)) {
    return { kind: 'ignore', why: `frame without headers (${text.length} bytes)` };
  }
  const headers = frame.headers;
  const topic = typeof headers.topic === 'string' ? headers.topic : '';
  const messageId = validId(headers.messageId);

  if (frame.type === 'SYSTEM') {
    if (topic === 'disconnect') return { kind: 'disconnect', reason: reasonOf(frame.data) };
    // The Node SDK echoes the whole headers and data (SDK src/client.ts:389-399, spec §1.4).
    if (topic === 'ping') return { kind: 'ping', reply: pingEcho(headers, frame.data, messageId) };
    // CONNECTED / REGISTERED / KEEPALIVE are set-a-flag frames in the SDK (§1.4); none is answered.
    return { kind: 'ignore', why: `SYSTEM frame with topic ${JSON.stringify(topic.slice(0, 60))}`, quiet: true };
  }
  if (!messageId) {
    return { kind: 'ignore', why: `${String(frame.type).slice(0, 20)} frame on topic ${JSON.stringify(topic.slice(0, 60))} without a messageId; cannot ACK` };
  }
  if (frame.type === 'EVENT') {
    // The SDK ACKs events with status SUCCESS (PEDIA protocol.md:277-296); LATER would make DingTalk push it again.
    return { kind: 'ack', messageId, reply: ackFrame(messageId, JSON.stringify({ status: 'SUCCESS' })), why: `EVENT on topic ${JSON.stringify(topic.slice(0, 60))} (not subscribed)` };
  }
  if (frame.type !== 'CALLBACK') {
    return { kind: 'ack', messageId, reply: callbackAck(messageId), why: `frame of unknown type ${JSON.stringify(String(frame.type).slice(0, 20))}` };
  }
  if (topic !== ROBOT_TOPIC) {
    return { kind: 'ack', messageId, reply: callbackAck(messageId), why: `CALLBACK on topic ${JSON.stringify(topic.slice(0, 60))} (not subscribed)` };
  }
  if (typeof frame.data !== 'string') {
    return { kind: 'ack', messageId, reply: callbackAck(messageId), why: 'robot frame whose data is not a string' };
  }
  return { kind: 'robot', messageId, data: frame.data, reply: callbackAck(messageId) };
}

/**
 * The ACK of a callback: `{"code":200,"headers":{"contentType":"application/json","messageId":…},"message":"OK",
 * "data":"{\"response\":null}"}` (PEDIA protocol.md:177-205, 228-246; DingTalk ignores the response).
 */
export function callbackAck(messageId: string): string {
  return ackFrame(messageId, JSON.stringify({ response: null }));
}

function ackFrame(messageId: string, data: string): string {
  return JSON.stringify({ code: 200, headers: { contentType: 'application/json', messageId }, message: 'OK', data });
}

function pingEcho(headers: Record<string, unknown>, data: unknown, messageId: string | undefined): string {
  try {
    return JSON.stringify({ code: 200, headers, message: 'OK', data });
  } catch {
    // Headers or data too deep to write back: answer with what the server matches on.
    return JSON.stringify({ code: 200, headers: { contentType: 'application/json', messageId, topic: 'ping' }, message: 'OK', data: typeof data === 'string' ? data : '' });
  }
}

/**
 * First `"messageId":"…"` in the raw text, found without parsing (linear, no recursion). Inside a JSON string
 * the quotes are escaped, so a messageId quoted inside `data` does not match.
 */
export function scanMessageId(text: string): string | undefined {
  const m = /"messageId"\s*:\s*"((?:[^"\\\n]|\\.){1,256})"/.exec(text);
  if (!m) return undefined;
  try {
    return validId(JSON.parse(`"${m[1]}"`));
  } catch {
    return undefined;
  }
}

function validId(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH ? value : undefined;
}

function reasonOf(data: unknown): string {
  if (typeof data !== 'string') return 'no reason given';
  try {
    const parsed: unknown = JSON.parse(data);
    if (isObject(parsed) && typeof parsed.reason === 'string') return parsed.reason.slice(0, 200);
  } catch {
    // fall through
  }
  return 'no reason given';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
