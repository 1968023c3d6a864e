/**
 * The producer's metrics: the KPL's, recorded by the stages, reported per interval to sinks.
 */
export { Counters, type ProducerMetrics } from './counters.js';
export * from './catalogue.js';
export { Statistic } from './statistic.js';
export type { MetricDatum, MetricsReport, MetricsSink } from './report.js';
export { MetricsRecorder, type AdditionalMetricsDimension, type MetricsSettings } from './recorder.js';
export { StreamMetrics, type GaugeTotals, type SentRecord } from './stream-metrics.js';
export { Figures } from './figures.js';
export { METRICS_DEFAULTS, resolveMetricsSettings, type MetricsOptions } from './settings.js';
export { OpenTelemetrySink, type MeterLike } from './opentelemetry.js';
export { createMetricsSinks, checkCloudWatchSdkInstalled, type SinkOptions } from './sinks.js';
export { CloudWatchSink, createCloudWatchSink, type CloudWatchClientLike } from './cloudwatch.js';
