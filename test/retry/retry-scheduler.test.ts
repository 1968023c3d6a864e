/**
 * The retry scheduler with a fake clock: times are passed in, randomness is fixed.
 */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/metrics/index.js';
import { encodeAggregatedRecord } from '../../src/aggregation/index.js';
import { IN_ENVELOPE, rawKinesisRecord, type PendingRecord } from '../../src/records.js';
import { RetryPolicy, RetryScheduler, type Failure } from '../../src/retry/index.js';
import { pendingRecord, type TestRecord } from '../support/records.js';

const transient: Failure = { kind: 'transient', code: 'InternalFailure', message: 'oops' };
const throttled: Failure = { kind: 'throttled', code: 'ProvisionedThroughputExceededException', message: 'slow down' };

function scheduler(options: { random?: number; failIfThrottled?: boolean; minBackoff?: number; maxBackoff?: number } = {}) {
  const failed: { record: PendingRecord; code: string; message: string }[] = [];
  const wakeUps: number[] = [];
  const counters = new Counters();
  const retries = new RetryScheduler({
    policy: new RetryPolicy({ minBackoff: options.minBackoff ?? 100, maxBackoff: options.maxBackoff ?? 1000, random: () => options.random ?? 0.5 }),
    failIfThrottled: options.failIfThrottled ?? false,
    counters,
    fail: (record, code, message) => failed.push({ record, code, message }),
    wakeAt: (deadline) => wakeUps.push(deadline),
  });
  return { retries, failed, wakeUps, counters };
}

/** An envelope of `records`, as the shard buffer makes one. */
function envelope(records: TestRecord[]) {
  return { ...rawKinesisRecord(records[0]!, 'shardId-0', Infinity), aggregated: true, userRecords: records };
}

