import { createHash, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import {
  HashKeyCache,
  MAX_HASH_KEY,
  MIN_HASH_KEY,
  decimalToHashKey,
  hashKeyOfExplicit,
  hashKeyOfPartitionKey,
  hashKeyToDecimal,
} from '../../src/sharding/index.js';

const TWO_128 = 1n << 128n;

/** MD5 of the UTF-8 bytes read as an unsigned big-endian integer, computed without hex strings. */
function md5AsBigInt(text: string): bigint {
  let value = 0n;
  for (const byte of createHash('md5').update(Buffer.from(text, 'utf8')).digest()) value = (value << 8n) | BigInt(byte);
  return value;
}

describe('hashKeyOfPartitionKey', () => {
  it('matches the published vector for "abcd"', () => {
    expect(hashKeyOfPartitionKey('abcd')).toBe('e2fc714c4727ee9395f324cd2e7f331f');
    expect(hashKeyToDecimal(hashKeyOfPartitionKey('abcd'))).toBe('301716283811389038011477436469853762335');
  });

  it('matches known MD5 digests', () => {
    expect(hashKeyOfPartitionKey('a')).toBe('0cc175b9c0f1b6a831c399e269772661');
    expect(hashKeyOfPartitionKey('The quick brown fox jumps over the lazy dog')).toBe('9e107d9d372bb6826bd81d3542a419d6');
  });

  it.each(['a', 'abcd', 'partition-key-1', 'ключ', '日本語', '😀 emoji', 'x'.repeat(256)])(
    'agrees with an independent BigInt reading of MD5 for %j',
    (key) => {
      const hashKey = hashKeyOfPartitionKey(key);
      expect(hashKey).toMatch(/^[0-9a-f]{32}$/);
      expect(hashKeyToDecimal(hashKey)).toBe(md5AsBigInt(key).toString());
    },
  );

  it('hashes UTF-8, not UTF-16: "é" is MD5 of c3 a9', () => {
    expect(hashKeyOfPartitionKey('é')).toBe(createHash('md5').update(Buffer.from([0xc3, 0xa9])).digest('hex'));
  });
});

describe('decimal ↔ hash key', () => {
  it('maps the ends of the ring', () => {
    expect(decimalToHashKey('0')).toBe(MIN_HASH_KEY);
    expect(MIN_HASH_KEY).toBe('00000000000000000000000000000000');
    expect(decimalToHashKey('340282366920938463463374607431768211455')).toBe(MAX_HASH_KEY);
    expect(MAX_HASH_KEY).toBe('ffffffffffffffffffffffffffffffff');
    expect(hashKeyToDecimal(MIN_HASH_KEY)).toBe('0');
    expect(hashKeyToDecimal(MAX_HASH_KEY)).toBe('340282366920938463463374607431768211455');
  });

  it('pads to 32 digits', () => {
    expect(decimalToHashKey('1')).toBe('00000000000000000000000000000001');
    expect(decimalToHashKey('255')).toBe('000000000000000000000000000000ff');
    expect(decimalToHashKey((1n << 127n).toString())).toBe('80000000000000000000000000000000');
    expect(hashKeyOfExplicit('4096')).toBe('00000000000000000000000000001000');
  });

  it('round-trips any value in 0..2^128-1, and string order is numeric order', () => {
    const hashValue = fc.bigInt({ min: 0n, max: TWO_128 - 1n });
    fc.assert(
      fc.property(hashValue, hashValue, (a, b) => {
        const ha = decimalToHashKey(a.toString());
        const hb = decimalToHashKey(b.toString());
        expect(ha).toHaveLength(32);
        expect(hashKeyToDecimal(ha)).toBe(a.toString());
        expect(ha < hb).toBe(a < b);
        expect(ha === hb).toBe(a === b);
      }),
      { numRuns: 2000 },
    );
  });

  it.each(['', '-1', '01', '0x10', ' 7', '1.5', '1e3', TWO_128.toString(), '9'.repeat(40)])(
    'decimalToHashKey refuses %j',
    (text) => {
      expect(() => decimalToHashKey(text)).toThrow(ValidationError);
    },
  );
});

describe('HashKeyCache', () => {
  it('returns the MD5 hash key for partition keys and the explicit hash key when given', () => {
    const cache = new HashKeyCache();
    for (let round = 0; round < 2; round++) {
      expect(cache.get('abcd')).toBe('e2fc714c4727ee9395f324cd2e7f331f');
      expect(cache.get('abcd', '0')).toBe(MIN_HASH_KEY);
      expect(cache.get('abcd', '340282366920938463463374607431768211455')).toBe(MAX_HASH_KEY);
    }
  });

  it('keeps partition keys and explicit hash keys apart', () => {
    const cache = new HashKeyCache({ max: 10 });
    expect(cache.get('123')).toBe(hashKeyOfPartitionKey('123'));
    expect(cache.get('x', '123')).toBe('0000000000000000000000000000007b');
    expect(cache.get('123')).toBe(hashKeyOfPartitionKey('123'));
  });

  it('works with caching off (max 0) and with max as a number', () => {
    for (const cache of [new HashKeyCache({ max: 0 }), new HashKeyCache(0), new HashKeyCache(5)]) {
      expect(cache.get('abcd')).toBe('e2fc714c4727ee9395f324cd2e7f331f');
      expect(cache.get('abcd', '255')).toBe('000000000000000000000000000000ff');
    }
    expect(new HashKeyCache(0).caching).toBe(false);
  });

  it('refuses a bad max', () => {
    for (const max of [-1, 1.5, Number.NaN, 1_000_001]) {
      expect(() => new HashKeyCache({ max })).toThrow(expect.objectContaining({ field: 'max' }) as Error);
    }
  });

  it('stops inserting for unique keys and resumes for repeated keys, answering correctly throughout', () => {
    const cache = new HashKeyCache({ max: 100 });
    const window = HashKeyCache.WINDOW;
    for (let i = 0; i < 2 * window; i++) {
      const key = randomUUID();
      expect(cache.get(key)).toBe(hashKeyOfPartitionKey(key));
    }
    expect(cache.caching).toBe(false);

    const hot = Array.from({ length: 50 }, (_, i) => `hot-${i}`);
    // Within the 15 bypass windows plus one probe window it must return to inserting.
    for (let i = 0; i < 17 * window; i++) {
      const key = hot[i % hot.length] as string;
      expect(cache.get(key)).toBe(hashKeyOfPartitionKey(key));
    }
    expect(cache.caching).toBe(true);
  });

  it('keeps inserting while a hot set fits, however cold it starts', () => {
    const cache = new HashKeyCache({ max: 10_000 });
    const keys = Array.from({ length: 8000 }, (_, i) => `device-${i}`);
    for (let i = 0; i < 3 * keys.length; i++) cache.get(keys[i % keys.length] as string);
    expect(cache.caching).toBe(true);
  });
});
