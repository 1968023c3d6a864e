/**
 * The sinks a producer's options ask for — a callback, an OpenTelemetry meter, CloudWatch — built
 * at once, so that the recorder has them from its first interval.
 */
import { createRequire } from 'node:module';
import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { ValidationError } from '../errors.js';
import { CLOUDWATCH_SDK, createCloudWatchSink, type CloudWatchClientLike } from './cloudwatch.js';
import type { Counters } from './counters.js';
import { OpenTelemetrySink, type MeterLike } from './opentelemetry.js';
import type { MetricsReport, MetricsSink } from './report.js';

/** The options the sinks are built from. */
export interface SinkOptions {
  readonly onMetrics?: ((report: MetricsReport) => void) | undefined;
  readonly metricsMeter?: MeterLike | undefined;
  readonly cloudwatchUpload: boolean;
  readonly cloudwatchClient?: CloudWatchClientLike | undefined;
  readonly cloudwatchEndpoint?: string | undefined;
  readonly region?: string | undefined;
  readonly credentials?: KinesisClientConfig['credentials'] | undefined;
  readonly requestTimeout: number;
}

/** Every sink `options` asks for; CloudWatch's failures are counted in `counters`. */
export function createMetricsSinks(options: SinkOptions, counters: Counters): MetricsSink[] {
  const sinks: MetricsSink[] = [];
  const { onMetrics, metricsMeter } = options;
  if (onMetrics !== undefined) sinks.push({ report: (report) => onMetrics(report), close: () => Promise.resolve() });
  if (metricsMeter !== undefined) sinks.push(new OpenTelemetrySink(metricsMeter));
  if (options.cloudwatchUpload) {
    const sink = createCloudWatchSink({
      client: options.cloudwatchClient,
      region: options.region,
      endpoint: options.cloudwatchEndpoint,
      credentials: options.credentials,
      requestTimeout: options.requestTimeout,
      counters,
    });
    sinks.push(new PendingSink(sink));
  }
  return sinks;
}

/**
 * Throws a `ValidationError` for `cloudwatchUpload` unless `@aws-sdk/client-cloudwatch` resolves
 * from shardline's own location, where the upload's `import()` will look: the producer refuses the
 * option at once rather than failing its first upload a minute later.
 */
export function checkCloudWatchSdkInstalled(): void {
  // The CommonJS build gets import.meta.url from tsup's shims.
  try {
    createRequire(import.meta.url).resolve(CLOUDWATCH_SDK);
  } catch {
    throw new ValidationError('cloudwatchUpload', `needs the optional peer dependency ${CLOUDWATCH_SDK}`, `is true but ${CLOUDWATCH_SDK} is not installed: npm install ${CLOUDWATCH_SDK}`);
  }
}

/**
 * A sink that is still being built (CloudWatch's SDK loads asynchronously): reports wait for it,
 * in order. If it cannot be built, it is said once and the reports go nowhere; the records never
 * notice.
 */
class PendingSink implements MetricsSink {
  readonly #ready: Promise<MetricsSink | undefined>;
  #sink: MetricsSink | undefined;

  constructor(sink: Promise<MetricsSink>) {
    this.#ready = sink.then(
      (built) => (this.#sink = built),
      (error: unknown) => {
        process.emitWarning(`shardline: metrics cannot be uploaded: ${String(error)}`, { code: 'SHARDLINE_METRICS' });
        return undefined;
      },
    );
  }

  report(report: MetricsReport): void {
    if (this.#sink !== undefined) this.#sink.report(report);
    else void this.#ready.then((sink) => sink?.report(report));
  }

  async close(): Promise<void> {
    await (await this.#ready)?.close();
  }
}
