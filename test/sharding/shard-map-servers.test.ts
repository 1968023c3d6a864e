/**
 * The shard map against real local servers: its predictions must agree with the ShardId the server
 * answers for every record.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordsCommand,
  SplitShardCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashKeyCache, ShardMap, hashKeyToDecimal, type ShardMapOptions } from '../../src/sharding/index.js';
import {
  createStream,
  localClient,
  startKinesisLocal,
  startKinesalite,
  waitForActive,
  type LocalKinesis,
} from '../support/servers.js';
import { TWO_128, eventually, hk, sleep } from './listing.js';

interface TestKey {
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
}

const UNICODE = ['é', 'ß', 'ж', '日', '本', '😀', '€', 'a', 'Z', '-', '0'];

function randomPartitionKey(): string {
  switch (Math.floor(Math.random() * 3)) {
    case 0:
      return randomUUID();
    case 1:
      return `user-${Math.floor(Math.random() * 1e9)}`;
    default: {
      const length = 1 + Math.floor(Math.random() * 60);
      let key = '';
      while (key.length < length) key += UNICODE[Math.floor(Math.random() * UNICODE.length)] as string;
      return key;
    }
  }
}

/**
 * `count` keys: about 60 % partition keys (ASCII and multi-byte), the rest explicit hash keys, first
 * every shard's boundaries (start, end, and one past each end) and then random values.
 */
function testKeys(map: ShardMap, count: number): TestKey[] {
  const explicit: string[] = [];
  for (const shard of map.shards) {
    const start = BigInt(`0x${shard.startingHashKey}`);
    const end = BigInt(`0x${shard.endingHashKey}`);
    explicit.push(start.toString(), end.toString());
    if (end + 1n < TWO_128) explicit.push((end + 1n).toString());
  }
  const keys: TestKey[] = [];
  const explicitCount = Math.max(Math.floor(count * 0.4), Math.min(explicit.length, count));
  for (let i = 0; i < explicitCount; i++) {
    const value = explicit[i] ?? (BigInt(`0x${randomBytes(16).toString('hex')}`) % TWO_128).toString();
    keys.push({ partitionKey: `explicit-${i}`, explicitHashKey: value });
  }
  while (keys.length < count) keys.push({ partitionKey: randomPartitionKey() });
  return keys;
}

/**
 * Puts one record per key (500 per PutRecords, 4 calls in flight) and returns every record whose
 * ShardId differs from the map's prediction, to compare with [].
 */
async function mismatches(
  client: KinesisClient,
  stream: { StreamName?: string; StreamARN?: string },
  map: ShardMap,
  keys: readonly TestKey[],
): Promise<Array<TestKey & { predicted: string | undefined; actual: string | undefined }>> {
  const cache = new HashKeyCache();
  const batches: TestKey[][] = [];
  for (let i = 0; i < keys.length; i += 500) batches.push(keys.slice(i, i + 500));
  const wrong: Array<TestKey & { predicted: string | undefined; actual: string | undefined }> = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const batch = batches[next++] as TestKey[];
      const answer = await client.send(
        new PutRecordsCommand({
          ...stream,
          Records: batch.map((key) => ({
            PartitionKey: key.partitionKey,
            ExplicitHashKey: key.explicitHashKey,
            Data: Uint8Array.of(1),
          })),
        }),
      );
      expect(answer.Records).toHaveLength(batch.length);
      batch.forEach((key, i) => {
        const actual = answer.Records?.[i]?.ShardId;
        const predicted = map.lookup(cache.get(key.partitionKey, key.explicitHashKey))?.shardId;
        if (actual === undefined || predicted !== actual) wrong.push({ ...key, predicted, actual });
      });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return wrong;
}

