/**
 * The CloudWatch sink: each interval's figures uploaded with PutMetricData as statistic sets, as the
 * KPL uploads them. Uploads are background work: they never delay, fail or lose a user record.
 */
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { createHttp1Handler, type KinesisClientLike } from '../client.js';
import { withDeadline } from '../deadline.js';
import { ValidationError } from '../errors.js';
import type { Counters } from './counters.js';
import type { MetricDatum, MetricsReport, MetricsSink } from './report.js';

/**
 * What shardline calls on a CloudWatch client: `send` (PutMetricData, with an abort signal) and
 * `destroy`. Any `CloudWatchClient` of the AWS SDK v3 has both; typed by shape, like the Kinesis
 * client, so that a client from another copy of the SDK compiles and shardline's declarations do not
 * name `@aws-sdk/client-cloudwatch`, which a user without uploads does not install.
 */
export type CloudWatchClientLike = KinesisClientLike;

/** The optional peer dependency, loaded only when uploads are on. */
export const CLOUDWATCH_SDK = '@aws-sdk/client-cloudwatch';

/** The part of the SDK module the sink uses. */
interface CloudWatchSdk {
  readonly CloudWatchClient: new (config: object) => CloudWatchClientLike;
  readonly PutMetricDataCommand: new (input: PutMetricDataInput) => Parameters<CloudWatchClientLike['send']>[0];
}

/** PutMetricData's input, as the SDK takes it (its own types are not imported: see above). */
interface PutMetricDataInput {
  readonly Namespace: string;
  readonly MetricData: readonly SdkMetricDatum[];
}

interface SdkMetricDatum {
  readonly MetricName: string;
  readonly Unit: string;
  readonly Dimensions?: readonly { readonly Name: string; readonly Value: string }[];
  readonly Timestamp: Date;
  readonly StatisticValues: { readonly SampleCount: number; readonly Sum: number; readonly Minimum: number; readonly Maximum: number };
}

// PutMetricData's limits (API reference, PutMetricData and Dimension): at most 1000 metrics and
// 1 MB per request, 30 dimensions per metric, dimension names of 1..255 and values of 1..1024 ASCII
// characters, values within ±2^360 (NaN and infinities refused). One bad datum fails the whole
// request, so bad datums are dropped before they are batched.
const MAX_DATUMS_PER_REQUEST = 1000;
/** 1 MB, less a margin: the estimate below is an upper bound, but whether "MB" is 10^6 or 2^20 is unsaid. */
const MAX_REQUEST_BYTES = 1_000_000;
const MAX_DIMENSIONS = 30;
const MAX_DIMENSION_NAME_LENGTH = 255;
const MAX_DIMENSION_VALUE_LENGTH = 1024;
const MAX_NAMESPACE_LENGTH = 255;
const MAX_MAGNITUDE = 2 ** 360;
/** Printable ASCII with a character other than a space. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$/;

/** Failed uploads a datum goes through before it is given up on (about that many intervals). */
const MAX_TRIES = 3;
/**
 * Default bound on datums waiting for an upload (failed ones, and those reported meanwhile): about
 * twenty requests' worth, a few MB at most, well above one interval of a producer on hundreds of
 * shards at `detailed`/`shard`.
 */
export const DEFAULT_MAX_WAITING_DATUMS = 20_000;

// The request-size estimate is of the awsQuery encoding, the largest of the protocols the SDK may
// use (awsQuery in older 3.x, JSON 1.0 or CBOR in newer): every field is a form pair whose key is at
// most `&MetricData.member.1000.StatisticValues.SampleCount=` (52 characters), each number at most
// 24 characters (`-1.2345678901234567e+108`) and the timestamp 28 (`2026-11-22T06%3A14%3A56.000Z`).
const QUERY_KEY_BYTES = 52;
const QUERY_NUMBER_BYTES = 24;
const QUERY_TIMESTAMP_BYTES = 28;
/** `Action=PutMetricData&Version=2010-08-01&Namespace=`. */
const QUERY_REQUEST_BYTES = 52;

