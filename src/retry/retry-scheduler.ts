/**
 * What happens to a user record after a failed attempt: fail it now (a failure retrying cannot
 * cure, or a TTL that a retry would outlive), or route it again after a backoff.
 */
import { DeadlineQueue } from '../deadline-queue.js';
import type { Counters } from '../metrics/index.js';
import { addAttempt, userRecordsWithData, type KinesisRecord, type PendingRecord } from '../records.js';
import type { Failure, RetryPolicy } from './policy.js';

/** User records of one failed Kinesis record, waiting out their backoff until `at`. */
interface RetryGroup {
  readonly at: number;
  readonly users: PendingRecord[];
}

/** Options of a {@link RetryScheduler}. */
export interface RetrySchedulerOptions {
  readonly policy: RetryPolicy;
  /** Fail throttled records at once (KPL: FailIfThrottled). */
  readonly failIfThrottled: boolean;
  readonly counters: Counters;
  /** Settles a user record as failed with `code`. */
  readonly fail: (record: PendingRecord, code: string, message: string) => void;
  /** Asks for a call of {@link RetryScheduler.due} no later than `deadline`. */
  readonly wakeAt: (deadline: number) => void;
}

/**
 * Decides the fate of failed and expired records and holds the ones to retry, in one queue ordered
 * by retry time and served by the producer's single timer ({@link due}): no timer per record.
 * A retried record goes back to its stream's router, so it is predicted and aggregated afresh.
 */
export class RetryScheduler {
  readonly #policy: RetryPolicy;
  readonly #failIfThrottled: boolean;
  readonly #counters: Counters;
  readonly #fail: (record: PendingRecord, code: string, message: string) => void;
  readonly #wakeAt: (deadline: number) => void;
  readonly #queue = new DeadlineQueue<RetryGroup>((group) => group.at);

  constructor(options: RetrySchedulerOptions) {
    this.#policy = options.policy;
    this.#failIfThrottled = options.failIfThrottled;
    this.#counters = options.counters;
    this.#fail = options.fail;
    this.#wakeAt = options.wakeAt;
  }

  /** Records a failed attempt on each of the Kinesis record's user records; returns the most attempts any has made. */
  recordAttempt(record: KinesisRecord, failure: Failure, start: number, end: number): number {
    this.#counters.countError(failure.code);
    let most = 0;
    for (const user of record.userRecords) {
      addAttempt(user, { delayMs: start - user.waitingSince, durationMs: end - start, success: false, errorCode: failure.code, errorMessage: failure.message });
      user.waitingSince = Math.floor(end);
      if (user.attemptCount > most) most = user.attemptCount;
    }
    return most;
  }

  /**
   * Records the failed attempt, then fails the user records (a failure retrying cannot cure, or
   * throttling with `failIfThrottled`, or a retry that would land after their TTL) or queues them
   * for a retry after a backoff with full jitter. The backoff grows with the attempts of the
   * record's most tried user record: retried records share envelopes with fresh ones, and an old
   * record must not keep retrying at the first ceiling.
   */
  onFailure(record: KinesisRecord, failure: Failure, start: number, end: number): void {
    const attempts = this.recordAttempt(record, failure, start, end);
    const users = record.userRecords;
    if (failure.kind === 'fatal' || failure.kind === 'invalid' || (failure.kind === 'throttled' && this.#failIfThrottled)) {
      for (const user of users) this.#fail(user, failure.code, failure.message);
      return;
    }
    const retryAt = end + this.#policy.backoff(attempts);
    const retry: PendingRecord[] = [];
    for (const user of userRecordsWithData(record)) {
      if (retryAt >= user.expiresAt) this.#fail(user, 'Expired', 'recordTtl would run out before the next attempt');
      else retry.push(user);
    }
    if (retry.length === 0) return;
    this.#queue.push({ at: retryAt, users: retry });
    this.#wakeAt(retryAt);
  }

  /**
   * Fails the user records of a Kinesis record whose TTL ran out and routes the others again (the
   * survivors of a partly expired envelope are re-aggregated without the expired ones).
   */
  expire(record: KinesisRecord, t: number, message: string): void {
    for (const user of userRecordsWithData(record)) {
      if (user.expiresAt <= t) this.#fail(user, 'Expired', message);
      else user.stream.route(user, t);
    }
  }

  /** Routes again every record whose backoff ended by `t`; returns the next retry time (Infinity for none). */
  due(t: number): number {
    const queue = this.#queue;
    for (let group = queue.peek(); group !== undefined && group.at <= t; group = queue.peek()) {
      queue.pop();
      for (const user of group.users) user.stream.route(user, t);
    }
    return queue.peek()?.at ?? Infinity;
  }
}
