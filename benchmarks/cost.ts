/**
 * The producer's own cost per record, for comparing builds: CPU time per record and event-loop lag
 * over a fixed workload, and the live heap each buffered record takes. Wall-clock throughput on a
 * shared machine moves with other people's load; CPU time per record moves much less.
 *
 *   node --import tsx benchmarks/cost.ts cpu  [--size 100] [--count 300000] [--shards 64] [--rounds 5] TREE...
 *   node --import tsx benchmarks/cost.ts heap [--size 100] [--count 100000] [--rounds 3] [--putAll 1] TREE...
 *
 * A TREE is a checkout of shardline (its `src/index.ts` is imported; `.` for this one), or a built
 * `index.js` (a profile of a build names lines that a profile through tsx does not). Rounds
 * alternate the trees (A, B, A, B, …), each measurement in a fresh process, and the medians are
 * printed.
 * - `cpu`: `put()` with a promise each, 1,000 keys, a window of 50,000 unsettled records, yielding
 *   every 1,000 puts or MiB (as benchmarks/workload.ts drives it), against benchmarks/instant-kinesis.ts in
 *   a process of its own, over HTTP with shardline's own client. After a warm-up of a fifth of the
 *   count: `process.cpuUsage()` (user + system) per record, and how late the event loop ran a
 *   timer, p99/max (`watchLoop` in workload.ts).
 * - `heap`: an in-process endpoint that describes and lists the stream but never answers
 *   PutRecords: `count` records are put and every one stays buffered or in flight. Live heap
 *   (`heapUsed` after a full GC, so not the data's bytes, which live outside the heap) before and
 *   after, per record. Records share one data buffer, so the figure is what the producer and the
 *   caller's promise cost, not the caller's record objects. With `--putAll 1` they go through
 *   `putAll()` instead: no promise, but the producer keeps each record object for its sink. With
 *   `--ownData 1` each record has a buffer of its own, as most callers' do: the heap then counts
 *   the buffer objects the producer keeps alive (their bytes still live outside the heap).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KinesisProducer as Producer, ProducerOptions } from '../src/index.js';
import { equalShards } from './instant-kinesis.js';
import { startServer } from './processes.js';
import { putsPerTurn, watchLoop } from './workload.js';

interface Options {
  size: number;
  count: number;
  shards: number;
  rounds: number;
  /** heap: 1 to feed the records through `putAll()` (no promise per record) instead of `put()`. */
  putAll: number;
  /** heap: 1 to give each record a buffer of its own (a copy), as most callers do, instead of one shared buffer. */
  ownData: number;
}

const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };
const median = (values: number[]): number => values.slice().sort((a, b) => a - b)[values.length >> 1]!;

async function loadProducer(tree: string): Promise<new (options: ProducerOptions) => Producer> {
  const module = (await import(tree.endsWith('.js') ? resolve(tree) : resolve(tree, 'src/index.ts'))) as { KinesisProducer: new (options: ProducerOptions) => Producer };
  return module.KinesisProducer;
}

/**
 * Puts `count` records, at most `window` unsettled (by default 50,000 and 48 MiB, as section 1's
 * window: below the producer's bounds, so no put is refused), yielding every 1,000; resolves when
 * all settled. Throws on the first failure: a run with failures measures something else.
 */
async function drive(producer: Producer, count: number, size: number, shared: boolean, window = Math.min(50_000, Math.floor((48 * 1024 * 1024) / size))): Promise<void> {
  const template = Buffer.alloc(size, 7);
  const keys = Array.from({ length: 1000 }, (_, k) => `key-${k}`);
  const perTurn = putsPerTurn(size);
  let unsettled = 0;
  let wake: (() => void) | undefined;
  let failure: unknown;
  const failed = (error: unknown): void => {
    failure ??= error;
    settled();
  };
  const settled = (): void => {
    unsettled--;
    if (wake !== undefined && unsettled <= window * 0.75) {
      const resume = wake;
      wake = undefined;
      resume();
    }
  };
  for (let i = 0; i < count; i++) {
    if (unsettled >= window) await new Promise<void>((r) => (wake = r));
    unsettled++;
    producer.put({ partitionKey: keys[i % 1000]!, data: shared ? template : Buffer.from(template) }).then(settled, failed);
    if (i % perTurn === perTurn - 1) await new Promise(setImmediate);
  }
  while (unsettled > 0) await new Promise<void>((r) => (wake = r));
  if (failure !== undefined) throw failure as Error;
}

