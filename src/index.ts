/**
 * shardline: a pure-TypeScript producer for Amazon Kinesis Data Streams.
 * @packageDocumentation
 */
export { KinesisProducer } from './producer.js';
export type { PutResult, UserRecord } from './records.js';
export type {
  ProducerMetrics,
  MetricDatum,
  MetricsReport,
  MetricName,
  MetricUnit,
  MetricsLevel,
  MetricsGranularity,
  DimensionName,
  AdditionalMetricsDimension,
  MeterLike,
  CloudWatchClientLike,
} from './metrics/index.js';
export { DEFAULTS, type ProducerOptions } from './config.js';
export type { KinesisClientLike, KinesisCommandLike } from './client.js';
export {
  ShardlineError,
  ValidationError,
  DecodeError,
  UserRecordFailedError,
  ProducerClosedError,
  BackpressureError,
  type Attempt,
} from './errors.js';
export {
  Aggregator,
  decodeRecord,
  encodeAggregatedRecord,
  AGGREGATED_PARTITION_KEY,
  KPL_MAGIC,
  type AggregatorEntry,
  type AggregatorOptions,
  type DecodedRecord,
  type DeaggregatedRecord,
} from './aggregation/index.js';
export {
  ShardMap,
  HashKeyCache,
  hashKeyOfPartitionKey,
  hashKeyToDecimal,
  describeStreamCapabilities,
  type HashKey,
  type ShardInfo,
  type StreamCapabilities,
  type StreamStatus,
} from './sharding/index.js';
export { RateLimiter, type RateLimiterOptions } from './batching/index.js';
export { RetryPolicy, type FailureKind, type Failure } from './retry/index.js';
export type {
  RecordWritable,
  WritableOptions,
  PutAllOptions,
  ShippingOptions,
  ShippingSummary,
  ShippingFailure,
} from './shipping/index.js';
