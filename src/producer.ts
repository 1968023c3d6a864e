/**
 * The producer: wires validation, shard prediction, aggregation, rate limiting, collection, sending
 * and retries.
 *
 *   put() → validate → hash key → ShardMap.lookup → Aggregator (per shard) → RateLimiter (per shard)
 *         → Collector (per stream) → p-queue (maxConnections) → PutRecords
 *         → settle, or RetryPolicy → back to the ShardMap
 *
 * Every user record is a {@link PendingRecord} from `put()` until its promise settles, which happens
 * exactly once: `#settle` is the only place that removes a record from `#outstanding`, and the
 * record is resolved or rejected only when that removal happened.
 */
import { PutRecordsCommand, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import PQueue from 'p-queue';
import { AGGREGATED_PARTITION_KEY, Aggregator } from './aggregation/index.js';
import { Collector, DeadlineQueue, RateLimiter } from './batching/index.js';
import { createKinesisClient, type KinesisClientLike } from './client.js';
import { MAX_REQUEST_SIZE, MiB, resolveConfig, type ProducerOptions, type ResolvedConfig } from './config.js';
import { BackpressureError, ProducerClosedError, UserRecordFailedError, type Attempt } from './errors.js';
import { RetryPolicy, boundedBackoff, classifyEntryError, classifyRequestError, type Failure } from './retry/index.js';
import {
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MIN_BACKOFF_MS,
  HashKeyCache,
  ShardMap,
  describeStreamCapabilities,
  hashKeyToDecimal,
  type HashKey,
  type StreamCapabilities,
} from './sharding/index.js';
import { validateStreamRef, validateUserRecord } from './validation.js';

/** A record to put. `data` is bytes, or a string sent as its UTF-8 bytes. */
export interface UserRecord {
  /** 1 to 256 characters; its MD5 decides the shard unless `explicitHashKey` is given. */
  readonly partitionKey: string;
  /** The payload. Data plus partition key must not exceed `maxUserRecordSize` (UTF-8 bytes). */
  readonly data: Uint8Array | string;
  /** A decimal hash key in 0..2^128-1 that decides the shard instead of the partition key. */
  readonly explicitHashKey?: string;
  /** The stream, when not the producer's default. */
  readonly streamName?: string;
  /** The stream's ARN, when not the producer's default. */
  readonly streamARN?: string;
}

/** Where a user record was written, and how it got there. */
export interface PutResult {
  /** The shard that holds the record. */
  readonly shardId: string;
  /** The sequence number of the Kinesis record that carries it. */
  readonly sequenceNumber: string;
  /** Its position in the envelope when aggregated (what the KCL reports as the sub-sequence number). */
  readonly subSequenceNumber?: number;
  /** Whether it travelled inside a KPL envelope. */
  readonly aggregated: boolean;
  /** Every attempt, the successful one last. */
  readonly attempts: readonly Attempt[];
}

/**
 * Counters since the producer started, named after the KPL's metrics. A snapshot: read it again
 * for fresh figures.
 */
export interface ProducerMetrics {
  /** User records accepted by `put()`. KPL: UserRecordsReceived. */
  readonly userRecordsReceived: number;
  /** User records written. KPL: UserRecordsPut. */
  readonly userRecordsPut: number;
  /** User records failed (any code, `Expired` included). */
  readonly userRecordsFailed: number;
  /** User records failed with `Expired`. KPL: UserRecordExpired. */
  readonly userRecordsExpired: number;
  /** Kinesis records written (an envelope counts once). KPL: KinesisRecordsPut. */
  readonly kinesisRecordsPut: number;
  /** Bytes of Kinesis records written, data plus partition keys. KPL: KinesisRecordsDataPut. */
  readonly kinesisRecordsDataPut: number;
  /** PutRecords calls sent, answered or not. */
  readonly putRecordsRequests: number;
  /** PutRecords calls being sent now. */
  readonly requestsInFlight: number;
  /** Failed attempts by error code, whole-request errors counted once per Kinesis record. KPL: ErrorsByCode. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Bytes of user records held (data + partition keys). */
  readonly outstandingBytes: number;
  /** `put()` calls refused with `BackpressureError`. */
  readonly backpressureRejections: number;
}

/** What the producer knows of one stream (see {@link KinesisProducer.streamStatus}). */
export interface StreamStatus {
  /** The stream's capabilities, once read; undefined while being read or when they could not be. */
  readonly capabilities: StreamCapabilities | undefined;
  /**
   * Whether records for this stream are aggregated now: needs `aggregationEnabled`, capabilities
   * read, and a stream that does not distribute records itself (RecordDistributionStrategy AUTO).
   */
  readonly aggregating: boolean;
  /** Open shards in the producer's map (0 until it is loaded). */
  readonly openShards: number;
  /** Why capabilities or the shard map could not be read, when that is so. */
  readonly lastError: Error | undefined;
}

/** A user record from `put()` until it settles. */
interface PendingRecord {
  readonly id: number;
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  readonly data: Uint8Array;
  /** Data plus partition key, in bytes: what the service counts. */
  readonly size: number;
  readonly hashKey: HashKey;
  readonly stream: StreamPipeline;
  readonly arrivedAt: number;
  /** `arrivedAt + recordTtl`: past it the record fails `Expired`. */
  readonly expiresAt: number;
  /** When the record last started waiting: arrival, or the end of its last failed attempt. */
  waitingSince: number;
  readonly attempts: Attempt[];
  readonly resolve: (result: PutResult) => void;
  readonly reject: (error: Error) => void;
}

/** One record as sent to Kinesis: an envelope or a raw user record. */
interface KinesisRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  readonly size: number;
  readonly aggregated: boolean;
  /** The shard the record is predicted for; undefined when sent without a prediction. */
  readonly predictedShardId: string | undefined;
  readonly userRecords: PendingRecord[];
  /** The earliest `expiresAt` of its user records: the order it leaves a rate-limit queue in. */
  readonly expiresAt: number;
  /** When it must leave the buffers (the earliest buffering deadline of its user records). */
  bufferDeadline: number;
}

