/**
 * One shard's buffer with a fake clock: envelopes leave at their deadline or when full, and the
 * rate limit lets held records out in TTL order.
 */
import { describe, expect, it } from 'vitest';
import { ShardBuffer, type ShardBufferOptions } from '../../src/batching/index.js';
import { decodeRecord, sealEnvelope } from '../../src/aggregation/index.js';
import { IN_ENVELOPE, type KinesisRecord } from '../../src/records.js';
import { kinesisRecord, pendingRecord } from '../support/records.js';

function buffer(options: Partial<ShardBufferOptions> = {}, t = 0) {
  const collected: { record: KinesisRecord; deadline: number }[] = [];
  const expired: { record: KinesisRecord; t: number }[] = [];
  const wakeUps: number[] = [];
  const shard = new ShardBuffer(
    'shardId-7',
    3,
    { rateLimit: 100, releaseCoalesce: 20, ...options },
    {
      collect: (record, deadline) => collected.push({ record, deadline }),
      expire: (record, at) => expired.push({ record, t: at }),
      wakeAt: (deadline) => wakeUps.push(deadline),
    },
    t,
  );
  return { shard, collected, expired, wakeUps };
}

describe('ShardBuffer', () => {
  it('aggregates until the oldest record is due, then lets one envelope out holding every record in order', () => {
    const { shard, collected, wakeUps } = buffer();
    const users = [pendingRecord(), pendingRecord(), pendingRecord()];
    shard.aggregate(users[0]!, 100, 0);
    shard.aggregate(users[1]!, 150, 10);
    shard.aggregate(users[2]!, 90, 20);
    expect(wakeUps.at(-1)).toBe(90);
    expect(shard.due(89)).toBe(90);
    expect(collected).toEqual([]);
    expect(shard.due(90)).toBe(Infinity);
    expect(collected).toHaveLength(1);
    const { record, deadline } = collected[0]!;
    expect(record).toMatchObject({ aggregated: true, predictedShardId: 'shardId-7', mapVersion: 3, partitionKey: 'a', userRecords: users, bufferDeadline: 90 });
    expect(deadline).toBe(90);
    // Its MD5 trailer is the sender's to write: until then a reader takes it for a plain record.
    expect(record.sealed).toBe(false);
    expect(decodeRecord(record.data, record.partitionKey, record.explicitHashKey).aggregated).toBe(false);
    const decoded = decodeRecord(sealEnvelope(record.data), record.partitionKey, record.explicitHashKey);
    expect(decoded.aggregated && decoded.records.map((r) => r.partitionKey)).toEqual(users.map((u) => u.partitionKey));
  });

  it('lets a lone record out raw, with nothing to seal', () => {
    const { shard, collected } = buffer();
    const user = pendingRecord({ data: Buffer.from('lone') });
    shard.aggregate(user, 50, 0);
    shard.due(50);
    expect(collected.map((c) => c.record)).toEqual([expect.objectContaining({ aggregated: false, sealed: true, data: Buffer.from('lone') })]);
  });

  it('lets an envelope out at once when it reaches aggregationMaxCount, and a lone record out raw', () => {
    const { shard, collected } = buffer({ aggregationMaxCount: 2 });
    const users = [pendingRecord(), pendingRecord(), pendingRecord()];
    for (const user of users) shard.aggregate(user, 100, 0);
    expect(collected.map((c) => c.record.userRecords.length)).toEqual([2]);
    shard.due(100);
    expect(collected[1]!.record).toMatchObject({ aggregated: false, partitionKey: users[2]!.partitionKey, predictedShardId: 'shardId-7' });
  });

  it('starts a new envelope when the next record would exceed aggregationMaxSize', () => {
    const { shard, collected } = buffer({ aggregationMaxSize: 200 });
    for (let i = 0; i < 4; i++) shard.aggregate(pendingRecord({ size: 60 }), 100, 0);
    shard.flush(0);
    expect(collected.length).toBeGreaterThan(1);
    for (const { record } of collected) expect(record.data.length).toBeLessThanOrEqual(200);
    expect(collected.flatMap((c) => c.record.userRecords)).toHaveLength(4);
  });

  it('holds records beyond the shard rate and lets them out in TTL order as tokens return, failing those that expire', () => {
    // 1 % of 1,000 records/s: a bucket of 10 records, refilled at 10 a second.
    const { shard, collected, expired } = buffer({ rateLimit: 1 });
    for (let i = 0; i < 10; i++) shard.admit(kinesisRecord({ arrivedAt: 0, ttl: 60_000 }), 0);
    expect(collected).toHaveLength(10);
    const ttls = [5000, 300, 2000, 150, 900];
    const held = ttls.map((ttl) => kinesisRecord({ arrivedAt: 0, ttl }));
    for (const record of held) shard.admit(record, 0);
    expect(collected).toHaveLength(10);
    // 100 ms brings one token: the record closest to its TTL goes first.
    expect(shard.due(100)).toBeGreaterThan(100);
    expect(collected.slice(10).map((c) => c.record)).toEqual([held[3]]);
    expect(collected[10]!.deadline).toBe(120); // released records wait releaseCoalesce to share a request
    // At 400 ms: the 300 ms one expired in the queue; tokens for the next ones.
    shard.due(400);
    expect(expired.map((e) => e.record)).toEqual([held[1]]);
    expect(collected.slice(11).map((c) => c.record)).toEqual([held[4], held[2], held[0]]);
  });

  it('does not let a record overtake those already held, even when a token is free', () => {
    const { shard, collected } = buffer({ rateLimit: 1 });
    for (let i = 0; i < 11; i++) shard.admit(kinesisRecord({ ttl: 60_000 }), 0);
    const late = kinesisRecord({ ttl: 60_000 });
    shard.admit(late, 500);
    expect(collected.map((c) => c.record)).not.toContain(late);
  });

  it('keeps the data of aggregated records only in their envelope, and gives it back with takeAll()', () => {
    const { shard, collected } = buffer({ rateLimit: 1, aggregationMaxCount: 2 });
    for (let i = 0; i < 10; i++) shard.admit(kinesisRecord(), 0);
    const spent = collected.length;
    const datas = [0, 1, 2, 3, 4].map((i) => Buffer.alloc(i * 100, i));
    const users = datas.map((data) => pendingRecord({ data }));
    shard.aggregate(users[0]!, 100, 0);
    // A lone record is sent as it is, so its data stays its own until a second one joins.
    expect(users[0]!.data).toBe(datas[0]);
    for (const user of users.slice(1)) shard.aggregate(user, 100, 0);
    expect(collected).toHaveLength(spent); // two envelopes queued behind the rate limit, one record in the aggregator
    expect(users.slice(0, 4).every((u) => u.data === IN_ENVELOPE)).toBe(true);
    expect(users[4]!.data).toBe(datas[4]);
    const taken = shard.takeAll();
    expect(taken.map((u) => u.id).sort()).toEqual(users.map((u) => u.id).sort());
    expect(users.map((u) => Buffer.from(u.data))).toEqual(datas);
  });

  it('takeAll() returns every user record held, aggregated or queued', () => {
    const { shard } = buffer({ rateLimit: 1 });
    for (let i = 0; i < 10; i++) shard.admit(kinesisRecord(), 0);
    const queued = kinesisRecord();
    shard.admit(queued, 0);
    const aggregated = pendingRecord();
    shard.aggregate(aggregated, 100, 0);
    expect(shard.takeAll()).toEqual([aggregated, queued.userRecords[0]]);
    expect(shard.due(1000)).toBe(Infinity);
  });
});
