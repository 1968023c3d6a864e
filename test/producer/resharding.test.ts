/**
 * The producer while the stream is resharded under it (SplitShard and MergeShards on kinesalite,
 * UpdateShardCount on kinesis-local), and records buffered for a shard that closes.
 *
 * What must hold, whatever the timing: every record is read back (zero loss), where its promise said;
 * every envelope the KCL would read holds only records hashed into its shard, and every envelope the
 * KCL would drop (an envelope aggregated for a parent and written to a child that does not hold all
 * its keys) is matched by a `WrongShard` attempt of each record in it, which the producer retried;
 * a record read twice has such an attempt too; and once the resharding settles, the producer has
 * re-learned the map (records go out aggregated, to open shards, at the first attempt).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MergeShardsCommand,
  SplitShardCommand,
  UpdateShardCountCommand,
  type KinesisClient,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { KinesisProducer, UserRecordFailedError, type PutResult, type ProducerOptions } from '../../src/index.js';
import { hashKeyOfPartitionKey, hashKeyToDecimal } from '../../src/sharding/index.js';
import { useKinesis } from '../support/harness.js';
import { countIds, listAllShards, readStream, type ReadRecord, type StreamContents } from '../support/read-stream.js';
import { createStream, localClient, startKinesisLocal, waitForActive } from '../support/servers.js';

// ---- helpers ------------------------------------------------------------------------------------

/** A record handed to `put()`: its id (the data starts with `<id>|`), its keys and its promise. */
interface Sent {
  readonly id: string;
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
  readonly promise: Promise<PutResult>;
}

/** The open shards (no EndingSequenceNumber), sorted by starting hash key. */
async function openShards(client: KinesisClient, streamName: string): Promise<Shard[]> {
  const open = (await listAllShards(client, streamName)).filter((s) => s.SequenceNumberRange?.EndingSequenceNumber == null);
  return open.sort((a, b) => (start(a) < start(b) ? -1 : start(a) > start(b) ? 1 : 0));
}

const start = (shard: Shard): bigint => BigInt(shard.HashKeyRange!.StartingHashKey!);
const end = (shard: Shard): bigint => BigInt(shard.HashKeyRange!.EndingHashKey!);

/** The record's hash key as a number: its explicit hash key, else the MD5 of its partition key. */
function keyOf(record: { readonly partitionKey: string; readonly explicitHashKey?: string | undefined }): bigint {
  return BigInt(record.explicitHashKey ?? hashKeyToDecimal(hashKeyOfPartitionKey(record.partitionKey)));
}

/** Splits `shard` at the midpoint of its hash key range (read from the listing) and waits for ACTIVE. */
async function splitInHalf(client: KinesisClient, streamName: string, shard: Shard): Promise<bigint> {
  const middle = (start(shard) + end(shard) + 1n) / 2n;
  await client.send(
    new SplitShardCommand({ StreamName: streamName, ShardToSplit: shard.ShardId!, NewStartingHashKey: middle.toString() }),
  );
  await waitForActive(client, streamName);
  return middle;
}

/** The id a test record's data starts with (`<id>|…`). */
function idOf(record: ReadRecord): string {
  const text = Buffer.from(record.data.buffer, record.data.byteOffset, Math.min(record.data.length, 40)).toString('latin1');
  const bar = text.indexOf('|');
  return bar < 0 ? text : text.slice(0, bar);
}

/** Puts a record whose data is `<id>|<partitionKey>|payload-…` (padded to `size` bytes when given). */
function put(producer: KinesisProducer, sent: Sent[], partitionKey: string, explicitHashKey?: string, size?: number): Sent {
  const id = `${sent.length}`;
  const text = `${id}|${partitionKey}|payload-${'x'.repeat(sent.length % 64)}`;
  const record: Sent = {
    id,
    partitionKey,
    ...(explicitHashKey !== undefined && { explicitHashKey }),
    promise: producer.put({
      partitionKey,
      data: size === undefined ? text : text.padEnd(size, '.'),
      ...(explicitHashKey !== undefined && { explicitHashKey }),
    }),
  };
  sent.push(record);
  return record;
}