describe('ShardMap on kinesalite', () => {
  let server: LocalKinesis;
  let client: KinesisClient;
  const maps: ShardMap[] = [];
  const newMap = (options: Omit<ShardMapOptions, 'client'>): ShardMap => {
    const map = new ShardMap({ client, ...options });
    maps.push(map);
    return map;
  };

  beforeAll(async () => {
    server = await startKinesalite();
    client = localClient(server.endpoint);
  });
  afterAll(async () => {
    maps.forEach((map) => map.close());
    client.destroy();
    await server.stop();
  });

  it('predicts the shard of 10,000 records on a 4-shard stream', async () => {
    await createStream(client, 'four', 4);
    const map = newMap({ streamName: 'four' });
    await map.refresh();
    expect(map.shards.map((s) => s.shardId)).toEqual([
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
      'shardId-000000000003',
    ]);
    expect(map.shards[0]?.startingHashKey).toBe(hk(0n));
    expect(map.shards[3]?.endingHashKey).toBe(hk(TWO_128 - 1n));
    const keys = testKeys(map, 10_000);
    expect(await mismatches(client, { StreamName: 'four' }, map, keys)).toEqual([]);
  });

  it('predicts the shard of 10,000 records on a 1,100-shard stream', async () => {
    const started = Date.now();
    await createStream(client, 'wide', 1100);
    // kinesalite creates it in ~0.1 s here; the brief allows skipping above 20 s.
    expect(Date.now() - started).toBeLessThan(20_000);
    const map = newMap({ streamName: 'wide' });
    await map.refresh();
    expect(map.shards).toHaveLength(1100);
    const keys = testKeys(map, 10_000);
    expect(keys.filter((k) => k.explicitHashKey !== undefined).length).toBeGreaterThanOrEqual(3299);
    expect(await mismatches(client, { StreamName: 'wide' }, map, keys)).toEqual([]);
  });

  it('after SplitShard: parent closed but remembered, children open and predicted', async () => {
    await createStream(client, 'split', 2);
    const updates: number[] = [];
    const map = newMap({ streamName: 'split', minBackoffMs: 10, onUpdate: (m) => updates.push(m.version) });
    await map.refresh();
    const parent = map.shards[0];
    if (parent === undefined) throw new Error('no shard');
    expect(parent.shardId).toBe('shardId-000000000000');
    const start = BigInt(`0x${parent.startingHashKey}`);
    const end = BigInt(`0x${parent.endingHashKey}`);
    const middle = (start + end) / 2n;

    await client.send(
      new SplitShardCommand({ StreamName: 'split', ShardToSplit: parent.shardId, NewStartingHashKey: middle.toString() }),
    );
    await waitForActive(client, 'split');
    await map.refresh();

    expect(updates).toEqual([1, 2]);
    // kinesalite ignores ShardFilter and lists the closed parent: the map must drop it.
    expect(map.shards.map((s) => [s.shardId, s.startingHashKey, s.endingHashKey])).toEqual([
      ['shardId-000000000002', hk(start), hk(middle - 1n)],
      ['shardId-000000000003', hk(middle), hk(end)],
      ['shardId-000000000001', hk(end + 1n), hk(TWO_128 - 1n)],
    ]);
    expect(map.isOpen(parent.shardId)).toBe(false);
    expect(map.isOpen('shardId-000000000002')).toBe(true);
    expect(map.shardContains(parent.shardId, hk(start))).toBe(true);
    expect(map.shardContains(parent.shardId, hk(end))).toBe(true);
    expect(map.shardContains(parent.shardId, hk(end + 1n))).toBe(false);
    expect(map.shardContains('shardId-000000000002', hk(middle))).toBe(false);
    expect(map.shardContains('shardId-000000000003', hk(middle))).toBe(true);

    // Keys of the parent's range now land on the children, as predicted.
    const keys = testKeys(map, 2000);
    expect(await mismatches(client, { StreamName: 'split' }, map, keys)).toEqual([]);
    const inParent = keys.filter((k) => k.explicitHashKey !== undefined && BigInt(k.explicitHashKey) <= end);
    expect(inParent.length).toBeGreaterThan(100);
    for (const key of inParent) {
      const shard = map.lookup(hk(BigInt(key.explicitHashKey as string)));
      expect(['shardId-000000000002', 'shardId-000000000003']).toContain(shard?.shardId);
      expect(map.shardContains(parent.shardId, shard?.startingHashKey ?? '')).toBe(true);
    }
  });

  it('a stream deleted and created again with 3 shards instead of 2: reused IDs answer with their new ranges', async () => {
    await createStream(client, 'again', 2);
    const updates: number[] = [];
    const map = newMap({ streamName: 'again', minBackoffMs: 20, maxBackoffMs: 100, onUpdate: (m) => updates.push(m.version) });
    await map.refresh();
    const old = map.shards.map((s) => [s.shardId, s.startingHashKey, s.endingHashKey]);
    const oldVersion = map.version;
    const oldEnd0 = BigInt(`0x${map.shards[0]?.endingHashKey ?? ''}`);

    await client.send(new DeleteStreamCommand({ StreamName: 'again' }));
    for (let gone = false; !gone; await sleep(20)) {
      gone = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'again' })).then(
        () => false,
        (error: Error) => error.name === 'ResourceNotFoundException',
      );
    }
    // The map keeps retrying while the stream does not exist, and picks up the new one by itself.
    await expect(map.refresh()).rejects.toMatchObject({ code: 'ResourceNotFoundException', retriable: true });
    await createStream(client, 'again', 3);
    await eventually(() => map.shards.length === 3);

    expect(updates).toEqual([oldVersion, oldVersion + 1]);
    const now = map.shards.map((s) => [s.shardId, s.startingHashKey, s.endingHashKey]);
    expect(now.map(([id]) => id)).toEqual(['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']);
    expect(now.slice(0, 2)).not.toEqual(old);
    // shardId-000000000000 held the first half before; it now holds the first third.
    const end0 = BigInt(`0x${map.shards[0]?.endingHashKey ?? ''}`);
    expect(end0).toBeLessThan(oldEnd0);
    expect(map.shardContains('shardId-000000000000', hk(oldEnd0))).toBe(false);
    expect(map.shardContains('shardId-000000000001', hk(oldEnd0))).toBe(true);
    expect(map.rangeChangedSince('shardId-000000000000', oldVersion)).toBe(true);
    expect(map.rangeChangedSince('shardId-000000000001', oldVersion)).toBe(true);
    expect(map.rangeChangedSince('shardId-000000000000', map.version)).toBe(false);
    // And the server agrees with the new map.
    expect(await mismatches(client, { StreamName: 'again' }, map, testKeys(map, 1000))).toEqual([]);
  });
});

