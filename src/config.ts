/**
 * Producer configuration: names and defaults follow the KPL's (camelCase), validated once, up front.
 */
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import type { KinesisClientLike } from './client.js';
import { ValidationError } from './errors.js';
import { DEFAULT_AGGREGATION_MAX_COUNT, DEFAULT_AGGREGATION_MAX_SIZE } from './aggregation/aggregator.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './deadline.js';
import { DEFAULT_HASH_KEY_CACHE_MAX, MAX_HASH_KEY_CACHE_MAX } from './sharding/hash-key.js';
import {
  METRICS_DEFAULTS,
  resolveMetricsSettings,
  type AdditionalMetricsDimension,
  type MetricsGranularity,
  type MetricsLevel,
  type MetricsReport,
  type MetricsSettings,
  type MeterLike,
  type CloudWatchClientLike,
  checkCloudWatchSdkInstalled,
} from './metrics/index.js';

import {
  DEFAULT_MAX_USER_RECORD_SIZE,
  MAX_USER_RECORD_SIZE_LIMIT,
  validateClientSettings,
  validateEndpoint,
  validateInteger,
  validateOptionNames,
} from './validation.js';

/** One mebibyte. */
export const MiB = 1024 * 1024;

/** Options of a {@link KinesisProducer}. Every option but the stream is optional; defaults are the KPL's. */
export interface ProducerOptions {
  /** Default stream for records that name none. Either this or `streamARN` (or both). */
  streamName?: string;
  /** Default stream ARN (recommended by AWS). Either this or `streamName` (or both). */
  streamARN?: string;
  /** AWS region, for the client shardline builds: a hostname label such as `us-east-1`. Defaults to the SDK's resolution (AWS_REGION, profile). */
  region?: string;
  /** Endpoint, for the client shardline builds (e.g. a local Kinesis or a VPC endpoint): an `http://` or `https://` URL. */
  endpoint?: string;
  /** Credentials for the client shardline builds: non-empty `accessKeyId` and `secretAccessKey`, or a provider function. Defaults to the SDK's default credential chain. */
  credentials?: KinesisClientConfig['credentials'];
  /**
   * A client of your own: any AWS SDK v3 `KinesisClient` (typed by shape, so one from another copy
   * or version of the SDK compiles). shardline then uses it as it is: set `maxAttempts: 1` on it
   * (shardline owns retries) and an HTTP/1.1 handler sized to `maxConnections` for the best results.
   */
  client?: KinesisClientLike;
  /** Aggregate user records bound for the same shard into KPL envelopes. KPL: AggregationEnabled. Default true. */
  aggregationEnabled?: boolean;
  /** Most user records in one envelope. KPL: AggregationMaxCount. Default 4294967295. */
  aggregationMaxCount?: number;
  /** Most bytes in one envelope (magic, protobuf and MD5). KPL: AggregationMaxSize. Default 51200, 64..1048575 (the envelope and its 1-byte outer partition key must fit a 1 MiB record). */
  aggregationMaxSize?: number;
  /** Most Kinesis records in one PutRecords call. KPL: CollectionMaxCount. Default 500, 1..500. */
  collectionMaxCount?: number;
  /** Most bytes (data + partition keys) in one PutRecords call. KPL: CollectionMaxSize. Default 5 MiB. */
  collectionMaxSize?: number;
  /** Longest a record waits in buffers before it is sent, in ms. KPL: RecordMaxBufferedTime. Default 100. */
  recordMaxBufferedTime?: number;
  /** Longest a record may take, retries included, before it fails with `Expired`, in ms. KPL: RecordTtl. Default 30000. */
  recordTtl?: number;
  /** PutRecords calls in flight at once (and sockets). KPL: MaxConnections. Default 24, 1..256. */
  maxConnections?: number;
  /** Time allowed for one PutRecords call before it is aborted and retried, in ms. KPL: RequestTimeout. Default 6000. */
  requestTimeout?: number;
  /** Fail records throttled by the service at once instead of retrying them. KPL: FailIfThrottled. Default false. */
  failIfThrottled?: boolean;
  /** Largest user record (data + partition key, UTF-8 bytes). Default 1 MiB, at most 10 MiB. */
  maxUserRecordSize?: number;
  /** First retry backoff ceiling in ms; each retry doubles it (full jitter). Default 100. */
  retryMinBackoff?: number;
  /** Largest retry backoff ceiling in ms. Default 10000. */
  retryMaxBackoff?: number;
  /** Partition keys whose hash keys are cached (LRU). Default 10000; 0 turns the cache off. */
  hashKeyCacheSize?: number;
  /**
   * Percent of each shard's limits (1,000 records/s, 1 MiB/s) the producer lets out toward it.
   * KPL: RateLimit. Default 150, 1..10000. Throttling answers lower the rate below this (see docs/flow-control.md).
   */
  rateLimit?: number;
  /** Most user records held (buffered, in flight or waiting to retry) before `put()` refuses more. Default 100000. */
  maxOutstandingRecords?: number;
  /** Most bytes of user records (data + partition key) held before `put()` refuses more. Default 64 MiB. */
  maxOutstandingBytes?: number;
  /**
   * List each stream's shards again every this many ms (besides whenever an answer shows the map
   * stale), so records buffered for a shard that closed are re-routed before they go out.
   * Default 60000; 0 turns it off.
   */
  shardMapRefreshInterval?: number;
  /** Which metrics are recorded (KPL: MetricsLevel): `none`, `summary` or `detailed`. Default `detailed`. See docs/metrics.md. */
  metricsLevel?: MetricsLevel;
  /** Finest dimensions of the metrics (KPL: MetricsGranularity): `global`, `stream` or `shard`; coarser ones are reported too. Default `shard`. */
  metricsGranularity?: MetricsGranularity;
  /** Namespace of the metrics uploaded to CloudWatch (KPL: MetricsNamespace). Default `KinesisProducerLibrary`. */
  metricsNamespace?: string;
  /** How often the metrics are reported (to `onMetrics`, uploaded), in ms (KPL: MetricsUploadDelay). Default 60000, 1..60000. */
  metricsUploadDelay?: number;
  /** Dimensions added to the metrics from a granularity down (KPL: addAdditionalMetricsDimension), e.g. `{ name: 'Host', value: hostname(), granularity: 'global' }`. */
  additionalMetricsDimensions?: readonly AdditionalMetricsDimension[];
  /** Called with each interval's figures, every `metricsUploadDelay` and at `close()`. Must not throw (a throw is warned about once). */
  onMetrics?: (report: MetricsReport) => void;
  /**
   * An OpenTelemetry `Meter` (e.g. `meterProvider.getMeter('shardline')`): each interval's figures
   * are recorded on it (docs/metrics.md#opentelemetry). Typed by shape: shardline does not load
   * `@opentelemetry/api`.
   */
  metricsMeter?: MeterLike;
  /**
   * Upload the metrics to CloudWatch (PutMetricData) every `metricsUploadDelay` and at `close()`.
   * Needs the optional peer dependency `@aws-sdk/client-cloudwatch` and `cloudwatch:PutMetricData`.
   * Default false (the KPL uploads by default): see docs/metrics.md#cloudwatch.
   */
  cloudwatchUpload?: boolean;
  /** CloudWatch endpoint for the client shardline builds (a VPC or local endpoint): an `http://` or `https://` URL. KPL: CloudwatchEndpoint and CloudwatchPort. */
  cloudwatchEndpoint?: string;
  /** A CloudWatch client of your own (any AWS SDK v3 `CloudWatchClient`), used as it is: give it `maxAttempts: 1`. */
  cloudwatchClient?: CloudWatchClientLike;
}

