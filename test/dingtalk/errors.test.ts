import { describe, expect, test } from 'vitest';
import { DingTalkApiError, DingTalkNetworkError, hostErrorMessage } from '../../src/dingtalk/errors.ts';

describe('errors as the host shows them', () => {
  test('an API error: our cause and fix with code and requestid, never DingTalk\'s message', () => {
    const err = new DingTalkApiError({ api: 'media.upload', status: 403, code: 'Forbidden.AccessDenied', message: 'token=TOK at 10.1.2.3', requestId: 'R1', requiredScopes: ['qyapi_robot_sendmsg'] });
    const text = hostErrorMessage(err);
    expect(text).toBe(
      'DingTalk refused media.upload (code Forbidden.AccessDenied, HTTP 403, requestid R1): the app lacks a permission (qyapi_robot_sendmsg) or this machine is outside its IP allowlist: grant it in the DingTalk developer console (权限管理) and publish a new version',
    );
  });

  test('a network error: the code, whether it may have arrived, the fix; no address', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:443'), { code: 'ECONNREFUSED' });
    expect(hostErrorMessage(new DingTalkNetworkError('robot.batchSend', cause, false, { notSent: true }))).toBe(
      'DingTalk robot.batchSend could not be reached (ECONNREFUSED; nothing was sent): check this machine\'s network and proxy (HTTPS_PROXY / NO_PROXY) and that it reaches api.dingtalk.com and oapi.dingtalk.com',
    );
    expect(hostErrorMessage(new DingTalkNetworkError('robot.batchSend', new Error('socket hang up 10.1.2.3'), true))).toContain('(timed out; it may still have arrived, check before sending it again)');
  });

  test('our own errors pass through', () => {
    expect(hostErrorMessage(new Error('media not sent: x'))).toBe('media not sent: x');
  });
});
