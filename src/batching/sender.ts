/**
 * The sender: one PutRecords call for a batch of Kinesis records, and an outcome for each record
 * from its answer.
 */
import type { PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import type { KinesisClientLike } from '../client.js';
import PQueue from 'p-queue';
import type { Counters } from '../metrics/index.js';
import { sealEnvelopes } from '../aggregation/index.js';
import type { KinesisRecord } from '../records.js';
import { classifyEntryError, classifyRequestError, type Failure } from '../retry/index.js';
import { withDeadline } from '../deadline.js';
import { now } from '../scheduler.js';
import { runInSlices } from '../slices.js';
import { BodyPool } from './body-pool.js';
import { createPutRecordsCommand } from './put-records-request.js';

/** User records settled in one step of an answer (src/slices.ts): a ms or two. */
const SETTLE_STEP = 1024;
/**
 * Envelopes sealed in one step (src/slices.ts), and their bytes at most: two passes of four
 * envelopes at a time (src/aggregation/md5-lanes.ts), ~1.3 GB/s, under half a ms.
 */
const SEAL_STEP_ENVELOPES = 8;
const SEAL_STEP_BYTES = 512 * 1024;

/** The stream a batch is for, as PutRecords names it. */
export interface SendTarget {
  readonly streamName: string | undefined;
  readonly streamARN: string | undefined;
}

/**
 * What the answer said of each Kinesis record of a batch: exactly one of `succeeded`,
 * `wrongShard`, `failed` or `expired` per record, except that a record of a request refused as
 * invalid is `attempted` and sent again in a smaller request. `start` and `end` bound the attempt.
 */
export interface SendOutcomes {
  /** Written where it was predicted to go (or sent without a prediction). */
  succeeded(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void;
  /** Written, but in a shard other than the predicted one: the shard map is stale. */
  wrongShard(record: KinesisRecord, shardId: string, sequenceNumber: string, start: number, end: number): void;
  /** Not written: the entry's error, or the whole request's. */
  failed(record: KinesisRecord, failure: Failure, start: number, end: number): void;
  /** A failed attempt that decided nothing: the request was refused as invalid and is being split. */
  attempted(record: KinesisRecord, failure: Failure, start: number, end: number): void;
  /** The record's TTL ran out while it waited to be sent; `t` is now. */
  expired(record: KinesisRecord, t: number, message: string): void;
  /** The stream refused a request as invalid: its limits may have changed. */
  invalidRequest(): void;
  /** A PutRecords call of `batch` ended (answered or not), before its records' outcomes are reported. */
  requestEnded(batch: readonly KinesisRecord[], start: number, end: number): void;
}

/** Options of a {@link Sender}. */
export interface SenderOptions {
  readonly client: KinesisClientLike;
  /** PutRecords calls in flight at once (KPL: MaxConnections). */
  readonly maxConnections: number;
  /** Time allowed for one call before it is aborted and counted as failed (KPL: RequestTimeout), in ms. */
  readonly requestTimeout: number;
  readonly counters: Counters;
}

/**
 * Sends PutRecords calls, at most `maxConnections` at once, each aborted after `requestTimeout`,
 * and reports every record's outcome. A request refused as invalid is split in halves and sent
 * again, so that one bad record fails alone.
 */
export class Sender {
  readonly #client: KinesisClientLike;
  readonly #queue: PQueue;
  readonly #requestTimeout: number;
  readonly #counters: Counters;
  readonly #bodies = new BodyPool();

  constructor(options: SenderOptions) {
    this.#client = options.client;
    this.#queue = new PQueue({ concurrency: options.maxConnections });
    this.#requestTimeout = options.requestTimeout;
    this.#counters = options.counters;
  }

  /** PutRecords calls being sent now. */
  get inFlight(): number {
    return this.#queue.pending;
  }

  /** Resolves when no call is queued or in flight. */
  onIdle(): Promise<void> {
    return this.#queue.onIdle();
  }

  /** Releases the memory kept for request bodies (the producer is closing). */
  close(): void {
    this.#bodies.clear();
  }

  /** Queues one PutRecords call for `batch`; its records' outcomes go to `outcomes`. */
  send(target: SendTarget, batch: KinesisRecord[], outcomes: SendOutcomes): void {
    if (batch.length === 0) return;
    this.#queue.add(() => this.#send(target, batch, outcomes)).catch((error: unknown) => {
      // #send gives every record a verdict before anything can throw; this is a defect of ours, said loudly.
      process.emitWarning(`shardline: sending a PutRecords call failed unexpectedly: ${String(error)}`, { code: 'SHARDLINE_INTERNAL' });
    });
  }

  async #send(target: SendTarget, batch: KinesisRecord[], outcomes: SendOutcomes): Promise<void> {
    const start = now();
    const live = dropExpired(batch, start, outcomes);
    if (live.length === 0) return;
    const entries = new Array<{ Data: Uint8Array; PartitionKey: string; ExplicitHashKey: string | undefined }>(live.length);
    let earliestExpiry = Infinity;
    for (let i = 0; i < live.length; i++) {
      const r = live[i]!;
      entries[i] = { Data: r.data, PartitionKey: r.partitionKey, ExplicitHashKey: r.explicitHashKey };
      if (r.expiresAt < earliestExpiry) earliestExpiry = r.expiresAt;
    }
    this.#counters.putRecordsRequests++;
    const command = createPutRecordsCommand({ StreamName: target.streamName, StreamARN: target.streamARN, Records: entries }, this.#bodies);
    let output: { Records?: unknown } | undefined;
    let deadline = this.#requestTimeout;
    try {
      const sealing = sealBatch(live);
      if (sealing !== undefined) await sealing;
      // No attempt outlives a record's TTL: the call is cut at the earliest one, so an endpoint that
      // hangs costs a record its recordTtl, not recordTtl + requestTimeout.
      deadline = Math.min(deadline, Math.max(1, Math.ceil(earliestExpiry - now())));
      output = await withDeadline('PutRecords', deadline, undefined, (abortSignal) => this.#client.send(command, { abortSignal }), false);
    } catch (error) {
      const end = now();
      outcomes.requestEnded(live, start, end);
      const failure = classifyRequestError(error);
      const cutByTtl = failure.code === 'RequestTimeout' && deadline < this.#requestTimeout;
      this.#onRequestFailed(
        target,
        live,
        cutByTtl ? { ...failure, message: 'no answer before the recordTtl of a record in the request ran out' } : failure,
        start,
        end,
        outcomes,
      );
      return;
    }
    const end = now();
    outcomes.requestEnded(live, start, end);
    const answer = output?.Records;
    if (!Array.isArray(answer) || answer.length !== live.length) {
      const got = Array.isArray(answer) ? `${answer.length} entries` : 'no list of entries';
      const failure = invalidResponse(`PutRecords answered ${got} for ${live.length} records`);
      for (const record of live) outcomes.failed(record, failure, start, end);
      return;
    }
    // Settling tens of thousands of user records at once would hold the event loop for tens of
    // ms: the answer is reported in steps, with timers and I/O running between turns.
    let i = 0;
    const reportSome = (): boolean => {
      for (let settled = 0; i < live.length && settled < SETTLE_STEP; i++) {
        const record = live[i]!;
        reportEntry(record, answer[i], start, end, outcomes);
        settled += record.userRecords.length;
      }
      return i === live.length;
    };
    try {
      await runInSlices(reportSome);
    } catch (error) {
      // Whatever went wrong with this entry, it and the ones after it still need a verdict: they
      // are failed (and so retried), never left unsettled.
      const failure = invalidResponse(`handling the answer failed: ${String(error)}`);
      for (; i < live.length; i++) outcomes.failed(live[i]!, failure, start, end);
    }
  }

  #onRequestFailed(target: SendTarget, batch: KinesisRecord[], failure: Failure, start: number, end: number, outcomes: SendOutcomes): void {
    if (failure.kind === 'invalid') {
      outcomes.invalidRequest();
      if (batch.length > 1) {
        // Split the request to find the record the service refuses; the others go through.
        const half = batch.length >>> 1;
        for (const record of batch) outcomes.attempted(record, failure, start, end);
        this.send(target, batch.slice(0, half), outcomes);
        this.send(target, batch.slice(half), outcomes);
        return;
      }
    }
    for (const record of batch) outcomes.failed(record, failure, start, end);
  }
}

