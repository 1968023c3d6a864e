import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ShardlineError, ValidationError } from '../../src/errors.js';
import { MAX_HASH_KEY, MIN_HASH_KEY, ShardMap, type ShardMapOptions } from '../../src/sharding/index.js';
import {
  freePort,
  kinesisError,
  localClient,
  startFakeKinesis,
  type FakeKinesis,
  type FakeKinesisReply,
  type FakeKinesisRequest,
} from '../support/servers.js';
import { Gate, TWO_128, evenListing, eventually, hk, listedShard, shardId, sleep, type ListedShard } from './listing.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fake endpoint answering ListShards with `handler`, a client for it, and a map factory. */
async function setup(handler: (request: FakeKinesisRequest) => FakeKinesisReply | Promise<FakeKinesisReply>) {
  const fake = await startFakeKinesis(handler);
  const client = localClient(fake.endpoint);
  cleanups.push(() => fake.stop(), () => client.destroy());
  const maps: ShardMap[] = [];
  cleanups.push(() => maps.forEach((map) => map.close()));
  const makeMap = (options: Partial<ShardMapOptions> = {}): ShardMap => {
    const map = new ShardMap({ client, streamName: 'test-stream', minBackoffMs: 40, maxBackoffMs: 200, ...options });
    maps.push(map);
    return map;
  };
  return { fake, client, makeMap };
}

const listing = (shards: ListedShard[]): FakeKinesisReply => ({ body: { Shards: shards } });
const listShards = (fake: FakeKinesis) => fake.requests.filter((r) => r.operation === 'ListShards');

describe('ShardMap lookups', () => {
  // Uneven boundaries, read from the listing, never computed.
  const half = 1n << 127n;
  const shards = [
    listedShard('shardId-a', 0n, 100n),
    listedShard('shardId-b', 101n, half),
    listedShard('shardId-c', half + 1n, TWO_128 - 1n),
  ];

  it('is not ready and answers nothing before the first listing', async () => {
    const { makeMap } = await setup(() => listing(shards));
    const map = makeMap();
    expect(map.ready).toBe(false);
    expect(map.lookup(MIN_HASH_KEY)).toBeUndefined();
    expect(map.shards).toEqual([]);
  });

  it('finds the shard for the first and last hash key of every shard, the ring ends, and past each boundary', async () => {
    const { makeMap } = await setup(() => listing(shards));
    const map = makeMap();
    await map.refresh();
    expect(map.ready).toBe(true);
    expect(map.version).toBe(1);
    const at = (value: bigint) => map.lookup(hk(value))?.shardId;
    expect(at(0n)).toBe('shardId-a');
    expect(map.lookup(MIN_HASH_KEY)?.shardId).toBe('shardId-a');
    expect(at(100n)).toBe('shardId-a');
    expect(at(101n)).toBe('shardId-b');
    expect(at(half)).toBe('shardId-b');
    expect(at(half + 1n)).toBe('shardId-c');
    expect(at(TWO_128 - 1n)).toBe('shardId-c');
    expect(map.lookup(MAX_HASH_KEY)?.shardId).toBe('shardId-c');
    expect(map.lookup(hk(half))).toEqual({
      shardId: 'shardId-b',
      startingHashKey: hk(101n),
      endingHashKey: '80000000000000000000000000000000',
    });
    expect(map.shards.map((s) => s.shardId)).toEqual(['shardId-a', 'shardId-b', 'shardId-c']);
  });

  it('sorts shards listed out of order', async () => {
    const { makeMap } = await setup(() => listing([...shards].reverse()));
    const map = makeMap();
    await map.refresh();
    expect(map.shards.map((s) => s.shardId)).toEqual(['shardId-a', 'shardId-b', 'shardId-c']);
    expect(map.lookup(hk(50n))?.shardId).toBe('shardId-a');
  });

  it('answers undefined in a gap, and drops shards listed as closed', async () => {
    const { makeMap } = await setup(() =>
      listing([
        listedShard('shardId-lo', 0n, 10n),
        listedShard('shardId-old', 0n, TWO_128 - 1n, true),
        listedShard('shardId-hi', 20n, TWO_128 - 1n),
      ]),
    );
    const map = makeMap();
    await map.refresh();
    expect(map.shards.map((s) => s.shardId)).toEqual(['shardId-lo', 'shardId-hi']);
    expect(map.lookup(hk(10n))?.shardId).toBe('shardId-lo');
    expect(map.lookup(hk(11n))).toBeUndefined();
    expect(map.lookup(hk(19n))).toBeUndefined();
    expect(map.lookup(hk(20n))?.shardId).toBe('shardId-hi');
    expect(map.isOpen('shardId-old')).toBe(false);
    expect(map.shardContains('shardId-old', hk(5n))).toBeUndefined();
  });
});

