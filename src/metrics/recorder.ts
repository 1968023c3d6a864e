/**
 * The metrics recorder: where the stages put their samples (into the {@link Figures} of a shard, a
 * stream or the producer), and what turns them into one {@link MetricsReport} per interval for the
 * sinks, and into totals for `getMetrics()`.
 */
import { granularityIncludes, levelIncludes, METRICS, type MetricDefinition, type MetricsGranularity, type MetricsLevel } from './catalogue.js';
import { now } from '../scheduler.js';
import { Figures } from './figures.js';
import { StreamMetrics, type GaugeTotals } from './stream-metrics.js';
import type { MetricDatum, MetricsReport, MetricsSink } from './report.js';
import type { Statistic } from './statistic.js';

/** A dimension added to the metrics at a granularity and finer (KPL: addAdditionalMetricsDimension). */
export interface AdditionalMetricsDimension {
  readonly name: string;
  readonly value: string;
  /** `global`: every metric carries it; `stream`: stream and shard metrics; `shard`: shard metrics. */
  readonly granularity: MetricsGranularity;
}

/** What the recorder records and how often it reports (validated options, defaults filled in). */
export interface MetricsSettings {
  readonly metricsLevel: MetricsLevel;
  readonly metricsGranularity: MetricsGranularity;
  readonly metricsNamespace: string;
  readonly metricsUploadDelay: number;
  readonly additionalMetricsDimensions: readonly AdditionalMetricsDimension[];
}

/** Gauges (records pending, held, shard rate limits) are sampled this often. */
const SAMPLE_INTERVAL_MS = 1000;
/**
 * The event loop is probed this often: each probe's lateness is an EventLoopDelay sample. A probe of
 * our own rather than Node's monitorEventLoopDelay, whose histogram misses a stall that begins
 * before its first tick after enable() or reset() (right after the producer is built, or after an
 * interval's report), and whose samples at rest read as its resolution rather than as lateness.
 */
const LOOP_PROBE_MS = 100;

type Dimensions = MetricDatum['dimensions'];
type MutableDatum = { -readonly [K in keyof MetricDatum]: MetricDatum[K] };

/**
 * Receives the stages' samples, samples the gauges once a second, and every `metricsUploadDelay`
 * closes the interval: its figures, at each granularity up to `metricsGranularity` and for the
 * metrics of `metricsLevel`, go to every sink and into the totals. Nothing is recorded at level
 * `none` ({@link recording} is false and the stages skip their samples). Its timers are unref'd:
 * they never keep a process alive.
 */
export class MetricsRecorder {
  /** Whether samples are wanted: false at level `none`. */
  readonly recording: boolean;
  /** The producer's own figures (BackpressureRejections, EventLoopDelay; everything at global granularity). */
  readonly global = new Figures();
  readonly #settings: MetricsSettings;
  readonly #sinks: MetricsSink[];
  readonly #sampleGauges: (totals: GaugeTotals) => void;
  readonly #streams = new Map<string, StreamMetrics>();
  readonly #totals = new Map<string, MutableDatum>();
  /** When the loop probe last ran (ms on the scheduler's clock). */
  #probedAt = 0;
  readonly #timers: NodeJS.Timeout[] = [];
  #intervalStart = new Date();
  #warned = false;
  #closing: Promise<void> | undefined;

  /**
   * @param sinks - Each receives every interval's report.
   * @param sampleGauges - Samples the shard gauges (records held, rate limits) into the shards' and
   *   streams' figures, and adds them to the totals it is given.
   */
  constructor(settings: MetricsSettings, sinks: MetricsSink[], sampleGauges: (totals: GaugeTotals) => void) {
    this.#settings = settings;
    this.#sinks = sinks;
    this.#sampleGauges = sampleGauges;
    this.recording = settings.metricsLevel !== 'none';
    if (!this.recording) return;
    this.#probedAt = now();
    this.#timers.push(setInterval(() => this.#probeLoop(), LOOP_PROBE_MS).unref());
    const sampleEvery = Math.min(SAMPLE_INTERVAL_MS, settings.metricsUploadDelay);
    this.#timers.push(setInterval(() => this.#sample(), sampleEvery).unref());
    this.#timers.push(setInterval(() => this.#closeInterval(), settings.metricsUploadDelay).unref());
  }

  /** A stream's figures, made on first use. */
  stream(streamName: string, shardOf: (hashKey: string) => string | undefined): StreamMetrics {
    let stream = this.#streams.get(streamName);
    if (stream === undefined) {
      const granularity = this.#settings.metricsGranularity;
      const figures = granularity === 'global' ? this.global : new Figures();
      stream = new StreamMetrics(streamName, this.recording, granularity, figures, shardOf);
      this.#streams.set(streamName, stream);
    }
    return stream;
  }

