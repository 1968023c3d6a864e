/**
 * Records held while their stream is first learned, with a fake clock: they fail when their TTL
 * runs out, go on when the wait is over (after the event loop has read its I/O), or are taken back.
 */
import { describe, expect, it } from 'vitest';
import { HeldRecords } from '../../src/batching/held-records.js';
import type { PendingRecord } from '../../src/records.js';
import { now } from '../../src/scheduler.js';
import { pendingRecord } from '../support/records.js';

function held() {
  const released: { records: readonly PendingRecord[]; t: number }[] = [];
  const expired: PendingRecord[] = [];
  const wakeUps: number[] = [];
  const records = new HeldRecords({
    release: (list, t) => released.push({ records: list, t }),
    expire: (record) => expired.push(record),
    wakeAt: (deadline) => wakeUps.push(deadline),
  });
  return { records, released, expired, wakeUps };
}

describe('HeldRecords', () => {
  it('fails each record when its TTL runs out and keeps the others waiting', () => {
    const { records, released, expired, wakeUps } = held();
    const early = pendingRecord({ arrivedAt: 0, ttl: 100 });
    const late = pendingRecord({ arrivedAt: 10, ttl: 300 });
    records.hold(early, 1000);
    records.hold(late, 1010);
    expect(wakeUps).toEqual([100, 100]);
    expect(records.due(99)).toBe(100);
    expect(expired).toEqual([]);
    expect(records.due(100)).toBe(310);
    expect(expired).toEqual([early]);
    expect(records.due(310)).toBe(Infinity);
    expect(expired).toEqual([early, late]);
    expect(released).toEqual([]);
  });

  it('lets every record go once the wait is over, after the event loop has read its I/O, once', async () => {
    const { records, released, expired } = held();
    const t = now();
    const first = pendingRecord({ arrivedAt: t, ttl: 30_000 });
    const second = pendingRecord({ arrivedAt: t, ttl: 30_000 });
    records.hold(first, t - 1);
    records.hold(second, t + 5);
    expect(records.due(t)).toBe(Infinity);
    expect(records.due(t)).toBe(Infinity);
    expect(released).toEqual([]);
    await new Promise(setImmediate);
    expect(released).toEqual([{ records: [first, second], t: expect.any(Number) }]);
    expect(expired).toEqual([]);
    expect(records.due(now())).toBe(Infinity);
  });

  it('gives every record back when the stream is learned, and then neither fails nor releases any', async () => {
    const { records, released, expired } = held();
    const t = now();
    const record = pendingRecord({ arrivedAt: t - 50, ttl: 10 });
    records.hold(record, t - 1);
    expect(records.takeAll()).toEqual([record]);
    expect(records.due(t)).toBe(Infinity);
    await new Promise(setImmediate);
    expect(released).toEqual([]);
    expect(expired).toEqual([]);
  });
});
