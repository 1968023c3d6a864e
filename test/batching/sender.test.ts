/**
 * The sender without a server: a client that answers PutRecords as the test says, and the outcome
 * the sender reports for each record.
 */
import { describe, expect, it } from 'vitest';
import type { KinesisClient, PutRecordsCommand, PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { Sender, type SendOutcomes } from '../../src/batching/index.js';
import { Aggregator, decodeRecord } from '../../src/aggregation/index.js';
import { Counters } from '../../src/metrics/index.js';
import type { KinesisRecord, PendingRecord } from '../../src/records.js';
import type { Failure } from '../../src/retry/index.js';
import { kinesisRecord, pendingRecord } from '../support/records.js';

type Answer = (input: PutRecordsCommand['input'], signal: AbortSignal | undefined) => Promise<Partial<PutRecordsCommandOutput>>;

/** A client whose every PutRecords call is answered by `answer`; counts calls in flight. */
function fakeClient(answer: Answer) {
  const calls: PutRecordsCommand['input'][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    async send(command: PutRecordsCommand, options?: { abortSignal?: AbortSignal }) {
      calls.push(command.input);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await answer(command.input, options?.abortSignal);
      } finally {
        inFlight--;
      }
    },
  };
  return { client: client as unknown as KinesisClient, calls, maxInFlight: () => maxInFlight };
}

type Outcome =
  | { kind: 'succeeded' | 'wrongShard'; record: KinesisRecord; shardId: string; sequenceNumber: string }
  | { kind: 'failed' | 'attempted'; record: KinesisRecord; failure: Failure }
  | { kind: 'expired'; record: KinesisRecord }
  | { kind: 'invalidRequest' };

function recorder(): SendOutcomes & { outcomes: Outcome[]; requests: { records: number; outcomesBefore: number }[] } {
  const outcomes: Outcome[] = [];
  const requests: { records: number; outcomesBefore: number }[] = [];
  return {
    outcomes,
    requests,
    requestEnded: (batch) => requests.push({ records: batch.length, outcomesBefore: outcomes.length }),
    succeeded: (record, shardId, sequenceNumber) => outcomes.push({ kind: 'succeeded', record, shardId, sequenceNumber }),
    wrongShard: (record, shardId, sequenceNumber) => outcomes.push({ kind: 'wrongShard', record, shardId, sequenceNumber }),
    failed: (record, failure) => outcomes.push({ kind: 'failed', record, failure }),
    attempted: (record, failure) => outcomes.push({ kind: 'attempted', record, failure }),
    expired: (record) => outcomes.push({ kind: 'expired', record }),
    invalidRequest: () => outcomes.push({ kind: 'invalidRequest' }),
  };
}

const target = { streamName: 's', streamARN: undefined };

async function sendOnce(answer: Answer, batch: KinesisRecord[], options: { requestTimeout?: number; maxConnections?: number } = {}) {
  const fake = fakeClient(answer);
  const counters = new Counters();
  const sender = new Sender({ client: fake.client, maxConnections: options.maxConnections ?? 4, requestTimeout: options.requestTimeout ?? 5000, counters });
  const outcomes = recorder();
  sender.send(target, batch, outcomes);
  await sender.onIdle();
  return { ...fake, counters, outcomes: outcomes.outcomes, requests: outcomes.requests };
}

const ok = (shardId: string, sequenceNumber: string) => ({ ShardId: shardId, SequenceNumber: sequenceNumber });

/** An envelope of `count` records of `size` bytes, its MD5 trailer not yet written, as a shard buffer lets it out. */
function unsealedEnvelope(count: number, size: number): KinesisRecord {
  const aggregator = new Aggregator<PendingRecord>({ aggregationMaxSize: 10 * 1024 * 1024 });
  for (let i = 0; i < count; i++) aggregator.tryAdd(pendingRecord({ data: Buffer.alloc(size, i) }));
  const { entries, data, recordSizeBytes } = aggregator.drainUnsealed();
  const expiresAt = performance.now() + 30_000;
  return { data, partitionKey: 'a', explicitHashKey: '0', size: recordSizeBytes, aggregated: true, predictedShardId: undefined, mapVersion: 0, userRecords: entries, expiresAt, bufferDeadline: expiresAt, sealed: false };
}