/** A datum waiting to be uploaded, in the SDK's shape, with what batching and retries need. */
interface WaitingDatum {
  readonly namespace: string;
  readonly datum: SdkMetricDatum;
  /** An upper bound on its size in a request. */
  readonly bytes: number;
  /** Failed uploads it went through. */
  tries: number;
}

/** The characters of a CloudWatch namespace. */
const NAMESPACE_CHARACTERS = /^[0-9A-Za-z.\-_/#: ]*$/;

/**
 * Why CloudWatch would refuse `namespace` as a metrics namespace, or `undefined` if it would not:
 * 1..255 of `0-9A-Za-z.-_/#:` and space, not all spaces, not starting with `:` or `AWS/` (reserved
 * for AWS services).
 */
export function namespaceProblem(namespace: string): string | undefined {
  if (namespace.length < 1 || namespace.length > MAX_NAMESPACE_LENGTH) return `must have 1..${MAX_NAMESPACE_LENGTH} characters`;
  if (!NAMESPACE_CHARACTERS.test(namespace)) return 'may hold only 0-9 A-Z a-z . - _ / # : and space';
  if (namespace.trim() === '') return 'must hold a character other than space';
  if (namespace.startsWith(':')) return 'must not start with ":"';
  if (namespace.startsWith('AWS/')) return 'must not start with "AWS/" (reserved for AWS services)';
  return undefined;
}

/**
 * Why CloudWatch would refuse a dimension, or `undefined` if it would not: printable ASCII only, at
 * least one non-space character, a name of 1..255 characters not starting with `:`, a value of
 * 1..1024 characters.
 */
export function dimensionProblem(name: string, value: string): string | undefined {
  if (!PRINTABLE_ASCII.test(name) || !PRINTABLE_ASCII.test(value)) return 'names and values must be printable ASCII with a non-space character';
  if (name.length > MAX_DIMENSION_NAME_LENGTH) return `a name must have at most ${MAX_DIMENSION_NAME_LENGTH} characters`;
  if (value.length > MAX_DIMENSION_VALUE_LENGTH) return `a value must have at most ${MAX_DIMENSION_VALUE_LENGTH} characters`;
  if (name.startsWith(':')) return 'a name must not start with ":"';
  return undefined;
}

/**
 * `value` as CloudWatch accepts it, or `undefined` if it refuses it. Magnitudes below 2^-360 are
 * refused too, and are sent as 0: the difference cannot matter to a metric.
 */
function cloudWatchValue(value: number): number | undefined {
  if (!Number.isFinite(value) || Math.abs(value) > MAX_MAGNITUDE) return undefined;
  return Math.abs(value) < 1 / MAX_MAGNITUDE ? 0 : value;
}

/** The datum in the SDK's shape, or `undefined` if CloudWatch would refuse it (or it has no sample). */
function toSdkDatum(datum: MetricDatum, timestamp: Date): SdkMetricDatum | undefined {
  if (!(datum.count > 0)) return undefined;
  const [count, sum, min, max] = [datum.count, datum.sum, datum.min, datum.max].map(cloudWatchValue);
  if (count === undefined || sum === undefined || min === undefined || max === undefined) return undefined;
  const dimensions = Object.entries(datum.dimensions).map(([Name, Value]) => ({ Name, Value }));
  if (dimensions.length > MAX_DIMENSIONS || dimensions.some((d) => dimensionProblem(d.Name, d.Value) !== undefined)) return undefined;
  return {
    MetricName: datum.name,
    Unit: datum.unit,
    // Left out when empty: awsQuery would send it as `Dimensions=`, an empty string.
    ...(dimensions.length > 0 && { Dimensions: dimensions }),
    Timestamp: timestamp,
    StatisticValues: { SampleCount: count, Sum: sum, Minimum: min, Maximum: max },
  };
}

/** An upper bound on the datum's bytes in an awsQuery request (see QUERY_KEY_BYTES). */
function requestBytes(datum: SdkMetricDatum): number {
  const dimensions = datum.Dimensions ?? [];
  const fields = 7 + 2 * dimensions.length;
  let bytes = fields * QUERY_KEY_BYTES + 4 * QUERY_NUMBER_BYTES + QUERY_TIMESTAMP_BYTES + datum.MetricName.length + datum.Unit.length;
  for (const { Name, Value } of dimensions) bytes += encodeURIComponent(Name).length + encodeURIComponent(Value).length;
  return bytes;
}

/**
 * Takes from the front of `waiting` the datums of one PutMetricData request: one namespace, within
 * the limits on datums and bytes.
 */
function takeBatch(waiting: WaitingDatum[]): WaitingDatum[] {
  const namespace = waiting[0]!.namespace;
  let bytes = QUERY_REQUEST_BYTES + encodeURIComponent(namespace).length;
  let size = 0;
  while (size < waiting.length && size < MAX_DATUMS_PER_REQUEST) {
    const next = waiting[size]!;
    if (next.namespace !== namespace || (size > 0 && bytes + next.bytes > MAX_REQUEST_BYTES)) break;
    bytes += next.bytes;
    size++;
  }
  return waiting.splice(0, size);
}

/**
 * A {@link MetricsSink} that uploads each report to CloudWatch in the background, one request at a
 * time (so a stalled endpoint holds one request, not a pile of them). A failed or timed-out request
 * counts in `metricsUploadsFailed`; its datums wait and go with the next report's, up to
 * three uploads. Datums given up on, refused by CloudWatch's limits, or beyond the bound
 * on waiting datums (the oldest go first) count in `metricDatumsDropped`.
 */
export class CloudWatchSink implements MetricsSink {
  readonly #client: CloudWatchClientLike;
  readonly #sdk: CloudWatchSdk;
  readonly #ownsClient: boolean;
  readonly #requestTimeout: number;
  readonly #counters: Counters;
  readonly #maxWaitingDatums: number;
  /** Aborted when `close()` runs out of time: it cuts the request under way. */
  readonly #stop = new AbortController();
  /** Oldest first: a failed batch goes back to the front. */
  #waiting: WaitingDatum[] = [];
  #uploading: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** Use {@link createCloudWatchSink}, which loads the SDK. */
  constructor(sdk: CloudWatchSdk, client: CloudWatchClientLike, ownsClient: boolean, options: CloudWatchSinkOptions) {
    this.#sdk = sdk;
    this.#client = client;
    this.#ownsClient = ownsClient;
    this.#requestTimeout = options.requestTimeout;
    this.#counters = options.counters;
    this.#maxWaitingDatums = options.maxWaitingDatums ?? DEFAULT_MAX_WAITING_DATUMS;
  }

  /**
   * Queues the report's datums (timestamped with the interval's end) and starts an upload unless one
   * is under way. After `close()`, drops them (counted).
   */
  report(report: MetricsReport): void {
    if (this.#closing !== undefined) {
      this.#counters.metricDatumsDropped += report.datums.filter((d) => d.count !== 0).length;
      return;
    }
    const namespaceOk = namespaceProblem(report.namespace) === undefined;
    for (const datum of report.datums) {
      const sdkDatum = namespaceOk ? toSdkDatum(datum, report.end) : undefined;
      if (sdkDatum !== undefined) this.#waiting.push({ namespace: report.namespace, datum: sdkDatum, bytes: requestBytes(sdkDatum), tries: 0 });
      // A datum without samples is not an error: the recorder may list it, CloudWatch would refuse it.
      else if (datum.count !== 0) this.#counters.metricDatumsDropped++;
    }
    this.#bound();
    // At most one upload at a time: one under way takes these datums too (it runs until nothing
    // waits or a request fails). Started on a later turn of the event loop, so that the SDK's
    // synchronous work (serialising up to 1000 datums) is not done inside report().
    this.#uploading ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#upload())
      .finally(() => (this.#uploading = undefined));
  }

  /**
   * Waits for the upload under way, then uploads what is waiting once, all within `requestTimeout`;
   * what is not uploaded by then is dropped (and counted). Releases the client if shardline built it.
   * Never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    // Referenced: whoever awaits close() wants it to end, and it ends by this timer at the latest.
    const timer = setTimeout(() => this.#stop.abort(new Error('close() ran out of time (requestTimeout)')), this.#requestTimeout);
    await this.#uploading;
    if (!this.#stop.signal.aborted) await this.#upload();
    clearTimeout(timer);
    this.#counters.metricDatumsDropped += this.#waiting.length;
    this.#waiting = [];
    if (this.#ownsClient) this.#client.destroy();
  }

  /** Sends what is waiting, a request at a time, until it is all sent or a request fails. Never rejects. */
  async #upload(): Promise<void> {
    while (this.#waiting.length > 0) {
      const batch = takeBatch(this.#waiting);
      const input = { Namespace: batch[0]!.namespace, MetricData: batch.map((w) => w.datum) };
      try {
        await withDeadline('PutMetricData', this.#requestTimeout, this.#stop.signal, (abortSignal) =>
          this.#client.send(new this.#sdk.PutMetricDataCommand(input), { abortSignal }),
        );
      } catch {
        // Whatever the error (throttling, a 5xx, a timeout, a refused credential), the next report
        // tries again: an endpoint that just failed is not asked again at once.
        this.#counters.metricsUploadsFailed++;
        const retried = batch.filter((w) => ++w.tries < MAX_TRIES);
        this.#counters.metricDatumsDropped += batch.length - retried.length;
        this.#waiting.unshift(...retried);
        this.#bound();
        return;
      }
    }
  }

  /** Drops the oldest waiting datums beyond the bound. */
  #bound(): void {
    const excess = this.#waiting.length - this.#maxWaitingDatums;
    if (excess <= 0) return;
    this.#waiting.splice(0, excess);
    this.#counters.metricDatumsDropped += excess;
  }
}

/** What {@link createCloudWatchSink} needs. */
export interface CloudWatchSinkOptions {
  /** The user's client (`cloudwatchClient`); without one, shardline builds one from the options below. */
  readonly client?: CloudWatchClientLike | undefined;
  readonly region?: string | undefined;
  /** `cloudwatchEndpoint`. */
  readonly endpoint?: string | undefined;
  readonly credentials?: KinesisClientConfig['credentials'] | undefined;
  /** Deadline of each PutMetricData call, and of `close()`, in ms. */
  readonly requestTimeout: number;
  /** Where failed uploads and dropped datums are counted. */
  readonly counters: Counters;
  /** Bound on datums waiting for an upload. Default {@link DEFAULT_MAX_WAITING_DATUMS}. */
  readonly maxWaitingDatums?: number | undefined;
}

/**
 * Loads `@aws-sdk/client-cloudwatch` and builds a {@link CloudWatchSink}. Rejects with a
 * `ValidationError` for `cloudwatchUpload` if the package is not installed.
 *
 * @param load - How the SDK is loaded; tests give one that fails.
 */
export async function createCloudWatchSink(options: CloudWatchSinkOptions, load: () => Promise<unknown> = loadCloudWatchSdk): Promise<CloudWatchSink> {
  let sdk: CloudWatchSdk;
  try {
    sdk = (await load()) as CloudWatchSdk;
  } catch (error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new ValidationError('cloudwatchUpload', `needs the optional peer dependency ${CLOUDWATCH_SDK}`, `is true but ${CLOUDWATCH_SDK} cannot be loaded: npm install ${CLOUDWATCH_SDK}`);
  }
  if (options.client !== undefined) return new CloudWatchSink(sdk, options.client, false, options);
  const client = new sdk.CloudWatchClient({
    ...(options.region !== undefined && { region: options.region }),
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
    // shardline retries a failed upload with the next report; SDK retries would stretch one upload
    // past its deadline. One socket: uploads go one at a time.
    maxAttempts: 1,
    requestHandler: createHttp1Handler(1, options.requestTimeout),
  });
  return new CloudWatchSink(sdk, client, true, options);
}

/**
 * The module name is a variable so that bundlers leave the import alone: a literal `import()` makes
 * esbuild fail to bundle shardline where the optional package is not installed.
 */
function loadCloudWatchSdk(): Promise<unknown> {
  const name: string = CLOUDWATCH_SDK;
  return import(name);
}