/** Options after validation, every default filled in. */
export interface ResolvedConfig extends MetricsSettings {
  readonly cloudwatchUpload: boolean;
  readonly streamName: string | undefined;
  readonly streamARN: string | undefined;
  readonly aggregationEnabled: boolean;
  readonly aggregationMaxCount: number;
  readonly aggregationMaxSize: number;
  readonly collectionMaxCount: number;
  readonly collectionMaxSize: number;
  readonly recordMaxBufferedTime: number;
  readonly recordTtl: number;
  readonly maxConnections: number;
  readonly requestTimeout: number;
  readonly failIfThrottled: boolean;
  readonly maxUserRecordSize: number;
  readonly retryMinBackoff: number;
  readonly retryMaxBackoff: number;
  readonly hashKeyCacheSize: number;
  readonly rateLimit: number;
  readonly maxOutstandingRecords: number;
  readonly maxOutstandingBytes: number;
  readonly shardMapRefreshInterval: number;
  /**
   * Whether `collectionMaxSize` is the default: then streams that take records over 1 MiB (whose
   * requests may reach 10 MiB) get requests of up to {@link MAX_REQUEST_SIZE}.
   */
  readonly collectionMaxSizeDefaulted: boolean;
}

/** The largest PutRecords request the service takes, for streams that opted in to records over 1 MiB. */
export const MAX_REQUEST_SIZE = 10 * MiB;

