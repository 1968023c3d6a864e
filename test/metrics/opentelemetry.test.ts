/**
 * The OpenTelemetry sink against the real SDK: reports with known figures, recorded through a
 * `MeterProvider`, read back from its in-memory exporter.
 */
import type { Meter } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import type { MetricName } from '../../src/metrics/catalogue.js';
import { OpenTelemetrySink, type MeterLike } from '../../src/metrics/opentelemetry.js';
import type { MetricDatum, MetricsReport } from '../../src/metrics/report.js';

const SHARD_0 = { StreamName: 'events', ShardId: 'shardId-000000000000' };
const SHARD_1 = { StreamName: 'events', ShardId: 'shardId-000000000001' };

function datum(name: MetricName, dimensions: MetricDatum['dimensions'], samples: readonly number[]): MetricDatum {
  return {
    name,
    unit: 'Count',
    dimensions,
    count: samples.length,
    sum: samples.reduce((a, b) => a + b, 0),
    min: Math.min(...samples),
    max: Math.max(...samples),
  };
}

function report(...datums: MetricDatum[]): MetricsReport {
  return { namespace: 'KinesisProducerLibrary', start: new Date(0), end: new Date(60_000), datums };
}

/** A provider whose exporter is read on demand (the periodic export never fires within a test). */
function otel(temporality = AggregationTemporality.CUMULATIVE) {
  const exporter = new InMemoryMetricExporter(temporality);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('shardline-test');
  /** Every metric of the latest collection, by instrument name. */
  const collect = async (): Promise<Map<string, MetricData>> => {
    exporter.reset();
    await reader.forceFlush();
    const metrics = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    return new Map(metrics.map((m) => [m.descriptor.name, m]));
  };
  return { meter, provider, collect };
}

/** The data points of one instrument as [attributes, value] pairs, in a stable order. */
function points(metrics: Map<string, MetricData>, name: string): [Record<string, unknown>, unknown][] {
  const metric = metrics.get(name);
  if (metric === undefined) throw new Error(`no instrument ${name} among ${[...metrics.keys()].join(', ')}`);
  return metric.dataPoints
    .map((p): [Record<string, unknown>, unknown] => [p.attributes, p.value])
    .sort((a, b) => (JSON.stringify(a[0]) < JSON.stringify(b[0]) ? -1 : 1));
}

const shutdowns: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(shutdowns.splice(0).map((s) => s()));
});

function setUp(temporality?: AggregationTemporality) {
  const o = otel(temporality);
  shutdowns.push(() => o.provider.shutdown());
  return o;
}

