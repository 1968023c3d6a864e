/**
 * Everything the producer holds for one shard: the aggregator filling its next envelope, and its
 * rate limit with the Kinesis records that limit holds back.
 */
import { AGGREGATED_PARTITION_KEY, Aggregator, envelopeOfOne, looksLikeEnvelope, type AggregatorOptions } from '../aggregation/index.js';
import { DeadlineQueue } from '../deadline-queue.js';
import { IN_ENVELOPE, dataLeftInEnvelope, rawKinesisRecord, restoreData, userRecordsWithData, type KinesisRecord, type PendingRecord } from '../records.js';
import { DEFAULT_MAX_RECORD_SIZE, hashKeyToDecimal } from '../sharding/index.js';
import { RateLimiter, type RateLimiterOptions } from './rate-limiter.js';

/** Where a shard's records go once they leave its buffer. */
export interface ShardBufferOutput {
  /** A Kinesis record let through the rate limit, to be sent by `deadline`. */
  collect(record: KinesisRecord, deadline: number): void;
  /** A Kinesis record whose TTL ran out while the rate limit held it. */
  expire(record: KinesisRecord, t: number, message: string): void;
  /** Asks for a call of {@link ShardBuffer.due} no later than `deadline`. */
  wakeAt(deadline: number): void;
}

/** Options of a {@link ShardBuffer}. */
export interface ShardBufferOptions extends AggregatorOptions, RateLimiterOptions {
  /** Longest a record let out by the rate limit waits for others to share its request, in ms. */
  readonly releaseCoalesce: number;
}

/** Least time between two visits of a shard held back by its rate: its tokens come in small steps. */
const MIN_RATE_WAIT_MS = 5;
const byExpiry = (record: KinesisRecord): number => record.expiresAt;

/**
 * One shard's buffer. User records are aggregated ({@link aggregate}) into an envelope that leaves
 * when full or at the deadline of its oldest record; Kinesis records ({@link admit}) pass the
 * shard's rate limit at once or wait in a queue that lets them out in TTL order as the rate allows
 * ({@link due}), failing those whose TTL runs out there.
 */
export class ShardBuffer {
  readonly shardId: string;
  /** The shard map's version the buffer's predictions are made under: a range change since voids them. */
  readonly mapVersion: number;
  /** The shard's rate limit; told of its answers by the sender's outcomes. */
  readonly limiter: RateLimiter;
  readonly #aggregator: Aggregator<PendingRecord>;
  readonly #queue = new DeadlineQueue<KinesisRecord>(byExpiry);
  readonly #releaseCoalesce: number;
  readonly #out: ShardBufferOutput;
  /** The aggregator's first record while it holds only that one (its data not yet copied). */
  #first: PendingRecord | undefined;
  /** When the oldest record in the aggregator must leave. */
  #deadline = Infinity;
  /** User records in the Kinesis records the rate limit holds back (sampled as UserRecordsHeldByRateLimit). */
  #held = 0;

  /** @param t - The current time, in ms: the rate limit starts with a full second of tokens. */
  constructor(shardId: string, mapVersion: number, options: ShardBufferOptions, out: ShardBufferOutput, t: number) {
    this.shardId = shardId;
    this.mapVersion = mapVersion;
    this.limiter = new RateLimiter(options, t);
    this.#aggregator = new Aggregator<PendingRecord>(options);
    this.#releaseCoalesce = options.releaseCoalesce;
    this.#out = out;
  }

