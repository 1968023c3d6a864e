/**
 * Flow control through the loopback proxy in front of kinesalite: a shard saturated at its real
 * limits, a producer fed ten times faster than its endpoint accepts, and stream capabilities that
 * the local servers lack (presented by the proxy).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SplitShardCommand } from '@aws-sdk/client-kinesis';
import { BackpressureError, KinesisProducer, UserRecordFailedError, ValidationError, type ProducerOptions, type PutResult } from '../../src/index.js';
import { countIds, readStream, tallyIds } from '../support/read-stream.js';
import { useKinesis } from '../support/harness.js';
import { localClient, startFakeKinesis, type FakeKinesis } from '../support/servers.js';

const kinesis = useKinesis({ proxySeed: 11 });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads the stream back: the ids in 0..count-1 never read, and the extra copies read. */
async function readBackTally(streamName: string, count: number): Promise<{ missing: string[]; duplicates: number }> {
  return tallyIds(countIds((await readStream(kinesis.admin, streamName)).records), count);
}

/** What {@link saturate} measured from its steady-state mark on. */
interface Saturation {
  /** Bytes per second the shard accepted. */
  readonly throughput: number;
  readonly throttled: number;
  readonly attempts: number;
  /** Bytes per second each producer got written (by its promises settling in the window). */
  readonly perProducer: number[];
  readonly sent: number;
}

/**
 * Offers 1 KB records to a one-shard stream at `offered` times the shard's byte limit, split evenly
 * over the producers, for `seconds`, paced by the clock (not by sleeps, which a busy machine
 * stretches); measures from `steadyFrom` seconds on (before, the limiters find the shard's real
 * rate). Then lifts the limits, drains, and checks that every record was read back exactly once.
 */
async function saturate(streamName: string, producers: KinesisProducer[], offered: number, seconds: number, steadyFrom: number): Promise<Saturation> {
  const limit = { recordsPerSecond: 1000, bytesPerSecond: 1024 * 1024 };
  kinesis.proxy.setFaults({ shardLimits: limit });
  const record = Buffer.alloc(1000, 'r');
  const promises: Promise<PutResult>[] = [];
  const offeredPerMs = (offered * limit.bytesPerSecond) / record.length / 1000;
  const shardStats = () => Object.values(kinesis.proxy.stats.shards[streamName] ?? {})[0];
  const written = producers.map(() => 0);
  let sent = 0;
  let mark: { at: number; bytes: number; throttled: number; accepted: number } | undefined;
  const started = performance.now();
  for (let elapsed = 0; elapsed < seconds * 1000; elapsed = performance.now() - started) {
    for (const due = Math.floor(elapsed * offeredPerMs); sent < due; sent++) {
      const data = Buffer.from(record);
      data.write(`${sent}|`, 0, 'latin1');
      const which = sent % producers.length;
      const promise = producers[which]!.put({ partitionKey: `k${sent % 500}`, data });
      promise.then(
        () => {
          if (mark !== undefined && performance.now() - started < seconds * 1000) written[which]! += data.length;
        },
        () => undefined,
      );
      promises.push(promise);
    }
    if (mark === undefined && elapsed >= steadyFrom * 1000) {
      const shard = shardStats();
      mark = { at: performance.now(), bytes: shard?.acceptedBytes ?? 0, throttled: shard?.throttledEntries ?? 0, accepted: shard?.acceptedRecords ?? 0 };
    }
    await sleep(10);
  }
  const shard = shardStats()!;
  const window = (performance.now() - mark!.at) / 1000;
  const throttled = shard.throttledEntries - mark!.throttled;
  const measured: Saturation = {
    throughput: (shard.acceptedBytes - mark!.bytes) / window,
    throttled,
    attempts: throttled + shard.acceptedRecords - mark!.accepted,
    perProducer: written.map((bytes) => bytes / window),
    sent,
  };
  kinesis.proxy.clearFaults(); // let the backlog out quickly
  const results = await Promise.allSettled(promises);
  for (const producer of producers) await producer.close();
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  expect(await readBackTally(streamName, sent)).toEqual({ missing: [], duplicates: 0 });
  return measured;
}

