/**
 * A binary min-heap of items by deadline: records waiting for a shard's rate limit leave in
 * deadline order (the KPL's rule), so the ones closest to their TTL go first.
 */
export class DeadlineQueue<T> {
  // A hand-written heap: p-queue's priority queue is for tasks, and inserting by binary search into
  // an array is O(n) a record on a shard held back for long.
  readonly #deadline: (item: T) => number;
  readonly #heap: T[] = [];

  /** @param deadline - The item's deadline; read when the item is pushed or moved, so it must not change meanwhile. */
  constructor(deadline: (item: T) => number) {
    this.#deadline = deadline;
  }

  /** Items queued. */
  get size(): number {
    return this.#heap.length;
  }

  /** The item with the earliest deadline, without removing it. */
  peek(): T | undefined {
    return this.#heap[0];
  }

  /** Adds an item: O(log n). */
  push(item: T): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    const key = this.#deadline(item);
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      if (this.#deadline(heap[parent]!) <= key) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  /** Removes and returns the item with the earliest deadline. */
  pop(): T | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    const key = this.#deadline(last);
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && this.#deadline(heap[right]!) < this.#deadline(heap[left]!) ? right : left;
      if (this.#deadline(heap[child]!) >= key) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }

  /** Removes and returns every item, in no particular order. */
  drain(): T[] {
    return this.#heap.splice(0);
  }
}
