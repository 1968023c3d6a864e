/**
 * The producer: the public API, backpressure, settlement, and the wiring of the stages.
 *
 *   put() → validate → hash key (src/sharding) → StreamRouter (src/batching): held while the stream
 *         is learned (StreamView, src/sharding) → ShardBuffer: aggregator and rate limit → Collector
 *         → Sender: PutRecords → outcomes → settle here, or RetryScheduler (src/retry) → route again
 *
 * Every user record is a {@link PendingRecord} from `put()` until its promise settles, which happens
 * exactly once: `#settle` is the only place that removes a record from `#outstanding`, and the
 * record is resolved or rejected only when that removal happened.
 */
import { Sender, StreamRouters, type StreamRouter, type Settlement } from './batching/index.js';
import { createKinesisClient, warnAboutClient, type KinesisClientLike } from './client.js';
import { resolveConfig, type ProducerOptions, type ResolvedConfig } from './config.js';
import { BackpressureError, ProducerClosedError, UserRecordFailedError, type Attempt } from './errors.js';
import { Counters, MetricsRecorder, createMetricsSinks, type MetricDatum, type MetricName, type ProducerMetrics } from './metrics/index.js';
import { OutstandingRecords } from './outstanding.js';
import { addAttempt, newPendingRecord, submit, type PendingRecord, type KinesisRecord, type PutResult, type RecordSink, type UserRecord } from './records.js';
import { RetryPolicy, RetryScheduler } from './retry/index.js';
import { Scheduler, now } from './scheduler.js';
import { HashKeyCache, type StreamStatus } from './sharding/index.js';
import { createWritable, putAll, type PutAllOptions, type RecordWritable, type ShippingSummary, type WritableOptions } from './shipping/index.js';
import { validateRecordObject, validateUserRecord } from './validation.js';

/**
 * A Kinesis producer: `put()` user records, `await` their results. Records bound for the same shard
 * are aggregated into KPL envelopes (readable by the KCL and aws-kinesis-agg), held to each shard's
 * rate, collected into PutRecords calls, retried on failure until `recordTtl`, and settled one by one.
 *
 * ```ts
 * const producer = new KinesisProducer({ streamName: 'events', region: 'us-east-1' });
 * const { shardId, sequenceNumber } = await producer.put({ partitionKey: 'user-42', data: '{"a":1}' });
 * await producer.close();
 * ```
 */
export class KinesisProducer {
  readonly #config: ResolvedConfig;
  readonly #client: KinesisClientLike;
  readonly #ownsClient: boolean;
  readonly #counters = new Counters();
  readonly #recorder: MetricsRecorder;
  readonly #scheduler = new Scheduler((t) => Math.min(this.#retries.due(t), this.#streams.due(t)));
  readonly #sender: Sender;
  readonly #retries: RetryScheduler;
  readonly #hashKeys: HashKeyCache;
  readonly #streams: StreamRouters;
  #defaultStream: StreamRouter | undefined;
  /** Unsettled records in arrival order: the first is the oldest. */
  readonly #outstanding = new OutstandingRecords();
  #outstandingBytes = 0;
  readonly #flushWaiters: { readonly lastId: number; readonly resolve: () => void }[] = [];
  /**
   * Set when a put was refused or `ready()` found no room; cleared at the low-water mark. While set,
   * records leave the buffers at once, as during a flush.
   */
  #saturated = false;
  #readyWaiters: (() => void)[] = [];
  #nextId = 1;
  #flushing = 0;
  #closed = false;