const mib = (bytesPerSecond: number): string => (bytesPerSecond / 1024 / 1024).toFixed(3);

describe('per-shard rate limiting', () => {
  it('fills a shard saturated at its real limits with few throttles, and loses nothing', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint) });
    const m = await saturate(streamName, [producer], 1.25, 14, 6);
    console.log(
      `saturated shard: ${mib(m.throughput)} MiB/s delivered (limit 1), throttled ${m.throttled} of ${m.attempts} attempts ` +
        `(${((100 * m.throttled) / m.attempts).toFixed(1)} %), ${m.sent} records offered`,
    );
    expect(m.throughput).toBeGreaterThanOrEqual(0.9 * 1024 * 1024);
    expect(m.throttled / m.attempts).toBeLessThan(0.05);
  }, 60_000);

  it('starts on a saturated shard without a burst of throttling: under 2 % throttled over the whole run', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint) });
    const m = await saturate(streamName, [producer], 1.25, 11, 0);
    console.log(
      `cold start: ${mib(m.throughput)} MiB/s delivered over the whole run (limit 1), throttled ${m.throttled} of ${m.attempts} attempts ` +
        `(${((100 * m.throttled) / m.attempts).toFixed(1)} %)`,
    );
    expect(m.throttled / m.attempts).toBeLessThan(0.02);
    expect(m.throughput).toBeGreaterThanOrEqual(0.95 * 1024 * 1024);
  }, 60_000);

  it('converges when two producers share a shard: the shard stays full, neither storms nor starves', async () => {
    const streamName = await kinesis.newStream(1);
    const producers = [0, 1].map(() => new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint) }));
    const m = await saturate(streamName, producers, 1.6, 16, 8);
    console.log(
      `shared shard: ${mib(m.throughput)} MiB/s delivered (limit 1; ${m.perProducer.map(mib).join(' + ')}), ` +
        `throttled ${m.throttled} of ${m.attempts} attempts (${((100 * m.throttled) / m.attempts).toFixed(1)} %)`,
    );
    expect(m.throughput).toBeGreaterThanOrEqual(0.85 * 1024 * 1024);
    expect(m.throttled / m.attempts).toBeLessThan(0.1);
    for (const share of m.perProducer) expect(share).toBeGreaterThanOrEqual(0.25 * m.throughput);
  }, 60_000);

  it('lets held records out in TTL order and fails those whose TTL runs out while held', async () => {
    const streamName = await kinesis.newStream(1);
    // rateLimit 1 %: 10 records/s a shard, a bucket of 10 to start with; raw records of 1 KiB.
    const producer = new KinesisProducer({
      streamName,
      client: localClient(kinesis.server.endpoint),
      rateLimit: 1,
      aggregationEnabled: false,
      recordTtl: 1500,
    });
    const settled = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => producer.put({ partitionKey: `k${i}`, data: Buffer.alloc(1024, i) })),
    );
    await producer.close();
    const delivered = settled.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    const expired = settled.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
    // About 1.5 s of 10 records/s plus the first bucket: 20-30 delivered, the rest expired.
    expect(delivered.length).toBeGreaterThanOrEqual(15);
    expect(delivered.length).toBeLessThanOrEqual(35);
    // The earliest TTLs left first: every delivered record was put before every expired one.
    expect(Math.max(...delivered)).toBeLessThan(Math.min(...expired));
    for (const i of expired) {
      const error = (settled[i] as PromiseRejectedResult).reason as UserRecordFailedError;
      expect(error).toMatchObject({ errorCode: 'Expired', attempts: [] });
      expect(error.message).toContain('rate limit');
    }
  });
});