  /**
   * Every metric since the producer started (the current interval included), or only `metricName`'s,
   * with the dimensions and names the reports use.
   */
  snapshot(metricName?: string): MetricDatum[] {
    const totals = new Map<string, MutableDatum>();
    for (const [key, datum] of this.#totals) totals.set(key, { ...datum });
    if (this.recording) addTo(totals, this.#datums());
    const datums = [...totals.values()];
    return metricName === undefined ? datums : datums.filter((datum) => datum.name === metricName);
  }

  /**
   * Stops the timers, reports the last interval, and waits for every sink to finish (each within
   * its own deadline). Calling it again waits for the same end.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    if (this.recording) {
      this.#sample();
      this.#closeInterval();
    }
    this.#closing = Promise.all(this.#sinks.map((sink) => sink.close())).then(() => undefined);
    return this.#closing;
  }

  /** Samples every gauge at every level: each level's figure is its own sample, not a merge of finer ones. */
  #sample(): void {
    let pending = 0;
    for (const stream of this.#streams.values()) {
      pending += stream.pending;
      if (stream.perStream) stream.figures.stat.UserRecordsPending.add(stream.pending);
    }
    const totals: GaugeTotals = { heldUserRecords: 0, rateLimitPercentSum: 0, shards: 0 };
    this.#sampleGauges(totals);
    const stat = this.global.stat;
    stat.UserRecordsPending.add(pending);
    if (totals.shards > 0) {
      stat.UserRecordsHeldByRateLimit.add(totals.heldUserRecords);
      stat.ShardRateLimit.add(totals.rateLimitPercentSum / totals.shards);
    }
  }

  /** How late the probe ran: the time the event loop was held beyond the probe's period. */
  #probeLoop(): void {
    const t = now();
    this.global.stat.EventLoopDelay.add(Math.max(0, t - this.#probedAt - LOOP_PROBE_MS));
    this.#probedAt = t;
  }

  #closeInterval(): void {
    const datums = this.#datums();
    this.global.reset();
    for (const stream of this.#streams.values()) {
      stream.figures.reset();
      for (const shard of stream.shards.values()) shard.reset();
    }
    const end = new Date();
    const report: MetricsReport = { namespace: this.#settings.metricsNamespace, start: this.#intervalStart, end, datums };
    this.#intervalStart = end;
    addTo(this.#totals, datums);
    if (datums.length === 0) return;
    for (const sink of this.#sinks) {
      try {
        sink.report(report);
      } catch (error) {
        // A sink's failure must never reach the records; it is said once, not every interval.
        if (!this.#warned) process.emitWarning(`shardline: a metrics sink failed: ${String(error)}`, { code: 'SHARDLINE_METRICS' });
        this.#warned = true;
      }
    }
  }

  /** The current interval's datums: each metric of the level, at each granularity up to the configured one. */
  #datums(): MetricDatum[] {
    const { metricsLevel: level, metricsGranularity: granularity } = this.#settings;
    const metrics = METRICS.filter((metric) => levelIncludes(level, metric.level));
    // The producer's figures are its own plus every stream's; a stream's are its own plus its shards'.
    const streams: { stream: StreamMetrics; total: Figures }[] = [];
    const global = new Figures();
    global.merge(this.global, true);
    if (granularity !== 'global') {
      for (const stream of this.#streams.values()) {
        const total = new Figures();
        total.merge(stream.figures, true);
        for (const shard of stream.shards.values()) total.merge(shard, false);
        global.merge(total, false);
        streams.push({ stream, total });
      }
    }
    const datums: MetricDatum[] = [];
    this.#push(datums, metrics, 'global', global, undefined, undefined);
    for (const { stream, total } of streams) {
      this.#push(datums, metrics, 'stream', total, stream.streamName, undefined);
      for (const [shardId, shard] of stream.shards) this.#push(datums, metrics, 'shard', shard, stream.streamName, shardId);
    }
    return datums;
  }

  #push(
    datums: MetricDatum[],
    metrics: readonly MetricDefinition[],
    granularity: MetricsGranularity,
    figures: Figures,
    streamName: string | undefined,
    shardId: string | undefined,
  ): void {
    const dimensions = this.#dimensions(undefined, streamName, shardId);
    for (const metric of metrics) {
      if (!granularityIncludes(metric.granularity, granularity)) continue;
      if (metric.name === 'ErrorsByCode') {
        for (const [code, statistic] of figures.errorsByCode) {
          pushDatum(datums, metric, this.#dimensions(code, streamName, shardId), statistic);
        }
      } else pushDatum(datums, metric, dimensions, figures.stat[metric.name]);
    }
  }

  /** Dimensions in the KPL's order: error code, then stream, then shard, each followed by the additional ones of its granularity. */
  #dimensions(errorCode: string | undefined, streamName: string | undefined, shardId: string | undefined): Dimensions {
    const dimensions: Record<string, string> = {};
    if (errorCode !== undefined) dimensions.ErrorCode = errorCode;
    this.#addAdditional(dimensions, 'global');
    if (streamName !== undefined) {
      dimensions.StreamName = streamName;
      this.#addAdditional(dimensions, 'stream');
    }
    if (shardId !== undefined) {
      dimensions.ShardId = shardId;
      this.#addAdditional(dimensions, 'shard');
    }
    return dimensions;
  }

  #addAdditional(dimensions: Record<string, string>, granularity: MetricsGranularity): void {
    for (const extra of this.#settings.additionalMetricsDimensions) if (extra.granularity === granularity) dimensions[extra.name] = extra.value;
  }
}

function pushDatum(datums: MetricDatum[], metric: MetricDefinition, dimensions: Dimensions, statistic: Statistic): void {
  if (statistic.count === 0) return;
  const { count, sum, min, max } = statistic;
  datums.push({ name: metric.name, unit: metric.unit, dimensions, count, sum, min, max });
}

function datumKey(datum: MetricDatum): string {
  let key = datum.name;
  for (const name in datum.dimensions) key += `\n${name}=${datum.dimensions[name]}`;
  return key;
}

/** Adds each datum's samples to the datum of the same metric and dimensions in `totals`. */
function addTo(totals: Map<string, MutableDatum>, datums: readonly MetricDatum[]): void {
  for (const datum of datums) {
    const key = datumKey(datum);
    const total = totals.get(key);
    if (total === undefined) {
      totals.set(key, { ...datum });
      continue;
    }
    total.count += datum.count;
    total.sum += datum.sum;
    total.min = Math.min(total.min, datum.min);
    total.max = Math.max(total.max, datum.max);
  }
}
