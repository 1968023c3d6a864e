/**
 * Pending and Kinesis records for the stages' unit tests, built as the producer builds them.
 */
import { Figures, StreamMetrics } from '../../src/metrics/index.js';
import { hashKeyOfPartitionKey } from '../../src/sharding/index.js';
import { newPendingRecord, rawKinesisRecord, type PendingRecord, type KinesisRecord, type PutResult, type RecordRouter } from '../../src/records.js';

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
  metrics: new StreamMetrics('test', false, 'global', new Figures(), () => undefined),
};

let nextId = 1;

/** A user record of `data` (default: `size` zero bytes) arrived at `arrivedAt` with `ttl` ms to live. */
export function pendingRecord(options: { partitionKey?: string; size?: number; data?: Uint8Array; arrivedAt?: number; ttl?: number; stream?: RecordRouter } = {}): TestRecord {
  const id = nextId++;
  const partitionKey = options.partitionKey ?? `key-${id}`;
  const data = options.data ?? new Uint8Array(options.size ?? 10);
  const size = data.length + Buffer.byteLength(partitionKey);
  const base = newPendingRecord(id, { partitionKey, explicitHashKey: undefined, data }, size, hashKeyOfPartitionKey(partitionKey), options.stream ?? recordingRouter, options.arrivedAt ?? 0, options.ttl ?? 30_000);
  const settled: TestRecord['settled'] = [];
  return Object.assign(base, {
    resolve: (result: PutResult | PromiseLike<PutResult>) => {
      if ('then' in result) result.then(undefined, (error: Error) => settled.push({ error }));
      else settled.push({ result });
    },
    settled,
    routedAt: [] as number[],
  });
}

/** A raw Kinesis record carrying one new pending record. */
export function kinesisRecord(options: Parameters<typeof pendingRecord>[0] & { predictedShardId?: string } = {}): KinesisRecord {
  return rawKinesisRecord(pendingRecord(options), options.predictedShardId, Infinity);
}
