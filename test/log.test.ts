import { expect, test } from 'vitest';
import { createLogger, registerSecret } from '../src/log.ts';

test('log lines never carry a URL\'s user name and password, a registered secret, a bearer token or an access_token', () => {
  const lines: string[] = [];
  const log = createLogger({ info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) }).child('ops');
  registerSecret('gw-secret-token-1');
  log.info('starting (OpenClaw host, engine gateway, gateway http://admin:hunter22@127.0.0.1:18789/v1/chat/completions)');
  log.warn('proxy https://u%40corp:p%3Ass@proxy.corp:8080 refused; token gw-secret-token-1; Bearer abc.def; GET /gettoken?access_token=xyz&x=1');
  // An address with an "@" after the host (a mailto, a path) is no user part.
  log.error('mail ops@example.com; see https://example.com/u/@me');
  expect(lines).toEqual([
    '[dingtalk-ai] [ops] starting (OpenClaw host, engine gateway, gateway http://***@127.0.0.1:18789/v1/chat/completions)',
    '[dingtalk-ai] [ops] proxy https://***@proxy.corp:8080 refused; token ***; Bearer ***; GET /gettoken?access_token=***&x=1',
    '[dingtalk-ai] [ops] mail ops@example.com; see https://example.com/u/@me',
  ]);
});

test('a credential-like query parameter (token, password, key, secret …) is hidden in any case; other parameters stay', () => {
  const lines: string[] = [];
  const log = createLogger({ info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) });
  log.info('gateway http://127.0.0.1:18789/?token=gw-tok-998877&page=2&Password=pw1&api_key=k1&client_secret=s1&monkey=ok&sig=x9');
  expect(lines).toEqual(['[dingtalk-ai] gateway http://127.0.0.1:18789/?token=***&page=2&Password=***&api_key=***&client_secret=***&monkey=ok&sig=***']);
});