describe('ShardMap listing', () => {
  it('pages 2,500 shards in pages of 1000, sending only NextToken after the first page', async () => {
    const all = evenListing(2500);
    const pages: Record<string, { from: number; next?: string }> = {
      '': { from: 0, next: 'token-1' },
      'token-1': { from: 1000, next: 'token-2' },
      'token-2': { from: 2000 },
    };
    const { fake, makeMap } = await setup(({ body }) => {
      const page = pages[typeof body.NextToken === 'string' ? body.NextToken : ''];
      if (page === undefined) return kinesisError('ExpiredNextTokenException', 'unknown token');
      const size = Math.min(Number(body.MaxResults ?? 1000), 1000);
      return { body: { Shards: all.slice(page.from, page.from + size), NextToken: page.next } };
    });
    const map = makeMap();
    await map.refresh();

    const requests = listShards(fake);
    expect(requests.map((r) => r.body)).toEqual([
      { StreamName: 'test-stream', ShardFilter: { Type: 'AT_LATEST' }, MaxResults: 1000 },
      { NextToken: 'token-1', MaxResults: 1000 },
      { NextToken: 'token-2', MaxResults: 1000 },
    ]);
    for (const request of requests.slice(1)) {
      for (const field of ['StreamName', 'StreamARN', 'ShardFilter', 'ExclusiveStartShardId']) {
        expect(request.body).not.toHaveProperty(field);
      }
    }
    expect(map.shards).toHaveLength(2500);
    for (const [i, shard] of all.entries()) {
      const start = BigInt(shard.HashKeyRange.StartingHashKey);
      const end = BigInt(shard.HashKeyRange.EndingHashKey);
      expect(map.lookup(hk(start))?.shardId).toBe(shardId(i));
      expect(map.lookup(hk(end))?.shardId).toBe(shardId(i));
      expect(map.lookup(hk((start + end) / 2n))?.shardId).toBe(shardId(i));
    }
  });

  it('restarts the walk from the first page after an expired token', async () => {
    let expireOnce = true;
    const { fake, makeMap } = await setup(({ body }) => {
      if (body.NextToken === undefined) return { body: { Shards: evenListing(2).slice(0, 1), NextToken: 'token-1' } };
      if (expireOnce) {
        expireOnce = false;
        return kinesisError('ExpiredNextTokenException', 'token expired');
      }
      return { body: { Shards: evenListing(2).slice(1) } };
    });
    const map = makeMap({ minBackoffMs: 20 });
    await expect(map.refresh()).rejects.toMatchObject({ code: 'ExpiredNextTokenException', retriable: true });
    await eventually(() => map.ready);
    expect(listShards(fake).map((r) => r.body.NextToken ?? r.body.StreamName)).toEqual([
      'test-stream',
      'token-1',
      'test-stream',
      'token-1',
    ]);
    expect(map.shards).toHaveLength(2);
  });

  it('reports a refused connection as a retriable NetworkError', async () => {
    const client = localClient(`http://127.0.0.1:${await freePort()}`);
    cleanups.push(() => client.destroy());
    const map = new ShardMap({ client, streamName: 's', minBackoffMs: 10_000 });
    cleanups.push(() => map.close());
    await expect(map.refresh()).rejects.toMatchObject({ code: 'NetworkError', retriable: true });
    expect(map.lastError?.message).toContain('ECONNREFUSED');
  });

  it('sends StreamARN alone, or with StreamName when both are given', async () => {
    const arn = 'arn:aws:kinesis:us-east-1:123456789012:stream/test-stream';
    const { fake, makeMap } = await setup(() => listing(evenListing(2)));
    await makeMap({ streamName: undefined, streamARN: arn }).refresh();
    await makeMap({ streamName: 'test-stream', streamARN: arn }).refresh();
    expect(listShards(fake).map((r) => r.body)).toEqual([
      { StreamARN: arn, ShardFilter: { Type: 'AT_LATEST' }, MaxResults: 1000 },
      { StreamName: 'test-stream', StreamARN: arn, ShardFilter: { Type: 'AT_LATEST' }, MaxResults: 1000 },
    ]);
  });

  it('refuses an overlapping listing and keeps the old map', async () => {
    let reply = listing(evenListing(2));
    const { makeMap } = await setup(() => reply);
    const map = makeMap();
    await map.refresh();
    reply = listing([...evenListing(2), listedShard('shardId-x', 5n, 6n)]);
    await expect(map.refresh()).rejects.toMatchObject({ code: 'InvalidShardListing', retriable: true });
    expect(map.shards.map((s) => s.shardId)).toEqual([shardId(0), shardId(1)]);
    expect(map.lastError?.code).toBe('InvalidShardListing');
  });

  it('refuses hash keys that are not integers in 0..2^128-1', async () => {
    const { makeMap } = await setup(() => listing([listedShard('shardId-a', 0n, TWO_128)]));
    await expect(makeMap().refresh()).rejects.toMatchObject({ code: 'InvalidShardListing' });
  });
});

