/**
 * The OpenTelemetry sink: each interval's statistic sets, recorded through a user's `Meter`.
 *
 * The meter is typed by shape ({@link MeterLike}), never imported: shardline neither loads
 * `@opentelemetry/api` nor needs its types, so users who pass no meter need neither.
 */
import { METRIC_BY_NAME, type MetricName } from './catalogue.js';
import type { MetricDatum, MetricsReport, MetricsSink } from './report.js';

/** Attributes as shardline records them: the datum's dimensions. */
export type MetricAttributesLike = Readonly<Record<string, string>>;

/** What an instrument is created with (OpenTelemetry: `MetricOptions`). */
export interface InstrumentOptionsLike {
  readonly description?: string;
  /** A UCUM unit: `By`, `ms`, `%`, `{record}`. */
  readonly unit?: string;
}

/** A monotonic counter (OpenTelemetry: `Counter`). */
export interface CounterLike {
  add(value: number, attributes?: MetricAttributesLike): void;
}

/** A synchronous gauge (OpenTelemetry: `Gauge`, API ≥ 1.9). */
export interface GaugeLike {
  record(value: number, attributes?: MetricAttributesLike): void;
}

/** What an observable instrument's callback is given (OpenTelemetry: `ObservableResult`). */
export interface ObservableResultLike {
  observe(value: number, attributes?: MetricAttributesLike): void;
}

/** An asynchronous gauge (OpenTelemetry: `ObservableGauge`). */
export interface ObservableGaugeLike {
  addCallback(callback: (result: ObservableResultLike) => void): void;
}

/**
 * The part of an OpenTelemetry `Meter` (`@opentelemetry/api` ≥ 1.3) that shardline calls. Any
 * `Meter` fits, whichever copy or version of the API it comes from. `createGauge` came with API
 * 1.9; on an older meter, gauges are observable gauges that report the latest interval's values.
 */
export interface MeterLike {
  createCounter(name: string, options?: InstrumentOptionsLike): CounterLike;
  createGauge?(name: string, options?: InstrumentOptionsLike): GaugeLike;
  createObservableGauge(name: string, options?: InstrumentOptionsLike): ObservableGaugeLike;
}

/**
 * Each metric's description, and its UCUM units: `unit` of its values, `sampleUnit` of what one
 * sample of a distribution is (the unit of its `.count`). Counts name what they count, as
 * OpenTelemetry's conventions ask (`{record}`, not `1`).
 */
const INSTRUMENTS: Readonly<Record<MetricName, { readonly description: string; readonly unit: string; readonly sampleUnit?: string }>> = {
  UserRecordsReceived: { unit: '{record}', description: 'User records accepted by put().' },
  UserRecordsPending: { unit: '{record}', description: 'User records accepted and not yet settled (sampled once a second).' },
  UserRecordsPut: { unit: '{record}', description: 'User records written.' },
  UserRecordsDataPut: { unit: 'By', description: 'Bytes of data of the user records written (partition keys not counted).' },
  KinesisRecordsPut: { unit: '{record}', description: 'Kinesis records written (an aggregated record counts once).' },
  KinesisRecordsDataPut: { unit: 'By', description: 'Bytes of Kinesis records written (data and partition keys).' },
  ErrorsByCode: { unit: '{error}', description: 'Failed attempts of Kinesis records, by error code.' },
  AllErrors: { unit: '{error}', description: 'Failed attempts of Kinesis records, any code.' },
  RetriesPerRecord: { unit: '{retry}', sampleUnit: '{record}', description: 'Attempts minus one, per settled user record.' },
  UserRecordExpired: { unit: '{record}', description: 'User records failed because their recordTtl passed.' },
  BufferingTime: { unit: 'ms', sampleUnit: '{attempt}', description: 'Time a user record waited before an attempt was sent.' },
  RequestTime: { unit: 'ms', sampleUnit: '{request}', description: 'Time a PutRecords call took.' },
  UserRecordsPerKinesisRecord: { unit: '{record}', sampleUnit: '{record}', description: 'User records in a Kinesis record written.' },
  KinesisRecordsPerPutRecordsRequest: { unit: '{record}', sampleUnit: '{request}', description: 'Kinesis records in a PutRecords call.' },
  UserRecordsPerPutRecordsRequest: { unit: '{record}', sampleUnit: '{request}', description: 'User records in a PutRecords call.' },
  UserRecordsHeldByRateLimit: { unit: '{record}', description: "User records held back by their shard's rate limit (sampled once a second)." },
  ShardRateLimit: { unit: '%', description: "A shard's current rate limit, in percent of the shard's capacity (sampled once a second)." },
  BackpressureRejections: { unit: '{call}', description: 'put() calls refused with BackpressureError.' },
  EventLoopDelay: { unit: 'ms', sampleUnit: '{sample}', description: "The event loop's delay (Node's monitorEventLoopDelay)." },
};

/**
 * How many datums `report()` records before it yields the event loop. The SDK takes about 4 µs a
 * call, and a distribution's datum is four calls (benchmarks/opentelemetry-sink.ts): a report of 512
 * shards (6,180 datums) at once would hold the producer's thread for 35 ms, and 1,000 datums 15 ms.
 */
const DATUMS_PER_TURN = 250;

/** Records one datum on the instruments of its metric. */
type DatumRecorder = (datum: MetricDatum) => void;

