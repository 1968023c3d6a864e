import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.js';
import {
  DEFAULT_MAX_USER_RECORD_SIZE,
  MAX_EXPLICIT_HASH_KEY,
  MAX_USER_RECORD_SIZE_LIMIT,
  validateExplicitHashKey,
  validateInteger,
  validateMaxUserRecordSize,
  validateClientSettings,
  validateOptionNames,
  validateRecordObject,
  validateStreamRef,
  validateUserRecord,
} from '../src/validation.js';

const MiB = 1_048_576;

/** Runs `fn`, expecting a ValidationError, and returns it. */
function failure(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

const record = (fields: { partitionKey?: unknown; data?: unknown; explicitHashKey?: unknown }) => ({
  partitionKey: 'pk' as unknown,
  data: 'x' as unknown,
  ...fields,
});

describe('validateUserRecord: partitionKey', () => {
  it('accepts 1 and 256 UTF-16 code units', () => {
    expect(validateUserRecord(record({ partitionKey: 'a' }), MiB).partitionKey).toBe('a');
    expect(validateUserRecord(record({ partitionKey: 'a'.repeat(256) }), MiB).partitionKeyBytes).toBe(256);
  });

  it('refuses 0 and 257 code units, naming field and limit', () => {
    for (const partitionKey of ['', 'a'.repeat(257)]) {
      const error = failure(() => validateUserRecord(record({ partitionKey }), MiB));
      expect(error.field).toBe('partitionKey');
      expect(error.limit).toBe('1..256 UTF-16 code units');
      expect(error.code).toBe('ValidationError');
      expect(error.retriable).toBe(false);
      expect(error.message).toContain(`has ${partitionKey.length} UTF-16 code units`);
    }
  });

  it('counts code units, not code points: 128 emoji fit, 129 do not', () => {
    const ok = validateUserRecord(record({ partitionKey: '😀'.repeat(128) }), MiB);
    expect(ok.partitionKeyBytes).toBe(512);
    expect(failure(() => validateUserRecord(record({ partitionKey: '😀'.repeat(129) }), MiB)).field).toBe('partitionKey');
  });

  it.each([
    ['a lone high surrogate at the end', 'abc\ud83d'],
    ['a lone low surrogate', '\ude00abc'],
    ['reversed pair', 'x\ude00\ud83dy'],
    ['a lone high surrogate before a letter', '\ud83dx'],
  ])('refuses %s', (_, partitionKey) => {
    const error = failure(() => validateUserRecord(record({ partitionKey }), MiB));
    expect(error.field).toBe('partitionKey');
    expect(error.limit).toBe('well-formed UTF-16 (no lone surrogates)');
  });

  it.each([[undefined], [null], [42], [{}], [Buffer.from('pk')]])('refuses a non-string %j', (partitionKey) => {
    const error = failure(() => validateUserRecord(record({ partitionKey }), MiB));
    expect(error.field).toBe('partitionKey');
    expect(error.limit).toBe('a string');
  });

  it('reports the partition key size in UTF-8 bytes', () => {
    expect(validateUserRecord(record({ partitionKey: 'abc' }), MiB).partitionKeyBytes).toBe(3);
    expect(validateUserRecord(record({ partitionKey: 'é' }), MiB).partitionKeyBytes).toBe(2);
    expect(validateUserRecord(record({ partitionKey: '日本' }), MiB).partitionKeyBytes).toBe(6);
    expect(validateUserRecord(record({ partitionKey: '😀' }), MiB).partitionKeyBytes).toBe(4);
  });
});

describe('validateUserRecord: the record itself', () => {
  it.each([[null], [undefined], [42], ['pk'], [true]])('refuses %j with field record, not a TypeError', (value) => {
    for (const check of [() => validateUserRecord(value, MiB), () => validateRecordObject(value)]) {
      const error = failure(check);
      expect(error.field).toBe('record');
      expect(error.limit).toBe('an object with partitionKey and data');
    }
  });
});

describe('validateUserRecord: explicitHashKey', () => {
  it.each(['0', '1', '9', '10', MAX_EXPLICIT_HASH_KEY, '99999999999999999999999999999999999999', '340282366920938463463374607431768211454'])(
    'accepts %s',
    (explicitHashKey) => {
      expect(validateUserRecord(record({ explicitHashKey }), MiB).explicitHashKey).toBe(explicitHashKey);
    },
  );

  it('treats undefined and null as none', () => {
    expect(validateUserRecord(record({}), MiB).explicitHashKey).toBeUndefined();
    expect(validateUserRecord(record({ explicitHashKey: null }), MiB).explicitHashKey).toBeUndefined();
  });

  it('has 2^128-1 as its maximum', () => {
    expect(MAX_EXPLICIT_HASH_KEY).toBe(((1n << 128n) - 1n).toString());
  });

  it.each([
    ['2^128', '340282366920938463463374607431768211456', 'above 2^128-1'],
    ['a larger 39-digit value', '999999999999999999999999999999999999999', 'above 2^128-1'],
    ['40 digits', '1000000000000000000000000000000000000000', 'has 40 characters'],
    ['a leading zero', '01', 'leading zero'],
    ['00', '00', 'leading zero'],
    ['empty', '', 'has 0 characters'],
    ['a sign', '-1', 'not a decimal integer'],
    ['a plus sign', '+1', 'not a decimal integer'],
    ['hex', '0x10', 'not a decimal integer'],
    ['spaces', ' 1', 'not a decimal integer'],
    ['a fraction', '1.0', 'not a decimal integer'],
    ['exponent', '1e5', 'not a decimal integer'],
    ['full-width digits', '１２', 'not a decimal integer'],
  ])('refuses %s', (_, explicitHashKey, detail) => {
    const error = failure(() => validateUserRecord(record({ explicitHashKey }), MiB));
    expect(error.field).toBe('explicitHashKey');
    expect(error.limit).toBe('a decimal string 0..2^128-1 matching 0|[1-9][0-9]{0,38}');
    expect(error.message).toContain(detail);
  });

  it.each([[5], [5n], [{}]])('refuses a non-string %s', (explicitHashKey) => {
    expect(failure(() => validateUserRecord(record({ explicitHashKey }), MiB)).field).toBe('explicitHashKey');
  });

  it('validateExplicitHashKey is the same check on its own', () => {
    expect(() => validateExplicitHashKey(MAX_EXPLICIT_HASH_KEY)).not.toThrow();
    expect(failure(() => validateExplicitHashKey('340282366920938463463374607431768211456')).field).toBe('explicitHashKey');
  });
});

describe('validateUserRecord: data and size', () => {
  it('passes bytes through without copying, Buffer included', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(validateUserRecord(record({ data: bytes }), MiB).data).toBe(bytes);
    const buffer = Buffer.from('hi');
    expect(validateUserRecord(record({ data: buffer }), MiB).data).toBe(buffer);
  });

  it('encodes a string as UTF-8', () => {
    const valid = validateUserRecord(record({ data: 'é😀' }), MiB);
    expect(Array.from(valid.data)).toEqual([0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]);
  });

  it('accepts empty data', () => {
    expect(validateUserRecord(record({ data: new Uint8Array(0) }), MiB).data.byteLength).toBe(0);
    expect(validateUserRecord(record({ data: '' }), MiB).data.byteLength).toBe(0);
  });

  it('refuses a string with a lone surrogate instead of changing it', () => {
    const error = failure(() => validateUserRecord(record({ data: 'ok\ud800' }), MiB));
    expect(error.field).toBe('data');
    expect(error.message).toContain('lone surrogate');
  });

  it.each([[undefined], [null], [42], [new ArrayBuffer(4)], [new Uint16Array(2)], [[1, 2]]])('refuses data %s', (data) => {
    const error = failure(() => validateUserRecord(record({ data }), MiB));
    expect(error.field).toBe('data');
    expect(error.limit).toBe('a Uint8Array, or a well-formed UTF-16 string');
  });

  it('counts data + partition key UTF-8 bytes against the limit, exactly at the edge', () => {
    const key = 'é'.repeat(10); // 20 bytes in UTF-8, 10 code units
    const fits = validateUserRecord({ partitionKey: key, data: new Uint8Array(MiB - 20) }, MiB);
    expect(fits.data.byteLength + fits.partitionKeyBytes).toBe(MiB);
    const error = failure(() => validateUserRecord({ partitionKey: key, data: new Uint8Array(MiB - 19) }, MiB));
    expect(error.field).toBe('data');
    expect(error.limit).toBe('data + partition key ≤ 1048576 bytes');
    expect(error.message).toContain('data (1048557 bytes) + partition key (20 bytes) is 1048577 bytes');
  });

  it('counts a string datum by its UTF-8 bytes, not its length', () => {
    // 4 code units, 8 UTF-8 bytes (two 4-byte emoji) + 1 byte of key = 9.
    expect(() => validateUserRecord({ partitionKey: 'k', data: '😀😀' }, 9)).not.toThrow();
    expect(failure(() => validateUserRecord({ partitionKey: 'k', data: '😀😀' }, 8)).field).toBe('data');
  });

  it('honours a larger limit for streams that opted in', () => {
    const big = new Uint8Array(5 * MiB);
    expect(failure(() => validateUserRecord({ partitionKey: 'k', data: big }, DEFAULT_MAX_USER_RECORD_SIZE)).field).toBe('data');
    expect(validateUserRecord({ partitionKey: 'k', data: big }, MAX_USER_RECORD_SIZE_LIMIT).data).toBe(big);
  });
});

