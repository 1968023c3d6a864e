/**
 * createPutRecordsCommand: what it puts on the wire is the request the SDK's own serializer makes,
 * byte for byte, signed over that body; records sent with it are stored and read back as sent.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { PutRecordsCommand, type KinesisClient, type PutRecordsCommandInput, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyPool } from '../../src/batching/body-pool.js';
import { createPutRecordsCommand } from '../../src/batching/put-records-request.js';
import { useKinesis } from '../support/harness.js';
import { readStream } from '../support/read-stream.js';
import { createStream, localClient } from '../support/servers.js';

const SECRET = 'local-secret';
const MiB = 1024 * 1024;
const MAX_HASH_KEY = (2n ** 128n - 1n).toString();

/** A request as it arrived at the loopback server. */
interface Captured {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A loopback server that keeps every request and answers PutRecords with success for each entry (400 if not JSON). */
async function startCapture(): Promise<{ endpoint: string; requests: Captured[]; server: Server }> {
  const requests: Captured[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      let entries: unknown[];
      try {
        entries = (JSON.parse(body.toString('utf8')) as { Records?: unknown[] }).Records ?? [];
      } catch (error) {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'SerializationException', message: String(error) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ FailedRecordCount: 0, Records: entries.map((_, i) => ({ ShardId: 'shardId-000000000000', SequenceNumber: String(i + 1) })) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { endpoint: `http://127.0.0.1:${address.port}`, requests, server };
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/**
 * The SigV4 signature of a received request, computed here from what arrived (method, path, the
 * signed headers, the body) and the secret key, independently of the SDK; and the one it carried.
 */
function signatures(request: Captured): { computed: string; sent: string } {
  const match = /^AWS4-HMAC-SHA256 Credential=[^/]+\/([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
    String(request.headers.authorization),
  );
  if (match === null) throw new Error(`not a SigV4 Authorization header: ${String(request.headers.authorization)}`);
  const [, scope, signedHeaders, sent] = match as unknown as [string, string, string, string];
  const canonicalHeaders = signedHeaders
    .split(';')
    .map((name) => `${name}:${String(request.headers[name]).trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [request.method, request.url, '', canonicalHeaders, signedHeaders, sha256(request.body)].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', String(request.headers['x-amz-date']), scope, sha256(canonicalRequest)].join('\n');
  const [date, region, service, terminator] = scope.split('/') as [string, string, string, string];
  const key = hmac(hmac(hmac(hmac(`AWS4${SECRET}`, date), region), service), terminator);
  return { computed: hmac(key, stringToSign).toString('hex'), sent };
}

/** Data of `size` bytes whose first byte is never the KPL envelope's magic (0xF3), so it reads back raw. */
function data(size: number): Buffer {
  const bytes = randomBytes(size);
  if (size > 0) bytes[0] = 0x42;
  return bytes;
}

/** Partition keys that need care: multi-byte UTF-8, JSON escapes, control characters, 256 characters. */
const AWKWARD_KEYS = [
  'a',
  'key-17',
  'ключ',
  '中文分区键',
  '🙂🔑 emoji',
  'quote " and backslash \\ and slash /',
  'controls \u0000\u0001\b\t\n\f\r\u001f\u007f',
  'line separators \u2028\u2029',
  '<html> & \'single\'',
  'k'.repeat(255) + 'é',
];
const SIZES = [1, 2, 3, 4, 5, 100, 1024, 10 * 1024, 64 * 1024 + 1];

/** An entry as the tests build it: every field given. */
interface Entry extends PutRecordsRequestEntry {
  readonly PartitionKey: string;
  readonly Data: Buffer;
  readonly ExplicitHashKey: string | undefined;
}

/** Every awkward key with every size, some with an explicit hash key. */
function spread(): Entry[] {
  const explicitHashKeys = [undefined, '0', '1', MAX_HASH_KEY, '170141183460469231731687303715884105728'];
  return AWKWARD_KEYS.flatMap((PartitionKey, k) =>
    SIZES.map((size, s): Entry => ({ PartitionKey, Data: data(size), ExplicitHashKey: explicitHashKeys[(k + s) % explicitHashKeys.length] })),
  );
}

describe('createPutRecordsCommand on the wire', () => {
  let capture: Awaited<ReturnType<typeof startCapture>>;
  let client: KinesisClient;
  beforeAll(async () => {
    capture = await startCapture();
    client = localClient(capture.endpoint);
  });
  afterAll(() => {
    client.destroy();
    capture.server.close();
  });

  /** Sends `input` once with the SDK's own command, once with ours (its body from `bodies` if given); returns both requests as received. */
  async function sendBoth(input: PutRecordsCommandInput, bodies?: BodyPool): Promise<{ sdk: Captured; ours: Captured }> {
    capture.requests.length = 0;
    const sdkAnswer = await client.send(new PutRecordsCommand(input));
    const ourAnswer = await client.send(createPutRecordsCommand(input, bodies));
    expect(ourAnswer.Records).toEqual(sdkAnswer.Records);
    const [sdk, ours] = capture.requests as [Captured, Captured];
    return { sdk, ours };
  }

  it.each<[string, PutRecordsCommandInput]>([
    ['StreamName', { StreamName: 'stream-1', Records: spread() }],
    ['StreamARN', { StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/stream-1', Records: spread() }],
    ['StreamName and StreamARN', { StreamName: 's', StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/s', Records: spread() }],
    ['every other member', { StreamName: 's', StreamARN: 'arn:aws:kinesis:us-east-1:0:stream/s', StreamId: 'id-1', DryRun: true, Records: spread().slice(0, 9) }],
    ['a record of 1 MiB', { StreamName: 's', Records: [{ PartitionKey: 'big', Data: data(MiB - 3) }, { PartitionKey: 'small', Data: data(7) }] }],
    ['one record', { StreamName: 's', Records: [{ PartitionKey: 'p', Data: data(1) }] }],
    ['500 records', { StreamName: 's', Records: Array.from({ length: 500 }, (_, i) => ({ PartitionKey: `key-${i}`, Data: data(100) })) }],
    // Written a few hundred KiB at a time: entries on both sides of every step.
    ['3 MB, written over several steps', { StreamName: 's', Records: Array.from({ length: 30 }, (_, i) => ({ PartitionKey: `key-${i}`, Data: data(100 * 1024 + i) })) }],
  ])('writes the bytes the SDK writes: %s', async (_, input) => {
    const { sdk, ours } = await sendBoth(input);
    expect(ours.body.equals(sdk.body)).toBe(true);
    expect(JSON.parse(ours.body.toString('utf8'))).toEqual(JSON.parse(sdk.body.toString('utf8')));
  });

  it('writes the bytes the SDK writes for what the types allow but the service refuses', async () => {
    const pooled = Buffer.from('pooled, at an offset in a shared slab');
    const view = new Uint8Array(randomBytes(64).buffer, 5, 11);
    for (const Records of [
      [],
      [{ PartitionKey: 'empty', Data: new Uint8Array(0) }],
      [{ PartitionKey: 'no data', Data: undefined }, { Data: data(3), PartitionKey: undefined }, { PartitionKey: undefined, Data: undefined, ExplicitHashKey: '5' }],
      [{ PartitionKey: 'views', Data: pooled }, { PartitionKey: 'views', Data: view }],
      [{ PartitionKey: 'a step', Data: data(300 * 1024) }, { PartitionKey: 'no data after it', Data: undefined }, { PartitionKey: 'last', Data: data(5) }],
    ]) {
      const { sdk, ours } = await sendBoth({ StreamName: 's', Records });
      expect(ours.body.toString('utf8')).toBe(sdk.body.toString('utf8'));
      expect(ours.body.equals(sdk.body)).toBe(true);
    }
  });

  it('writes the bytes the SDK writes for any keys and data (property)', async () => {
    // Any UTF-16 code unit, lone surrogates included: the SDK and JSON.stringify both escape those.
    const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
    const key = fc.oneof(fc.string({ unit: anyCodeUnit, minLength: 1, maxLength: 256 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }));
    const entry = fc.record({
      PartitionKey: key,
      Data: fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      ExplicitHashKey: fc.option(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }).map(String), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 40 }), async (Records) => {
        const { sdk, ours } = await sendBoth({ StreamName: 'property', Records });
        expect(ours.body.equals(sdk.body)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("sends the SDK's method, path and headers, with the length of its own body", async () => {
    const { sdk, ours } = await sendBoth({ StreamName: 's', Records: spread() });
    expect(ours.method).toBe('POST');
    expect(ours.url).toBe(sdk.url);
    expect(ours.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(ours.headers['x-amz-target']).toBe('Kinesis_20131202.PutRecords');
    expect(ours.headers['content-length']).toBe(String(ours.body.length));
    // Per-call values aside (request id, time, signature), the headers are the SDK's.
    const PER_CALL = new Set(['authorization', 'x-amz-date', 'amz-sdk-invocation-id']);
    const stable = (headers: IncomingHttpHeaders): Record<string, unknown> =>
      Object.fromEntries(Object.entries(headers).filter(([name]) => !PER_CALL.has(name)));
    expect(stable(ours.headers)).toEqual(stable(sdk.headers));
  });

  it('is signed over the body it sends', async () => {
    const { ours } = await sendBoth({ StreamName: 's', Records: spread() });
    const { computed, sent } = signatures(ours);
    expect(sent).toBe(computed);
    expect(String(ours.headers.authorization)).toMatch(/SignedHeaders=[^,]*content-length/);
    if (ours.headers['x-amz-content-sha256'] !== undefined) expect(ours.headers['x-amz-content-sha256']).toBe(sha256(ours.body));
    // The check can fail: one byte changed in the body, and the signature no longer matches.
    const tampered = Buffer.from(ours.body);
    tampered[tampered.length - 3]! ^= 1;
    expect(signatures({ ...ours, body: tampered }).computed).not.toBe(sent);
  });

  it('writes each body into the memory of the body before it once that call was answered, with the bytes the SDK writes', async () => {
    const bodies = new BodyPool();
    const blocks: ArrayBufferLike[] = [];
    const take = bodies.take.bind(bodies);
    bodies.take = (length: number): Buffer => {
      const body = take(length);
      blocks.push(body.buffer);
      return body;
    };
    // The first the largest, so that every later one fits its memory.
    const inputs: PutRecordsCommandInput[] = [300, 200, 250, 120].map((size, n) => ({
      StreamName: 's',
      Records: Array.from({ length: 40 }, (_, i) => ({ PartitionKey: `call-${n}-key-${i}`, Data: data(size * 25 + i) })),
    }));
    for (const input of inputs) {
      const { sdk, ours } = await sendBoth(input, bodies);
      expect(ours.body.equals(sdk.body)).toBe(true);
    }
    expect(blocks).toHaveLength(inputs.length);
    expect(new Set(blocks).size).toBe(1);
    expect(bodies.freeCount).toBe(1);
  });

  it('keeps the body of a call that failed out of the pool', async () => {
    const failing = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'InternalFailure', message: 'no' }));
      });
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    const failingClient = localClient(`http://127.0.0.1:${(failing.address() as { port: number }).port}`);
    try {
      const bodies = new BodyPool();
      const input = { StreamName: 's', Records: [{ PartitionKey: 'p', Data: data(200 * 1024) }] };
      await expect(failingClient.send(createPutRecordsCommand(input, bodies))).rejects.toThrow();
      expect(bodies.freeCount).toBe(0);
      // The same call answered gives its body back.
      await client.send(createPutRecordsCommand(input, bodies));
      expect(bodies.freeCount).toBe(1);
    } finally {
      failingClient.destroy();
      failing.close();
    }
  });

  it("changes the command's middleware stack only, not the client's", async () => {
    const before = client.middlewareStack.identify();
    await client.send(createPutRecordsCommand({ StreamName: 's', Records: [{ PartitionKey: 'p', Data: data(10) }] }));
    expect(client.middlewareStack.identify()).toEqual(before);
    // Resolved against the client's stack, its two steps sit either side of the SDK's serializer.
    const command = createPutRecordsCommand({ StreamName: 's', Records: [] });
    const steps = client.middlewareStack.concat(command.middlewareStack).identify();
    const serializer = steps.indexOf('serializerMiddleware - serialize');
    expect(steps.slice(serializer - 1, serializer + 2)).toEqual([
      'shardlinePutRecordsWithoutRecords - before serializerMiddleware',
      'serializerMiddleware - serialize',
      'shardlinePutRecordsBody - after serializerMiddleware',
    ]);
  });
});

describe('createPutRecordsCommand through kinesalite', () => {
  const kinesis = useKinesis();
  const STREAM = 'put-records-request';
  beforeAll(async () => {
    await createStream(kinesis.admin, STREAM, 4);
  });

  it('stores every record as sent, on the shard its hash key names', async () => {
    // kinesalite takes records of up to 1 MiB of data.
    const big: Entry = { PartitionKey: 'big one', Data: data(MiB - 'big one'.length), ExplicitHashKey: undefined };
    const sent = [...spread().filter((entry) => entry.Data.length < 64 * 1024), big];
    const client = localClient(kinesis.server.endpoint);
    try {
      const answer = await client.send(createPutRecordsCommand({ StreamName: STREAM, Records: sent }));
      expect(answer.FailedRecordCount ?? 0).toBe(0);
      expect(answer.Records).toHaveLength(sent.length);
    } finally {
      client.destroy();
    }
    const { records, shards } = await readStream(kinesis.admin, STREAM);
    const key = (partitionKey: string, bytes: Uint8Array): string => `${partitionKey}\u0000${Buffer.from(bytes).toString('base64')}`;
    expect(records.map((r) => key(r.partitionKey, r.data)).sort()).toEqual(sent.map((e) => key(e.PartitionKey, e.Data)).sort());
    for (const entry of sent.filter((e) => e.ExplicitHashKey !== undefined)) {
      const stored = records.find((r) => r.partitionKey === entry.PartitionKey && Buffer.from(r.data).equals(entry.Data))!;
      const shard = shards.find((s) => s.ShardId === stored.shardId)!;
      const hashKey = BigInt(entry.ExplicitHashKey!);
      expect(hashKey >= BigInt(shard.HashKeyRange!.StartingHashKey!) && hashKey <= BigInt(shard.HashKeyRange!.EndingHashKey!)).toBe(true);
    }
  });
});
