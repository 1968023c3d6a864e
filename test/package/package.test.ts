/**
 * The package as npm users get it: `npm pack` (which builds dist through `prepack`), installed from
 * the registry into fresh projects outside this repository, then used there against kinesalite:
 * - an ES module and a CommonJS consumer with the SDK version this repository develops against;
 * - a TypeScript consumer compiled (strict, exactOptionalPropertyTypes) and run against the oldest
 *   SDK the peer range allows, passing it a client of that SDK (and type-checking one of the newest);
 * - a Lambda-style handler bundled with esbuild, the SDK external (protobufjs must not be in it)
 *   and fully bundled as ESM, run from a directory without node_modules.
 * Needs the npm registry; takes a minute or two, most of it `npm install`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useKinesis } from '../support/harness.js';
import { createStream } from '../support/servers.js';
import { readStream } from '../support/read-stream.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const version = (name: string): string => (require(`${name}/package.json`) as { version: string }).version;

/** The oldest versions the peer ranges in package.json allow (found by trying older ones). */
const OLDEST_SDK = '3.363.0';
const OLDEST_HTTP_HANDLER = '1.0.2';
const INSTALL_TIMEOUT = 240_000;
const STREAM = 'package-test';

/** A producer that puts `count` records and prints their results as JSON; shared by the consumers. */
const producerBody = (count: number): string => `
const producer = new KinesisProducer({
  streamName: ${JSON.stringify(STREAM)},
  endpoint: process.env.ENDPOINT,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const results = await Promise.all(
  Array.from({ length: ${count} }, (_, i) => producer.put({ partitionKey: process.env.TAG + '-' + i, data: 'record ' + i })),
);
await producer.close();
// The decoder too (protobufjs inside dist): an envelope of two records, read back.
const envelope = encodeAggregatedRecord(['a', 'b'], [], [{ partitionKeyIndex: 1, data: new Uint8Array([7]) }, { partitionKeyIndex: 0, data: new Uint8Array([8]) }]);
const decoded = decodeRecord(envelope, 'outer').records.map((r) => r.partitionKey + r.data[0]);
console.log(JSON.stringify(results.map((r) => r.shardId).concat(decoded)));
`;

const esmConsumer = `import { KinesisProducer, decodeRecord, encodeAggregatedRecord } from 'shardline';\n${producerBody(20)}`;
// CommonJS has no top-level await: the same body inside an async function.
const cjsConsumer = `const { KinesisProducer, decodeRecord, encodeAggregatedRecord } = require('shardline');\n(async () => {${producerBody(20)}})();`;

/** Compiled against the oldest SDK: both a client of that SDK and one of the newest must be accepted. */
const typedConsumer = `
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { KinesisClient as NewestKinesisClient } from 'newest-client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KinesisProducer, type KinesisClientLike } from 'shardline';

const config = {
  endpoint: process.env['ENDPOINT'] ?? '',
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 1,
};
const client = new KinesisClient({ ...config, requestHandler: new NodeHttpHandler() });
// Another copy and version of the SDK: only its type is checked (its default handler is HTTP/2,
// which kinesalite does not speak).
const newest: KinesisClientLike = new NewestKinesisClient(config);
newest.destroy();
const producer = new KinesisProducer({ streamName: ${JSON.stringify(STREAM)}, client, aggregationEnabled: false });
const shardIds = await Promise.all(
  [0, 1].map((i) => producer.put({ partitionKey: (process.env['TAG'] ?? '') + i, data: new Uint8Array([i]) }).then((r) => r.shardId)),
);
await producer.close();
client.destroy();
console.log(JSON.stringify(shardIds));
`;

/** A Lambda handler as a user would write it: the producer at module scope, flushed per invocation. */
const lambdaHandler = `
import { KinesisProducer } from 'shardline';
const producer = new KinesisProducer({
  streamName: ${JSON.stringify(STREAM)},
  endpoint: process.env.ENDPOINT,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
export async function handler(event) {
  const results = await Promise.all(event.records.map((data, i) => producer.put({ partitionKey: event.tag + '-' + i, data })));
  await producer.flush();
  return results.map((r) => r.shardId);
}
`;
/** Invokes a bundled handler once and prints its answer (then exits: the producer keeps sockets open). */
const invoke = (file: string): string => `
const { handler } = await import(${JSON.stringify(file)});
console.log(JSON.stringify(await handler({ tag: process.env.TAG, records: ['a', 'b', 'c', 'd'] })));
process.exit(0);
`;

function project(dir: string, type: 'module' | 'commonjs'): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type }));
}

async function npmInstall(dir: string, specs: string[]): Promise<void> {
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs], { cwd: dir, timeout: INSTALL_TIMEOUT });
}

