/**
 * What the producer's metrics look like to their readers: statistic sets per metric and dimensions,
 * gathered over an interval, and the sinks that receive them.
 */
import type { DimensionName, MetricName, MetricUnit } from './catalogue.js';

/**
 * One metric over one interval for one set of dimensions, as a statistic set (the KPL sends its
 * metrics to CloudWatch this way): `count` samples adding up to `sum`, between `min` and `max`.
 */
export interface MetricDatum {
  readonly name: MetricName;
  readonly unit: MetricUnit;
  /**
   * `StreamName` and `ShardId` as the granularity gives them (none for the global figure),
   * `ErrorCode` for ErrorsByCode, and any `additionalMetricsDimensions`. Keys come in the KPL's
   * order: ErrorCode, the global additional ones, StreamName, the stream ones, ShardId, the shard
   * ones (CloudWatch ignores the order).
   */
  readonly dimensions: Readonly<Partial<Record<DimensionName, string>> & Record<string, string>>;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
}

/** The figures of one interval: every metric with at least one sample in it. */
export interface MetricsReport {
  /** Where uploads go (KPL: MetricsNamespace). */
  readonly namespace: string;
  /** The interval's start and end (wall clock). */
  readonly start: Date;
  readonly end: Date;
  readonly datums: readonly MetricDatum[];
}

/** A receiver of each interval's figures: CloudWatch, OpenTelemetry, a user's callback. */
export interface MetricsSink {
  /**
   * Takes one interval's figures. Must return at once and never throw: work that takes time (an
   * upload) goes on in the background, and its failures are the sink's to count.
   */
  report(report: MetricsReport): void;
  /** Ends what the sink has under way (a last upload) within its own deadline; never rejects. */
  close(): Promise<void>;
}
