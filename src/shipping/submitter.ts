/**
 * The narrow interface the shipping entries (writable, putAll, the CLI, the pino transport) use to
 * hand records to a producer: one sink object per run instead of a promise per record, so a
 * producer can later accept records on a fast path without allocating for each.
 */
import { BackpressureError, UserRecordFailedError } from '../errors.js';
import type { KinesisProducer, PutResult, UserRecord } from '../producer.js';

/** What the shipping entries need of a producer (implemented by KinesisProducer; internal). */
export interface RecordSubmitter {
  /** Accepts the record or throws at once (ValidationError, BackpressureError, ProducerClosedError); later calls exactly one of sink's methods for it. */
  submit(record: UserRecord, sink: SubmitSink): void;
  /** Resolves when `submit()` may be called again without `BackpressureError`. Never rejects. */
  ready(): Promise<void>;
  /** Sends what is buffered now and resolves when every record submitted before has settled. Never rejects. */
  flush(): Promise<void>;
}

/** Where a {@link RecordSubmitter} reports how each accepted record ended. */
export interface SubmitSink {
  /** The record was written. */
  succeeded(record: UserRecord, result: PutResult): void;
  /** The record could not be written. */
  failed(record: UserRecord, error: UserRecordFailedError): void;
}

/**
 * A {@link RecordSubmitter} over the producer's public `put()`, until the producer implements the
 * interface itself. `put()` reports a refusal only through its promise, which cannot be read at
 * once, so the producer's counters tell: a record that did not join the outstanding ones, while the
 * backpressure rejections grew, was refused for backpressure and is thrown as
 * {@link BackpressureError} (its limit is unknown here; only the shipping code sees it, to wait for
 * `ready()`). Any other refusal (a bad record, a closed producer) reaches the sink as a failure
 * carrying the refusal's code, since its exact error only arrives later.
 */
export function submitterOf(producer: KinesisProducer): RecordSubmitter {
  // Read only when a record did not join the outstanding ones: the metrics snapshot costs
  // microseconds, the outstanding count nothing. Another caller's rejections can make this stale;
  // then one refusal is taken for backpressure, waited out and tried again, which corrects it.
  let rejections = producer.metrics.backpressureRejections;
  return {
    submit(record, sink) {
      const held = producer.outstandingRecords;
      const result = producer.put(record);
      if (producer.outstandingRecords === held) {
        const now = producer.metrics.backpressureRejections;
        if (now !== rejections) {
          rejections = now;
          result.catch(() => undefined);
          throw new BackpressureError('maxOutstandingRecords', held);
        }
      }
      result.then(
        (put) => sink.succeeded(record, put),
        (error: unknown) => sink.failed(record, asRecordFailure(record, error)),
      );
    },
    ready: () => producer.ready(),
    flush: () => producer.flush(),
  };
}

function asRecordFailure(record: UserRecord, error: unknown): UserRecordFailedError {
  if (error instanceof UserRecordFailedError) return error;
  const code = (error as { code?: unknown }).code;
  const partitionKey = typeof record.partitionKey === 'string' ? record.partitionKey : '';
  return new UserRecordFailedError(typeof code === 'string' ? code : 'Error', String((error as Error).message ?? error), partitionKey, []);
}