describe('backpressure', () => {
  it('keeps what it holds within its bounds when fed 10x faster than the endpoint accepts; loses nothing', async () => {
    const streamName = await kinesis.newStream(2);
    // The endpoint takes 100 KiB/s a shard; the feeder tries ten times that.
    const accepts = 2 * 100 * 1024;
    kinesis.proxy.setFaults({ shardLimits: { recordsPerSecond: 1000, bytesPerSecond: accepts / 2 } });
    const maxOutstandingBytes = 512 * 1024;
    const maxOutstandingRecords = 200;
    const producer = new KinesisProducer({
      streamName,
      client: localClient(kinesis.proxy.endpoint),
      maxUserRecordSize: 64 * 1024,
      maxOutstandingBytes,
      maxOutstandingRecords,
    });
    const peak = { bytes: 0, records: 0, rss: process.memoryUsage().rss };
    const rssBefore = peak.rss;
    const sampler = setInterval(() => {
      peak.bytes = Math.max(peak.bytes, producer.metrics.outstandingBytes);
      peak.records = Math.max(peak.records, producer.outstandingRecords);
      peak.rss = Math.max(peak.rss, process.memoryUsage().rss);
    }, 5);
    const recordSize = 2048;
    const offeredPerMs = (10 * accepts) / recordSize / 1000;
    const promises: Promise<PutResult>[] = [];
    let sent = 0;
    let waited = 0;
    const started = performance.now();
    // The feeder offers records at ten times what the endpoint takes (paced by the clock), and
    // waits on ready() before each: that wait is the backpressure.
    for (let elapsed = 0; elapsed < 5000; elapsed = performance.now() - started) {
      for (let due = Math.floor(elapsed * offeredPerMs); sent < due && performance.now() - started < 5000; sent++) {
        const before = performance.now();
        await producer.ready();
        if (performance.now() - before > 1) {
          waited++;
          due = Math.floor((performance.now() - started) * offeredPerMs);
        }
        const data = Buffer.alloc(recordSize, 'b');
        data.write(`${sent}|`, 0, 'latin1');
        promises.push(producer.put({ partitionKey: `k${sent % 300}`, data }));
      }
      await sleep(10);
    }
    const fedPerSecond = (sent * recordSize) / ((performance.now() - started) / 1000);
    // Beyond the bound, put() refuses at once and takes nothing.
    const refusals = await Promise.allSettled(
      Array.from({ length: maxOutstandingRecords + 1 }, (_, i) => producer.put({ partitionKey: 'over', data: `over-${i}` })),
    );
    const refused = refusals.filter((r) => r.status === 'rejected' && r.reason instanceof BackpressureError).length;
    expect(refused).toBeGreaterThan(0);
    expect(producer.outstandingRecords).toBeLessThanOrEqual(maxOutstandingRecords);
    const results = await Promise.allSettled(promises);
    await producer.close();
    clearInterval(sampler);
    console.log(
      `backpressure: offered ${(10 * accepts) / 1024} KiB/s, took ${(fedPerSecond / 1024).toFixed(0)} KiB/s into an endpoint taking ${accepts / 1024} KiB/s; ` +
        `${sent} records, ready() made the feeder wait ${waited} times; peak held ${peak.records} records, ` +
        `${(peak.bytes / 1024).toFixed(0)} KiB; RSS grew ${((peak.rss - rssBefore) / 1024 / 1024).toFixed(1)} MiB; ${refused} puts refused`,
    );
    expect(waited).toBeGreaterThan(0);
    expect(peak.bytes).toBeLessThanOrEqual(maxOutstandingBytes);
    expect(peak.records).toBeLessThanOrEqual(maxOutstandingRecords);
    expect(peak.rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await readBackTally(streamName, sent)).toEqual({ missing: [], duplicates: 0 });
  }, 60_000);

  it('sends what it holds at once while callers wait for room, not at recordMaxBufferedTime', async () => {
    const streamName = await kinesis.newStream(2);
    const recordMaxBufferedTime = 60_000;
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint), maxOutstandingRecords: 100, recordMaxBufferedTime });
    const count = 1000;
    const promises: Promise<PutResult>[] = [];
    const started = performance.now();
    // Ten times the bound, each put after ready(): every batch must leave once the producer is
    // full, since nothing more can join it; held until its deadline, the first would take a minute.
    for (let i = 0; i < count; i++) {
      await producer.ready();
      promises.push(producer.put({ partitionKey: `k${i % 50}`, data: `${i}|` }));
    }
    const fedMs = performance.now() - started;
    // The last batch never filled the producer: it waits for its deadline, or a flush.
    await producer.flush();
    const results = await Promise.allSettled(promises);
    await producer.close();
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(fedMs).toBeLessThan(recordMaxBufferedTime / 2);
    expect(await readBackTally(streamName, count)).toEqual({ missing: [], duplicates: 0 });
  }, 60_000);
});

