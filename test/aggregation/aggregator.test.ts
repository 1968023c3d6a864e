import { describe, expect, it } from 'vitest';
import {
  Aggregator,
  AGGREGATED_PARTITION_KEY,
  decodeRecord,
  DEFAULT_AGGREGATION_MAX_COUNT,
  DEFAULT_AGGREGATION_MAX_SIZE,
  lengthDelimitedSize,
  recordFieldSize,
} from '../../src/aggregation/index.js';
import type { AggregatorOptions } from '../../src/aggregation/index.js';
import { ValidationError } from '../../src/errors.js';
import { expected, hex, readBack, referenceEnvelope } from './support.js';
import type { ReadBack, TestEntry } from './support.js';

const entry = (partitionKey: string, data: string | number, explicitHashKey?: string): TestEntry => ({
  partitionKey,
  explicitHashKey,
  data: typeof data === 'number' ? new Uint8Array(data).fill(0x61) : Buffer.from(data, 'utf8'),
});

function decodeEnvelope(data: Uint8Array): ReadBack[] {
  const decoded = decodeRecord(data, AGGREGATED_PARTITION_KEY);
  expect(decoded.aggregated).toBe(true);
  return readBack(decoded.records);
}

function validationErrorOf(options: AggregatorOptions): ValidationError {
  try {
    new Aggregator(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe('Aggregator options', () => {
  it('defaults to the KPL limits', () => {
    const aggregator = new Aggregator();
    expect(aggregator.maxCount).toBe(DEFAULT_AGGREGATION_MAX_COUNT);
    expect(aggregator.maxCount).toBe(4_294_967_295);
    expect(aggregator.maxSize).toBe(DEFAULT_AGGREGATION_MAX_SIZE);
    expect(aggregator.maxSize).toBe(51_200);
  });

  it('accepts the boundaries of both ranges', () => {
    expect(new Aggregator({ aggregationMaxCount: 1, aggregationMaxSize: 64 }).maxSize).toBe(64);
    expect(new Aggregator({ aggregationMaxCount: 4_294_967_295, aggregationMaxSize: 10_485_760 }).maxCount).toBe(4_294_967_295);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 4_294_967_296, '10' as unknown as number])(
    'rejects aggregationMaxCount %s, naming the field',
    (value) => {
      const error = validationErrorOf({ aggregationMaxCount: value });
      expect(error.field).toBe('aggregationMaxCount');
      expect(error.limit).toBe('an integer in 1..4294967295');
      expect(error.message).toContain('aggregationMaxCount');
    },
  );

  it.each([63, 0, 10_485_761, 100.5, Number.NaN, null as unknown as number])(
    'rejects aggregationMaxSize %s, naming the field',
    (value) => {
      const error = validationErrorOf({ aggregationMaxSize: value });
      expect(error.field).toBe('aggregationMaxSize');
      expect(error.limit).toBe('an integer in 64..10485760');
    },
  );
});

describe('Aggregator', () => {
  it('is empty at first: 20-byte envelope, nothing to send', () => {
    const aggregator = new Aggregator<TestEntry>();
    expect(aggregator.count).toBe(0);
    expect(aggregator.sizeBytes).toBe(20);
    expect(aggregator.recordSizeBytes).toBe(0);
    const drained = aggregator.drain();
    expect(drained.entries).toEqual([]);
    expect(drained.data.length).toBe(0);
    expect(drained.aggregated).toBe(false);
    expect(drained.recordSizeBytes).toBe(0);
  });

  it('sends a single entry raw: its own data object, sized with its own UTF-8 partition key', () => {
    const aggregator = new Aggregator<TestEntry>();
    const only = entry('🙂ключ', 'payload', '42');
    expect(aggregator.tryAdd(only)).toBe(true);
    // Envelope: 0a 0c <12 key bytes> | 12 02 "42" | 1a 0d 08 00 10 00 1a 07 <7 bytes>
    expect(aggregator.sizeBytes).toBe(20 + 14 + 4 + 15);
    expect(aggregator.recordSizeBytes).toBe(7 + 12);
    const drained = aggregator.drain();
    expect(drained.aggregated).toBe(false);
    expect(drained.data).toBe(only.data);
    expect(drained.entries).toEqual([only]);
    expect(drained.entries[0]).toBe(only);
    expect(drained.recordSizeBytes).toBe(19);
    expect(aggregator.count).toBe(0);
    expect(aggregator.sizeBytes).toBe(20);
  });

  it('builds an envelope for two or more, identical to the reference encoding, entries in order', () => {
    const aggregator = new Aggregator<TestEntry>();
    const entries = [entry('a', 'hi'), entry('b', 'hi'), entry('a', '', '7'), entry('中文', 'x', '7')];
    for (const e of entries) expect(aggregator.tryAdd(e)).toBe(true);
    const size = aggregator.sizeBytes;
    expect(aggregator.recordSizeBytes).toBe(size + 1);
    const drained = aggregator.drain();
    expect(drained.aggregated).toBe(true);
    expect(drained.entries).toEqual(entries);
    expect(drained.entries.every((e, i) => e === entries[i])).toBe(true);
    expect(drained.data.length).toBe(size);
    expect(drained.recordSizeBytes).toBe(size + 1);
    expect(hex(drained.data)).toBe(hex(referenceEnvelope(entries)));
    expect(decodeEnvelope(drained.data)).toEqual(expected(entries));
  });

  it('matches the worked example of docs/format.md', () => {
    const aggregator = new Aggregator<TestEntry>();
    aggregator.tryAdd(entry('a', 'hi'));
    aggregator.tryAdd(entry('b', 'hi'));
    expect(aggregator.sizeBytes).toBe(42);
    expect(hex(aggregator.drain().data)).toBe(
      'f3899ac20a01610a01621a0608001a0268691a0608011a026869dbd8f2f456cd886721d8385b34215908',
    );
  });

  it('stores each key once and counts only the new record for a repeated key', () => {
    const aggregator = new Aggregator<TestEntry>();
    aggregator.tryAdd(entry('ключ', 'aa', '99'));
    const afterFirst = aggregator.sizeBytes;
    expect(afterFirst).toBe(20 + lengthDelimitedSize(8) + lengthDelimitedSize(2) + recordFieldSize(0, 0, 2));
    aggregator.tryAdd(entry('ключ', 'bbb', '99'));
    expect(aggregator.sizeBytes - afterFirst).toBe(recordFieldSize(0, 0, 3));
    aggregator.tryAdd(entry('другой', 'c'));
    expect(aggregator.sizeBytes - afterFirst).toBe(recordFieldSize(0, 0, 3) + lengthDelimitedSize(12) + recordFieldSize(1, -1, 1));
    const data = aggregator.drain().data;
    // The key's bytes appear once in the envelope.
    expect(hex(data).split(Buffer.from('ключ').toString('hex')).length - 1).toBe(1);
  });

  it('takes an add that makes the envelope exactly aggregationMaxSize, refuses one byte more', () => {
    const first = entry('a', 30);
    const second = entry('b', 30);
    // 0a 01 61 | 0a 01 62 | 2 x (1a 22 | 08 0x | 1a 1e <30 bytes>) = 3 + 3 + 2 * 36 = 78, + 20 = 98
    const fits = new Aggregator<TestEntry>({ aggregationMaxSize: 98 });
    expect(fits.tryAdd(first)).toBe(true);
    expect(fits.tryAdd(second)).toBe(true);
    expect(fits.sizeBytes).toBe(98);
    expect(fits.drain().data.length).toBe(98);

    const tooSmall = new Aggregator<TestEntry>({ aggregationMaxSize: 97 });
    expect(tooSmall.tryAdd(first)).toBe(true);
    expect(tooSmall.tryAdd(second)).toBe(false);
    expect(tooSmall.count).toBe(1);
    expect(tooSmall.sizeBytes).toBe(20 + 3 + 36);
  });

  it('always takes the first entry, even one larger than aggregationMaxSize, and then nothing more', () => {
    const aggregator = new Aggregator<TestEntry>({ aggregationMaxSize: 64 });
    const big = entry('big', 1000);
    expect(aggregator.tryAdd(big)).toBe(true);
    expect(aggregator.sizeBytes).toBeGreaterThan(64);
    expect(aggregator.tryAdd(entry('s', 0))).toBe(false);
    const drained = aggregator.drain();
    expect(drained).toMatchObject({ aggregated: false, data: big.data, recordSizeBytes: 1003 });
    expect(aggregator.tryAdd(entry('s', 0))).toBe(true);
  });

  it('takes exactly aggregationMaxCount entries', () => {
    const aggregator = new Aggregator<TestEntry>({ aggregationMaxCount: 3 });
    expect([1, 2, 3, 4].map((i) => aggregator.tryAdd(entry(`k${i}`, i)))).toEqual([true, true, true, false]);
    expect(aggregator.count).toBe(3);
    expect(decodeEnvelope(aggregator.drain().data).map((r) => r.partitionKey)).toEqual(['k1', 'k2', 'k3']);
    expect(aggregator.tryAdd(entry('k4', 4))).toBe(true);
  });

  it('with aggregationMaxCount 1, sends every entry raw', () => {
    const aggregator = new Aggregator<TestEntry>({ aggregationMaxCount: 1 });
    expect(aggregator.tryAdd(entry('a', 1))).toBe(true);
    expect(aggregator.tryAdd(entry('a', 1))).toBe(false);
    expect(aggregator.drain().aggregated).toBe(false);
  });

  it('leaves no trace of a refused entry (its new keys are not in the tables)', () => {
    const aggregator = new Aggregator<TestEntry>({ aggregationMaxSize: 200 });
    aggregator.tryAdd(entry('a', 'one'));
    const before = aggregator.sizeBytes;
    expect(aggregator.tryAdd(entry('new-key', 500, '123456'))).toBe(false);
    expect(aggregator.sizeBytes).toBe(before);
    expect(aggregator.count).toBe(1);
    // The same new keys must be counted in full when they do come in.
    expect(aggregator.tryAdd(entry('new-key', 'two', '123456'))).toBe(true);
    expect(aggregator.sizeBytes - before).toBe(lengthDelimitedSize(7) + lengthDelimitedSize(6) + recordFieldSize(1, 0, 3));
    const data = aggregator.drain().data;
    expect(data.length).toBe(before + lengthDelimitedSize(7) + lengthDelimitedSize(6) + recordFieldSize(1, 0, 3));
    expect(decodeEnvelope(data)).toEqual(expected([entry('a', 'one'), entry('new-key', 'two', '123456')]));
  });

  it('starts afresh after drain: tables, indexes and size are reset', () => {
    const aggregator = new Aggregator<TestEntry>();
    const batches = [
      [entry('x', 'first'), entry('y', 'second', '5')],
      [entry('y', 'third'), entry('z', 'fourth', '6'), entry('x', 'fifth', '5')],
    ];
    for (const batch of batches) {
      for (const e of batch) aggregator.tryAdd(e);
      const size = aggregator.sizeBytes;
      const data = aggregator.drain().data;
      expect(data.length).toBe(size);
      expect(hex(data)).toBe(hex(referenceEnvelope(batch)));
    }
  });
});
