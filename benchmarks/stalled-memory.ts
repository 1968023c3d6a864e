/**
 * Memory while the endpoint stalls: a producer fed as fast as ready() allows, every PutRecords held
 * unanswered by the test proxy until requestTimeout aborts it. Prints what the producer holds
 * (outstandingBytes) beside the process's heap and RSS, peak and after a full GC.
 *
 *   node --expose-gc --import tsx benchmarks/stalled-memory.ts [seconds] [recordBytes]
 */
import { KinesisProducer } from '../src/index.js';
import { startFaultProxy } from '../test/support/fault-proxy.js';
import { createStream, localClient, startKinesalite } from '../test/support/servers.js';

const seconds = Number(process.argv[2] ?? 20);
const recordBytes = Number(process.argv[3] ?? 1024);
const MiB = 1024 * 1024;
const server = await startKinesalite();
const admin = localClient(server.endpoint);
await createStream(admin, 'stalled', 4);
const proxy = await startFaultProxy({ target: server.endpoint });
const producer = new KinesisProducer({ streamName: 'stalled', client: localClient(proxy.endpoint), requestTimeout: 2000, recordTtl: 600_000 });
await producer.put({ partitionKey: 'warm', data: 'x' });
const base = process.memoryUsage();
proxy.setFaults({ stall: { rate: 1 } });
const peak = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0, outstanding: 0 };
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
  peak.external = Math.max(peak.external, m.external);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  peak.outstanding = Math.max(peak.outstanding, producer.metrics.outstandingBytes);
}, 50);
const payload = Buffer.alloc(recordBytes, 'm');
const started = performance.now();
let i = 0;
const end = started + seconds * 1000;
while (performance.now() < end) {
  // ready() does not resolve while the endpoint holds everything: the run ends at its time anyway.
  await Promise.race([producer.ready(), new Promise((resolve) => setTimeout(resolve, Math.max(0, end - performance.now())))]);
  if (performance.now() >= end) break;
  producer.put({ partitionKey: `k${i % 1000}`, data: Buffer.from(payload) }).catch(() => undefined);
  if (++i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
}
clearInterval(sampler);
(globalThis as { gc?: () => void }).gc?.();
const after = process.memoryUsage();
const mb = (n: number): string => (n / MiB).toFixed(0);
console.log(
  JSON.stringify({
    seconds,
    recordBytes,
    putRecordsRequests: producer.metrics.putRecordsRequests,
    heldMiB: mb(producer.metrics.outstandingBytes),
    peakHeldMiB: mb(peak.outstanding),
    baseRssMiB: mb(base.rss),
    peakRssMiB: mb(peak.rss),
    peakHeapMiB: mb(peak.heapUsed),
    peakArrayBuffersMiB: mb(peak.arrayBuffers),
    afterGcHeapMiB: mb(after.heapUsed),
    afterGcArrayBuffersMiB: mb(after.arrayBuffers),
    afterGcRssMiB: mb(after.rss),
    peakRssOverHeld: ((peak.rss - base.rss) / peak.outstanding).toFixed(1),
  }),
);
proxy.clearFaults();
proxy.releaseStalled();
await producer.close();
admin.destroy();
await proxy.close();
await server.stop();