describe('stream capabilities', () => {
  it('never aggregates for a stream that distributes records itself (RecordDistributionStrategy AUTO)', async () => {
    const streamName = await kinesis.newStream(2);
    kinesis.proxy.setFaults({ summaryPatch: { RecordDistributionStrategy: 'AUTO', StreamModeDetails: { StreamMode: 'ON_DEMAND' } } });
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint) });
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => producer.put({ partitionKey: `k${i % 10}`, data: `${i}|auto` })));
    expect(producer.streamStatus()).toMatchObject({ aggregating: false, capabilities: { serviceManagedDistribution: true } });
    await producer.close();
    expect(results.every((r) => !r.aggregated)).toBe(true);
    const contents = await readStream(kinesis.admin, streamName);
    expect(contents.kinesisRecords).toBe(500);
    expect(contents.records.every((r) => !r.aggregated)).toBe(true);
  });

  it('does not aggregate when the capabilities cannot be read, and says why', async () => {
    const streamName = await kinesis.newStream(2);
    kinesis.proxy.setFaults({ requestFailure: { kind: 'AccessDeniedException', rate: 1, operations: ['DescribeStreamSummary'] } });
    const warnings: (Error & { code?: string })[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint) });
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => producer.put({ partitionKey: `k${i % 10}`, data: `${i}|denied` })));
    process.off('warning', onWarning);
    // Said once, loudly: a missing permission costs an order of magnitude of throughput.
    expect(warnings.filter((w) => w.code === 'SHARDLINE_UNAGGREGATED')).toHaveLength(1);
    expect(warnings[0]!.message).toContain('AccessDeniedException');
    const status = producer.streamStatus()!;
    expect(status.aggregating).toBe(false);
    expect(status.capabilities).toBeUndefined();
    expect(status.lastError?.name).toBe('AccessDeniedException');
    await producer.close();
    expect(results.every((r) => !r.aggregated)).toBe(true);
    expect(await readBackTally(streamName, 300)).toEqual({ missing: [], duplicates: 0 });
  });

  it('says so as well when the capabilities cannot be read because the endpoint does not answer, and aggregates once it does', async () => {
    const streamName = await kinesis.newStream(2);
    kinesis.proxy.setFaults({ stall: { count: 1, operations: ['DescribeStreamSummary'] } });
    const warnings: (Error & { code?: string })[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint), requestTimeout: 500 });
    const first = await Promise.all(Array.from({ length: 100 }, (_, i) => producer.put({ partitionKey: `k${i % 10}`, data: `${i}|stalled` })));
    process.off('warning', onWarning);
    expect(warnings.filter((w) => w.code === 'SHARDLINE_UNAGGREGATED').map((w) => w.message)).toEqual([expect.stringContaining('(RequestTimeout)')]);
    expect(first.every((r) => !r.aggregated)).toBe(true);
    // The read is retried after a backoff (1 s): from then on the stream is aggregated for.
    while (producer.streamStatus()?.aggregating !== true) await sleep(50);
    const later = await Promise.all(Array.from({ length: 100 }, (_, i) => producer.put({ partitionKey: `k${i % 10}`, data: `${100 + i}|answered` })));
    await producer.close();
    expect(later.some((r) => r.aggregated)).toBe(true);
    expect(await readBackTally(streamName, 200)).toEqual({ missing: [], duplicates: 0 });
  });

  it('reads the capabilities again when the stream\'s shards change, and aggregates from then on', async () => {
    const streamName = await kinesis.newStream(1);
    kinesis.proxy.setFaults({ requestFailure: { kind: 'AccessDeniedException', rate: 1, operations: ['DescribeStreamSummary'] } });
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint), shardMapRefreshInterval: 100 });
    const before = await producer.put({ partitionKey: 'k', data: '0|before' });
    expect(before.aggregated).toBe(false);
    expect(producer.streamStatus()?.aggregating).toBe(false);
    kinesis.proxy.clearFaults(); // the permission is granted; nothing tells the producer but a change of shards
    await sleep(300);
    expect(producer.streamStatus()?.aggregating).toBe(false);
    const [shard] = (await readStream(kinesis.admin, streamName)).shards;
    await kinesis.admin.send(
      new SplitShardCommand({ StreamName: streamName, ShardToSplit: shard!.ShardId!, NewStartingHashKey: (2n ** 127n).toString() }),
    );
    for (let i = 0; i < 100 && producer.streamStatus()?.aggregating !== true; i++) await sleep(50);
    expect(producer.streamStatus()).toMatchObject({ aggregating: true, openShards: 2, lastError: undefined });
    const after = await Promise.all([1, 2, 3].map((i) => producer.put({ partitionKey: 'k', data: `${i}|after` })));
    expect(after.every((r) => r.aggregated)).toBe(true);
    await producer.close();
  });

  it('aggregates once the capabilities are read, and bounds record size by the stream\'s', async () => {
    const streamName = await kinesis.newStream(1);
    kinesis.proxy.setFaults({ summaryPatch: { MaxRecordSizeInKiB: 64 } });
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint), maxUserRecordSize: 1024 * 1024 });
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => producer.put({ partitionKey: `k${i}`, data: `${i}|ok` })));
    expect(results.every((r) => r.aggregated)).toBe(true);
    expect(producer.streamStatus()).toMatchObject({ aggregating: true, capabilities: { maxRecordSize: 64 * 1024, serviceManagedDistribution: false } });
    // Now that the stream's limit is known, a larger record is refused up front, naming the field.
    await expect(producer.put({ partitionKey: 'big', data: Buffer.alloc(64 * 1024) })).rejects.toBeInstanceOf(ValidationError);
    await expect(producer.put({ partitionKey: 'fits', data: Buffer.alloc(64 * 1024 - 4) })).resolves.toMatchObject({ aggregated: false });
    await producer.close();
  });

  it('fails a too-large record that arrived before the stream\'s limit was known, and only that one', async () => {
    const streamName = await kinesis.newStream(1);
    kinesis.proxy.setFaults({ summaryPatch: { MaxRecordSizeInKiB: 64 } });
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint), maxUserRecordSize: 1024 * 1024 });
    const big = producer.put({ partitionKey: 'big', data: Buffer.alloc(100 * 1024) });
    const small = producer.put({ partitionKey: 'small', data: 'x' });
    await expect(big).rejects.toBeInstanceOf(UserRecordFailedError);
    await expect(big).rejects.toMatchObject({ errorCode: 'ValidationError' });
    await expect(small).resolves.toMatchObject({ shardId: 'shardId-000000000000' });
    await producer.close();
  });
});

