import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // `cli` is the `shardline` command (ESM only); `pino` is the `shardline/pino` transport.
    entry: { index: 'src/index.ts', pino: 'src/pino.ts', cli: 'src/cli/main.ts' },
    format: ['esm'],
    outDir: 'dist/esm',
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
  },
  {
    // p-queue ships ESM only; the CommonJS build carries it inside so `require('shardline')`
    // works on every Node >= 20 without relying on require(esm).
    entry: { index: 'src/index.ts', pino: 'src/pino.ts' },
    format: ['cjs'],
    outDir: 'dist/cjs',
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    noExternal: ['p-queue', 'eventemitter3'],
  },
]);