  /** Adds a user record to the shard's next envelope, which must leave by `deadline` at the latest. */
  aggregate(record: PendingRecord, deadline: number, t: number): void {
    if (record.data === IN_ENVELOPE) throw dataLeftInEnvelope(record);
    const aggregator = this.#aggregator;
    if (!aggregator.tryAdd(record)) {
      this.#flushAggregator(t);
      aggregator.tryAdd(record);
    }
    // The aggregator copies the first two records' data when the second joins, and each later
    // one's as it joins (a lone record is sent as it is): from then on the envelope has the bytes.
    const count = aggregator.count;
    if (count === 1) {
      this.#first = record;
    } else {
      if (count === 2) this.#first!.data = IN_ENVELOPE;
      record.data = IN_ENVELOPE;
    }
    if (deadline < this.#deadline) this.#deadline = deadline;
    if (aggregator.count >= aggregator.maxCount) this.#flushAggregator(t);
    else this.#out.wakeAt(this.#deadline);
  }

  /** Lets a Kinesis record through the shard's rate limit, or queues it behind the limit. */
  admit(record: KinesisRecord, t: number): void {
    const queue = this.#queue;
    if (queue.size === 0 && this.limiter.tryTake(record.size, t)) {
      this.#out.collect(record, record.bufferDeadline);
      return;
    }
    queue.push(record);
    this.#held += record.userRecords.length;
    this.#out.wakeAt(t + this.limiter.waitTime(queue.peek()!.size, t));
  }

  /** Moves on what is due at `t`; returns when the buffer next needs a visit (Infinity for never). */
  due(t: number): number {
    if (this.#queue.size > 0) this.#drainQueue(t);
    const head = this.#queue.peek();
    if (head !== undefined) {
      // While the shard's rate holds records back, its aggregator keeps filling: a fuller envelope
      // costs the shard's record budget no more than a smaller one.
      return Math.min(t + Math.max(MIN_RATE_WAIT_MS, this.limiter.waitTime(head.size, t)), head.expiresAt);
    }
    if (this.#deadline > t) return this.#deadline;
    this.#flushAggregator(t);
    return Infinity;
  }

  /** Closes the envelope being filled and lets out what the rate allows now. */
  flush(t: number): void {
    if (this.#aggregator.count > 0) this.#flushAggregator(t);
    this.#drainQueue(t);
  }

  /** User records held back by the shard's rate limit. */
  get heldUserRecords(): number {
    return this.#held;
  }

  /** Takes every user record the buffer holds (its shard closed: they need routing again). */
  takeAll(): PendingRecord[] {
    const { entries: records, data, aggregated } = this.#aggregator.drainUnsealed();
    if (aggregated) restoreData(records, data);
    this.#first = undefined;
    this.#deadline = Infinity;
    this.#held = 0;
    for (const queued of this.#queue.drain()) records.push(...userRecordsWithData(queued));
    return records;
  }

  /** Lets queued Kinesis records through as the shard's rate allows, earliest TTL first; fails expired ones. */
  #drainQueue(t: number): void {
    const queue = this.#queue;
    for (let head = queue.peek(); head !== undefined; head = queue.peek()) {
      if (head.expiresAt <= t) {
        queue.pop();
        this.#held -= head.userRecords.length;
        this.#out.expire(head, t, 'recordTtl ran out while waiting for the shard rate limit');
      } else if (this.limiter.tryTake(head.size, t)) {
        queue.pop();
        this.#held -= head.userRecords.length;
        // Records let out by the rate limits of many shards share requests if they wait a moment
        // for each other; sent at once, each would take a request (and a connection) of its own.
        this.#out.collect(head, t + this.#releaseCoalesce);
      } else break;
    }
  }

  /** Turns the aggregator into one Kinesis record (raw when it holds one user record) and admits it. */
  #flushAggregator(t: number): void {
    const bufferDeadline = this.#deadline;
    this.#deadline = Infinity;
    const { entries, data, aggregated, recordSizeBytes } = this.#aggregator.drainUnsealed();
    this.#first = undefined;
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
          predictedShardId: this.shardId,
          mapVersion: this.mapVersion,
          userRecords: entries,
          expiresAt,
          bufferDeadline,
          sealed: false,
        }
      : unaggregated(first, this.shardId, bufferDeadline, this.mapVersion);
    this.admit(record, t);
  }
}

/**
 * A user record sent alone on a stream that aggregates: raw, unless its data would pass for a KPL
 * envelope, which a KCL would unwrap into other records: that data goes in an envelope of its own
 * (raw after all when that envelope would not fit `maxRecordSize`; docs/format.md says so).
 */
export function unaggregated(
  record: PendingRecord,
  predictedShardId: string | undefined,
  bufferDeadline: number,
  mapVersion: number,
  maxRecordSize = DEFAULT_MAX_RECORD_SIZE,
): KinesisRecord {
  if (!looksLikeEnvelope(record.data)) return rawKinesisRecord(record, predictedShardId, bufferDeadline, mapVersion);
  const data = envelopeOfOne(record.partitionKey, record.explicitHashKey, record.data);
  if (data.length + 1 > maxRecordSize) return rawKinesisRecord(record, predictedShardId, bufferDeadline, mapVersion);
  return {
    data,
    partitionKey: AGGREGATED_PARTITION_KEY,
    explicitHashKey: record.explicitHashKey ?? hashKeyToDecimal(record.hashKey),
    size: data.length + 1,
    aggregated: true,
    predictedShardId,
    mapVersion,
    userRecords: [record],
    expiresAt: record.expiresAt,
    bufferDeadline,
    sealed: true,
  };
}
