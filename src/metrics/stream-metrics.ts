/**
 * One stream's metrics: the figures its samples go to (its own, and its shards' at shard
 * granularity), and the samples of what happens to its Kinesis records and calls.
 */
import type { MetricsGranularity } from './catalogue.js';
import { Figures, type UserRecordState } from './figures.js';

/** What the samples read of a Kinesis record as sent (a `KinesisRecord` of src/records.ts). */
export interface SentRecord {
  readonly size: number;
  readonly predictedShardId: string | undefined;
  readonly userRecords: readonly UserRecordState[];
}

/**
 * One sampling of the gauges, added up over every shard of every stream for the coarser figures: the
 * records the rate limits hold (a total) and their rates (a mean over the shards).
 */
export interface GaugeTotals {
  heldUserRecords: number;
  rateLimitPercentSum: number;
  shards: number;
}

/** One stream's figures: its own, and its shards' at shard granularity. */
export class StreamMetrics {
  readonly streamName: string;
  /** Whether samples are wanted (the level is not `none`): the stages skip their samples otherwise. */
  readonly recording: boolean;
  /** User records put for the stream and not yet settled (sampled as UserRecordsPending). */
  pending = 0;
  /** The stream's own figures: the producer's at global granularity. */
  readonly figures: Figures;
  /** Each shard's figures; empty unless the granularity is `shard`. */
  readonly shards = new Map<string, Figures>();
  /** Whether the stream has figures of its own (granularity `stream` or `shard`). */
  readonly perStream: boolean;
  /** Whether each shard has figures of its own (granularity `shard`). */
  readonly perShard: boolean;
  readonly #shardOf: (hashKey: string) => string | undefined;

  /** @param shardOf - The shard a hash key is predicted for (undefined without a shard map). */
  constructor(streamName: string, recording: boolean, granularity: MetricsGranularity, figures: Figures, shardOf: (hashKey: string) => string | undefined) {
    this.streamName = streamName;
    this.recording = recording;
    this.figures = figures;
    this.perStream = granularity !== 'global';
    this.perShard = granularity === 'shard';
    this.#shardOf = shardOf;
  }

  /** The figures samples about `shardId` go to: the shard's at shard granularity, else the stream's. */
  shard(shardId: string | undefined): Figures {
    if (!this.perShard || shardId === undefined) return this.figures;
    let figures = this.shards.get(shardId);
    if (figures === undefined) this.shards.set(shardId, (figures = new Figures()));
    return figures;
  }

  /** The figures of the shard a hash key is predicted for (a record that failed names no shard). */
  shardOfHashKey(hashKey: string): Figures {
    return this.perShard ? this.shard(this.#shardOf(hashKey)) : this.figures;
  }

  /** A Kinesis record written to `shardId` by an attempt that started at `start`, and its user records. */
  delivered(record: SentRecord, shardId: string, start: number): void {
    if (!this.recording) return;
    const figures = this.shard(shardId);
    figures.stat.KinesisRecordsPut.add(1);
    figures.stat.KinesisRecordsDataPut.add(record.size);
    figures.stat.AllErrors.add(0);
    figures.written(record.userRecords, start);
  }

  /** A failed attempt of a Kinesis record, started at `start`, with error `code`. */
  attemptFailed(record: SentRecord, code: string, start: number): void {
    if (this.recording) this.shard(record.predictedShardId).attemptFailed(record.userRecords, code, start);
  }

  /** A PutRecords call of `batch` ran from `start` to `end` (answered or not). */
  requestEnded(batch: readonly SentRecord[], start: number, end: number): void {
    if (!this.recording) return;
    let users = 0;
    for (let i = 0; i < batch.length; i++) {
      const record = batch[i]!;
      users += record.userRecords.length;
      this.shard(record.predictedShardId).stat.UserRecordsPerKinesisRecord.add(record.userRecords.length);
    }
    const stat = this.figures.stat;
    stat.RequestTime.add(end - start);
    stat.KinesisRecordsPerPutRecordsRequest.add(batch.length);
    stat.UserRecordsPerPutRecordsRequest.add(users);
  }
}
