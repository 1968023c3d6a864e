/**
 * What shardline costs a Lambda cold start, against aws-kinesis-agg measured the same way in the
 * same run:
 *
 *   npm run build && npm run bench:import                 21 fresh processes per figure
 *   npm run bench:import -- --runs 41                     more processes, steadier medians
 *   npm run bench:import -- --baseline /path/to/old-dist  also an older build (its esm/ and cjs/)
 *
 * Import cost: a fresh Node process loads the SDK first (`@aws-sdk/client-kinesis` and
 * `@smithy/node-http-handler`, as the application would anyway), then times the import (ESM) or
 * require (CommonJS) of the library alone: wall time and the process's CPU time. Processes are
 * interleaved round by round, so a noisy neighbour hits every figure alike; medians are reported.
 *
 * Bundle size: esbuild bundles (minified ESM, platform node) of a small handler that only produces,
 * and of one that also decodes, with the SDK external, as a Lambda deployment would.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { dec, int, table } from './table.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '21' }, baseline: { type: 'string' } },
});
const runs = Number(values.runs);
const repo = resolve(import.meta.dirname, '..');
const dist = join(repo, 'dist');
if (!existsSync(join(dist, 'esm', 'index.js'))) throw new Error('no dist/: run `npm run build` first');

/** A library to import: its ES module and CommonJS entry points (paths or package names). */
interface Target {
  readonly name: string;
  readonly esm: string;
  readonly cjs: string;
}

const targets: Target[] = [
  { name: 'shardline', esm: join(dist, 'esm', 'index.js'), cjs: join(dist, 'cjs', 'index.cjs') },
  { name: 'aws-kinesis-agg 4.2.8', esm: 'aws-kinesis-agg', cjs: 'aws-kinesis-agg' },
];
if (values.baseline !== undefined) {
  const base = resolve(values.baseline);
  targets.push({ name: 'shardline (baseline)', esm: join(base, 'esm', 'index.js'), cjs: join(base, 'cjs', 'index.cjs') });
}

const SDK = ['@aws-sdk/client-kinesis', '@smithy/node-http-handler'];
const REPORT = 'const c = process.cpuUsage(c0); console.log(JSON.stringify([performance.now() - t0, (c.user + c.system) / 1000]));';

/** The program a fresh process runs: load the SDK, then time loading `specifier`. */
function program(format: 'esm' | 'cjs', specifier: string): string[] {
  const id = JSON.stringify(specifier);
  if (format === 'esm') {
    const sdk = SDK.map((name) => `await import('${name}');`).join(' ');
    const url = JSON.stringify(specifier.startsWith('/') ? `file://${specifier}` : specifier);
    return ['--input-type=module', '-e', `${sdk} const c0 = process.cpuUsage(); const t0 = performance.now(); await import(${url}); ${REPORT}`];
  }
  const sdk = SDK.map((name) => `require('${name}');`).join(' ');
  return ['-e', `${sdk} const c0 = process.cpuUsage(); const t0 = performance.now(); require(${id}); ${REPORT}`];
}

function measureOnce(format: 'esm' | 'cjs', specifier: string): [wall: number, cpu: number] {
  const stdout = execFileSync(process.execPath, program(format, specifier), {
    cwd: repo,
    encoding: 'utf8',
    // The SDK's Node-version notice goes to stderr, which is not ours to print here.
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(stdout) as [number, number];
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const samples = new Map<string, { wall: number[]; cpu: number[] }>();
for (let run = 0; run < runs; run++) {
  for (const target of targets) {
    for (const format of ['esm', 'cjs'] as const) {
      const key = `${target.name}|${format}`;
      const [wall, cpu] = measureOnce(format, target[format]);
      const entry = samples.get(key) ?? { wall: [], cpu: [] };
      entry.wall.push(wall);
      entry.cpu.push(cpu);
      samples.set(key, entry);
    }
  }
}

const figure = (name: string, format: string): { wall: number; cpu: number } => {
  const entry = samples.get(`${name}|${format}`)!;
  return { wall: median(entry.wall), cpu: median(entry.cpu) };
};
const reference = targets[1]!.name;
const rows: string[][] = [];
for (const target of targets) {
  for (const format of ['esm', 'cjs'] as const) {
    const own = figure(target.name, format);
    const agg = figure(reference, format);
    rows.push([target.name, format, dec(own.wall, 1), dec(own.cpu, 1), dec(own.wall / agg.wall, 2), dec(own.cpu / agg.cpu, 2)]);
  }
}
console.log(`Import cost after the SDK is loaded: median of ${runs} fresh processes each (Node ${process.version})\n`);
console.log(table(['library', 'format', 'wall ms', 'CPU ms', 'wall ÷ agg', 'CPU ÷ agg'], rows, 2));

// ---- bundle size ---------------------------------------------------------------------------------

const out = join(repo, '.bench-out');
mkdirSync(out, { recursive: true });
const entry = join(dist, 'esm', 'index.js');
const handlers = {
  'produce only': `import { KinesisProducer } from ${JSON.stringify(entry)};
const producer = new KinesisProducer({ streamName: process.env.STREAM_NAME });
export const handler = async (event) => {
  await Promise.all(event.records.map((data, i) => producer.put({ partitionKey: String(i), data })));
  await producer.flush();
};`,
  'produce and decode': `import { KinesisProducer, decodeRecord } from ${JSON.stringify(entry)};
const producer = new KinesisProducer({ streamName: process.env.STREAM_NAME });
export const handler = async (event) => {
  const records = event.Records.flatMap((r) => decodeRecord(Buffer.from(r.kinesis.data, 'base64'), r.kinesis.partitionKey).records);
  await Promise.all(records.map((r) => producer.put({ partitionKey: r.partitionKey, data: r.data })));
  await producer.flush();
};`,
};
const sizeRows: string[][] = [];
for (const [name, source] of Object.entries(handlers)) {
  const file = join(out, `handler-${name.replaceAll(' ', '-')}.mjs`);
  writeFileSync(file, source);
  const result = await build({
    entryPoints: [file],
    bundle: true,
    platform: 'node',
    format: 'esm',
    minify: true,
    external: ['@aws-sdk/*', '@smithy/*'],
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.contents;
  sizeRows.push([name, int(code.byteLength), int(gzipSync(code).byteLength)]);
}
console.log('\nesbuild bundle of a handler, SDK external (minified ESM)\n');
console.log(table(['handler', 'bytes', 'gzip bytes'], sizeRows));
