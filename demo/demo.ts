/**
 * The main job, end to end, with no AWS account: starts kinesalite (a local Kinesis) in this
 * process on 127.0.0.1, creates a stream, produces records through shardline, reads every shard
 * back, deaggregates with shardline's `decodeRecord`, and checks that every record arrived exactly
 * once. Exits 0 only then. Uses shardline's public API only (`'shardline'` maps to `src/index.ts`
 * through tsconfig.json's `paths`, so it runs straight after `npm install`).
 *
 *   npm run demo [-- --records 100000 --shards 4 --size 200 --keys 5000]
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:net';
import { parseArgs } from 'node:util';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KinesisProducer, decodeRecord, hashKeyOfPartitionKey } from 'shardline';

const USAGE = `Usage: npm run demo [-- options]

Starts kinesalite (a local Kinesis) in this process, creates a stream, produces records through
shardline, reads every shard back, deaggregates, and checks that every record arrived exactly once.
No AWS account or network needed.

Options:
  --records N   records to produce (default 100000)
  --shards N    shards in the stream (default 4)
  --size N      bytes of data per record (default 200)
  --keys N      distinct partition keys (default 5000)
  -h, --help    print this and exit`;

const OPTIONS = {
  records: { type: 'string', default: '100000' },
  shards: { type: 'string', default: '4' },
  size: { type: 'string', default: '200' },
  keys: { type: 'string', default: '5000' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseOptions(): { records: number; shards: number; size: number; keys: number } {
  let values;
  try {
    values = parseArgs({ options: OPTIONS }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const integer = (name: 'records' | 'shards' | 'size' | 'keys', min: number, max: number): number => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min || value > max) {
      console.error(`--${name} must be an integer from ${min} to ${max}, got ${values[name]}\n\n${USAGE}`);
      process.exit(2);
    }
    return value;
  };
  // The data starts with the record's index and a colon: at least 8 bytes for the largest index.
  return { records: integer('records', 1, 10_000_000), shards: integer('shards', 1, 64), size: integer('size', 8, 1_000_000), keys: integer('keys', 1, 1_000_000) };
}

const options = parseOptions();
// The AWS SDK warns on Node 20 that its releases after January 2027 need Node 22: true, but noise
// in a demo that talks to a local server. This is the SDK's documented switch.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const streamName = 'shardline-demo';
const tty = process.stdout.isTTY;
const count = (n: number): string => n.toLocaleString('en-US');

/** Starts kinesalite on 127.0.0.1 and a free port; streams become ACTIVE at once. */
async function startKinesalite(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const kinesalite = createRequire(import.meta.url)('kinesalite') as (options: object) => Server;
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    });
  return { endpoint: `http://127.0.0.1:${port}`, stop };
}

/** What reading the stream back found: how often each record index was read. */
interface ReadBack {
  readonly seen: Map<number, number>;
  readonly kinesisRecords: number;
  /** User records in envelopes a KCL consumer would drop (a sub-record hashed outside its shard). */
  readonly droppedByKcl: number;
}

/** Reads every shard from TRIM_HORIZON to its tip and deaggregates what it finds. */
async function readBack(client: KinesisClient): Promise<ReadBack> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListShardsCommand(nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken }));
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);

  const seen = new Map<number, number>();
  let kinesisRecords = 0;
  let droppedByKcl = 0;
  for (const shard of shards) {
    const low = BigInt(shard.HashKeyRange!.StartingHashKey!);
    const high = BigInt(shard.HashKeyRange!.EndingHashKey!);
    const inShard = (partitionKey: string, explicitHashKey: string | undefined): boolean => {
      const key = BigInt(explicitHashKey ?? `0x${hashKeyOfPartitionKey(partitionKey)}`);
      return key >= low && key <= high;
    };
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    while (iterator !== undefined) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) {
        kinesisRecords++;
        const decoded = decodeRecord(record.Data!, record.PartitionKey!);
        // The KCL drops a whole envelope when any of its records hashes outside the shard.
        if (decoded.aggregated && !decoded.records.every((user) => inShard(user.partitionKey, user.explicitHashKey))) {
          droppedByKcl += decoded.records.length;
          continue;
        }
        for (const user of decoded.records) {
          const text = Buffer.from(user.data.buffer, user.data.byteOffset, Math.min(user.data.length, 12)).toString('latin1');
          const index = Number(text.slice(0, text.indexOf(':')));
          seen.set(index, (seen.get(index) ?? 0) + 1);
        }
      }
      if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return { seen, kinesisRecords, droppedByKcl };
}

