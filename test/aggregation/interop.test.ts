/**
 * Interoperability with aws-kinesis-agg (the reference JavaScript implementation): what shardline
 * writes, it reads; what it writes, shardline reads.
 */
import { describe, expect, it } from 'vitest';
import { Aggregator, AGGREGATED_PARTITION_KEY, decodeRecord, encodeAggregatedRecord } from '../../src/aggregation/index.js';
import { aggregateWithLibrary, deaggregateWithLibrary, expected, hex, readBack } from './support.js';
import type { TestEntry } from './support.js';

const MAX_HASH_KEY = '340282366920938463463374607431768211455';

function entries(count: number, make: (i: number) => TestEntry): TestEntry[] {
  return Array.from({ length: count }, (_, i) => make(i));
}

const cases: [string, TestEntry[]][] = [
  ['multi-byte partition keys', [
    { partitionKey: '🙂ключ', explicitHashKey: undefined, data: Buffer.from('emoji and Cyrillic') },
    { partitionKey: '中文分区键', explicitHashKey: undefined, data: Buffer.from('CJK') },
    { partitionKey: 'ключ', explicitHashKey: undefined, data: Buffer.from([0, 1, 2, 255]) },
    { partitionKey: '🙂ключ', explicitHashKey: undefined, data: Buffer.from('repeated key') },
  ]],
  ['explicit hash keys on every record', [
    { partitionKey: 'a', explicitHashKey: '0', data: Buffer.from('lowest') },
    { partitionKey: 'b', explicitHashKey: MAX_HASH_KEY, data: Buffer.from('highest') },
    { partitionKey: 'c', explicitHashKey: '0', data: Buffer.from('shared hash key') },
  ]],
  ['empty data', [
    { partitionKey: 'e1', explicitHashKey: undefined, data: new Uint8Array(0) },
    { partitionKey: 'e2', explicitHashKey: undefined, data: new Uint8Array(0) },
    { partitionKey: 'e1', explicitHashKey: undefined, data: Buffer.from('x') },
  ]],
  ['one record', [{ partitionKey: '単独', explicitHashKey: '12345', data: Buffer.from('alone') }]],
  ['10,000 records', entries(10_000, (i) => ({
    partitionKey: `key-${i % 997}-ключ`,
    explicitHashKey: undefined,
    data: Buffer.from(`record ${i} `.repeat(i % 7)),
  }))],
];

/** Sub-sequence numbers as aws-kinesis-agg reports them. */
const positions = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

describe('shardline envelopes, read by aws-kinesis-agg', () => {
  it.each(cases)('%s (encodeAggregatedRecord)', (_name, input) => {
    const pks = [...new Set(input.map((e) => e.partitionKey))];
    const ehks = [...new Set(input.flatMap((e) => (e.explicitHashKey === undefined ? [] : [e.explicitHashKey])))];
    const envelope = encodeAggregatedRecord(pks, ehks, input.map((e) => ({
      partitionKeyIndex: pks.indexOf(e.partitionKey),
      explicitHashKeyIndex: e.explicitHashKey === undefined ? undefined : ehks.indexOf(e.explicitHashKey),
      data: e.data,
    })));
    const read = deaggregateWithLibrary(envelope, AGGREGATED_PARTITION_KEY);
    expect(read.map(({ subSequenceNumber }) => subSequenceNumber)).toEqual(positions(input.length));
    expect(read.map(({ partitionKey, explicitHashKey, data }) => ({ partitionKey, explicitHashKey, data }))).toEqual(expected(input));
  });

  it.each(cases.filter(([, input]) => input.length > 1))('%s (Aggregator)', (_name, input) => {
    const aggregator = new Aggregator<TestEntry>({ aggregationMaxSize: 1024 * 1024 });
    for (const e of input) expect(aggregator.tryAdd(e)).toBe(true);
    const drained = aggregator.drain();
    expect(drained.aggregated).toBe(true);
    const read = deaggregateWithLibrary(drained.data, AGGREGATED_PARTITION_KEY);
    expect(read.map(({ partitionKey, explicitHashKey, data }) => ({ partitionKey, explicitHashKey, data }))).toEqual(expected(input));
  });

  it('byte-identical to aws-kinesis-agg for the same records', () => {
    for (const [, input] of cases) {
      const aggregator = new Aggregator<TestEntry>({ aggregationMaxSize: 1024 * 1024 });
      for (const e of input) aggregator.tryAdd(e);
      const ours = aggregator.sizeBytes;
      const theirs = aggregateWithLibrary(input).data;
      const drained = aggregator.drain();
      // A one-record aggregator sends its record raw; compare envelopes only.
      if (drained.aggregated) expect(hex(drained.data)).toBe(hex(theirs));
      else expect(ours).toBe(theirs.length);
    }
  });

  it('reads explicit hash keys of mixed envelopes where aws-kinesis-agg can tell', () => {
    const input: TestEntry[] = [
      { partitionKey: 'p', explicitHashKey: '77', data: Buffer.from('with') },
      { partitionKey: 'q', explicitHashKey: undefined, data: Buffer.from('without') },
    ];
    const aggregator = new Aggregator<TestEntry>();
    for (const e of input) aggregator.tryAdd(e);
    const read = deaggregateWithLibrary(aggregator.drain().data, AGGREGATED_PARTITION_KEY);
    expect(read.map((r) => [r.partitionKey, r.data])).toEqual(expected(input).map((r) => [r.partitionKey, r.data]));
    expect(read[0]?.explicitHashKey).toBe('77');
    // aws-kinesis-agg reports table entry 0 for a record that has no index (it reads the proto2
    // default); shardline, like the KCL, reports none. Only the record that has one is compared.
  });

  it('a single drained entry is raw data, which aws-kinesis-agg passes through as a plain record', () => {
    const aggregator = new Aggregator<TestEntry>();
    aggregator.tryAdd({ partitionKey: 'solo', explicitHashKey: undefined, data: Buffer.from('plain') });
    const drained = aggregator.drain();
    expect(drained.aggregated).toBe(false);
    const read = deaggregateWithLibrary(drained.data, 'solo');
    expect(read).toEqual([{ partitionKey: 'solo', explicitHashKey: undefined, data: hex(Buffer.from('plain')), subSequenceNumber: undefined }]);
  });
});

describe('aws-kinesis-agg envelopes, read by shardline', () => {
  it.each(cases)('%s', (_name, input) => {
    const built = aggregateWithLibrary(input);
    const decoded = decodeRecord(built.data, built.partitionKey, built.ExplicitHashKey);
    expect(decoded.aggregated).toBe(true);
    expect(decoded.records.map((r) => r.subSequenceNumber)).toEqual(positions(input.length));
    expect(readBack(decoded.records)).toEqual(
      expected(input),
    );
  });

  it('reads records with and without explicit hash keys in one envelope', () => {
    const input: TestEntry[] = [
      { partitionKey: 'p', explicitHashKey: undefined, data: Buffer.from('without') },
      { partitionKey: 'q', explicitHashKey: '77', data: Buffer.from('with') },
      { partitionKey: 'p', explicitHashKey: undefined, data: Buffer.from('without again') },
    ];
    const built = aggregateWithLibrary(input);
    const decoded = decodeRecord(built.data, built.partitionKey);
    expect(readBack(decoded.records)).toEqual(
      expected(input),
    );
  });
});
