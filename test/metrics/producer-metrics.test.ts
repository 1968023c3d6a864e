/**
 * The producer's metrics after runs with known outcomes through kinesalite and the fault proxy:
 * the figures the sinks receive agree with what the records' results say and the proxy saw.
 */
import { InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { UserRecordFailedError} from '../../src/index.js';
import { KinesisProducer, type ProducerOptions, type PutResult } from '../../src/index.js';
import type { MetricDatum, MetricsReport } from '../../src/metrics/index.js';
import { useKinesis } from '../support/harness.js';
import { localClient } from '../support/servers.js';

const kinesis = useKinesis({ proxySeed: 12 });

/** Every interval's datums added up, as `getMetrics()` adds them. */
function total(reports: readonly MetricsReport[], name: string, dimensions: Record<string, string> = {}) {
  const key = JSON.stringify(dimensions);
  const matching = reports.flatMap((r) => r.datums).filter((d) => d.name === name && JSON.stringify(d.dimensions) === key);
  return {
    count: matching.reduce((s, d) => s + d.count, 0),
    sum: matching.reduce((s, d) => s + d.sum, 0),
    min: Math.min(...matching.map((d) => d.min)),
    max: Math.max(...matching.map((d) => d.max)),
  };
}

function figure(datums: readonly MetricDatum[], name: string, dimensions: Record<string, string> = {}): MetricDatum | undefined {
  return datums.find((d) => d.name === name && JSON.stringify(d.dimensions) === JSON.stringify(dimensions));
}

async function run(count: number, options: Partial<ProducerOptions> = {}) {
  const streamName = await kinesis.newStream(2);
  const reports: MetricsReport[] = [];
  const producer = new KinesisProducer({
    streamName,
    client: localClient(kinesis.proxy.endpoint),
    retryMinBackoff: 20,
    retryMaxBackoff: 100,
    metricsUploadDelay: 200,
    onMetrics: (report) => reports.push(report),
    ...options,
  });
  const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => producer.put({ partitionKey: `pk-${i % 101}`, data: `record-${i}` })));
  const snapshotBeforeClose = producer.getMetrics();
  await producer.close();
  const results = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as UserRecordFailedError] : []));
  return { streamName, producer, reports, results, failures, snapshotBeforeClose, dataBytes: Array.from({ length: count }, (_, i) => `record-${i}`.length).reduce((a, b) => a + b, 0) };
}

