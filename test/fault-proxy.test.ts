/**
 * The fault proxy against in-process kinesalite through the real SDK client (HTTP/1.1 NodeHttpHandler):
 * each fault must look to the SDK exactly as the service's would, and the stream must hold exactly
 * the records the proxy forwarded.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  type KinesisClient,
  type PutRecordsRequestEntry,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  REQUEST_FAULT_STATUS,
  hashKeyOf,
  startFaultProxy,
  type FaultProxy,
  type RequestFaultKind,
} from './support/fault-proxy.js';
import { readStream } from './support/read-stream.js';
import { createStream, localClient, startKinesalite, startKinesisLocal, type LocalKinesis } from './support/servers.js';

const FIRST_SHARD_KEY = '0';
const LAST_SHARD_KEY = (2n ** 128n - 1n).toString();
const ACCOUNT = '000000000000';

let kinesalite: LocalKinesis;
let proxy: FaultProxy;
let direct: KinesisClient;
let viaProxy: KinesisClient;
/** Shard budgets read this clock: frozen while set, real time otherwise. */
let frozenClock: number | undefined;
let streams = 0;

beforeAll(async () => {
  kinesalite = await startKinesalite();
  proxy = await startFaultProxy({ target: kinesalite.endpoint, seed: 42, now: () => frozenClock ?? performance.now() });
  direct = localClient(kinesalite.endpoint);
  viaProxy = localClient(proxy.endpoint);
});

afterEach(() => {
  frozenClock = undefined;
  proxy.clearFaults();
  proxy.resetStats();
});

afterAll(async () => {
  viaProxy.destroy();
  direct.destroy();
  await proxy.close();
  await kinesalite.stop();
});

async function newStream(shards: number): Promise<string> {
  const name = `fault-proxy-${++streams}`;
  await createStream(direct, name, shards);
  return name;
}

function entries(count: number, prefix: string, explicitHashKey?: string, size = 8): PutRecordsRequestEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    Data: Buffer.from(`${prefix}-${i}`.padEnd(size, '.')),
    PartitionKey: `key-${prefix}-${i}`,
    ...(explicitHashKey === undefined ? {} : { ExplicitHashKey: explicitHashKey }),
  }));
}

function dataOf(entry: PutRecordsRequestEntry): string {
  return Buffer.from(entry.Data ?? []).toString();
}

async function putRecords(stream: string, records: PutRecordsRequestEntry[]): Promise<PutRecordsResultEntry[]> {
  const answer = await viaProxy.send(new PutRecordsCommand({ StreamName: stream, Records: records }));
  const results = answer.Records ?? [];
  expect(results).toHaveLength(records.length);
  expect(answer.FailedRecordCount).toBe(results.filter((r) => r.ErrorCode !== undefined).length);
  return results;
}

/** The stream holds exactly the entries answered as written, each where and under the sequence number the answer says. */
async function expectStoredExactly(
  stream: string,
  sent: PutRecordsRequestEntry[],
  results: PutRecordsResultEntry[],
  client = direct,
): Promise<void> {
  const { records: stored } = await readStream(client, stream);
  const bySequence = new Map(stored.map((r) => [r.sequenceNumber, r]));
  const written = results.flatMap((result, i) => (result.ErrorCode === undefined ? [{ result, entry: sent[i] }] : []));
  expect(stored).toHaveLength(written.length);
  for (const { result, entry } of written) {
    const record = bySequence.get(result.SequenceNumber ?? '');
    expect(record?.shardId).toBe(result.ShardId);
    expect(Buffer.from(record?.data ?? []).toString()).toBe(entry === undefined ? undefined : dataOf(entry));
  }
}

/** The data of every record in the stream, as text, shard by shard in sequence order. */
async function storedData(stream: string): Promise<string[]> {
  const { records } = await readStream(direct, stream);
  return records.map((record) => Buffer.from(record.data).toString());
}

type SdkError = Error & { $metadata?: { httpStatusCode?: number }; $fault?: string; code?: string };

