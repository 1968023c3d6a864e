/**
 * One stream's path from user record to PutRecords call: routing by predicted shard into the
 * shard buffers, collecting what leaves them into requests, and acting on each request's outcomes.
 */
import { MAX_REQUEST_SIZE, MiB, type ResolvedConfig } from '../config.js';
import { rawKinesisRecord, type KinesisRecord, type PendingRecord, type RecordRouter } from '../records.js';
import type { GaugeTotals, StreamMetrics } from '../metrics/index.js';
import type { Failure, RetryScheduler } from '../retry/index.js';
import type { StreamView } from '../sharding/index.js';
import { Collector } from './collector.js';
import { HeldRecords } from './held-records.js';
import { now } from '../scheduler.js';
import type { Sender, SendOutcomes } from './sender.js';
import { SHARD_BYTES_PER_SECOND, SHARD_RECORDS_PER_SECOND, type RateLimiter } from './rate-limiter.js';
import { ShardBuffer, unaggregated, type ShardBufferOptions } from './shard-buffer.js';

/**
 * Failures that say the stream was missing or out of reach: it may have been deleted and created
 * again meanwhile, with other shards under the same IDs.
 */
const OUTAGE_CODES = new Set(['ResourceNotFoundException', 'RequestTimeout', 'NetworkError']);

/** Where records leave the pipeline: the producer settles them. */
export interface Settlement {
  /** Every user record of `record` was written: resolve them. */
  succeed(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void;
  /** The user record failed with `code`. */
  fail(record: PendingRecord, code: string, message: string): void;
}

/** What a {@link StreamRouter} is wired to. */
export interface StreamRouterOptions {
  readonly view: StreamView;
  readonly metrics: StreamMetrics;
  readonly config: ResolvedConfig;
  readonly shardBuffer: ShardBufferOptions;
  readonly sender: Sender;
  readonly retries: RetryScheduler;
  readonly settlement: Settlement;
  /** Asks for a call of {@link StreamRouter.due} no later than `deadline`. */
  readonly wakeAt: (deadline: number) => void;
  /** Whether records leave the buffers without waiting: a flush is under way, or the producer is at its bounds. */
  readonly sendAtOnce: () => boolean;
}

/**
 * Routes one stream's user records: held while the stream is first learned, then into the
 * aggregator of the shard predicted for their hash key (raw when aggregation is off for the stream
 * or the record is too large for an envelope), through that shard's rate limit, into the stream's
 * collector, and out through the sender. Without a prediction a record goes raw, straight to the
 * collector, as the KPL sends records while it has no map.
 */
export class StreamRouter implements RecordRouter, SendOutcomes {
  readonly view: StreamView;
  readonly metrics: StreamMetrics;
  readonly #config: ResolvedConfig;
  readonly #shardBuffer: ShardBufferOptions;
  readonly #sender: Sender;
  readonly #retries: RetryScheduler;
  readonly #settlement: Settlement;
  readonly #wakeAt: (deadline: number) => void;
  readonly #sendAtOnce: () => boolean;
  readonly #shards = new Map<string, ShardBuffer>();
  readonly #collector: Collector<KinesisRecord>;
  #collectorDeadline = Infinity;
  /** Records put while the stream is first being learned. */
  readonly #held: HeldRecords;
  /**
   * Failures that say the stream was missing or out of reach, and how many of them a successful
   * listing has covered: while some are not covered, envelopes written where predicted are checked
   * against a fresh listing (see {@link succeeded}).
   */
  #outages = 0;
  #outagesListed = 0;
  #outageListing: Promise<boolean> | undefined;
  /** The budget of records sent without a prediction (see {@link #unpredictedLane}). */
  #unpredicted: ShardBuffer | undefined;
  #unpredictedShards = 0;

