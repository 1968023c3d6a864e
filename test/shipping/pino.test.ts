/**
 * `shardline/pino` as pino loads it: a real logger in a child process writes through the transport
 * (in pino's worker thread) into kinesalite, the process ends without flushing by hand, and every
 * line is read back once, keyed by the field the options name.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { useKinesis } from '../support/harness.js';
import { readStream } from '../support/read-stream.js';
import { createStream } from '../support/servers.js';

const kinesis = useKinesis();
const root = fileURLToPath(new URL('../../', import.meta.url));
// pino's worker loads the transport by path with plain Node (no tsx there), so the test bundles
// the source; under node_modules so that its dependencies resolve as from the package.
const bundle = `${root}node_modules/.cache/shardline-test/pino.mjs`;

beforeAll(async () => {
  await build({ entryPoints: [`${root}src/pino.ts`], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: bundle, logLevel: 'error' });
});

function runLogger(streamName: string, count: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', `${root}test/shipping/pino-logger.fixture.ts`, bundle, kinesis.server.endpoint, streamName, `${count}`],
    { env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local-secret', NODE_NO_WARNINGS: '1' }, stdio: ['ignore', 'inherit', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

describe('shardline/pino', () => {
  it('puts every line of a real pino logger, keyed by a field, flushed when the process ends', async () => {
    const streamName = 'pino-logs';
    await createStream(kinesis.admin, streamName, 2);
    const { code, stderr } = await runLogger(streamName, 5000);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const contents = await readStream(kinesis.admin, streamName);
    const seen = new Map<number, number>();
    for (const record of contents.records) {
      const line = JSON.parse(Buffer.from(record.data).toString('utf8')) as { seq: number; user: string; msg: string; level: number };
      expect(record.partitionKey).toBe(line.user);
      expect(line.msg).toBe(`${line.seq}|line`);
      seen.set(line.seq, (seen.get(line.seq) ?? 0) + 1);
    }
    expect(contents.records).toHaveLength(5000);
    expect(seen.size).toBe(5000);
  });
});
