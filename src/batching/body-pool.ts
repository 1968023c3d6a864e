/**
 * Memory for PutRecords request bodies, kept from one call to the next.
 *
 * A full request's body is ~7 MB. Allocated afresh for each call, it is new memory every time: the
 * kernel faults its pages in one by one as the body is written, and the allocator maps and unmaps
 * it again once the collector frees it. At 10 KiB records the page faults of writing bodies alone
 * were ~4 % of the producer's CPU. A sender's calls come one after another, so the memory of a body
 * whose call has been answered serves the next call.
 */

/** Bodies shorter than this are not worth keeping: the allocator serves them from memory it keeps. */
export const MIN_POOLED_BODY = 64 * 1024;
/** Free bodies a pool keeps at most: calls end and start in pairs, so a few cover the gaps. */
const MAX_FREE = 4;
/** A pool left untouched this long gives its memory back: a quiet producer holds none of it. */
export const BODY_POOL_IDLE_MS = 1000;

/**
 * A sender's body memory: {@link take} a buffer for a body, {@link give} it back once the call that
 * sent it was answered. Free memory is released after {@link BODY_POOL_IDLE_MS} without a `take`,
 * and by {@link clear}. Only buffers it handed out come back into it.
 */
export class BodyPool {
  /** Free memory, each block at least {@link MIN_POOLED_BODY} bytes. */
  readonly #free: ArrayBuffer[] = [];
  /** The blocks this pool allocated, so that no other memory (a shared slab) is ever reused. */
  readonly #own = new WeakSet<ArrayBuffer>();
  #timer: NodeJS.Timeout | undefined;
  #takenSinceSweep = false;

  /** Free blocks held now. */
  get freeCount(): number {
    return this.#free.length;
  }

  /** A buffer of exactly `length` bytes, its contents undefined (as `Buffer.allocUnsafe`). */
  take(length: number): Buffer {
    if (length < MIN_POOLED_BODY) return Buffer.allocUnsafe(length);
    this.#takenSinceSweep = true;
    const free = this.#free;
    // The smallest free block that fits.
    let best = -1;
    for (let i = 0; i < free.length; i++) {
      const size = free[i]!.byteLength;
      if (size >= length && (best < 0 || size < free[best]!.byteLength)) best = i;
    }
    if (best >= 0) return Buffer.from(free.splice(best, 1)[0]!, 0, length);
    // An eighth of room more: the next body, a little longer, still fits.
    const block = Buffer.allocUnsafeSlow(length + (length >>> 3)).buffer;
    this.#own.add(block);
    return Buffer.from(block, 0, length);
  }

  /**
   * Gives back a buffer from {@link take} whose bytes nothing reads any more: its call was answered,
   * so the whole body was sent. Anything else is ignored.
   */
  give(body: Uint8Array): void {
    const block = body.buffer as ArrayBuffer;
    if (!this.#own.has(block)) return;
    const free = this.#free;
    if (free.includes(block)) return;
    if (free.length >= MAX_FREE) {
      // Keep the larger blocks: a smaller body fits in them, a larger one does not in the small.
      let smallest = 0;
      for (let i = 1; i < free.length; i++) if (free[i]!.byteLength < free[smallest]!.byteLength) smallest = i;
      if (free[smallest]!.byteLength >= block.byteLength) return;
      free.splice(smallest, 1);
    }
    free.push(block);
    if (this.#timer === undefined) {
      this.#takenSinceSweep = false;
      this.#timer = setTimeout(this.#sweep, BODY_POOL_IDLE_MS).unref();
    }
  }

  /** Releases the free memory. */
  clear(): void {
    this.#free.length = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    if (!this.#takenSinceSweep) {
      this.clear();
      return;
    }
    this.#takenSinceSweep = false;
    if (this.#free.length > 0) this.#timer = setTimeout(this.#sweep, BODY_POOL_IDLE_MS).unref();
  };
}
