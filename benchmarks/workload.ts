/**
 * The records every benchmark writes, how they are fed to a producer, and the figures drawn from a run.
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { KinesisProducer } from '../src/index.js';

/** A user record as the benchmarks make it; also what shardline's and aws-kinesis-agg's aggregators take. */
export interface BenchRecord {
  readonly partitionKey: string;
  readonly explicitHashKey: undefined;
  readonly data: Buffer;
}

/**
 * Makes record `i`: `size` bytes of data (random once, copied into a fresh buffer per record, as
 * an application building each record would) and partition key `key-<i mod keys>`.
 */
export function recordMaker(size: number, keys: number): (i: number) => BenchRecord {
  const template = randomBytes(size);
  const partitionKeys = Array.from({ length: keys }, (_, k) => `key-${k}`);
  return (i) => ({ partitionKey: partitionKeys[i % keys]!, explicitHashKey: undefined, data: Buffer.from(template) });
}

/** Throughput and put()→settle latency of one measured run. */
export interface RunFigures {
  readonly records: number;
  readonly failed: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  /** User data only (partition keys not counted), in MB (10^6 bytes) per second. */
  readonly megabytesPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Figures of a run of `records` records of `size` bytes that took `seconds`; the latency
 * percentiles come from `latencies`, all of the records' or a sample of them.
 */
export function figures(latencies: Float64Array, size: number, seconds: number, failed: number, records = latencies.length): RunFigures {
  const sorted = latencies.slice().sort();
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN, 2);
  return {
    records,
    failed,
    seconds: round(seconds, 3),
    recordsPerSecond: Math.round(records / seconds),
    megabytesPerSecond: round((records * size) / seconds / 1e6, 2),
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 2),
  };
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** How often the loop probe's timer is due, in ms. */
const PROBE_INTERVAL_MS = 10;

/** Event-loop lateness over a run: p99 and max, in ms. */
export interface LoopLateness {
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Starts watching the event loop; `stop()` returns how late its timer ran. Node's histogram records
 * the whole time between two ticks of a timer due every 10 ms, so an idle loop reads 10 ms; the
 * interval is taken off, leaving the time the loop held the timer back (0 when on time), which is
 * what a callback of the application waits.
 */
export function watchLoop(): { stop(): LoopLateness } {
  const histogram = monitorEventLoopDelay({ resolution: PROBE_INTERVAL_MS });
  histogram.enable();
  const late = (ns: number): number => Math.max(0, ns / 1e6 - PROBE_INTERVAL_MS);
  return {
    stop() {
      histogram.disable();
      return { p99Ms: late(histogram.percentile(99)), maxMs: late(histogram.max) };
    },
  };
}

/** Lets timers and I/O run: what a feeding loop awaits every {@link putsPerTurn} records. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Records a feeding loop puts between two yields to the event loop: 1,000, or fewer so that a turn
 * carries at most 1 MiB of data, as an application fed by reads from sockets or files gets it (a
 * read brings tens of KiB). Yielding every 1,000 records whatever their size made the 10 KiB
 * callers copy 10 MB in one turn, and the loop lag measured that burst of the caller's own.
 */
export function putsPerTurn(size: number): number {
  return Math.max(1, Math.min(1000, Math.floor((1024 * 1024) / size)));
}

/**
 * Every how many records one has its latency timed. Timing a record takes two closures and a
 * context made for it and kept until it settles: done for every record, that bookkeeping of the
 * benchmark's own cost about as much garbage collection as the producer's promise (tens of
 * thousands of them are in flight), so the `put()` row measured the harness as much as shardline.
 * One in 16 still gives thousands of samples a run; the others settle into shared handlers.
 */
const LATENCY_SAMPLE_EVERY = 16;

/**
 * Puts `count` records through `producer` the way an application fed by I/O would: yielding to the
 * event loop every {@link putsPerTurn} puts (a long synchronous loop would starve the producer's
 * timers and its first shard-map load) and keeping at most `window` records (and `windowBytes` of
 * data) unsettled, as an application with backpressure must. Every record gets a promise and a
 * reaction of its own; latency, put() to settle, is timed on every 16th record
 * ({@link LATENCY_SAMPLE_EVERY}).
 *
 * Under saturation, mean latency ≈ window / throughput (Little's law): the window is reported
 * alongside the figures.
 */
export async function driveProducer(
  producer: KinesisProducer,
  make: (i: number) => BenchRecord,
  count: number,
  size: number,
  window: number,
  windowBytes: number,
): Promise<RunFigures> {
  const limit = Math.max(1, Math.min(window, Math.floor(windowBytes / size)));
  const perTurn = putsPerTurn(size);
  const latencies = new Float64Array(Math.ceil(count / LATENCY_SAMPLE_EVERY));
  let unsettled = 0;
  let settled = 0;
  let failed = 0;
  let firstError: unknown;
  let wake: (() => void) | undefined;
  let allSettled: (() => void) | undefined;
  const onSettled = (): void => {
    unsettled--;
    settled++;
    // Resume the feeder once a quarter of the window has drained, not after every record.
    if (wake !== undefined && unsettled <= limit * 0.75) {
      const resume = wake;
      wake = undefined;
      resume();
    }
    if (settled === count) allSettled?.();
  };
  const onFailed = (error: unknown): void => {
    failed++;
    firstError ??= error;
    onSettled();
  };
  const done = new Promise<void>((resolve) => (allSettled = resolve));
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    if (unsettled >= limit) await new Promise<void>((resolve) => (wake = resolve));
    const record = make(i);
    unsettled++;
    if (i % LATENCY_SAMPLE_EVERY === 0) {
      const sample = i / LATENCY_SAMPLE_EVERY;
      const putAt = performance.now();
      producer.put(record).then(
        () => {
          latencies[sample] = performance.now() - putAt;
          onSettled();
        },
        (error: unknown) => {
          latencies[sample] = performance.now() - putAt;
          onFailed(error);
        },
      );
    } else {
      producer.put(record).then(onSettled, onFailed);
    }
    if (i % perTurn === perTurn - 1) await yieldToLoop();
  }
  if (settled < count) await done;
  const seconds = (performance.now() - started) / 1000;
  if (firstError !== undefined) process.stderr.write(`first failure: ${String(firstError)}\n`);
  return figures(latencies, size, seconds, failed, count);
}

/**
 * Puts `count` records through `producer.putAll()`: a lazily made source it reads only as fast as
 * the producer takes records, no promise per record. putAll reports no per-record settle time, so
 * the latency figures are NaN; the throughput is what it is for.
 */
export async function drivePutAll(producer: KinesisProducer, make: (i: number) => BenchRecord, count: number, size: number): Promise<RunFigures> {
  function* source(): Generator<BenchRecord> {
    for (let i = 0; i < count; i++) yield make(i);
  }
  const started = performance.now();
  const summary = await producer.putAll(source());
  const seconds = (performance.now() - started) / 1000;
  const unknown = new Float64Array(summary.put + summary.failed).fill(NaN);
  return figures(unknown, size, seconds, summary.failed);
}
