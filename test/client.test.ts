/**
 * The client shardline builds, against an endpoint that accepts connections and never answers:
 * every call ends at `requestTimeout` as an error, and nothing is written to the console.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KinesisProducer, UserRecordFailedError } from '../src/index.js';

describe('the client shardline builds', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  let endpoint: string;
  beforeAll(async () => {
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('ends calls nobody answers at requestTimeout, as errors, without console warnings', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const producer = new KinesisProducer({
      streamName: 'silent',
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
      requestTimeout: 300,
      recordTtl: 2000,
    });
    const failure = await producer.put({ partitionKey: 'k', data: 'x' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(UserRecordFailedError);
    expect((failure as UserRecordFailedError).errorCode).toBe('Expired');
    // ListShards and DescribeStreamSummary, which shardline does not time itself, failed too.
    expect(producer.streamStatus()?.lastError?.message).toMatch(/timeout|timed out/i);
    await producer.close();
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });
});
