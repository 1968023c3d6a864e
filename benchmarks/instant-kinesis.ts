/**
 * A Kinesis endpoint that answers at once: HTTP/1.1 on 127.0.0.1, JSON 1.1 protocol,
 * DescribeStreamSummary (an ordinary provisioned stream: without it the producer does not aggregate),
 * ListShards with `shardCount` equal shards and PutRecords with success for every entry. It measures the
 * producer's own cost, not a server's, so it does as little as a correct answer allows: it parses
 * the body (a real server must too) but never decodes `Data`.
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
  readonly PartitionKey: string;
  readonly ExplicitHashKey?: string;
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
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Records: PutEntry[] };
        const records = body.Records.map((entry) => ({
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