/** Runs `node file` in `cwd` with the endpoint and a tag for partition keys; returns its parsed stdout. */
async function runNode(cwd: string, args: string[], tag: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, args, {
    cwd,
    timeout: 60_000,
    env: { ...process.env, ENDPOINT: kinesis.server.endpoint, TAG: tag },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
}

const kinesis = useKinesis();
const work = mkdtempSync(join(tmpdir(), 'shardline-package-'));
const newest = join(work, 'newest');
const oldest = join(work, 'oldest');

beforeAll(async () => {
  await createStream(kinesis.admin, STREAM, 2);
  // prepack builds dist: the tarball is what `npm publish` would upload.
  await run('npm', ['pack', '--pack-destination', work], { cwd: repo, timeout: INSTALL_TIMEOUT });
  const tarball = join(work, readdirSync(work).find((name) => name.endsWith('.tgz'))!);
  project(newest, 'module');
  project(oldest, 'module');
  await Promise.all([
    npmInstall(newest, [
      tarball,
      `@aws-sdk/client-kinesis@${version('@aws-sdk/client-kinesis')}`,
      `@smithy/node-http-handler@${version('@smithy/node-http-handler')}`,
    ]),
    npmInstall(oldest, [
      tarball,
      `@aws-sdk/client-kinesis@${OLDEST_SDK}`,
      `@smithy/node-http-handler@${OLDEST_HTTP_HANDLER}`,
      `newest-client-kinesis@npm:@aws-sdk/client-kinesis@${version('@aws-sdk/client-kinesis')}`,
    ]),
  ]);
}, 2 * INSTALL_TIMEOUT);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every record the consumers put, by tag, as read back from the stream. */
async function readBack(tag: string): Promise<number> {
  const { records } = await readStream(kinesis.admin, STREAM);
  return records.filter((record) => record.partitionKey.startsWith(tag)).length;
}

describe('the packed tarball, installed', () => {
  it('ships LICENSE, every file the README links to, and dist with its third-party licenses', () => {
    const root = join(newest, 'node_modules', 'shardline');
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toContain('Apache License');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\((?!https?:)([^)#]+)/g)].map((match) => match[1]!);
    expect(links.filter((link) => link.startsWith('examples/')).length).toBeGreaterThan(0);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(() => readFileSync(join(root, link))).not.toThrow();
    expect(readFileSync(join(root, 'dist/esm/THIRD-PARTY-LICENSES.md'), 'utf8')).toContain('protobufjs');
  });

  it.each([
    { format: 'an ES module', type: 'module', source: esmConsumer, tag: 'esm' },
    { format: 'CommonJS', type: 'commonjs', source: cjsConsumer, tag: 'cjs' },
  ] as const)('works from $format', async ({ type, source, tag }) => {
    const dir = join(newest, tag);
    project(dir, type);
    writeFileSync(join(dir, 'consumer.js'), source);
    const answer = await runNode(dir, ['consumer.js'], tag);
    expect(answer.slice(20)).toEqual(['b7', 'a8']);
    expect(await readBack(`${tag}-`)).toBe(20);
  });

  it('compiles against the oldest SDK, accepting clients of the oldest and the newest, and runs', async () => {
    writeFileSync(join(oldest, 'consumer.ts'), typedConsumer);
    writeFileSync(
      join(oldest, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          skipLibCheck: true,
          typeRoots: [join(repo, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    );
    await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', '.'], { cwd: oldest, timeout: 120_000 }).catch(
      (error: { stdout?: string }) => {
        throw new Error(`tsc failed:\n${error.stdout ?? String(error)}`);
      },
    );
    const shardIds = await runNode(oldest, ['consumer.js'], 'typed-');
    expect(shardIds).toHaveLength(2);
    expect(await readBack('typed-')).toBe(2);
  });
});

describe('a Lambda handler bundled with esbuild', () => {
  it('leaves protobufjs out when the SDK is external and the handler never decodes', async () => {
    writeFileSync(join(newest, 'handler.mjs'), lambdaHandler);
    const result = await build({
      absWorkingDir: newest,
      entryPoints: ['handler.mjs'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      minify: true,
      external: ['@aws-sdk/*', '@smithy/*'],
      outfile: join(newest, 'external.mjs'),
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((input) => input.includes('node_modules/shardline/'))).toBe(true);
    expect(inputs.filter((input) => /protobufjs|long\//.test(input))).toEqual([]);
    expect(await runNode(newest, ['--input-type=module', '-e', invoke('./external.mjs')], 'external')).toHaveLength(4);
    expect(await readBack('external-')).toBe(4);
  });

  it('runs fully bundled as ESM from a directory without node_modules', async () => {
    writeFileSync(join(newest, 'handler.mjs'), lambdaHandler);
    const bare = join(work, 'lambda');
    mkdirSync(bare);
    await build({
      absWorkingDir: newest,
      entryPoints: ['handler.mjs'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      // The SDK's ES module builds: its CommonJS builds require() Node's built-ins, which an ES
      // module bundle cannot do ("Dynamic require of "node:https" is not supported").
      mainFields: ['module', 'main'],
      outfile: join(bare, 'index.mjs'),
      logLevel: 'silent',
    });
    expect(await runNode(bare, ['--input-type=module', '-e', invoke('./index.mjs')], 'bundled')).toHaveLength(4);
    expect(await readBack('bundled-')).toBe(4);
  });
});