describe('ShardMap refresh', () => {
  it('coalesces concurrent refreshes into one walk', async () => {
    const gate = new Gate();
    const { fake, makeMap } = await setup(async () => {
      await gate.wait();
      return listing(evenListing(4));
    });
    const map = makeMap();
    const calls = [map.refresh(), map.refresh(), map.refresh()];
    expect(calls[1]).toBe(calls[0]);
    expect(map.loading).toBe(true);
    await eventually(() => fake.requests.length === 1);
    gate.open();
    await Promise.all(calls);
    expect(listShards(fake)).toHaveLength(1);
    expect(map.loading).toBe(false);
    expect(map.shards).toHaveLength(4);
  });

  it('serves the old map while refreshing, then swaps and calls onUpdate only on change', async () => {
    let gate: Gate | undefined = undefined;
    let shards = evenListing(2);
    const { makeMap } = await setup(async () => {
      await gate?.wait();
      return listing(shards);
    });
    const updates: number[] = [];
    const map = makeMap({ onUpdate: (m) => updates.push(m.shards.length) });
    await map.refresh();
    expect(updates).toEqual([2]);

    gate = new Gate();
    shards = evenListing(3, 10);
    const pending = map.refresh();
    await sleep(30);
    expect(map.loading).toBe(true);
    expect(map.lookup(MAX_HASH_KEY)?.shardId).toBe(shardId(1));
    expect(map.version).toBe(1);
    gate.open();
    await pending;
    expect(map.lookup(MAX_HASH_KEY)?.shardId).toBe(shardId(12));
    expect(map.version).toBe(2);
    expect(updates).toEqual([2, 3]);

    await map.refresh(); // same listing: no update
    expect(map.version).toBe(2);
    expect(updates).toEqual([2, 3]);
  });

  it('onUpdate can be set after construction, and a throwing one is reported, not fatal', async () => {
    const { makeMap } = await setup(() => listing(evenListing(2)));
    const errors: ShardlineError[] = [];
    const map = makeMap({ onError: (e) => errors.push(e) });
    map.onUpdate = () => {
      throw new Error('boom');
    };
    await map.refresh();
    expect(map.ready).toBe(true);
    expect(errors.map((e) => e.code)).toEqual(['OnUpdateFailed']);
    expect(map.lastError).toBeUndefined();
  });

  it('backs off after failures and retries by itself until it succeeds', async () => {
    let failuresLeft = 3;
    const { fake, makeMap } = await setup(() =>
      failuresLeft-- > 0 ? kinesisError('LimitExceededException', 'Rate exceeded') : listing(evenListing(2)),
    );
    const errors: string[] = [];
    const updates: number[] = [];
    const map = makeMap({ minBackoffMs: 50, maxBackoffMs: 150, onError: (e) => errors.push(e.code), onUpdate: () => updates.push(1) });

    const first = await map.refresh().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(first).toBeInstanceOf(ShardlineError);
    expect(first).toMatchObject({ code: 'LimitExceededException', retriable: true });
    expect(map.lastError?.code).toBe('LimitExceededException');
    expect(map.ready).toBe(false);

    await eventually(() => map.ready, 3000);
    const times = listShards(fake).map((r) => r.receivedAt);
    expect(times).toHaveLength(4);
    // Backoff 50, 100, 150 (capped) ms, -20 % jitter at most, floored at minBackoffMs.
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps[0]).toBeGreaterThanOrEqual(48);
    expect(gaps[1]).toBeGreaterThanOrEqual(78);
    expect(gaps[2]).toBeGreaterThanOrEqual(118);
    expect(errors).toEqual(['LimitExceededException', 'LimitExceededException', 'LimitExceededException']);
    expect(map.lastError).toBeUndefined();
    expect(updates).toHaveLength(1);
    await sleep(200);
    expect(listShards(fake)).toHaveLength(4); // no retries after success
  });

  it('retries credential and clock errors by itself: tokens rotate and clocks get corrected', async () => {
    let expired = true;
    const { fake, makeMap } = await setup(() =>
      expired ? kinesisError('ExpiredTokenException', 'The security token included in the request is expired', 403) : listing(evenListing(1)),
    );
    const map = makeMap({ minBackoffMs: 20, maxBackoffMs: 40 });
    await expect(map.refresh()).rejects.toMatchObject({ code: 'ExpiredTokenException', retriable: true });
    expired = false;
    await eventually(() => map.ready, 3000);
    expect(listShards(fake).length).toBeGreaterThanOrEqual(2);
    expect(map.lastError).toBeUndefined();
  });

  it('does not retry a non-retriable error by itself; refresh() rejects with it', async () => {
    let exists = false;
    const { fake, makeMap } = await setup(() =>
      exists ? listing(evenListing(1)) : kinesisError('ResourceNotFoundException', 'Stream test-stream not found'),
    );
    const map = makeMap({ minBackoffMs: 20, maxBackoffMs: 40 });
    await expect(map.refresh()).rejects.toMatchObject({
      name: 'ShardlineError',
      code: 'ResourceNotFoundException',
      retriable: false,
    });
    await sleep(150);
    expect(listShards(fake)).toHaveLength(1);
    expect(map.lastError?.code).toBe('ResourceNotFoundException');
    expect(map.lastError?.cause).toMatchObject({ name: 'ResourceNotFoundException' });

    exists = true;
    map.requestRefresh();
    await eventually(() => map.ready);
    expect(listShards(fake)).toHaveLength(2);
    expect(map.lastError).toBeUndefined();
  });

  it('requestRefresh spaces walks by minBackoffMs and folds many requests into one', async () => {
    const { fake, makeMap } = await setup(() => listing(evenListing(2)));
    const map = makeMap({ minBackoffMs: 100, maxBackoffMs: 400 });
    await map.refresh();
    for (let i = 0; i < 10; i++) map.requestRefresh();
    await sleep(50);
    expect(listShards(fake)).toHaveLength(1);
    await eventually(() => listShards(fake).length === 2);
    const [t0, t1] = listShards(fake).map((r) => r.receivedAt) as [number, number];
    expect(t1 - t0).toBeGreaterThanOrEqual(95);
    await sleep(250);
    expect(listShards(fake)).toHaveLength(2);
  });

  it('a request during a walk makes one more walk after it', async () => {
    const gate = new Gate();
    const { fake, makeMap } = await setup(async () => {
      await gate.wait();
      return listing(evenListing(2));
    });
    const map = makeMap({ minBackoffMs: 30 });
    const first = map.refresh();
    await eventually(() => fake.requests.length === 1);
    map.requestRefresh();
    map.requestRefresh();
    expect(listShards(fake)).toHaveLength(1);
    gate.open();
    await first;
    await eventually(() => listShards(fake).length === 2 && !map.loading);
    await sleep(100);
    expect(listShards(fake)).toHaveLength(2);
  });

  it('requestRefresh respects a pending backoff', async () => {
    let fail = true;
    const { fake, makeMap } = await setup(() => (fail ? kinesisError('InternalFailure', 'oops', 500) : listing(evenListing(2))));
    const map = makeMap({ minBackoffMs: 150, maxBackoffMs: 150 });
    await expect(map.refresh()).rejects.toMatchObject({ code: 'InternalFailure', retriable: true });
    fail = false;
    for (let i = 0; i < 5; i++) map.requestRefresh();
    await sleep(60);
    expect(listShards(fake)).toHaveLength(1);
    await eventually(() => map.ready);
    expect(listShards(fake)).toHaveLength(2);
  });

  it('close() stops background retries and aborts a walk in flight', async () => {
    const { fake, makeMap } = await setup(() => kinesisError('LimitExceededException', 'Rate exceeded'));
    const map = makeMap({ minBackoffMs: 20, maxBackoffMs: 20 });
    await expect(map.refresh()).rejects.toMatchObject({ code: 'LimitExceededException' });
    map.close();
    await sleep(100);
    expect(listShards(fake)).toHaveLength(1);
    await expect(map.refresh()).rejects.toMatchObject({ code: 'ShardMapClosed' });
    map.requestRefresh(); // no-op, no throw
    expect(listShards(fake)).toHaveLength(1);

    const gate = new Gate();
    const slow = await setup(async () => {
      await gate.wait();
      return listing(evenListing(2));
    });
    const other = slow.makeMap();
    const pending = other.refresh();
    await eventually(() => slow.fake.requests.length === 1);
    other.close();
    await expect(pending).rejects.toMatchObject({ code: 'ShardMapClosed' });
    gate.open();
    expect(other.ready).toBe(false);
  });
});