function invalidResponse(message: string): Failure {
  return { kind: 'transient', code: 'InvalidResponse', message };
}

/** Reports one record's outcome from its answer entry; a malformed entry is an `InvalidResponse` failure. */
function reportEntry(record: KinesisRecord, entry: unknown, start: number, end: number, outcomes: SendOutcomes): void {
  if (typeof entry !== 'object' || entry === null) {
    outcomes.failed(record, invalidResponse(`answer entry is ${entry === null ? 'null' : typeof entry}`), start, end);
    return;
  }
  // kinesis-local answers null for absent fields.
  const { ErrorCode: code, ErrorMessage: message, ShardId: shardId, SequenceNumber: sequenceNumber } = entry as PutRecordsResultEntry;
  if (code != null) {
    const failure: Failure =
      typeof code === 'string'
        ? { kind: classifyEntryError(code), code, message: typeof message === 'string' ? message : '' }
        : invalidResponse('answer entry with a non-string ErrorCode');
    outcomes.failed(record, failure, start, end);
  } else if (typeof shardId !== 'string' || shardId === '' || typeof sequenceNumber !== 'string' || sequenceNumber === '') {
    outcomes.failed(record, invalidResponse('answer entry without ShardId and SequenceNumber'), start, end);
  } else if (record.predictedShardId !== undefined && record.predictedShardId !== shardId) {
    outcomes.wrongShard(record, shardId, sequenceNumber, start, end);
  } else {
    outcomes.succeeded(record, shardId, sequenceNumber, start, end);
  }
}

/**
 * Writes the MD5 trailer of each envelope of `batch` not yet sealed, a slice at a time over turns
 * of the event loop (src/slices.ts); undefined when every one is sealed (a retry, raw records).
 */
function sealBatch(batch: readonly KinesisRecord[]): Promise<void> | undefined {
  let i = 0;
  while (i < batch.length && batch[i]!.sealed) i++;
  if (i === batch.length) return undefined;
  return runInSlices(() => {
    const step: KinesisRecord[] = [];
    for (let hashed = 0; i < batch.length && hashed < SEAL_STEP_BYTES && step.length < SEAL_STEP_ENVELOPES; i++) {
      const record = batch[i]!;
      if (record.sealed) continue;
      step.push(record);
      hashed += record.data.byteLength;
    }
    sealEnvelopes(step.map((record) => record.data));
    for (const record of step) record.sealed = true;
    return i === batch.length;
  });
}

/** Reports records whose TTL ran out while they waited to be sent; returns the ones still worth sending. */
function dropExpired(batch: KinesisRecord[], t: number, outcomes: SendOutcomes): KinesisRecord[] {
  let live: KinesisRecord[] | undefined;
  for (let i = 0; i < batch.length; i++) {
    const record = batch[i]!;
    if (record.expiresAt > t) {
      live?.push(record);
      continue;
    }
    live ??= batch.slice(0, i);
    outcomes.expired(record, t, 'recordTtl ran out while the record waited to be sent');
  }
  return live ?? batch;
}
