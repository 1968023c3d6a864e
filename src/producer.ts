/**
 * The producer: wires validation, shard prediction, aggregation, collection, sending and retries.
 *
 *   put() → validate → hash key → ShardMap.lookup → Aggregator (per shard) → Collector (per stream)
 *         → p-queue (maxConnections) → PutRecords → settle, or RetryPolicy → back to the ShardMap
 *
 * Every user record is a {@link PendingRecord} from `put()` until its promise settles, which happens
 * exactly once: `#succeed` and `#fail` are the only places that settle, and both remove the record
 * from `#outstanding` first.
 */
import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import PQueue from 'p-queue';
import { Aggregator } from './aggregation/index.js';
import { Collector } from './batching/index.js';
import { createKinesisClient } from './client.js';
import { resolveConfig, type ProducerOptions, type ResolvedConfig } from './config.js';
import { ProducerClosedError, UserRecordFailedError, type Attempt } from './errors.js';
import { RetryPolicy, classifyEntryError, classifyRequestError, type Failure } from './retry/index.js';
import { HashKeyCache, ShardMap, hashKeyToDecimal, type HashKey } from './sharding/index.js';
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
  /** The shard the records were aggregated for; undefined when sent raw without a prediction. */
  readonly predictedShardId: string | undefined;
  readonly userRecords: PendingRecord[];
}

/** Aggregation buffer of one shard. */
interface ShardSlot {
  readonly shardId: string;
  readonly aggregator: Aggregator<PendingRecord>;
  /** When the oldest record in it must leave. */
  deadline: number;
}

/** Everything the producer keeps for one stream. */
interface StreamPipeline {
  readonly streamName: string | undefined;
  readonly streamARN: string | undefined;
  readonly shardMap: ShardMap;
  readonly slots: Map<string, ShardSlot>;
  readonly collector: Collector<KinesisRecord>;
  collectorDeadline: number;
  /** Records that arrived before the shard map was first loaded; they wait for it until their deadline. */
  waiting: PendingRecord[];
  waitingDeadline: number;
}

// The KPL's outer partition key for envelopes; the explicit hash key does the routing.
const ENVELOPE_PARTITION_KEY = 'a';
const now = (): number => performance.now();

/**
 * A Kinesis producer: `put()` user records, `await` their results. Records bound for the same shard
 * are aggregated into KPL envelopes (readable by the KCL and aws-kinesis-agg), collected into
 * PutRecords calls, retried on failure until `recordTtl`, and settled one by one.
 *
 * ```ts
 * const producer = new KinesisProducer({ streamName: 'events', region: 'us-east-1' });
 * const { shardId, sequenceNumber } = await producer.put({ partitionKey: 'user-42', data: '{"a":1}' });
 * await producer.close();
 * ```
 */
