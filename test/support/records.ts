/**
 * Pending and Kinesis records for the stages' unit tests, built as the producer builds them.
 */
import { hashKeyOfPartitionKey } from '../../src/sharding/index.js';
import { rawKinesisRecord, type KinesisRecord, type PendingRecord, type PutResult, type RecordRouter } from '../../src/records.js';

/** A pending record whose settlement and routing are recorded on it. */
export interface TestRecord extends PendingRecord {
  readonly settled: { result?: PutResult; error?: Error }[];
  readonly routedAt: number[];
}

/** A router that records every route on the record itself. */
export const recordingRouter: RecordRouter = {
  route(record, t) {
    (record as TestRecord).routedAt.push(t);
  },
};

let nextId = 1;

/** A user record of `size` bytes of data arrived at `arrivedAt` with `ttl` ms to live. */
export function pendingRecord(options: { partitionKey?: string; size?: number; arrivedAt?: number; ttl?: number; stream?: RecordRouter } = {}): TestRecord {
  const partitionKey = options.partitionKey ?? `key-${nextId}`;
  const arrivedAt = options.arrivedAt ?? 0;
  const data = new Uint8Array(options.size ?? 10);
  const settled: TestRecord['settled'] = [];
  return {
    id: nextId++,
    partitionKey,
    explicitHashKey: undefined,
    data,
    size: data.length + Buffer.byteLength(partitionKey),
    hashKey: hashKeyOfPartitionKey(partitionKey),
    stream: options.stream ?? recordingRouter,
    arrivedAt,
    expiresAt: arrivedAt + (options.ttl ?? 30_000),
    waitingSince: arrivedAt,
    attempts: undefined,
    attemptCount: 0,
    resolve: (result) => settled.push({ result }),
    reject: (error) => settled.push({ error }),
    settled,
    routedAt: [],
  };
}

/** A raw Kinesis record carrying one new pending record. */
export function kinesisRecord(options: Parameters<typeof pendingRecord>[0] & { predictedShardId?: string } = {}): KinesisRecord {
  return rawKinesisRecord(pendingRecord(options), options.predictedShardId, Infinity);
}
