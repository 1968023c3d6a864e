/**
 * What one `report()` of the OpenTelemetry sink costs the producer's thread, for a large report:
 *
 *   node --import tsx benchmarks/opentelemetry-sink.ts                 512 shards, 41 rounds
 *   node --import tsx benchmarks/opentelemetry-sink.ts --shards 64 --rounds 101
 *
 * The report holds every metric of the catalogue at every granularity up to its finest (global,
 * the stream, each shard), as the recorder gives them at `detailed`/`shard`. Measured against the
 * SDK's MeterProvider (cumulative, as Prometheus and most OTLP back ends read it) and against the
 * API's no-op meter (the sink's own work). The first report creates the instruments and the SDK's
 * series; the steady rounds after it are what each interval costs, with fresh dimension objects
 * each round, as a recorder that builds them per interval would give. Figures: the time `report()`
 * held the thread (its first turn), the longest turn the sink held it, and the time until the whole
 * report was recorded (`close()` resolved; between turns the thread is free for the producer).
 * Medians of the steady rounds; the SDK's collection (its reader's work, on its own schedule) for scale.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createNoopMeter } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { METRICS, granularityIncludes } from '../src/metrics/catalogue.js';
import { OpenTelemetrySink, type MeterLike } from '../src/metrics/opentelemetry.js';
import type { MetricDatum, MetricsReport } from '../src/metrics/report.js';
import { dec, int, table } from './table.js';

const { values } = parseArgs({ options: { shards: { type: 'string', default: '512' }, rounds: { type: 'string', default: '41' } } });
const shards = Number(values.shards);
const rounds = Number(values.rounds);

/** A report of every metric at every granularity, with new dimension objects. */
function largeReport(): MetricsReport {
  const datums: MetricDatum[] = [];
  const statistic = { count: 10, sum: 150, min: 5, max: 40 };
  for (const metric of METRICS) {
    const code: Record<string, string> = metric.name === 'ErrorsByCode' ? { ErrorCode: 'ProvisionedThroughputExceededException' } : {};
    datums.push({ name: metric.name, unit: metric.unit, dimensions: { ...code }, ...statistic });
    if (granularityIncludes(metric.granularity, 'stream')) {
      datums.push({ name: metric.name, unit: metric.unit, dimensions: { ...code, StreamName: 'events' }, ...statistic });
    }
    if (granularityIncludes(metric.granularity, 'shard')) {
      for (let shard = 0; shard < shards; shard++) {
        const ShardId = `shardId-${String(shard).padStart(12, '0')}`;
        datums.push({ name: metric.name, unit: metric.unit, dimensions: { ...code, StreamName: 'events', ShardId }, ...statistic });
      }
    }
  }
  return { namespace: 'KinesisProducerLibrary', start: new Date(), end: new Date(), datums };
}

const median = (samples: number[]): number => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? NaN;

/**
 * One report: the time `report()` held the thread, the longest turn the sink took while it recorded
 * the rest (a chain of setImmediate probes runs between its turns: the longest gap between two), and
 * the time until all was recorded.
 */
async function timeReport(sink: OpenTelemetrySink, report: MetricsReport): Promise<{ call: number; longestTurn: number; total: number }> {
  let done = false;
  let last = performance.now();
  let longestTurn = 0;
  const probe = (): void => {
    const now = performance.now();
    longestTurn = Math.max(longestTurn, now - last);
    last = now;
    if (!done) setImmediate(probe);
  };
  const start = performance.now();
  sink.report(report);
  const call = performance.now() - start;
  last = performance.now();
  setImmediate(probe);
  await sink.close();
  done = true;
  return { call, longestTurn: Math.max(call, longestTurn), total: performance.now() - start };
}

async function measure(label: string, meter: MeterLike, collect?: () => Promise<void>): Promise<string[]> {
  const sink = new OpenTelemetrySink(meter);
  const reports = Array.from({ length: rounds + 1 }, largeReport);
  const first = await timeReport(sink, reports[0]!);
  const steady: { call: number; longestTurn: number; total: number }[] = [];
  const collections: number[] = [];
  for (const report of reports.slice(1)) {
    steady.push(await timeReport(sink, report));
    if (collect !== undefined) {
      const start = performance.now();
      await collect();
      collections.push(performance.now() - start);
    }
  }
  const ms = (value: number): string => dec(value, 2);
  const steadyMedian = (key: 'call' | 'longestTurn' | 'total'): string => ms(median(steady.map((s) => s[key])));
  return [
    label,
    int(reports[0]!.datums.length),
    ms(first.longestTurn),
    ms(first.total),
    steadyMedian('call'),
    steadyMedian('longestTurn'),
    steadyMedian('total'),
    collect === undefined ? '—' : ms(median(collections)),
  ];
}

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
const provider = new MeterProvider({ readers: [reader] });
const rows = [
  await measure('API no-op meter', createNoopMeter()),
  await measure('SDK MeterProvider', provider.getMeter('shardline'), async () => {
    exporter.reset();
    await reader.forceFlush();
  }),
];
await provider.shutdown();
console.log(`OpenTelemetrySink.report(), ${shards} shards, ${rounds} steady rounds (median), Node ${process.version}`);
console.log('(milliseconds)\n');
console.log(table(['meter', 'datums', 'first: longest turn', 'first: all', 'report()', 'longest turn', 'all', 'SDK collection'], rows));
