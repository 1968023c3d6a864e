/**
 * The narrow interface the shipping entries (writable, putAll, the CLI, the pino transport) use to
 * hand records to a producer: one sink object per run instead of a promise per record.
 */
import { submit, type RecordSink, type UserRecord } from '../records.js';

/** Where a {@link RecordSubmitter} reports how each accepted record ended: the producer's {@link RecordSink}. */
export type SubmitSink = RecordSink;

/** What the shipping entries need of a producer (implemented by KinesisProducer; internal). */
export interface RecordSubmitter {
  /** Accepts the record or throws at once (ValidationError, BackpressureError, ProducerClosedError); later calls exactly one of sink's methods for it. */
  submit(record: UserRecord, sink: SubmitSink): void;
  /** Resolves when `submit()` may be called again without `BackpressureError`. Never rejects. */
  ready(): Promise<void>;
  /** Sends what is buffered now and resolves when every record submitted before has settled. Never rejects. */
  flush(): Promise<void>;
}

/** What {@link submitterOf} needs of a producer: its sink path, `ready()` and `flush()`. */
export interface SinkProducer {
  [submit](record: UserRecord, sink: RecordSink): void;
  ready(): Promise<void>;
  flush(): Promise<void>;
}

/** The producer as a {@link RecordSubmitter}, through its sink path (`producer[submit]`). */
export function submitterOf(producer: SinkProducer): RecordSubmitter {
  return {
    submit: (record, sink) => producer[submit](record, sink),
    ready: () => producer.ready(),
    flush: () => producer.flush(),
  };
}