/** The defaults, as the KPL has them where it has the option. */
export const DEFAULTS = {
  aggregationEnabled: true,
  aggregationMaxCount: DEFAULT_AGGREGATION_MAX_COUNT,
  aggregationMaxSize: DEFAULT_AGGREGATION_MAX_SIZE,
  collectionMaxCount: 500,
  collectionMaxSize: 5 * MiB,
  recordMaxBufferedTime: 100,
  recordTtl: 30000,
  maxConnections: 24,
  requestTimeout: DEFAULT_REQUEST_TIMEOUT_MS,
  failIfThrottled: false,
  maxUserRecordSize: DEFAULT_MAX_USER_RECORD_SIZE,
  retryMinBackoff: 100,
  retryMaxBackoff: 10000,
  hashKeyCacheSize: DEFAULT_HASH_KEY_CACHE_MAX,
  rateLimit: 150,
  maxOutstandingRecords: 100_000,
  maxOutstandingBytes: 64 * MiB,
  shardMapRefreshInterval: 60_000,
  ...METRICS_DEFAULTS,
  additionalMetricsDimensions: [],
  cloudwatchUpload: false,
} as const satisfies Omit<ResolvedConfig, 'streamName' | 'streamARN' | 'collectionMaxSizeDefaulted'>;

// Every option's name; the type makes sure none of ProducerOptions is missing.
const OPTION_NAMES = Object.keys({
  ...DEFAULTS,
  streamName: 0,
  streamARN: 0,
  region: 0,
  endpoint: 0,
  credentials: 0,
  client: 0,
  onMetrics: 0,
  metricsMeter: 0,
  cloudwatchEndpoint: 0,
  cloudwatchClient: 0,
} satisfies Record<keyof ProducerOptions, unknown>);

// The KPL's names (lower-cased) for what shardline calls otherwise; the others differ only in case.
const KPL_NAMES = {
  kinesisendpoint: 'endpoint',
  kinesisport: 'endpoint (the port goes in its URL)',
  credentialsprovider: 'credentials',
  connecttimeout: 'requestTimeout (it bounds connecting too)',
  cloudwatchport: 'cloudwatchEndpoint (the port goes in its URL)',
};