/** Waits for every promise; fails on any rejection (the local servers never fail a record). */
async function settle(sent: readonly Sent[]): Promise<PutResult[]> {
  const settled = await Promise.allSettled(sent.map((s) => s.promise));
  const failures = settled.flatMap((outcome, i) =>
    outcome.status === 'rejected'
      ? [`${sent[i]!.id}: ${outcome.reason instanceof UserRecordFailedError ? outcome.reason.message : String(outcome.reason)}`]
      : [],
  );
  expect(failures.slice(0, 5), `${failures.length} records failed`).toEqual([]);
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<PutResult>).value);
}

/** What a read-back showed beyond the hard assertions, for the report. */
interface Report {
  readonly records: number;
  readonly kinesisRecords: number;
  readonly droppedByKcl: number;
  /** Envelopes the KCL would drop (stale envelopes written to a child that does not hold all their keys). */
  readonly droppedEnvelopes: number;
  readonly duplicates: number;
  /** Records with at least one `WrongShard` attempt. */
  readonly wrongShardRecords: number;
  /** `WrongShard` attempts of all records. */
  readonly wrongShardAttempts: number;
  readonly aggregated: number;
}

const wrongShardAttempts = (result: PutResult): number => result.attempts.filter((a) => a.errorCode === 'WrongShard').length;

/**
 * Checks a read-back against what was put, record by record, and returns the counts. Collects
 * problems (first 10 shown) rather than failing at the first, so a failure says how widespread it is.
 */
function verify(contents: StreamContents, sent: readonly Sent[], results: readonly PutResult[]): Report {
  const problems: string[] = [];
  const problem = (text: string): void => {
    problems.push(text);
  };
  const ranges = new Map(contents.shards.map((s) => [s.ShardId!, [start(s), end(s)] as const]));
  const byId = new Map(sent.map((s, i) => [s.id, { sent: s, result: results[i]! }]));

  // Every record the KCL would deliver lies in a shard whose range holds its hash key (envelopes
  // are checked by readStream's KCL rule too; raw records are routed by the service).
  const byLocation = new Map<string, ReadRecord>();
  for (const record of contents.records) {
    const id = idOf(record);
    const known = byId.get(id);
    if (known === undefined) {
      problem(`read an unknown record ${JSON.stringify(id)} in ${record.shardId}`);
      continue;
    }
    const key = keyOf(known.sent);
    const [low, high] = ranges.get(record.shardId)!;
    if (key < low || key > high) problem(`record ${id} read in ${record.shardId}, which does not hold its hash key`);
    byLocation.set(`${record.shardId}/${record.sequenceNumber}/${record.subSequenceNumber}`, record);
  }

  const reads = countIds(contents.records);
  const drops = countIds(contents.droppedRecords);
  let duplicates = 0;
  let wrongShardRecords = 0;
  let wrongShards = 0;
  let aggregated = 0;
  for (let i = 0; i < sent.length; i++) {
    const { id } = sent[i]!;
    const result = results[i]!;
    const wrong = wrongShardAttempts(result);
    if (wrong > 0) wrongShardRecords++;
    wrongShards += wrong;
    if (result.aggregated) aggregated++;
    const other = result.attempts.filter((a) => !a.success && a.errorCode !== 'WrongShard');
    if (other.length > 0) problem(`record ${id} had failed attempts other than WrongShard: ${other.map((a) => a.errorCode).join(', ')}`);
    const read = reads.get(id) ?? 0;
    const dropped = drops.get(id) ?? 0;
    duplicates += Math.max(0, read - 1);
    if (read === 0) problem(`record ${id} was lost (dropped in ${dropped} envelope(s), ${wrong} WrongShard attempt(s))`);
    // Each write of the record is accounted for: the successful one is read once; each WrongShard
    // write is an envelope the KCL drops (usually) or reads (a duplicate: an answer judged wrong
    // while the map did not know the receiving shard yet).
    if (read + dropped !== 1 + wrong) {
      problem(`record ${id}: read ${read}×, dropped by the KCL rule ${dropped}×, but ${wrong} WrongShard attempt(s)`);
    }
    if (read > 1 && wrong === 0) problem(`record ${id} read ${read}× without a WrongShard attempt`);
    // The promise says where it is: shard, sequence number, sub-sequence number.
    const at = byLocation.get(`${result.shardId}/${result.sequenceNumber}/${result.subSequenceNumber ?? 0}`);
    if (at === undefined || idOf(at) !== id) {
      problem(`record ${id}: nothing of it at ${result.shardId} ${result.sequenceNumber}/${result.subSequenceNumber ?? '-'}`);
    } else if (at.aggregated !== result.aggregated) {
      problem(`record ${id}: promise says aggregated=${result.aggregated}, read aggregated=${at.aggregated}`);
    }
    if (result.aggregated !== (result.subSequenceNumber !== undefined)) problem(`record ${id}: subSequenceNumber and aggregated disagree`);
  }
  expect(problems.slice(0, 10), `${problems.length} problems`).toEqual([]);
  expect(contents.droppedRecords).toHaveLength(contents.droppedByKcl);
  return {
    records: contents.records.length,
    kinesisRecords: contents.kinesisRecords,
    droppedByKcl: contents.droppedByKcl,
    droppedEnvelopes: new Set(contents.droppedRecords.map((r) => `${r.shardId}/${r.sequenceNumber}`)).size,
    duplicates,
    wrongShardRecords,
    wrongShardAttempts: wrongShards,
    aggregated,
  };
}