/** Produces `options.records` records, printing progress; resolves with the count of failed ones. */
async function produce(producer: KinesisProducer): Promise<number> {
  const started = performance.now();
  let settled = 0;
  let failed = 0;
  let bytes = 0;
  const progress = (): void => {
    const seconds = (performance.now() - started) / 1000;
    const line =
      `${count(settled)} / ${count(options.records)} records` +
      ` | ${count(Math.round(settled / seconds))} records/s` +
      ` | ${(bytes / seconds / 1e6).toFixed(2)} MB/s` +
      ` | in flight: ${producer.metrics.requestsInFlight} requests, ${count(producer.outstandingRecords)} records`;
    if (tty) process.stdout.write(`\r${line}   `);
    else console.log(line);
  };
  const ticker = setInterval(progress, tty ? 200 : 1000);

  const payload = Buffer.alloc(options.size, 'x');
  const results: Promise<void>[] = [];
  for (let i = 0; i < options.records; i++) {
    const data = Buffer.from(payload);
    data.write(`${i}:`, 0);
    // Collect the promises and await them together: awaiting each put() would wait out the
    // producer's buffering time (recordMaxBufferedTime, 100 ms) once per record.
    results.push(
      producer.put({ partitionKey: `key-${i % options.keys}`, data }).then(
        () => {
          settled++;
          bytes += data.length;
        },
        (error: unknown) => {
          settled++;
          failed++;
          if (failed <= 5) console.error(`\nrecord ${i} failed: ${String(error)}`);
        },
      ),
    );
    // Like a producer fed by I/O, yield to the event loop now and then (timers and answers run),
    // and wait for room when the producer holds its maximum (maxOutstandingRecords).
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
    await producer.ready();
  }
  await Promise.all(results);
  clearInterval(ticker);
  progress();
  if (tty) process.stdout.write('\n');
  return failed;
}

const server = await startKinesalite();
const admin = new KinesisClient({
  endpoint: server.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
  // kinesalite speaks HTTP/1.1 only; the Kinesis client's default handler is HTTP/2.
  requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 30_000 }),
});
let exitCode = 1;
try {
  await admin.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: options.shards }));
  while ((await admin.send(new DescribeStreamSummaryCommand({ StreamName: streamName }))).StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  console.log(`kinesalite on ${server.endpoint}: stream ${streamName} with ${options.shards} shards`);

  const producer = new KinesisProducer({
    streamName,
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
  });
  const started = performance.now();
  const failed = await produce(producer);
  await producer.close();
  const elapsed = (performance.now() - started) / 1000;

  const { seen, kinesisRecords, droppedByKcl } = await readBack(admin);
  let missing = 0;
  let duplicated = 0;
  let read = 0;
  for (const times of seen.values()) read += times;
  for (let i = 0; i < options.records; i++) {
    const times = seen.get(i) ?? 0;
    if (times === 0) missing++;
    else if (times > 1) duplicated++;
  }
  // Anything read that is not one of the records produced (there should be nothing).
  const strays = [...seen.keys()].filter((index) => !(Number.isInteger(index) && index >= 0 && index < options.records)).length;
  const m = producer.metrics;
  const ok = failed === 0 && missing === 0 && duplicated === 0 && strays === 0 && droppedByKcl === 0;
  console.log(
    [
      '',
      `records sent:           ${count(m.userRecordsPut)} (${failed} failed)`,
      `records read back:      ${count(read)} (${missing} missing, ${duplicated} duplicated, ${strays} unknown, ${droppedByKcl} in envelopes a KCL would drop)`,
      `Kinesis records:        ${count(m.kinesisRecordsPut)} (read back: ${count(kinesisRecords)})`,
      `PutRecords calls:       ${count(m.putRecordsRequests)}`,
      `aggregation ratio:      ${(m.userRecordsPut / Math.max(1, m.kinesisRecordsPut)).toFixed(1)} user records per Kinesis record`,
      `retries by code:        ${JSON.stringify(m.errorsByCode)}`,
      `elapsed:                ${elapsed.toFixed(2)} s (${count(Math.round(options.records / elapsed))} records/s)`,
      ok ? 'OK: every record arrived exactly once.' : 'FAILED: not every record arrived exactly once.',
    ].join('\n'),
  );
  exitCode = ok ? 0 : 1;
} finally {
  admin.destroy();
  await server.stop();
}
process.exit(exitCode);
