/**
 * runInSlices: jobs run a step at a time in later turns of the event loop, oldest first, within a
 * budget per turn, with timers and I/O running between turns.
 */
import { describe, expect, it } from 'vitest';
import { MAX_TURN_BUDGET_MS, runInSlices } from '../src/slices.js';

/** Busy-waits `ms` of wall time: a step that costs that much. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** Resolves after the next turn of the event loop (its check phase). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('runInSlices', () => {
  it('never runs a step now: the first runs in a later turn', async () => {
    const steps: string[] = [];
    const job = runInSlices(() => {
      steps.push('step');
      return true;
    });
    steps.push('after the call');
    await job;
    expect(steps).toEqual(['after the call', 'step']);
  });

  it('spreads a job over turns, letting timers run between them', async () => {
    let steps = 0;
    let timerFiredAtStep = -1;
    // Each step costs half the largest budget: a turn holds two or three of them, never all twelve.
    await runInSlices(() => {
      if (steps === 0) setTimeout(() => (timerFiredAtStep = steps), 0);
      spin(MAX_TURN_BUDGET_MS / 2);
      return ++steps === 12;
    });
    expect(steps).toBe(12);
    expect(timerFiredAtStep).toBeGreaterThan(0);
    expect(timerFiredAtStep).toBeLessThan(12);
  });

  it('runs jobs one after the other, oldest first, each to its end', async () => {
    const order: string[] = [];
    const job = (name: string, steps: number) => {
      let left = steps;
      return runInSlices(() => {
        order.push(name);
        return --left === 0;
      });
    };
    await Promise.all([job('a', 3), job('b', 2), job('c', 1)]);
    expect(order).toEqual(['a', 'a', 'a', 'b', 'b', 'c']);
  });

  it('rejects the job whose step throws, and goes on with the others', async () => {
    const failing = runInSlices(() => {
      throw new Error('step failed');
    });
    let steps = 0;
    const healthy = runInSlices(() => ++steps === 3);
    await expect(failing).rejects.toThrow('step failed');
    await healthy;
    expect(steps).toBe(3);
  });

  it('lets a turn run at least one step, however long, and the next turn go on', async () => {
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    let steps = 0;
    await runInSlices(() => {
      spin(MAX_TURN_BUDGET_MS * 1.5);
      return ++steps === 3;
    });
    counting = false;
    await nextTurn();
    // Every step overran the budget: each had a turn of its own.
    expect(turns).toBeGreaterThanOrEqual(3);
  });
});
