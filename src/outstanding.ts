/**
 * The producer's unsettled records in arrival order, as a list threaded through the records
 * themselves: adding and removing one is a few field writes, with no hashing and no table that
 * grows, shrinks and rehashes under the churn of every record put and settled, as a `Set`'s did.
 */
import type { PendingRecord } from './records.js';

/** Unsettled records, oldest first; a record is in it from `add` until `delete`, once. */
export class OutstandingRecords {
  #oldest: PendingRecord | undefined;
  #newest: PendingRecord | undefined;
  #size = 0;

  /** How many records it holds. */
  get size(): number {
    return this.#size;
  }

  /** The record that arrived first of those it holds. */
  get oldest(): PendingRecord | undefined {
    return this.#oldest;
  }

  /** Adds a record that arrived after every record it holds (a record is added only once). */
  add(record: PendingRecord): void {
    const newest = this.#newest;
    record.older = newest;
    if (newest === undefined) this.#oldest = record;
    else newest.newer = record;
    this.#newest = record;
    this.#size++;
  }

  /** Removes the record; false if it was not held (it was removed before). */
  delete(record: PendingRecord): boolean {
    const { older, newer } = record;
    // A held record has a neighbour on each side, or is at an end of the list.
    if (older === undefined ? this.#oldest !== record : older.newer !== record) return false;
    if (older === undefined) this.#oldest = newer;
    else older.newer = newer;
    if (newer === undefined) this.#newest = older;
    else newer.older = older;
    record.older = undefined;
    record.newer = undefined;
    this.#size--;
    return true;
  }
}
