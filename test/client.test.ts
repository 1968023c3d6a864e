/**
 * A client brought by the caller that will not work well: the Kinesis client's default HTTP/2
 * handler, and SDK retries on top of shardline's. Read from the client's resolved configuration;
 * nothing is sent.
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KinesisProducer } from '../src/index.js';
import { clientProblems } from '../src/client.js';
import { localClient } from './support/servers.js';

const endpoint = 'http://127.0.0.1:9';
const credentials = { accessKeyId: 'AKID', secretAccessKey: 'secret' };
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('clientProblems', () => {
  it('finds the default HTTP/2 handler and the default SDK retries', async () => {
    const client = new KinesisClient({ region: 'us-east-1', endpoint, credentials });
    cleanups.push(() => client.destroy());
    const problems = await clientProblems(client);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('HTTP/2');
    expect(problems[1]).toContain('maxAttempts is 3');
  });

  it('finds HTTP/2 when only handler options were given', async () => {
    const client = new KinesisClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1, requestHandler: { requestTimeout: 1000 } });
    cleanups.push(() => client.destroy());
    expect(await clientProblems(client)).toEqual([expect.stringContaining('HTTP/2')]);
  });

  it('finds SDK retries set on an HTTP/1.1 client', async () => {
    const client = localClient(endpoint, { maxAttempts: 4 });
    cleanups.push(() => client.destroy());
    expect(await clientProblems(client)).toEqual([expect.stringContaining('maxAttempts is 4')]);
  });

  it('finds nothing in an HTTP/1.1 client without SDK retries, nor in what it cannot read', async () => {
    const client = new KinesisClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1, requestHandler: new NodeHttpHandler() });
    cleanups.push(() => client.destroy());
    expect(await clientProblems(client)).toEqual([]);
    expect(await clientProblems({})).toEqual([]);
    expect(await clientProblems({ config: { maxAttempts: () => Promise.reject(new Error('no config file')) } })).toEqual([]);
  });
});

/** The process's warnings from now to the end of the test. */
function collectWarnings(): (Error & { code?: string })[] {
  const warnings: (Error & { code?: string })[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on('warning', onWarning);
  cleanups.push(() => process.off('warning', onWarning));
  return warnings;
}

describe('a producer given such a client', () => {
  it('warns once, with code SHARDLINE_CLIENT, naming every reason', async () => {
    const warnings = collectWarnings();
    const client = new KinesisClient({ region: 'us-east-1', endpoint, credentials });
    cleanups.push(() => client.destroy());
    const producer = new KinesisProducer({ streamName: 's', client });
    cleanups.push(() => producer.close());
    await vi.waitFor(() => expect(warnings.filter((w) => w.code === 'SHARDLINE_CLIENT')).toHaveLength(1));
    expect(warnings.find((w) => w.code === 'SHARDLINE_CLIENT')!.message).toMatch(/HTTP\/2.*maxAttempts is 3/s);
  });

  it('says nothing about a client that suits it', async () => {
    const warnings = collectWarnings();
    const producer = new KinesisProducer({ streamName: 's', client: localClient(endpoint) });
    cleanups.push(() => producer.close());
    await producer.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((w) => w.code === 'SHARDLINE_CLIENT')).toEqual([]);
  });
});
