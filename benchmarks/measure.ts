/**
 * Child-process entry: runs one measurement, given as a JSON argument, in a fresh process (so its
 * peak RSS and JIT state are its own) and prints `RESULT <json>`.
 */
import { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { resourceUsage } from 'node:process';
import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { NodeHttp2Handler, NodeHttpHandler } from '@smithy/node-http-handler';
import { Aggregator, KinesisProducer, hashKeyToDecimal, HashKeyCache, ShardMap } from '../src/index.js';
import { startFaultProxy } from '../test/support/fault-proxy.js';
import { localClient } from '../test/support/servers.js';
import { equalShards } from './instant-kinesis.js';
import { report } from './processes.js';
import { drivePutAll, driveProducer, figures, putsPerTurn, recordMaker, round, watchLoop, yieldToLoop, type BenchRecord, type RunFigures } from './workload.js';

/** Records of one size, written with 1,000 (or `keys`) partition keys. */
interface Workload {
  readonly size: number;
  readonly keys: number;
  /** Records measured. */
  readonly count: number;
  /** Records sent first, unmeasured, to warm up the JIT, sockets and the shard map. */
  readonly warmup: number;
}

/** shardline's KinesisProducer, with its own client (defaults: HTTP/1.1 keep-alive, 24 sockets). */
export interface ProducerJob extends Workload {
  readonly kind: 'producer';
  readonly endpoint: string;
  readonly streamName: string;
  readonly aggregation: boolean;
  /** Percent of each shard's limits the producer lets out (KPL: RateLimit); undefined for the default. */
  readonly rateLimit: number | undefined;
  readonly window: number;
  readonly windowBytes: number;
  /** How records are fed: `put()` and a promise each (the window bounds what is unsettled), or `putAll()`. */
  readonly entry?: 'put' | 'putAll';
  /** The producer's metricsLevel; undefined for the default (detailed, per shard). */
  readonly metricsLevel?: 'none' | 'summary' | 'detailed';
}

/**
 * Plain SDK PutRecords calls of up to `batch` entries, `concurrency` in flight, no retries: of the
 * raw records, or of aws-kinesis-agg's envelopes (the pipeline users build by hand).
 */
export interface PlainJob extends Workload {
  readonly kind: 'plain';
  readonly endpoint: string;
  readonly streamName: string;
  readonly batch: number;
  readonly concurrency: number;
  /** Use the SDK's HTTP/2 handler (the Kinesis client's default) instead of HTTP/1.1. */
  readonly http2: boolean;
  /** Pack the records into envelopes with aws-kinesis-agg's RecordAggregator first; calls then also stop at 5 MiB. */
  readonly awsKinesisAgg: boolean;
}

/** Aggregation alone, no I/O: aws-kinesis-agg against shardline's Aggregator. */
export interface AggregationJob extends Workload {
  readonly kind: 'aggregation';
  /** Measured passes per implementation; the median is reported. */
  readonly repeats: number;
}

/**
 * One shard at its real limits: the test suite's loopback fault proxy in front of kinesalite
 * throttles past 1,000 records/s and 1 MiB/s (one second of burst), and the producer (defaults) is
 * offered `offered` × the byte limit, paced by the clock, for `seconds`.
 */
export interface SaturatedJob {
  readonly kind: 'saturated';
  readonly endpoint: string;
  readonly streamName: string;
  readonly size: number;
  readonly offered: number;
  readonly seconds: number;
  /** Figures count from this second on: before it, the limiter is finding the shard's rate. */
  readonly steadyFrom: number;
}

export type Job = ProducerJob | PlainJob | AggregationJob | SaturatedJob;

/** What the measuring process went through. */
interface ProcessFigures {
  /** RSS after loading modules, before the producer or client existed. */
  readonly baselineRssMB: number;
  /** Peak RSS of the process (getrusage maxrss). */
  readonly peakRssMB: number;
  /** Event-loop delay while measuring (see `watchLoop`): how long timers and I/O callbacks waited. */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

/** Figures of a measured run that writes to Kinesis, shardline's or a peer's. */
interface CallFigures extends RunFigures {
  readonly putRecordsCalls: number;
  /** Kinesis records written (an envelope counts once). */
  readonly kinesisRecords: number;
  /** User records per Kinesis record. */
  readonly aggregationRatio: number;
}

export interface ProducerResult extends CallFigures, ProcessFigures {
  readonly window: number;
  /** Failed attempts (later retried, or not) by error code, while measuring. */
  readonly errorsByCode: Readonly<Record<string, number>>;
}

export type PlainResult = CallFigures & ProcessFigures;

export interface AggregationRow {
  /** Short name, for the JSON dump. */
  readonly id: string;
  readonly implementation: string;
  readonly recordsPerSecond: number;
  readonly megabytesPerSecond: number;
  /** User records per Kinesis record produced. */
  readonly aggregationRatio: number;
  readonly kinesisRecords: number;
}

export interface AggregationResult {
  readonly rows: AggregationRow[];
}

export interface SaturatedResult {
  /** Bytes (data + partition keys) the shard accepted per second from `steadyFrom` on, in MiB. */
  readonly deliveredMiBps: number;
  /** Entries the shard throttled, as a share of the entries sent to it from `steadyFrom` on. */
  readonly throttledPercent: number;
  readonly offeredRecords: number;
  /** Records that failed in the end (none should: throttled ones are retried). */
  readonly failed: number;
}

/** A measurement that failed where failing is the finding (HTTP/2 against kinesalite). */
export interface FailedResult {
  readonly error: string;
}

const MB = 1e6;
const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

/** Runs the measured part of a job, watching the event loop; adds the process's figures. */
async function measured<T>(baselineRssMB: number, run: () => Promise<T>): Promise<T & ProcessFigures> {
  const loop = watchLoop();
  const result = await run();
  const lateness = loop.stop();
  return {
    ...result,
    baselineRssMB: round(baselineRssMB, 1),
    peakRssMB: round((resourceUsage().maxRSS * 1024) / MB, 1),
    loopDelayP99Ms: round(lateness.p99Ms, 1),
    loopDelayMaxMs: round(lateness.maxMs, 1),
  };
}

async function runProducer(job: ProducerJob): Promise<ProducerResult> {
  const baselineRssMB = process.memoryUsage.rss() / MB;
  const make = recordMaker(job.size, job.keys);
  const producer = new KinesisProducer({
    streamName: job.streamName,
    endpoint: job.endpoint,
    region: 'us-east-1',
    credentials,
    aggregationEnabled: job.aggregation,
    ...(job.rateLimit !== undefined && { rateLimit: job.rateLimit }),
    ...(job.metricsLevel !== undefined && { metricsLevel: job.metricsLevel }),
  });
  const drive = (count: number): Promise<RunFigures> =>
    job.entry === 'putAll' ? drivePutAll(producer, make, count, job.size) : driveProducer(producer, make, count, job.size, job.window, job.windowBytes);
  try {
    await drive(job.warmup);
    return await measured(baselineRssMB, async () => {
      const before = producer.metrics;
      const run = await drive(job.count);
      const after = producer.metrics;
      const kinesisRecords = after.kinesisRecordsPut - before.kinesisRecordsPut;
      return {
        ...run,
        window: Math.min(job.window, Math.floor(job.windowBytes / job.size)),
        aggregationRatio: round((after.userRecordsPut - before.userRecordsPut) / Math.max(1, kinesisRecords), 1),
        putRecordsCalls: after.putRecordsRequests - before.putRecordsRequests,
        kinesisRecords,
        errorsByCode: Object.fromEntries(
          Object.entries(after.errorsByCode)
            .map(([code, n]): [string, number] => [code, n - (before.errorsByCode[code] ?? 0)])
            .filter(([, n]) => n > 0),
        ),
      };
    });
  } finally {
    await producer.close();
  }
}

/** The plain-SDK baseline client: HTTP/1.1 keep-alive with `concurrency` sockets, or the HTTP/2 handler. */
function plainClient(job: PlainJob): KinesisClient {
  const requestHandler = job.http2
    ? new NodeHttp2Handler({ requestTimeout: 10_000 })
    : new NodeHttpHandler({
        httpAgent: new Agent({ keepAlive: true, maxSockets: job.concurrency }),
        connectionTimeout: 5000,
        requestTimeout: 30_000,
      });
  return localClient(job.endpoint, { requestHandler });
}

/** Sends records `from`..`from + count - 1` in batches of `job.batch`, `job.concurrency` at a time. */
async function sendBatches(client: KinesisClient, job: PlainJob, make: (i: number) => BenchRecord, from: number, count: number): Promise<CallFigures> {
  const latencies = new Float64Array(count);
  let next = 0;
  let calls = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const first = next;
      const n = Math.min(job.batch, count - first);
      next += n;
      const entries: PutRecordsRequestEntry[] = new Array<PutRecordsRequestEntry>(n);
      for (let j = 0; j < n; j++) {
        const record = make(from + first + j);
        entries[j] = { PartitionKey: record.partitionKey, Data: record.data };
      }
      const sentAt = performance.now();
      calls++;
      const output = await client.send(new PutRecordsCommand({ StreamName: job.streamName, Records: entries }), {
        abortSignal: AbortSignal.timeout(30_000),
      });
      failed += output.FailedRecordCount ?? 0;
      latencies.fill(performance.now() - sentAt, first, first + n);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { ...figures(latencies, job.size, seconds, failed), putRecordsCalls: calls, kinesisRecords: count, aggregationRatio: 1 };
}

/** A PutRecords call being filled with envelopes: its entries, their bytes, and the user records they carry. */
interface Call {
  readonly entries: PutRecordsRequestEntry[];
  bytes: number;
  /** The user records in it are `first`..`end - 1`. */
  readonly first: number;
  end: number;
}

/**
 * Sends records `from`..`from + count - 1` as users wire aws-kinesis-agg to the SDK by hand: every
 * record into one RecordAggregator, each envelope it hands back into the open call, a call sent
 * once it holds `job.batch` entries or the next envelope would take it past 5 MiB, `job.concurrency`
 * calls in flight; feeding pauses while a full call waits for one to finish. A record's latency
 * runs from feeding it to the answer of the call that carried it.
 */
async function sendAggregated(client: KinesisClient, job: PlainJob, make: (i: number) => BenchRecord, from: number, count: number): Promise<CallFigures> {
  const latencies = new Float64Array(count);
  const fedAt = new Float64Array(count);
  const waiting: Call[] = [];
  let open: Call = { entries: [], bytes: 0, first: 0, end: 0 };
  // Envelopes handed back while record `feeding` is fed hold the records before it.
  let feeding = 0;
  let inFlight = 0;
  let calls = 0;
  let envelopes = 0;
  let failed = 0;
  let firstError: unknown;
  let onDrained: (() => void) | undefined;
  const send = async (call: Call): Promise<void> => {
    inFlight++;
    calls++;
    try {
      const output = await client.send(new PutRecordsCommand({ StreamName: job.streamName, Records: call.entries }), {
        abortSignal: AbortSignal.timeout(30_000),
      });
      failed += output.FailedRecordCount ?? 0;
    } catch (error) {
      firstError ??= error;
    }
    const answeredAt = performance.now();
    for (let i = call.first; i < call.end; i++) latencies[i] = answeredAt - fedAt[i]!;
    inFlight--;
    pump();
  };
  const pump = (): void => {
    while (inFlight < job.concurrency && waiting.length > 0) void send(waiting.shift()!);
    if (waiting.length === 0) onDrained?.();
  };
  const seal = (): void => {
    if (open.entries.length === 0) return;
    waiting.push(open);
    open = { entries: [], bytes: 0, first: open.end, end: open.end };
    pump();
  };
  const aggregator = new RecordAggregator((error, encoded) => {
    if (error !== null || encoded === undefined) throw error ?? new Error('no envelope');
    envelopes++;
    const bytes = encoded.data.length + Buffer.byteLength(encoded.partitionKey);
    if (open.bytes + bytes > MAX_CALL_BYTES) seal();
    open.entries.push({ Data: encoded.data, PartitionKey: encoded.partitionKey, ExplicitHashKey: encoded.ExplicitHashKey });
    open.bytes += bytes;
    open.end = feeding;
    if (open.entries.length === job.batch) seal();
  });
  /** Resolves once no call waits (`andIdle`: and none is in flight). */
  const drained = (andIdle: boolean): Promise<void> =>
    new Promise((resolve) => {
      onDrained = () => {
        if (andIdle && inFlight > 0) return;
        onDrained = undefined;
        resolve();
      };
      pump();
    });
  const perTurn = putsPerTurn(job.size);
  const started = performance.now();
  for (; feeding < count; feeding++) {
    if (waiting.length > 0) await drained(false);
    fedAt[feeding] = performance.now();
    aggregator.aggregateRecords([make(from + feeding)], false);
    if (feeding % perTurn === perTurn - 1) await yieldToLoop();
  }
  aggregator.flushBufferedRecords();
  seal();
  await drained(true);
  const seconds = (performance.now() - started) / 1000;
  if (firstError !== undefined) throw firstError;
  return {
    ...figures(latencies, job.size, seconds, failed),
    putRecordsCalls: calls,
    kinesisRecords: envelopes,
    aggregationRatio: round(count / Math.max(1, envelopes), 1),
  };
}

async function runPlain(job: PlainJob): Promise<PlainResult | FailedResult> {
  const baselineRssMB = process.memoryUsage.rss() / MB;
  const make = recordMaker(job.size, job.keys);
  const client = plainClient(job);
  const sendAll = job.awsKinesisAgg ? sendAggregated : sendBatches;
  try {
    if (job.warmup > 0) await sendAll(client, job, make, 0, job.warmup);
    return await measured(baselineRssMB, () => sendAll(client, job, make, job.warmup, job.count));
  } catch (error) {
    // Expected for HTTP/2 against kinesalite; anything else is a real failure.
    if (!job.http2) throw error;
    const e = error as Error & { code?: string };
    return { error: `${e.name}: ${e.message}${e.code !== undefined ? ` (${e.code})` : ''}` };
  } finally {
    client.destroy();
  }
}

async function runSaturated(job: SaturatedJob): Promise<SaturatedResult> {
  const limit = { recordsPerSecond: 1000, bytesPerSecond: 1024 * 1024 };
  const proxy = await startFaultProxy({ target: job.endpoint, seed: 11, faults: { shardLimits: limit } });
  const producer = new KinesisProducer({ streamName: job.streamName, endpoint: proxy.endpoint, region: 'us-east-1', credentials });
  const make = recordMaker(job.size, KEYS_ON_ONE_SHARD);
  const shard = () => Object.values(proxy.stats.shards[job.streamName] ?? {})[0];
  const settled: Promise<unknown>[] = [];
  let failed = 0;
  const offeredPerMs = (job.offered * limit.bytesPerSecond) / job.size / 1000;
  let sent = 0;
  let steady: { at: number; bytes: number; accepted: number; throttled: number } | undefined;
  const started = performance.now();
  // Paced by the clock, not by sleeps (which a busy machine stretches).
  for (let elapsed = 0; elapsed < job.seconds * 1000; elapsed = performance.now() - started) {
    for (const due = Math.floor(elapsed * offeredPerMs); sent < due; sent++) {
      settled.push(producer.put(make(sent)).catch(() => failed++));
    }
    if (steady === undefined && elapsed >= job.steadyFrom * 1000) {
      const s = shard();
      steady = { at: performance.now(), bytes: s?.acceptedBytes ?? 0, accepted: s?.acceptedRecords ?? 0, throttled: s?.throttledEntries ?? 0 };
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const end = shard()!;
  const from = steady!;
  const seconds = (performance.now() - from.at) / 1000;
  const throttled = end.throttledEntries - from.throttled;
  const attempts = throttled + end.acceptedRecords - from.accepted;
  proxy.clearFaults(); // lets the backlog out at once
  await Promise.all(settled);
  await producer.close();
  await proxy.close();
  return {
    deliveredMiBps: round((end.acceptedBytes - from.bytes) / seconds / limit.bytesPerSecond, 3),
    throttledPercent: round((100 * throttled) / Math.max(1, attempts), 1),
    offeredRecords: sent,
    failed,
  };
}

/** What aws-kinesis-agg's RecordAggregator hands back: an envelope, with the first record's keys. */
interface EncodedRecord {
  readonly partitionKey: string;
  readonly ExplicitHashKey?: string;
  readonly data: Buffer;
}

/** aws-kinesis-agg 4.x's RecordAggregator (CommonJS, untyped): envelopes of up to 1 MiB, no shard prediction. */
const { RecordAggregator } = createRequire(import.meta.url)('aws-kinesis-agg') as {
  RecordAggregator: new (onReady: (error: Error | null, encoded?: EncodedRecord) => void) => {
    aggregateRecords(records: readonly BenchRecord[], forceFlush: boolean): void;
    flushBufferedRecords(): void;
  };
};

/** The request size a PutRecords call of aws-kinesis-agg's envelopes stays within, as users size them. */
const MAX_CALL_BYTES = 5 * 1024 * 1024;

/** Partition keys for the one-shard run (as the test suite's: every key lands on the one shard anyway). */
const KEYS_ON_ONE_SHARD = 500;

/** Feeds records to one implementation; returns the Kinesis records it produced. */
type Aggregate = (records: readonly BenchRecord[], passes: number) => Promise<number> | number;

/** aws-kinesis-agg 4.x, as its README drives it: one RecordAggregator, its fixed 1 MiB envelopes, no shard prediction. */
function awsKinesisAgg(): Aggregate {
  return (records, passes) => {
    let produced = 0;
    const aggregator = new RecordAggregator((error, encoded) => {
      if (error !== null || encoded === undefined) throw error ?? new Error('no record');
      produced++;
    });
    for (let p = 0; p < passes; p++) aggregator.aggregateRecords(records, false);
    aggregator.flushBufferedRecords();
    return produced;
  };
}

/** shardline's Aggregator with aws-kinesis-agg's envelope size and no shard prediction: the same work, like for like. */
function shardlineSameEnvelopes(): Aggregate {
  return (records, passes) => {
    const aggregator = new Aggregator<BenchRecord>({ aggregationMaxSize: 1024 * 1024 });
    let produced = 0;
    for (let p = 0; p < passes; p++) {
      for (const record of records) {
        if (!aggregator.tryAdd(record)) {
          if (aggregator.drain().data.length > 0) produced++;
          aggregator.tryAdd(record);
        }
      }
    }
    if (aggregator.drain().data.length > 0) produced++;
    return produced;
  };
}

/**
 * shardline as its producer aggregates: hash key (cached MD5), shard lookup, one Aggregator per
 * shard at the default 51,200-byte envelope, and the envelope's decimal ExplicitHashKey.
 */
function shardlinePerShard(): Aggregate {
  const shards = equalShards(4);
  const client = { send: () => Promise.resolve({ Shards: shards }) } as unknown as KinesisClient;
  return async (records, passes) => {
    const map = new ShardMap({ client, streamName: 'bench' });
    await map.refresh();
    map.close();
    const hashKeys = new HashKeyCache();
    const slots = new Map<string, Aggregator<BenchRecord>>();
    let produced = 0;
    const emit = (aggregator: Aggregator<BenchRecord>): void => {
      const drained = aggregator.drain();
      const first = drained.entries[0];
      if (first === undefined) return;
      // The producer routes an envelope by its first record's hash key, in decimal.
      if (drained.aggregated && hashKeyToDecimal(hashKeys.get(first.partitionKey)) === '') throw new Error('no routing key');
      produced++;
    };
    for (let p = 0; p < passes; p++) {
      for (const record of records) {
        const shard = map.lookup(hashKeys.get(record.partitionKey))!;
        let slot = slots.get(shard.shardId);
        if (slot === undefined) slots.set(shard.shardId, (slot = new Aggregator()));
        if (!slot.tryAdd(record)) {
          emit(slot);
          slot.tryAdd(record);
        }
      }
    }
    for (const slot of slots.values()) emit(slot);
    return produced;
  };
}

async function runAggregation(job: AggregationJob): Promise<AggregationResult> {
  const make = recordMaker(job.size, job.keys);
  // A pool of distinct records cycled through: every implementation sees the same objects in the same order.
  const pool = Array.from({ length: Math.min(job.count, job.keys * 4) }, (_, i) => make(i));
  const passes = Math.max(1, Math.round(job.count / pool.length));
  const measured = passes * pool.length;
  const implementations: [string, string, Aggregate][] = [
    ['awsKinesisAgg', 'aws-kinesis-agg 4.2.8 (1 MiB envelopes, no shard prediction)', awsKinesisAgg()],
    ['shardlineSameEnvelopes', 'shardline Aggregator (same 1 MiB envelopes, no shard prediction)', shardlineSameEnvelopes()],
    ['shardlinePerShard', 'shardline as in the producer (hash, shard lookup, 4 × 51,200 B)', shardlinePerShard()],
  ];
  const warmPasses = Math.max(1, Math.round(job.warmup / pool.length));
  for (const [, , aggregate] of implementations) await aggregate(pool, warmPasses);
  const seconds = implementations.map((): number[] => []);
  const produced = implementations.map(() => 0);
  // Interleaved, so that drift (GC, CPU frequency) touches every implementation alike.
  for (let r = 0; r < job.repeats; r++) {
    for (const [i, [, , aggregate]] of implementations.entries()) {
      const started = performance.now();
      produced[i] = await aggregate(pool, passes);
      seconds[i]!.push((performance.now() - started) / 1000);
    }
  }
  return {
    rows: implementations.map(([id, implementation], i) => {
      const median = seconds[i]!.sort((a, b) => a - b)[Math.floor(job.repeats / 2)]!;
      return {
        id,
        implementation,
        recordsPerSecond: Math.round(measured / median),
        megabytesPerSecond: round((measured * job.size) / median / MB, 1),
        aggregationRatio: round(measured / produced[i]!, 1),
        kinesisRecords: produced[i]!,
      };
    }),
  };
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const run: { [K in Job['kind']]: (job: Extract<Job, { kind: K }>) => Promise<unknown> } = {
  producer: runProducer,
  plain: runPlain,
  aggregation: runAggregation,
  saturated: runSaturated,
};
const result = await (run[job.kind] as (job: Job) => Promise<unknown>)(job);
report('RESULT', result);
// Sockets of a failed HTTP/2 session, or timers of an aborted request, must not keep the child alive.
process.exit(0);