/** The options whose default is a number. */
type NumericOption = { [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends number ? K : never }[keyof typeof DEFAULTS];

function integer(options: ProducerOptions, field: NumericOption, min: number, max: number): number {
  return validateInteger(field, options[field] ?? DEFAULTS[field], min, max);
}

function boolean(options: ProducerOptions, field: 'aggregationEnabled' | 'failIfThrottled' | 'cloudwatchUpload'): boolean {
  const value = options[field] ?? DEFAULTS[field];
  if (typeof value !== 'boolean') throw new ValidationError(field, 'a boolean', `got ${typeof value}`);
  return value;
}

/**
 * Validates producer options and fills in defaults. Throws {@link ValidationError} naming the
 * option: for a value out of range, an unknown name (suggesting the right one), a `null` value,
 * and client settings the SDK would only reject when it sends.
 */
export function resolveConfig(options: ProducerOptions): ResolvedConfig {
  validateOptionNames(options, OPTION_NAMES, KPL_NAMES);
  validateClientSettings(options);
  const maxUserRecordSize = integer(options, 'maxUserRecordSize', 1, MAX_USER_RECORD_SIZE_LIMIT);
  const retryMinBackoff = integer(options, 'retryMinBackoff', 1, 600_000);
  const aggregationMaxSize = integer(options, 'aggregationMaxSize', 64, MiB - 1);
  const config: ResolvedConfig = {
    streamName: options.streamName,
    streamARN: options.streamARN,
    aggregationEnabled: boolean(options, 'aggregationEnabled'),
    aggregationMaxCount: integer(options, 'aggregationMaxCount', 1, DEFAULT_AGGREGATION_MAX_COUNT),
    aggregationMaxSize,
    collectionMaxCount: integer(options, 'collectionMaxCount', 1, 500),
    // A request must hold the largest envelope (with its 1-byte outer key). A user record larger
    // than a request goes alone in one (streams taking records over 1 MiB take 10 MiB requests).
    collectionMaxSize: integer(options, 'collectionMaxSize', Math.max(MiB, aggregationMaxSize + 1), MAX_REQUEST_SIZE),
    recordMaxBufferedTime: integer(options, 'recordMaxBufferedTime', 0, 600_000),
    recordTtl: integer(options, 'recordTtl', 1, 24 * 3600_000),
    maxConnections: integer(options, 'maxConnections', 1, 256),
    requestTimeout: integer(options, 'requestTimeout', 100, 600_000),
    failIfThrottled: boolean(options, 'failIfThrottled'),
    maxUserRecordSize,
    retryMinBackoff,
    retryMaxBackoff: integer(options, 'retryMaxBackoff', retryMinBackoff, 600_000),
    hashKeyCacheSize: integer(options, 'hashKeyCacheSize', 0, MAX_HASH_KEY_CACHE_MAX),
    rateLimit: integer(options, 'rateLimit', 1, 10_000),
    maxOutstandingRecords: integer(options, 'maxOutstandingRecords', 1, 100_000_000),
    // Twice the largest record, so that a producer drained to its low-water mark takes any record.
    maxOutstandingBytes: integer(options, 'maxOutstandingBytes', 2 * maxUserRecordSize, Number.MAX_SAFE_INTEGER),
    shardMapRefreshInterval: integer(options, 'shardMapRefreshInterval', 0, 24 * 3600_000),
    collectionMaxSizeDefaulted: options.collectionMaxSize === undefined,
    ...resolveMetricsSettings(options),
    cloudwatchUpload: boolean(options, 'cloudwatchUpload'),
  };
  validateSinksAtLevelNone(options, config);
  validateCloudWatchOptions(options, config.cloudwatchUpload);
  if (options.onMetrics !== undefined && typeof options.onMetrics !== 'function') {
    throw new ValidationError('onMetrics', 'a function', `got ${typeof options.onMetrics}`);
  }
  const meter = options.metricsMeter as Partial<MeterLike> | undefined;
  if (meter !== undefined && (typeof meter !== 'object' || typeof meter.createCounter !== 'function' || typeof meter.createObservableGauge !== 'function')) {
    throw new ValidationError('metricsMeter', 'an OpenTelemetry Meter (with createCounter and createObservableGauge)', `got ${typeof meter === 'object' ? 'an object without them' : typeof meter}`);
  }
  return config;
}

/** The CloudWatch options make sense only with uploads on, and uploads need their package. */
function validateCloudWatchOptions(options: ProducerOptions, upload: boolean): void {
  const { cloudwatchEndpoint, cloudwatchClient } = options;
  if (cloudwatchEndpoint !== undefined) validateEndpoint('cloudwatchEndpoint', cloudwatchEndpoint);
  const client = cloudwatchClient as { send?: unknown; destroy?: unknown } | undefined;
  if (client !== undefined && (typeof client !== 'object' || typeof client.send !== 'function' || typeof client.destroy !== 'function')) {
    throw new ValidationError('cloudwatchClient', 'an AWS SDK v3 CloudWatchClient (with send and destroy)', `got ${typeof client === 'object' ? 'an object without them' : typeof client}`);
  }
  if (!upload) {
    const given = cloudwatchEndpoint !== undefined ? 'cloudwatchEndpoint' : client !== undefined ? 'cloudwatchClient' : undefined;
    if (given !== undefined) throw new ValidationError('cloudwatchUpload', `true when ${given} is given`, `is false, so ${given} would never be used`);
    return;
  }
  if (cloudwatchEndpoint !== undefined && client !== undefined) {
    throw new ValidationError('cloudwatchEndpoint', 'only without cloudwatchClient (whose own endpoint is used)', 'is given with cloudwatchClient, so it would never be used');
  }
  checkCloudWatchSdkInstalled();
}

/** A sink at metricsLevel none would never receive anything: refused, as other options that could not take effect are. */
function validateSinksAtLevelNone(options: ProducerOptions, config: ResolvedConfig): void {
  if (config.metricsLevel !== 'none') return;
  const sink = config.cloudwatchUpload ? 'cloudwatchUpload' : options.onMetrics !== undefined ? 'onMetrics' : options.metricsMeter !== undefined ? 'metricsMeter' : undefined;
  if (sink !== undefined) throw new ValidationError(sink, "a metricsLevel other than 'none'", "is given with metricsLevel 'none', which records nothing for it");
}