export class KinesisProducer {
  readonly #config: ResolvedConfig;
  readonly #client: KinesisClient;
  readonly #ownsClient: boolean;
  readonly #queue: PQueue;
  readonly #retry: RetryPolicy;
  readonly #hashKeys: HashKeyCache;
  readonly #streams = new Map<string, StreamPipeline>();
  /** Unsettled records in arrival order: the first is the oldest. */
  readonly #outstanding = new Set<PendingRecord>();
  readonly #flushWaiters: { readonly lastId: number; readonly resolve: () => void }[] = [];
  readonly #counts = {
    userRecordsReceived: 0,
    userRecordsPut: 0,
    userRecordsFailed: 0,
    userRecordsExpired: 0,
    kinesisRecordsPut: 0,
    kinesisRecordsDataPut: 0,
    putRecordsRequests: 0,
  };
  readonly #errorsByCode = new Map<string, number>();
  #nextId = 1;
  #flushing = 0;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  /** Validates the options (throws `ValidationError`) and starts loading the default stream's shard map. */
  constructor(options: ProducerOptions) {
    this.#config = resolveConfig(options);
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? createKinesisClient(options, this.#config.maxConnections, this.#config.requestTimeout);
    this.#queue = new PQueue({ concurrency: this.#config.maxConnections });
    this.#retry = new RetryPolicy({ minBackoff: this.#config.retryMinBackoff, maxBackoff: this.#config.retryMaxBackoff });
    this.#hashKeys = new HashKeyCache(this.#config.hashKeyCacheSize);
    if (this.#config.streamName !== undefined || this.#config.streamARN !== undefined) {
      this.#pipeline(this.#config.streamName, this.#config.streamARN);
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
    };
  }

  /**
   * Puts a user record. Resolves once it is written, with its shard and sequence number; rejects
   * with `UserRecordFailedError` when it cannot be (its code is the service's, or `Expired`).
   * Throws `ValidationError` synchronously-in-the-promise for bad input, before anything is buffered,
   * and `ProducerClosedError` after `close()`.
   */
  put(record: UserRecord): Promise<PutResult> {
    try {
      if (this.#closed) throw new ProducerClosedError();
      const streamName = record.streamName ?? (record.streamARN === undefined ? this.#config.streamName : undefined);
      const streamARN = record.streamARN ?? (record.streamName === undefined ? this.#config.streamARN : undefined);
      const stream = this.#pipeline(streamName, streamARN);
      const valid = validateUserRecord(record, this.#config.maxUserRecordSize);
      const hashKey = this.#hashKeys.get(valid.partitionKey, valid.explicitHashKey);
      return new Promise<PutResult>((resolve, reject) => {
        const arrivedAt = now();
        const pending: PendingRecord = {
          id: this.#nextId++,
          partitionKey: valid.partitionKey,
          explicitHashKey: valid.explicitHashKey,
          data: valid.data,
          size: valid.data.length + valid.partitionKeyBytes,
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
        this.#counts.userRecordsReceived++;
        this.#route(pending, arrivedAt);
      });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * Sends everything buffered now, without waiting for `recordMaxBufferedTime`, and resolves when
   * every record put before the call has settled (succeeded or failed). Retries of those records
   * also go out without buffering delay while the flush lasts. Never rejects.
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

  // ---- stream pipelines -------------------------------------------------------------------------

  #pipeline(streamName: string | undefined, streamARN: string | undefined): StreamPipeline {
    const key = `${streamName ?? ''}\n${streamARN ?? ''}`;
    let stream = this.#streams.get(key);
    if (stream !== undefined) return stream;
    validateStreamRef({ streamName, streamARN });
    const shardMap = new ShardMap({ client: this.#client, streamName, streamARN });
    const created: StreamPipeline = {
      streamName,
      streamARN,
      shardMap,
      slots: new Map(),
      collector: new Collector<KinesisRecord>(this.#config),
      collectorDeadline: Infinity,
      waiting: [],
      waitingDeadline: Infinity,
    };
    stream = created;
    shardMap.onUpdate = () => this.#onShardMapUpdate(created);
    this.#streams.set(key, created);
    if (this.#config.aggregationEnabled) {
      // Failures are kept in the map (lastError) and retried by it with backoff; records go out raw meanwhile.
      shardMap.refresh().catch(() => undefined);
    }
    return created;
  }

  /** Re-routes records waiting for the map, and those buffered for shards that are no longer open. */
  #onShardMapUpdate(stream: StreamPipeline): void {
    const t = now();
    const waiting = stream.waiting;
    stream.waiting = [];
    stream.waitingDeadline = Infinity;
    for (const record of waiting) this.#route(record, t);
    for (const slot of stream.slots.values()) {
      if (slot.aggregator.count === 0 || stream.shardMap.isOpen(slot.shardId)) continue;
      for (const record of slot.aggregator.drain().entries) this.#route(record, t);
    }
  }

  // ---- routing and buffering --------------------------------------------------------------------

  /** Sends a record on its way: into its shard's aggregator, or raw into the collector. */
  #route(record: PendingRecord, t: number): void {
    const stream = record.stream;
    const deadline = this.#flushing > 0 ? t : t + this.#config.recordMaxBufferedTime;
    if (!this.#config.aggregationEnabled || record.size > this.#config.aggregationMaxSize) {
      this.#collect(stream, this.#raw(record, undefined), deadline);
      return;
    }
    const map = stream.shardMap;
    if (!map.ready) {
      // Waiting for a map being loaded is bounded by recordMaxBufferedTime, even while flushing.
      const waitUntil = t + this.#config.recordMaxBufferedTime;
      if (map.loading && waitUntil > t) {
        stream.waiting.push(record);
        if (waitUntil < stream.waitingDeadline) stream.waitingDeadline = waitUntil;
        this.#armTimer(stream.waitingDeadline);
      } else {
        // The KPL's rule: no map, no aggregation. The service routes raw records by their own keys.
        this.#collect(stream, this.#raw(record, undefined), deadline);
      }
      return;
    }
    const shard = map.lookup(record.hashKey);
    if (shard === undefined) {
      this.#collect(stream, this.#raw(record, undefined), deadline);
      return;
    }
    let slot = stream.slots.get(shard.shardId);
    if (slot === undefined) {
      slot = {
        shardId: shard.shardId,
        aggregator: new Aggregator<PendingRecord>(this.#config),
        deadline: Infinity,
      };
      stream.slots.set(shard.shardId, slot);
    }
    if (!slot.aggregator.tryAdd(record)) {
      this.#flushSlot(stream, slot);
      slot.aggregator.tryAdd(record);
    }
    if (deadline < slot.deadline) slot.deadline = deadline;
    if (slot.aggregator.count >= this.#config.aggregationMaxCount) this.#flushSlot(stream, slot);
    else this.#armTimer(slot.deadline);
  }

  #raw(record: PendingRecord, predictedShardId: string | undefined): KinesisRecord {
    return {
      data: record.data,
      partitionKey: record.partitionKey,
      explicitHashKey: record.explicitHashKey,
      size: record.size,
      aggregated: false,
      predictedShardId,
      userRecords: [record],
    };
  }

  /** Turns a shard's aggregator into one Kinesis record (raw when it holds one user record). */
  #flushSlot(stream: StreamPipeline, slot: ShardSlot): void {
    const deadline = slot.deadline;
    slot.deadline = Infinity;
    const { entries, data, aggregated } = slot.aggregator.drain();
    const first = entries[0];
    if (first === undefined) return;
    const record: KinesisRecord = aggregated
      ? {
          data,
          partitionKey: ENVELOPE_PARTITION_KEY,
          // The first record's hash key routes the envelope to the shard predicted for all of them.
          explicitHashKey: first.explicitHashKey ?? hashKeyToDecimal(first.hashKey),
          size: data.length + ENVELOPE_PARTITION_KEY.length,
          aggregated: true,
          predictedShardId: slot.shardId,
          userRecords: entries,
        }
      : this.#raw(first, slot.shardId);
    this.#collect(stream, record, deadline);
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

  /** Sends every buffer of every stream now. */
  #sendAll(): void {
    const t = now();
    for (const stream of this.#streams.values()) {
      // Records waiting for a map being loaded keep waiting (it is a matter of milliseconds, and
      // they go out at once when it arrives, flushing as they are); the timer still bounds the wait.
      if (!stream.shardMap.loading) this.#releaseWaiting(stream, t);
      for (const slot of stream.slots.values()) if (slot.aggregator.count > 0) this.#flushSlot(stream, slot);
      this.#sendCollected(stream);
    }
  }

  /** Sends raw the records that waited for a shard map in vain. */
  #releaseWaiting(stream: StreamPipeline, t: number): void {
    const waiting = stream.waiting;
    stream.waiting = [];
    stream.waitingDeadline = Infinity;
    for (const record of waiting) this.#collect(stream, this.#raw(record, undefined), t);
  }

  /** One timer for the whole producer, set for the earliest buffer deadline. */
  #armTimer(deadline: number): void {
    if (deadline >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, deadline - now()));
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const t = now();
    let next = Infinity;
    for (const stream of this.#streams.values()) {
      if (stream.waitingDeadline <= t) this.#releaseWaiting(stream, t);
      else if (stream.waitingDeadline < next) next = stream.waitingDeadline;
      for (const slot of stream.slots.values()) {
        if (slot.deadline <= t) this.#flushSlot(stream, slot);
        else if (slot.deadline < next) next = slot.deadline;
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
      for (const record of live) this.#onRecordFailed(record, failure, start, end);
      return;
    }
    for (let i = 0; i < live.length; i++) {
      const record = live[i]!;
      const entry = answer[i]!;
      if (entry.ErrorCode !== undefined) {
        const failure: Failure = {
          kind: classifyEntryError(entry.ErrorCode),
          code: entry.ErrorCode,
          message: entry.ErrorMessage ?? '',
        };
        this.#onRecordFailed(record, failure, start, end);
      } else if (entry.ShardId === undefined || entry.SequenceNumber === undefined) {
        this.#onRecordFailed(record, { kind: 'transient', code: 'InvalidResponse', message: 'entry without ShardId' }, start, end);
      } else if (record.predictedShardId !== undefined && record.predictedShardId !== entry.ShardId) {
        if (record.aggregated) this.#onWrongShard(stream, record, entry.ShardId, entry.SequenceNumber, start, end);
        else {
          // A raw record is routed by its own key, so it is where it belongs; only our map is stale.
          stream.shardMap.requestRefresh();
          this.#succeed(record, entry.ShardId, entry.SequenceNumber, start, end);
        }
      } else {
        this.#succeed(record, entry.ShardId, entry.SequenceNumber, start, end);
      }
    }
  }

  /** Fails records whose TTL ran out while they waited to be sent; returns the Kinesis records still worth sending. */
  #dropExpired(batch: KinesisRecord[], t: number): KinesisRecord[] {
    let live: KinesisRecord[] | undefined;
    for (let i = 0; i < batch.length; i++) {
      const record = batch[i]!;
      if (!record.userRecords.some((user) => user.expiresAt <= t)) {
        live?.push(record);
        continue;
      }
      live ??= batch.slice(0, i);
      for (const user of record.userRecords) {
        if (user.expiresAt <= t) this.#fail(user, 'Expired', 'recordTtl ran out before the record could be sent');
        // The survivors of a partly expired envelope are re-aggregated without the expired ones.
        else this.#route(user, t);
      }
    }
    return live ?? batch;
  }

  #succeed(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void {
    const users = record.userRecords;
    this.#counts.kinesisRecordsPut++;
    this.#counts.kinesisRecordsDataPut += record.size;
    for (let i = 0; i < users.length; i++) {
      const user = users[i]!;
      if (!this.#outstanding.delete(user)) continue;
      this.#counts.userRecordsPut++;
      user.attempts.push({ delayMs: start - user.waitingSince, durationMs: end - start, success: true });
      user.resolve({
        shardId,
        sequenceNumber,
        ...(record.aggregated && { subSequenceNumber: i }),
        aggregated: record.aggregated,
        attempts: user.attempts,
      });
    }
    this.#checkFlushWaiters();
  }

  #fail(user: PendingRecord, code: string, message: string): void {
    if (!this.#outstanding.delete(user)) return;
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
      if (holdsAll) this.#succeed(record, shardId, sequenceNumber, start, end);
      else {
        const failure: Failure = {
          kind: 'transient',
          code: 'WrongShard',
          message: `written to ${shardId}, which does not hold every aggregated record's hash key`,
        };
        this.#onRecordFailed(record, failure, start, end);
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
    if (failure.kind === 'invalid' && batch.length > 1) {
      // Split the request to find the record the service refuses; the others go through.
      const half = batch.length >>> 1;
      for (const record of batch) this.#recordAttempt(record, failure, start, end);
      void this.#queue.add(() => this.#send(stream, batch.slice(0, half)));
      void this.#queue.add(() => this.#send(stream, batch.slice(half)));
      return;
    }
    for (const record of batch) this.#onRecordFailed(record, failure, start, end);
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
  #onRecordFailed(record: KinesisRecord, failure: Failure, start: number, end: number): void {
    this.#recordAttempt(record, failure, start, end);
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
    setTimeout(() => {
      const t = now();
      for (const user of retry) this.#route(user, t);
    }, delay);
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