describe('ShardMap on kinesis-local (StreamARN, server-side ShardFilter)', () => {
  let server: LocalKinesis;
  let client: KinesisClient;
  let map: ShardMap | undefined;

  beforeAll(async () => {
    server = await startKinesisLocal();
    client = localClient(server.endpoint);
  });
  afterAll(async () => {
    map?.close();
    client.destroy();
    await server.stop();
  });

  it('lists by ARN alone, predicts 1,000 records, and learns a split', async () => {
    await createStream(client, 'by-arn', 3);
    const streamARN = await waitForActive(client, 'by-arn');
    expect(streamARN).toMatch(/^arn:aws:kinesis:[a-z0-9-]+:\d{12}:stream\/by-arn$/);
    map = new ShardMap({ client, streamARN });
    await map.refresh();
    expect(map.shards).toHaveLength(3);
    expect(await mismatches(client, { StreamARN: streamARN }, map, testKeys(map, 1000))).toEqual([]);

    const parent = map.shards[1];
    if (parent === undefined) throw new Error('no shard');
    const middle = (BigInt(`0x${parent.startingHashKey}`) + BigInt(`0x${parent.endingHashKey}`)) / 2n;
    await client.send(
      new SplitShardCommand({ StreamARN: streamARN, ShardToSplit: parent.shardId, NewStartingHashKey: middle.toString() }),
    );
    await waitForActive(client, 'by-arn');
    await map.refresh();
    expect(map.shards).toHaveLength(4);
    expect(map.isOpen(parent.shardId)).toBe(false);
    expect(map.shardContains(parent.shardId, hk(middle))).toBe(true);
    expect(map.lookup(hk(middle))?.startingHashKey).toBe(hk(middle));
    expect(hashKeyToDecimal(map.lookup(hk(middle))?.startingHashKey ?? '')).toBe(middle.toString());
    expect(await mismatches(client, { StreamARN: streamARN }, map, testKeys(map, 1000))).toEqual([]);
  });
});
