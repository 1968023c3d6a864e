/**
 * decodeRecord on everything that is not a well-formed envelope: it follows the KCL's reading rules
 * and raises nothing but DecodeError.
 */
import fc from 'fast-check';
import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeAggregatedRecord } from '../../src/aggregation/index.js';
import type { DecodedRecord } from '../../src/aggregation/index.js';
import { DecodeError } from '../../src/errors.js';
import { hex, md5, wrapInEnvelope } from './support.js';

const { Writer } = protobuf;
type ProtoWriter = ReturnType<typeof Writer.create>;

const MAGIC = Buffer.from('f3899ac2', 'hex');

/** A valid three-record envelope used as raw material. */
const sample = encodeAggregatedRecord(['alpha', 'βeta'], ['170141183460469231731687303715884105728'], [
  { partitionKeyIndex: 0, data: Buffer.from('first record') },
  { partitionKeyIndex: 1, explicitHashKeyIndex: 0, data: Buffer.from('second') },
  { partitionKeyIndex: 0, data: new Uint8Array(0) },
]);
const sampleProtobuf = sample.subarray(4, sample.length - 16);

/** Runs decodeRecord; returns its result, or the DecodeError it threw. Any other error fails. */
function decodeSafely(data: Uint8Array): DecodedRecord | DecodeError {
  try {
    return decodeRecord(data, 'outer-key', '99');
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
}

function expectPlain(data: Uint8Array): void {
  const result = decodeRecord(data, 'outer-key', '99');
  expect(result.aggregated).toBe(false);
  expect(result.records).toHaveLength(1);
  expect(result.records[0]).toEqual({ partitionKey: 'outer-key', explicitHashKey: '99', data, subSequenceNumber: 0 });
  expect(result.records[0]?.data).toBe(data);
}

function decodeErrorOf(data: Uint8Array): DecodeError {
  const result = decodeSafely(data);
  expect(result).toBeInstanceOf(DecodeError);
  return result as DecodeError;
}

/** A protobuf `AggregatedRecord`, written with protobufjs' Writer by the test itself. */
function aggregatedRecord(write: (w: ProtoWriter) => void): Buffer {
  const w = Writer.create();
  write(w);
  return Buffer.from(w.finish());
}

/** Writes a `Record` (field 3) whose body is written by `body`. */
function record(w: ProtoWriter, body: (w: ProtoWriter) => void): void {
  w.uint32(0x1a).fork();
  body(w);
  w.ldelim();
}

describe('decodeRecord: plain records (the KCL reading rules)', () => {
  it.each([
    ['empty data', Buffer.alloc(0)],
    ['3 bytes', Buffer.from('f3899a', 'hex')],
    ['exactly the magic', MAGIC],
    ['magic and 16 bytes (no more than the MD5 remains)', Buffer.concat([MAGIC, md5(Buffer.alloc(0))])],
    ['20 bytes of an encoder with nothing to encode', encodeAggregatedRecord([], [], [])],
    ['wrong magic, MD5 right', Buffer.concat([Buffer.from('f3899ac3', 'hex'), sampleProtobuf, md5(sampleProtobuf)])],
    ['MD5 wrong in its last byte', Buffer.concat([sample.subarray(0, sample.length - 1), Buffer.from([sample[sample.length - 1]! ^ 1])])],
    ['text', Buffer.from('just some JSON {"a":1}')],
  ])('%s', (_name, data) => {
    expectPlain(data);
  });

  it('every truncation of a valid envelope is a plain record', () => {
    for (let length = 0; length < sample.length; length++) expectPlain(sample.subarray(0, length));
    expect(decodeRecord(sample, 'a').aggregated).toBe(true);
  });

  it.each([
    ['field number 0', Buffer.from('0000', 'hex')],
    ['wire type 6', Buffer.from('0e00', 'hex')],
    ['wire type 7', Buffer.from('0f00', 'hex')],
    ['an end-group tag with no group', Buffer.from('0c', 'hex')],
    ['a group that never ends', Buffer.from('2b0801', 'hex')],
    ['a key table string longer than the message', Buffer.from('0a0561', 'hex')],
    ['a varint cut off', Buffer.from('78ff', 'hex')],
    ['a Record whose length runs past the message', Buffer.from('1a0a0800', 'hex')],
    ['a field inside a Record that runs past the Record', Buffer.from('0a0161' + '1a04' + '08001a05' + '68696a6b6c', 'hex')],
    ['a Record without partition_key_index', aggregatedRecord((w) => { w.uint32(0x0a).string('a'); record(w, (r) => r.uint32(0x1a).bytes(Buffer.from('x'))); })],
    ['a Record without data', aggregatedRecord((w) => { w.uint32(0x0a).string('a'); record(w, (r) => r.uint32(0x08).uint64(0)); })],
    ['a Tag without its key', aggregatedRecord((w) => {
      w.uint32(0x0a).string('a');
      record(w, (r) => { r.uint32(0x08).uint64(0).uint32(0x1a).bytes(Buffer.from('x')); r.uint32(0x22).fork().uint32(0x12).string('v').ldelim(); });
    })],
  ])('protobuf that does not parse, behind a right MD5: %s', (_name, protobufBytes) => {
    expectPlain(wrapInEnvelope(protobufBytes));
  });
});

describe('decodeRecord: envelopes', () => {
  it('reads sub-records with their own keys, sub-sequence numbers and data views', () => {
    const result = decodeRecord(sample, 'outer', '1');
    expect(result.aggregated).toBe(true);
    expect(result.records.map((r) => [r.partitionKey, r.explicitHashKey, Buffer.from(r.data).toString(), r.subSequenceNumber])).toEqual([
      ['alpha', undefined, 'first record', 0],
      ['βeta', '170141183460469231731687303715884105728', 'second', 1],
      ['alpha', undefined, '', 2],
    ]);
    expect(result.records[1]?.data.buffer).toBe(sample.buffer);
  });

  it('reads a plain Uint8Array at an offset inside a larger buffer', () => {
    const backing = new Uint8Array(sample.length + 10);
    backing.set(sample, 7);
    const view = backing.subarray(7, 7 + sample.length);
    expect(Buffer.isBuffer(view)).toBe(false);
    const result = decodeRecord(view, 'outer');
    expect(result.records.map((r) => Buffer.from(r.data).toString())).toEqual(['first record', 'second', '']);
  });

  it('reads tags, and skips unknown fields of every wire type and known numbers with a foreign wire type', () => {
    const protobufBytes = aggregatedRecord((w) => {
      w.uint32(0x0a).string('pk');
      w.uint32((15 << 3) | 0).uint64(123456789); // unknown varint
      w.uint32((1 << 3) | 0).uint32(5); // partition_key_table number, varint wire type: unknown
      w.uint32(0x12).string('42');
      w.uint32((9 << 3) | 1).fixed64(7); // unknown 64-bit
      w.uint32((10 << 3) | 5).fixed32(7); // unknown 32-bit
      w.uint32((30 << 3) | 3).uint32((1 << 3) | 0).uint32(1).uint32((2 << 3) | 2).string('in a group').uint32((30 << 3) | 4);
      record(w, (r) => {
        r.uint32(0x08).uint64(0);
        r.uint32((20 << 3) | 2).bytes(Buffer.from('unknown bytes'));
        r.uint32(0x10).uint64(0);
        r.uint32(0x22).fork().uint32(0x0a).string('colour').uint32(0x12).string('blue').uint32((3 << 3) | 0).uint32(9).ldelim();
        r.uint32(0x1a).bytes(Buffer.from('data'));
        r.uint32(0x22).fork().uint32(0x0a).string('flag').ldelim();
        r.uint32((3 << 3) | 0).uint32(1); // data's number, varint wire type: unknown
      });
      record(w, (r) => r.uint32(0x1a).bytes(Buffer.from('second')).uint32(0x08).uint64(0)); // fields in any order
      w.uint32((16 << 3) | 2).bytes(Buffer.from('trailing unknown'));
    });
    const result = decodeRecord(wrapInEnvelope(protobufBytes), 'outer');
    expect(result.aggregated).toBe(true);
    expect(result.records).toEqual([
      {
        partitionKey: 'pk',
        explicitHashKey: '42',
        data: Buffer.from('data'),
        subSequenceNumber: 0,
        tags: [{ key: 'colour', value: 'blue' }, { key: 'flag', value: undefined }],
      },
      { partitionKey: 'pk', explicitHashKey: undefined, data: Buffer.from('second'), subSequenceNumber: 1 },
    ]);
  });

  it('an envelope with tables but no records holds no user records', () => {
    const result = decodeRecord(wrapInEnvelope(Buffer.from('0a0161', 'hex')), 'outer');
    expect(result).toEqual({ aggregated: true, records: [] });
  });

  it('reads the last value of a repeated singular field, as proto2 does', () => {
    const protobufBytes = aggregatedRecord((w) => {
      w.uint32(0x0a).string('zero').uint32(0x0a).string('one');
      record(w, (r) => r.uint32(0x08).uint64(0).uint32(0x08).uint64(1).uint32(0x1a).bytes(Buffer.from('a')).uint32(0x1a).bytes(Buffer.from('b')));
    });
    const [only] = decodeRecord(wrapInEnvelope(protobufBytes), 'outer').records;
    expect([only?.partitionKey, Buffer.from(only?.data ?? []).toString()]).toEqual(['one', 'b']);
  });
});

describe('decodeRecord: DecodeError', () => {
  const withIndexes = (pk: number, ehk?: number): Buffer =>
    wrapInEnvelope(aggregatedRecord((w) => {
      w.uint32(0x0a).string('p0').uint32(0x0a).string('p1').uint32(0x12).string('5');
      record(w, (r) => r.uint32(0x08).uint64(0).uint32(0x1a).bytes(Buffer.from('ok')));
      record(w, (r) => {
        r.uint32(0x08).uint64(pk);
        if (ehk !== undefined) r.uint32(0x10).uint64(ehk);
        r.uint32(0x1a).bytes(Buffer.from('bad'));
      });
    }));

  it('for a partition key index just past the table', () => {
    const error = decodeErrorOf(withIndexes(2));
    expect(error.message).toBe('KPL envelope record 1 points at partition key index 2, but the table has 2 entries');
    expect(error.code).toBe('DecodeError');
    expect(error.retriable).toBe(false);
  });

  it('for an explicit hash key index past the table', () => {
    expect(decodeErrorOf(withIndexes(1, 1)).message).toBe(
      'KPL envelope record 1 points at explicit hash key index 1, but the table has 1 entries',
    );
  });

  it('for an index beyond 32 bits (the KCL would truncate 2^32 to 0)', () => {
    expect(decodeErrorOf(withIndexes(2 ** 32)).message).toContain('index 4294967296');
    expect(decodeErrorOf(withIndexes(1, 2 ** 40)).message).toContain('explicit hash key index 1099511627776');
  });

  it('for data that is not bytes at all', () => {
    expect(decodeErrorOf('f3899ac2' as unknown as Uint8Array).message).toBe('record data must be a Uint8Array');
    expect(decodeErrorOf(undefined as unknown as Uint8Array)).toBeInstanceOf(DecodeError);
  });

  it('but a parse failure later in the envelope wins over a bad index earlier (the whole message parses first)', () => {
    const protobufBytes = Buffer.concat([
      aggregatedRecord((w) => record(w, (r) => r.uint32(0x08).uint64(9).uint32(0x1a).bytes(Buffer.from('x')))),
      Buffer.from('0f', 'hex'),
    ]);
    expectPlain(wrapInEnvelope(protobufBytes));
  });
});

describe('decodeRecord: fuzz', () => {
  const neverThrowsOtherThanDecodeError = (data: Uint8Array): void => {
    const result = decodeSafely(data);
    if (result instanceof DecodeError) return;
    if (!result.aggregated) expect(result.records[0]?.data).toBe(data);
    for (const r of result.records) expect(r.data).toBeInstanceOf(Uint8Array);
  };

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), neverThrowsOtherThanDecodeError), { numRuns: 2000 });
  });

  it('random bytes behind the magic and a right MD5 (they reach the parser)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (protobufBytes) => neverThrowsOtherThanDecodeError(wrapInEnvelope(protobufBytes))),
      { numRuns: 3000 },
    );
  });

  it('valid envelopes with bytes changed, MD5 fixed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        (changes) => {
          const corrupted = Buffer.from(sampleProtobuf);
          for (const { at, value } of changes) corrupted[at % corrupted.length] = value;
          neverThrowsOtherThanDecodeError(wrapInEnvelope(corrupted));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('every single-byte change of a valid envelope (flip, +1, -1), MD5 fixed', () => {
    const outcomes = new Set<string>();
    for (const change of [(b: number) => b ^ 0xff, (b: number) => (b + 1) & 0xff, (b: number) => (b + 255) & 0xff]) {
      for (let at = 0; at < sampleProtobuf.length; at++) {
        const corrupted = Buffer.from(sampleProtobuf);
        corrupted[at] = change(corrupted[at]!);
        const result = decodeSafely(wrapInEnvelope(corrupted));
        outcomes.add(result instanceof DecodeError ? 'error' : result.aggregated ? 'aggregated' : 'plain');
      }
    }
    // The flips reach all three outcomes: proof that they got past the MD5 check into the parser.
    expect([...outcomes].sort()).toEqual(['aggregated', 'error', 'plain']);
    expect(hex(sample.subarray(0, 4))).toBe('f3899ac2');
  });
});
