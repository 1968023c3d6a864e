/**
 * The figures behind the README's "Use" section and docs/lambda.md, against kinesalite (run in its
 * own process) on this machine:
 *
 * 1. put patterns: 20 records, each `put()` awaited in turn, against collecting the promises and
 *    awaiting them together, with and without `flush()`;
 * 2. Lambda: examples/lambda-handler.ts bundled with esbuild (SDK external, and everything in), each
 *    bundle's size, then in fresh processes the cold start (import + module-scope producer, then the
 *    first invocation) and the latency of warm invocations putting N records and flushing;
 * 3. an unreachable endpoint: how long `flush()` holds, by `recordTtl`.
 *
 *   npm run bench:usage [-- --quick]
 *
 * esbuild is the one tsup brings. Nothing here asserts on timing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { KinesisProducer } from '../src/index.js';
import { startServer } from './processes.js';
import { dec, table } from './table.js';

// The SDK's notice about Node < 22, in this process (the children get the same variable).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const quick = values.quick;
const STREAM = 'usage';
const LOCAL = { region: 'us-east-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' } };
const OUT = '.scratch/usage';

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};
const percentile = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const ms = (value: number): string => `${dec(value, value < 10 ? 1 : 0)} ms`;

/** 1. Wall time of `records` puts, by pattern, with a producer that already knows the stream. */
async function putPatterns(endpoint: string): Promise<void> {
  const records = 20;
  const rounds = quick ? 2 : 5;
  const patterns: Record<string, (producer: KinesisProducer, batch: number) => Promise<void>> = {
    'await each put() in turn': async (producer, batch) => {
      for (let i = 0; i < records; i++) await producer.put({ partitionKey: `k${i}`, data: `${batch}-${i}` });
    },
    'collect the promises, await them together': async (producer, batch) => {
      await Promise.all(Array.from({ length: records }, (_, i) => producer.put({ partitionKey: `k${i}`, data: `${batch}-${i}` })));
    },
    'collect the promises, flush(), await them': async (producer, batch) => {
      const settled = Promise.all(Array.from({ length: records }, (_, i) => producer.put({ partitionKey: `k${i}`, data: `${batch}-${i}` })));
      await producer.flush();
      await settled;
    },
  };
  const rows: string[][] = [];
  for (const [name, run] of Object.entries(patterns)) {
    const producer = new KinesisProducer({ streamName: STREAM, endpoint, ...LOCAL });
    await producer.put({ partitionKey: 'warm-up', data: 'x' }); // the stream's shards and capabilities, read once
    const times: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      await run(producer, round);
      times.push(performance.now() - started);
    }
    await producer.close();
    rows.push([name, ms(median(times)), `${ms(Math.min(...times))} – ${ms(Math.max(...times))}`]);
  }
  console.log(`\n1. ${records} records, by pattern (median of ${rounds} rounds, one producer each, warmed up)\n`);
  console.log(table(['pattern', 'median', 'range'], rows));
}

/** 3. How long `flush()` holds one record when nothing answers, by endpoint kind and `recordTtl`. */
async function unreachable(): Promise<void> {
  // A port nobody listens on (connection refused at once), and a server that accepts and never answers.
  const refused = createServer();
  await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
  const refusedPort = (refused.address() as { port: number }).port;
  await new Promise<void>((resolve) => refused.close(() => resolve()));
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as { port: number }).port;
  const endpoints = { 'connection refused': `http://127.0.0.1:${refusedPort}`, 'accepts, never answers': `http://127.0.0.1:${silentPort}` };
  const rows: string[][] = [];
  for (const recordTtl of quick ? [5000] : [5000, 20_000, 30_000]) {
    for (const [kind, endpoint] of Object.entries(endpoints)) {
      const producer = new KinesisProducer({ streamName: STREAM, endpoint, ...LOCAL, recordTtl });
      const started = performance.now();
      const outcome = producer.put({ partitionKey: 'k', data: 'x' }).then(
        () => 'written',
        (error: { errorCode?: string; attempts?: unknown[] }) => `${error.errorCode ?? String(error)} after ${error.attempts?.length ?? '?'} attempts`,
      );
      await producer.flush();
      const held = performance.now() - started;
      rows.push([kind, `${recordTtl} ms${recordTtl === 30_000 ? ' (default)' : recordTtl === 20_000 ? ' (the example handler)' : ''}`, ms(held), await outcome]);
      await producer.close();
    }
  }
  for (const socket of sockets) socket.destroy();
  silent.close();
  console.log('\n3. flush() of one record when the endpoint cannot be reached\n');
  console.log(table(['endpoint', 'recordTtl', 'flush() held', 'the record'], rows));
}

/** The driver a fresh process runs: import the bundle, invoke it as Lambda would, print figures. */
const DRIVER = `
const started = performance.now();
const { handler } = await import(process.argv[2]);
const imported = performance.now();
const event = (n, size) => ({ Records: Array.from({ length: size }, (_, i) => ({ messageId: n + '-' + i, body: JSON.stringify({ n, i, pad: 'x'.repeat(180) }) })) });
let failures = (await handler(event(0, 1))).batchItemFailures.length;
const first = performance.now();
const warm = {};
for (const size of JSON.parse(process.env.SIZES)) {
  warm[size] = [];
  for (let n = 1; n <= Number(process.env.INVOCATIONS); n++) {
    const t = performance.now();
    failures += (await handler(event(n, size))).batchItemFailures.length;
    warm[size].push(performance.now() - t);
  }
}
console.log('RESULT ' + JSON.stringify({ nodeStart: started, importMs: imported - started, firstMs: first - imported, warm, failures }));
process.exit(0);
`;

