#!/usr/bin/env node
// The `retort` command: runs src/cli/main.ts in Node (the engine on Dawn) through tsx.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./wgsl-loader.mjs', import.meta.url);
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