describe('OpenTelemetrySink', () => {
  it('takes a Meter of @opentelemetry/api, and one of an API older than 1.9 (no createGauge)', () => {
    // Checked by the compiler (npm run typecheck): a change to MeterLike that refuses them fails it.
    expectTypeOf<Meter>().toExtend<MeterLike>();
    expectTypeOf<Omit<Meter, 'createGauge'>>().toExtend<MeterLike>();
  });

  it('adds a counter metric’s interval sum, with the datum’s dimensions as attributes', async () => {
    const { meter, collect } = setUp();
    const sink = new OpenTelemetrySink(meter);
    sink.report(report(datum('UserRecordsPut', {}, [1, 1, 0, 1]), datum('UserRecordsPut', SHARD_0, [1, 0]), datum('UserRecordsPut', SHARD_1, [1, 1])));
    const metrics = await collect();
    expect(points(metrics, 'UserRecordsPut')).toEqual([
      [SHARD_0, 1],
      [SHARD_1, 2],
      [{}, 3],
    ]);
    const put = metrics.get('UserRecordsPut');
    expect(put?.dataPointType).toBe(DataPointType.SUM);
    expect(put?.descriptor.unit).toBe('{record}');
    expect(put?.descriptor.description).toBe('User records written.');
  });

  it('keeps ErrorsByCode’s ErrorCode and user dimensions as attributes', async () => {
    const { meter, collect } = setUp();
    new OpenTelemetrySink(meter).report(
      report(
        datum('ErrorsByCode', { ...SHARD_0, ErrorCode: 'ProvisionedThroughputExceededException', Service: 'api' }, [1, 1, 1]),
        datum('ErrorsByCode', { ErrorCode: 'InternalFailure', Service: 'api' }, [1]),
      ),
    );
    expect(points(await collect(), 'ErrorsByCode')).toEqual([
      [{ ErrorCode: 'InternalFailure', Service: 'api' }, 1],
      [{ ...SHARD_0, ErrorCode: 'ProvisionedThroughputExceededException', Service: 'api' }, 3],
    ]);
  });

  it('turns a distribution into .count and .sum counters and .min and .max gauges', async () => {
    const { meter, collect } = setUp();
    new OpenTelemetrySink(meter).report(report({ ...datum('BufferingTime', SHARD_0, [5, 20, 15, 60]), unit: 'Milliseconds' }));
    const metrics = await collect();
    expect(points(metrics, 'BufferingTime.count')).toEqual([[SHARD_0, 4]]);
    expect(points(metrics, 'BufferingTime.sum')).toEqual([[SHARD_0, 100]]);
    expect(points(metrics, 'BufferingTime.min')).toEqual([[SHARD_0, 5]]);
    expect(points(metrics, 'BufferingTime.max')).toEqual([[SHARD_0, 60]]);
    expect(metrics.get('BufferingTime.count')?.dataPointType).toBe(DataPointType.SUM);
    expect(metrics.get('BufferingTime.min')?.dataPointType).toBe(DataPointType.GAUGE);
    expect(metrics.get('BufferingTime.sum')?.descriptor.unit).toBe('ms');
    expect(metrics.get('BufferingTime.count')?.descriptor.unit).toBe('{attempt}');
    expect(metrics.has('BufferingTime')).toBe(false);
  });

  it('records a gauge metric as the interval’s mean', async () => {
    const { meter, collect } = setUp();
    new OpenTelemetrySink(meter).report(
      report({ ...datum('ShardRateLimit', SHARD_0, [100, 50, 75]), unit: 'Percent' }, datum('UserRecordsPending', { StreamName: 'events' }, [10, 30, 20, 0])),
    );
    const metrics = await collect();
    expect(points(metrics, 'ShardRateLimit')).toEqual([[SHARD_0, 75]]);
    expect(metrics.get('ShardRateLimit')?.dataPointType).toBe(DataPointType.GAUGE);
    expect(metrics.get('ShardRateLimit')?.descriptor.unit).toBe('%');
    expect(points(metrics, 'UserRecordsPending')).toEqual([[{ StreamName: 'events' }, 15]]);
  });

  it('accumulates counters over intervals, and gives gauges the latest interval’s values', async () => {
    const { meter, collect } = setUp();
    const sink = new OpenTelemetrySink(meter);
    sink.report(report(datum('KinesisRecordsPut', SHARD_0, [1, 1, 1, 1, 1]), datum('RequestTime', { StreamName: 'events' }, [40, 80])));
    expect(points(await collect(), 'KinesisRecordsPut')).toEqual([[SHARD_0, 5]]);
    sink.report(report(datum('KinesisRecordsPut', SHARD_0, [1, 1]), datum('KinesisRecordsPut', SHARD_1, [1]), datum('RequestTime', { StreamName: 'events' }, [10, 20, 30])));
    sink.report(report(datum('KinesisRecordsPut', SHARD_0, [1])));
    const metrics = await collect();
    expect(points(metrics, 'KinesisRecordsPut')).toEqual([
      [SHARD_0, 8],
      [SHARD_1, 1],
    ]);
    expect(points(metrics, 'RequestTime.count')).toEqual([[{ StreamName: 'events' }, 5]]);
    expect(points(metrics, 'RequestTime.sum')).toEqual([[{ StreamName: 'events' }, 180]]);
    expect(points(metrics, 'RequestTime.min')).toEqual([[{ StreamName: 'events' }, 10]]);
    expect(points(metrics, 'RequestTime.max')).toEqual([[{ StreamName: 'events' }, 30]]);
  });

  it('creates each instrument once, on its metric’s first datum', () => {
    const { meter } = setUp();
    const createCounter = vi.spyOn(meter, 'createCounter');
    const createGauge = vi.spyOn(meter, 'createGauge');
    const sink = new OpenTelemetrySink(meter);
    for (let i = 0; i < 3; i++) {
      sink.report(report(datum('AllErrors', SHARD_0, [1]), datum('AllErrors', SHARD_1, [1]), datum('RetriesPerRecord', SHARD_0, [0, 2])));
    }
    expect(createCounter.mock.calls.map((c) => c[0])).toEqual(['AllErrors', 'RetriesPerRecord.count', 'RetriesPerRecord.sum']);
    expect(createGauge.mock.calls.map((c) => c[0])).toEqual(['RetriesPerRecord.min', 'RetriesPerRecord.max']);
  });

  it('records a large report over several turns of the event loop, in order, and close() waits for it', async () => {
    const { meter, collect } = setUp();
    let adds = 0;
    const counting: MeterLike = {
      createCounter(name, options) {
        const counter = meter.createCounter(name, options);
        return {
          add(value, attributes) {
            adds++;
            counter.add(value, attributes);
          },
        };
      },
      createGauge: (name, options) => meter.createGauge(name, options),
      createObservableGauge: (name, options) => meter.createObservableGauge(name, options),
    };
    const sink = new OpenTelemetrySink(counting);
    // Below the SDK's default of 2,000 series an instrument (more fold into one overflow series).
    const perShard = Array.from({ length: 1_500 }, (_, i) => datum('UserRecordsPut', { StreamName: 'events', ShardId: `shardId-${i}` }, [1]));
    sink.report(report(...perShard, datum('ShardRateLimit', SHARD_0, [50])));
    sink.report(report(datum('ShardRateLimit', SHARD_0, [100]), datum('UserRecordsPut', {}, [1, 1])));
    expect(adds).toBeGreaterThan(0);
    expect(adds).toBeLessThan(1_500);
    await sink.close();
    expect(adds).toBe(1_501);
    const metrics = await collect();
    expect(metrics.get('UserRecordsPut')?.dataPoints).toHaveLength(1_501);
    // The second report's gauge was recorded after the first's.
    expect(points(metrics, 'ShardRateLimit')).toEqual([[SHARD_0, 100]]);
  });

  it('uses observable gauges on a meter without createGauge (API < 1.9), observing the latest report', async () => {
    // Delta temporality: each collection shows only what was observed in it.
    const { meter, collect } = setUp(AggregationTemporality.DELTA);
    const olderMeter: MeterLike = {
      createCounter: (name, options) => meter.createCounter(name, options),
      createObservableGauge: (name, options) => meter.createObservableGauge(name, options),
    };
    const sink = new OpenTelemetrySink(olderMeter);
    sink.report(report(datum('UserRecordsHeldByRateLimit', SHARD_0, [4, 6]), datum('UserRecordsHeldByRateLimit', SHARD_1, [1]), datum('RetriesPerRecord', SHARD_0, [0, 3])));
    let metrics = await collect();
    expect(points(metrics, 'UserRecordsHeldByRateLimit')).toEqual([
      [SHARD_0, 5],
      [SHARD_1, 1],
    ]);
    expect(points(metrics, 'RetriesPerRecord.max')).toEqual([[SHARD_0, 3]]);
    expect(points(metrics, 'RetriesPerRecord.count')).toEqual([[SHARD_0, 2]]);
    sink.report(report(datum('UserRecordsHeldByRateLimit', SHARD_1, [9])));
    metrics = await collect();
    expect(points(metrics, 'UserRecordsHeldByRateLimit')).toEqual([[SHARD_1, 9]]);
  });

  it('never throws from a meter that throws, and warns once', async () => {
    const { meter, collect } = setUp();
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const failing: MeterLike = {
      createCounter(name, options) {
        if (name === 'AllErrors') throw new Error('meter broken');
        const counter = meter.createCounter(name, options);
        if (name !== 'UserRecordExpired') return counter;
        return {
          add: () => {
            throw new Error('add broken');
          },
        };
      },
      createGauge: () => {
        throw new Error('no gauges');
      },
      createObservableGauge: (name, options) => meter.createObservableGauge(name, options),
    };
    const sink = new OpenTelemetrySink(failing);
    const interval = report(
      datum('AllErrors', SHARD_0, [1]),
      datum('UserRecordExpired', SHARD_0, [1]),
      datum('UserRecordsPending', SHARD_0, [1]),
      datum('UserRecordsPut', SHARD_0, [1, 1]),
    );
    expect(() => sink.report(interval)).not.toThrow();
    expect(() => sink.report(interval)).not.toThrow();
    // The instruments that work still record.
    expect(points(await collect(), 'UserRecordsPut')).toEqual([[SHARD_0, 4]]);
    expect(emitWarning).toHaveBeenCalledTimes(1);
    expect(emitWarning.mock.calls[0]?.[0]).toContain('meter broken');
    expect(emitWarning.mock.calls[0]?.[1]).toMatchObject({ code: 'SHARDLINE_METRICS' });
    await expect(sink.close()).resolves.toBeUndefined();
  });
});
