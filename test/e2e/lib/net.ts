import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

const handedOut = new Set<number>();

/** A loopback port nobody listens on right now (and not handed out before in this process). */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    await new Promise((r) => server.close(r));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}
