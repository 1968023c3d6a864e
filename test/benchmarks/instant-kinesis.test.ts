import { describe, expect, it } from 'vitest';
import { putRecordsEntries } from '../../benchmarks/instant-kinesis.js';

/** What `JSON.parse` reads of each entry's keys: what the benchmark endpoint must find without it. */
function parsedKeys(body: string): { PartitionKey: string; ExplicitHashKey?: string }[] {
  const records = (JSON.parse(body) as { Records: { PartitionKey: string; ExplicitHashKey?: string }[] }).Records;
  return records.map((r) => (r.ExplicitHashKey === undefined ? { PartitionKey: r.PartitionKey } : { ExplicitHashKey: r.ExplicitHashKey, PartitionKey: r.PartitionKey }));
}

describe('the instant endpoint reading a PutRecords body', () => {
  it('finds every entry’s keys, in order, whatever the keys hold', () => {
    const body = JSON.stringify({
      Records: [
        { Data: 'AAAA', PartitionKey: 'a' },
        { Data: Buffer.alloc(10_240, 1).toString('base64'), ExplicitHashKey: '340282366920938463463374607431768211455', PartitionKey: 'b"},{[]\\' },
        { Data: '', PartitionKey: 'ü日本\u0001' },
        { Data: 'QQ==', PartitionKey: '"PartitionKey":"x' },
      ],
      StreamName: 'with "Records":[{',
    });
    expect(putRecordsEntries(Buffer.from(body))).toEqual(parsedKeys(body));
  });

  it('reads members in any order and the stream named before the records', () => {
    const body = JSON.stringify({ StreamARN: 'arn:aws:kinesis:us-east-1:0:stream/s', Records: [{ PartitionKey: 'k', ExplicitHashKey: '7', Data: 'AA==' }] });
    expect(putRecordsEntries(Buffer.from(body))).toEqual([{ PartitionKey: 'k', ExplicitHashKey: '7' }]);
  });

  it('refuses an entry without a partition key rather than answer for it', () => {
    expect(() => putRecordsEntries(Buffer.from('{"Records":[{"Data":"AA=="}]}'))).toThrow(/without PartitionKey/);
  });
});
