import { describe, expect, test } from 'vitest';
import { callbackAck, readFrame, ROBOT_TOPIC, scanMessageId } from '../src/stream-frame.ts';

const headers = (extra: Record<string, unknown> = {}) => ({ contentType: 'application/json', messageId: 'mid_1', time: '1690362102194', topic: ROBOT_TOPIC, ...extra });
const frame = (o: Record<string, unknown>) => JSON.stringify({ specVersion: '1.0', type: 'CALLBACK', headers: headers(), data: '{"msgId":"m1"}', ...o });
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

describe('readFrame', () => {
  test('a robot callback is handed over with the ACK DingTalk expects (PEDIA protocol.md:177-205)', () => {
    const f = readFrame(frame({}));
    expect(f).toEqual({ kind: 'robot', messageId: 'mid_1', data: '{"msgId":"m1"}', reply: callbackAck('mid_1') });
    expect(JSON.parse(callbackAck('mid_1'))).toEqual({
      code: 200, headers: { contentType: 'application/json', messageId: 'mid_1' }, message: 'OK', data: '{"response":null}',
    });
  });

  test('only a SYSTEM frame asks to reconnect; a CALLBACK or EVENT on topic disconnect is ACKed like any other frame', () => {
    const sys = JSON.stringify({ type: 'SYSTEM', headers: { topic: 'disconnect', contentType: 'application/json' }, data: '{"reason":"connection is expired"}' });
    expect(readFrame(sys)).toEqual({ kind: 'disconnect', reason: 'connection is expired' });
    for (const [type, topic] of [['CALLBACK', 'server-disconnect'], ['CALLBACK', 'disconnect'], ['EVENT', 'disconnect'], [undefined, 'disconnect']]) {
      const f = readFrame(frame({ type, headers: headers({ topic }) }));
      expect(f.kind, `${type} ${topic}`).toBe('ack');
      expect(f).toMatchObject({ messageId: 'mid_1' });
    }
  });

  test('a ping is echoed with its headers and data (SDK src/client.ts:389-399)', () => {
    const h = { topic: 'ping', messageId: 'p1', contentType: 'application/json', appId: 'a' };
    const f = readFrame(JSON.stringify({ type: 'SYSTEM', headers: h, data: '{"opaque":"x-1"}' }));
    expect(f.kind).toBe('ping');
    expect(JSON.parse((f as { reply: string }).reply)).toEqual({ code: 200, headers: h, message: 'OK', data: '{"opaque":"x-1"}' });
  });

  test('a ping whose headers are too deep to write back still gets an echo with its messageId', () => {
    const text = `{"type":"SYSTEM","headers":{"topic":"ping","messageId":"p2","junk":${deep(100_000)}},"data":"{\\"opaque\\":\\"o\\"}"}`;
    const f = readFrame(text) as { kind: string; reply: string };
    expect(f.kind).toBe('ping');
    expect(JSON.parse(f.reply)).toMatchObject({ code: 200, headers: { messageId: 'p2', topic: 'ping' }, data: '{"opaque":"o"}' });
  });

  test('frames the robot cannot use are still ACKed when their messageId can be read', () => {
    const cases: Array<[string, string]> = [
      [frame({ data: { nested: true } }), 'data is not a string'],
      [frame({ data: JSON.parse(deep(1000)) }), 'data is not a string'],
      [frame({ type: undefined }), 'unknown type'],
      [frame({ type: 'BOGUS' }), 'unknown type'],
      [frame({ headers: headers({ topic: '/v1.0/card/instances/callback' }) }), 'not subscribed'],
      [frame({ headers: headers({ topic: 'error' }) }), 'not subscribed'],
      [frame({ type: 'EVENT', headers: headers({ topic: 'chat_update_title' }) }), 'EVENT'],
    ];
    for (const [text, why] of cases) {
      const f = readFrame(text);
      expect(f.kind, why).toBe('ack');
      expect((f as { why: string }).why).toContain(why);
      expect(JSON.parse((f as { reply: string }).reply).headers.messageId).toBe('mid_1');
    }
    // Events are ACKed SUCCESS, not LATER (PEDIA protocol.md:277-296).
    const ev = readFrame(frame({ type: 'EVENT' })) as { reply: string };
    expect(JSON.parse(JSON.parse(ev.reply).data)).toEqual({ status: 'SUCCESS' });
  });

  test('100k nested arrays in data (as a value or as a string) are ACKed; the string form is a robot message', () => {
    const asValue = `{"specVersion":"1.0","type":"CALLBACK","headers":{"messageId":"deep_1","topic":"${ROBOT_TOPIC}"},"data":${deep(100_000)}}`;
    expect(readFrame(asValue)).toMatchObject({ kind: 'ack', messageId: 'deep_1' });
    const asString = JSON.stringify({ type: 'CALLBACK', headers: headers({ messageId: 'deep_2' }), data: deep(100_000) });
    expect(readFrame(asString)).toMatchObject({ kind: 'robot', messageId: 'deep_2' });
  });

  test('text that is not JSON is ACKed by a flat scan for its messageId; without one it is ignored', () => {
    expect(readFrame(`{"type":"CALLBACK","headers":{"messageId":"cut_1","topic":"${ROBOT_TOPIC}"},"data":"{\\"a`)).toMatchObject({ kind: 'ack', messageId: 'cut_1' });
    expect(readFrame('{not json').kind).toBe('ignore');
    expect(readFrame('').kind).toBe('ignore');
    expect(readFrame('[1,2]').kind).toBe('ignore');
    expect(readFrame('null').kind).toBe('ignore');
    expect(readFrame('{"type":"CALLBACK","headers":"x"}').kind).toBe('ignore');
  });

  test('a callback without a usable messageId cannot be ACKed and is ignored', () => {
    for (const messageId of [undefined, '', 42, 'x'.repeat(300)]) {
      expect(readFrame(frame({ headers: headers({ messageId }) })).kind).toBe('ignore');
    }
  });

  test('SYSTEM bookkeeping frames are not answered', () => {
    for (const topic of ['CONNECTED', 'REGISTERED', 'KEEPALIVE', 'something-new']) {
      expect(readFrame(JSON.stringify({ type: 'SYSTEM', headers: { topic, messageId: 's1' }, data: '{}' }))).toMatchObject({ kind: 'ignore', quiet: true });
    }
  });
});

describe('scanMessageId', () => {
  test('finds the header, not a messageId quoted inside the data string', () => {
    expect(scanMessageId('{"data":"{\\"messageId\\":\\"inner\\"}","headers":{"messageId":"outer"}')).toBe('outer');
    expect(scanMessageId('{"data":"{\\"messageId\\":\\"inner\\"}"')).toBeUndefined();
    expect(scanMessageId('{"headers":{"messageId" : "with\\"quote"}')).toBe('with"quote');
  });
});
