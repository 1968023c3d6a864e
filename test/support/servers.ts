/**
 * Local Kinesis-compatible servers for tests, demo and benchmarks, each on 127.0.0.1 and a free port.
 * kinesalite runs in-process (fast, strict validation); kinesis-local runs as a child process
 * (slower, but it has UpdateShardCount, ChildShards, StreamARN and on-demand streams).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  type KinesisClientConfig,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const require = createRequire(import.meta.url);

/** A running local Kinesis endpoint. */
export interface LocalKinesis {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts kinesalite in this process on 127.0.0.1 and a free port. */
export async function startKinesalite(options: { shardLimit?: number } = {}): Promise<LocalKinesis> {
  const kinesalite = require('kinesalite') as (opts: object) => Server;
  const server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: options.shardLimit ?? 2000,
  });
  return serveOnLoopback(server, 'kinesalite');
}

/** Listens on 127.0.0.1 and a free port; `stop()` also drops kept-alive connections. */
async function serveOnLoopback(server: Server, name: string): Promise<LocalKinesis> {
  // Node closes idle kept-alive connections after 5 s, racing a client that reuses one at that
  // moment (ECONNRESET on an innocent call). Tests reuse clients across longer pauses than that.
  (server as Server & { keepAliveTimeout?: number }).keepAliveTimeout = 10 * 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`${name} has no TCP address`);
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    port: address.port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Starts kinesis-local (kinesis-mock) as a child process, plain HTTP on 127.0.0.1. */
export async function startKinesisLocal(): Promise<LocalKinesis> {
  const main = require.resolve('kinesis-local/main.js');
  const plainPort = await freePort();
  const tlsPort = await freePort();
  const child: ChildProcess = spawn(process.execPath, [main], {
    cwd: dirname(main),
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(plainPort),
      KINESIS_MOCK_TLS_PORT: String(tlsPort),
      KINESIS_MOCK_HOST: '127.0.0.1',
      CREATE_STREAM_DURATION: '0ms',
      DELETE_STREAM_DURATION: '0ms',
      UPDATE_SHARD_COUNT_DURATION: '0ms',
      SPLIT_SHARD_DURATION: '0ms',
      MERGE_SHARDS_DURATION: '0ms',
      START_STREAM_ENCRYPTION_DURATION: '0ms',
      STOP_STREAM_ENCRYPTION_DURATION: '0ms',
      LOG_LEVEL: 'WARN',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const endpoint = `http://127.0.0.1:${plainPort}`;
  const client = localClient(endpoint);
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`kinesis-local exited: ${output}`);
      try {
        await client.send(new DescribeStreamSummaryCommand({ StreamName: 'probe-not-there' }));
        break;
      } catch (error) {
        if ((error as { name?: string }).name === 'ResourceNotFoundException') break;
        if (Date.now() > deadline) throw new Error(`kinesis-local did not start: ${String(error)}\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    port: plainPort,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** An SDK client for a local server: HTTP/1.1 (the local servers mishandle HTTP/2), dummy credentials, no SDK retries. */
export function localClient(endpoint: string, extra: Partial<KinesisClientConfig> = {}): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 30_000 }),
    maxAttempts: 1,
    ...extra,
  });
}

/** Creates a stream and waits until it is ACTIVE. */
export async function createStream(client: KinesisClient, streamName: string, shardCount: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  await waitForActive(client, streamName);
}

/** Waits until a stream is ACTIVE (after creating or resharding it); returns its ARN. */
export async function waitForActive(client: KinesisClient, streamName: string): Promise<string | undefined> {
  for (let i = 0; i < 300; i++) {
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return summary.StreamDescriptionSummary.StreamARN;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`stream ${streamName} did not become ACTIVE`);
}

/** A request received by a {@link startFakeKinesis} endpoint. */
export interface FakeKinesisRequest {
  /** The operation, from `X-Amz-Target` (`Kinesis_20131202.ListShards` → `ListShards`). */
  readonly operation: string;
  /** The parsed JSON body. */
  readonly body: Record<string, unknown>;
  /** `Date.now()` when the request arrived. */
  readonly receivedAt: number;
}

/** A fake endpoint's answer: a JSON body, HTTP 200 unless `status` says otherwise. */
export interface FakeKinesisReply {
  readonly status?: number;
  readonly body: unknown;
}

/** A running {@link startFakeKinesis} endpoint, with every request it received, oldest first. */
export interface FakeKinesis extends LocalKinesis {
  readonly requests: FakeKinesisRequest[];
}

/** A Kinesis JSON-protocol error answer, as the SDK parses it (`__type` becomes the error's name). */
export function kinesisError(type: string, message: string, status = 400): FakeKinesisReply {
  return { status, body: { __type: type, message } };
}

/**
 * Starts a tiny HTTP/1.1 server on 127.0.0.1 speaking the Kinesis JSON 1.1 protocol, answering each
 * request with `handler` (a throw becomes a 500 InternalFailure). For faults and paging that the
 * local servers cannot produce; use it through {@link localClient}.
 */
export async function startFakeKinesis(
  handler: (request: FakeKinesisRequest) => FakeKinesisReply | Promise<FakeKinesisReply>,
): Promise<FakeKinesis> {
  const requests: FakeKinesisRequest[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const text = Buffer.concat(chunks).toString('utf8');
      const request: FakeKinesisRequest = {
        operation: target.slice(target.indexOf('.') + 1),
        body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
        receivedAt: Date.now(),
      };
      requests.push(request);
      Promise.resolve()
        .then(() => handler(request))
        .catch((error: unknown) => kinesisError('InternalFailure', String(error), 500))
        .then((reply) => {
          res.writeHead(reply.status ?? 200, {
            'content-type': 'application/x-amz-json-1.1',
            'x-amzn-requestid': `fake-${requests.length}`,
          });
          res.end(JSON.stringify(reply.body));
        }, () => res.destroy());
    });
  });
  return { ...(await serveOnLoopback(server, 'fake Kinesis')), requests };
}