describe('validateStreamRef', () => {
  const arn = 'arn:aws:kinesis:us-east-1:123456789012:stream/orders';

  it('accepts a name, an ARN, or both naming the same stream', () => {
    expect(validateStreamRef({ streamName: 'orders' })).toEqual({ streamName: 'orders' });
    expect(validateStreamRef({ streamARN: arn })).toEqual({ streamARN: arn });
    expect(validateStreamRef({ streamName: 'orders', streamARN: arn })).toEqual({ streamName: 'orders', streamARN: arn });
    expect(validateStreamRef({ streamName: 'a'.repeat(128) }).streamName).toHaveLength(128);
    expect(validateStreamRef({ streamName: 'A-z_0.9' }).streamName).toBe('A-z_0.9');
  });

  it.each([
    'arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s',
    'arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/s.1_-x',
    'arn:aws-iso-b:kinesis:us-isob-east-1:123456789012:stream/s',
  ])('accepts the partition ARN %s', (streamARN) => {
    expect(validateStreamRef({ streamARN }).streamARN).toBe(streamARN);
  });

  it('requires one of them', () => {
    const error = failure(() => validateStreamRef({}));
    expect(error.field).toBe('streamName');
    expect(error.limit).toBe('streamName or streamARN is required');
  });

  it.each([[''], ['a'.repeat(129)], ['has space'], ['slash/name'], ['ünïcode'], [42], [null]])('refuses the name %j', (streamName) => {
    const error = failure(() => validateStreamRef({ streamName }));
    expect(error.field).toBe('streamName');
    expect(error.limit).toBe('1..128 characters of [a-zA-Z0-9_.-]');
  });

  it.each([
    ['another service', 'arn:aws:sqs:us-east-1:123456789012:stream/orders'],
    ['a short account', 'arn:aws:kinesis:us-east-1:12345678901:stream/orders'],
    ['no stream/ prefix', 'arn:aws:kinesis:us-east-1:123456789012:orders'],
    ['no name', 'arn:aws:kinesis:us-east-1:123456789012:stream/'],
    ['a consumer ARN', 'arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/c:1'],
    ['no partition', 'arn::kinesis:us-east-1:123456789012:stream/orders'],
    ['over 2048 characters', `arn:aws:kinesis:us-east-1:123456789012:stream/${'a'.repeat(2048)}`],
    ['not a string', 7],
  ])('refuses an ARN with %s', (_, streamARN) => {
    const error = failure(() => validateStreamRef({ streamARN }));
    expect(error.field).toBe('streamARN');
    expect(error.limit).toContain('1..2048 characters');
  });

  it('refuses a name and an ARN that disagree', () => {
    const error = failure(() => validateStreamRef({ streamName: 'other', streamARN: arn }));
    expect(error.field).toBe('streamARN');
    expect(error.limit).toBe('the same stream as streamName');
  });
});

