/**
 * The metrics recorder without a server: what reaches the sinks for the samples the stages give it,
 * at each level and granularity, and what the totals hold.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MetricsRecorder, resolveMetricsSettings, type GaugeTotals, type MetricDatum, type MetricsOptions, type MetricsReport, type MetricsSink } from '../../src/metrics/index.js';
import type { ValidationError } from '../../src/errors.js';

const recorders: MetricsRecorder[] = [];
afterEach(async () => {
  for (const recorder of recorders.splice(0)) await recorder.close();
});

/** A recorder whose interval never ends by itself (the tests end it with close()), and the reports it gave. */
function record(options: MetricsOptions = {}, sampleGauges: (totals: GaugeTotals) => void = () => undefined) {
  const reports: MetricsReport[] = [];
  const sink: MetricsSink = { report: (report) => reports.push(report), close: () => Promise.resolve() };
  const recorder = new MetricsRecorder(resolveMetricsSettings({ metricsUploadDelay: 60_000, ...options }), [sink], sampleGauges);
  recorders.push(recorder);
  return { recorder, reports };
}

// A partition key of 3 UTF-8 bytes in 2 characters: data bytes are the size less the key's bytes.
const user = (waitingSince: number, attemptCount: number, size = 10) => ({ size: size + 3, partitionKey: 'ké', waitingSince, attemptCount });

function find(datums: readonly MetricDatum[], name: string, dimensions: Record<string, string> = {}): MetricDatum | undefined {
  return datums.find((d) => d.name === name && JSON.stringify(d.dimensions) === JSON.stringify(dimensions));
}