async function failureOf(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

describe('pass-through', () => {
  it('forwards untouched calls and counts them by operation and shard', async () => {
    const stream = await newStream(2);
    const sent = entries(50, 'plain');
    const results = await putRecords(stream, sent);
    expect(results.every((r) => r.SequenceNumber !== undefined)).toBe(true);
    await viaProxy.send(new ListShardsCommand({ StreamName: stream }));
    const stats = proxy.stats;
    expect(stats.requests).toEqual({ PutRecords: 1, ListShards: 1 });
    expect(stats.entriesForwarded).toBe(50);
    const written = Object.values(stats.shards[stream] ?? {}).reduce((sum, shard) => sum + shard.written, 0);
    expect(written).toBe(50);
    await expectStoredExactly(stream, sent, results);
  });
});

describe('entry failures', () => {
  it('fails a seeded share of entries without forwarding them, keeping order and FailedRecordCount', async () => {
    const stream = await newStream(2);
    proxy.faults.entryFailureRate = 0.4;
    const sent = entries(300, 'rate');
    const results = await putRecords(stream, sent);
    const failed = results.filter((r) => r.ErrorCode !== undefined);
    expect(failed.length).toBeGreaterThan(60);
    expect(failed.length).toBeLessThan(180);
    for (const result of failed) {
      expect(result.ErrorCode).toBe('ProvisionedThroughputExceededException');
      expect(result.ErrorMessage).toMatch(
        new RegExp(`^Rate exceeded for shard shardId-00000000000[01] in stream ${stream} under account ${ACCOUNT}\\.$`),
      );
      expect(result.ShardId).toBeUndefined();
    }
    const stats = proxy.stats;
    expect(stats.entriesFailed).toEqual({ ProvisionedThroughputExceededException: failed.length });
    expect(stats.entriesForwarded).toBe(300 - failed.length);
    await expectStoredExactly(stream, sent, results);
  });

  it('names the shard the entry hashes to in the throttling message', async () => {
    const stream = await newStream(2);
    proxy.faults.entryFailureRate = 1;
    const results = await putRecords(stream, [...entries(1, 'low', FIRST_SHARD_KEY), ...entries(1, 'high', LAST_SHARD_KEY)]);
    expect(results.map((r) => r.ErrorMessage)).toEqual([
      `Rate exceeded for shard shardId-000000000000 in stream ${stream} under account ${ACCOUNT}.`,
      `Rate exceeded for shard shardId-000000000001 in stream ${stream} under account ${ACCOUNT}.`,
    ]);
  });

  it('answers InternalFailure entries, or a mix of both codes', async () => {
    const stream = await newStream(1);
    proxy.setFaults({ entryFailureRate: 1, entryErrorCode: 'InternalFailure' });
    const internal = await putRecords(stream, entries(5, 'internal'));
    expect(internal.map((r) => [r.ErrorCode, r.ErrorMessage])).toEqual(
      Array(5).fill(['InternalFailure', 'Internal service failure.']),
    );
    proxy.setFaults({ entryFailureRate: 0.5, entryErrorCode: 'mix' });
    const mixed = await putRecords(stream, entries(200, 'mix'));
    const codes = new Set(mixed.map((r) => r.ErrorCode));
    expect(codes).toEqual(new Set([undefined, 'InternalFailure', 'ProvisionedThroughputExceededException']));
  });

  it('answers without forwarding when every entry fails', async () => {
    const stream = await newStream(1);
    proxy.faults.entryFailureRate = 1;
    const results = await putRecords(stream, entries(10, 'all'));
    expect(results.every((r) => r.ErrorCode === 'ProvisionedThroughputExceededException')).toBe(true);
    expect(proxy.stats.entriesForwarded).toBe(0);
    expect(await storedData(stream)).toHaveLength(0);
  });

  it('turns a failed PutRecord into the whole-request error the service sends', async () => {
    const stream = await newStream(1);
    proxy.faults.entryFailureRate = 1;
    const single = new PutRecordCommand({ StreamName: stream, Data: Buffer.from('x'), PartitionKey: 'k' });
    const error = await failureOf(viaProxy.send(single));
    expect(error.name).toBe('ProvisionedThroughputExceededException');
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(error.message).toBe(`Rate exceeded for shard shardId-000000000000 in stream ${stream} under account ${ACCOUNT}.`);
    expect(await storedData(stream)).toHaveLength(0);
  });

  it('repeats the same failures for the same seed and request order', async () => {
    const stream = await newStream(1);
    const pattern = async (): Promise<boolean[]> => {
      const own = await startFaultProxy({ target: kinesalite.endpoint, seed: 7, faults: { entryFailureRate: 0.5 } });
      const client = localClient(own.endpoint);
      try {
        const answer = await client.send(new PutRecordsCommand({ StreamName: stream, Records: entries(40, 'seed') }));
        return (answer.Records ?? []).map((r) => r.ErrorCode !== undefined);
      } finally {
        client.destroy();
        await own.close();
      }
    };
    expect(await pattern()).toEqual(await pattern());
  });
});

describe('whole-request failures', () => {
  const kinds = Object.keys(REQUEST_FAULT_STATUS) as RequestFaultKind[];

  it.each(kinds)('answers %s as the SDK expects it, without forwarding', async (kind) => {
    const stream = await newStream(1);
    proxy.faults.requestFailure = { kind, count: 1 };
    const error = await failureOf(viaProxy.send(new PutRecordsCommand({ StreamName: stream, Records: entries(3, kind) })));
    const status = REQUEST_FAULT_STATUS[kind];
    expect(error.name).toBe(kind);
    expect(error.$metadata?.httpStatusCode).toBe(status);
    expect(error.$fault).toBe(status >= 500 ? 'server' : 'client');
    expect(error.message.length).toBeGreaterThan(0);
    expect(proxy.stats.requestFaults).toEqual({ [kind]: 1 });
    expect(proxy.faults.requestFailure?.count).toBe(0);
    expect(await storedData(stream)).toHaveLength(0);
    // The count is used up: the next call goes through.
    await putRecords(stream, entries(1, 'after'));
  });

  it('spares other operations by default and reaches them when told', async () => {
    const stream = await newStream(1);
    proxy.faults.requestFailure = { kind: 'LimitExceededException', count: 1, message: 'slow down' };
    await viaProxy.send(new ListShardsCommand({ StreamName: stream }));
    expect(proxy.faults.requestFailure.count).toBe(1);
    proxy.faults.requestFailure = {
      kind: 'LimitExceededException',
      rate: 1,
      operations: ['DescribeStreamSummary'],
      message: 'slow down',
    };
    const error = await failureOf(viaProxy.send(new DescribeStreamSummaryCommand({ StreamName: stream })));
    expect([error.name, error.message]).toEqual(['LimitExceededException', 'slow down']);
    await putRecords(stream, entries(1, 'spared'));
  });
});

describe('latency, stalls and resets', () => {
  it('adds latency before answering', async () => {
    const stream = await newStream(1);
    proxy.faults.latencyMs = 200;
    const started = performance.now();
    await putRecords(stream, entries(1, 'slow'));
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('holds a stalled request until the client gives up, and never forwards it', async () => {
    const stream = await newStream(1);
    // Without throwOnRequestTimeout the handler only logs a warning when requestTimeout passes, and waits on.
    const impatient = localClient(proxy.endpoint, {
      requestHandler: new NodeHttpHandler({ requestTimeout: 300, throwOnRequestTimeout: true }),
    });
    proxy.faults.stall = { count: 1 };
    try {
      const error = await failureOf(impatient.send(new PutRecordsCommand({ StreamName: stream, Records: entries(2, 'stall') })));
      expect(error.name).toBe('TimeoutError');
      await until(() => proxy.stats.stallsAbandoned === 1);
      expect(proxy.stalled).toBe(0);
      expect(await storedData(stream)).toHaveLength(0);
    } finally {
      impatient.destroy();
    }
  });

  it('lets a stalled request go on when released', async () => {
    const stream = await newStream(1);
    proxy.faults.stall = { count: 1 };
    const sent = entries(2, 'released');
    const pending = putRecords(stream, sent);
    await until(() => proxy.stalled === 1);
    expect(proxy.releaseStalled()).toBe(1);
    await expectStoredExactly(stream, sent, await pending);
  });

  it('writes the records, then resets the connection (reset after forward)', async () => {
    const stream = await newStream(1);
    proxy.faults.resetAfterForward = { count: 1 };
    const error = await failureOf(viaProxy.send(new PutRecordsCommand({ StreamName: stream, Records: entries(4, 'ambiguous') })));
    // The SDK names connection errors TimeoutError; the code says what happened.
    expect([error.name, error.code, error.message]).toEqual(['TimeoutError', 'ECONNRESET', 'read ECONNRESET']);
    expect(error.$metadata?.httpStatusCode).toBeUndefined();
    expect(await storedData(stream)).toEqual(entries(4, 'ambiguous').map(dataOf));
    expect(proxy.stats).toMatchObject({ resetsAfterForward: 1, entriesResetAfterForward: 4 });
    await putRecords(stream, entries(1, 'after-reset'));
  });

  it('resets the connection without forwarding (reset before forward)', async () => {
    const stream = await newStream(1);
    proxy.faults.resetBeforeForward = { count: 1 };
    const error = await failureOf(viaProxy.send(new PutRecordsCommand({ StreamName: stream, Records: entries(4, 'lost') })));
    expect([error.name, error.code, error.message]).toEqual(['TimeoutError', 'ECONNRESET', 'read ECONNRESET']);
    expect(proxy.stats.resetsBeforeForward).toBe(1);
    expect(await storedData(stream)).toHaveLength(0);
  });

  it('closes promptly with a request held, and the client sees the connection go', async () => {
    const own = await startFaultProxy({ target: kinesalite.endpoint, faults: { stall: { rate: 1 } } });
    const client = localClient(own.endpoint);
    try {
      const pending = failureOf(client.send(new PutRecordsCommand({ StreamName: 'any', Records: entries(1, 'held') })));
      await until(() => own.stalled === 1);
      await own.close();
      expect((await pending).message).toBe('socket hang up');
      expect(own.stalled).toBe(0);
    } finally {
      client.destroy();
    }
  });
});

describe('shard limits', () => {
  const limits = { recordsPerSecond: 1000, bytesPerSecond: 1048576 };

  it('routes entries by MD5 of the partition key exactly as the server does', async () => {
    expect(hashKeyOf({ PartitionKey: 'abcd' })).toBe(301716283811389038011477436469853762335n);
    const stream = await newStream(4);
    proxy.faults.shardLimits = limits;
    await putRecords(stream, entries(400, 'routing'));
    const shards = Object.values(proxy.stats.shards[stream] ?? {});
    expect(shards).toHaveLength(4);
    for (const shard of shards) expect(shard.acceptedRecords).toBe(shard.written);
  });

  it('throttles a 3,000-record burst to one shard in an instant and leaves the other shard alone', async () => {
    const stream = await newStream(2);
    frozenClock = 0;
    proxy.faults.shardLimits = limits;
    const sent: PutRecordsRequestEntry[] = [];
    const results: PutRecordsResultEntry[] = [];
    const send = async (batch: PutRecordsRequestEntry[]): Promise<void> => {
      sent.push(...batch);
      results.push(...(await putRecords(stream, batch)));
    };
    for (let batch = 0; batch < 6; batch++) {
      await send(entries(500, `hot${batch}`, FIRST_SHARD_KEY));
      if (batch % 2 === 0) await send(entries(300, `cold${batch}`, LAST_SHARD_KEY));
    }
    const hot = results.filter((_, i) => sent[i]?.ExplicitHashKey === FIRST_SHARD_KEY);
    const cold = results.filter((_, i) => sent[i]?.ExplicitHashKey === LAST_SHARD_KEY);
    // The first second's worth, in request order, goes through; the rest is throttled.
    expect(hot.map((r) => r.ErrorCode === undefined)).toEqual([
      ...Array<boolean>(1000).fill(true),
      ...Array<boolean>(2000).fill(false),
    ]);
    expect(new Set(hot.slice(1000).map((r) => r.ErrorMessage))).toEqual(
      new Set([`Rate exceeded for shard shardId-000000000000 in stream ${stream} under account ${ACCOUNT}.`]),
    );
    expect(cold.every((r) => r.ShardId === 'shardId-000000000001')).toBe(true);
    const bytes = (onShard: string, count: number): number =>
      sent
        .filter((entry) => entry.ExplicitHashKey === onShard)
        .slice(0, count)
        .reduce((sum, entry) => sum + (entry.Data?.length ?? 0) + Buffer.byteLength(entry.PartitionKey ?? ''), 0);
    expect(proxy.stats.shards[stream]).toEqual({
      'shardId-000000000000': {
        written: 1000,
        acceptedRecords: 1000,
        acceptedBytes: bytes(FIRST_SHARD_KEY, 1000),
        throttledEntries: 2000,
      },
      'shardId-000000000001': {
        written: 900,
        acceptedRecords: 900,
        acceptedBytes: bytes(LAST_SHARD_KEY, 900),
        throttledEntries: 0,
      },
    });
    // Half a second later, half a second's worth is back.
    frozenClock = 500;
    const later = await putRecords(stream, entries(600, 'later', FIRST_SHARD_KEY));
    expect(later.filter((r) => r.ErrorCode === undefined)).toHaveLength(500);
    await expectStoredExactly(stream, [...sent, ...entries(600, 'later', FIRST_SHARD_KEY)], [...results, ...later]);
  });

  it('admits at most a second of burst plus the refill under a real-time burst', async () => {
    const stream = await newStream(2);
    proxy.faults.shardLimits = limits;
    const started = performance.now();
    const burst = Array.from({ length: 6 }, (_, b) => putRecords(stream, entries(500, `burst${b}`, FIRST_SHARD_KEY)));
    const answers = await Promise.all(burst);
    const elapsed = performance.now() - started;
    const accepted = answers.flat().filter((r) => r.ErrorCode === undefined).length;
    expect(accepted).toBeGreaterThanOrEqual(1000);
    expect(accepted).toBeLessThanOrEqual(1000 + Math.ceil(elapsed));
    expect(proxy.stats.shards[stream]?.['shardId-000000000000']?.throttledEntries).toBe(3000 - accepted);
  });

  it('counts data plus partition key bytes against 1 MiB/s', async () => {
    const stream = await newStream(1);
    frozenClock = 0;
    proxy.faults.shardLimits = limits;
    const big = (label: string): PutRecordsRequestEntry => ({ Data: Buffer.alloc(300_000, label), PartitionKey: label });
    const first = await putRecords(stream, ['a', 'b', 'c', 'd'].map(big));
    expect(first.map((r) => r.ErrorCode)).toEqual([undefined, undefined, undefined, 'ProvisionedThroughputExceededException']);
    // 148,573 bytes left plus 0.2 s of refill (209,715) admit one more 300,001-byte record, not two.
    frozenClock = 200;
    const second = await putRecords(stream, ['e', 'f'].map(big));
    expect(second.map((r) => r.ErrorCode)).toEqual([undefined, 'ProvisionedThroughputExceededException']);
    expect(proxy.stats.shards[stream]?.['shardId-000000000000']).toMatchObject({
      acceptedRecords: 4,
      acceptedBytes: 4 * 300_001,
      throttledEntries: 2,
    });
  });
});

describe('in front of kinesis-local', () => {
  it('reads its shard map and null-filled answers correctly', async () => {
    const server = await startKinesisLocal();
    const own = await startFaultProxy({
      target: server.endpoint,
      faults: { entryFailureRate: 0.3, shardLimits: { recordsPerSecond: 1000, bytesPerSecond: 1048576 } },
    });
    const client = localClient(own.endpoint);
    const local = localClient(server.endpoint);
    try {
      await createStream(local, 'fault-proxy-kl', 2);
      const sent = [...entries(50, 'kl-low', FIRST_SHARD_KEY), ...entries(50, 'kl-high', LAST_SHARD_KEY)];
      const answer = await client.send(new PutRecordsCommand({ StreamName: 'fault-proxy-kl', Records: sent }));
      const results = answer.Records ?? [];
      const failed = results.filter((r) => r.ErrorCode != null);
      // kinesis-local writes `"ErrorCode": null` on written entries: they must not count as failed.
      expect(answer.FailedRecordCount).toBe(failed.length);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((r) => /shardId-00000000000[01] in stream fault-proxy-kl /.test(r.ErrorMessage ?? ''))).toBe(true);
      const shards = own.stats.shards['fault-proxy-kl'] ?? {};
      expect(Object.keys(shards).sort()).toEqual(['shardId-000000000000', 'shardId-000000000001']);
      for (const shard of Object.values(shards)) expect(shard.acceptedRecords).toBe(shard.written);
      await expectStoredExactly('fault-proxy-kl', sent, results, local);
    } finally {
      client.destroy();
      local.destroy();
      await own.close();
      await server.stop();
    }
  });
});
