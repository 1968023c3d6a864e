/**
 * What the producer knows of one stream: its capabilities (DescribeStreamSummary), its shard map
 * (ListShards), and the records that wait while it is being learned.
 */
import type { KinesisClientLike } from '../client.js';
import { boundedBackoff, classifyRequestError, isRetriable, type Failure } from '../retry/index.js';
import { describeStreamCapabilities, type StreamCapabilities } from './capabilities.js';
import type { HashKey } from './hash-key.js';
import { DEFAULT_MAX_BACKOFF_MS, DEFAULT_MIN_BACKOFF_MS, ShardMap } from './shard-map.js';
import type { ShardInfo } from './shard-table.js';

/** What the producer knows of one stream (see `KinesisProducer.streamStatus`). */
export interface StreamStatus {
  /** The stream's capabilities, once read; undefined while being read or when they could not be. */
  readonly capabilities: StreamCapabilities | undefined;
  /**
   * Whether records for this stream are aggregated now: needs `aggregationEnabled`, capabilities
   * read, and a stream that does not distribute records itself (RecordDistributionStrategy AUTO).
   */
  readonly aggregating: boolean;
  /** Open shards in the producer's map (0 until it is loaded). */
  readonly openShards: number;
  /** Why capabilities or the shard map could not be read, when that is so. */
  readonly lastError: Error | undefined;
}

/** Options of a {@link StreamView}. */
export interface StreamViewOptions {
  readonly client: KinesisClientLike;
  readonly streamName: string | undefined;
  readonly streamARN: string | undefined;
  /** Whether the producer aggregates where the stream allows it (KPL: AggregationEnabled). */
  readonly aggregationEnabled: boolean;
  /** See `ProducerOptions.shardMapRefreshInterval`. */
  readonly shardMapRefreshInterval: number;
  /** The deadline of each DescribeStreamSummary and ListShards call, in ms (`ProducerOptions.requestTimeout`). */
  readonly requestTimeout: number;
  /** Called when capabilities or the shard map changed, or when reading either failed. */
  readonly onChange: () => void;
}

/**
 * One stream as the producer sees it. Until its capabilities are known the producer does not
 * aggregate for it: aggregating on a stream that distributes records itself would have the KCL
 * drop the envelopes, so not knowing means not aggregating.
 */
export class StreamView {
  readonly streamName: string | undefined;
  readonly streamARN: string | undefined;
  readonly shardMap: ShardMap;
  readonly #client: KinesisClientLike;
  readonly #aggregationEnabled: boolean;
  readonly #requestTimeout: number;
  readonly #onChange: () => void;
  #capabilities: StreamCapabilities | undefined;
  #capabilitiesError: Error | undefined;
  /** True while DescribeStreamSummary is being asked (or retried after a transient failure). */
  #capabilitiesLoading = false;
  #capabilityReads = 0;
  /** Whether the warning that the stream goes unaggregated was given. */
  #warned = false;
  #closed = false;