  /** Validates the options (throws `ValidationError`) and starts learning the default stream. */
  constructor(options: ProducerOptions) {
    const config = resolveConfig(options);
    this.#config = config;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? createKinesisClient(options, config.maxConnections, config.requestTimeout);
    if (options.client !== undefined) void warnAboutClient(options.client);
    this.#sender = new Sender({ client: this.#client, maxConnections: config.maxConnections, requestTimeout: config.requestTimeout, counters: this.#counters });
    this.#retries = new RetryScheduler({
      policy: new RetryPolicy({ minBackoff: config.retryMinBackoff, maxBackoff: config.retryMaxBackoff }),
      failIfThrottled: config.failIfThrottled,
      counters: this.#counters,
      fail: (record, code, message) => this.#fail(record, code, message),
      wakeAt: (deadline) => this.#scheduler.wakeAt(deadline),
    });
    this.#hashKeys = new HashKeyCache(config.hashKeyCacheSize);
    const sinks = createMetricsSinks({ ...options, cloudwatchUpload: config.cloudwatchUpload, requestTimeout: config.requestTimeout }, this.#counters);
    this.#recorder = new MetricsRecorder(config, sinks, (totals) => this.#streams.sampleGauges(totals));
    this.#streams = new StreamRouters({
      recorder: this.#recorder,
      client: this.#client,
      config,
      sender: this.#sender,
      retries: this.#retries,
      settlement: this.#settlement,
      wakeAt: (deadline) => this.#scheduler.wakeAt(deadline),
      sendAtOnce: () => this.#flushing > 0 || this.#saturated,
    });
    if (config.streamName !== undefined || config.streamARN !== undefined) {
      this.#defaultStream = this.#streams.get(config.streamName, config.streamARN);
    }
  }

  /** User records put and not yet settled. */
  get outstandingRecords(): number {
    return this.#outstanding.size;
  }

  /** Age of the oldest unsettled record in ms, 0 when there is none. */
  get oldestRecordAgeMs(): number {
    const oldest = this.#outstanding.oldest;
    return oldest === undefined ? 0 : now() - (oldest.expiresAt - this.#config.recordTtl);
  }

  /** Counters since the producer started (a snapshot), whatever `metricsLevel` is. */
  get metrics(): ProducerMetrics {
    return this.#counters.snapshot(this.#sender.inFlight, this.#outstandingBytes);
  }

  /**
   * The KPL's metrics since the producer started (the current interval included), as statistic
   * sets per metric and dimensions (KPL: getMetrics); only `metricName`'s when given. Empty at
   * `metricsLevel: 'none'`. See docs/metrics.md.
   */
  getMetrics(metricName?: MetricName): MetricDatum[] {
    return this.#recorder.snapshot(metricName);
  }

  /** What the producer knows of a stream it has written to (by default, of its default stream). */
  streamStatus(stream: { streamName?: string; streamARN?: string } = {}): StreamStatus | undefined {
    if (stream.streamName === undefined && stream.streamARN === undefined) return this.#defaultStream?.view.status();
    return this.#streams.status(stream.streamName, stream.streamARN);
  }

  /**
   * Puts a user record. Resolves once it is written, with its shard and sequence number; rejects
   * with `UserRecordFailedError` when it cannot be (its code is the service's, or `Expired`).
   * Rejects at once, buffering nothing, with `ValidationError` for bad input, `BackpressureError`
   * when the producer holds `maxOutstandingRecords` or `maxOutstandingBytes` (await `ready()`),
   * and `ProducerClosedError` after `close()`.
   */
  put(record: UserRecord): Promise<PutResult> {
    const t = now();
    let pending: PendingRecord;
    try {
      pending = this.#accept(record, t);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    accepted = pending;
    const promise = new Promise<PutResult>(bindResolve);
    this.#enqueue(pending, t);
    return promise;
  }

  /**
   * An object-mode `Writable` that puts every chunk (user records, or anything with `toRecord`),
   * waiting for room while the producer is at its bounds (`pipeline()` stops pulling; no chunk is
   * dropped). `'finish'` comes once every record has settled, with `summary` (`put`, `failed`,
   * `failedByCode`) final. A failed chunk is counted, given to `onFailure` and emitted as
   * `'failure'`; it destroys the stream only with `stopOnFailure`. See docs/log-shipping.md.
   */
  writable<T = UserRecord>(options?: WritableOptions<T>): RecordWritable {
    return createWritable(this, options);
  }

  /**
   * Puts every item of a sync or async iterable (user records, or anything with `toRecord`), read
   * only as fast as the producer takes them, and resolves once each has settled with `{ put,
   * failed, failedByCode }`: the fast path, no promise per record. Failures are counted and given
   * to `onFailure`; with `stopOnFailure` the first rejects the call once what was taken has settled,
   * as does a source that throws. See docs/log-shipping.md.
   */
  putAll<T = UserRecord>(source: Iterable<T> | AsyncIterable<T>, options?: PutAllOptions<T>): Promise<ShippingSummary> {
    return putAll(this, source, options);
  }

  /** Accepts a record whose outcome goes to `sink`; throws at once what `put()` rejects with at once. */
  [submit](record: UserRecord, sink: RecordSink): void {
    const t = now();
    const pending = this.#accept(record, t);
    pending.sink = sink;
    pending.source = record;
    this.#enqueue(pending, t);
  }

  /** Validates a record against the stream's limits and the producer's bounds; throws what `put()` rejects with at once. */
  #accept(record: UserRecord, t: number): PendingRecord {
    if (this.#closed) throw new ProducerClosedError();
    validateRecordObject(record);
    const config = this.#config;
    const stream =
      record.streamName === undefined && record.streamARN === undefined
        ? (this.#defaultStream ??= this.#streams.get(config.streamName, config.streamARN))
        : this.#streams.get(record.streamName, record.streamARN);
    const maxSize = Math.min(config.maxUserRecordSize, stream.view.capabilities?.maxRecordSize ?? Infinity);
    const valid = validateUserRecord(record, maxSize);
    const size = valid.data.length + valid.partitionKeyBytes;
    if (this.#outstanding.size >= config.maxOutstandingRecords) throw this.#refuse('maxOutstandingRecords', config.maxOutstandingRecords);
    if (this.#outstandingBytes + size > config.maxOutstandingBytes) throw this.#refuse('maxOutstandingBytes', config.maxOutstandingBytes);
    const hashKey = this.#hashKeys.get(valid.partitionKey, valid.explicitHashKey);
    return newPendingRecord(this.#nextId++, valid, size, hashKey, stream, t, config.recordTtl);
  }

  #enqueue(pending: PendingRecord, t: number): void {
    this.#outstanding.add(pending);
    this.#outstandingBytes += pending.size;
    this.#counters.userRecordsReceived++;
    const metrics = pending.stream.metrics;
    metrics.pending++;
    if (metrics.recording) metrics.figures.stat.UserRecordsReceived.add(1);
    pending.stream.route(pending, t);
  }

  /**
   * Resolves when `put()` may be called again without `BackpressureError`: at once while the
   * producer has room for a record of any size, otherwise once what it holds has fallen to half of
   * `maxOutstandingRecords` and of `maxOutstandingBytes` (the low-water mark, so a producer at its
   * bound is fed in batches rather than one record at a time). Never rejects.
   */
  ready(): Promise<void> {
    if (!this.#saturated && this.#hasRoom()) return Promise.resolve();
    this.#saturate();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /**
   * Sends everything buffered now, without waiting for `recordMaxBufferedTime`, and resolves when
   * every record put before the call has settled (succeeded or failed). Retries of those records
   * also go out without buffering delay while the flush lasts; shard rate limits still hold.
   * Never rejects.
   */
  async flush(): Promise<void> {
    const lastId = this.#nextId - 1;
    this.#flushing++;
    try {
      this.#sendBuffered();
      await new Promise<void>((resolve) => {
        this.#flushWaiters.push({ lastId, resolve });
        this.#checkFlushWaiters();
      });
    } finally {
      this.#flushing--;
    }
  }

  /**
   * Flushes, then releases timers, shard maps and (when shardline built it) the client's sockets.
   * `put()` afterwards rejects with `ProducerClosedError`. Calling it again waits for the same end.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    await this.#sender.onIdle();
    this.#sender.close();
    this.#scheduler.stop();
    this.#streams.close();
    await this.#recorder.close();
    if (this.#ownsClient) this.#client.destroy();
  }

  // ---- backpressure and settlement ----------------------------------------------------------------

  #hasRoom(): boolean {
    const config = this.#config;
    return this.#outstanding.size < config.maxOutstandingRecords && this.#outstandingBytes + config.maxUserRecordSize <= config.maxOutstandingBytes;
  }

  /** Sends what the buffers hold now rather than at their deadlines; rate limits still hold. */
  #sendBuffered(): void {
    const t = now();
    this.#streams.sendAll(t);
    // What the rate limits hold back is let out by the timer as they allow.
    this.#scheduler.wakeAt(t);
  }

  /**
   * Marks the producer at its bounds until the low-water mark, and sends what it buffers without
   * waiting for `recordMaxBufferedTime`: no record can join the buffers until some settle, so
   * waiting would hold back only the callers waiting for room (a producer bounded to 100 records
   * took ~1,000 records/s, a batch per `recordMaxBufferedTime`, against any endpoint).
   */
  #saturate(): void {
    if (this.#saturated) return;
    this.#saturated = true;
    // After the call that found no room: a refused put() sends nothing from inside itself.
    queueMicrotask(() => {
      if (this.#saturated) this.#sendBuffered();
    });
  }

  #refuse(limit: 'maxOutstandingRecords' | 'maxOutstandingBytes', value: number): BackpressureError {
    this.#saturate();
    this.#counters.backpressureRejections++;
    if (this.#recorder.recording) this.#recorder.global.stat.BackpressureRejections.add(1);
    return new BackpressureError(limit, value);
  }

  /** The one place a record leaves `#outstanding`; false if it had already settled. */
  #settle(record: PendingRecord): boolean {
    if (!this.#outstanding.delete(record)) return false;
    this.#outstandingBytes -= record.size;
    record.stream.metrics.pending--;
    const config = this.#config;
    if (this.#saturated && this.#outstanding.size <= config.maxOutstandingRecords / 2 && this.#outstandingBytes <= config.maxOutstandingBytes / 2) {
      this.#saturated = false;
      const waiters = this.#readyWaiters;
      this.#readyWaiters = [];
      for (const resolve of waiters) resolve();
    }
    return true;
  }

  readonly #settlement: Settlement = {
    succeed: (record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void => {
      const counters = this.#counters;
      counters.kinesisRecordsPut++;
      counters.kinesisRecordsDataPut += record.size;
      const users = record.userRecords;
      // Records delivered at their first attempt share one frozen history with every other such
      // record of this Kinesis record that started waiting in the same ms (most of an envelope
      // does): an attempt, its numbers and an array per record were a fifth of what a 100 B record
      // allocates.
      let firstAttempt: readonly Attempt[] = NO_ATTEMPTS;
      let firstAttemptSince = -1;
      for (let i = 0; i < users.length; i++) {
        const user = users[i]!;
        if (!this.#settle(user)) continue;
        counters.userRecordsPut++;
        if (user.sink !== undefined) {
          // A sink wants no result object: only the count of attempts moves.
          user.attemptCount++;
          user.sink.succeeded(user.source!);
          continue;
        }
        let attempts: readonly Attempt[];
        if (user.attemptCount === 0) {
          user.attemptCount = 1;
          if (user.waitingSince !== firstAttemptSince) {
            firstAttemptSince = user.waitingSince;
            firstAttempt = Object.freeze([Object.freeze({ delayMs: start - firstAttemptSince, durationMs: end - start, success: true })]);
          }
          attempts = firstAttempt;
        } else {
          attempts = Object.freeze(addAttempt(user, { delayMs: start - user.waitingSince, durationMs: end - start, success: true }).slice());
        }
        const attemptCount = user.attemptCount;
        // Two literal shapes rather than a conditional spread: this runs once per user record.
        user.resolve!(
          record.aggregated
            ? { shardId, sequenceNumber, subSequenceNumber: i, aggregated: true, attempts, attemptCount }
            : { shardId, sequenceNumber, aggregated: false, attempts, attemptCount },
        );
      }
      this.#checkFlushWaiters();
    },
    fail: (record: PendingRecord, code: string, message: string): void => this.#fail(record, code, message),
  };

  #fail(record: PendingRecord, code: string, message: string): void {
    if (!this.#settle(record)) return;
    // An expired record that was tried says why its tries failed, wherever its TTL ran out.
    const last = record.attempts?.[record.attempts.length - 1];
    if (code === 'Expired' && last?.errorCode !== undefined) message += `; last error ${last.errorCode}: ${last.errorMessage ?? ''}`;
    this.#counters.userRecordsFailed++;
    if (code === 'Expired') this.#counters.userRecordsExpired++;
    const metrics = record.stream.metrics;
    if (metrics.recording) metrics.shardOfHashKey(record.hashKey).failed(record.attemptCount, code);
    const error = new UserRecordFailedError(code, message, record.partitionKey, record.attempts === undefined ? NO_ATTEMPTS : Object.freeze(record.attempts.slice()), record.attemptCount);
    if (record.sink !== undefined) record.sink.failed(record.source!, error);
    else record.resolve!(Promise.reject(error));
    this.#checkFlushWaiters();
  }

  #checkFlushWaiters(): void {
    const waiters = this.#flushWaiters;
    if (waiters.length === 0) return;
    const oldest = this.#outstanding.oldest?.id ?? Infinity;
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i]!;
      if (waiter.lastId < oldest) {
        waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}

/** The attempts of a record that never made one (frozen, as every history a result or an error hands out). */
const NO_ATTEMPTS: readonly Attempt[] = Object.freeze([]);

/** The record `put()` is making a promise for: handed to {@link bindResolve}, which runs at once. */
let accepted: PendingRecord | undefined;

/**
 * The executor of every `put()` promise: one function for all, rather than a closure made per
 * record. It keeps only `resolve`: a failure resolves the promise with a rejected one.
 */
function bindResolve(resolve: (result: PutResult | PromiseLike<PutResult>) => void): void {
  accepted!.resolve = resolve;
  accepted = undefined;
}