  constructor(options: StreamRouterOptions) {
    this.view = options.view;
    this.metrics = options.metrics;
    this.#config = options.config;
    this.#shardBuffer = options.shardBuffer;
    this.#sender = options.sender;
    this.#retries = options.retries;
    this.#settlement = options.settlement;
    this.#wakeAt = options.wakeAt;
    this.#sendAtOnce = options.sendAtOnce;
    this.#collector = new Collector<KinesisRecord>(options.config);
    this.#held = new HeldRecords({
      // Not learned in time: they go raw, as the KPL sends records while it has no shard map.
      release: (records, t) => {
        for (const record of records) this.#collect(rawKinesisRecord(record, undefined, t), t);
      },
      expire: (record) => this.#settlement.fail(record, 'Expired', 'recordTtl ran out while the stream was being described and listed'),
      wakeAt: options.wakeAt,
    });
  }

  /** Sends a record on its way: held for the stream, into its shard's buffer, or raw to the collector. */
  route(record: PendingRecord, t: number): void {
    const view = this.view;
    if (view.learning) {
      // Until the stream's first answers (bounded by requestTimeout, as every call is), a record
      // waits for them, so that it is aggregated and held to its shard's rate rather than sent raw.
      this.#held.hold(record, t + this.#config.requestTimeout);
      return;
    }
    const deadline = this.#sendAtOnce() ? t : t + this.#config.recordMaxBufferedTime;
    const capabilities = view.capabilities;
    if (capabilities !== undefined && record.size > capabilities.maxRecordSize) {
      this.#settlement.fail(record, 'ValidationError', `data + partitionKey is ${record.size} bytes; the stream takes ${capabilities.maxRecordSize}`);
      return;
    }
    const shard = view.lookup(record.hashKey);
    if (shard === undefined) {
      // The KPL's rule: no map, no aggregation. The service routes raw records by their own keys;
      // they still count against the stream's budget where its shard count is known.
      const raw = rawKinesisRecord(record, undefined, deadline);
      const lane = this.#unpredictedLane(t);
      if (lane === undefined) this.#collect(raw, deadline);
      else lane.admit(raw, t);
      return;
    }
    const buffer = this.#buffer(shard.shardId, t);
    if (!view.aggregating) {
      buffer.admit(rawKinesisRecord(record, shard.shardId, deadline, buffer.mapVersion), t);
    } else if (record.size > this.#config.aggregationMaxSize) {
      buffer.admit(unaggregated(record, shard.shardId, deadline, buffer.mapVersion, capabilities?.maxRecordSize), t);
    } else {
      buffer.aggregate(record, deadline, t);
    }
  }

  /**
   * Moves on everything of the stream due at `t`; returns when it next needs a visit (Infinity for
   * never). Past `until` ({@link now}'s clock) the shards left wait for the next visit, at once.
   */
  due(t: number, until = Infinity): number {
    let next = this.#held.due(t);
    for (const buffer of this.#shards.values()) {
      if (now() >= until) {
        next = t;
        break;
      }
      next = Math.min(next, buffer.due(t));
    }
    if (this.#unpredicted !== undefined) next = Math.min(next, this.#unpredicted.due(t));
    if (this.#collectorDeadline <= t) this.#sendCollected();
    else next = Math.min(next, this.#collectorDeadline);
    return next;
  }

  /** Sends every buffer now; rate limits still hold, and records held for the stream keep waiting while it is learned. */
  sendAll(t: number): void {
    // Held records go out at once when the stream is learned (a matter of milliseconds), flushing
    // as they are; their deadline still bounds the wait.
    if (!this.view.learning) this.#held.release(t);
    for (const buffer of this.#shards.values()) buffer.flush(t);
    this.#unpredicted?.flush(t);
    this.#sendCollected();
  }

  /**
   * The stream's capabilities or shard map changed: adopt its request size, route again the records
   * held for it once it is learned, and those buffered for shards that are no longer open.
   */
  onStreamChange(t: number): void {
    const view = this.view;
    const capabilities = view.capabilities;
    // A stream taking records over 1 MiB takes requests up to 10 MiB (unless the size was set).
    if (capabilities !== undefined && this.#config.collectionMaxSizeDefaulted) {
      this.#collector.maxSize = capabilities.maxRecordSize > MiB ? MAX_REQUEST_SIZE : this.#config.collectionMaxSize;
    }
    if (!view.learning) for (const record of this.#held.takeAll()) this.route(record, t);
    const map = view.shardMap;
    for (const buffer of this.#shards.values()) {
      // A shard that closed, or whose ID now names another range (the stream was created again):
      // what its buffer holds was predicted for a shard that is no longer there.
      if (map.isOpen(buffer.shardId) && !map.rangeChangedSince(buffer.shardId, buffer.mapVersion)) continue;
      this.#shards.delete(buffer.shardId);
      for (const record of buffer.takeAll()) this.route(record, t);
    }
  }

  // ---- the sender's outcomes ----------------------------------------------------------------------

  /**
   * Written where predicted. An envelope's prediction is trusted only while the shard's range is the
   * one it was predicted under: after an outage (the stream may have been deleted and created again,
   * reusing shard IDs with other ranges) the shards are listed again first, and a shard whose range
   * changed is judged as a wrong shard is, against the range it has now.
   */
  succeeded(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void {
    if (record.aggregated && this.#outages > this.#outagesListed) {
      void this.#listAfterOutage().then((listed) => {
        if (listed) this.#succeededOnCurrentMap(record, shardId, sequenceNumber, start, end);
        else {
          // Unjudgeable: retried rather than counted, since a KCL may drop the copy written.
          const message = `written to ${shardId} after an outage, and the stream's shards could not be listed to check it`;
          this.failed(record, { kind: 'transient', code: 'WrongShard', message }, start, end);
        }
      });
      return;
    }
    this.#succeededOnCurrentMap(record, shardId, sequenceNumber, start, end);
  }

  #succeededOnCurrentMap(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void {
    if (record.aggregated && this.view.shardMap.rangeChangedSince(shardId, record.mapVersion)) {
      this.#judge(record, shardId, sequenceNumber, start, end);
      return;
    }
    this.#delivered(record, shardId, sequenceNumber, start, end);
  }

  /** The record is where a KCL reads it: the shard's rate may climb, and its user records resolve. */
  #delivered(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void {
    this.#limiterOf(record)?.onSuccess(end);
    this.metrics.delivered(record, shardId, start);
    this.#settlement.succeed(record, shardId, sequenceNumber, start, end);
  }

  /**
   * The service put a record in a shard other than the predicted one: a split or merge happened.
   * A raw record is routed by its own key, so it is where it belongs; only the map is stale. The KCL
   * drops an envelope holding a record whose hash key lies outside the receiving shard, so an
   * envelope counts as delivered only if that shard holds every record's key; otherwise its records
   * are retried along the refreshed map.
   */
  wrongShard(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void {
    if (!record.aggregated) {
      this.view.shardMap.requestRefresh();
      this.succeeded(record, shardId, sequenceNumber, start, end);
      return;
    }
    this.#judge(record, shardId, sequenceNumber, start, end);
  }

  /** Counts an envelope delivered only if the receiving shard holds every one of its records' keys (the KCL's rule). */
  #judge(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void {
    this.view.judgeReceivingShard(shardId, record.userRecords, (holdsAll) => {
      if (holdsAll) this.#delivered(record, shardId, sequenceNumber, start, end);
      else {
        const message = `written to ${shardId}, which does not hold every aggregated record's hash key`;
        this.failed(record, { kind: 'transient', code: 'WrongShard', message }, start, end);
      }
    });
  }

  failed(record: KinesisRecord, failure: Failure, start: number, end: number): void {
    this.metrics.attemptFailed(record, failure.code, start);
    if (failure.kind === 'throttled') this.#limiterOf(record)?.onThrottled(start, end);
    if (OUTAGE_CODES.has(failure.code)) this.#outages++;
    this.#retries.onFailure(record, failure, start, end);
  }

  attempted(record: KinesisRecord, failure: Failure, start: number, end: number): void {
    this.metrics.attemptFailed(record, failure.code, start);
    this.#retries.recordAttempt(record, failure, start, end);
  }

  expired(record: KinesisRecord, t: number, message: string): void {
    this.#retries.expire(record, t, message);
  }

  requestEnded(batch: readonly KinesisRecord[], start: number, end: number): void {
    this.metrics.requestEnded(batch, start, end);
  }

  /**
   * Samples the shards' gauges — user records held by each rate limit, each rate limit in percent
   * of the shard's limits — per shard, and for the stream (records held in all, the mean rate);
   * adds them to `totals`.
   */
  sampleGauges(totals: GaugeTotals): void {
    const metrics = this.metrics;
    let held = 0;
    let percentSum = 0;
    for (const buffer of this.#shards.values()) {
      const shardHeld = buffer.heldUserRecords;
      const percent = buffer.limiter.percentOfLimits;
      held += shardHeld;
      percentSum += percent;
      if (metrics.perShard) {
        const stat = metrics.shard(buffer.shardId).stat;
        stat.UserRecordsHeldByRateLimit.add(shardHeld);
        stat.ShardRateLimit.add(percent);
      }
    }
    const shards = this.#shards.size;
    if (shards === 0) return;
    if (metrics.perStream) {
      metrics.figures.stat.UserRecordsHeldByRateLimit.add(held);
      metrics.figures.stat.ShardRateLimit.add(percentSum / shards);
    }
    totals.heldUserRecords += held;
    totals.rateLimitPercentSum += percentSum;
    totals.shards += shards;
  }

  invalidRequest(): void {
    // The stream's limits may have changed (e.g. its record size): learn them again.
    if (this.view.capabilities !== undefined) this.view.readCapabilities();
  }

  /**
   * Lists the stream's shards (one listing shared by the answers that wait for it); resolves with
   * whether it succeeded. A listing that started before the latest outage failure does not clear
   * the suspicion: it may have listed the stream that was then deleted.
   */
  #listAfterOutage(): Promise<boolean> {
    if (this.#outageListing !== undefined) return this.#outageListing;
    const outages = this.#outages;
    const listing = this.view.shardMap.refresh().then(
      () => {
        this.#outagesListed = Math.max(this.#outagesListed, outages);
        return true;
      },
      () => false,
    );
    this.#outageListing = listing.finally(() => {
      this.#outageListing = undefined;
    });
    return this.#outageListing;
  }

  // ---- buffers --------------------------------------------------------------------------------------

  /** The rate limit a record was let out by: its predicted shard's, or the stream's budget. */
  #limiterOf(record: KinesisRecord): RateLimiter | undefined {
    return record.predictedShardId === undefined ? this.#unpredicted?.limiter : this.#shards.get(record.predictedShardId)?.limiter;
  }

  /**
   * The rate limit of records sent without a prediction: the stream's shards' limits together,
   * sized again when their count changes; none while the count is unknown (the stream could not be
   * described or listed: see StreamView's warning).
   */
  #unpredictedLane(t: number): ShardBuffer | undefined {
    const shards = this.view.openShardCount;
    if (shards === undefined || shards < 1) return undefined;
    const lane = this.#unpredicted;
    if (lane !== undefined && this.#unpredictedShards === shards) return lane;
    this.#unpredictedShards = shards;
    const options = { ...this.#shardBuffer, recordsPerSecond: shards * SHARD_RECORDS_PER_SECOND, bytesPerSecond: shards * SHARD_BYTES_PER_SECOND };
    const resized = new ShardBuffer('unpredicted', this.view.shardMap.version, options, this.#shardOutput, t);
    this.#unpredicted = resized;
    if (lane !== undefined) for (const record of lane.takeAll()) this.route(record, t);
    return resized;
  }

  #buffer(shardId: string, t: number): ShardBuffer {
    let buffer = this.#shards.get(shardId);
    if (buffer === undefined) {
      buffer = new ShardBuffer(shardId, this.view.shardMap.version, this.#shardBuffer, this.#shardOutput, t);
      this.#shards.set(shardId, buffer);
    }
    return buffer;
  }

  readonly #shardOutput = {
    collect: (record: KinesisRecord, deadline: number): void => this.#collect(record, deadline),
    expire: (record: KinesisRecord, t: number, message: string): void => this.#retries.expire(record, t, message),
    wakeAt: (deadline: number): void => this.#wakeAt(deadline),
  };

  #collect(record: KinesisRecord, deadline: number): void {
    const collector = this.#collector;
    if (!collector.tryAdd(record)) {
      this.#sendCollected();
      collector.tryAdd(record);
    }
    if (deadline < this.#collectorDeadline) this.#collectorDeadline = deadline;
    // A due collector is sent by the timer, not here, so that every buffer due now shares requests.
    if (collector.full) this.#sendCollected();
    else this.#wakeAt(this.#collectorDeadline);
  }

  #sendCollected(): void {
    this.#collectorDeadline = Infinity;
    this.#sender.send(this.view, this.#collector.drain(), this);
  }
}