/**
 * Convergence: records put after the resharding settled went out aggregated (mostly: the last of
 * a buffer may go raw), to open shards, predicted right at the first attempt.
 */
function expectConverged(results: readonly PutResult[], open: readonly Shard[]): void {
  const openIds = new Set(open.map((s) => s.ShardId!));
  const elsewhere = results.filter((r) => !openIds.has(r.shardId)).map((r) => r.shardId);
  expect(elsewhere.slice(0, 5), `${elsewhere.length} records on closed shards`).toEqual([]);
  const retried = results.filter((r) => r.attempts.length !== 1);
  expect(retried.slice(0, 3).map((r) => r.attempts), `${retried.length} records needed more than one attempt`).toEqual([]);
  expect(results.filter((r) => r.aggregated).length).toBeGreaterThanOrEqual(results.length * 0.9);
  // Every open shard got records: the producer routes to all of them.
  expect(new Set(results.map((r) => r.shardId))).toEqual(openIds);
}

/**
 * The end of a resharding run: the batch put after the last reshard converged on the open shards,
 * the main run wrote to every shard the stream ever had, and every record is accounted for.
 */
async function expectReshardOutcome(
  admin: KinesisClient,
  streamName: string,
  run: { sent: Sent[]; results: PutResult[]; mainCount: number; open: Shard[]; shardsEver: number },
  label: string,
): Promise<void> {
  expectConverged(run.results.slice(run.mainCount), run.open);
  const all = await listAllShards(admin, streamName);
  expect(all).toHaveLength(run.shardsEver);
  expect(new Set(run.results.slice(0, run.mainCount).map((r) => r.shardId))).toEqual(new Set(all.map((s) => s.ShardId!)));
  const report = verify(await readStream(admin, streamName), run.sent, run.results);
  console.info(`${label}:`, report);
  expectReport(report, run.sent.length);
}

/** Records 1..count (after the warm-up record) each settled on the child whose range holds its hash key. */
function expectEachInTheChildHoldingIt(children: Shard[], sent: Sent[], results: PutResult[], count: number): void {
  for (let i = 1; i <= count; i++) {
    const child = children.find((c) => c.ShardId === results[i]!.shardId);
    expect(child, `record ${i} in ${results[i]!.shardId}`).toBeDefined();
    const key = keyOf(sent[i]!);
    expect(key >= start(child!) && key <= end(child!)).toBe(true);
  }
}

/** A run the reshard did not disturb: no failed attempt, nothing dropped by the KCL rule, no duplicate. */
async function expectNothingRetried(
  admin: KinesisClient,
  streamName: string,
  producer: KinesisProducer,
  sent: Sent[],
  results: PutResult[],
): Promise<void> {
  expect(producer.metrics.errorsByCode).toEqual({});
  const report = verify(await readStream(admin, streamName), sent, results);
  expect(report).toMatchObject({ droppedByKcl: 0, duplicates: 0, wrongShardRecords: 0 });
  expectReport(report, sent.length);
}

