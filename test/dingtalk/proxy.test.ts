import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DingTalkClient } from '../../src/dingtalk/client.ts';
import { proxyFor } from '../../src/dingtalk/proxy.ts';
import { createLogger } from '../../src/log.ts';
import { requestStreamTicket } from '../../src/stream.ts';

/** A loopback proxy that records CONNECT targets and refuses them. */
let proxy: Server;
let targets: string[];
const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };

beforeEach(async () => {
  targets = [];
  proxy = createServer((_req, res) => res.writeHead(403).end());
  proxy.on('connect', (req, socket: Socket) => {
    targets.push(req.url ?? '');
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  process.env.HTTPS_PROXY = url;
  process.env.HTTP_PROXY = url;
  process.env.NO_PROXY = 'localhost,127.0.0.1';
});
afterEach(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await new Promise((r) => proxy.close(r));
});

describe('HTTPS_PROXY / NO_PROXY', () => {
  test('REST calls and the Stream ticket request go through the proxy; NO_PROXY hosts do not', async () => {
    expect(proxyFor('https://api.dingtalk.com/v1.0/oauth2/accessToken')).toBe(process.env.HTTPS_PROXY);
    expect(proxyFor('http://127.0.0.1:1234/x')).toBeUndefined();
    const client = new DingTalkClient({ clientId: 'dingX', clientSecret: 'SECRETX', apiBaseUrl: 'https://api.dingtalk.com', oapiBaseUrl: 'https://oapi.dingtalk.com', log: createLogger({ info() {}, warn() {}, error() {} }), requestTimeoutMs: 3000 });
    // The proxy refuses the tunnel: the call fails (how depends on the agent), and it was the proxy that refused.
    await expect(client.accessToken()).rejects.toThrow(/oauth2.accessToken/);
    await expect(requestStreamTicket({ gatewayUrl: 'https://api.dingtalk.com/v1.0/gateway/connections/open', clientId: 'dingX', clientSecret: 'SECRETX', ua: 't' })).rejects.toThrow();
    expect(targets).toEqual(['api.dingtalk.com:443', 'api.dingtalk.com:443']);
  });
});
