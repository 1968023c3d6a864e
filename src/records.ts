/**
 * The records that flow through the pipeline: what users put ({@link UserRecord}), what they get
 * back ({@link PutResult}), and the two internal shapes every stage passes along — a user record
 * being delivered ({@link PendingRecord}) and a record as sent to Kinesis ({@link KinesisRecord}).
 */
import { recordData } from './aggregation/index.js';
import type { Attempt, UserRecordFailedError } from './errors.js';
import type { StreamMetrics } from './metrics/index.js';

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
  /**
   * The first attempt and the latest ones, at most {@link MAX_KEPT_ATTEMPTS}, the successful one
   * last: memory stays bounded however long a record is retried. `attemptCount` counts them all.
   * Frozen: records delivered at their first attempt together share one.
   */
  readonly attempts: readonly Attempt[];
  /** How many attempts it took, the successful one included. */
  readonly attemptCount: number;
}

/**
 * Attempts kept on a record: the first and the latest `MAX_KEPT_ATTEMPTS - 1`. A record retried
 * through a long outage would otherwise hold an attempt for every try until its TTL.
 */
export const MAX_KEPT_ATTEMPTS = 10;

/** Sends a user record on its way through its stream's buffers (again, after a failure). */
export interface RecordRouter {
  route(record: PendingRecord, t: number): void;
  /** The stream's metrics. */
  readonly metrics: StreamMetrics;
}

/**
 * A user record from `put()` until it settles; made by {@link newPendingRecord} only. A producer
 * holds tens of thousands of them, so each field here costs that many times over: no field is
 * kept that another one gives.
 */
export interface PendingRecord {
  readonly id: number;
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  /** The bytes to send, until they are in an envelope: {@link IN_ENVELOPE} from then on. */
  data: Uint8Array;
  /** Data plus partition key, in bytes: what the service counts. */
  readonly size: number;
  /** The record's hash key as 32 hex digits (a `HashKey` of src/sharding): what its shard is predicted from. */
  readonly hashKey: string;
  /** The stream's pipeline, which routes the record (and routes it again after a failure). */
  readonly stream: RecordRouter;
  /**
   * Arrival plus `recordTtl`: past it the record fails `Expired`. Exact, not whole ms: records that
   * arrived in the same ms still leave a rate-limit queue in the order they came.
   */
  readonly expiresAt: number;
  /**
   * When the record last started waiting, rounded down to a whole ms: arrival, or the end of its
   * last failed attempt. V8 keeps a small integer in the object itself but a fractional number in
   * a box of its own: one object more per record to allocate, and to copy at every garbage
   * collection while the record waits.
   */
  waitingSince: number;
  /** The attempts kept (see {@link addAttempt}); unallocated until the first attempt ends. */
  attempts: Attempt[] | undefined;
  /** Attempts made, kept or not. */
  attemptCount: number;
  /**
   * Where the outcome goes: the `resolve` of the promise `put()` returned (a failure resolves it
   * with a rejected promise, so that no record holds a `reject` function as well)…
   */
  resolve: ((result: PutResult | PromiseLike<PutResult>) => void) | undefined;
  /** …or a sink shared by many records (`putAll`, `writable`), told of the record as it was put. */
  sink: RecordSink | undefined;
  source: UserRecord | undefined;
  /** The next older and the next newer unsettled record: the producer's arrival-order list (src/outstanding.ts). */
  older: PendingRecord | undefined;
  newer: PendingRecord | undefined;
}

/**
 * A user record accepted at `arrivedAt`, its outcome not yet bound to a promise or a sink.
 *
 * One object literal, made here and nowhere else, rather than `new` of a class: V8 follows how
 * many objects of a literal survive a young-generation collection and, when nearly all do (a
 * record waits for its envelope, its rate limit and an answer), allocates the next ones straight
 * in the old generation. Scavenges then stop copying every record in flight twice on its way
 * there (at 100 B, their time fell by ~40 %). Instances of a class get no such tracking.
 */
export function newPendingRecord(
  id: number,
  valid: { readonly partitionKey: string; readonly explicitHashKey: string | undefined; readonly data: Uint8Array },
  size: number,
  hashKey: string,
  stream: RecordRouter,
  arrivedAt: number,
  recordTtl: number,
): PendingRecord {
  return {
    id,
    partitionKey: valid.partitionKey,
    explicitHashKey: valid.explicitHashKey,
    data: valid.data,
    size,
    hashKey,
    stream,
    expiresAt: arrivedAt + recordTtl,
    waitingSince: Math.floor(arrivedAt),
    attempts: undefined,
    attemptCount: 0,
    resolve: undefined,
    sink: undefined,
    source: undefined,
    older: undefined,
    newer: undefined,
  };
}