// ---- kinesalite: SplitShard and MergeShards -----------------------------------------------------

describe('resharding on kinesalite', () => {
  const kinesis = useKinesis();

  function producerFor(streamName: string, extra: Partial<ProducerOptions> = {}): KinesisProducer {
    return new KinesisProducer({ streamName, client: localClient(kinesis.server.endpoint), ...extra });
  }

  it('splits a shard, then merges two, while 20,000 records are put: none lost, none dropped unretried, map re-learned', async () => {
    const streamName = 'split-merge';
    await createStream(kinesis.admin, streamName, 2);
    // Envelopes of 8 KiB rather than 50: more of them in flight when the shards change.
    const producer = producerFor(streamName, { aggregationMaxSize: 8192, retryMinBackoff: 20, retryMaxBackoff: 200 });
    const sent: Sent[] = [];
    const keys = Array.from({ length: 2000 }, (_, i) => `pk-${i}`);
    // Mostly partition keys; every 50th record an explicit hash key, every 997th too large to aggregate.
    const putNext = (n: number): void => {
      const partitionKey = keys[n % keys.length]!;
      if (n % 50 === 49) put(producer, sent, partitionKey, ((BigInt(n) * 0x9e3779b97f4a7c15f39cc0605cedc834n) % 2n ** 128n).toString());
      else if (n % 997 === 500) put(producer, sent, partitionKey, undefined, 9000);
      else put(producer, sent, partitionKey);
    };
    const chunks = 40;
    const perChunk = 500;
    let split: Promise<void> | undefined;
    let merge: Promise<void> | undefined;
    let merged: { parents: string[] } | undefined;
    for (let chunk = 0; chunk < chunks; chunk++) {
      if (chunk === 12) {
        split = (async () => {
          const [lower] = await openShards(kinesis.admin, streamName);
          await splitInHalf(kinesis.admin, streamName, lower!);
        })();
      }
      if (chunk === 22) {
        await split;
        merge = (async () => {
          // Open now: lower child, upper child, the original upper shard. Merge the upper child with
          // the original upper shard (adjacent: one ends where the other starts).
          const open = await openShards(kinesis.admin, streamName);
          expect(open).toHaveLength(3);
          const [a, b] = [open[1]!, open[2]!];
          expect(end(a) + 1n).toBe(start(b));
          await kinesis.admin.send(
            new MergeShardsCommand({ StreamName: streamName, ShardToMerge: a.ShardId!, AdjacentShardToMerge: b.ShardId! }),
          );
          await waitForActive(kinesis.admin, streamName);
          merged = { parents: [a.ShardId!, b.ShardId!] };
        })();
      }
      // The last chunks are put after the merge is ACTIVE, so the producer must learn it from answers.
      if (chunk === 28) await merge;
      for (let i = 0; i < perChunk; i++) putNext(chunk * perChunk + i);
      await sleep(40);
    }
    const mainCount = sent.length;
    await settle(sent);
    const open = await openShards(kinesis.admin, streamName);
    expect(open).toHaveLength(2);
    expect(merged?.parents).toHaveLength(2);

    // After the last reshard settled (and a refresh interval), a final batch.
    await sleep(1100);
    for (let chunk = 0; chunk < 4; chunk++) {
      for (let i = 0; i < perChunk; i++) put(producer, sent, keys[i * 4 + chunk]!);
      await sleep(20);
    }
    expect(sent.length).toBe(22_000);
    const results = await settle(sent);
    await producer.close();
    // Records went to all five shards the stream ever had: the reshards happened mid-run.
    await expectReshardOutcome(kinesis.admin, streamName, { sent, results, mainCount, open, shardsEver: 5 }, 'split + merge on kinesalite');
  });

  it('re-routes records buffered for a shard that closes once an answer reveals the split, so none goes out stale', async () => {
    const streamName = 'buffered-rerouted';
    await createStream(kinesis.admin, streamName, 2);
    // Records wait 5 s in their shard's aggregator; an aggregator of 50 goes out at once, alone.
    const producer = producerFor(streamName, { recordMaxBufferedTime: 5000, aggregationMaxCount: 50, collectionMaxCount: 1 });
    const sent: Sent[] = [];
    put(producer, sent, 'warm-up');
    await producer.flush(); // the shard map is loaded now
    const [x, y] = await openShards(kinesis.admin, streamName);

    // 40 records for shard X, from both halves of its range: they sit in X's aggregator.
    const middleX = (start(x!) + end(x!) + 1n) / 2n;
    const buffered = keysIn(x!, middleX, 20);
    for (const key of buffered) put(producer, sent, key);
    expect(producer.outstandingRecords).toBe(40);

    // Split X, and Y too: an envelope for Y landing on Y's child is the answer that reveals the split.
    await splitInHalf(kinesis.admin, streamName, x!);
    const middleY = await splitInHalf(kinesis.admin, streamName, y!);
    await sleep(200);
    expect(producer.outstandingRecords).toBe(40); // nothing has been sent: nothing was re-routed yet

    const triggers: Sent[] = [];
    for (let j = 0; j < 50; j++) triggers.push(put(producer, sent, `trigger-${j}`, (start(y!) + BigInt(j) * 1_000_003n).toString()));
    const triggerResults = await Promise.all(triggers.map((t) => t.promise));
    const [yLow] = (await openShards(kinesis.admin, streamName)).filter((s) => end(s) === middleY - 1n);
    expect(yLow).toBeDefined();
    for (const result of triggerResults) {
      expect(result).toMatchObject({ shardId: yLow!.ShardId, aggregated: true });
      expect(result.attempts).toHaveLength(1);
    }
    // The X records are still buffered (5 s have not passed), now for X's children.
    expect(producer.outstandingRecords).toBe(40);

    await producer.flush();
    const results = await settle(sent);
    await producer.close();
    const children = (await openShards(kinesis.admin, streamName)).filter((s) => start(s) >= start(x!) && end(s) <= end(x!));
    expect(children).toHaveLength(2);
    expectEachInTheChildHoldingIt(children, sent, results, 40);
    for (const result of results.slice(1, 41)) {
      // Re-routed before it was ever sent: one attempt, aggregated with its child's other records.
      expect(result.attempts).toHaveLength(1);
      expect(result.aggregated).toBe(true);
    }
    await expectNothingRetried(kinesis.admin, streamName, producer, sent, results);
  });

  it('envelopes aggregated for shards that merged land on the merged shard, which holds their keys: delivered at once', async () => {
    const streamName = 'buffered-merged';
    await createStream(kinesis.admin, streamName, 2);
    const producer = producerFor(streamName, { recordMaxBufferedTime: 5000 });
    const sent: Sent[] = [];
    put(producer, sent, 'warm-up');
    await producer.flush();
    const [a, b] = await openShards(kinesis.admin, streamName);
    // 30 records buffered for each shard, as two envelopes once flushed.
    const keys = [...keysIn(a!, (start(a!) + end(a!) + 1n) / 2n, 15), ...keysIn(b!, (start(b!) + end(b!) + 1n) / 2n, 15)];
    for (const key of keys) put(producer, sent, key);
    await kinesis.admin.send(new MergeShardsCommand({ StreamName: streamName, ShardToMerge: a!.ShardId!, AdjacentShardToMerge: b!.ShardId! }));
    await waitForActive(kinesis.admin, streamName);
    expect(producer.outstandingRecords).toBe(60);

    await producer.flush();
    const results = await settle(sent);
    await producer.close();
    const [merged] = await openShards(kinesis.admin, streamName);
    expect(start(merged!)).toBe(start(a!));
    expect(end(merged!)).toBe(end(b!));
    for (const result of results.slice(1)) {
      // A shard the producer did not know took the envelope; it holds every key, so it is a success.
      expect(result).toMatchObject({ shardId: merged!.ShardId, aggregated: true });
      expect(result.attempts).toHaveLength(1);
    }
    await expectNothingRetried(kinesis.admin, streamName, producer, sent, results);
  });

  it('records buffered for a shard that splits with nothing to reveal it: flush() still puts each in the child holding its key', async () => {
    const streamName = 'buffered-unrevealed';
    await createStream(kinesis.admin, streamName, 2);
    const producer = producerFor(streamName, { recordMaxBufferedTime: 5000, retryMinBackoff: 20, retryMaxBackoff: 200 });
    const sent: Sent[] = [];
    put(producer, sent, 'warm-up');
    await producer.flush();
    const [x] = await openShards(kinesis.admin, streamName);
    const middleX = (start(x!) + end(x!) + 1n) / 2n;
    for (const key of keysIn(x!, middleX, 20)) put(producer, sent, key);
    await splitInHalf(kinesis.admin, streamName, x!);
    // The producer's periodic refresh (every 60 s by default) has not come: only answers make it
    // list shards again before then, and waiting past its minimum refresh spacing changes nothing.
    await sleep(1200);
    expect(producer.outstandingRecords).toBe(40);

    await producer.flush();
    const results = await settle(sent);
    await producer.close();
    const children = (await openShards(kinesis.admin, streamName)).filter((s) => start(s) >= start(x!) && end(s) <= end(x!));
    expect(children).toHaveLength(2);
    expectEachInTheChildHoldingIt(children, sent, results, 40);
    const report = verify(await readStream(kinesis.admin, streamName), sent, results);
    console.info('buffered records, split not revealed before flush():', report);
    expectReport(report, sent.length);
  });
});

