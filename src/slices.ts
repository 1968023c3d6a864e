/**
 * Long jobs run a slice at a time, so that no single step of the producer holds the event loop for
 * long: sealing a request's envelopes (their MD5), writing its body (and its SHA-256), settling a
 * large answer. Every job of every
 * producer in the process shares one budget per turn of the event loop; what is left waits for the
 * next turn, after timers and I/O have run.
 */
import { now } from './scheduler.js';

/**
 * CPU time the jobs may take in one turn of the event loop, in ms: as much as the rest of the
 * process had since their last turn (a caller putting records in bursts, answers being read), from
 * {@link MIN_TURN_BUDGET_MS} to {@link MAX_TURN_BUDGET_MS}. Less, and the pipeline falls behind a
 * caller that puts in bursts; more, and a turn with a scavenge of the young generation on top
 * (5–15 ms with a large window of records) passes 20 ms.
 */
export const MIN_TURN_BUDGET_MS = 2;
/** See {@link MIN_TURN_BUDGET_MS}. */
export const MAX_TURN_BUDGET_MS = 8;

/**
 * One step of a job: does a slice of the work (a ms or so, so that a turn holds a few) and returns
 * whether the job is finished.
 */
export type Step = () => boolean;

interface Job {
  readonly step: Step;
  readonly done: () => void;
  readonly failed: (error: unknown) => void;
}

/** Jobs waiting, oldest first: tens at most (one per request being written or answer being settled). */
const jobs: Job[] = [];
let scheduled = false;
/** When the jobs' last turn ended. */
let lastTurnEnded = 0;

/**
 * Runs `step` until it returns true, in slices spread over turns of the event loop (the first in
 * a later turn, never now); resolves when it has, rejects with what it throws. Jobs run one after
 * the other, oldest first, each to its end before the next begins: a request body written a piece
 * at a time goes out before the next is begun, rather than all of them being half-written (and
 * their memory held) together.
 */
export function runInSlices(step: Step): Promise<void> {
  return new Promise<void>((done, failed) => {
    jobs.push({ step, done, failed });
    if (!scheduled) {
      scheduled = true;
      setImmediate(runTurn);
    }
  });
}

function runTurn(): void {
  scheduled = false;
  const started = now();
  const budget = Math.min(Math.max(started - lastTurnEnded, MIN_TURN_BUDGET_MS), MAX_TURN_BUDGET_MS);
  while (jobs.length > 0) {
    const job = jobs[0]!;
    let finished: boolean;
    try {
      finished = job.step();
    } catch (error) {
      jobs.shift();
      job.failed(error);
      continue;
    }
    if (finished) {
      jobs.shift();
      job.done();
    }
    if (now() - started >= budget) break;
  }
  lastTurnEnded = now();
  if (jobs.length > 0) {
    scheduled = true;
    setImmediate(runTurn);
  }
}
