import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import {
  decodeRecord,
  encodeAggregatedRecord,
  ENVELOPE_OVERHEAD,
  KPL_MAGIC,
  lengthDelimitedSize,
  NO_EXPLICIT_HASH_KEY,
  recordFieldSize,
  varintSize,
} from '../../src/aggregation/index.js';
import { ValidationError } from '../../src/errors.js';
import { hex, md5 } from './support.js';

const { Writer } = protobuf;
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('envelope constants', () => {
  it('has the KPL magic and a 20-byte overhead', () => {
    expect(hex(KPL_MAGIC)).toBe('f3899ac2');
    expect(ENVELOPE_OVERHEAD).toBe(20);
  });
});

describe('size functions', () => {
  it('varintSize agrees with protobufjs at every length boundary', () => {
    const values = [0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 1, 2 ** 32];
    values.push(2 ** 35 - 1, 2 ** 35, 2 ** 42 - 1, 2 ** 42, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER);
    for (const value of values) {
      expect(varintSize(value), String(value)).toBe(Writer.create().uint64(value).finish().length);
    }
    expect([0, 127, 128, 16383, 16384, 2 ** 32 - 1, 2 ** 35].map(varintSize)).toEqual([1, 1, 2, 2, 3, 5, 6]);
  });

  it('lengthDelimitedSize counts key, length and payload', () => {
    expect(lengthDelimitedSize(0)).toBe(2);
    expect(lengthDelimitedSize(127)).toBe(129);
    expect(lengthDelimitedSize(128)).toBe(131);
  });

  it('recordFieldSize counts both indexes and the data field', () => {
    // 1a 06 | 08 00 | 1a 02 68 69
    expect(NO_EXPLICIT_HASH_KEY).toBe(-1);
    expect(recordFieldSize(0, NO_EXPLICIT_HASH_KEY, 2)).toBe(8);
    // 1a 08 | 08 00 | 10 00 | 1a 02 68 69
    expect(recordFieldSize(0, 0, 2)).toBe(10);
    // body: 08 80 01 | 10 80 01 | 1a 80 01 <128 bytes> = 3 + 3 + 131 = 137 -> 1a 89 01 <137>
    expect(recordFieldSize(128, 128, 128)).toBe(140);
  });
});

describe('encodeAggregatedRecord', () => {
  it('writes the worked example of docs/format.md byte for byte', () => {
    const envelope = encodeAggregatedRecord(['a', 'b'], [], [
      { partitionKeyIndex: 0, data: utf8('hi') },
      { partitionKeyIndex: 1, data: utf8('hi') },
    ]);
    const protobufHex = '0a0161' + '0a0162' + '1a0608001a026869' + '1a0608011a026869';
    expect(hex(envelope)).toBe('f3899ac2' + protobufHex + 'dbd8f2f456cd886721d8385b34215908');
    expect(hex(envelope.subarray(26))).toBe(hex(md5(Buffer.from(protobufHex, 'hex'))));
    expect(envelope.length).toBe(42);
  });

  it('writes explicit hash keys and their indexes', () => {
    const envelope = encodeAggregatedRecord(['k'], ['0', '340282366920938463463374607431768211455'], [
      { partitionKeyIndex: 0, explicitHashKeyIndex: 1, data: utf8('x') },
      { partitionKeyIndex: 0, data: new Uint8Array(0) },
    ]);
    const protobufHex =
      '0a016b' +
      '120130' +
      '1227' + utf8('340282366920938463463374607431768211455').toString('hex') +
      '1a0708001001' + '1a0178' +
      '1a04' + '0800' + '1a00';
    expect(hex(envelope.subarray(4, envelope.length - 16))).toBe(protobufHex);
    expect(hex(envelope.subarray(envelope.length - 16))).toBe(hex(md5(Buffer.from(protobufHex, 'hex'))));
  });

  it('writes multi-byte keys with their UTF-8 byte length', () => {
    const key = '🙂ключ中文';
    const envelope = encodeAggregatedRecord([key], [], [{ partitionKeyIndex: 0, data: utf8('d') }]);
    expect(hex(envelope.subarray(4, 4 + 2 + 18))).toBe('0a12' + utf8(key).toString('hex'));
  });

  it('encodes nothing as exactly the 20-byte overhead (MD5 of no bytes)', () => {
    const envelope = encodeAggregatedRecord([], [], []);
    expect(hex(envelope)).toBe('f3899ac2' + 'd41d8cd98f00b204e9800998ecf8427e');
  });

  it('predicts lengths across varint boundaries of data and keys', () => {
    for (const dataLength of [0, 1, 127, 128, 16_383, 16_384, 70_000]) {
      for (const keyLength of [1, 127, 128, 256]) {
        const key = 'k'.repeat(keyLength);
        const data = new Uint8Array(dataLength).fill(7);
        const envelope = encodeAggregatedRecord([key], [], [
          { partitionKeyIndex: 0, data },
          { partitionKeyIndex: 0, data },
        ]);
        expect(envelope.length).toBe(ENVELOPE_OVERHEAD + lengthDelimitedSize(keyLength) + 2 * recordFieldSize(0, -1, dataLength));
        const decoded = decodeRecord(envelope, 'a');
        expect(decoded.aggregated).toBe(true);
        expect(decoded.records.map((r) => [r.partitionKey, r.data.length])).toEqual([[key, dataLength], [key, dataLength]]);
      }
    }
  });

  it('copies data, so later changes to the input do not alter the envelope', () => {
    const data = utf8('abc');
    const envelope = encodeAggregatedRecord(['k'], [], [{ partitionKeyIndex: 0, data }, { partitionKeyIndex: 0, data }]);
    const before = hex(envelope);
    data[0] = 0;
    expect(hex(envelope)).toBe(before);
  });

  it.each([
    ['partitionKeyIndex', { partitionKeyIndex: 1, data: new Uint8Array(0) }],
    ['partitionKeyIndex', { partitionKeyIndex: -1, data: new Uint8Array(0) }],
    ['partitionKeyIndex', { partitionKeyIndex: 0.5, data: new Uint8Array(0) }],
    ['explicitHashKeyIndex', { partitionKeyIndex: 0, explicitHashKeyIndex: 1, data: new Uint8Array(0) }],
    ['explicitHashKeyIndex', { partitionKeyIndex: 0, explicitHashKeyIndex: Number.NaN, data: new Uint8Array(0) }],
  ])('rejects an index outside its table (%s)', (field, record) => {
    let error: unknown;
    try {
      encodeAggregatedRecord(['only'], ['1'], [record]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as ValidationError).limit).toBe('an integer in 0..0');
  });
});
