import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The real-host suite: `npm run test:e2e` (after `bash test/e2e/install-hosts.sh`). Files are *.e2e.ts so
// the unit suite's default include never picks them up. One file (host) at a time: the machine has 2 cores
// and each gateway is a heavy Node process.
export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 240_000,
    hookTimeout: 120_000,
    sequence: { shuffle: false },
    reporters: ['verbose'],
  },
});
