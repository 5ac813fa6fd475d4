import { describe, expect, test } from 'vitest';
import type { CallGate } from '../src/dingtalk/client.ts';
import { DingTalkApiError } from '../src/dingtalk/errors.ts';
import { observed, observingGate } from '../src/observed.ts';

const pass: CallGate = { run: (_api, _priority, call) => call() };
const denied = new DingTalkApiError({ api: 'card.createAndDeliver', status: 403, code: 'Forbidden.AccessDenied.AccessTokenPermissionDenied', message: 'no rights', requiredScopes: ['Card.Instance.Write'] });
const throttled = new DingTalkApiError({ api: 'media.upload', status: 429, code: 'Throttling.QpsLimit', message: 'slow down' });

describe('what the running account observed, for the probe', () => {
  test('a card refusal is kept with its time; a later success replaces it; other APIs are not recorded', async () => {
    let now = 1_000;
    const gate = observingGate(pass, 'acct-observed', () => now);
    await expect(gate.run('card.createAndDeliver', true, () => Promise.reject(denied))).rejects.toBe(denied);
    await gate.run('robot.batchSend', false, async () => 'sent');
    expect(observed('acct-observed')).toEqual({ card: { at: 1_000, error: denied } });
    now = 2_000;
    expect(await gate.run('card.streaming', false, async () => 'ok')).toBe('ok');
    expect(observed('acct-observed')).toEqual({ card: { at: 2_000 } });
  });

  test('throttling and network errors say nothing about the app’s rights: not recorded', async () => {
    const gate = observingGate(pass, 'acct-throttled');
    await expect(gate.run('media.upload', false, () => Promise.reject(throttled))).rejects.toBe(throttled);
    await expect(gate.run('media.upload', false, () => Promise.reject(new Error('ECONNRESET')))).rejects.toThrow('ECONNRESET');
    expect(observed('acct-throttled')).toEqual({});
    expect(observed('acct-other')).toEqual({});
  });
});
