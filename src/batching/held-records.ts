/**
 * Records put while their stream is first being learned (its capabilities and shard map): held, so
 * that they can be aggregated and held to their shards' rates once it is known, rather than sent
 * raw at once. The wait is bounded (the stream's router gives each record a time to go on by,
 * learned or not), and a record whose `recordTtl` runs out while it waits fails then.
 */
import type { PendingRecord } from '../records.js';
import { now } from '../scheduler.js';

/** Where held records go. */
export interface HeldRecordsOutput {
  /** Records whose wait is over without the stream learned: they go on as they are, at `t`. */
  release(records: readonly PendingRecord[], t: number): void;
  /** A record whose `recordTtl` ran out while it waited. */
  expire(record: PendingRecord): void;
  /** Asks for a call of {@link HeldRecords.due} no later than `deadline`. */
  wakeAt(deadline: number): void;
}

/** The records one stream holds while it is being learned, and when each must go on. */
export class HeldRecords {
  readonly #out: HeldRecordsOutput;
  #records: PendingRecord[] = [];
  /** When the records must go on, learned or not. */
  #until = Infinity;
  /** The earliest `expiresAt` of the records. */
  #expiry = Infinity;
  #releaseScheduled = false;

  constructor(out: HeldRecordsOutput) {
    this.#out = out;
  }

  /** Holds `record` until `until` at the latest. */
  hold(record: PendingRecord, until: number): void {
    this.#records.push(record);
    if (until < this.#until) this.#until = until;
    if (record.expiresAt < this.#expiry) this.#expiry = record.expiresAt;
    this.#out.wakeAt(this.#next);
  }

  /** Takes back every record held (the stream is known: they are routed now). */
  takeAll(): PendingRecord[] {
    const records = this.#records;
    this.#records = [];
    this.#until = Infinity;
    this.#expiry = Infinity;
    return records;
  }

  /** Lets every record held go on now, as it is. */
  release(t: number): void {
    if (this.#records.length > 0) this.#out.release(this.takeAll(), t);
  }

  /**
   * Moves on what is due at `t`: fails the records whose TTL has run out and, once the wait is over,
   * releases the rest. Returns when it next needs a visit (Infinity for never).
   */
  due(t: number): number {
    if (this.#until <= t) {
      this.#releaseAfterIo();
      return Infinity;
    }
    // A record's TTL may run out before the wait does (recordTtl below requestTimeout).
    if (this.#expiry <= t) this.#expire(t);
    return this.#next;
  }

  get #next(): number {
    return Math.min(this.#until, this.#expiry);
  }

  #expire(t: number): void {
    const kept: PendingRecord[] = [];
    let expiry = Infinity;
    for (const record of this.#records) {
      if (record.expiresAt <= t) {
        this.#out.expire(record);
      } else {
        kept.push(record);
        if (record.expiresAt < expiry) expiry = record.expiresAt;
      }
    }
    this.#records = kept;
    this.#expiry = expiry;
    if (kept.length === 0) this.#until = Infinity;
  }

  /**
   * Releases the records after the event loop has read what I/O has arrived: timers run before I/O
   * callbacks, and an answer already received must not be overtaken by its deadline (after a long
   * synchronous burst of puts, both are due at once).
   */
  #releaseAfterIo(): void {
    if (this.#releaseScheduled) return;
    this.#releaseScheduled = true;
    setImmediate(() => {
      this.#releaseScheduled = false;
      const t = now();
      if (this.#until <= t) this.release(t);
      else this.#out.wakeAt(this.#next);
    });
  }
}