interface DriverResult {
  /** ms from the process's start to the driver's first line: Node itself, not the handler. */
  nodeStart: number;
  importMs: number;
  firstMs: number;
  warm: Record<string, number[]>;
  failures: number;
}

function runDriver(bundle: string, endpoint: string, sizes: number[], invocations: number): Promise<DriverResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${OUT}/driver.mjs`, pathToFileURL(bundle).href], {
      env: {
        ...process.env,
        STREAM_NAME: STREAM,
        AWS_ENDPOINT_URL_KINESIS: endpoint,
        AWS_REGION: LOCAL.region,
        AWS_ACCESS_KEY_ID: LOCAL.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL.credentials.secretAccessKey,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        SIZES: JSON.stringify(sizes),
        INVOCATIONS: String(invocations),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', () => {
      const line = output.split('\n').find((l) => l.startsWith('RESULT '));
      const error = output.split('\n').find((l) => /^\w*Error: /.test(l)) ?? output.trim().split('\n')[0];
      if (line === undefined) reject(new Error(`fails: ${error?.trim()}`));
      else resolve(JSON.parse(line.slice('RESULT '.length)) as DriverResult);
    });
  });
}

/** 2. Bundles of the example handler: size, cold start and warm invocations, in fresh processes. */
async function lambda(endpoint: string): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}/driver.mjs`, DRIVER);
  const esbuild = (outfile: string, ...flags: string[]): void => {
    execFileSync('node_modules/.bin/esbuild', ['examples/lambda-handler.ts', '--bundle', '--platform=node', '--target=node20', '--minify', `--outfile=${outfile}`, ...flags], { stdio: 'ignore' });
  };
  const banner = "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";
  const bundles: Record<string, string> = {
    'ESM, SDK external (@aws-sdk/*, @smithy/*)': `${OUT}/external.mjs`,
    'ESM, everything in, createRequire banner': `${OUT}/banner.mjs`,
    'ESM, everything in, no banner': `${OUT}/full.mjs`,
    'CJS, everything in': `${OUT}/full.cjs`,
  };
  esbuild(bundles['ESM, SDK external (@aws-sdk/*, @smithy/*)']!, '--format=esm', '--external:@aws-sdk/*', '--external:@smithy/*');
  esbuild(bundles['ESM, everything in, createRequire banner']!, '--format=esm', banner);
  esbuild(bundles['ESM, everything in, no banner']!, '--format=esm');
  esbuild(bundles['CJS, everything in']!, '--format=cjs');

  const processes = quick ? 3 : 9;
  const sizes = [1, 10, 100, 500];
  const invocations = quick ? 10 : 30;
  const coldRows: string[][] = [];
  const warm: Record<string, number[]> = {};
  for (const [name, file] of Object.entries(bundles)) {
    const size = statSync(file).size;
    const gzip = gzipSync(readFileSync(file)).length;
    const results: DriverResult[] = [];
    let failure: string | undefined;
    for (let i = 0; i < processes && failure === undefined; i++) {
      try {
        const result = await runDriver(file, endpoint, i === 0 ? sizes : [], i === 0 ? invocations : 0);
        results.push(result);
        for (const [n, times] of Object.entries(result.warm)) if (name.startsWith('ESM, SDK external')) warm[n] = times;
        if (result.failures > 0) failure = `${result.failures} records failed`;
      } catch (error) {
        failure = (error as Error).message;
      }
    }
    const bundleSize = `${dec(size / 1000, 0)} kB (${dec(gzip / 1000, 0)} kB gzip)`;
    if (failure !== undefined) {
      coldRows.push([name, bundleSize, '–', '–', '–', failure.slice(0, 80)]);
      continue;
    }
    coldRows.push([
      name,
      bundleSize,
      ms(median(results.map((r) => r.nodeStart))),
      ms(median(results.map((r) => r.importMs))),
      ms(median(results.map((r) => r.firstMs))),
      ms(median(results.map((r) => r.importMs + r.firstMs))),
    ]);
  }
  console.log(`\n2a. examples/lambda-handler.ts bundled by esbuild; cold start in ${processes} fresh processes each (median)\n`);
  console.log(table(['bundle', 'size (minified)', 'node start', 'import + producer', 'first invocation (1 record)', 'total'], coldRows));
  const warmRows = Object.entries(warm).map(([n, times]) => [n, ms(median(times)), ms(percentile(times, 95)), ms(Math.max(...times))]);
  console.log(`\n2b. warm invocations (ESM, SDK external): put N records, flush(), return; ${invocations} invocations each\n`);
  console.log(table(['records', 'median', 'p95', 'max'], warmRows));
}

console.log(`node ${process.version}, ${quick ? 'quick' : 'full'} run`);
const server = await startServer('kinesalite', STREAM, 4);
try {
  await putPatterns(server.endpoint);
  await lambda(server.endpoint);
  await unreachable();
} finally {
  await server.stop();
}