describe('validateMaxUserRecordSize and validateInteger', () => {
  it('accepts 1 to 10 MiB', () => {
    expect(validateMaxUserRecordSize(1)).toBe(1);
    expect(validateMaxUserRecordSize(MiB)).toBe(MiB);
    expect(validateMaxUserRecordSize(10 * MiB)).toBe(10_485_760);
  });

  it.each([[0], [10 * MiB + 1], [1.5], [Number.NaN], [Number.POSITIVE_INFINITY], ['1024'], [undefined]])('refuses %s', (value) => {
    const error = failure(() => validateMaxUserRecordSize(value));
    expect(error.field).toBe('maxUserRecordSize');
    expect(error.limit).toBe('an integer in 1..10485760');
  });

  it('names the field it is given', () => {
    expect(validateInteger('retries', 3, 0, 10)).toBe(3);
    const error = failure(() => validateInteger('retries', 11, 0, 10));
    expect(error.field).toBe('retries');
    expect(error.message).toBe('retries: got 11 (limit: an integer in 0..10)');
  });
});

describe('validateOptionNames', () => {
  const names = ['aggregationEnabled', 'recordTtl', 'retryMinBackoff', 'endpoint'];
  const aliases = { kinesisendpoint: 'endpoint' };

  it('accepts known names, and undefined as the default', () => {
    expect(() => validateOptionNames({ aggregationEnabled: false, recordTtl: undefined }, names, aliases)).not.toThrow();
    expect(() => validateOptionNames({}, names, aliases)).not.toThrow();
  });

  it.each([
    ['the KPL\'s PascalCase', 'AggregationEnabled', 'aggregationEnabled'],
    ['another case', 'recordTTL', 'recordTtl'],
    ['a KPL name shardline spells otherwise', 'KinesisEndpoint', 'endpoint'],
    ['a typo', 'agregationEnabled', 'aggregationEnabled'],
    ['a missing word', 'retryBackoff', 'retryMinBackoff'],
  ])('refuses %s, suggesting the right name', (_, key, meant) => {
    const error = failure(() => validateOptionNames({ [key]: 1 }, names, aliases));
    expect(error.field).toBe(key);
    expect(error.message).toContain(`did you mean ${meant}?`);
  });

  it('lists the options when nothing is near', () => {
    const error = failure(() => validateOptionNames({ metricsLevel: 'none' }, names, aliases));
    expect(error.field).toBe('metricsLevel');
    expect(error.message).toContain('the options are aggregationEnabled, recordTtl, retryMinBackoff, endpoint');
  });

  it('refuses null, which is not the default', () => {
    const error = failure(() => validateOptionNames({ recordTtl: null }, names, aliases));
    expect(error.field).toBe('recordTtl');
    expect(error.message).toBe('recordTtl: got null (limit: a value, or undefined for the default)');
  });

  it.each([[undefined], [null], ['stream'], [[]]])('refuses options that are %j', (options) => {
    expect(failure(() => validateOptionNames(options, names, aliases)).field).toBe('options');
  });
});