async function cpuChild(tree: string, endpoint: string, o: Options): Promise<object> {
  const KinesisProducer = await loadProducer(tree);
  const producer = new KinesisProducer({ streamName: 'bench', endpoint, region: 'us-east-1', credentials, rateLimit: 10_000 });
  await drive(producer, Math.round(o.count / 5), o.size, false);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const loop = watchLoop();
  await drive(producer, o.count, o.size, false);
  const lateness = loop.stop();
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - started) / 1000;
  await producer.close();
  return {
    cpuUsPerRecord: (used.user + used.system) / o.count,
    recordsPerSecond: o.count / seconds,
    lagP99Ms: lateness.p99Ms,
    lagMaxMs: lateness.maxMs,
  };
}

/** An endpoint that describes and lists a stream and holds every PutRecords unanswered. */
async function startStalled(shards: number): Promise<{ endpoint: string; close: () => void }> {
  const server = createServer((req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    req.resume();
    if (target.endsWith('.PutRecords')) return;
    req.on('end', () => {
      const answer = target.endsWith('.ListShards')
        ? { Shards: equalShards(shards) }
        : { StreamDescriptionSummary: { StreamName: 'bench', StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/bench', StreamStatus: 'ACTIVE', StreamModeDetails: { StreamMode: 'PROVISIONED' }, RetentionPeriodHours: 24, StreamCreationTimestamp: 1_700_000_000, EnhancedMonitoring: [], OpenShardCount: shards } };
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${address.port}`, close: () => server.closeAllConnections() };
}

async function heapChild(tree: string, o: Options): Promise<object> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('heap needs --expose-gc');
  const KinesisProducer = await loadProducer(tree);
  const server = await startStalled(o.shards);
  const producer = new KinesisProducer({
    streamName: 'bench', endpoint: server.endpoint, region: 'us-east-1', credentials, rateLimit: 10_000,
    requestTimeout: 600_000, recordTtl: 600_000, maxOutstandingRecords: o.count + 1,
  });
  // One record first, so the stream is learned and the modules and sockets exist before the baseline.
  void producer.put({ partitionKey: 'warm', data: 'x' }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  gc();
  const before = process.memoryUsage().heapUsed;
  const template = Buffer.alloc(o.size, 7);
  const records = function* (): Generator<{ partitionKey: string; data: Buffer }> {
    for (let i = 0; i < o.count; i++) yield { partitionKey: `key-${i % 1000}`, data: o.ownData === 1 ? Buffer.from(template) : template };
  };
  if (o.putAll === 1) void producer.putAll(records());
  else void drive(producer, o.count, o.size, o.ownData !== 1, o.count + 1);
  // Let every buffer's deadline pass, so the records are where a stalled endpoint leaves them.
  await new Promise((r) => setTimeout(r, 1000));
  gc();
  const after = process.memoryUsage().heapUsed;
  const held = producer.outstandingRecords;
  server.close();
  return { heapBytesPerRecord: (after - before) / held, held };
}

function runChild(mode: string, tree: string, endpoint: string, o: Options): Promise<Record<string, number>> {
  const args = [...process.execArgv, ...(mode === 'heap' ? ['--expose-gc'] : []), fileURLToPath(import.meta.url), `child-${mode}`, tree, endpoint, JSON.stringify(o)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((done, fail) =>
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || line === undefined) fail(new Error(`${mode} run of ${tree} exited ${code}: ${out}`));
      else done(JSON.parse(line.slice(7)) as Record<string, number>);
    }),
  );
}

const [mode = 'cpu', ...rest] = process.argv.slice(2);
if (mode.startsWith('child-')) {
  const [tree, endpoint, options] = rest as [string, string, string];
  const o = JSON.parse(options) as Options;
  const result = mode === 'child-cpu' ? await cpuChild(tree, endpoint, o) : await heapChild(tree, o);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}
const o: Options = { size: 100, count: mode === 'heap' ? 100_000 : 300_000, shards: 64, rounds: mode === 'heap' ? 3 : 5, putAll: 0, ownData: 0 };
const trees: string[] = [];
for (let i = 0; i < rest.length; i++) {
  const arg = rest[i]!;
  if (arg.startsWith('--')) o[arg.slice(2) as keyof Options] = Number(rest[++i]);
  else trees.push(arg);
}
const server = mode === 'cpu' ? await startServer('instant', 'bench', o.shards) : undefined;
const results = new Map<string, Record<string, number>[]>(trees.map((t) => [t, []]));
for (let round = 0; round < o.rounds; round++) {
  for (const tree of trees) {
    const result = await runChild(mode, tree, server?.endpoint ?? '', o);
    results.get(tree)!.push(result);
    process.stderr.write(`  round ${round + 1} ${tree}: ${JSON.stringify(result)}\n`);
  }
}
await server?.stop();
for (const [tree, runs] of results) {
  const medians = Object.fromEntries(Object.keys(runs[0]!).map((k) => [k, +median(runs.map((r) => r[k]!)).toFixed(3)]));
  console.log(JSON.stringify({ tree, mode, ...o, ...medians }));
}