/** User records of one failed Kinesis record, waiting out their backoff until `at`. */
interface RetryGroup {
  readonly at: number;
  readonly users: PendingRecord[];
}

/** Buffers of one shard: its aggregator, and the Kinesis records waiting for its rate limit. */
interface ShardState {
  readonly shardId: string;
  readonly aggregator: Aggregator<PendingRecord>;
  /** When the oldest record in the aggregator must leave. */
  deadline: number;
  readonly limiter: RateLimiter;
  readonly queue: DeadlineQueue<KinesisRecord>;
}

/** Everything the producer keeps for one stream. */
interface StreamPipeline {
  readonly streamName: string | undefined;
  readonly streamARN: string | undefined;
  readonly shardMap: ShardMap;
  readonly shards: Map<string, ShardState>;
  readonly collector: Collector<KinesisRecord>;
  collectorDeadline: number;
  /** Undefined until read, or when they could not be read (then `capabilitiesError` says why). */
  capabilities: StreamCapabilities | undefined;
  capabilitiesError: Error | undefined;
  /** True while DescribeStreamSummary is being asked (or retried after a transient failure). */
  capabilitiesLoading: boolean;
  capabilityReads: number;
  /** Whether the warning that the stream goes unaggregated was given. */
  warned: boolean;
  /** Records that arrived before the stream was known (capabilities, first map); they wait up to recordMaxBufferedTime. */
  waiting: PendingRecord[];
  waitingDeadline: number;
}

