/**
 * An object-mode Writable that puts each chunk to Kinesis: for `stream.pipeline()` from any source.
 */
import { Writable } from 'node:stream';
import type { UserRecord } from '../records.js';
import { Shipment, type ShippingOptions, type ShippingSummary } from './shipment.js';
import type { SinkProducer } from './submitter.js';

/** Options of {@link createWritable}. */
export interface WritableOptions<T = UserRecord> extends ShippingOptions<T> {
  /** Chunks the stream buffers before `write()` returns false (on top of what the producer holds). Default 16, as for any object-mode stream. */
  highWaterMark?: number;
}

/**
 * An object-mode `Writable` of user records (or of anything, with `toRecord`), which emits
 * `'failure'` `(record, error, chunk)` for every chunk not written.
 */
export interface RecordWritable extends Writable {
  /** How the chunks written so far ended; final once the stream has emitted `'finish'`. */
  readonly summary: ShippingSummary;
}

class ShippingWritable<T> extends Writable implements RecordWritable {
  readonly #shipment: Shipment<T>;

  constructor(producer: SinkProducer, options: WritableOptions<T>) {
    super({ objectMode: true, ...(options.highWaterMark !== undefined && { highWaterMark: options.highWaterMark }) });
    const onFailure = options.onFailure;
    this.#shipment = new Shipment(
      producer,
      {
        ...options,
        onFailure: (record, error, chunk) => {
          onFailure?.(record, error, chunk);
          this.emit('failure', record, error, chunk);
        },
      },
      (error) => this.destroy(error),
    );
  }

  get summary(): ShippingSummary {
    return this.#shipment.summary;
  }

  override _write(chunk: T, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#shipAll([chunk], 0, callback);
  }

  override _writev(chunks: { chunk: T }[], callback: (error?: Error | null) => void): void {
    this.#shipAll(
      chunks.map((entry) => entry.chunk),
      0,
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#shipment.settle().then(() => callback(this.#shipment.stopError), callback);
  }

  /** Ships `chunks` from `from` on; when the producer is full, waits for it and goes on from there. */
  #shipAll(chunks: readonly T[], from: number, callback: (error?: Error | null) => void): void {
    try {
      for (let i = from; i < chunks.length; i++) {
        if (this.destroyed) return callback(this.#shipment.stopError);
        const waiting = this.#shipment.ship(chunks[i]!);
        if (waiting !== undefined) {
          waiting.then(() => this.#shipAll(chunks, i + 1, callback), callback);
          return;
        }
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

/**
 * An object-mode `Writable` that puts every chunk through `producer`. A chunk is handed on as soon
 * as the producer takes it; when the producer is full the stream waits for room (so `write()`
 * returns false and `pipeline()` stops pulling) and never drops the chunk. `end()` flushes, and
 * `'finish'` comes once every record has settled. A chunk that fails (or is not a valid record) is
 * counted, given to `onFailure` and emitted as `'failure'`; it ends the stream only with
 * `stopOnFailure`.
 */
export function createWritable<T = UserRecord>(producer: SinkProducer, options: WritableOptions<T> = {}): RecordWritable {
  return new ShippingWritable(producer, options);
}
