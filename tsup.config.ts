import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Options } from 'tsup';

/**
 * Small runtime libraries carried inside dist, so that shardline has no runtime dependency but the
 * SDK (a peer): importing it loads a few files instead of ~30 (each CommonJS file costs an ES module
 * importer its own resolution and load), and users get no second protobufjs. p-queue also ships ESM
 * only, which CommonJS on Node < 20.19 cannot require.
 */
const inlined = ['p-queue', 'eventemitter3', 'p-timeout', 'protobufjs', /^@protobufjs\//, 'pino-abstract-transport', 'split2'];

/**
 * protobufjs/minimal uses the `long` package when it can require it; loading `long` compiles a
 * WebAssembly module (~10 ms of every import). shardline reads uint64 varints as numbers (exact to
 * 2^53, beyond any key table), which protobufjs does without `long`: the build gives it nothing.
 */
const withoutLong: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'without-long',
  setup(build) {
    build.onResolve({ filter: /^long$/ }, () => ({ path: 'long', namespace: 'without-long' }));
    build.onLoad({ filter: /.*/, namespace: 'without-long' }, () => ({ contents: 'module.exports = null;', loader: 'js' }));
  },
};

export default defineConfig([
  {
    // decode and encode are entries only to give them chunks of their own: a bundler then drops
    // the decode chunk, and protobufjs with it, from a program that never decodes
    // (package.json says sideEffects: false). Public: index, pino (`shardline/pino`) and cli (the
    // `shardline` command, ESM only).
    entry: {
      index: 'src/index.ts',
      decode: 'src/aggregation/decode.ts',
      encode: 'src/aggregation/encode.ts',
      pino: 'src/pino.ts',
      cli: 'src/cli/main.ts',
    },
    format: ['esm'],
    outDir: 'dist/esm',
    dts: { entry: { index: 'src/index.ts', pino: 'src/pino.ts' } },
    splitting: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    noExternal: inlined,
    esbuildPlugins: [withoutLong],
    metafile: true,
    onSuccess: async () => writeThirdPartyLicenses('dist/esm'),
  },
  {
    entry: { index: 'src/index.ts', pino: 'src/pino.ts' },
    format: ['cjs'],
    outDir: 'dist/cjs',
    // import.meta.url, which src/metrics/sinks.ts resolves the optional CloudWatch SDK from.
    shims: true,
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    noExternal: inlined,
    esbuildPlugins: [withoutLong],
    metafile: true,
    onSuccess: async () => writeThirdPartyLicenses('dist/cjs'),
  },
]);

/**
 * Writes `THIRD-PARTY-LICENSES.md` into `outDir`: the license of every package esbuild put in the
 * build (read from its metafile, which is then removed), as their licenses require of a copy.
 */
function writeThirdPartyLicenses(outDir: string): void {
  const packages = new Set<string>();
  for (const file of readdirSync(outDir).filter((name) => name.startsWith('metafile-'))) {
    const meta = JSON.parse(readFileSync(join(outDir, file), 'utf8')) as { inputs: Record<string, unknown> };
    for (const input of Object.keys(meta.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (match) packages.add(match[1]!);
    }
    rmSync(join(outDir, file));
  }
  const sections = [...packages].sort().map((name) => {
    const dir = join('node_modules', name);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string; license?: string };
    const licenseFile = readdirSync(dir).find((entry) => /^licen[cs]e/i.test(entry));
    const text = licenseFile === undefined ? '' : readFileSync(join(dir, licenseFile), 'utf8').trim();
    return `## ${name} ${manifest.version} (${manifest.license ?? 'see text'})\n\n\`\`\`\n${text}\n\`\`\`\n`;
  });
  const header = '# Third-party code in this build\n\nshardline (Apache-2.0) carries the following packages inside dist.\n';
  if (existsSync(outDir)) writeFileSync(join(outDir, 'THIRD-PARTY-LICENSES.md'), [header, ...sections].join('\n'));
}