describe('producer metrics', () => {
  it('counts what the results say: records put, bytes, Kinesis records per shard, requests', async () => {
    const { streamName, producer, reports, results, failures, dataBytes } = await run(2000);
    expect(failures).toEqual([]);
    const stream = { StreamName: streamName };
    expect(total(reports, 'UserRecordsReceived', stream).sum).toBe(2000);
    expect(total(reports, 'UserRecordsPut')).toMatchObject({ count: 2000, sum: 2000 });
    expect(total(reports, 'UserRecordsDataPut').sum).toBe(dataBytes);
    const kinesisRecords = new Set(results.map((r) => `${r.shardId}/${r.sequenceNumber}`));
    expect(total(reports, 'KinesisRecordsPut')).toMatchObject({ count: kinesisRecords.size, sum: kinesisRecords.size });
    expect(total(reports, 'AllErrors').sum).toBe(0);
    // Per shard, the records put are the results naming that shard.
    for (const shardId of new Set(results.map((r) => r.shardId))) {
      const onShard = results.filter((r) => r.shardId === shardId);
      expect(total(reports, 'UserRecordsPut', { ...stream, ShardId: shardId }).sum).toBe(onShard.length);
      expect(total(reports, 'KinesisRecordsPut', { ...stream, ShardId: shardId }).sum).toBe(new Set(onShard.map((r) => r.sequenceNumber)).size);
    }
    // One RequestTime sample per PutRecords call the proxy saw, and every Kinesis record in one of them.
    const calls = kinesis.proxy.stats.requests.PutRecords ?? 0;
    expect(total(reports, 'RequestTime', stream).count).toBe(calls);
    expect(total(reports, 'KinesisRecordsPerPutRecordsRequest', stream)).toMatchObject({ count: calls, sum: kinesisRecords.size });
    expect(total(reports, 'UserRecordsPerPutRecordsRequest', stream).sum).toBe(2000);
    expect(total(reports, 'UserRecordsPerKinesisRecord').sum).toBe(2000);
    expect(total(reports, 'BufferingTime').count).toBe(2000);
    expect(total(reports, 'RetriesPerRecord')).toMatchObject({ count: 2000, sum: 0 });
    // getMetrics() holds the same totals under the same names.
    const snapshot = producer.getMetrics();
    expect(figure(snapshot, 'UserRecordsPut')).toMatchObject(total(reports, 'UserRecordsPut'));
    expect(figure(snapshot, 'KinesisRecordsPut', stream)).toMatchObject(total(reports, 'KinesisRecordsPut', stream));
    expect(producer.getMetrics('RequestTime').every((d) => d.name === 'RequestTime')).toBe(true);
  });

  it('counts throttling by code, and retries per record as the results count attempts', async () => {
    kinesis.proxy.setFaults({ entryFailureRate: 0.3, entryErrorCode: 'ProvisionedThroughputExceededException' });
    // Small envelopes, so that many entries face the failure rate.
    const { reports, results, failures } = await run(1000, { aggregationMaxSize: 1024 });
    expect(failures).toEqual([]);
    const throttled = total(reports, 'ErrorsByCode', { ErrorCode: 'ProvisionedThroughputExceededException' }).sum;
    expect(throttled).toBe(kinesis.proxy.stats.entriesFailed.ProvisionedThroughputExceededException);
    expect(throttled).toBeGreaterThan(0);
    expect(total(reports, 'AllErrors').sum).toBe(throttled);
    const kinesisRecordsPut = total(reports, 'KinesisRecordsPut');
    expect(kinesisRecordsPut.count - kinesisRecordsPut.sum).toBe(throttled);
    const retries = results.reduce((sum, r: PutResult) => sum + r.attemptCount - 1, 0);
    expect(retries).toBeGreaterThan(0);
    const attempts = results.map((r) => r.attemptCount - 1);
    expect(total(reports, 'RetriesPerRecord')).toMatchObject({ count: 1000, sum: retries, min: Math.min(...attempts), max: Math.max(...attempts) });
    // Every attempt of every user record has its buffering time.
    expect(total(reports, 'BufferingTime').count).toBe(results.reduce((sum, r) => sum + r.attemptCount, 0));
  });

  it('counts records that expired', async () => {
    kinesis.proxy.setFaults({ stall: { rate: 1, operations: ['PutRecords'] } });
    const { reports, failures } = await run(300, { recordTtl: 400, requestTimeout: 200 });
    expect(failures).toHaveLength(300);
    expect(failures.every((f) => f.errorCode === 'Expired')).toBe(true);
    expect(total(reports, 'UserRecordExpired').sum).toBe(300);
    expect(total(reports, 'UserRecordsPut')).toMatchObject({ count: 300, sum: 0 });
    expect(total(reports, 'ErrorsByCode', { ErrorCode: 'RequestTimeout' }).sum).toBeGreaterThan(0);
  });

  it('reports every metricsUploadDelay while records flow, not only at close()', async () => {
    const streamName = await kinesis.newStream(1);
    const reports: MetricsReport[] = [];
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint), metricsUploadDelay: 100, onMetrics: (r) => reports.push(r) });
    await producer.put({ partitionKey: 'a', data: 'x' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(total(reports, 'UserRecordsPut').sum).toBe(1);
    await producer.close();
  });

  it('gives an OpenTelemetry meter the same figures as the reports', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    kinesis.proxy.setFaults({ entryFailureRate: 0.2, entryErrorCode: 'ProvisionedThroughputExceededException' });
    const { streamName, reports } = await run(1000, { metricsMeter: provider.getMeter('shardline'), aggregationMaxSize: 1024 });
    await reader.forceFlush();
    const metrics = new Map(exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics)).map((m) => [m.descriptor.name, m]));
    const value = (name: string, attributes: Record<string, string>) =>
      metrics.get(name)?.dataPoints.find((p) => JSON.stringify(p.attributes) === JSON.stringify(attributes))?.value;
    const stream = { StreamName: streamName };
    expect(value('UserRecordsPut', {})).toBe(1000);
    expect(value('UserRecordsPut', stream)).toBe(total(reports, 'UserRecordsPut', stream).sum);
    const throttled = { ErrorCode: 'ProvisionedThroughputExceededException' };
    expect(value('ErrorsByCode', throttled)).toBe(total(reports, 'ErrorsByCode', throttled).sum);
    expect(value('ErrorsByCode', throttled)).toBeGreaterThan(0);
    expect(value('BufferingTime.count', {})).toBe(total(reports, 'BufferingTime').count);
    expect(value('BufferingTime.sum', {})).toBeCloseTo(total(reports, 'BufferingTime').sum, 6);
    expect(value('RequestTime.count', stream)).toBe(total(reports, 'RequestTime', stream).count);
    await provider.shutdown();
  });

  it('records nothing at metricsLevel none', async () => {
    // A sink is refused at level none (it would receive nothing): none is given here.
    const { reports, snapshotBeforeClose, producer } = await run(100, { metricsLevel: 'none', onMetrics: undefined });
    expect(reports).toEqual([]);
    expect(snapshotBeforeClose).toEqual([]);
    expect(producer.metrics.userRecordsPut).toBe(100);
  });
});
