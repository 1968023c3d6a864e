/**
 * Gathers Kinesis records (envelopes or raw user records) bound for one stream into PutRecords
 * requests that keep within the service's limits.
 */
import { ValidationError } from '../errors.js';

/** What the collector needs to know of a Kinesis record. */
export interface CollectorEntry {
  /**
   * Bytes the service counts for the record: data plus the partition key's UTF-8 bytes. The request
   * limit counts partition keys the same way.
   */
  readonly size: number;
}

/** Options of a {@link Collector}. */
export interface CollectorOptions {
  /** Most records in one request (KPL: CollectionMaxCount, service limit 500). */
  readonly collectionMaxCount: number;
  /** Most bytes in one request, data and partition keys (KPL: CollectionMaxSize, default 5 MiB). */
  readonly collectionMaxSize: number;
}

/**
 * One PutRecords request being filled. `tryAdd` refuses a record that would break a limit; the
 * caller then sends what was collected (`drain`) and adds the record to the emptied collector.
 */
export class Collector<T extends CollectorEntry> {
  readonly #maxCount: number;
  #maxSize: number;
  #entries: T[] = [];
  #size = 0;

  constructor(options: CollectorOptions) {
    const { collectionMaxCount, collectionMaxSize } = options;
    if (!Number.isInteger(collectionMaxCount) || collectionMaxCount < 1 || collectionMaxCount > 500) {
      throw new ValidationError('collectionMaxCount', 'an integer in 1..500', `got ${collectionMaxCount}`);
    }
    this.#maxCount = collectionMaxCount;
    this.#maxSize = 0;
    this.maxSize = collectionMaxSize;
  }

  /** Most bytes in one request. Settable: streams that take records over 1 MiB take larger requests. */
  get maxSize(): number {
    return this.#maxSize;
  }

  set maxSize(collectionMaxSize: number) {
    if (!Number.isInteger(collectionMaxSize) || collectionMaxSize < 1) {
      throw new ValidationError('collectionMaxSize', 'a positive integer', `got ${collectionMaxSize}`);
    }
    this.#maxSize = collectionMaxSize;
  }

  /** Records collected so far. */
  get count(): number {
    return this.#entries.length;
  }

  /** Bytes collected so far, as the service counts them. */
  get sizeBytes(): number {
    return this.#size;
  }

  /** True when no further record can be added. */
  get full(): boolean {
    return this.#entries.length >= this.#maxCount;
  }

  /**
   * Adds the record if the request stays within both limits. An empty collector takes any record:
   * the producer's configuration guarantees that every record fits a request on its own.
   */
  tryAdd(entry: T): boolean {
    const count = this.#entries.length;
    if (count > 0 && (count >= this.#maxCount || this.#size + entry.size > this.#maxSize)) return false;
    this.#entries.push(entry);
    this.#size += entry.size;
    return true;
  }

  /** Takes the collected records, leaving the collector empty. */
  drain(): T[] {
    const entries = this.#entries;
    this.#entries = [];
    this.#size = 0;
    return entries;
  }
}
