/**
 * shardline's benchmarks: one command, a table of figures, then a short JSON dump.
 *
 *   npm run bench                       full run, ~2–3 minutes on 2 cores
 *   npm run bench -- --quick            smaller counts, one pass each, ~30 s (noisier)
 *   npm run bench -- --json out.json    write the JSON dump to a file instead of stdout
 *
 * Every measurement runs in its own child process, and every server in another (see processes.ts).
 * Runs are a fixed number of records after a warm-up; nothing here asserts on timing.
 * docs/performance.md explains each figure.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import type {
  AggregationJob,
  AggregationResult,
  FailedResult,
  PlainJob,
  PlainResult,
  ProducerJob,
  ProducerResult,
  SaturatedJob,
  SaturatedResult,
} from './measure.js';
import { measureInChild, startServer, type ServerProcess } from './processes.js';
import { bytes, dec, int, table, times } from './table.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } } });
const quick = values.quick;
const scale = (full: number): number => (quick ? Math.round(full / 6) : full);
/** Passes per figure (each in a fresh process); the median by records/s is reported. */
const REPEATS = quick ? 1 : 3;

const KEYS = 1000;
const STREAM = 'bench';
/** Unsettled records the driving application allows (and bytes of data): its backpressure window. */
const WINDOW = 50_000;
// Below the producer's own maxOutstandingBytes (64 MiB, data + keys), so put() never refuses.
const WINDOW_BYTES = 48 * 1024 * 1024;
/**
 * Sections 1 and 3 measure the pipeline, not the per-shard rate limits (section 5 does that): their
 * streams have enough shards for the rates measured (a stream taking 25 MB/s has at least 25
 * shards), and the producer's rateLimit is lifted. A shard starts at its real limits (1,000
 * records/s, 1 MiB/s) and climbs above them only over seconds, so on 4 shards the producer would
 * be held near 4 MiB/s and the figures would measure the limiter.
 */
const E2E_SHARDS = 32;
/** The rateLimit (%) that lifts the producer's per-shard limit in sections 1 and 3. */
const NO_RATE_LIMIT = 10_000;

/** The commit measured, `+` when the working tree differs from it; undefined outside a git checkout. */
function revision(): string | undefined {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') === '' ? '' : '+'}`;
  } catch {
    return undefined;
  }
}

