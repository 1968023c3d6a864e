/**
 * The Kinesis client shardline builds when the caller brings none.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ProducerOptions } from './config.js';

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
