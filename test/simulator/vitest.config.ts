import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The simulator in a real browser: `npm run test:browser` (Debian's chromium, driven by playwright-core; no
// browser download). Files are *.browser.ts so the unit suite never picks them up. One file at a time.
export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    include: ['test/simulator/**/*.browser.ts'],
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 60_000,
    reporters: ['verbose'],
  },
});