/**
 * `perHalf` partition keys hashed into the lower half of `shard` (below `middle`) and as many into
 * the upper half, in a fixed order.
 */
function keysIn(shard: Shard, middle: bigint, perHalf: number): string[] {
  const lower: string[] = [];
  const upper: string[] = [];
  for (let n = 0; lower.length < perHalf || upper.length < perHalf; n++) {
    const key = `buffered-${n}`;
    const hash = keyOf({ partitionKey: key });
    if (hash < start(shard) || hash > end(shard)) continue;
    const half = hash < middle ? lower : upper;
    if (half.length < perHalf) half.push(key);
  }
  return [...lower, ...upper];
}

/**
 * The totals: every record read (duplicates aside), and the KCL-dropped records are exactly the
 * WrongShard writes that were not read (see verify(), which checks it record by record).
 */
function expectReport(report: Report, sent: number): void {
  expect(report.records - report.duplicates).toBe(sent);
  expect(report.droppedByKcl).toBe(report.wrongShardAttempts - report.duplicates);
}

// ---- kinesis-local: UpdateShardCount ------------------------------------------------------------

describe('resharding on kinesis-local', () => {
  const kinesis = useKinesis({ start: startKinesisLocal });

  it('UpdateShardCount 2 → 4 (UNIFORM_SCALING) while 2,000 records are put: none lost, none dropped unretried, map re-learned', async () => {
    const streamName = 'scale-up';
    await createStream(kinesis.admin, streamName, 2);
    const producer = new KinesisProducer({
      streamName,
      client: localClient(kinesis.server.endpoint),
      retryMinBackoff: 20,
      retryMaxBackoff: 200,
    });
    const sent: Sent[] = [];
    const keys = Array.from({ length: 200 }, (_, i) => `pk-${i}`);
    let update: Promise<unknown> | undefined;
    for (let chunk = 0; chunk < 20; chunk++) {
      if (chunk === 7) {
        update = kinesis.admin
          .send(new UpdateShardCountCommand({ StreamName: streamName, TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' }))
          .then(() => waitForActive(kinesis.admin, streamName));
      }
      if (chunk === 12) await update;
      for (let i = 0; i < 100; i++) put(producer, sent, keys[(chunk * 100 + i) % keys.length]!);
      await sleep(100);
    }
    const mainCount = sent.length;
    await settle(sent);
    const open = await openShards(kinesis.admin, streamName);
    expect(open).toHaveLength(4);

    await sleep(1100);
    for (let chunk = 0; chunk < 4; chunk++) {
      for (let i = 0; i < 100; i++) put(producer, sent, keys[(i * 2 + chunk) % keys.length]!);
      await sleep(50);
    }
    const results = await settle(sent);
    await producer.close();
    // Records went to the two parents and the four children.
    await expectReshardOutcome(kinesis.admin, streamName, { sent, results, mainCount, open, shardsEver: 6 }, 'UpdateShardCount on kinesis-local');
  });
});
