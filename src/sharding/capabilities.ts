/**
 * What a stream allows, read once with DescribeStreamSummary: its record size limit, and whether the
 * service itself decides which shard a record goes to.
 */
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import type { KinesisClientLike } from '../client.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, withDeadline } from '../deadline.js';

/** The default (and, for streams that did not opt in, only) record size limit: 1 MiB. */
export const DEFAULT_MAX_RECORD_SIZE = 1024 * 1024;

/** What shardline needs to know of a stream before it aggregates for it. */
export interface StreamCapabilities {
  /** Largest record the stream takes, data plus partition key (MaxRecordSizeInKiB × 1024). */
  readonly maxRecordSize: number;
  /**
   * True when the stream's RecordDistributionStrategy is AUTO: the service ignores partition and
   * explicit hash keys, so shard prediction means nothing and KPL envelopes would be dropped by
   * the KCL (their records' hash keys need not lie in the shard that received them).
   */
  readonly serviceManagedDistribution: boolean;
  /** Open shards when read (OpenShardCount): sizes the stream-wide budget of records sent without a shard map. */
  readonly openShardCount: number | undefined;
}

/**
 * Reads a stream's capabilities. Needs the `kinesis:DescribeStreamSummary` permission.
 *
 * Settles within `requestTimeoutMs` (default 6000, the KPL's `requestTimeout`) whatever the
 * connection does: on time out it rejects with an error named `TimeoutError`, which
 * `classifyRequestError` calls a retriable `RequestTimeout`; the caller retries with its backoff.
 */
export async function describeStreamCapabilities(
  client: KinesisClientLike,
  stream: { readonly streamName?: string | undefined; readonly streamARN?: string | undefined },
  abortSignal?: AbortSignal,
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): Promise<StreamCapabilities> {
  const command = new DescribeStreamSummaryCommand({ StreamName: stream.streamName, StreamARN: stream.streamARN });
  const output = await withDeadline('DescribeStreamSummary', requestTimeoutMs, abortSignal, (signal) =>
    client.send(command, { abortSignal: signal }),
  );
  const summary = output.StreamDescriptionSummary;
  const kib = summary?.MaxRecordSizeInKiB;
  return {
    maxRecordSize: typeof kib === 'number' && kib > 0 ? kib * 1024 : DEFAULT_MAX_RECORD_SIZE,
    serviceManagedDistribution: summary?.RecordDistributionStrategy === 'AUTO',
    openShardCount: typeof summary?.OpenShardCount === 'number' && summary.OpenShardCount > 0 ? summary.OpenShardCount : undefined,
  };
}
