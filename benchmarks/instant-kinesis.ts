/**
 * A Kinesis endpoint that answers at once: HTTP/1.1 on 127.0.0.1, JSON 1.1 protocol,
 * DescribeStreamSummary (an ordinary provisioned stream: without it the producer does not aggregate),
 * ListShards with `shardCount` equal shards and PutRecords with success for every entry. It measures the
 * producer's own cost, not a server's, so it does as little as a correct answer allows: it reads
 * each entry's keys from the body's bytes ({@link putRecordsEntries}) and steps over `Data`
 * without decoding it. A real endpoint's parsing runs on its own machines; here, parsing each
 * body whole (`JSON.parse`) took ~23 ms of the 2 cores per 5 MiB call, CPU taken from the
 * producer measured.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Shard } from '@aws-sdk/client-kinesis';

const RING_BITS = 128n;

/** `count` open shards splitting 0..2^128-1 evenly (count a power of two), as ListShards lists them. */
export function equalShards(count: number): Shard[] {
  const width = (1n << RING_BITS) / BigInt(count);
  return Array.from({ length: count }, (_, i) => ({
    ShardId: shardId(i),
    HashKeyRange: {
      StartingHashKey: (width * BigInt(i)).toString(),
      EndingHashKey: (width * BigInt(i + 1) - 1n).toString(),
    },
    SequenceNumberRange: { StartingSequenceNumber: '1' },
  }));
}

function shardId(index: number): string {
  return `shardId-${String(index).padStart(12, '0')}`;
}

interface PutEntry {
  PartitionKey: string;
  ExplicitHashKey?: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The position of the quote that closes the JSON string opened at `open`. */
function closingQuote(body: Buffer, open: number): number {
  let at = body.indexOf(QUOTE, open + 1);
  for (;;) {
    if (at < 0) throw new Error('PutRecords body: unterminated string');
    let backslashes = 0;
    while (body[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = body.indexOf(QUOTE, at + 1);
  }
}

/** The JSON string from the quote at `open` to the one at `close` (a key's value: short), unescaped. */
function jsonString(body: Buffer, open: number, close: number): string {
  for (let i = open + 1; i < close; i++) if (body[i] === BACKSLASH) return JSON.parse(body.toString('utf8', open, close + 1)) as string;
  return body.toString('utf8', open + 1, close);
}

const KEYS = ['Records', 'PartitionKey', 'ExplicitHashKey'] as const;
type Key = (typeof KEYS)[number] | undefined;

/** Which of {@link KEYS} the key between the quotes at `open` and `close` is, compared byte by byte (no string made). */
function keyAt(body: Buffer, open: number, close: number): Key {
  const length = close - open - 1;
  next: for (const key of KEYS) {
    if (key.length !== length) continue;
    for (let i = 0; i < length; i++) if (body[open + 1 + i] !== key.charCodeAt(i)) continue next;
    return key;
  }
  return undefined;
}

/**
 * The `Records` entries of a PutRecords body (JSON 1.1), each with its keys, read by a tokenizer
 * that jumps over every string with a native `indexOf` and decodes only the keys' values: the
 * ~13 KiB of base64 `Data` of a 10 KiB record is never turned into a string.
 */
export function putRecordsEntries(body: Buffer): PutEntry[] {
  const entries: PutEntry[] = [];
  let depth = 0;
  let inRecords = false;
  let entry: Partial<PutEntry> = {};
  let key: Key;
  let expectKey = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === QUOTE) {
      const end = closingQuote(body, i);
      if (expectKey) {
        key = keyAt(body, i, end);
        expectKey = false;
      } else if (inRecords && depth === 3 && (key === 'PartitionKey' || key === 'ExplicitHashKey')) {
        entry[key] = jsonString(body, i, end);
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      depth++;
      expectKey = true;
      if (inRecords && depth === 3) entry = {};
    } else if (c === 0x7d /* } */) {
      if (inRecords && depth === 3) {
        if (entry.PartitionKey === undefined) throw new Error('PutRecords body: an entry without PartitionKey');
        entries.push(entry as PutEntry);
      }
      depth--;
    } else if (c === 0x5b /* [ */) {
      depth++;
      if (depth === 2 && key === 'Records') inRecords = true;
    } else if (c === 0x5d /* ] */) {
      if (depth === 2) inRecords = false;
      depth--;
    } else if (c === 0x2c /* , */) {
      expectKey = depth === 1 || (inRecords && depth === 3);
    }
  }
  return entries;
}

/**
 * Starts the endpoint; resolves with its URL. The shard of an entry is computed as the service does
 * (explicit hash key, else MD5 of the partition key) because the producer checks that an envelope
 * landed on the shard it predicted.
 */
export async function startInstantKinesis(shardCount = 4): Promise<{ endpoint: string; close: () => void }> {
  const shards = equalShards(shardCount);
  // Top bits of the hash key pick the shard: shardCount is a power of two.
  const shift = RING_BITS - BigInt(Math.log2(shardCount));
  const byteShift = 8 - Math.log2(shardCount);
  let sequence = 0;
  const shardOf = (entry: PutEntry): string => {
    const index =
      entry.ExplicitHashKey !== undefined
        ? Number(BigInt(entry.ExplicitHashKey) >> shift)
        : createHash('md5').update(entry.PartitionKey, 'utf8').digest()[0]! >> byteShift;
    return shards[index]!.ShardId!;
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      let status = 200;
      let answer: unknown;
      if (target.endsWith('.PutRecords')) {
        const records = putRecordsEntries(Buffer.concat(chunks)).map((entry) => ({
          ShardId: shardOf(entry),
          SequenceNumber: `49${String(++sequence).padStart(54, '0')}`,
        }));
        answer = { FailedRecordCount: 0, Records: records };
      } else if (target.endsWith('.ListShards')) {
        answer = { Shards: shards };
      } else if (target.endsWith('.DescribeStreamSummary')) {
        const { StreamName = 'bench' } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { StreamName?: string };
        answer = {
          StreamDescriptionSummary: {
            StreamName,
            StreamARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${StreamName}`,
            StreamStatus: 'ACTIVE',
            StreamModeDetails: { StreamMode: 'PROVISIONED' },
            RetentionPeriodHours: 24,
            StreamCreationTimestamp: 1_700_000_000,
            EnhancedMonitoring: [],
            EncryptionType: 'NONE',
            OpenShardCount: shardCount,
            ConsumerCount: 0,
          },
        };
      } else {
        status = 400;
        answer = { __type: 'UnknownOperationException', message: target };
      }
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(answer));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('instant Kinesis has no TCP address');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}
