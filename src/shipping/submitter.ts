/**
 * What the shipping entries (writable, putAll, the CLI, the pino transport) need of a producer: its
 * sink path, one sink object per run instead of a promise per record.
 */
import type { RecordSink, UserRecord, submit } from '../records.js';

/** A producer as the shipping entries use it (KinesisProducer). */
export interface SinkProducer {
  /**
   * Accepts the record or throws at once (ValidationError, BackpressureError,
   * ProducerClosedError); later calls exactly one of the sink's methods for it.
   */
  [submit](record: UserRecord, sink: RecordSink): void;
  /** Resolves when a record may be submitted again without `BackpressureError`. Never rejects. */
  ready(): Promise<void>;
  /** Sends what is buffered now and resolves when every record submitted before has settled. Never rejects. */
  flush(): Promise<void>;
}