describe('MetricsRecorder', () => {
  it('reports each shard, its stream and the producer, the coarser figures adding up the finer ones', async () => {
    const { recorder, reports } = record();
    const stream = recorder.stream('s', () => undefined);
    stream.shard('shardId-0').written([user(0, 0, 10), user(5, 2, 30)], 20);
    stream.shard('shardId-1').written([user(10, 1, 20)], 40);
    await recorder.close();
    expect(reports).toHaveLength(1);
    const datums = reports[0]!.datums;
    expect(find(datums, 'UserRecordsPut', { StreamName: 's', ShardId: 'shardId-0' })).toMatchObject({ count: 2, sum: 2, min: 1, max: 1 });
    expect(find(datums, 'UserRecordsDataPut', { StreamName: 's', ShardId: 'shardId-0' })).toMatchObject({ unit: 'Bytes', count: 2, sum: 40, min: 10, max: 30 });
    expect(find(datums, 'BufferingTime', { StreamName: 's', ShardId: 'shardId-0' })).toMatchObject({ unit: 'Milliseconds', count: 2, sum: 35, min: 15, max: 20 });
    expect(find(datums, 'RetriesPerRecord', { StreamName: 's', ShardId: 'shardId-0' })).toMatchObject({ count: 2, sum: 2, min: 0, max: 2 });
    expect(find(datums, 'UserRecordsPut', { StreamName: 's' })).toMatchObject({ count: 3, sum: 3 });
    expect(find(datums, 'BufferingTime', { StreamName: 's' })).toMatchObject({ count: 3, sum: 65, min: 15, max: 30 });
    expect(find(datums, 'BufferingTime')).toMatchObject({ count: 3, sum: 65, min: 15, max: 30 });
    expect(find(datums, 'UserRecordsDataPut')).toMatchObject({ sum: 60, min: 10, max: 30 });
    expect(reports[0]!.namespace).toBe('KinesisProducerLibrary');
    expect(reports[0]!.end.getTime()).toBeGreaterThanOrEqual(reports[0]!.start.getTime());
  });

  it('gives ErrorsByCode the error code first, and counts AllErrors and failed Kinesis records', async () => {
    const { recorder, reports } = record();
    const stream = recorder.stream('s', () => undefined);
    stream.shard('shardId-0').attemptFailed([user(0, 0), user(0, 0)], 'ProvisionedThroughputExceededException', 10);
    stream.shard('shardId-0').attemptFailed([user(0, 1)], 'InternalFailure', 10);
    await recorder.close();
    const datums = reports[0]!.datums;
    const throttled = find(datums, 'ErrorsByCode', { ErrorCode: 'ProvisionedThroughputExceededException', StreamName: 's', ShardId: 'shardId-0' });
    expect(throttled).toMatchObject({ count: 1, sum: 1 });
    expect(Object.keys(throttled!.dimensions)).toEqual(['ErrorCode', 'StreamName', 'ShardId']);
    expect(find(datums, 'ErrorsByCode', { ErrorCode: 'InternalFailure' })).toMatchObject({ sum: 1 });
    expect(find(datums, 'AllErrors')).toMatchObject({ sum: 2 });
    expect(find(datums, 'KinesisRecordsPut')).toMatchObject({ count: 2, sum: 0 });
    expect(find(datums, 'BufferingTime', { StreamName: 's', ShardId: 'shardId-0' })).toMatchObject({ count: 3, sum: 30 });
  });

  it('counts failed user records, expired ones in UserRecordExpired', async () => {
    const { recorder, reports } = record();
    const stream = recorder.stream('s', () => 'shardId-3');
    stream.shardOfHashKey('ab').failed(4, 'Expired');
    stream.shardOfHashKey('cd').failed(0, 'Expired');
    stream.shardOfHashKey('ef').failed(1, 'AccessDeniedException');
    await recorder.close();
    const datums = reports[0]!.datums;
    const shard = { StreamName: 's', ShardId: 'shardId-3' };
    expect(find(datums, 'UserRecordExpired', shard)).toMatchObject({ count: 2, sum: 2 });
    expect(find(datums, 'UserRecordsPut', shard)).toMatchObject({ count: 3, sum: 0 });
    expect(find(datums, 'RetriesPerRecord', shard)).toMatchObject({ count: 3, sum: 3, min: 0, max: 3 });
  });

  it('leaves out the metrics above the level and the dimensions below the granularity', async () => {
    const { recorder, reports } = record({ metricsLevel: 'summary', metricsGranularity: 'stream' });
    const stream = recorder.stream('s', () => undefined);
    stream.shard('shardId-0').written([user(0, 0)], 5);
    stream.figures.stat.RequestTime.add(12);
    await recorder.close();
    const datums = reports[0]!.datums;
    expect(datums.some((d) => d.dimensions.ShardId !== undefined)).toBe(false);
    expect(datums.some((d) => d.name === 'UserRecordsDataPut' || d.name === 'RequestTime' || d.name === 'RetriesPerRecord')).toBe(false);
    expect(find(datums, 'UserRecordsPut', { StreamName: 's' })).toMatchObject({ sum: 1 });
    expect(find(datums, 'BufferingTime', { StreamName: 's' })).toMatchObject({ sum: 5 });
  });

  it('reports a metric of the stream (RequestTime) per stream, never per shard', async () => {
    const { recorder, reports } = record();
    const stream = recorder.stream('s', () => undefined);
    stream.figures.stat.RequestTime.add(12);
    stream.shard('shardId-0').stat.UserRecordsPerKinesisRecord.add(3);
    await recorder.close();
    const names = reports[0]!.datums.map((d) => `${d.name} ${Object.values(d.dimensions).join(' ')}`.trim());
    expect(names).toContain('RequestTime s');
    expect(names).toContain('RequestTime');
    expect(names).toContain('UserRecordsPerKinesisRecord s shardId-0');
  });

  it('puts everything in the global figures at global granularity', async () => {
    const { recorder, reports } = record({ metricsGranularity: 'global' });
    recorder.stream('a', () => undefined).shard('shardId-0').written([user(0, 0)], 1);
    recorder.stream('b', () => undefined).shard('shardId-0').written([user(0, 0), user(0, 0)], 1);
    await recorder.close();
    const put = reports[0]!.datums.filter((d) => d.name === 'UserRecordsPut');
    expect(put).toEqual([expect.objectContaining({ dimensions: {}, sum: 3 })]);
  });

  it('adds each additional dimension from its granularity down, in the KPL order', async () => {
    const { recorder, reports } = record({
      additionalMetricsDimensions: [
        { name: 'Host', value: 'h1', granularity: 'global' },
        { name: 'Fleet', value: 'blue', granularity: 'stream' },
      ],
    });
    recorder.stream('s', () => undefined).shard('shardId-0').attemptFailed([user(0, 0)], 'InternalFailure', 1);
    await recorder.close();
    const datums = reports[0]!.datums;
    expect(find(datums, 'AllErrors', { Host: 'h1' })).toBeDefined();
    expect(find(datums, 'AllErrors', { Host: 'h1', StreamName: 's', Fleet: 'blue' })).toBeDefined();
    expect(find(datums, 'AllErrors', { Host: 'h1', StreamName: 's', Fleet: 'blue', ShardId: 'shardId-0' })).toBeDefined();
    expect(find(datums, 'ErrorsByCode', { ErrorCode: 'InternalFailure', Host: 'h1' })).toBeDefined();
  });

  it('samples each gauge at every level: records pending and held as totals, rate limits as the mean', async () => {
    const { recorder, reports } = record({}, (totals) => {
      // What a router does for a stream with two shards: per shard, for the stream, into the totals.
      const shards = recorder.stream('a', () => undefined);
      shards.shard('shardId-0').stat.ShardRateLimit.add(100);
      shards.shard('shardId-1').stat.ShardRateLimit.add(50);
      shards.figures.stat.ShardRateLimit.add(75);
      totals.rateLimitPercentSum += 150;
      totals.shards += 2;
      totals.heldUserRecords += 9;
    });
    recorder.stream('a', () => undefined).pending = 7;
    recorder.stream('b', () => undefined).pending = 5;
    await recorder.close();
    const datums = reports[0]!.datums;
    expect(find(datums, 'UserRecordsPending', { StreamName: 'a' })).toMatchObject({ count: 1, sum: 7 });
    expect(find(datums, 'UserRecordsPending', { StreamName: 'b' })).toMatchObject({ count: 1, sum: 5 });
    expect(find(datums, 'UserRecordsPending')).toMatchObject({ count: 1, sum: 12 });
    expect(find(datums, 'UserRecordsHeldByRateLimit')).toMatchObject({ count: 1, sum: 9 });
    expect(find(datums, 'ShardRateLimit', { StreamName: 'a', ShardId: 'shardId-1' })).toMatchObject({ unit: 'Percent', sum: 50 });
    expect(find(datums, 'ShardRateLimit', { StreamName: 'a' })).toMatchObject({ count: 1, sum: 75 });
    expect(find(datums, 'ShardRateLimit')).toMatchObject({ count: 1, sum: 75 });
  });

  it('samples pending records once, for the producer, at global granularity', async () => {
    const { recorder, reports } = record({ metricsGranularity: 'global' });
    recorder.stream('a', () => undefined).pending = 3;
    recorder.stream('b', () => undefined).pending = 4;
    await recorder.close();
    expect(reports[0]!.datums.filter((d) => d.name === 'UserRecordsPending')).toEqual([expect.objectContaining({ dimensions: {}, count: 1, sum: 7 })]);
  });

  it('reports every metricsUploadDelay, each interval with its own figures, and keeps totals since the start', async () => {
    vi.useFakeTimers();
    try {
      const { recorder, reports } = record({ metricsUploadDelay: 1000 });
      const shard = recorder.stream('s', () => undefined).shard('shardId-0');
      shard.written([user(0, 0)], 1);
      vi.advanceTimersByTime(1000);
      shard.written([user(0, 0), user(0, 0)], 1);
      vi.advanceTimersByTime(1000);
      expect(reports).toHaveLength(2);
      expect(find(reports[0]!.datums, 'UserRecordsPut')).toMatchObject({ sum: 1 });
      expect(find(reports[1]!.datums, 'UserRecordsPut')).toMatchObject({ sum: 2 });
      expect(reports[1]!.start).toEqual(reports[0]!.end);
      shard.written([user(0, 0)], 1);
      // The totals hold both intervals and the current one.
      expect(find(recorder.snapshot('UserRecordsPut'), 'UserRecordsPut')).toMatchObject({ count: 4, sum: 4 });
      expect(recorder.snapshot('UserRecordsPut').every((d) => d.name === 'UserRecordsPut')).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('never lets a sink that throws reach the caller, and says so once', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warning.code === 'SHARDLINE_METRICS' && warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      vi.useFakeTimers();
      const recorder = new MetricsRecorder(
        resolveMetricsSettings({ metricsUploadDelay: 100 }),
        [{ report: () => { throw new Error('sink down'); }, close: () => Promise.resolve() }],
        () => undefined,
      );
      recorders.push(recorder);
      const shard = recorder.stream('s', () => undefined).shard('shardId-0');
      for (let i = 0; i < 3; i++) {
        shard.written([user(0, 0)], 1);
        expect(() => vi.advanceTimersByTime(100)).not.toThrow();
      }
      vi.useRealTimers();
      await new Promise(setImmediate);
      expect(warnings).toEqual([expect.stringContaining('sink down')]);
    } finally {
      vi.useRealTimers();
      process.off('warning', onWarning);
    }
  });

  it('measures a stall of the event loop right after it is built, and one right after a poll', async () => {
    const { recorder } = record();
    const block = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    // A probe due 100 ms after the start runs 200 ms late.
    block(300);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(find(recorder.snapshot('EventLoopDelay'), 'EventLoopDelay')!.max).toBeGreaterThanOrEqual(190);
    recorder.snapshot();
    await recorder.close();
    const { recorder: polled } = record();
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(find(polled.snapshot('EventLoopDelay'), 'EventLoopDelay')!.max).toBeLessThan(190);
    block(400);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(find(polled.snapshot('EventLoopDelay'), 'EventLoopDelay')!.max).toBeGreaterThanOrEqual(290);
  });

  it('records nothing at level none: no report, an empty snapshot', async () => {
    const { recorder, reports } = record({ metricsLevel: 'none' });
    expect(recorder.recording).toBe(false);
    expect(recorder.stream('s', () => undefined).recording).toBe(false);
    await recorder.close();
    expect(reports).toEqual([]);
    expect(recorder.snapshot()).toEqual([]);
  });

  it('closes once: a second close() waits for the same end and reports nothing more', async () => {
    const { recorder, reports } = record();
    recorder.stream('s', () => undefined).shard('shardId-0').written([user(0, 0)], 1);
    const first = recorder.close();
    expect(recorder.close()).toBe(first);
    await first;
    expect(reports).toHaveLength(1);
  });
});

describe('resolveMetricsSettings', () => {
  it('fills in the KPL defaults', () => {
    expect(resolveMetricsSettings({})).toEqual({
      metricsLevel: 'detailed',
      metricsGranularity: 'shard',
      metricsNamespace: 'KinesisProducerLibrary',
      metricsUploadDelay: 60_000,
      additionalMetricsDimensions: [],
    });
  });

  it.each([
    [{ metricsLevel: 'verbose' }, 'metricsLevel'],
    [{ metricsGranularity: 'Shard' }, 'metricsGranularity'],
    [{ metricsNamespace: 'AWS/Kinesis' }, 'metricsNamespace'],
    [{ metricsNamespace: '' }, 'metricsNamespace'],
    [{ metricsNamespace: 'x'.repeat(256) }, 'metricsNamespace'],
    [{ metricsNamespace: 'a$b' }, 'metricsNamespace'],
    [{ metricsNamespace: '   ' }, 'metricsNamespace'],
    [{ metricsNamespace: ':x' }, 'metricsNamespace'],
    [{ metricsUploadDelay: 0 }, 'metricsUploadDelay'],
    [{ metricsUploadDelay: 60_001 }, 'metricsUploadDelay'],
    [{ additionalMetricsDimensions: {} }, 'additionalMetricsDimensions'],
    [{ additionalMetricsDimensions: [{ name: 'StreamName', value: 'x', granularity: 'global' }] }, 'additionalMetricsDimensions[0].name'],
    [{ additionalMetricsDimensions: [{ name: 'Host', value: 'é', granularity: 'global' }] }, 'additionalMetricsDimensions[0]'],
    [{ additionalMetricsDimensions: [{ name: 'Host', value: 7, granularity: 'global' }] }, 'additionalMetricsDimensions[0].value'],
    [{ additionalMetricsDimensions: [{ name: ':Host', value: 'a', granularity: 'global' }] }, 'additionalMetricsDimensions[0]'],
    [{ additionalMetricsDimensions: [{ name: 'Host', value: 'a', granularity: 'host' }] }, 'additionalMetricsDimensions[0].granularity'],
    [{ additionalMetricsDimensions: [{ name: 'H', value: 'a', granularity: 'global' }, { name: 'H', value: 'b', granularity: 'shard' }] }, 'additionalMetricsDimensions[1].name'],
    [{ additionalMetricsDimensions: Array.from({ length: 28 }, (_, i) => ({ name: `d${i}`, value: 'v', granularity: 'global' })) }, 'additionalMetricsDimensions'],
  ])('refuses %j, naming %s', (options, field) => {
    expect(() => resolveMetricsSettings(options as MetricsOptions)).toThrow(expect.objectContaining({ field }) as ValidationError);
  });
});
