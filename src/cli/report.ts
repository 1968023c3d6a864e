/**
 * What the CLI tells its user: a progress line on a terminal and the final summary.
 */
import type { ShippingSummary } from '../shipping/index.js';
import type { KinesisProducer } from '../producer.js';

/** Progress lines at most this often, in ms (twice a second). */
const PROGRESS_INTERVAL = 500;
const MB = 1e6;

/** The final report of a run. */
export interface RunSummary extends ShippingSummary {
  readonly elapsedMs: number;
  readonly recordsPerSecond: number;
  /** Bytes of Kinesis records written (data plus partition keys), per second, in MB (10^6). */
  readonly megabytesPerSecond: number;
  readonly kinesisRecordsPut: number;
  /** User records per Kinesis record written: the aggregation ratio. */
  readonly userRecordsPerKinesisRecord: number;
  /** Failed attempts that were retried or ended a record, by any code. */
  readonly failedAttempts: number;
  /** Whether a signal stopped reading before the input ended. */
  readonly interrupted: boolean;
}

function failedAttempts(producer: KinesisProducer): number {
  return Object.values(producer.metrics.errorsByCode).reduce((sum, count) => sum + count, 0);
}

/** The run's report, from its tally and the producer's counters. */
export function summarize(summary: ShippingSummary, producer: KinesisProducer, elapsedMs: number, interrupted: boolean): RunSummary {
  const metrics = producer.metrics;
  const seconds = Math.max(elapsedMs, 1) / 1000;
  return {
    ...summary,
    elapsedMs: Math.round(elapsedMs),
    recordsPerSecond: Math.round(summary.put / seconds),
    megabytesPerSecond: Math.round((metrics.kinesisRecordsDataPut / MB / seconds) * 100) / 100,
    kinesisRecordsPut: metrics.kinesisRecordsPut,
    userRecordsPerKinesisRecord: metrics.kinesisRecordsPut === 0 ? 0 : Math.round((metrics.userRecordsPut / metrics.kinesisRecordsPut) * 10) / 10,
    failedAttempts: failedAttempts(producer),
    interrupted,
  };
}

/** The report as a person reads it. */
export function formatSummary(run: RunSummary): string {
  const codes = Object.entries(run.failedByCode).map(([code, count]) => `${code}: ${count}`);
  return (
    `shardline: ${run.put} records put, ${run.failed} failed${codes.length > 0 ? ` (${codes.join(', ')})` : ''}` +
    ` in ${(run.elapsedMs / 1000).toFixed(1)} s (${run.recordsPerSecond} records/s, ${run.megabytesPerSecond} MB/s,` +
    ` ${run.userRecordsPerKinesisRecord} records per Kinesis record, ${run.failedAttempts} failed attempts)` +
    `${run.interrupted ? ', stopped by a signal' : ''}\n`
  );
}

/**
 * Rewrites one line on `out` (a terminal) every {@link PROGRESS_INTERVAL} ms with rates since the
 * last line. Returns a function that stops it and clears the line.
 */
export function showProgress(producer: KinesisProducer, failures: () => number, out: NodeJS.WriteStream): () => void {
  let last = { at: performance.now(), put: 0, bytes: 0 };
  const timer = setInterval(() => {
    const metrics = producer.metrics;
    const at = performance.now();
    const seconds = (at - last.at) / 1000;
    const perKinesis = metrics.kinesisRecordsPut === 0 ? 0 : metrics.userRecordsPut / metrics.kinesisRecordsPut;
    out.write(
      `\r\x1b[K${Math.round((metrics.userRecordsPut - last.put) / seconds)} records/s` +
        `  ${((metrics.kinesisRecordsDataPut - last.bytes) / MB / seconds).toFixed(2)} MB/s` +
        `  outstanding ${producer.outstandingRecords}  retries ${failedAttempts(producer)}` +
        `  failures ${failures()}  ${perKinesis.toFixed(1)} records/Kinesis record`,
    );
    last = { at, put: metrics.userRecordsPut, bytes: metrics.kinesisRecordsDataPut };
  }, PROGRESS_INTERVAL);
  return () => {
    clearInterval(timer);
    out.write('\r\x1b[K');
  };
}