/**
 * Records each interval's report through an OpenTelemetry meter, under the metrics' KPL names:
 * - a `counter` metric → a Counter, added the interval's sum;
 * - a `gauge` metric → a Gauge, recording the interval's mean;
 * - a `distribution` → Counters `<Name>.count` and `<Name>.sum` (a mean over any window is
 *   Δsum / Δcount) and Gauges `<Name>.min` and `<Name>.max` of the interval: a Histogram would
 *   take one call per sample, and a statistic set has no samples left to give it.
 *
 * Attributes are the datum's dimensions, passed as they are. A large report is recorded over several
 * turns of the event loop, so that the producer's other work goes on meanwhile. A meter that throws
 * is reported once with `process.emitWarning` (code `SHARDLINE_METRICS`) and never reaches the producer.
 */
export class OpenTelemetrySink implements MetricsSink {
  /** Created on a metric's first datum, so only metrics that are reported get instruments. */
  private readonly recorders = new Map<MetricName, DatumRecorder>();
  /** The gauges of a meter without `createGauge`: each holds the latest report's values. */
  private readonly observedGauges: ObservedGauge[] = [];
  /** Reports not yet recorded, oldest first; `position` is the next datum of the oldest. */
  private readonly queue: (readonly MetricDatum[])[] = [];
  private position = 0;
  private readonly whenIdle: (() => void)[] = [];
  private warned = false;

  /** @param meter the user's meter (`metricsMeter`), e.g. `meterProvider.getMeter('shardline')`. */
  constructor(private readonly meter: MeterLike) {}

  report(report: MetricsReport): void {
    this.queue.push(report.datums);
    if (this.queue.length === 1) this.recordSome();
  }

  /** Resolves once every report given has been recorded; the meter's provider is the user's to shut down. */
  close(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.whenIdle.push(resolve));
  }

  /**
   * Records up to {@link DATUMS_PER_TURN} datums of the queued reports, in order, and leaves the
   * rest to a later turn of the event loop.
   */
  private recordSome(): void {
    let budget = DATUMS_PER_TURN;
    while (budget > 0) {
      const datums = this.queue[0];
      if (datums === undefined) break;
      if (this.position === 0) for (const gauge of this.observedGauges) gauge.clear();
      const end = Math.min(datums.length, this.position + budget);
      budget -= end - this.position;
      for (; this.position < end; this.position++) this.record(datums[this.position] as MetricDatum);
      if (this.position === datums.length) {
        this.queue.shift();
        this.position = 0;
      }
    }
    if (this.queue.length > 0) setImmediate(() => this.recordSome());
    else for (const resolve of this.whenIdle.splice(0)) resolve();
  }

  private record(datum: MetricDatum): void {
    // Per datum, so that an instrument that throws does not keep the others from recording.
    try {
      (this.recorders.get(datum.name) ?? this.createRecorder(datum.name))(datum);
    } catch (error) {
      this.warnOnce(error);
    }
  }

  private createRecorder(name: MetricName): DatumRecorder {
    const definition = METRIC_BY_NAME.get(name);
    if (definition === undefined) throw new Error(`no metric is named ${String(name)}`);
    const { description, unit, sampleUnit } = INSTRUMENTS[name];
    let recorder: DatumRecorder;
    if (definition.kind === 'counter') {
      const counter = this.meter.createCounter(name, { description, unit });
      recorder = (datum) => counter.add(datum.sum, datum.dimensions);
    } else if (definition.kind === 'gauge') {
      const gauge = this.createGauge(name, { description: `${description} Mean of the interval.`, unit });
      recorder = (datum) => gauge.record(datum.sum / datum.count, datum.dimensions);
    } else {
      const count = this.meter.createCounter(`${name}.count`, { description: `${description} Number of samples.`, unit: sampleUnit ?? '1' });
      const sum = this.meter.createCounter(`${name}.sum`, { description: `${description} Sum of the samples.`, unit });
      const min = this.createGauge(`${name}.min`, { description: `${description} Smallest sample of the interval.`, unit });
      const max = this.createGauge(`${name}.max`, { description: `${description} Largest sample of the interval.`, unit });
      recorder = (datum) => {
        count.add(datum.count, datum.dimensions);
        sum.add(datum.sum, datum.dimensions);
        min.record(datum.min, datum.dimensions);
        max.record(datum.max, datum.dimensions);
      };
    }
    this.recorders.set(name, recorder);
    return recorder;
  }

  private createGauge(name: string, options: InstrumentOptionsLike): GaugeLike {
    if (this.meter.createGauge !== undefined) return this.meter.createGauge(name, options);
    const gauge = new ObservedGauge(this.meter.createObservableGauge(name, options));
    this.observedGauges.push(gauge);
    return gauge;
  }

  private warnOnce(error: unknown): void {
    if (this.warned) return;
    this.warned = true;
    process.emitWarning(`shardline: recording metrics through the OpenTelemetry meter failed (reported once): ${String(error)}`, {
      code: 'SHARDLINE_METRICS',
    });
  }
}

/**
 * A gauge for meters older than API 1.9, which have only observable gauges: it holds the values of
 * the latest report and gives them to the meter when it collects.
 */
class ObservedGauge implements GaugeLike {
  private values: number[] = [];
  private attributes: MetricAttributesLike[] = [];

  constructor(gauge: ObservableGaugeLike) {
    gauge.addCallback((result) => {
      for (let i = 0; i < this.values.length; i++) result.observe(this.values[i] as number, this.attributes[i]);
    });
  }

  record(value: number, attributes: MetricAttributesLike): void {
    this.values.push(value);
    this.attributes.push(attributes);
  }

  /** Forgets the values of the previous report. */
  clear(): void {
    this.values = [];
    this.attributes = [];
  }
}