const started = performance.now();
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model.trim() ?? 'unknown',
  cpus: cpus().length,
  os: `${platform()} ${arch()}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  commit: revision(),
};
console.log(`shardline benchmarks${quick ? ' (--quick)' : ''}`);
console.log(
  `${machine.date}  Node ${machine.node}  ${machine.cpus} × ${machine.cpu}  ${machine.os}  ${machine.memoryGiB} GiB RAM  commit ${machine.commit ?? 'unknown'}`,
);

const progress = (text: string): void => {
  process.stderr.write(`  … ${text}\n`);
};

/** Runs `run` `repeats` times and keeps the run with the median records/s. */
async function median<T extends { recordsPerSecond: number }>(repeats: number, run: () => Promise<T>): Promise<T> {
  const runs: T[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await run());
  return medianRun(runs);
}

/** The run with the median records/s. */
function medianRun<T extends { recordsPerSecond: number }>(runs: T[]): T {
  return runs.sort((a, b) => a.recordsPerSecond - b.recordsPerSecond)[Math.floor(runs.length / 2)]!;
}

/** Runs `use` against a fresh server in its own process, then stops it. */
async function withServer<T>(kind: 'instant' | 'kinesalite', use: (server: ServerProcess) => Promise<T>, shards = 4): Promise<T> {
  const server = await startServer(kind, STREAM, shards);
  try {
    return await use(server);
  } finally {
    await server.stop();
  }
}

// ---- 1. the producer's pipeline against an endpoint that answers at once, beside hand-built ones ----

/** SDK PutRecords calls as users make them: up to 500 entries a call, 24 calls in flight, HTTP/1.1. */
const SDK_CALLS = { kind: 'plain', batch: 500, concurrency: 24, http2: false } as const;

/** What users build by hand instead of a producer, run against the same endpoint as shardline. */
const PEERS = [
  { id: 'awsKinesisAgg', name: 'aws-kinesis-agg + SDK PutRecords', awsKinesisAgg: true },
  { id: 'plainSdk', name: 'plain SDK PutRecords, raw', awsKinesisAgg: false },
] as const;

interface PipelineRow extends ProducerResult {
  readonly label: string;
  readonly size: number;
  readonly shards: number;
  readonly peers: readonly { readonly peer: (typeof PEERS)[number]; readonly result: PlainResult }[];
  /** The same records through `putAll()`: no promise per record. */
  readonly putAll: ProducerResult;
  /** The same records through `put()` with `metricsLevel: 'none'`: what the default metrics (detailed, per shard) cost. */
  readonly metricsNone: ProducerResult;
}

/** Each size on a stream whose hottest shard (1,000 keys spread unevenly) stays under its limits. */
const PIPELINE: readonly { size: number; count: number; shards: number }[] = [
  { size: 100, count: scale(600_000), shards: 64 },
  { size: 1024, count: scale(200_000), shards: 512 },
  { size: 10 * 1024, count: scale(40_000), shards: 512 },
];

const pipeline: PipelineRow[] = [];
for (const { size, count, shards } of PIPELINE) {
  pipeline.push(await withServer('instant', async (server) => {
    const label = bytes(size);
    const records = { endpoint: server.endpoint, streamName: STREAM, size, keys: KEYS, count, warmup: Math.round(count / 5) };
    const job: ProducerJob = { kind: 'producer', aggregation: true, rateLimit: NO_RATE_LIMIT, window: WINDOW, windowBytes: WINDOW_BYTES, ...records };
    const clients = PEERS;
    const runs = { shardline: [] as ProducerResult[], putAll: [] as ProducerResult[], metricsNone: [] as ProducerResult[], peers: clients.map((): PlainResult[] => []) };
    // Interleaved, so that drift (other load, CPU frequency) touches shardline and its peers alike.
    for (let r = 0; r < REPEATS; r++) {
      progress(`pipeline ${label} × ${int(count)}: shardline`);
      runs.shardline.push(await measureInChild<ProducerResult>(job));
      progress(`pipeline ${label} × ${int(count)}: shardline putAll`);
      runs.putAll.push(await measureInChild<ProducerResult>({ ...job, entry: 'putAll' }));
      progress(`pipeline ${label} × ${int(count)}: shardline metricsLevel none`);
      runs.metricsNone.push(await measureInChild<ProducerResult>({ ...job, metricsLevel: 'none' }));
      for (const [i, peer] of clients.entries()) {
        progress(`pipeline ${label} × ${int(count)}: ${peer.name}`);
        runs.peers[i]!.push(await measureInChild<PlainResult>({ ...SDK_CALLS, awsKinesisAgg: peer.awsKinesisAgg, ...records }));
      }
    }
    const result = medianRun(runs.shardline);
    return { label, size, shards, ...result, putAll: medianRun(runs.putAll), metricsNone: medianRun(runs.metricsNone), peers: clients.map((peer, i) => ({ peer, result: medianRun(runs.peers[i]!) })) };
  }, shards));
}

// ---- 2. aggregation alone: aws-kinesis-agg and shardline on the same records ---------------------

const AGGREGATION_COUNT: Record<number, number> = { 100: 400_000, 1024: 150_000, 10240: 30_000 };
const aggregation: (AggregationResult & { size: number })[] = [];
for (const size of [100, 1024, 10 * 1024]) {
  const count = scale(AGGREGATION_COUNT[size]!);
  progress(`aggregation ${bytes(size)} × ${int(count)}`);
  const job: AggregationJob = { kind: 'aggregation', size, keys: KEYS, count, warmup: Math.round(count / 2), repeats: REPEATS };
  aggregation.push({ size, ...(await measureInChild<AggregationResult>(job)) });
}

// ---- 3. end to end against kinesalite, beside plain SDK batches ---------------------------------

const E2E_SIZE = 100;
const E2E_COUNT = scale(100_000);
const workload = { size: E2E_SIZE, keys: KEYS, count: E2E_COUNT, warmup: Math.round(E2E_COUNT / 10), streamName: STREAM };

/** Median of runs, each against a fresh kinesalite (own process, own core) with an E2E_SHARDS-shard stream. */
function againstKinesalite<T extends { recordsPerSecond: number }>(job: Omit<ProducerJob, 'endpoint'> | Omit<PlainJob, 'endpoint'>): Promise<T> {
  return median(REPEATS, () => withServer('kinesalite', (server) => measureInChild<T>({ ...job, endpoint: server.endpoint }), E2E_SHARDS));
}

const plainJob = { ...SDK_CALLS, awsKinesisAgg: false, ...workload } as const;
/** What plain SDK batching keeps in flight (24 calls of 500): shardline runs once with the same, once with its usual window. */
const PLAIN_IN_FLIGHT = plainJob.batch * plainJob.concurrency;
const producerJob = { kind: 'producer', windowBytes: WINDOW_BYTES, rateLimit: NO_RATE_LIMIT, ...workload } as const;
progress(`kinesalite: plain SDK × ${int(E2E_COUNT)}`);
const plain = await againstKinesalite<PlainResult>(plainJob);
const e2e: { name: string; aggregation: boolean; window: number; result: ProducerResult }[] = [];
for (const [name, aggregation, window] of [
  ['shardline', true, PLAIN_IN_FLIGHT],
  ['shardline', true, WINDOW],
  ['shardline, aggregation off', false, PLAIN_IN_FLIGHT],
] as const) {
  progress(`kinesalite: ${name}, window ${int(window)} × ${int(E2E_COUNT)}`);
  e2e.push({ name, aggregation, window, result: await againstKinesalite<ProducerResult>({ ...producerJob, aggregation, window }) });
}

// ---- 4. HTTP/2 (the Kinesis client's default handler) against kinesalite ------------------------

progress('kinesalite over HTTP/2');
const http2 = await withServer('kinesalite', (server) =>
  measureInChild<PlainResult | FailedResult>({ ...plainJob, http2: true, count: scale(12_000), warmup: 0, endpoint: server.endpoint }),
);

// ---- 5. one shard at its real limits (docs/flow-control.md) ------------------------------------

const saturatedJob: Omit<SaturatedJob, 'endpoint'> = {
  kind: 'saturated',
  streamName: STREAM,
  size: 1000,
  offered: 1.25,
  // The limiter starts at 150 % of the shard and settles within ~5 s (AIMD): measure after that.
  seconds: quick ? 10 : 14,
  steadyFrom: 6,
};
progress(`one shard at its limits, offered ${saturatedJob.offered}× for ${saturatedJob.seconds} s`);
const saturated = await withServer('kinesalite', (server) => measureInChild<SaturatedResult>({ ...saturatedJob, endpoint: server.endpoint }), 1);

// ---- report ------------------------------------------------------------------------------------

const passes = REPEATS > 1 ? `median of ${REPEATS} runs` : 'one run';
console.log(
  `\n1. Producer pipeline → in-process Kinesis that answers at once (${PIPELINE.map((p) => `${bytes(p.size)} on ${p.shards} shards`).join(', ')}, ${int(KEYS)} keys, ${passes}). shardline: ` +
    `rateLimit ${int(NO_RATE_LIMIT)} % unless said, window ${int(WINDOW)} records / ${WINDOW_BYTES / 2 ** 20} MiB. ` +
    `Hand-built peers, each in its own process: SDK PutRecords calls of up to ${SDK_CALLS.batch} entries (and 5 MiB), ` +
    `${SDK_CALLS.concurrency} in flight, HTTP/1.1 keep-alive. Loop lag: how late a timer due every 10 ms ran (0 when on time)\n`,
);
const pipelineCells = (run: PlainResult): string[] => [
  int(run.records),
  int(run.recordsPerSecond),
  dec(run.megabytesPerSecond),
  dec(run.p50Ms),
  dec(run.p90Ms),
  dec(run.p99Ms),
  dec(run.maxMs),
  dec(run.aggregationRatio),
  int(run.putRecordsCalls),
  `${int(run.baselineRssMB)} → ${int(run.peakRssMB)}`,
  `${dec(run.loopDelayP99Ms)} / ${dec(run.loopDelayMaxMs)}`,
];
console.log(
  table(
    [
      'records',
      'client',
      'count',
      'records/s',
      'MB/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'user/Kinesis rec',
      'PutRecords',
      'RSS MB base→peak',
      'loop lag p99/max ms',
      'shardline ÷ this',
    ],
    pipeline.flatMap((r) => [
      [r.label, 'shardline, put() each', ...pipelineCells(r), ''],
      ['', `shardline, putAll() (${times(r.putAll.recordsPerSecond / r.recordsPerSecond)} put())`, ...pipelineCells(r.putAll), times(r.recordsPerSecond / r.putAll.recordsPerSecond)],
      ['', 'shardline, put() each, metricsLevel none', ...pipelineCells(r.metricsNone), times(r.recordsPerSecond / r.metricsNone.recordsPerSecond)],
      ...r.peers.map(({ peer, result }) => [
        '',
        result.failed > 0 ? `${peer.name} (${int(result.failed)} FAILED)` : peer.name,
        ...pipelineCells(result),
        times(r.recordsPerSecond / result.recordsPerSecond),
      ]),
    ]),
    2,
  ),
);

console.log(`\n2. Aggregation alone, no I/O (the same records for each, ${REPEATS > 1 ? `median of ${REPEATS} passes` : 'one pass'})\n`);
console.log(
  table(
    ['records', 'implementation', 'records/s', 'MB/s', 'user/Kinesis rec', 'vs aws-kinesis-agg'],
    aggregation.flatMap((result) => {
      const peer = result.rows[0]!.recordsPerSecond;
      return result.rows.map((row, i) => [
        i === 0 ? bytes(result.size) : '',
        row.implementation,
        int(row.recordsPerSecond),
        dec(row.megabytesPerSecond),
        dec(row.aggregationRatio),
        times(row.recordsPerSecond / peer),
      ]);
    }),
    2,
  ),
);

console.log(
  `\n3. End to end → kinesalite in its own process (${bytes(E2E_SIZE)} × ${int(E2E_COUNT)}, ${int(KEYS)} keys, ${E2E_SHARDS} shards, ` +
    `HTTP/1.1 keep-alive, 24 sockets, shardline at rateLimit ${int(NO_RATE_LIMIT)} %, ${passes})\n`,
);
const e2eRows: [string, string, PlainResult | ProducerResult, number][] = [
  ['plain SDK PutRecords, 500 per call', `24 calls = ${int(PLAIN_IN_FLIGHT)}`, plain, plain.records],
  ...e2e.map(({ name, window, result }): [string, string, ProducerResult, number] => [name, `window ${int(window)}`, result, result.kinesisRecords]),
];
console.log(
  table(
    ['client', 'records in flight', 'records/s', 'MB/s', 'p50 ms', 'p99 ms', 'PutRecords', 'Kinesis records', 'vs plain'],
    e2eRows.map(([name, inFlight, run, kinesisRecords]) => [
      run.failed > 0 ? `${name} (${int(run.failed)} FAILED)` : name,
      inFlight,
      int(run.recordsPerSecond),
      dec(run.megabytesPerSecond, 2),
      dec(run.p50Ms),
      dec(run.p99Ms),
      int(run.putRecordsCalls),
      int(kinesisRecords),
      times(run.recordsPerSecond / plain.recordsPerSecond),
    ]),
    2,
  ),
);

console.log("\n4. HTTP/2 (NodeHttp2Handler, the Kinesis client's default) → kinesalite, plain SDK PutRecords\n");
console.log(
  'error' in http2
    ? `fails on the first call: ${http2.error}`
    : `works: ${int(http2.recordsPerSecond)} records/s, p50 ${dec(http2.p50Ms)} ms, p99 ${dec(http2.p99Ms)} ms (${int(http2.records)} records)`,
);

console.log(
  `\n5. One shard at its real limits (loopback proxy: 1,000 records/s, 1 MiB/s, 1 s burst) → kinesalite; ` +
    `shardline defaults, ${bytes(saturatedJob.size)} records offered at ${saturatedJob.offered}× the byte limit for ${saturatedJob.seconds} s\n`,
);
console.log(
  table(
    ['measured', 'delivered MiB/s', 'limit MiB/s', 'throttled entries', 'records offered', 'records failed'],
    [
      [
        `from second ${saturatedJob.steadyFrom} on`,
        dec(saturated.deliveredMiBps, 3),
        '1.000',
        `${dec(saturated.throttledPercent)} %`,
        int(saturated.offeredRecords),
        int(saturated.failed),
      ],
    ],
  ),
);

const elapsed = (performance.now() - started) / 1000;
console.log(`\ntotal ${dec(elapsed)} s`);

const brief = (r: PlainResult | ProducerResult): object => ({
  recordsPerSecond: r.recordsPerSecond,
  megabytesPerSecond: r.megabytesPerSecond,
  p50Ms: r.p50Ms,
  p99Ms: r.p99Ms,
  putRecordsCalls: r.putRecordsCalls,
  failed: r.failed,
});
const dump = {
  machine,
  quick,
  seconds: Math.round(elapsed),
  pipeline: pipeline.map((r) => ({
    size: r.size,
    rateLimit: NO_RATE_LIMIT,
    window: r.window,
    ...brief(r),
    p90Ms: r.p90Ms,
    aggregationRatio: r.aggregationRatio,
    peakRssMB: r.peakRssMB,
    loopDelayP99Ms: r.loopDelayP99Ms,
    putAll: { recordsPerSecond: r.putAll.recordsPerSecond, megabytesPerSecond: r.putAll.megabytesPerSecond, loopDelayP99Ms: r.putAll.loopDelayP99Ms, overPut: Math.round((100 * r.putAll.recordsPerSecond) / r.recordsPerSecond) / 100 },
    metricsNone: { recordsPerSecond: r.metricsNone.recordsPerSecond, detailedOverNone: Math.round((100 * r.recordsPerSecond) / r.metricsNone.recordsPerSecond) / 100 },
    peers: Object.fromEntries(
      r.peers.map(({ peer, result }) => [peer.id, { ...brief(result), shardlineRatio: Math.round((100 * r.recordsPerSecond) / result.recordsPerSecond) / 100 }]),
    ),
  })),
  aggregation: aggregation.map(({ size, rows }) => ({
    size,
    recordsPerSecond: Object.fromEntries(rows.map((row) => [row.id, row.recordsPerSecond])),
  })),
  kinesalite: {
    size: E2E_SIZE,
    plain: brief(plain),
    shardline: e2e.map(({ aggregation, window, result }) => ({ aggregation, window, ...brief(result) })),
  },
  saturatedShard: saturated,
  http2: 'error' in http2 ? { works: false, error: http2.error } : { works: true, recordsPerSecond: http2.recordsPerSecond },
};
if (values.json !== undefined) {
  writeFileSync(values.json, `${JSON.stringify(dump, null, 2)}\n`);
  console.log(`JSON written to ${values.json}`);
} else {
  console.log(`\n${JSON.stringify(dump)}`);
}
