/**
 * The producer's streams: one {@link StreamRouter} (with its {@link StreamView}) per stream named,
 * made on first use.
 */
import type { KinesisClientLike } from '../client.js';
import type { GaugeTotals, MetricsRecorder } from '../metrics/index.js';
import { now } from '../scheduler.js';
import { MAX_TURN_BUDGET_MS } from '../slices.js';
import { StreamView, type StreamStatus } from '../sharding/index.js';
import { validateStreamRef } from '../validation.js';
import { StreamRouter, type StreamRouterOptions } from './stream-router.js';

/** Longest a record let out by a shard's rate limit waits for others to share its request. */
const RELEASE_COALESCE_MS = 20;

/** What every stream's router is wired to, and the client its stream is read with. */
export interface StreamRoutersOptions extends Omit<StreamRouterOptions, 'view' | 'metrics' | 'shardBuffer'> {
  readonly client: KinesisClientLike;
  /** Where each stream's metrics are made. */
  readonly recorder: MetricsRecorder;
}

/** The routers of every stream a producer writes to, by stream name and ARN. */
export class StreamRouters {
  readonly #options: StreamRoutersOptions;
  readonly #routers = new Map<string, StreamRouter>();

  constructor(options: StreamRoutersOptions) {
    this.#options = options;
  }

  /** The stream's router, made (and the stream's learning started) on first use; validates a new stream reference. */
  get(streamName: string | undefined, streamARN: string | undefined): StreamRouter {
    const key = streamKey(streamName, streamARN);
    const known = this.#routers.get(key);
    if (known !== undefined) return known;
    validateStreamRef({ streamName, streamARN });
    const { config, client, recorder } = this.#options;
    const view = new StreamView({
      client,
      streamName,
      streamARN,
      aggregationEnabled: config.aggregationEnabled,
      shardMapRefreshInterval: config.shardMapRefreshInterval,
      requestTimeout: config.requestTimeout,
      onChange: () => router.onStreamChange(now()),
    });
    const router: StreamRouter = new StreamRouter({
      ...this.#options,
      view,
      metrics: recorder.stream(streamName ?? streamNameOfARN(streamARN!), (hashKey) => view.lookup(hashKey)?.shardId),
      shardBuffer: { ...config, releaseCoalesce: Math.min(config.recordMaxBufferedTime, RELEASE_COALESCE_MS) },
    });
    this.#routers.set(key, router);
    return router;
  }

  /** What the producer knows of a stream it has written to; undefined for one it has not. */
  status(streamName: string | undefined, streamARN: string | undefined): StreamStatus | undefined {
    return this.#routers.get(streamKey(streamName, streamARN))?.view.status();
  }

  /**
   * Moves on what every stream has due at `t`, for at most {@link MAX_TURN_BUDGET_MS}: closing
   * hundreds of due envelopes (an MD5 each) in one go would hold the event loop for tens of ms.
   * Returns the next deadline (Infinity for none, `t` when some were left for the next turn).
   */
  due(t: number): number {
    const until = now() + MAX_TURN_BUDGET_MS;
    let next = Infinity;
    for (const router of this.#routers.values()) next = Math.min(next, router.due(t, until));
    return next;
  }

  /** Samples every stream's shard gauges into its metrics. */
  sampleGauges(totals: GaugeTotals): void {
    for (const router of this.#routers.values()) router.sampleGauges(totals);
  }

  /** Sends every stream's buffers now (rate limits still hold). */
  sendAll(t: number): void {
    for (const router of this.#routers.values()) router.sendAll(t);
  }

  /** Stops every stream's metadata reads and refreshes. */
  close(): void {
    for (const router of this.#routers.values()) router.view.close();
  }
}

/** The stream name an ARN ends with (`arn:aws:kinesis:region:account:stream/NAME`): the metrics' StreamName. */
function streamNameOfARN(streamARN: string): string {
  return streamARN.slice(streamARN.lastIndexOf('/') + 1);
}

function streamKey(streamName: string | undefined, streamARN: string | undefined): string {
  return `${streamName ?? ''}\n${streamARN ?? ''}`;
}
