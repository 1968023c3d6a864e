/**
 * What the writable and putAll share: turning chunks into records, submitting them with
 * backpressure (a full producer is waited for, never a reason to drop a chunk), tallying how each
 * ended, and waiting for every submitted record to settle.
 */
import { BackpressureError, ValidationError, type UserRecordFailedError } from '../errors.js';
import { submit, type RecordSink, type UserRecord } from '../records.js';
import type { SinkProducer } from './submitter.js';

/** Why a chunk was not written: the producer gave up on it, or it was not a valid record. */
export type ShippingFailure = UserRecordFailedError | ValidationError;

/** How a run of records ended (so far, while it lasts). */
export interface ShippingSummary {
  /** Records written. */
  readonly put: number;
  /** Chunks not written: records that failed, and chunks that were not valid records. */
  readonly failed: number;
  /** Those failures by error code (`ValidationError`, `Expired`, a service code…). */
  readonly failedByCode: Readonly<Record<string, number>>;
}

/** Options the writable and putAll share. `T` is the type of the chunks. */
export interface ShippingOptions<T = UserRecord> {
  /** Turns a chunk into a user record; without it chunks must be user records. A `ValidationError` it throws is that chunk's failure. */
  toRecord?: (chunk: T) => UserRecord;
  /**
   * Called for every chunk not written, once, with its record and error. `record` is undefined
   * when `toRecord` refused the chunk; `chunk` is given then (and only then). An exception thrown
   * here ends the run as `stopOnFailure` does.
   */
  onFailure?: (record: UserRecord | undefined, error: ShippingFailure, chunk: T | undefined) => void;
  /** End the run at the first failure (the writable is destroyed with it, putAll rejects with it). Default false: failures are counted and reported, and the run goes on. */
  stopOnFailure?: boolean;
}

/** One run of records through a producer's sink path, with its tally. Also the sink its records report to. */
export class Shipment<T> implements RecordSink {
  readonly #producer: SinkProducer;
  readonly #toRecord: ((chunk: T) => UserRecord) | undefined;
  readonly #onFailure: ShippingOptions<T>['onFailure'];
  readonly #stopOnFailure: boolean;
  readonly #onStop: (error: Error) => void;
  #put = 0;
  #failed = 0;
  readonly #failedByCode = new Map<string, number>();
  #submitted = 0;
  #settled = 0;
  #whenSettled: (() => void) | undefined;
  #stopError: Error | undefined;

  /** `onStop` is called once, with the error that ends the run (see `stopOnFailure`). */
  constructor(producer: SinkProducer, options: ShippingOptions<T>, onStop: (error: Error) => void) {
    this.#producer = producer;
    this.#toRecord = options.toRecord;
    this.#onFailure = options.onFailure;
    this.#stopOnFailure = options.stopOnFailure ?? false;
    this.#onStop = onStop;
  }

  /** The error that ended the run, when one did. */
  get stopError(): Error | undefined {
    return this.#stopError;
  }

  /** The tally so far. */
  get summary(): ShippingSummary {
    return { put: this.#put, failed: this.#failed, failedByCode: Object.fromEntries(this.#failedByCode) };
  }

  /**
   * Submits one chunk. Returns undefined when the producer took it (or it failed validation), and
   * a promise only when the producer was full: it resolves once the producer has taken the chunk.
   * Throws (or rejects with) what is not the chunk's own fault, e.g. `ProducerClosedError`.
   */
  ship(chunk: T): Promise<void> | undefined {
    let record: UserRecord;
    try {
      record = this.#toRecord === undefined ? (chunk as UserRecord) : this.#toRecord(chunk);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      this.#fail(undefined, error, chunk);
      return undefined;
    }
    return this.#trySubmit(record) ? undefined : this.#submitWhenReady(record);
  }

  /** Hurries the producer, then resolves when every record submitted so far has settled. */
  async settle(): Promise<void> {
    await this.#producer.flush();
    // The sink hears of a record after the producer settles it, so flush() alone may resolve first.
    while (this.#settled < this.#submitted) await new Promise<void>((resolve) => (this.#whenSettled = resolve));
  }

  /** Counts the record written. */
  succeeded(_record: UserRecord): void {
    this.#put++;
    this.#settledOne();
  }

  /** Counts and reports the record's failure. */
  failed(record: UserRecord, error: UserRecordFailedError): void {
    this.#fail(record, error, undefined);
    this.#settledOne();
  }

  /** False when the producer is full; true when it took the record, or refused it as invalid (a failure). */
  #trySubmit(record: UserRecord): boolean {
    try {
      this.#producer[submit](record, this);
      this.#submitted++;
    } catch (error) {
      if (error instanceof BackpressureError) return false;
      if (!(error instanceof ValidationError)) throw error;
      this.#fail(record, error, undefined);
    }
    return true;
  }

  async #submitWhenReady(record: UserRecord): Promise<void> {
    do await this.#producer.ready();
    while (!this.#trySubmit(record));
  }

  #settledOne(): void {
    this.#settled++;
    if (this.#settled === this.#submitted && this.#whenSettled !== undefined) {
      const resolve = this.#whenSettled;
      this.#whenSettled = undefined;
      resolve();
    }
  }

  #fail(record: UserRecord | undefined, error: ShippingFailure, chunk: T | undefined): void {
    this.#failed++;
    this.#failedByCode.set(error.code, (this.#failedByCode.get(error.code) ?? 0) + 1);
    try {
      this.#onFailure?.(record, error, chunk);
      if (this.#stopOnFailure) this.#stop(error);
    } catch (thrown) {
      this.#stop(thrown instanceof Error ? thrown : new Error(String(thrown)));
    }
  }

  #stop(error: Error): void {
    if (this.#stopError !== undefined) return;
    this.#stopError = error;
    this.#onStop(error);
  }
}
