/**
 * The Kinesis client: what shardline needs of one, and the one it builds when the caller brings none.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

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
  options: { readonly region?: string | undefined; readonly endpoint?: string | undefined; readonly credentials?: KinesisClientConfig['credentials'] | undefined },
  maxConnections: number,
  requestTimeout: number,
): KinesisClient {
  return new KinesisClient({
    ...(options.region !== undefined && { region: options.region }),
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
    maxAttempts: 1,
    requestHandler: createHttp1Handler(maxConnections, requestTimeout),
  });
}

/**
 * An HTTP/1.1 keep-alive request handler with at most `maxConnections` sockets, for the clients
 * shardline builds (Kinesis, CloudWatch). Idle keep-alive sockets do not hold the process open: Node's
 * agent unrefs them.
 */
export function createHttp1Handler(maxConnections: number, requestTimeout: number): NodeHttpHandler {
  const agentOptions = { keepAlive: true, maxSockets: maxConnections, maxFreeSockets: maxConnections };
  return new NodeHttpHandler({
    httpAgent: new HttpAgent(agentOptions),
    httpsAgent: new HttpsAgent(agentOptions),
    connectionTimeout: requestTimeout,
    requestTimeout,
  });
}

/**
 * What makes a caller's client a poor fit for shardline, read from its resolved configuration:
 *
 * - the Kinesis client's default HTTP/2 handler (`requestHandler.metadata.handlerProtocol` is
 *   `h2`, also when only handler options were given): kinesalite fails every call over it, and
 *   kinesis-local reports false errors on larger bodies;
 * - SDK retries (`maxAttempts`, a provider once the SDK has resolved it, above 1): every shardline
 *   attempt becomes up to that many, and failures take that much longer to surface.
 *
 * Resolves with one sentence per problem, none when the client suits (or cannot be read). Never rejects.
 */
export async function clientProblems(client: unknown): Promise<string[]> {
  const config = (client as { config?: { requestHandler?: unknown; maxAttempts?: unknown } } | undefined)?.config;
  const problems: string[] = [];
  const handler = config?.requestHandler as { metadata?: { handlerProtocol?: unknown } } | undefined;
  if (handler?.metadata?.handlerProtocol === 'h2') {
    problems.push(
      'its request handler is HTTP/2 (the Kinesis client\'s default), over which local Kinesis servers fail; ' +
        'give it requestHandler: new NodeHttpHandler(…) from @smithy/node-http-handler',
    );
  }
  let maxAttempts: unknown = config?.maxAttempts;
  try {
    if (typeof maxAttempts === 'function') maxAttempts = await (maxAttempts as () => unknown)();
  } catch {
    maxAttempts = undefined; // e.g. a config file that cannot be read: the SDK will say so when it sends
  }
  if (typeof maxAttempts === 'number' && maxAttempts > 1) {
    problems.push(`its maxAttempts is ${maxAttempts}, so each of shardline's attempts is up to ${maxAttempts} SDK attempts; give it maxAttempts: 1`);
  }
  return problems;
}

/**
 * Warns once, with `process.emitWarning` and code `SHARDLINE_CLIENT`, if {@link clientProblems}
 * finds any. A warning rather than a refusal: both kinds of client work against the service, only
 * worse, and `maxAttempts` is only known asynchronously. Never rejects.
 */
export async function warnAboutClient(client: unknown): Promise<void> {
  const problems = await clientProblems(client);
  if (problems.length === 0) return;
  process.emitWarning(`shardline: the client given will not work well: ${problems.join('; and ')}`, { code: 'SHARDLINE_CLIENT' });
}