describe('request size on streams that take records over 1 MiB', () => {
  const MiB = 1024 * 1024;

  /**
   * A fake stream of 12 equal shards answering every PutRecords entry with success, in the shard
   * holding its hash key; records its requests. Twelve shards so that each large record below has
   * a shard (and a shard's rate) of its own: one shard takes one 900 KiB record at a time.
   */
  const SHARDS = 12n;
  const RING = 2n ** 128n;
  const shardOf = (hashKey: bigint): number => Number((hashKey * SHARDS) / RING);
  const shardId = (i: number): string => `shardId-${String(i).padStart(12, '0')}`;
  /** An explicit hash key in the middle of shard `i`. */
  const inShard = (i: number): string => ((RING * BigInt(2 * i + 1)) / (2n * SHARDS)).toString();

  async function fakeStream(maxRecordSizeInKiB: number | undefined) {
    let sequence = 1;
    return startFakeKinesis((request) => {
      if (request.operation === 'DescribeStreamSummary') {
        return { body: { StreamDescriptionSummary: { StreamName: 'big', StreamStatus: 'ACTIVE', OpenShardCount: Number(SHARDS), MaxRecordSizeInKiB: maxRecordSizeInKiB } } };
      }
      if (request.operation === 'ListShards') {
        const shards = Array.from({ length: Number(SHARDS) }, (_, i) => ({
          ShardId: shardId(i),
          HashKeyRange: { StartingHashKey: ((RING * BigInt(i)) / SHARDS).toString(), EndingHashKey: ((RING * BigInt(i + 1)) / SHARDS - 1n).toString() },
          SequenceNumberRange: { StartingSequenceNumber: '1' },
        }));
        return { body: { Shards: shards } };
      }
      const records = request.body.Records as { PartitionKey: string; ExplicitHashKey?: string }[];
      return {
        body: {
          FailedRecordCount: 0,
          Records: records.map((r) => ({
            ShardId: shardId(shardOf(r.ExplicitHashKey !== undefined ? BigInt(r.ExplicitHashKey) : BigInt(`0x${createHash('md5').update(r.PartitionKey).digest('hex')}`))),
            SequenceNumber: String(sequence++),
          })),
        },
      };
    });
  }

  /** Bytes of each PutRecords request as the service counts them (data + partition keys). */
  function requestSizes(fake: FakeKinesis): number[] {
    return fake.requests
      .filter((r) => r.operation === 'PutRecords')
      .map((r) => (r.body.Records as { Data: string; PartitionKey: string }[]).reduce((n, e) => n + Buffer.from(e.Data, 'base64').length + Buffer.byteLength(e.PartitionKey), 0));
  }

  async function putTwelve(fake: FakeKinesis, options: Partial<ProducerOptions> = {}): Promise<number[]> {
    const producer = new KinesisProducer({ streamName: 'big', client: localClient(fake.endpoint), maxUserRecordSize: 10 * MiB, ...options });
    await producer.put({ partitionKey: 'warm-up', data: 'x' }); // capabilities read
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => producer.put({ partitionKey: `k${i}`, explicitHashKey: inShard(i), data: Buffer.alloc(900 * 1024, i) })),
    );
    await producer.close();
    // Requests are sent concurrently: their order on arrival is not promised, their sizes are.
    return requestSizes(fake).slice(1).sort((a, b) => b - a);
  }

  it('collects requests up to 10 MiB for a stream whose MaxRecordSizeInKiB is above 1024', async () => {
    const fake = await fakeStream(10_240);
    try {
      const sizes = await putTwelve(fake);
      expect(sizes.map((n) => Math.round(n / (900 * 1024)))).toEqual([11, 1]);
      expect(Math.max(...sizes)).toBeGreaterThan(5 * MiB);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(10 * MiB);
    } finally {
      await fake.stop();
    }
  });

  it('keeps 5 MiB requests for other streams, and an explicit collectionMaxSize everywhere', async () => {
    const plain = await fakeStream(undefined);
    const big = await fakeStream(10_240);
    try {
      expect((await putTwelve(plain)).map((n) => Math.round(n / (900 * 1024)))).toEqual([5, 5, 2]);
      expect((await putTwelve(big, { collectionMaxSize: 5 * MiB })).map((n) => Math.round(n / (900 * 1024)))).toEqual([5, 5, 2]);
    } finally {
      await plain.stop();
      await big.stop();
    }
  });
});

describe('latency', () => {
  it('delivers everything through a slow endpoint, each attempt taking the added latency', async () => {
    const streamName = await kinesis.newStream(2);
    kinesis.proxy.setFaults({ latencyMs: 300 });
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint) });
    const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => producer.put({ partitionKey: `k${i % 50}`, data: `${i}|slow` })));
    await producer.close();
    expect(results.every((r) => r.attempts.length === 1 && r.attempts[0]!.durationMs >= 290)).toBe(true);
    expect(await readBackTally(streamName, 2000)).toEqual({ missing: [], duplicates: 0 });
  });
});
