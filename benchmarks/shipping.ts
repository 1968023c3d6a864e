/**
 * Throughput of the shipping entries against the instant endpoint (a child process that answers at
 * once, so the producer's own cost is measured), 100-byte records over 1,000 keys, no rate limit:
 * put() with a promise per record, putAll, and pipeline() into the writable; records/s and this
 * process's CPU time per record (steadier than wall time on a shared machine). Run:
 *
 *   node --import tsx benchmarks/shipping.ts [records]
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULTS, KinesisProducer, type UserRecord } from '../src/index.js';
import { startServer } from './processes.js';

const COUNT = Number(process.argv[2] ?? 300_000);
const SIZE = 100;
const KEYS = 1000;
const credentials = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };

function* records(): Generator<UserRecord> {
  const data = Buffer.alloc(SIZE, 120);
  for (let i = 0; i < COUNT; i++) yield { partitionKey: `key-${i % KEYS}`, data };
}

/** A promise per record, waiting for ready() when the producer is full: what a user of put() writes. */
async function withPromises(producer: KinesisProducer): Promise<void> {
  let failed = 0;
  for (const record of records()) {
    if (producer.outstandingRecords >= DEFAULTS.maxOutstandingRecords) await producer.ready();
    producer.put(record).then(
      () => undefined,
      () => failed++,
    );
  }
  await producer.flush();
  if (failed > 0) throw new Error(`${failed} failed`);
}

const modes: Record<string, (producer: KinesisProducer) => Promise<unknown>> = {
  'put() per record': withPromises,
  putAll: (producer) => producer.putAll(records()),
  'pipeline → writable': (producer) => pipeline(Readable.from(records()), producer.writable()),
};

const server = await startServer('instant', 'bench');
try {
  for (const [name, run] of Object.entries(modes)) {
    const producer = new KinesisProducer({ streamName: 'bench', endpoint: server.endpoint, region: 'us-east-1', credentials, rateLimit: 10_000 });
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await run(producer);
    await producer.flush();
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const { userRecordsPut, userRecordsFailed } = producer.metrics;
    await producer.close();
    console.log(`${name.padEnd(22)} ${Math.round(userRecordsPut / seconds).toString().padStart(8)} records/s  ${((cpu.user + cpu.system) / userRecordsPut).toFixed(1).padStart(5)} µs CPU/record  (${userRecordsPut} put, ${userRecordsFailed} failed, ${seconds.toFixed(2)} s)`);
  }
} finally {
  await server.stop();
}