const now = (): number => performance.now();
const byExpiry = (record: KinesisRecord): number => record.expiresAt;
const MIN_RATE_WAIT_MS = 5;
/** Longest a record let out by a shard's rate limit waits for others to share its request. */
const RELEASE_COALESCE_MS = 20;


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
  readonly #queue: PQueue;
  readonly #retry: RetryPolicy;
  readonly #hashKeys: HashKeyCache;
  readonly #streams = new Map<string, StreamPipeline>();
  #defaultStream: StreamPipeline | undefined;
  /** Unsettled records in arrival order: the first is the oldest. */
  readonly #outstanding = new Set<PendingRecord>();
  #outstandingBytes = 0;
  readonly #flushWaiters: { readonly lastId: number; readonly resolve: () => void }[] = [];
  /** Set when a put was refused or `ready()` found no room; cleared at the low-water mark. */
  #saturated = false;
  #readyWaiters: (() => void)[] = [];
  readonly #counts = {
    userRecordsReceived: 0,
    userRecordsPut: 0,
    userRecordsFailed: 0,
    userRecordsExpired: 0,
    kinesisRecordsPut: 0,
    kinesisRecordsDataPut: 0,
    putRecordsRequests: 0,
    backpressureRejections: 0,
  };
  readonly #errorsByCode = new Map<string, number>();
  /** Records waiting out a retry backoff: served by the producer's one timer, not a timer each. */
  readonly #retries = new DeadlineQueue<RetryGroup>((group) => group.at);
  readonly #releaseCoalesce: number;
  #nextId = 1;
  #flushing = 0;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  /** Validates the options (throws `ValidationError`) and starts learning the default stream. */
  constructor(options: ProducerOptions) {
    this.#config = resolveConfig(options);
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? createKinesisClient(options, this.#config.maxConnections, this.#config.requestTimeout);
    this.#queue = new PQueue({ concurrency: this.#config.maxConnections });
    this.#retry = new RetryPolicy({ minBackoff: this.#config.retryMinBackoff, maxBackoff: this.#config.retryMaxBackoff });
    this.#hashKeys = new HashKeyCache(this.#config.hashKeyCacheSize);
    this.#releaseCoalesce = Math.min(this.#config.recordMaxBufferedTime, RELEASE_COALESCE_MS);
    if (this.#config.streamName !== undefined || this.#config.streamARN !== undefined) {
      this.#defaultStream = this.#pipeline(this.#config.streamName, this.#config.streamARN);
    }
  }

  /** User records put and not yet settled. */
  get outstandingRecords(): number {
    return this.#outstanding.size;
  }

  /** Age of the oldest unsettled record in ms, 0 when there is none. */
  get oldestRecordAgeMs(): number {
    for (const record of this.#outstanding) return now() - record.arrivedAt;
    return 0;
  }

  /** Counters since the producer started (a snapshot). */
  get metrics(): ProducerMetrics {
    return {
      ...this.#counts,
      requestsInFlight: this.#queue.pending,
      errorsByCode: Object.fromEntries(this.#errorsByCode),
      outstandingBytes: this.#outstandingBytes,
    };
  }

  /** What the producer knows of a stream it has written to (by default, of its default stream). */
  streamStatus(stream: { streamName?: string; streamARN?: string } = {}): StreamStatus | undefined {
    const pipeline =
      stream.streamName === undefined && stream.streamARN === undefined
        ? this.#defaultStream
        : this.#streams.get(this.#streamKey(stream.streamName, stream.streamARN));
    if (pipeline === undefined) return undefined;
    return {
      capabilities: pipeline.capabilities,
      aggregating: this.#aggregates(pipeline),
      openShards: pipeline.shardMap.shards.length,
      lastError: pipeline.capabilitiesError ?? pipeline.shardMap.lastError,
    };
  }

  /**
   * Puts a user record. Resolves once it is written, with its shard and sequence number; rejects
   * with `UserRecordFailedError` when it cannot be (its code is the service's, or `Expired`).
   * Rejects at once, buffering nothing, with `ValidationError` for bad input, `BackpressureError`
   * when the producer holds `maxOutstandingRecords` or `maxOutstandingBytes` (await `ready()`),
   * and `ProducerClosedError` after `close()`.
   */
  put(record: UserRecord): Promise<PutResult> {
    try {
      if (this.#closed) throw new ProducerClosedError();
      const stream =
        record.streamName === undefined && record.streamARN === undefined
          ? (this.#defaultStream ??= this.#pipeline(this.#config.streamName, this.#config.streamARN))
          : this.#pipeline(record.streamName, record.streamARN);
      const maxSize = Math.min(this.#config.maxUserRecordSize, stream.capabilities?.maxRecordSize ?? Infinity);
      const valid = validateUserRecord(record, maxSize);
      const size = valid.data.length + valid.partitionKeyBytes;
      if (this.#outstanding.size >= this.#config.maxOutstandingRecords) {
        throw this.#refuse('maxOutstandingRecords', this.#config.maxOutstandingRecords);
      }
      if (this.#outstandingBytes + size > this.#config.maxOutstandingBytes) {
        throw this.#refuse('maxOutstandingBytes', this.#config.maxOutstandingBytes);
      }
      const hashKey = this.#hashKeys.get(valid.partitionKey, valid.explicitHashKey);
      return new Promise<PutResult>((resolve, reject) => {
        const arrivedAt = now();
        const pending: PendingRecord = {
          id: this.#nextId++,
          partitionKey: valid.partitionKey,
          explicitHashKey: valid.explicitHashKey,
          data: valid.data,
          size,
          hashKey,
          stream,
          arrivedAt,
          expiresAt: arrivedAt + this.#config.recordTtl,
          waitingSince: arrivedAt,
          attempts: [],
          resolve,
          reject,
        };
        this.#outstanding.add(pending);
        this.#outstandingBytes += size;
        this.#counts.userRecordsReceived++;
        this.#route(pending, arrivedAt);
      });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * Resolves when `put()` may be called again without `BackpressureError`: at once while the
   * producer has room for a record of any size, otherwise once what it holds has fallen to half of
   * `maxOutstandingRecords` and of `maxOutstandingBytes` (the low-water mark, so a producer at its
   * bound is fed in batches rather than one record at a time). Never rejects.
   */
  ready(): Promise<void> {
    if (!this.#saturated && this.#hasRoom()) return Promise.resolve();
    this.#saturated = true;
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
      this.#sendAll();
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
    await this.#queue.onIdle();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const stream of this.#streams.values()) stream.shardMap.close();
    if (this.#ownsClient) this.#client.destroy();
  }

  // ---- backpressure -----------------------------------------------------------------------------

  #hasRoom(): boolean {
    return (
      this.#outstanding.size < this.#config.maxOutstandingRecords &&
      this.#outstandingBytes + this.#config.maxUserRecordSize <= this.#config.maxOutstandingBytes
    );
  }

  #refuse(limit: 'maxOutstandingRecords' | 'maxOutstandingBytes', value: number): BackpressureError {
    this.#saturated = true;
    this.#counts.backpressureRejections++;
    return new BackpressureError(limit, value);
  }

  /** The one place a record leaves `#outstanding`; false if it had already settled. */
  #settle(user: PendingRecord): boolean {
    if (!this.#outstanding.delete(user)) return false;
    this.#outstandingBytes -= user.size;
    if (
      this.#saturated &&
      this.#outstanding.size <= this.#config.maxOutstandingRecords / 2 &&
      this.#outstandingBytes <= this.#config.maxOutstandingBytes / 2
    ) {
      this.#saturated = false;
      const waiters = this.#readyWaiters;
      this.#readyWaiters = [];
      for (const resolve of waiters) resolve();
    }
    return true;
  }

  // ---- stream pipelines -------------------------------------------------------------------------

  #streamKey(streamName: string | undefined, streamARN: string | undefined): string {
    return `${streamName ?? ''}\n${streamARN ?? ''}`;
  }

  #pipeline(streamName: string | undefined, streamARN: string | undefined): StreamPipeline {
    const key = this.#streamKey(streamName, streamARN);
    const known = this.#streams.get(key);
    if (known !== undefined) return known;
    validateStreamRef({ streamName, streamARN });
    const shardMap = new ShardMap({
      client: this.#client,
      streamName,
      streamARN,
      refreshIntervalMs: this.#config.shardMapRefreshInterval,
    });
    const stream: StreamPipeline = {
      streamName,
      streamARN,
      shardMap,
      shards: new Map(),
      collector: new Collector<KinesisRecord>(this.#config),
      collectorDeadline: Infinity,
      capabilities: undefined,
      capabilitiesError: undefined,
      capabilitiesLoading: false,
      capabilityReads: 0,
      warned: false,
      waiting: [],
      waitingDeadline: Infinity,
    };
    shardMap.onUpdate = () => {
      // A stream whose capabilities could not be read (e.g. it did not exist yet) gets another read
      // when its shards change, rather than staying unaggregated for good.
      if (stream.capabilities === undefined) this.#readCapabilities(stream);
      this.#onStreamUpdate(stream);
    };
    this.#streams.set(key, stream);
    this.#readCapabilities(stream);
    // Failures are kept in the map (lastError) and retried by it with backoff; records go out raw meanwhile.
    shardMap.refresh().catch(() => undefined);
    return stream;
  }

  /**
   * Reads the stream's capabilities, retrying transient failures with backoff. Until they are known
   * the producer does not aggregate for the stream: aggregating on a stream that distributes records
   * itself would have the KCL drop the envelopes, so not knowing means not aggregating.
   */
  #readCapabilities(stream: StreamPipeline): void {
    if (stream.capabilitiesLoading || this.#closed) return;
    stream.capabilitiesLoading = true;
    describeStreamCapabilities(this.#client, stream).then(
      (capabilities) => {
        stream.capabilities = capabilities;
        // A stream taking records over 1 MiB takes requests up to 10 MiB (unless the size was set).
        if (this.#config.collectionMaxSizeDefaulted) {
          stream.collector.maxSize = capabilities.maxRecordSize > MiB ? MAX_REQUEST_SIZE : this.#config.collectionMaxSize;
        }
        stream.capabilitiesError = undefined;
        stream.capabilitiesLoading = false;
        stream.capabilityReads = 0;
        this.#onStreamUpdate(stream);
      },
      (error: unknown) => {
        const failure = classifyRequestError(error, false);
        stream.capabilitiesError = error instanceof Error ? error : new Error(String(error));
        stream.capabilityReads++;
        if (failure.kind === 'fatal' || failure.kind === 'invalid') {
          // E.g. no kinesis:DescribeStreamSummary permission: write raw, and say so loudly once, as
          // throughput can drop by an order of magnitude; streamStatus() keeps the reason.
          stream.capabilitiesLoading = false;
          if (this.#config.aggregationEnabled && !stream.warned) {
            stream.warned = true;
            process.emitWarning(
              `shardline: cannot read stream ${stream.streamName ?? stream.streamARN ?? ''} with DescribeStreamSummary ` +
                `(${failure.code}); its records go out unaggregated until it can (needs kinesis:DescribeStreamSummary)`,
              { code: 'SHARDLINE_UNAGGREGATED' },
            );
          }
          this.#onStreamUpdate(stream);
          return;
        }
        // DescribeStreamSummary backs off like ListShards: 1 s doubling to 30 s.
        setTimeout(() => {
          stream.capabilitiesLoading = false;
          this.#readCapabilities(stream);
        }, boundedBackoff(stream.capabilityReads, DEFAULT_MIN_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS)).unref();
        // Records waiting for the stream go out raw (after their wait) rather than wait for retries.
        this.#onStreamUpdate(stream);
      },
    );
  }

  /** Whether records for the stream are aggregated now (see {@link StreamStatus.aggregating}). */
  #aggregates(stream: StreamPipeline): boolean {
    return this.#config.aggregationEnabled && stream.capabilities !== undefined && !stream.capabilities.serviceManagedDistribution;
  }

  /** Whether records for the stream should wait a little for what the producer is still learning of it. */
  #learning(stream: StreamPipeline): boolean {
    return (stream.capabilities === undefined && stream.capabilitiesLoading && stream.capabilityReads === 0) ||
      (!stream.shardMap.ready && stream.shardMap.loading);
  }

  /** Re-routes records waiting for the stream, and those buffered for shards that are no longer open. */
  #onStreamUpdate(stream: StreamPipeline): void {
    const t = now();
    if (!this.#learning(stream)) {
      const waiting = stream.waiting;
      stream.waiting = [];
      stream.waitingDeadline = Infinity;
      for (const record of waiting) this.#route(record, t);
    }
    for (const shard of stream.shards.values()) {
      if (stream.shardMap.isOpen(shard.shardId)) continue;
      stream.shards.delete(shard.shardId);
      for (const record of shard.aggregator.drain().entries) this.#route(record, t);
      for (const queued of shard.queue.drain()) for (const record of queued.userRecords) this.#route(record, t);
    }
  }

  // ---- routing and buffering --------------------------------------------------------------------

  /** Sends a record on its way: into its shard's aggregator, through its shard's rate limit, or raw. */
  #route(record: PendingRecord, t: number): void {
    const stream = record.stream;
    const deadline = this.#flushing > 0 ? t : t + this.#config.recordMaxBufferedTime;
    if (this.#learning(stream)) {
      // Waiting to learn the stream is bounded by recordMaxBufferedTime, even while flushing.
      const waitUntil = t + this.#config.recordMaxBufferedTime;
      if (waitUntil > t) {
        stream.waiting.push(record);
        if (waitUntil < stream.waitingDeadline) stream.waitingDeadline = waitUntil;
        this.#armTimer(stream.waitingDeadline);
        return;
      }
    }
    if (stream.capabilities !== undefined && record.size > stream.capabilities.maxRecordSize) {
      this.#fail(record, 'ValidationError', `data + partitionKey is ${record.size} bytes; the stream takes ${stream.capabilities.maxRecordSize}`);
      return;
    }
    // A stream that distributes records itself ignores keys: no prediction, no per-shard limit.
    const shard = stream.capabilities?.serviceManagedDistribution === true ? undefined : stream.shardMap.lookup(record.hashKey);
    if (shard === undefined) {
      // The KPL's rule: no map, no aggregation. The service routes raw records by their own keys.
      this.#collect(stream, this.#raw(record, undefined, deadline), deadline);
      return;
    }
    const state = this.#shardState(stream, shard.shardId, t);
    if (!this.#aggregates(stream) || record.size > this.#config.aggregationMaxSize) {
      this.#admit(stream, state, this.#raw(record, shard.shardId, deadline), t);
      return;
    }
    if (!state.aggregator.tryAdd(record)) {
      this.#flushAggregator(stream, state, t);
      state.aggregator.tryAdd(record);
    }
    if (deadline < state.deadline) state.deadline = deadline;
    if (state.aggregator.count >= this.#config.aggregationMaxCount) this.#flushAggregator(stream, state, t);
    else this.#armTimer(state.deadline);
  }

  #shardState(stream: StreamPipeline, shardId: string, t: number): ShardState {
    let state = stream.shards.get(shardId);
    if (state === undefined) {
      state = {
        shardId,
        aggregator: new Aggregator<PendingRecord>(this.#config),
        deadline: Infinity,
        limiter: new RateLimiter(this.#config, t),
        queue: new DeadlineQueue(byExpiry),
      };
      stream.shards.set(shardId, state);
    }
    return state;
  }

  #raw(record: PendingRecord, predictedShardId: string | undefined, bufferDeadline: number): KinesisRecord {
    return {
      data: record.data,
      partitionKey: record.partitionKey,
      explicitHashKey: record.explicitHashKey,
      size: record.size,
      aggregated: false,
      predictedShardId,
      userRecords: [record],
      expiresAt: record.expiresAt,
      bufferDeadline,
    };
  }

  /** Turns a shard's aggregator into one Kinesis record (raw when it holds one user record). */
  #flushAggregator(stream: StreamPipeline, state: ShardState, t: number): void {
    const bufferDeadline = state.deadline;
    state.deadline = Infinity;
    const { entries, data, aggregated, recordSizeBytes } = state.aggregator.drain();
    const first = entries[0];
    if (first === undefined) return;
    let expiresAt = first.expiresAt;
    for (const entry of entries) if (entry.expiresAt < expiresAt) expiresAt = entry.expiresAt;
    const record: KinesisRecord = aggregated
      ? {
          data,
          partitionKey: AGGREGATED_PARTITION_KEY,
          // The first record's hash key routes the envelope to the shard predicted for all of them.
          explicitHashKey: first.explicitHashKey ?? hashKeyToDecimal(first.hashKey),
          size: recordSizeBytes,
          aggregated: true,
          predictedShardId: state.shardId,
          userRecords: entries,
          expiresAt,
          bufferDeadline,
        }
      : this.#raw(first, state.shardId, bufferDeadline);
    this.#admit(stream, state, record, t);
  }

  /** Lets a Kinesis record through its shard's rate limit into the collector, or queues it. */
  #admit(stream: StreamPipeline, state: ShardState, record: KinesisRecord, t: number): void {
    if (state.queue.size === 0 && state.limiter.tryTake(record.size, t)) {
      this.#collect(stream, record, record.bufferDeadline);
      return;
    }
    state.queue.push(record);
    this.#armTimer(t + state.limiter.waitTime(state.queue.peek()!.size, t));
  }

  /** Lets queued Kinesis records through as the shard's rate allows, earliest TTL first; fails expired ones. */
  #drainQueue(stream: StreamPipeline, state: ShardState, t: number): void {
    const queue = state.queue;
    for (let head = queue.peek(); head !== undefined; head = queue.peek()) {
      if (head.expiresAt <= t) {
        queue.pop();
        this.#expire(head, t, 'recordTtl ran out while waiting for the shard rate limit');
      } else if (state.limiter.tryTake(head.size, t)) {
        queue.pop();
        // Records let out by the rate limits of many shards share requests if they wait a moment
        // for each other; sent at once, each would take a request (and a connection) of its own.
        this.#collect(stream, head, t + this.#releaseCoalesce);
      } else break;
    }
  }

  #collect(stream: StreamPipeline, record: KinesisRecord, deadline: number): void {
    const collector = stream.collector;
    if (!collector.tryAdd(record)) {
      this.#sendCollected(stream);
      collector.tryAdd(record);
    }
    if (deadline < stream.collectorDeadline) stream.collectorDeadline = deadline;
    // A due collector is sent by the timer, not here, so that every buffer due now shares requests.
    if (collector.full) this.#sendCollected(stream);
    else this.#armTimer(stream.collectorDeadline);
  }

  #sendCollected(stream: StreamPipeline): void {
    stream.collectorDeadline = Infinity;
    const batch = stream.collector.drain();
    if (batch.length > 0) void this.#queue.add(() => this.#send(stream, batch));
  }

  /** Sends raw the records that waited for the stream in vain. */
  #releaseWaiting(stream: StreamPipeline, t: number): void {
    const waiting = stream.waiting;
    stream.waiting = [];
    stream.waitingDeadline = Infinity;
    for (const record of waiting) this.#collect(stream, this.#raw(record, undefined, t), t);
  }

  /** Sends every buffer of every stream now (rate limits still hold). */
  #sendAll(): void {
    const t = now();
    for (const stream of this.#streams.values()) {
      // Records waiting for the stream to be learnt keep waiting (a matter of milliseconds; they go
      // out at once when it is, flushing as they are); the timer still bounds the wait.
      if (!this.#learning(stream)) this.#releaseWaiting(stream, t);
      for (const state of stream.shards.values()) {
        if (state.aggregator.count > 0) this.#flushAggregator(stream, state, t);
        this.#drainQueue(stream, state, t);
      }
      this.#sendCollected(stream);
    }
    // What the rate limits hold back is let out by the timer as they allow.
    this.#armTimer(t);
  }

  /** One timer for the whole producer, set for the earliest buffer deadline. */
  #armTimer(deadline: number): void {
    if (deadline >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, deadline - now()));
  }

  /** Moves every due buffer on: waiting records, aggregators, rate-limit queues, then collectors. */
  readonly #onTimer = (): void => {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const t = now();
    const retries = this.#retries;
    for (let group = retries.peek(); group !== undefined && group.at <= t; group = retries.peek()) {
      retries.pop();
      for (const user of group.users) this.#route(user, t);
    }
    let next = retries.peek()?.at ?? Infinity;
    for (const stream of this.#streams.values()) {
      if (stream.waitingDeadline <= t) this.#releaseWaiting(stream, t);
      else if (stream.waitingDeadline < next) next = stream.waitingDeadline;
      for (const state of stream.shards.values()) {
        if (state.queue.size > 0) this.#drainQueue(stream, state, t);
        const head = state.queue.peek();
        if (head !== undefined) {
          // While the shard's rate holds records back, its aggregator keeps filling: a fuller
          // envelope costs the shard's record budget no more than a smaller one.
          // At least 5 ms apart: a pass visits every shard, and a shard's tokens come in small steps.
          next = Math.min(next, t + Math.max(MIN_RATE_WAIT_MS, state.limiter.waitTime(head.size, t)), head.expiresAt);
        } else if (state.deadline <= t) this.#flushAggregator(stream, state, t);
        else if (state.deadline < next) next = state.deadline;
      }
      if (stream.collectorDeadline <= t) this.#sendCollected(stream);
      else if (stream.collectorDeadline < next) next = stream.collectorDeadline;
    }
    if (next < Infinity) this.#armTimer(next);
  };

  // ---- sending and results ----------------------------------------------------------------------

  async #send(stream: StreamPipeline, batch: KinesisRecord[]): Promise<void> {
    const start = now();
    const live = this.#dropExpired(batch, start);
    if (live.length === 0) return;
    const entries = new Array<{ Data: Uint8Array; PartitionKey: string; ExplicitHashKey: string | undefined }>(live.length);
    for (let i = 0; i < live.length; i++) {
      const r = live[i]!;
      entries[i] = { Data: r.data, PartitionKey: r.partitionKey, ExplicitHashKey: r.explicitHashKey };
    }
    this.#counts.putRecordsRequests++;
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), this.#config.requestTimeout);
    let answer: (PutRecordsResultEntry | undefined)[];
    try {
      const output = await this.#client.send(
        new PutRecordsCommand({ StreamName: stream.streamName, StreamARN: stream.streamARN, Records: entries }),
        { abortSignal: abort.signal },
      );
      answer = output.Records ?? [];
    } catch (error) {
      this.#onRequestFailed(stream, live, classifyRequestError(error, abort.signal.aborted), start);
      return;
    } finally {
      clearTimeout(timeout);
    }
    const end = now();
    if (answer.length !== live.length) {
      const failure: Failure = {
        kind: 'transient',
        code: 'InvalidResponse',
        message: `PutRecords answered ${answer.length} entries for ${live.length} records`,
      };
      for (const record of live) this.#onRecordFailed(stream, record, failure, start, end);
      return;
    }
    for (let i = 0; i < live.length; i++) {
      const record = live[i]!;
      const entry = answer[i]!;
      // kinesis-local answers null for absent fields.
      if (entry.ErrorCode != null) {
        const failure: Failure = { kind: classifyEntryError(entry.ErrorCode), code: entry.ErrorCode, message: entry.ErrorMessage ?? '' };
        this.#onRecordFailed(stream, record, failure, start, end);
      } else if (entry.ShardId == null || entry.SequenceNumber == null) {
        this.#onRecordFailed(stream, record, { kind: 'transient', code: 'InvalidResponse', message: 'entry without ShardId' }, start, end);
      } else if (record.predictedShardId !== undefined && record.predictedShardId !== entry.ShardId) {
        if (record.aggregated) this.#onWrongShard(stream, record, entry.ShardId, entry.SequenceNumber, start, end);
        else {
          // A raw record is routed by its own key, so it is where it belongs; only our map is stale.
          stream.shardMap.requestRefresh();
          this.#succeed(stream, record, entry.ShardId, entry.SequenceNumber, start, end);
        }
      } else {
        this.#succeed(stream, record, entry.ShardId, entry.SequenceNumber, start, end);
      }
    }
  }

  /**
   * Fails the user records of a Kinesis record whose TTL ran out and re-routes the others (the
   * survivors of a partly expired envelope are re-aggregated without the expired ones).
   */
  #expire(record: KinesisRecord, t: number, message: string): void {
    for (const user of record.userRecords) {
      if (user.expiresAt <= t) this.#fail(user, 'Expired', message);
      else this.#route(user, t);
    }
  }

  /** Fails records whose TTL ran out while they waited to be sent; returns the Kinesis records still worth sending. */
  #dropExpired(batch: KinesisRecord[], t: number): KinesisRecord[] {
    let live: KinesisRecord[] | undefined;
    for (let i = 0; i < batch.length; i++) {
      const record = batch[i]!;
      if (record.expiresAt > t) {
        live?.push(record);
        continue;
      }
      live ??= batch.slice(0, i);
      this.#expire(record, t, 'recordTtl ran out before the record could be sent');
    }
    return live ?? batch;
  }

  #succeed(stream: StreamPipeline, record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void {
    if (record.predictedShardId !== undefined) stream.shards.get(record.predictedShardId)?.limiter.onSuccess(end);
    this.#counts.kinesisRecordsPut++;
    this.#counts.kinesisRecordsDataPut += record.size;
    const users = record.userRecords;
    for (let i = 0; i < users.length; i++) {
      const user = users[i]!;
      if (!this.#settle(user)) continue;
      this.#counts.userRecordsPut++;
      user.attempts.push({ delayMs: start - user.waitingSince, durationMs: end - start, success: true });
      // Two literal shapes rather than a conditional spread: this runs once per user record.
      user.resolve(
        record.aggregated
          ? { shardId, sequenceNumber, subSequenceNumber: i, aggregated: true, attempts: user.attempts }
          : { shardId, sequenceNumber, aggregated: false, attempts: user.attempts },
      );
    }
    this.#checkFlushWaiters();
  }

  #fail(user: PendingRecord, code: string, message: string): void {
    if (!this.#settle(user)) return;
    this.#counts.userRecordsFailed++;
    if (code === 'Expired') this.#counts.userRecordsExpired++;
    user.reject(new UserRecordFailedError(code, message, user.partitionKey, user.attempts));
    this.#checkFlushWaiters();
  }

  /**
   * The service put an envelope in a shard other than the predicted one (the map is stale: a split or
   * merge happened). The KCL drops an envelope holding a record whose hash key lies outside the
   * receiving shard, so the envelope counts as delivered only if that shard holds every record's key;
   * otherwise its records are retried along the refreshed map.
   */
  #onWrongShard(
    stream: StreamPipeline,
    record: KinesisRecord,
    shardId: string,
    sequenceNumber: string,
    start: number,
    end: number,
  ): void {
    const map = stream.shardMap;
    const judge = (): void => {
      let holdsAll = true;
      for (const user of record.userRecords) {
        if (map.shardContains(shardId, user.hashKey) !== true) {
          holdsAll = false;
          break;
        }
      }
      if (holdsAll) this.#succeed(stream, record, shardId, sequenceNumber, start, end);
      else {
        const failure: Failure = {
          kind: 'transient',
          code: 'WrongShard',
          message: `written to ${shardId}, which does not hold every aggregated record's hash key`,
        };
        this.#onRecordFailed(stream, record, failure, start, end);
      }
    };
    if (record.userRecords.every((user) => map.shardContains(shardId, user.hashKey) !== undefined)) {
      map.requestRefresh();
      judge();
    } else {
      // The receiving shard is not in our map yet: learn it before judging.
      map.refresh().then(judge, judge);
    }
  }

  #onRequestFailed(stream: StreamPipeline, batch: KinesisRecord[], failure: Failure, start: number): void {
    const end = now();
    if (failure.kind === 'invalid') {
      // The stream's limits may have changed (e.g. its record size): learn them again.
      if (stream.capabilities !== undefined) this.#readCapabilities(stream);
      if (batch.length > 1) {
        // Split the request to find the record the service refuses; the others go through.
        const half = batch.length >>> 1;
        for (const record of batch) this.#recordAttempt(record, failure, start, end);
        void this.#queue.add(() => this.#send(stream, batch.slice(0, half)));
        void this.#queue.add(() => this.#send(stream, batch.slice(half)));
        return;
      }
    }
    for (const record of batch) this.#onRecordFailed(stream, record, failure, start, end);
  }

  #recordAttempt(record: KinesisRecord, failure: Failure, start: number, end: number): void {
    this.#errorsByCode.set(failure.code, (this.#errorsByCode.get(failure.code) ?? 0) + 1);
    for (const user of record.userRecords) {
      user.attempts.push({
        delayMs: start - user.waitingSince,
        durationMs: end - start,
        success: false,
        errorCode: failure.code,
        errorMessage: failure.message,
      });
      user.waitingSince = end;
    }
  }

  /** Records the failed attempt, then fails the records or schedules their retry. */
  #onRecordFailed(stream: StreamPipeline, record: KinesisRecord, failure: Failure, start: number, end: number): void {
    this.#recordAttempt(record, failure, start, end);
    if (failure.kind === 'throttled' && record.predictedShardId !== undefined) {
      stream.shards.get(record.predictedShardId)?.limiter.onThrottled(start, end);
    }
    const users = record.userRecords;
    if (failure.kind === 'fatal' || failure.kind === 'invalid' || (failure.kind === 'throttled' && this.#config.failIfThrottled)) {
      for (const user of users) this.#fail(user, failure.code, failure.message);
      return;
    }
    const delay = this.#retry.backoff(users[0]!.attempts.length);
    const retryAt = end + delay;
    const retry: PendingRecord[] = [];
    for (const user of users) {
      if (retryAt >= user.expiresAt) this.#fail(user, 'Expired', `recordTtl ran out; last error ${failure.code}: ${failure.message}`);
      else retry.push(user);
    }
    if (retry.length === 0) return;
    this.#retries.push({ at: retryAt, users: retry });
    this.#armTimer(retryAt);
  }

  #checkFlushWaiters(): void {
    const waiters = this.#flushWaiters;
    if (waiters.length === 0) return;
    let oldest = Infinity;
    for (const record of this.#outstanding) {
      oldest = record.id;
      break;
    }
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i]!;
      if (waiter.lastId < oldest) {
        waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}
