/**
 * Per-file test setup: a local Kinesis server (kinesalite unless told otherwise), an admin client to
 * it, and optionally the fault proxy in front of it, started before the file's tests and stopped
 * after them. Call at the top of a file or inside a `describe`.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { createStream, localClient, startKinesalite, type LocalKinesis } from './servers.js';

/** What {@link useKinesis} provides; read its fields inside tests and hooks (they are set in `beforeAll`). */
export interface KinesisHarness {
  readonly server: LocalKinesis;
  /** A client straight to the server, for setting up streams and reading them back. */
  readonly admin: KinesisClient;
  /** The fault proxy in front of the server; only with `proxySeed`. Its faults and stats are cleared after each test. */
  readonly proxy: FaultProxy;
  /** Creates a stream of `shards` shards under a name no other test of the file uses, and waits until it is active. */
  newStream(shards: number): Promise<string>;
}

/** Starts a local Kinesis (and the proxy with `proxySeed`) for the tests of the current file or suite. */
export function useKinesis(options: { start?: () => Promise<LocalKinesis>; proxySeed?: number } = {}): KinesisHarness {
  const harness: { server?: LocalKinesis; admin?: KinesisClient; proxy?: FaultProxy } = {};
  beforeAll(async () => {
    harness.server = await (options.start ?? startKinesalite)();
    harness.admin = localClient(harness.server.endpoint);
    if (options.proxySeed !== undefined) harness.proxy = await startFaultProxy({ target: harness.server.endpoint, seed: options.proxySeed });
  });
  if (options.proxySeed !== undefined) {
    afterEach(() => {
      harness.proxy?.clearFaults();
      harness.proxy?.resetStats();
    });
  }
  afterAll(async () => {
    harness.admin?.destroy();
    await harness.proxy?.close();
    await harness.server?.stop();
  });
  let streams = 0;
  return {
    async newStream(shards: number): Promise<string> {
      const name = `stream-${++streams}`;
      await createStream(harness.admin!, name, shards);
      return name;
    },
    get server() {
      return harness.server!;
    },
    get admin() {
      return harness.admin!;
    },
    get proxy() {
      if (harness.proxy === undefined) throw new Error('useKinesis was called without proxySeed');
      return harness.proxy;
    },
  };
}