describe('validateClientSettings', () => {
  it.each([
    { region: 'us-east-1' },
    { region: 'cn-north-1' },
    { region: 'us-gov-west-1' },
    { region: 'us-east-1-fips' },
    { endpoint: 'http://localhost:4567' },
    { endpoint: 'https://kinesis.us-east-1.amazonaws.com' },
    { endpoint: 'https://vpce-0123-abcd.kinesis.us-east-1.vpce.amazonaws.com/' },
    { credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' } },
    { credentials: { accessKeyId: 'ASIA', secretAccessKey: 'secret', sessionToken: 'token', expiration: new Date() } },
    { credentials: () => Promise.resolve({ accessKeyId: 'AKID', secretAccessKey: 'secret' }) },
    {},
  ])('accepts %o', (settings) => {
    expect(() => validateClientSettings(settings)).not.toThrow();
  });

  it.each([
    ['region', ''],
    ['region', 'us-east-1 '],
    ['region', 'us east 1'],
    ['region', '-us-east-1'],
    ['region', 'us-east-1.example'],
    ['region', 123],
    ['endpoint', 'not a url'],
    ['endpoint', 'localhost:4567'],
    ['endpoint', 'ftp://localhost:4567'],
    ['endpoint', ''],
    ['endpoint', 123],
    ['endpoint', new URL('http://localhost:4567')],
    ['credentials', 'secret'],
    ['credentials', {}],
    ['credentials', { accessKeyId: 'AKID' }],
    ['credentials', { accessKeyId: '', secretAccessKey: 'secret' }],
    ['credentials', { accessKeyId: 'AKID', secretAccessKey: 'secret', sessionToken: 5 }],
  ])('refuses %s %o', (field, value) => {
    const error = failure(() => validateClientSettings({ [field]: value }));
    expect(error.field).toBe(field);
  });
});
