/**
 * Uploads end to end: a producer writing through the fault proxy to kinesalite uploads its metrics
 * to a loopback CloudWatch endpoint, which receives the figures the records' results and the proxy
 * account for; an upload endpoint that fails or stalls changes nothing for the records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserRecordFailedError} from '../../src/index.js';
import { KinesisProducer, type ProducerOptions, type PutResult } from '../../src/index.js';
import { startCloudWatchServer, type CloudWatchServer } from '../support/cloudwatch-server.js';
import { useKinesis } from '../support/harness.js';
import { localClient } from '../support/servers.js';

const kinesis = useKinesis({ proxySeed: 21 });
let cloudwatch: CloudWatchServer;
beforeAll(async () => {
  cloudwatch = await startCloudWatchServer();
});
afterAll(async () => {
  await cloudwatch.close();
});

async function produce(count: number, options: Partial<ProducerOptions> = {}) {
  cloudwatch.clear();
  const streamName = await kinesis.newStream(2);
  const producer = new KinesisProducer({
    streamName,
    client: localClient(kinesis.proxy.endpoint),
    retryMinBackoff: 20,
    retryMaxBackoff: 100,
    // The CloudWatch client shardline builds takes the producer's region and credentials.
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
    cloudwatchUpload: true,
    cloudwatchEndpoint: cloudwatch.endpoint,
    metricsUploadDelay: 250,
    ...options,
  });
  const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => producer.put({ partitionKey: `pk-${i % 89}`, data: `upload-${i}` })));
  const closing = performance.now();
  await producer.close();
  const closeMs = performance.now() - closing;
  const results = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as UserRecordFailedError] : []));
  return { streamName, producer, results, failures, closeMs };
}

describe('metrics uploaded to CloudWatch', () => {
  it('arrive with the KPL names, units and dimensions, adding up to what the records say', async () => {
    const { streamName, results, failures } = await produce(1500);
    expect(failures).toEqual([]);
    expect(cloudwatch.requests.every((r) => r.outcome === 'accepted' && r.namespace === 'KinesisProducerLibrary')).toBe(true);
    const stream = { StreamName: streamName };
    expect(cloudwatch.sum('UserRecordsPut', {})).toBe(1500);
    expect(cloudwatch.sum('UserRecordsReceived', stream)).toBe(1500);
    expect(cloudwatch.sum('UserRecordsDataPut', {})).toBe(Array.from({ length: 1500 }, (_, i) => `upload-${i}`.length).reduce((a, b) => a + b, 0));
    for (const shardId of new Set(results.map((r: PutResult) => r.shardId))) {
      expect(cloudwatch.sum('UserRecordsPut', { ...stream, ShardId: shardId })).toBe(results.filter((r) => r.shardId === shardId).length);
    }
    const kinesisRecords = new Set(results.map((r) => `${r.shardId}/${r.sequenceNumber}`)).size;
    expect(cloudwatch.sum('KinesisRecordsPut', stream)).toBe(kinesisRecords);
    const requestTimes = cloudwatch.datums('RequestTime', stream);
    expect(requestTimes.reduce((n, d) => n + d.count, 0)).toBe(kinesis.proxy.stats.requests.PutRecords);
    expect(requestTimes.every((d) => d.unit === 'Milliseconds' && d.min <= d.max && d.timestamp instanceof Date)).toBe(true);
    expect(cloudwatch.datums('UserRecordsDataPut')[0]?.unit).toBe('Bytes');
    expect(cloudwatch.datums('RequestTime', { StreamName: streamName, ShardId: 'shardId-000000000000' })).toEqual([]);
  });

  it('count throttling by error code and expired records', async () => {
    kinesis.proxy.setFaults({ entryFailureRate: 0.3, entryErrorCode: 'ProvisionedThroughputExceededException' });
    // Small envelopes, so that many entries face the failure rate.
    const throttledRun = await produce(800, { aggregationMaxSize: 1024 });
    expect(throttledRun.failures).toEqual([]);
    const throttled = { ErrorCode: 'ProvisionedThroughputExceededException' };
    expect(cloudwatch.sum('ErrorsByCode', throttled)).toBe(kinesis.proxy.stats.entriesFailed.ProvisionedThroughputExceededException);
    expect(cloudwatch.sum('ErrorsByCode', throttled)).toBeGreaterThan(0);
    expect(cloudwatch.datums('ErrorsByCode', { ...throttled, StreamName: throttledRun.streamName }).length).toBeGreaterThan(0);
    expect(cloudwatch.sum('RetriesPerRecord', {})).toBe(throttledRun.results.reduce((n, r) => n + r.attemptCount - 1, 0));

    kinesis.proxy.clearFaults();
    kinesis.proxy.setFaults({ stall: { rate: 1, operations: ['PutRecords'] } });
    const expiredRun = await produce(200, { recordTtl: 400, requestTimeout: 300 });
    expect(expiredRun.failures).toHaveLength(200);
    expect(cloudwatch.sum('UserRecordExpired', {})).toBe(200);
    expect(cloudwatch.sum('UserRecordsPut', {})).toBe(0);
    expect(cloudwatch.datums('UserRecordsPut', {}).reduce((n, d) => n + d.count, 0)).toBe(200);
  });

  it('that fail change nothing for the records, and are counted', async () => {
    cloudwatch.failNext(1000);
    const { results, failures, producer } = await produce(1000);
    cloudwatch.failNext(0);
    expect(failures).toEqual([]);
    expect(results).toHaveLength(1000);
    expect(cloudwatch.requests.length).toBeGreaterThan(0);
    expect(cloudwatch.requests.every((r) => r.outcome === 'failed')).toBe(true);
    expect(producer.metrics.metricsUploadsFailed).toBeGreaterThan(0);
  });

  it('that stall change nothing for the records, and close() still ends by its deadline', async () => {
    cloudwatch.stall();
    try {
      const { results, failures, producer, closeMs } = await produce(1000, { requestTimeout: 1000 });
      expect(failures).toEqual([]);
      expect(results).toHaveLength(1000);
      expect(cloudwatch.requests.some((r) => r.outcome === 'stalled')).toBe(true);
      expect(producer.metrics.metricsUploadsFailed).toBeGreaterThan(0);
      // The last upload is cut at requestTimeout; generous for a loaded machine.
      expect(closeMs).toBeLessThan(5000);
    } finally {
      cloudwatch.stall(false);
    }
  });
});

describe('the CloudWatch options', () => {
  it.each([
    [{ cloudwatchEndpoint: 'http://127.0.0.1:1' }, 'cloudwatchUpload'],
    [{ cloudwatchUpload: true, cloudwatchEndpoint: 'not a url' }, 'cloudwatchEndpoint'],
    [{ cloudwatchUpload: true, cloudwatchClient: {} }, 'cloudwatchClient'],
    [{ cloudwatchUpload: 'yes' }, 'cloudwatchUpload'],
    [{ metricsMeter: {} }, 'metricsMeter'],
    [{ onMetrics: 'log' }, 'onMetrics'],
    [{ cloudwatchUpload: true, cloudwatchEndpoint: 'http://127.0.0.1:1', cloudwatchClient: localClient('http://127.0.0.1:1') }, 'cloudwatchEndpoint'],
    [{ metricsLevel: 'none', cloudwatchUpload: true }, 'cloudwatchUpload'],
    [{ metricsLevel: 'none', onMetrics: () => undefined }, 'onMetrics'],
    [{ metricsLevel: 'none', metricsMeter: { createCounter: () => undefined, createObservableGauge: () => undefined } }, 'metricsMeter'],
  ])('refuses %j, naming %s', (options, field) => {
    expect(() => new KinesisProducer({ streamName: 's', client: localClient('http://127.0.0.1:1'), ...(options as Partial<ProducerOptions>) })).toThrow(
      expect.objectContaining({ name: 'ValidationError', field }) as Error,
    );
  });
});
