/**
 * Metadata calls (ListShards, DescribeStreamSummary) under a stalled connection, through the fault
 * proxy in front of kinesalite: every call ends within its deadline and is tried again, so the
 * shard map and the capabilities load once the stall ends.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KinesisProducer } from '../../src/producer.js';
import { classifyRequestError } from '../../src/retry/index.js';
import { DEFAULT_MIN_BACKOFF_MS, DEFAULT_REQUEST_TIMEOUT_MS, ShardMap, describeStreamCapabilities } from '../../src/sharding/index.js';
import { useKinesis } from '../support/harness.js';
import { createStream, localClient } from '../support/servers.js';
import { eventually, sleep } from './listing.js';

const REQUEST_TIMEOUT_MS = 400;
const MAX_BACKOFF_MS = 200;
/** Room for a busy machine (2 cores shared with other test runs) on top of a bound the code sets. */
const SCHEDULING_SLACK_MS = 2000;
const STALL_MS = 1500;

describe('metadata calls against a stalled endpoint', () => {
  const kinesis = useKinesis({ proxySeed: 7 });
  let client: KinesisClient;

  beforeAll(async () => {
    await createStream(kinesis.admin, 'stalled', 2);
    // The SDK's own requestTimeout (30 s here) does not end a call; only shardline's deadline does.
    client = localClient(kinesis.proxy.endpoint);
  });
  afterAll(() => client.destroy());

  it('ListShards: the map loads within requestTimeout + maxBackoff of the stall ending', async () => {
    kinesis.proxy.setFaults({ stall: { rate: 1, operations: ['ListShards'] } });
    const map = new ShardMap({
      client,
      streamName: 'stalled',
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      minBackoffMs: 100,
      maxBackoffMs: MAX_BACKOFF_MS,
    });
    try {
      await expect(map.refresh()).rejects.toMatchObject({ code: 'RequestTimeout', retriable: true });
      await sleep(STALL_MS);
      expect(map.ready).toBe(false);
      kinesis.proxy.setFaults({ stall: undefined });
      // A call sent just before the stall ended is held until its deadline, then the retry waits at
      // most maxBackoff: the map is in place by then (plus scheduling).
      const stallEnded = Date.now();
      await eventually(() => map.ready, REQUEST_TIMEOUT_MS + MAX_BACKOFF_MS + SCHEDULING_SLACK_MS);
      expect(Date.now() - stallEnded).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS + MAX_BACKOFF_MS + SCHEDULING_SLACK_MS);
      expect(map.shards).toHaveLength(2);
      const stats = kinesis.proxy.stats;
      const calls = stats.requests.ListShards ?? 0;
      expect(calls).toBeGreaterThanOrEqual(3);
      expect(stats.stalls).toBe(calls - 1); // every call was held but the one after the stall
      expect(map.lastError).toBeUndefined();
    } finally {
      map.close();
    }
  });

  it('DescribeStreamSummary: a stalled call ends at its deadline as a retriable RequestTimeout, and the retry answers', async () => {
    kinesis.proxy.setFaults({ stall: { count: 1, operations: ['DescribeStreamSummary'] } });
    const started = Date.now();
    const error = await describeStreamCapabilities(client, { streamName: 'stalled' }, undefined, REQUEST_TIMEOUT_MS).then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 1);
    expect(elapsed).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS + SCHEDULING_SLACK_MS);
    expect(classifyRequestError(error)).toMatchObject({ kind: 'transient', code: 'RequestTimeout' });
    expect(String(error)).toContain('DescribeStreamSummary got no answer within 400 ms');

    await expect(describeStreamCapabilities(client, { streamName: 'stalled' }, undefined, REQUEST_TIMEOUT_MS)).resolves.toEqual({
      maxRecordSize: 1024 * 1024,
      serviceManagedDistribution: false,
      openShardCount: 2,
    });
    expect(kinesis.proxy.stats).toMatchObject({ stalls: 1, requests: { DescribeStreamSummary: 2 } });
  });

  it('a producer started into a 2 s blackhole of both calls aggregates once it ends', async () => {
    kinesis.proxy.setFaults({ stall: { rate: 1, operations: ['ListShards', 'DescribeStreamSummary'] } });
    const producer = new KinesisProducer({ streamName: 'stalled', client, requestTimeout: 1000 });
    try {
      const early = producer.put({ partitionKey: 'early', data: 'x' });
      await sleep(2000);
      kinesis.proxy.setFaults({ stall: undefined });
      // A call held at the end of the stall ends by its deadline (the producer's requestTimeout, or
      // the 6 s default where it is not passed down); then the retry waits out the metadata backoff
      // (1 s, then 2 s, ±20 %): at most 2.4 s, as a 2 s stall fails at most two calls in a row.
      const bound = DEFAULT_REQUEST_TIMEOUT_MS + 2.4 * DEFAULT_MIN_BACKOFF_MS + SCHEDULING_SLACK_MS;
      await eventually(() => producer.streamStatus()?.aggregating === true && producer.streamStatus()?.openShards === 2, bound);
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => producer.put({ partitionKey: `k${i}`, data: `v${i}` })));
      expect(results.filter((r) => r.aggregated).length).toBeGreaterThan(150);
      await early; // settled, whichever way it went out
    } finally {
      await producer.close();
    }
  });
});
