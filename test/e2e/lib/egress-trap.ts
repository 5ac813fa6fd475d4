/**
 * A loopback "proxy" that refuses everything and records where it was asked to go. The hosts get it as
 * HTTP(S)_PROXY (with NODE_USE_ENV_PROXY=1 so Node 24's fetch and http honour it) and NO_PROXY for
 * loopback: a request to anything but 127.0.0.1/localhost ends here instead of leaving the machine.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface EgressAttempt {
  at: number;
  method: string;
  target: string;
}

export class EgressTrap {
  readonly attempts: EgressAttempt[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.attempts.push({ at: Date.now(), method: req.method ?? '?', target: req.url ?? '?' });
      res.writeHead(403, { 'content-type': 'text/plain', connection: 'close' }).end('e2e: no traffic beyond loopback\n');
    });
    server.on('connect', (req, socket: Socket) => {
      this.attempts.push({ at: Date.now(), method: 'CONNECT', target: req.url ?? '?' });
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n');
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Env for a child process. */
  env(): Record<string, string> {
    const proxy = `http://127.0.0.1:${this.port}`;
    const noProxy = '127.0.0.1,localhost,::1,[::1]';
    return {
      NODE_USE_ENV_PROXY: '1',
      HTTP_PROXY: proxy,
      HTTPS_PROXY: proxy,
      http_proxy: proxy,
      https_proxy: proxy,
      NO_PROXY: noProxy,
      no_proxy: noProxy,
    };
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }
}
