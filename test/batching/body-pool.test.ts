/**
 * BodyPool: the memory of a body whose call was answered serves the next body, within bounds, and
 * is released once the pool goes unused.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BODY_POOL_IDLE_MS, BodyPool, MIN_POOLED_BODY } from '../../src/batching/body-pool.js';

const KiB = 1024;

afterEach(() => {
  vi.useRealTimers();
});

describe('BodyPool', () => {
  it('hands out buffers of exactly the length asked', () => {
    const pool = new BodyPool();
    for (const length of [0, 10, MIN_POOLED_BODY - 1, MIN_POOLED_BODY, 700 * KiB]) expect(pool.take(length)).toHaveLength(length);
  });

  it('gives the memory of a body given back to the next body that fits, and new memory to one that does not', () => {
    const pool = new BodyPool();
    const first = pool.take(400 * KiB);
    pool.give(first);
    expect(pool.freeCount).toBe(1);
    const second = pool.take(420 * KiB); // within the eighth of room the first was given
    expect(second.buffer).toBe(first.buffer);
    expect(pool.freeCount).toBe(0);
    pool.give(second);
    const larger = pool.take(600 * KiB);
    expect(larger.buffer).not.toBe(first.buffer);
    expect(pool.freeCount).toBe(1);
  });

  it('takes the smallest free block that fits', () => {
    const pool = new BodyPool();
    const blocks = [pool.take(900 * KiB), pool.take(200 * KiB), pool.take(500 * KiB)];
    for (const block of blocks) pool.give(block);
    expect(pool.take(150 * KiB).buffer).toBe(blocks[1]!.buffer);
    expect(pool.take(300 * KiB).buffer).toBe(blocks[2]!.buffer);
    expect(pool.take(300 * KiB).buffer).toBe(blocks[0]!.buffer);
  });

  it('keeps no small body, no memory it did not hand out, and a body given twice once', () => {
    const pool = new BodyPool();
    pool.give(pool.take(MIN_POOLED_BODY - 1));
    pool.give(Buffer.allocUnsafeSlow(MIN_POOLED_BODY * 4));
    // A view of the shared slab that small Buffers are cut from must never be reused.
    pool.give(Buffer.allocUnsafe(100));
    expect(pool.freeCount).toBe(0);
    const body = pool.take(MIN_POOLED_BODY);
    pool.give(body);
    pool.give(body);
    expect(pool.freeCount).toBe(1);
  });

  it('keeps at most four free blocks, the largest', () => {
    const pool = new BodyPool();
    const sizes = [300, 100, 500, 200, 400, 150].map((k) => k * KiB);
    const bodies = sizes.map((size) => pool.take(size));
    for (const body of bodies) pool.give(body);
    expect(pool.freeCount).toBe(4);
    // 100 KiB and 150 KiB were dropped: a body of 90 KiB gets the 200 KiB block, the smallest kept.
    expect(pool.take(90 * KiB).buffer).toBe(bodies[3]!.buffer);
  });

  it('releases its memory once a second has passed without a take, and on clear()', () => {
    vi.useFakeTimers();
    const pool = new BodyPool();
    pool.give(pool.take(200 * KiB));
    vi.advanceTimersByTime(BODY_POOL_IDLE_MS - 1);
    expect(pool.freeCount).toBe(1);
    vi.advanceTimersByTime(1);
    expect(pool.freeCount).toBe(0);

    // In use, it keeps its memory from one second to the next.
    const a = pool.take(200 * KiB);
    pool.give(a);
    for (let second = 0; second < 5; second++) {
      vi.advanceTimersByTime(BODY_POOL_IDLE_MS / 2);
      pool.give(pool.take(200 * KiB));
      vi.advanceTimersByTime(BODY_POOL_IDLE_MS / 2);
      expect(pool.freeCount).toBe(1);
    }
    vi.advanceTimersByTime(2 * BODY_POOL_IDLE_MS);
    expect(pool.freeCount).toBe(0);

    pool.give(pool.take(200 * KiB));
    pool.clear();
    expect(pool.freeCount).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