describe('Sender: answers to outcomes', () => {
  it('reports each entry of a mixed answer in order: success, throttled, internal failure, unknown code', async () => {
    const batch = [kinesisRecord(), kinesisRecord(), kinesisRecord(), kinesisRecord()];
    const { outcomes, calls, counters } = await sendOnce(
      async () => ({
        FailedRecordCount: 3,
        Records: [
          ok('shardId-1', '101'),
          { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' },
          { ErrorCode: 'InternalFailure', ErrorMessage: 'oops' },
          { ErrorCode: 'SomethingNew', ErrorMessage: '?' },
        ],
      }),
      batch,
    );
    expect(calls).toHaveLength(1);
    expect(calls[0]!.StreamName).toBe('s');
    expect(calls[0]!.Records!.map((r) => r.PartitionKey)).toEqual(batch.map((r) => r.partitionKey));
    expect(counters.putRecordsRequests).toBe(1);
    expect(outcomes).toEqual([
      { kind: 'succeeded', record: batch[0], shardId: 'shardId-1', sequenceNumber: '101' },
      { kind: 'failed', record: batch[1], failure: { kind: 'throttled', code: 'ProvisionedThroughputExceededException', message: 'slow down' } },
      { kind: 'failed', record: batch[2], failure: { kind: 'transient', code: 'InternalFailure', message: 'oops' } },
      { kind: 'failed', record: batch[3], failure: { kind: 'transient', code: 'SomethingNew', message: '?' } },
    ]);
  });

  it('fails every record as InvalidResponse when the answer has fewer entries than the request', async () => {
    const batch = [kinesisRecord(), kinesisRecord()];
    const { outcomes } = await sendOnce(async () => ({ Records: [ok('shardId-1', '1')] }), batch);
    expect(outcomes.map((o) => o.kind)).toEqual(['failed', 'failed']);
    for (const o of outcomes) if (o.kind === 'failed') expect(o.failure).toMatchObject({ kind: 'transient', code: 'InvalidResponse' });
  });

  it('fails an entry without ShardId or SequenceNumber as InvalidResponse, and only that one', async () => {
    const batch = [kinesisRecord(), kinesisRecord(), kinesisRecord()];
    const { outcomes } = await sendOnce(
      async () => ({ Records: [{ SequenceNumber: '1' }, ok('shardId-1', '2'), { ShardId: 'shardId-1' }] }),
      batch,
    );
    expect(outcomes.map((o) => o.kind)).toEqual(['failed', 'succeeded', 'failed']);
    expect(outcomes[0]).toMatchObject({ failure: { code: 'InvalidResponse' } });
  });

  it('fails malformed entries as InvalidResponse (null, not an object, a non-string code) and reports the rest', async () => {
    const batch = [kinesisRecord(), kinesisRecord(), kinesisRecord(), kinesisRecord()];
    const { outcomes } = await sendOnce(async () => ({ Records: [null, 'x', { ErrorCode: 7 }, ok('shardId-1', '4')] as never }), batch);
    expect(outcomes.map((o) => o.kind)).toEqual(['failed', 'failed', 'failed', 'succeeded']);
    for (const o of outcomes.slice(0, 3)) expect(o).toMatchObject({ failure: { kind: 'transient', code: 'InvalidResponse' } });
  });

  it('fails the whole batch as InvalidResponse when the answer has no list of entries', async () => {
    for (const output of [{}, { Records: 'nope' }, undefined]) {
      const batch = [kinesisRecord(), kinesisRecord()];
      const { outcomes } = await sendOnce(async () => output as never, batch);
      expect(outcomes).toEqual(batch.map((record) => ({ kind: 'failed', record, failure: expect.objectContaining({ code: 'InvalidResponse' }) })));
    }
  });

  it('gives the rest of the batch a verdict when handling one outcome throws', async () => {
    const batch = [kinesisRecord(), kinesisRecord(), kinesisRecord()];
    const fake = fakeClient(async () => ({ Records: [ok('shardId-1', '1'), ok('shardId-1', '2'), ok('shardId-1', '3')] }));
    const sender = new Sender({ client: fake.client, maxConnections: 1, requestTimeout: 5000, counters: new Counters() });
    const outcomes = recorder();
    const succeeded = outcomes.succeeded;
    outcomes.succeeded = (record, ...rest) => {
      if (record === batch[1]) throw new Error('boom');
      succeeded(record, ...rest);
    };
    sender.send(target, batch, outcomes);
    await sender.onIdle();
    expect(outcomes.outcomes.map((o) => [o.kind, 'record' in o ? batch.indexOf(o.record) : -1])).toEqual([
      ['succeeded', 0],
      ['failed', 1],
      ['failed', 2],
    ]);
  });

  it('reports a record written in a shard other than its predicted one as wrongShard; one without a prediction succeeds anywhere', async () => {
    const predicted = kinesisRecord({ predictedShardId: 'shardId-0' });
    const matching = kinesisRecord({ predictedShardId: 'shardId-2' });
    const unpredicted = kinesisRecord();
    const { outcomes } = await sendOnce(async () => ({ Records: [ok('shardId-1', '1'), ok('shardId-2', '2'), ok('shardId-9', '3')] }), [predicted, matching, unpredicted]);
    expect(outcomes.map((o) => [o.kind, 'shardId' in o ? o.shardId : undefined])).toEqual([
      ['wrongShard', 'shardId-1'],
      ['succeeded', 'shardId-2'],
      ['succeeded', 'shardId-9'],
    ]);
  });

  it('classifies whole-request errors: throttling, fatal, server errors', async () => {
    const error = (name: string, status: number, fault: 'client' | 'server' = 'client') =>
      Object.assign(new Error(name), { name, $fault: fault, $metadata: { httpStatusCode: status } });
    const cases: [Error, Failure['kind'], string][] = [
      [error('ProvisionedThroughputExceededException', 400), 'throttled', 'ProvisionedThroughputExceededException'],
      [error('ResourceNotFoundException', 400), 'fatal', 'ResourceNotFoundException'],
      [error('InternalFailure', 500, 'server'), 'transient', 'InternalFailure'],
      [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'transient', 'NetworkError'],
    ];
    for (const [thrown, kind, code] of cases) {
      const batch = [kinesisRecord(), kinesisRecord()];
      const { outcomes } = await sendOnce(() => Promise.reject(thrown), batch);
      expect(outcomes).toEqual(batch.map((record) => ({ kind: 'failed', record, failure: expect.objectContaining({ kind, code }) })));
    }
  });

  it('splits a request refused as invalid until the bad record fails alone', async () => {
    const batch = Array.from({ length: 5 }, (_, i) => kinesisRecord({ partitionKey: i === 3 ? 'bad' : `good-${i}` }));
    const invalid = Object.assign(new Error('bad record'), { name: 'InvalidArgumentException', $fault: 'client', $metadata: { httpStatusCode: 400 } });
    const { outcomes, calls } = await sendOnce(async (input) => {
      if (input.Records!.some((r) => r.PartitionKey === 'bad')) throw invalid;
      return { Records: input.Records!.map((_, i) => ok('shardId-1', String(i))) };
    }, batch);
    const byRecord = (record: KinesisRecord) => outcomes.filter((o) => 'record' in o && o.record === record).map((o) => o.kind);
    for (const [i, record] of batch.entries()) {
      const kinds = byRecord(record);
      expect(kinds.at(-1)).toBe(i === 3 ? 'failed' : 'succeeded');
      expect(kinds.filter((k) => k === 'succeeded' || k === 'failed')).toHaveLength(1);
      expect(kinds.slice(0, -1).every((k) => k === 'attempted')).toBe(true);
    }
    expect(outcomes.some((o) => o.kind === 'invalidRequest')).toBe(true);
    // 5 → 2 + 3 → the 3 with the bad record → 1 + 2 → the 2 with it → 1 + 1.
    expect(calls.length).toBe(7);
  });

  it('tells of every call that ended (answered, refused or not), once, with its live records, before their outcomes', async () => {
    const stale = kinesisRecord({ arrivedAt: performance.now() - 10_000, ttl: 1 });
    const batch = [stale, ...Array.from({ length: 4 }, (_, i) => kinesisRecord({ partitionKey: i === 2 ? 'bad' : `good-${i}` }))];
    const invalid = Object.assign(new Error('bad record'), { name: 'InvalidArgumentException', $fault: 'client', $metadata: { httpStatusCode: 400 } });
    const { calls, requests } = await sendOnce(async (input) => {
      if (input.Records!.some((r) => r.PartitionKey === 'bad')) throw invalid;
      return { Records: input.Records!.map((_, i) => ok('shardId-1', String(i))) };
    }, batch);
    expect(requests).toHaveLength(calls.length);
    expect(requests.reduce((sum, r) => sum + r.records, 0)).toBe(calls.reduce((sum, c) => sum + c.Records!.length, 0));
    // The first call holds the four live records (the expired one is reported, not sent), and ends before any outcome of its records.
    expect(requests[0]).toEqual({ records: 4, outcomesBefore: 1 });
  });

  it('aborts a call that does not answer within requestTimeout and fails its records as RequestTimeout', async () => {
    const batch = [kinesisRecord()];
    const started = performance.now();
    const { outcomes } = await sendOnce(
      (_input, signal) =>
        new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })))),
      batch,
      { requestTimeout: 150 },
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(outcomes).toEqual([{ kind: 'failed', record: batch[0], failure: expect.objectContaining({ kind: 'transient', code: 'RequestTimeout' }) }]);
  });

  it('ends a call whose client ignores the abort (e.g. a credentials provider that hangs) within requestTimeout', async () => {
    const batch = [kinesisRecord()];
    const started = performance.now();
    const { outcomes } = await sendOnce(() => new Promise(() => undefined), batch, { requestTimeout: 150 });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(outcomes).toEqual([{ kind: 'failed', record: batch[0], failure: expect.objectContaining({ kind: 'transient', code: 'RequestTimeout' }) }]);
  });

  it('cuts a call at the earliest recordTtl in it when that comes before requestTimeout', async () => {
    const batch = [kinesisRecord({ arrivedAt: performance.now(), ttl: 150 }), kinesisRecord({ arrivedAt: performance.now(), ttl: 60_000 })];
    const started = performance.now();
    const { outcomes } = await sendOnce(
      (_input, signal) =>
        new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })))),
      batch,
      { requestTimeout: 5000 },
    );
    expect(performance.now() - started).toBeLessThan(2000);
    expect(outcomes.map((o) => o.kind)).toEqual(['failed', 'failed']);
    expect(outcomes[0]).toMatchObject({ failure: { kind: 'transient', code: 'RequestTimeout', message: expect.stringContaining('recordTtl') } });
  });

  it('reports records whose TTL ran out before sending as expired and leaves them out of the request', async () => {
    const stale = kinesisRecord({ arrivedAt: performance.now() - 10_000, ttl: 1 });
    const fresh = kinesisRecord({ arrivedAt: performance.now() });
    const { outcomes, calls } = await sendOnce(async (input) => ({ Records: input.Records!.map(() => ok('shardId-1', '1')) }), [stale, fresh]);
    expect(calls[0]!.Records).toHaveLength(1);
    expect(outcomes.map((o) => o.kind)).toEqual(['expired', 'succeeded']);
  });

  it('writes the MD5 trailer of every envelope not yet sealed before the call, over several steps, and of none already sealed', async () => {
    // 3 MiB of envelopes: more than one step of sealing.
    const unsealed = Array.from({ length: 12 }, () => unsealedEnvelope(4, 64 * 1024));
    const alreadySealed = unsealedEnvelope(2, 100);
    alreadySealed.data.fill(0, alreadySealed.data.length - 16);
    alreadySealed.sealed = true;
    const batch = [...unsealed, kinesisRecord(), alreadySealed];
    const { outcomes, calls } = await sendOnce(async (input) => ({ Records: input.Records!.map(() => ok('shardId-1', '1')) }), batch);
    const sent = calls[0]!.Records!;
    for (let i = 0; i < unsealed.length; i++) {
      const decoded = decodeRecord(sent[i]!.Data!, 'a', '0');
      expect(decoded.aggregated && decoded.records.map((r) => r.data[0])).toEqual([0, 1, 2, 3]);
    }
    expect(decodeRecord(sent[12]!.Data!, batch[12]!.partitionKey, undefined).aggregated).toBe(false);
    expect([...sent[13]!.Data!.subarray(-16)]).toEqual(new Array(16).fill(0));
    expect(batch.every((r) => r.sealed)).toBe(true);
    expect(outcomes.map((o) => o.kind)).toEqual(new Array(14).fill('succeeded'));
  });

  it('keeps at most maxConnections calls in flight', async () => {
    const fake = fakeClient(async (input) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { Records: input.Records!.map(() => ok('shardId-1', '1')) };
    });
    const sender = new Sender({ client: fake.client, maxConnections: 3, requestTimeout: 5000, counters: new Counters() });
    const outcomes = recorder();
    for (let i = 0; i < 10; i++) sender.send(target, [kinesisRecord()], outcomes);
    expect(sender.inFlight).toBeLessThanOrEqual(3);
    await sender.onIdle();
    expect(fake.maxInFlight()).toBe(3);
    expect(outcomes.outcomes.filter((o) => o.kind === 'succeeded')).toHaveLength(10);
  });
});
