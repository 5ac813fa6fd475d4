#!/usr/bin/env node
// The package ships TypeScript source (hosts load it with their own loader). Node 20 cannot run .ts files, so
// this shell registers tsx's loader for this process only and hands over to src/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
