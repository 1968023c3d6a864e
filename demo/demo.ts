/**
 * The main job, end to end, with no AWS account: starts kinesalite in-process on 127.0.0.1, creates
 * a 4-shard stream, produces 100,000 records through shardline, reads every shard back,
 * deaggregates, and checks that every record arrived exactly once. Exits 0 only then.
 *
 *   npm run demo [-- --records 100000 --shards 4 --size 200]
 */
import { parseArgs } from 'node:util';
import { KinesisProducer } from '../src/index.js';
import { readStream } from '../test/support/read-stream.js';
import { createStream, localClient, startKinesalite } from '../test/support/servers.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    shards: { type: 'string', default: '4' },
    size: { type: 'string', default: '200' },
    keys: { type: 'string', default: '5000' },
  },
});
const total = Number(values.records);
const shardCount = Number(values.shards);
const recordSize = Number(values.size);
const keyCount = Number(values.keys);
const streamName = 'shardline-demo';
const tty = process.stdout.isTTY;

const server = await startKinesalite();
const admin = localClient(server.endpoint);
let exitCode = 1;
try {
  await createStream(admin, streamName, shardCount);
  console.log(`kinesalite on ${server.endpoint}: stream ${streamName} with ${shardCount} shards`);
  const producer = new KinesisProducer({
    streamName,
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
  });

  const started = performance.now();
  let settled = 0;
  let failed = 0;
  let bytes = 0;
  const progress = (): void => {
    const seconds = (performance.now() - started) / 1000;
    const line =
      `${settled.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} records` +
      ` | ${Math.round(settled / seconds).toLocaleString('en-US')} records/s` +
      ` | ${(bytes / seconds / 1e6).toFixed(2)} MB/s` +
      ` | in flight: ${producer.metrics.requestsInFlight} requests, ${producer.outstandingRecords.toLocaleString('en-US')} records`;
    if (tty) process.stdout.write(`\r${line}   `);
    else console.log(line);
  };
  const ticker = setInterval(progress, tty ? 200 : 1000);

  const payload = Buffer.alloc(recordSize, 'x');
  const results: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const data = Buffer.from(payload);
    data.write(`${i}:`, 0);
    results.push(
      producer.put({ partitionKey: `key-${i % keyCount}`, data }).then(
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
    // and keep the outstanding count near a bound instead of buffering everything at once.
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
    if (producer.outstandingRecords >= 20_000) await producer.flush();
  }
  await Promise.all(results);
  await producer.close();
  clearInterval(ticker);
  progress();
  const elapsed = (performance.now() - started) / 1000;
  if (tty) process.stdout.write('\n');

  const contents = await readStream(admin, streamName);
  const seen = new Map<number, number>();
  for (const record of contents.records) {
    const text = Buffer.from(record.data).toString('latin1');
    const index = Number(text.slice(0, text.indexOf(':')));
    seen.set(index, (seen.get(index) ?? 0) + 1);
  }
  let missing = 0;
  let duplicated = 0;
  for (let i = 0; i < total; i++) {
    const count = seen.get(i) ?? 0;
    if (count === 0) missing++;
    else if (count > 1) duplicated++;
  }
  const m = producer.metrics;
  const ok = failed === 0 && missing === 0 && contents.droppedByKcl === 0;
  console.log(
    [
      '',
      `records sent:           ${m.userRecordsPut.toLocaleString('en-US')} (${failed} failed)`,
      `records read back:      ${contents.records.length.toLocaleString('en-US')} (${missing} missing, ${duplicated} duplicated, ${contents.droppedByKcl} in envelopes a KCL would drop)`,
      `Kinesis records:        ${m.kinesisRecordsPut.toLocaleString('en-US')} (read back: ${contents.kinesisRecords.toLocaleString('en-US')})`,
      `PutRecords calls:       ${m.putRecordsRequests.toLocaleString('en-US')}`,
      `aggregation ratio:      ${(m.userRecordsPut / Math.max(1, m.kinesisRecordsPut)).toFixed(1)} user records per Kinesis record`,
      `retries by code:        ${JSON.stringify(m.errorsByCode)}`,
      `elapsed:                ${elapsed.toFixed(2)} s (${Math.round(total / elapsed).toLocaleString('en-US')} records/s)`,
      ok ? 'OK: every record was read back.' : 'FAILED: not every record was read back.',
    ].join('\n'),
  );
  exitCode = ok ? 0 : 1;
} finally {
  admin.destroy();
  await server.stop();
}
process.exit(exitCode);
