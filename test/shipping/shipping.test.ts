/**
 * The shipping entries through the real SDK against kinesalite (and the fault proxy): every chunk is
 * read back exactly once, failures are counted and reported without ending the run, and a stalled
 * endpoint stops the source from being pulled while the producer stays within its bounds.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { KinesisProducer, UserRecordFailedError, type ProducerOptions, type UserRecord } from '../../src/index.js';
import { lineToRecord, type ShippingFailure } from '../../src/shipping/index.js';
import { useKinesis } from '../support/harness.js';
import { countIds, readStream, tallyIds } from '../support/read-stream.js';
import { localClient } from '../support/servers.js';

const kinesis = useKinesis({ proxySeed: 7 });

function producerFor(streamName: string, endpoint: string, extra: Partial<ProducerOptions> = {}): KinesisProducer {
  return new KinesisProducer({ streamName, client: localClient(endpoint), ...extra });
}

function* records(count: number, from = 0): Generator<UserRecord> {
  for (let i = from; i < from + count; i++) yield { partitionKey: `key-${i % 997}`, data: `${i}|${'x'.repeat(i % 200)}` };
}

async function expectExactlyOnce(streamName: string, count: number): Promise<void> {
  const contents = await readStream(kinesis.admin, streamName);
  expect(contents.droppedByKcl).toBe(0);
  const { missing, duplicates } = tallyIds(countIds(contents.records), count);
  expect(missing.slice(0, 10)).toEqual([]);
  expect(duplicates).toBe(0);
  expect(contents.records.length).toBe(count);
}

describe('createWritable', () => {
  it('delivers 100,000 records from pipeline() exactly once', async () => {
    const streamName = await kinesis.newStream(4);
    const producer = producerFor(streamName, kinesis.server.endpoint);
    const writable = producer.writable();
    await pipeline(Readable.from(records(100_000)), writable);
    expect(writable.summary).toEqual({ put: 100_000, failed: 0, failedByCode: {} });
    await producer.close();
    await expectExactlyOnce(streamName, 100_000);
  });

  it('counts and reports a bad chunk without ending the stream', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = producerFor(streamName, kinesis.server.endpoint);
    const reported: [UserRecord | undefined, ShippingFailure, unknown][] = [];
    const events: unknown[] = [];
    const writable = producer.writable({
      // Every 10th chunk has an empty partition key.
      toRecord: (n: number) => ({ partitionKey: n % 10 === 3 ? '' : `k${n}`, data: `${n}|` }),
      onFailure: (record, error, chunk) => reported.push([record, error, chunk]),
    });
    writable.on('failure', (...args: unknown[]) => events.push(args));
    await pipeline(Readable.from(Array.from({ length: 1000 }, (_, i) => i)), writable);
    await producer.close();
    expect(writable.summary).toEqual({ put: 900, failed: 100, failedByCode: { ValidationError: 100 } });
    expect(reported).toHaveLength(100);
    expect(events).toHaveLength(100);
    expect(reported.every(([record]) => record?.partitionKey === '')).toBe(true);
    const contents = await readStream(kinesis.admin, streamName);
    expect(contents.records).toHaveLength(900);
  });

  it('reports a chunk toRecord refuses as its failure, with the chunk', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = producerFor(streamName, kinesis.server.endpoint);
    const failures: unknown[] = [];
    const writable = producer.writable({
      toRecord: lineToRecord({ partitionKeyField: 'user.id' }),
      onFailure: (record, error, chunk) => failures.push({ record, code: error.code, chunk }),
    });
    await pipeline(Readable.from(['{"user":{"id":7}}', 'not json', '{"user":{}}', '{"user":{"id":"a"}}']), writable);
    await producer.close();
    expect(writable.summary).toEqual({ put: 2, failed: 2, failedByCode: { ValidationError: 2 } });
    expect(failures).toEqual([
      { record: undefined, code: 'ValidationError', chunk: 'not json' },
      { record: undefined, code: 'ValidationError', chunk: '{"user":{}}' },
    ]);
    const keys = (await readStream(kinesis.admin, streamName)).records.map((r) => r.partitionKey).sort();
    expect(keys).toEqual(['7', 'a']);
  });

  it('with stopOnFailure, the first failure destroys the stream and pipeline() rejects with it', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = producerFor(streamName, kinesis.server.endpoint);
    const writable = producer.writable({ stopOnFailure: true });
    const source = [...records(100), { partitionKey: '', data: 'bad' }, ...records(100, 100)];
    await expect(pipeline(Readable.from(source), writable)).rejects.toMatchObject({ code: 'ValidationError' });
    await producer.close();
    expect(writable.destroyed).toBe(true);
    expect(writable.summary.failed).toBe(1);
  });

  it('stops pulling from the source while the endpoint stalls, within the producer bounds, then delivers all', async () => {
    const streamName = await kinesis.newStream(2);
    // Learn the stream before stalling, so only PutRecords calls are held.
    const producer = producerFor(streamName, kinesis.proxy.endpoint, { maxOutstandingRecords: 2000, requestTimeout: 60_000, recordTtl: 120_000 });
    await producer.put({ partitionKey: 'warm', data: 'warm|' });
    kinesis.proxy.setFaults({ stall: { rate: 1, operations: ['PutRecords'] } });
    let pulled = 0;
    const total = 20_000;
    const source = Readable.from(
      (function* () {
        for (const record of records(total)) {
          pulled++;
          yield record;
        }
      })(),
    );
    const writable = producer.writable({ highWaterMark: 16 });
    const done = pipeline(source, writable);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const pulledWhileStalled = pulled;
    const outstanding = producer.outstandingRecords;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // The producer holds at most its bound; the streams between hold their high-water marks.
    expect(outstanding).toBeLessThanOrEqual(2000);
    expect(pulledWhileStalled).toBeLessThanOrEqual(2000 + 16 + 16 + 2);
    expect(pulled).toBe(pulledWhileStalled);
    expect(kinesis.proxy.stalled).toBeGreaterThan(0);
    kinesis.proxy.clearFaults();
    await done;
    await producer.close();
    expect(writable.summary).toEqual({ put: total, failed: 0, failedByCode: {} });
    const contents = await readStream(kinesis.admin, streamName);
    const { missing, duplicates } = tallyIds(countIds(contents.records), total);
    expect(missing).toEqual([]);
    expect(duplicates).toBe(0);
  });

  it('under throttling, retries until every record is written once, never holding more than the producer bound', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = producerFor(streamName, kinesis.proxy.endpoint, { maxOutstandingRecords: 300, rateLimit: 300 });
    // A quarter of a shard's bytes, and a producer let out at three times the service's rate: it is throttled.
    kinesis.proxy.setFaults({ shardLimits: { recordsPerSecond: 1000, bytesPerSecond: 256 * 1024 } });
    let mostHeld = 0;
    const total = 2000;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < total; i++) {
          mostHeld = Math.max(mostHeld, producer.outstandingRecords);
          yield { partitionKey: `k${i % 7}`, data: `${i}|${'y'.repeat(1000)}` };
        }
      })(),
    );
    const writable = producer.writable();
    await pipeline(source, writable);
    await producer.close();
    expect(writable.summary).toEqual({ put: total, failed: 0, failedByCode: {} });
    expect(Object.values(kinesis.proxy.stats.shards[streamName]!)[0]!.throttledEntries).toBeGreaterThan(0);
    expect(mostHeld).toBeLessThanOrEqual(300);
    await expectExactlyOnce(streamName, total);
  });
});

describe('putAll', () => {
  it('delivers 100,000 records from a sync iterable exactly once', async () => {
    const streamName = await kinesis.newStream(4);
    const producer = producerFor(streamName, kinesis.server.endpoint);
    const summary = await producer.putAll(records(100_000));
    expect(summary).toEqual({ put: 100_000, failed: 0, failedByCode: {} });
    await producer.close();
    await expectExactlyOnce(streamName, 100_000);
  });

  it('reads an async iterable only as fast as a small producer takes records', async () => {
    const streamName = await kinesis.newStream(2);
    const producer = producerFor(streamName, kinesis.server.endpoint, { maxOutstandingRecords: 100 });
    let mostAhead = 0;
    let pulled = 0;
    async function* source(): AsyncGenerator<number> {
      for (let i = 0; i < 10_000; i++) {
        pulled++;
        mostAhead = Math.max(mostAhead, producer.outstandingRecords);
        yield i;
      }
    }
    const summary = await producer.putAll(source(), { toRecord: (i) => ({ partitionKey: `${i}`, data: `${i}|` }) });
    await producer.close();
    expect(summary.put).toBe(10_000);
    expect(pulled).toBe(10_000);
    expect(mostAhead).toBeLessThanOrEqual(100);
    await expectExactlyOnce(streamName, 10_000);
  });

  it('counts records that expire against a stalled endpoint, reports each, and resolves', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = producerFor(streamName, kinesis.proxy.endpoint, { recordTtl: 500, requestTimeout: 300, retryMaxBackoff: 100 });
    await producer.put({ partitionKey: 'warm', data: 'warm|' });
    kinesis.proxy.setFaults({ stall: { rate: 1, operations: ['PutRecords'] } });
    const failed: UserRecordFailedError[] = [];
    const summary = await producer.putAll(records(50), {
      onFailure: (_record, error) => failed.push(error as UserRecordFailedError),
    });
    await producer.close();
    expect(summary).toEqual({ put: 0, failed: 50, failedByCode: { Expired: 50 } });
    expect(failed.every((error) => error instanceof UserRecordFailedError && error.attempts.length > 0)).toBe(true);
  });

  it('with stopOnFailure, stops reading at the first failure and rejects with it after settling', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = producerFor(streamName, kinesis.server.endpoint);
    let pulled = 0;
    function* source(): Generator<string> {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield i === 500 ? 'not json' : `{"id":${i}}`;
      }
    }
    const toRecord = lineToRecord({ partitionKeyField: 'id' });
    await expect(producer.putAll(source(), { toRecord, stopOnFailure: true })).rejects.toMatchObject({
      code: 'ValidationError',
      field: 'data',
    });
    await producer.close();
    expect(pulled).toBe(501);
    expect((await readStream(kinesis.admin, streamName)).records).toHaveLength(500);
  });
});
