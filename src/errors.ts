/**
 * Every error shardline raises is a {@link ShardlineError}: it has a stable `code` and says whether
 * trying the same thing again can succeed (`retriable`).
 */
export class ShardlineError extends Error {
  /** A stable, machine-readable code (for service errors, the service's own code). */
  readonly code: string;
  /** Whether the same operation may succeed if tried again. */
  readonly retriable: boolean;

  constructor(message: string, code: string, retriable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.retriable = retriable;
  }
}

/**
 * Bad input: a user record, a stream reference or a configuration option breaks a limit.
 * Raised before anything is buffered; never retriable.
 */
export class ValidationError extends ShardlineError {
  /** The offending field, e.g. `partitionKey`, `data`, `explicitHashKey`, `aggregationMaxSize`. */
  readonly field: string;
  /** The limit that was broken, in words a person can act on, e.g. `1..256 UTF-16 code units`. */
  readonly limit: string;

  constructor(field: string, limit: string, detail: string) {
    super(`${field}: ${detail} (limit: ${limit})`, 'ValidationError', false);
    this.field = field;
    this.limit = limit;
  }
}

/** Bytes that claim to be a KPL aggregated record but cannot be read as one. */
export class DecodeError extends ShardlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'DecodeError', false, options);
  }
}

/** One attempt to deliver a user record, as recorded in results and failures. */
export interface Attempt {
  /** How long the record waited (buffering or backoff) before this attempt was sent, in ms. */
  readonly delayMs: number;
  /** How long the attempt took, from sending the request to its answer, in ms. */
  readonly durationMs: number;
  /** Whether this attempt delivered the record. */
  readonly success: boolean;
  /** The service's error code, or one of shardline's (`Expired`, `RequestTimeout`, `NetworkError`, …). */
  readonly errorCode?: string;
  /** The error's message, when there is one. */
  readonly errorMessage?: string;
}

/**
 * A user record that could not be delivered. Its `code` is the last error's code (`Expired` when
 * `recordTtl` ran out); `attempts` holds the first and the latest tries and `attemptCount` counts
 * them all. The record's data is never put in the message.
 */
export class UserRecordFailedError extends ShardlineError {
  /** The code of the error that ended the record: the service's, or `Expired`. */
  readonly errorCode: string;
  /** The first attempt and the latest ones (at most 10), oldest first; frozen. */
  readonly attempts: readonly Attempt[];
  /** How many attempts were made, kept in `attempts` or not. */
  readonly attemptCount: number;
  /** The partition key of the failed record. */
  readonly partitionKey: string;

  constructor(errorCode: string, message: string, partitionKey: string, attempts: readonly Attempt[], attemptCount = attempts.length) {
    super(
      `record with partition key ${JSON.stringify(partitionKey)} failed after ${attemptCount} attempt(s): ${errorCode}: ${message}`,
      errorCode,
      false,
    );
    this.errorCode = errorCode;
    this.attempts = attempts;
    this.attemptCount = attemptCount;
    this.partitionKey = partitionKey;
  }
}

/** `put()` was called after `close()`. */
export class ProducerClosedError extends ShardlineError {
  constructor() {
    super('the producer is closed', 'ProducerClosed', false);
  }
}

/**
 * `put()` refused a record because the producer already holds `maxOutstandingRecords` records or
 * the record would take it past `maxOutstandingBytes`. Nothing was buffered; `await
 * producer.ready()` and put it again.
 */
export class BackpressureError extends ShardlineError {
  /** The bound that was reached: `maxOutstandingRecords` or `maxOutstandingBytes`. */
  readonly limit: 'maxOutstandingRecords' | 'maxOutstandingBytes';

  constructor(limit: 'maxOutstandingRecords' | 'maxOutstandingBytes', value: number) {
    super(`the producer holds as much as ${limit} (${value}) allows; await ready() before putting more`, 'Backpressure', true);
    this.limit = limit;
  }
}