/**
 * The `data` of a user record once its bytes are copied into an envelope: the envelope is then
 * the only copy the producer keeps, so the caller's buffer (and the object around it) can go at
 * the next garbage collection instead of living as long as the record. {@link userRecordsWithData}
 * takes the bytes back from the envelope for a record that must be routed again.
 */
export const IN_ENVELOPE: Uint8Array = new Uint8Array(0);

/**
 * The user records of `record`, each with its data again (views into the envelope, for those
 * whose only copy was there): what must be done before routing them again.
 */
export function userRecordsWithData(record: KinesisRecord): PendingRecord[] {
  if (record.aggregated) restoreData(record.userRecords, record.data);
  return record.userRecords;
}

/** The error for a record about to be sent without its data: a shardline defect, which must never pass silently. */
export function dataLeftInEnvelope(record: PendingRecord): Error {
  return new Error(`shardline internal error: record ${record.id} was routed again with its data still only in an envelope`);
}

/** Gives back to each of `users` left with {@link IN_ENVELOPE} its data from `envelope`, where user `i` is record `i`. */
export function restoreData(users: readonly PendingRecord[], envelope: Uint8Array): void {
  let data: Uint8Array[] | undefined;
  for (let i = 0; i < users.length; i++) {
    const user = users[i]!;
    if (user.data !== IN_ENVELOPE) continue;
    if (data === undefined) {
      data = recordData(envelope);
      if (data.length !== users.length) throw new Error(`shardline internal error: an envelope of ${data.length} records for ${users.length} user records`);
    }
    user.data = data[i]!;
  }
}

/**
 * Where the outcomes of records put without a promise each go (the shipping entries). Exactly one
 * call per record, after it was accepted.
 */
export interface RecordSink {
  /** The record was written. */
  succeeded(record: UserRecord): void;
  /** The record failed: its error's code is the service's, or `Expired`. */
  failed(record: UserRecord, error: UserRecordFailedError): void;
}

/**
 * The producer's method that accepts a record for a {@link RecordSink} instead of returning a
 * promise: `producer[submit](record, sink)` throws at once what `put()` would reject with at once
 * (ValidationError, BackpressureError, ProducerClosedError). A symbol, not a public method: it is
 * for the shipping entries, which hand users a summary rather than a promise per record.
 */
export const submit: unique symbol = Symbol('shardline.submit');

/** One record as sent to Kinesis: an envelope or a raw user record. */
export interface KinesisRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  readonly size: number;
  readonly aggregated: boolean;
  /** The shard the record is predicted for; undefined when sent without a prediction. */
  readonly predictedShardId: string | undefined;
  /** The shard map's version the prediction was made under (0 without a prediction). */
  readonly mapVersion: number;
  readonly userRecords: PendingRecord[];
  /** The earliest `expiresAt` of its user records: the order it leaves a rate-limit queue in. */
  readonly expiresAt: number;
  /** When it must leave the buffers (the earliest buffering deadline of its user records). */
  bufferDeadline: number;
  /**
   * False while `data` is an envelope whose MD5 trailer is not yet written: the sender writes it
   * (`sealEnvelope`) before the record's first PutRecords call, in slices, rather than the
   * `put()` that filled the envelope. Its records can be read back before (`restoreData`).
   */
  sealed: boolean;
}

/** A user record sent as it is, not aggregated. */
export function rawKinesisRecord(record: PendingRecord, predictedShardId: string | undefined, bufferDeadline: number, mapVersion = 0): KinesisRecord {
  if (record.data === IN_ENVELOPE) throw dataLeftInEnvelope(record);
  return {
    data: record.data,
    partitionKey: record.partitionKey,
    explicitHashKey: record.explicitHashKey,
    size: record.size,
    aggregated: false,
    predictedShardId,
    mapVersion,
    userRecords: [record],
    expiresAt: record.expiresAt,
    bufferDeadline,
    sealed: true,
  };
}

/** Records an attempt on a user record, keeping the first and the latest; returns the attempts kept. */
export function addAttempt(record: PendingRecord, attempt: Attempt): Attempt[] {
  record.attemptCount++;
  const attempts = record.attempts;
  if (attempts === undefined) return (record.attempts = [attempt]);
  if (attempts.length >= MAX_KEPT_ATTEMPTS) attempts.splice(1, 1);
  attempts.push(attempt);
  return attempts;
}
