import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from '../src/deadline-queue.js';

describe('DeadlineQueue', () => {
  it('pops items in deadline order', () => {
    const queue = new DeadlineQueue<{ at: number }>((item) => item.at);
    const deadlines = [50, 10, 40, 10, 30, 99, 0, 70, 20, 60];
    for (const at of deadlines) queue.push({ at });
    expect(queue.size).toBe(10);
    expect(queue.peek()).toEqual({ at: 0 });
    const out: number[] = [];
    for (let item = queue.pop(); item !== undefined; item = queue.pop()) out.push(item.at);
    expect(out).toEqual([...deadlines].sort((a, b) => a - b));
    expect(queue.pop()).toBeUndefined();
  });

  it('drains everything', () => {
    const queue = new DeadlineQueue<number>((n) => n);
    [3, 1, 2].forEach((n) => queue.push(n));
    expect(queue.drain().sort()).toEqual([1, 2, 3]);
    expect(queue.size).toBe(0);
  });
});
