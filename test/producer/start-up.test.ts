/**
 * The first moments of a producer, driven as real code drives it: a burst of puts before the
 * stream is known, in a loop that never yields to I/O or only through `await ready()`; many streams
 * at once; a stream that cannot be described or listed. Records put while the stream is being
 * learned wait for its first answers and are then aggregated and held to its shards' rates.
 */
import { describe, expect, it } from 'vitest';
import { KinesisProducer, type ProducerOptions, type PutResult } from '../../src/index.js';
import { useKinesis } from '../support/harness.js';
import { countIds, readStream, tallyIds } from '../support/read-stream.js';
import { localClient } from '../support/servers.js';

const kinesis = useKinesis({ proxySeed: 11 });

function producerFor(streamName: string, options: Partial<ProducerOptions> = {}): KinesisProducer {
  return new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint), ...options });
}

async function expectAllReadBack(streamName: string, count: number): Promise<void> {
  expect(tallyIds(countIds((await readStream(kinesis.admin, streamName)).records), count)).toEqual({ missing: [], duplicates: 0 });
}

describe('start-up: records put before the stream is known', () => {
  it('aggregates a synchronous loop of 50,000 puts made before any answer could be read', async () => {
    const streamName = await kinesis.newStream(4);
    const producer = producerFor(streamName);
    const promises: Promise<PutResult>[] = [];
    for (let i = 0; i < 50_000; i++) promises.push(producer.put({ partitionKey: `k${i % 1000}`, data: `${i}|sync` }));
    const results = await Promise.all(promises);
    const { kinesisRecordsPut, putRecordsRequests } = producer.metrics;
    await producer.close();
    console.log(`sync loop: 50,000 records → ${kinesisRecordsPut} Kinesis records in ${putRecordsRequests} calls`);
    expect(results.every((r) => r.aggregated)).toBe(true);
    // 50,000 records of ~12 B in envelopes of up to 51,200 B: a few dozen Kinesis records.
    expect(kinesisRecordsPut).toBeLessThan(200);
    await expectAllReadBack(streamName, 50_000);
  });

  it('aggregates a loop of `await ready(); put()` that never lets I/O run', async () => {
    const streamName = await kinesis.newStream(4);
    const producer = producerFor(streamName);
    const promises: Promise<PutResult>[] = [];
    for (let i = 0; i < 50_000; i++) {
      await producer.ready();
      promises.push(producer.put({ partitionKey: `k${i % 1000}`, data: `${i}|ready` }));
    }
    const results = await Promise.all(promises);
    const { kinesisRecordsPut } = producer.metrics;
    await producer.close();
    expect(results.every((r) => r.aggregated)).toBe(true);
    expect(kinesisRecordsPut).toBeLessThan(200);
    await expectAllReadBack(streamName, 50_000);
  });

  it('aggregates a burst to 50 streams at once', async () => {
    const names = await Promise.all(Array.from({ length: 50 }, () => kinesis.newStream(1)));
    const producer = new KinesisProducer({ client: localClient(kinesis.proxy.endpoint) });
    const promises: Promise<PutResult>[] = [];
    for (const streamName of names) for (let i = 0; i < 200; i++) promises.push(producer.put({ streamName, partitionKey: `k${i}`, data: `${i}|many` }));
    const results = await Promise.all(promises);
    await producer.close();
    expect(results.filter((r) => !r.aggregated)).toHaveLength(0);
    await expectAllReadBack(names[0]!, 200);
  });

  it('flush() sends at once when the stream can be neither described nor listed', async () => {
    const streamName = await kinesis.newStream(2);
    kinesis.proxy.setFaults({ requestFailure: { kind: 'AccessDeniedException', rate: 1, operations: ['DescribeStreamSummary', 'ListShards'] } });
    const producer = producerFor(streamName, { recordMaxBufferedTime: 5000 });
    const put = producer.put({ partitionKey: 'k', data: '0|denied' });
    const started = performance.now();
    await producer.flush();
    const elapsed = performance.now() - started;
    await expect(put).resolves.toMatchObject({ aggregated: false });
    await producer.close();
    // Before the fix: the full recordMaxBufferedTime (5 s).
    expect(elapsed).toBeLessThan(2000);
  });

  it('fails records held for a stream that cannot be learned when their recordTtl runs out, not at requestTimeout', async () => {
    const streamName = await kinesis.newStream(1);
    kinesis.proxy.setFaults({ stall: { rate: 1, operations: ['DescribeStreamSummary', 'ListShards'] } });
    const producer = producerFor(streamName, { recordTtl: 300, requestTimeout: 4000 });
    const started = performance.now();
    const settled = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => producer.put({ partitionKey: `k${i}`, data: 'x' })));
    const elapsed = performance.now() - started;
    for (const outcome of settled) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ errorCode: 'Expired', attemptCount: 0 });
    }
    // Before the fix: when the wait for the stream ended, at requestTimeout (4 s).
    expect(elapsed).toBeLessThan(2500);
    kinesis.proxy.clearFaults();
    await producer.close();
  });

  it('holds records sent without a shard map to the stream\'s budget (its shards\' limits together)', async () => {
    const streamName = await kinesis.newStream(1);
    // ListShards refused: no prediction, but DescribeStreamSummary says one open shard.
    kinesis.proxy.setFaults({ requestFailure: { kind: 'AccessDeniedException', rate: 1, operations: ['ListShards'] } });
    // rateLimit 1 %: 10 records/s for the stream's one shard.
    const producer = producerFor(streamName, { rateLimit: 1, aggregationEnabled: false, recordTtl: 1200 });
    const settled = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => producer.put({ partitionKey: `k${i}`, data: `${i}|budget` })));
    await producer.close();
    const delivered = settled.filter((r) => r.status === 'fulfilled').length;
    // About 1.2 s at 10 records/s plus the first second's bucket: far fewer than 60.
    expect(delivered).toBeGreaterThanOrEqual(5);
    expect(delivered).toBeLessThanOrEqual(35);
  });
});
