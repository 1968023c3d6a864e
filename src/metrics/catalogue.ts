/**
 * Every metric the producer reports: the KPL's, with its names, units, levels and dimensions, and
 * shardline's own. docs/metrics.md describes each one.
 */

/** How much is reported (KPL: MetricsLevel). `summary` keeps the metrics to alarm on; `none` records nothing. */
export type MetricsLevel = 'none' | 'summary' | 'detailed';

/** The finest dimensions reported (KPL: MetricsGranularity): each coarser level is reported too. */
export type MetricsGranularity = 'global' | 'stream' | 'shard';

/** A metric's unit, as CloudWatch names it. */
export type MetricUnit = 'Count' | 'Bytes' | 'Milliseconds' | 'Percent';

/**
 * How a metric's samples are read:
 * - `counter`: each sample counts something (its `sum` is the total, e.g. records put);
 * - `distribution`: each sample is a measurement (`sum / count` is the mean, e.g. a request's time);
 * - `gauge`: a level sampled once a second (e.g. records pending).
 */
export type MetricKind = 'counter' | 'distribution' | 'gauge';

/** The dimension names, in the order the KPL gives them. */
export type DimensionName = 'ErrorCode' | 'StreamName' | 'ShardId';

/** What is known of one metric. */
export interface MetricDefinition {
  readonly name: MetricName;
  readonly unit: MetricUnit;
  readonly kind: MetricKind;
  /** The lowest {@link MetricsLevel} that reports it. */
  readonly level: 'summary' | 'detailed';
  /** Its finest dimensions: a metric of the stream is not reported per shard. */
  readonly granularity: MetricsGranularity;
}

/** The names of every metric: the KPL's first, then shardline's own. */
export type MetricName =
  | 'UserRecordsReceived'
  | 'UserRecordsPending'
  | 'UserRecordsPut'
  | 'UserRecordsDataPut'
  | 'KinesisRecordsPut'
  | 'KinesisRecordsDataPut'
  | 'ErrorsByCode'
  | 'AllErrors'
  | 'RetriesPerRecord'
  | 'UserRecordExpired'
  | 'BufferingTime'
  | 'RequestTime'
  | 'UserRecordsPerKinesisRecord'
  | 'KinesisRecordsPerPutRecordsRequest'
  | 'UserRecordsPerPutRecordsRequest'
  | 'UserRecordsHeldByRateLimit'
  | 'ShardRateLimit'
  | 'BackpressureRejections'
  | 'EventLoopDelay';

function metric(name: MetricName, unit: MetricUnit, kind: MetricKind, level: 'summary' | 'detailed', granularity: MetricsGranularity): MetricDefinition {
  return { name, unit, kind, level, granularity };
}

/** Every metric, in the order reports list them. */
export const METRICS: readonly MetricDefinition[] = [
  // The KPL's (its metrics_constants: level and unit; its pipeline: dimensions).
  metric('UserRecordsReceived', 'Count', 'counter', 'detailed', 'stream'),
  metric('UserRecordsPending', 'Count', 'gauge', 'detailed', 'stream'),
  metric('UserRecordsPut', 'Count', 'counter', 'summary', 'shard'),
  metric('UserRecordsDataPut', 'Bytes', 'counter', 'detailed', 'shard'),
  metric('KinesisRecordsPut', 'Count', 'counter', 'summary', 'shard'),
  metric('KinesisRecordsDataPut', 'Bytes', 'counter', 'detailed', 'shard'),
  metric('ErrorsByCode', 'Count', 'counter', 'summary', 'shard'),
  metric('AllErrors', 'Count', 'counter', 'summary', 'shard'),
  metric('RetriesPerRecord', 'Count', 'distribution', 'detailed', 'shard'),
  metric('UserRecordExpired', 'Count', 'counter', 'summary', 'shard'),
  metric('BufferingTime', 'Milliseconds', 'distribution', 'summary', 'shard'),
  metric('RequestTime', 'Milliseconds', 'distribution', 'detailed', 'stream'),
  metric('UserRecordsPerKinesisRecord', 'Count', 'distribution', 'detailed', 'shard'),
  metric('KinesisRecordsPerPutRecordsRequest', 'Count', 'distribution', 'detailed', 'stream'),
  metric('UserRecordsPerPutRecordsRequest', 'Count', 'distribution', 'detailed', 'stream'),
  // shardline's own.
  metric('UserRecordsHeldByRateLimit', 'Count', 'gauge', 'detailed', 'shard'),
  metric('ShardRateLimit', 'Percent', 'gauge', 'detailed', 'shard'),
  metric('BackpressureRejections', 'Count', 'counter', 'summary', 'global'),
  metric('EventLoopDelay', 'Milliseconds', 'distribution', 'summary', 'global'),
];

/** Each metric's definition by name. */
export const METRIC_BY_NAME: ReadonlyMap<MetricName, MetricDefinition> = new Map(METRICS.map((m) => [m.name, m]));

/** Default namespace of uploaded metrics (KPL: MetricsNamespace). */
export const DEFAULT_METRICS_NAMESPACE = 'KinesisProducerLibrary';

const LEVEL_RANK = { none: 0, summary: 1, detailed: 2 } as const;
const GRANULARITY_RANK = { global: 0, stream: 1, shard: 2 } as const;

/** Whether `level` reports metrics of level `metricLevel`. */
export function levelIncludes(level: MetricsLevel, metricLevel: MetricsLevel): boolean {
  return LEVEL_RANK[metricLevel] <= LEVEL_RANK[level];
}

/** Whether granularity `a` is at least as fine as `b`. */
export function granularityIncludes(a: MetricsGranularity, b: MetricsGranularity): boolean {
  return GRANULARITY_RANK[b] <= GRANULARITY_RANK[a];
}
