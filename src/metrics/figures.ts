/**
 * The statistic sets of one set of dimensions — the whole producer, a stream, or a shard — over
 * the current interval.
 */
import { METRICS, type MetricName } from './catalogue.js';

/** The metrics summed from finer figures into coarser ones: all but the gauges, which are sampled at every level. */
const SUMMED = METRICS.filter((metric) => metric.kind !== 'gauge');
import { Statistic } from './statistic.js';

/** What the figures read of a user record (a `PendingRecord` of src/records.ts). */
export interface UserRecordState {
  /** Data plus partition key, in bytes. */
  readonly size: number;
  readonly partitionKey: string;
  /** When its current wait began: arrival, or the end of its last failed attempt. */
  readonly waitingSince: number;
  /** Attempts made before the current one. */
  readonly attemptCount: number;
}

/** One {@link Statistic} per metric, and ErrorsByCode's per error code. */
export class Figures {
  readonly stat: Readonly<Record<MetricName, Statistic>>;
  readonly errorsByCode = new Map<string, Statistic>();

  constructor() {
    const stat = {} as Record<MetricName, Statistic>;
    for (const metric of METRICS) stat[metric.name] = new Statistic();
    this.stat = stat;
  }

  /** Counts one failed attempt of a Kinesis record: ErrorsByCode for `code`, and AllErrors. */
  error(code: string): void {
    this.#errors(code).add(1);
    this.stat.AllErrors.add(1);
  }

  /** ErrorsByCode's statistic for `code`, made on first use. */
  #errors(code: string): Statistic {
    let byCode = this.errorsByCode.get(code);
    if (byCode === undefined) this.errorsByCode.set(code, (byCode = new Statistic()));
    return byCode;
  }

  /**
   * User records written by an attempt that started at `start`: UserRecordsPut (1 each),
   * UserRecordsDataPut, and per record its BufferingTime and RetriesPerRecord. One statistic
   * update per metric, not per record: this runs for every envelope written.
   */
  written(users: readonly UserRecordState[], start: number): void {
    let bytes = 0;
    let minBytes = Infinity;
    let maxBytes = 0;
    let retries = 0;
    let minRetries = Infinity;
    let maxRetries = 0;
    for (let i = 0; i < users.length; i++) {
      const user = users[i]!;
      // The data's own length is gone once it is in an envelope (src/records.ts, IN_ENVELOPE).
      const size = user.size - Buffer.byteLength(user.partitionKey, 'utf8');
      bytes += size;
      if (size < minBytes) minBytes = size;
      if (size > maxBytes) maxBytes = size;
      // The attempt that wrote it is not counted yet: its earlier attempts are its retries.
      const tries = user.attemptCount;
      retries += tries;
      if (tries < minRetries) minRetries = tries;
      if (tries > maxRetries) maxRetries = tries;
    }
    const n = users.length;
    const stat = this.stat;
    stat.UserRecordsPut.addMany(1, n);
    stat.UserRecordsDataPut.addSet(n, bytes, minBytes, maxBytes);
    stat.RetriesPerRecord.addSet(n, retries, minRetries, maxRetries);
    addBufferingTimes(stat.BufferingTime, users, start);
  }

  /** A failed attempt, started at `start`, of a Kinesis record holding `users`: their BufferingTime, its error. */
  attemptFailed(users: readonly UserRecordState[], code: string, start: number): void {
    addBufferingTimes(this.stat.BufferingTime, users, start);
    this.stat.KinesisRecordsPut.add(0);
    this.error(code);
  }

  /** A user record failed for good, after `attemptCount` attempts. */
  failed(attemptCount: number, code: string): void {
    this.stat.UserRecordsPut.add(0);
    this.stat.RetriesPerRecord.add(Math.max(0, attemptCount - 1));
    if (code === 'Expired') this.stat.UserRecordExpired.add(1);
  }

  /**
   * Adds the samples of `other`: a finer level's into a coarser one. Gauges only `withGauges` (the
   * same level's figures): a stream's records pending are the sum over its shards at each sampling,
   * which a merge of the shards' samples would not give.
   */
  merge(other: Figures, withGauges: boolean): void {
    for (const metric of withGauges ? METRICS : SUMMED) this.stat[metric.name].merge(other.stat[metric.name]);
    for (const [code, statistic] of other.errorsByCode) this.#errors(code).merge(statistic);
  }

  /** Forgets every sample: the next interval starts. */
  reset(): void {
    for (const metric of METRICS) this.stat[metric.name].reset();
    this.errorsByCode.clear();
  }
}

/** Each user record's BufferingTime for an attempt that started at `start`: from its arrival or its last failed attempt. */
function addBufferingTimes(statistic: Statistic, users: readonly UserRecordState[], start: number): void {
  let waited = 0;
  let minWaited = Infinity;
  let maxWaited = -Infinity;
  for (let i = 0; i < users.length; i++) {
    const wait = start - users[i]!.waitingSince;
    waited += wait;
    if (wait < minWaited) minWaited = wait;
    if (wait > maxWaited) maxWaited = wait;
  }
  statistic.addSet(users.length, waited, minWaited, maxWaited);
}
