/**
 * The Kinesis client: what shardline needs of one, and the one it builds when the caller brings none.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ProducerOptions } from './config.js';

/**
 * The part of an SDK v3 command shardline relies on: the output type its handler resolves to (which
 * is how the SDK's own `send` infers what it returns).
 */
export interface KinesisCommandLike<Output> {
  /** The request's parameters. */
  readonly input: object;
  /** Builds the handler that sends the command; only its result type matters here. */
  resolveMiddleware(stack: never, configuration: never, options: never): (args: never) => Promise<{ output: Output }>;
}

/**
 * What shardline calls on a Kinesis client: `send` (PutRecords, ListShards and
 * DescribeStreamSummary, each with an abort signal) and `destroy`. Any `KinesisClient` of the
 * AWS SDK v3 has both, whichever 3.x version it comes from: typing the option by shape rather than
 * by the class means a client from another copy of the SDK than shardline's compiles.
 */
export interface KinesisClientLike {
  /** Sends one command; the signal aborts it when shardline gives up on it (`requestTimeout`, `close()`). */
  send<Output>(command: KinesisCommandLike<Output>, options?: { abortSignal?: AbortSignal }): Promise<Output>;
  /** Releases the client's sockets; called by `close()` only on a client shardline built. */
  destroy(): void;
}

/**
 * A client with the SDK's retries off (`maxAttempts: 1`: shardline retries per record, and a second
 * layer of retries would multiply attempts and hide failures) and an HTTP/1.1 keep-alive handler
 * with `maxConnections` sockets. HTTP/1.1 rather than the Kinesis client's default HTTP/2: see
 * docs/architecture.md for the measurements behind that choice.
 */
export function createKinesisClient(
  options: Pick<ProducerOptions, 'region' | 'endpoint' | 'credentials'>,
  maxConnections: number,
  requestTimeout: number,
): KinesisClient {
  const agentOptions = { keepAlive: true, maxSockets: maxConnections, maxFreeSockets: maxConnections };
  return new KinesisClient({
    ...(options.region !== undefined && { region: options.region }),
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: requestTimeout,
      requestTimeout,
    }),
  });
}
