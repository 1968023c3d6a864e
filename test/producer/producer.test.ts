/**
 * The producer end to end through the real AWS SDK over HTTP against kinesalite: every record is
 * read back exactly once, in the shard that holds its hash key, where its promise said it would be.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KinesisProducer, ProducerClosedError, ValidationError, encodeAggregatedRecord, type PutResult } from '../../src/index.js';
import { decimalToHashKey, hashKeyOfPartitionKey } from '../../src/sharding/index.js';
import { mulberry32 } from '../support/fault-proxy.js';
import { readStream } from '../support/read-stream.js';
import { useKinesis } from '../support/harness.js';
import { localClient } from '../support/servers.js';

const kinesis = useKinesis();

function producerFor(streamName: string, extra: Partial<ConstructorParameters<typeof KinesisProducer>[0]> = {}): KinesisProducer {
  return new KinesisProducer({ streamName, client: localClient(kinesis.server.endpoint), ...extra });
}

describe('KinesisProducer against kinesalite', () => {
  it('delivers 50,000 mixed records exactly once, each in the shard holding its hash key, as its promise said', async () => {
    const streamName = await kinesis.newStream(4);
    // Exactly once holds where no attempt is ambiguous. kinesalite on a busy machine can take
    // longer than the default 6 s for a 5 MiB request, and a timed-out request that landed is
    // retried (a duplicate, as promised): faults are the fault tests' subject, not this one's.
    const producer = producerFor(streamName, { requestTimeout: 60_000 });
    const rand = mulberry32(42);
    const keys = Array.from({ length: 5000 }, (_, i) =>
      i % 10 === 0 ? `ключ-${i}-🙂` : i % 7 === 0 ? `鍵${i}` : `key-${i}`,
    );
    const total = 50_000;
    const expected = new Map<string, { partitionKey: string; explicitHashKey: string | undefined; size: number }>();
    const promises: Promise<PutResult>[] = [];
    let large = 0;
    for (let i = 0; i < total; i++) {
      const partitionKey = keys[i % keys.length]!;
      const explicitHashKey = i % 13 === 0 ? BigInt(`0x${randomBytes(16).toString('hex')}`).toString() : undefined;
      // Mostly small, some up to 20 KiB, a few above aggregationMaxSize (51200).
      const r = rand();
      const size = i % 2500 === 7 ? 51_200 + Math.floor(rand() * 20_000) : r < 0.9 ? 1 + Math.floor(rand() * 512) : 1 + Math.floor(rand() * 20_480);
      if (size > 51_200) large++;
      const id = `${i}`;
      const data = Buffer.alloc(size, i % 251);
      data.write(id.padEnd(Math.min(size, 8), '.').slice(0, size), 0, 'latin1');
      expected.set(id, { partitionKey, explicitHashKey, size });
      promises.push(producer.put({ partitionKey, data, ...(explicitHashKey !== undefined && { explicitHashKey }) }));
      if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
    }
    const results = await Promise.all(promises);
    await producer.close();
    expect(large).toBeGreaterThan(0);

    const contents = await readStream(kinesis.admin, streamName);
    expect(contents.droppedByKcl).toBe(0);
    // Records of 1..7 bytes cannot carry their whole id; match them through their promise instead.
    const byLocation = new Map<string, (typeof contents.records)[number]>();
    for (const record of contents.records) byLocation.set(`${record.sequenceNumber}/${record.subSequenceNumber}`, record);
    expect(contents.records.length).toBe(total);
    expect(byLocation.size).toBe(total);

    const ranges = new Map(
      contents.shards.map((s) => [s.ShardId!, [decimalToHashKey(s.HashKeyRange!.StartingHashKey!), decimalToHashKey(s.HashKeyRange!.EndingHashKey!)]]),
    );
    let aggregated = 0;
    for (let i = 0; i < total; i++) {
      const result = results[i]!;
      const want = expected.get(`${i}`)!;
      const read = byLocation.get(`${result.sequenceNumber}/${result.aggregated ? result.subSequenceNumber! : 0}`);
      expect(read, `record ${i}`).toBeDefined();
      expect(read!.shardId).toBe(result.shardId);
      expect(read!.partitionKey).toBe(want.partitionKey);
      // GetRecords returns no explicit hash key for a raw record; envelopes carry their records' own.
      if (read!.aggregated) expect(read!.explicitHashKey).toBe(want.explicitHashKey);
      expect(read!.data.length).toBe(want.size);
      if (want.size >= 8) expect(Buffer.from(read!.data).toString('latin1', 0, 8).replace(/\.+$/, '')).toBe(`${i}`);
      const hashKey = want.explicitHashKey !== undefined ? decimalToHashKey(want.explicitHashKey) : hashKeyOfPartitionKey(want.partitionKey);
      const [low, high] = ranges.get(read!.shardId)!;
      expect(hashKey >= low! && hashKey <= high!, `record ${i} in ${read!.shardId}`).toBe(true);
      expect(result.attempts).toHaveLength(1);
      expect(result.attempts[0]!.success).toBe(true);
      // Histories are shared between results (see below), so none may be changed.
      expect(Object.isFrozen(result.attempts) && Object.isFrozen(result.attempts[0])).toBe(true);
      if (want.size > 51_200) expect(result.aggregated).toBe(false);
      if (result.aggregated) aggregated++;
    }
    // Aggregation is what makes the producer worth having: most records travel in envelopes.
    expect(aggregated).toBeGreaterThan(total * 0.8);
    // Records of one envelope that waited since the same ms share one history of one attempt.
    expect(new Set(results.map((r) => r.attempts)).size).toBeLessThan(total / 2);
    expect(contents.kinesisRecords).toBeLessThan(total / 10);
  });

  it('sends every record raw with aggregation off', async () => {
    const streamName = await kinesis.newStream(2);
    const producer = producerFor(streamName, { aggregationEnabled: false });
    const results = await Promise.all(Array.from({ length: 600 }, (_, i) => producer.put({ partitionKey: `k${i % 20}`, data: `v${i}` })));
    await producer.close();
    expect(results.every((r) => !r.aggregated && r.subSequenceNumber === undefined)).toBe(true);
    const contents = await readStream(kinesis.admin, streamName);
    expect(contents.kinesisRecords).toBe(600);
    expect(new Set(contents.records.map((r) => Buffer.from(r.data).toString())).size).toBe(600);
    expect(producer.metrics.putRecordsRequests).toBeGreaterThanOrEqual(2); // 500 records a call at most
  });

  it('writes to several streams through one producer', async () => {
    const a = await kinesis.newStream(1);
    const b = await kinesis.newStream(2);
    const producer = producerFor(a);
    const toA = await producer.put({ partitionKey: 'x', data: 'to-a' });
    const toB = await producer.put({ partitionKey: 'x', data: 'to-b', streamName: b });
    await producer.close();
    const readA = await readStream(kinesis.admin, a);
    const readB = await readStream(kinesis.admin, b);
    expect(readA.records.map((r) => Buffer.from(r.data).toString())).toEqual(['to-a']);
    expect(readB.records.map((r) => Buffer.from(r.data).toString())).toEqual(['to-b']);
    expect(readA.records[0]!.sequenceNumber).toBe(toA.sequenceNumber);
    expect(readB.records[0]!.sequenceNumber).toBe(toB.sequenceNumber);
  });

  it('rejects bad input with a ValidationError naming the field, buffering nothing, and other records go through', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = producerFor(streamName);
    const good = producer.put({ partitionKey: 'ok', data: 'fine' });
    const tooLong = producer.put({ partitionKey: 'k'.repeat(257), data: 'x' });
    const tooBig = producer.put({ partitionKey: 'k', data: Buffer.alloc(1024 * 1024) });
    const badHash = producer.put({ partitionKey: 'k', data: 'x', explicitHashKey: '340282366920938463463374607431768211456' });
    await expect(tooLong).rejects.toMatchObject({ name: 'ValidationError', field: 'partitionKey' });
    await expect(tooBig).rejects.toBeInstanceOf(ValidationError);
    await expect(tooBig).rejects.toMatchObject({ field: 'data' });
    await expect(badHash).rejects.toMatchObject({ field: 'explicitHashKey' });
    expect(producer.outstandingRecords).toBe(1);
    await expect(good).resolves.toMatchObject({ aggregated: false });
    await producer.close();
  });

  it('flush() waits for every earlier record; close() flushes and later puts reject', async () => {
    const streamName = await kinesis.newStream(2);
    const producer = producerFor(streamName, { recordMaxBufferedTime: 60_000 });
    let settled = 0;
    const puts = Array.from({ length: 300 }, (_, i) => producer.put({ partitionKey: `k${i}`, data: 'x' }).then(() => settled++));
    expect(producer.outstandingRecords).toBe(300);
    await producer.flush();
    expect(settled).toBe(300);
    expect(producer.outstandingRecords).toBe(0);
    await Promise.all(puts);
    const late = producer.put({ partitionKey: 'late', data: 'y' });
    await producer.close();
    await expect(late).resolves.toMatchObject({ aggregated: false });
    await expect(producer.put({ partitionKey: 'after', data: 'z' })).rejects.toBeInstanceOf(ProducerClosedError);
    await producer.close(); // a second close is harmless
    expect((await readStream(kinesis.admin, streamName)).records).toHaveLength(301);
  });

  it('reads back as itself a record whose data would pass for a KPL envelope, alone or too large to aggregate', async () => {
    const streamName = await kinesis.newStream(2);
    const producer = producerFor(streamName, { aggregationMaxSize: 1024 });
    const lookalike = (size: number) => encodeAggregatedRecord(['inner-a', 'inner-b'], [], [
      { partitionKeyIndex: 0, data: Buffer.alloc(size, 1) },
      { partitionKeyIndex: 1, data: Buffer.alloc(size, 2) },
    ]);
    const small = lookalike(100);
    const large = lookalike(2000);
    const results = [
      await producer.put({ partitionKey: 'lookalike-small', data: small }),
      await producer.put({ partitionKey: 'lookalike-large', data: large }),
    ];
    const plain = await producer.put({ partitionKey: 'plain', data: Buffer.alloc(2000, 3) });
    await producer.close();
    expect(results.map((r) => r.aggregated)).toEqual([true, true]);
    expect(plain.aggregated).toBe(false);
    const { records } = await readStream(kinesis.admin, streamName);
    expect(records.map((r) => r.partitionKey).sort()).toEqual(['lookalike-large', 'lookalike-small', 'plain']);
    expect(Buffer.from(records.find((r) => r.partitionKey === 'lookalike-small')!.data)).toEqual(small);
    expect(Buffer.from(records.find((r) => r.partitionKey === 'lookalike-large')!.data)).toEqual(large);
  });

  it('sends a lone record once recordMaxBufferedTime has passed', async () => {
    const streamName = await kinesis.newStream(1);
    const producer = producerFor(streamName, { recordMaxBufferedTime: 200 });
    await producer.put({ partitionKey: 'warm-up', data: 'x' }); // the shard map is loaded now
    const started = performance.now();
    const result = await producer.put({ partitionKey: 'lone', data: 'x' });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(200 + 1500);
    expect(result.attempts[0]!.delayMs).toBeGreaterThanOrEqual(190);
    expect(producer.oldestRecordAgeMs).toBe(0);
    await producer.close();
  });
});