  /** Starts reading the stream's capabilities and shard map. */
  constructor(options: StreamViewOptions) {
    this.streamName = options.streamName;
    this.streamARN = options.streamARN;
    this.#client = options.client;
    this.#aggregationEnabled = options.aggregationEnabled;
    this.#requestTimeout = options.requestTimeout;
    this.#onChange = options.onChange;
    this.shardMap = new ShardMap({
      client: options.client,
      streamName: options.streamName,
      streamARN: options.streamARN,
      refreshIntervalMs: options.shardMapRefreshInterval,
      requestTimeoutMs: options.requestTimeout,
    });
    this.shardMap.onUpdate = () => {
      // A stream whose capabilities could not be read (e.g. it did not exist yet) gets another read
      // when its shards change, rather than staying unaggregated for good.
      if (this.#capabilities === undefined) this.readCapabilities();
      this.#onChange();
    };
    // A failed listing ends the first load as much as a successful one: records held for the
    // stream must not wait out their deadline for an answer that has come.
    this.shardMap.onError = () => this.#onChange();
    this.readCapabilities();
    // Failures are kept in the map (lastError) and retried by it with backoff; records go out raw meanwhile.
    this.shardMap.refresh().catch(() => undefined);
  }

  /** The stream's capabilities; undefined until read, or when they could not be. */
  get capabilities(): StreamCapabilities | undefined {
    return this.#capabilities;
  }

  /** Whether records for the stream are aggregated now (see {@link StreamStatus.aggregating}). */
  get aggregating(): boolean {
    return this.#aggregationEnabled && this.#capabilities !== undefined && !this.#capabilities.serviceManagedDistribution;
  }

  /** Whether records for the stream should wait a little for what the producer is still learning of it. */
  get learning(): boolean {
    return (
      (this.#capabilities === undefined && this.#capabilitiesLoading && this.#capabilityReads === 0) ||
      (!this.shardMap.ready && this.shardMap.loading)
    );
  }

  /** Open shards: the map's count once loaded, else DescribeStreamSummary's; undefined while neither is known. */
  get openShardCount(): number | undefined {
    return this.shardMap.ready ? this.shardMap.shards.length : this.#capabilities?.openShardCount;
  }

  /** What the producer knows of the stream now. */
  status(): StreamStatus {
    return {
      capabilities: this.#capabilities,
      aggregating: this.aggregating,
      openShards: this.shardMap.shards.length,
      lastError: this.#capabilitiesError ?? this.shardMap.lastError,
    };
  }

  /**
   * The shard a hash key is predicted to land in; undefined without a map, and always for a stream
   * that distributes records itself (it ignores keys: no prediction, no per-shard limit).
   */
  lookup(hashKey: HashKey): ShardInfo | undefined {
    return this.#capabilities?.serviceManagedDistribution === true ? undefined : this.shardMap.lookup(hashKey);
  }

  /**
   * Decides whether `shardId`, which took an envelope predicted for another shard, holds every one
   * of its records' hash keys (the KCL drops the envelope otherwise), learning the shard first if
   * the map does not know it yet; then calls `verdict`.
   */
  judgeReceivingShard(shardId: string, records: readonly { readonly hashKey: HashKey }[], verdict: (holdsAll: boolean) => void): void {
    const map = this.shardMap;
    const judge = (): void => verdict(records.every((record) => map.shardContains(shardId, record.hashKey) === true));
    if (records.every((record) => map.shardContains(shardId, record.hashKey) !== undefined)) {
      map.requestRefresh();
      judge();
    } else {
      // The receiving shard is not in our map yet: learn it before judging.
      map.refresh().then(judge, judge);
    }
  }

  /** Reads the stream's capabilities, retrying transient failures with backoff (1 s doubling to 30 s, as ListShards). */
  readCapabilities(): void {
    if (this.#capabilitiesLoading || this.#closed) return;
    this.#capabilitiesLoading = true;
    describeStreamCapabilities(this.#client, this, undefined, this.#requestTimeout).then(
      (capabilities) => {
        this.#capabilities = capabilities;
        this.#capabilitiesError = undefined;
        this.#capabilitiesLoading = false;
        this.#capabilityReads = 0;
        this.#onChange();
      },
      (error: unknown) => {
        const failure = classifyRequestError(error);
        this.#capabilitiesError = error instanceof Error ? error : new Error(String(error));
        this.#capabilityReads++;
        // Any failure sends records raw, a timeout or an answer that cannot be read as surely as a refusal.
        this.#warnUnaggregated(failure, unaggregatedCause(failure));
        if (!isRetriable(failure.kind)) {
          this.#capabilitiesLoading = false;
        } else {
          setTimeout(() => {
            this.#capabilitiesLoading = false;
            this.readCapabilities();
          }, boundedBackoff(this.#capabilityReads, DEFAULT_MIN_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS)).unref();
        }
        // Records held for the stream go on (raw) rather than wait for retries.
        this.#onChange();
      },
    );
  }

  /** Stops the shard map's refreshes and further capability reads. */
  close(): void {
    this.#closed = true;
    this.shardMap.close();
  }

  /**
   * E.g. no kinesis:DescribeStreamSummary permission, credentials refused, or an endpoint that does
   * not answer (or not in a way that can be read): records go out raw,
   * and that is said loudly once, naming the cause, as throughput can drop by an order of
   * magnitude; {@link status} keeps the error.
   */
  #warnUnaggregated(failure: Failure, cause: string): void {
    if (!this.#aggregationEnabled || this.#warned) return;
    this.#warned = true;
    process.emitWarning(
      `shardline: cannot read stream ${this.streamName ?? this.streamARN ?? ''} with DescribeStreamSummary ` +
        `(${failure.code}); its records go out unaggregated until it can (${cause})`,
      { code: 'SHARDLINE_UNAGGREGATED' },
    );
  }
}

/** Why a stream's records go out unaggregated after `failure`, and whether it is retried. */
function unaggregatedCause(failure: Failure): string {
  if (failure.kind === 'credentials') return 'its credentials were refused or unavailable; retrying';
  if (isRetriable(failure.kind)) return `${failure.message}; retrying`;
  if (failure.code === 'AccessDeniedException') return 'needs kinesis:DescribeStreamSummary';
  if (failure.code === 'ClientConfigError') return `the client's settings were rejected: ${failure.message}`;
  return 'it could not be described';
}