describe('RetryScheduler', () => {
  it('records each failed attempt on every user record, and counts the error once per Kinesis record', () => {
    const { retries, counters } = scheduler();
    const users = [pendingRecord({ arrivedAt: 0 }), pendingRecord({ arrivedAt: 5 })];
    retries.recordAttempt(envelope(users), transient, 10, 30);
    expect(users[0]!.attempts!).toEqual([{ delayMs: 10, durationMs: 20, success: false, errorCode: 'InternalFailure', errorMessage: 'oops' }]);
    expect(users[1]!.attempts![0]!.delayMs).toBe(5);
    expect(users.map((u) => u.waitingSince)).toEqual([30, 30]);
    expect(Object.fromEntries(counters.errorsByCode)).toEqual({ InternalFailure: 1 });
  });

  it('routes a retry again once its backoff ends, not before, and asks to be woken then', () => {
    const { retries, failed, wakeUps } = scheduler({ random: 0.5 });
    const user = pendingRecord({ arrivedAt: 0 });
    retries.onFailure(envelope([user]), transient, 0, 40);
    // First retry: uniform in [0, 100) → 50 with random 0.5.
    expect(wakeUps).toEqual([90]);
    expect(retries.due(89)).toBe(90);
    expect(user.routedAt).toEqual([]);
    expect(retries.due(90)).toBe(Infinity);
    expect(user.routedAt).toEqual([90]);
    expect(failed).toEqual([]);
  });

  it('doubles the backoff ceiling with each attempt, up to maxBackoff', () => {
    const { retries, wakeUps } = scheduler({ random: 0.999, minBackoff: 100, maxBackoff: 1000 });
    const user = pendingRecord({ arrivedAt: 0, ttl: 1e9 });
    let t = 0;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      retries.onFailure(envelope([user]), transient, t, t);
      delays.push(wakeUps.at(-1)! - t);
      t = wakeUps.at(-1)!;
      retries.due(t);
    }
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('backs an envelope off by its most tried record, not by its first (retried records share envelopes with fresh ones)', () => {
    const { retries, wakeUps } = scheduler({ random: 0.999, minBackoff: 100, maxBackoff: 10_000 });
    const fresh = pendingRecord({ ttl: 1e9 });
    const old = pendingRecord({ ttl: 1e9 });
    for (let i = 0; i < 4; i++) retries.recordAttempt(envelope([old]), transient, 0, 0);
    retries.onFailure(envelope([fresh, old]), transient, 0, 0);
    // The old record's 5th attempt failed: ceiling 100 × 2^4.
    expect(wakeUps).toEqual([Math.floor(0.999 * 1600)]);
  });

  it('keeps the first and the latest attempts of a record retried for long, and counts them all', () => {
    const { retries } = scheduler();
    const user = pendingRecord({ ttl: 1e9 });
    for (let i = 0; i < 25; i++) retries.recordAttempt(envelope([user]), { ...transient, message: `try ${i}` }, i, i + 1);
    expect(user.attemptCount).toBe(25);
    expect(user.attempts!.map((a) => a.errorMessage)).toEqual(['try 0', ...Array.from({ length: 9 }, (_, i) => `try ${16 + i}`)]);
  });

  it('fails with Expired, instead of retrying, a record whose retry would land at or after its TTL', () => {
    const { retries, failed, wakeUps } = scheduler({ random: 0.5 });
    const early = pendingRecord({ arrivedAt: 0, ttl: 1000 });
    const late = pendingRecord({ arrivedAt: 0, ttl: 90 });
    retries.onFailure(envelope([early, late]), transient, 0, 40);
    expect(failed.map((f) => [f.record, f.code])).toEqual([[late, 'Expired']]);
    // The failed attempt is on the record before it fails: the producer's error names its code.
    expect(late.attempts!.map((a) => a.errorCode)).toEqual(['InternalFailure']);
    retries.due(90);
    expect(early.routedAt).toEqual([90]);
    expect(late.routedAt).toEqual([]);
    expect(wakeUps).toEqual([90]);
  });

  it('fails fatal and invalid failures at once with their own code', () => {
    for (const kind of ['fatal', 'invalid'] as const) {
      const { retries, failed, wakeUps } = scheduler();
      const user = pendingRecord();
      retries.onFailure(envelope([user]), { kind, code: 'ResourceNotFoundException', message: 'gone' }, 0, 1);
      expect(failed.map((f) => [f.record, f.code, f.message])).toEqual([[user, 'ResourceNotFoundException', 'gone']]);
      expect(user.attempts).toHaveLength(1);
      expect(user.attemptCount).toBe(1);
      expect(wakeUps).toEqual([]);
    }
  });

  it('retries throttled records, or fails them at once with failIfThrottled', () => {
    const retrying = scheduler();
    const a = pendingRecord();
    retrying.retries.onFailure(envelope([a]), throttled, 0, 1);
    expect(retrying.failed).toEqual([]);
    expect(retrying.wakeUps).toHaveLength(1);

    const failing = scheduler({ failIfThrottled: true });
    const b = pendingRecord();
    failing.retries.onFailure(envelope([b]), throttled, 0, 1);
    expect(failing.failed.map((f) => f.code)).toEqual(['ProvisionedThroughputExceededException']);
  });

  it('expire() fails the expired user records and routes the others again', () => {
    const { retries, failed } = scheduler();
    const expired = pendingRecord({ arrivedAt: 0, ttl: 100 });
    const alive = pendingRecord({ arrivedAt: 50, ttl: 100 });
    retries.expire(envelope([expired, alive]), 100, 'too late');
    expect(failed.map((f) => [f.record, f.code, f.message])).toEqual([[expired, 'Expired', 'too late']]);
    expect(alive.routedAt).toEqual([100]);
  });

  it('gives records whose data was left only in their envelope that data back before routing them again', () => {
    const { retries } = scheduler({ random: 0.5 });
    const datas = [Buffer.from('first'), Buffer.from(''), Buffer.alloc(300, 7)];
    const users = datas.map((data) => pendingRecord({ data, arrivedAt: 0, ttl: 10_000 }));
    const expiring = pendingRecord({ data: Buffer.from('late'), arrivedAt: 0, ttl: 100 });
    const sent = (records: TestRecord[]) => {
      const record = { ...envelope(records), data: encodeAggregatedRecord(records.map((r) => r.partitionKey), [], records.map((r, i) => ({ partitionKeyIndex: i, data: r.data }))) };
      for (const user of records) user.data = IN_ENVELOPE;
      return record;
    };
    retries.onFailure(sent(users.slice(0, 2)), transient, 0, 40);
    retries.due(1000);
    retries.expire(sent([expiring, users[2]!]), 100, 'too late');
    expect(users.map((u) => u.routedAt.length)).toEqual([1, 1, 1]);
    expect(users.map((u) => Buffer.from(u.data))).toEqual(datas);
  });

  it('serves retries in retry-time order whatever order they failed in', () => {
    const { retries } = scheduler({ random: 0.5, minBackoff: 100 });
    const a = pendingRecord();
    const b = pendingRecord();
    retries.onFailure(envelope([a]), transient, 0, 300); // retry at 350
    retries.onFailure(envelope([b]), transient, 0, 100); // retry at 150
    expect(retries.due(200)).toBe(350);
    expect([a.routedAt, b.routedAt]).toEqual([[], [200]]);
    expect(retries.due(400)).toBe(Infinity);
    expect(a.routedAt).toEqual([400]);
  });
});