describe('ShardMap closed-shard memory', () => {
  it('remembers a shard that closed for closedShardRetentionMs', async () => {
    const quarter = TWO_128 / 4n;
    const half = TWO_128 / 2n;
    let shards = [listedShard('parent-0', 0n, half - 1n), listedShard('parent-1', half, TWO_128 - 1n)];
    const { makeMap } = await setup(() => listing(shards));
    let clock = 1_000_000;
    const map = makeMap({ now: () => clock, closedShardRetentionMs: 60_000 });
    await map.refresh();
    expect(map.shardContains('parent-0', hk(5n))).toBe(true);
    expect(map.shardContains('parent-0', hk(half))).toBe(false);
    expect(map.shardContains('child-2', hk(5n))).toBeUndefined();

    // parent-0 splits into child-2 and child-3: listed closed (like kinesalite) on the first refresh…
    shards = [
      listedShard('parent-0', 0n, half - 1n, true),
      listedShard('parent-1', half, TWO_128 - 1n),
      listedShard('child-2', 0n, quarter - 1n),
      listedShard('child-3', quarter, half - 1n),
    ];
    clock += 1000;
    await map.refresh();
    expect(map.isOpen('parent-0')).toBe(false);
    expect(map.isOpen('child-2')).toBe(true);
    expect(map.shardContains('parent-0', hk(5n))).toBe(true);
    expect(map.shardContains('parent-0', hk(quarter))).toBe(true);
    expect(map.shardContains('parent-0', hk(half))).toBe(false);
    expect(map.shardContains('child-2', hk(5n))).toBe(true);
    expect(map.shardContains('child-2', hk(quarter))).toBe(false);
    expect(map.lookup(hk(quarter))?.shardId).toBe('child-3');

    // …and then no longer listed (AT_LATEST): still remembered from when it closed.
    shards = shards.filter((s) => s.ShardId !== 'parent-0');
    clock += 30_000;
    await map.refresh();
    expect(map.shardContains('parent-0', hk(5n))).toBe(true);

    clock += 30_001; // 60,001 ms after it closed
    expect(map.shardContains('parent-0', hk(5n))).toBeUndefined();
    expect(map.shardContains('child-2', hk(5n))).toBe(true);
  });
});

describe('ShardMap options', () => {
  const client = localClient('http://127.0.0.1:9');
  afterAll(() => client.destroy());

  it.each([
    [{ streamName: undefined }, 'streamName'],
    [{ streamName: 'bad name!' }, 'streamName'],
    [{ streamARN: 'arn:aws:s3:::bucket' }, 'streamARN'],
    [{ minBackoffMs: 0 }, 'minBackoffMs'],
    [{ minBackoffMs: 1.5 }, 'minBackoffMs'],
    [{ minBackoffMs: 500, maxBackoffMs: 100 }, 'maxBackoffMs'],
    [{ closedShardRetentionMs: -1 }, 'closedShardRetentionMs'],
    [{ client: {} as KinesisClient }, 'client'],
  ] satisfies Array<[Partial<ShardMapOptions>, string]>)('refuses %j (field %s)', (options, field) => {
    expect(() => new ShardMap({ client, streamName: 's', ...options })).toThrow(ValidationError);
    expect(() => new ShardMap({ client, streamName: 's', ...options })).toThrow(
      expect.objectContaining({ field }) as Error,
    );
  });

  it('accepts defaults', () => {
    const map = new ShardMap({ client, streamName: 's' });
    expect(map.ready).toBe(false);
    map.close();
  });
});
