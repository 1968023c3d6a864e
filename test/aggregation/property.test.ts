/**
 * Properties of the Aggregator over random records: its size is the encoded size after every add,
 * its envelopes are the reference encoding byte for byte, its limits hold exactly, and decoding
 * gives back exactly what went in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Aggregator, AGGREGATED_PARTITION_KEY, decodeRecord } from '../../src/aggregation/index.js';
import { expected, hex, readBack, referenceEnvelope } from './support.js';
import type { ReadBack, TestEntry } from './support.js';

/** Partition keys: ASCII, multi-byte (2-, 3- and 4-byte UTF-8), up to 256 characters. */
const partitionKeyArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 20 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 256 }),
  fc.constantFrom('🙂ключ', '中文分区键', 'ключ', 'a'),
);
/** Explicit hash keys: decimal strings 0..2^128-1, or none. */
const explicitHashKeyArb = fc.option(
  fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }).map((n) => n.toString()),
  { nil: undefined },
);

/** Entries drawing keys from small pools, so that keys repeat within an envelope. */
const entriesArb = fc
  .tuple(
    fc.array(partitionKeyArb, { minLength: 1, maxLength: 8 }),
    fc.array(explicitHashKeyArb, { minLength: 1, maxLength: 4 }),
  )
  .chain(([pks, ehks]) =>
    fc.array(
      fc.record({
        partitionKey: fc.constantFrom(...pks),
        explicitHashKey: fc.constantFrom(...ehks),
        data: fc.uint8Array({ maxLength: 2000 }),
      }),
      { minLength: 1, maxLength: 60 },
    ),
  );

function readDrained(data: Uint8Array, aggregated: boolean, entries: readonly TestEntry[]): ReadBack[] {
  if (!aggregated) return expected(entries.length === 1 ? [{ ...entries[0]!, data }] : []);
  const decoded = decodeRecord(data, AGGREGATED_PARTITION_KEY);
  expect(decoded.aggregated).toBe(true);
  expect(decoded.records.map((r) => r.subSequenceNumber)).toEqual(decoded.records.map((_, i) => i));
  return readBack(decoded.records);
}

describe('Aggregator properties', () => {
  it('sizeBytes equals the reference encoding length after every add; the envelope is that encoding', () => {
    fc.assert(
      fc.property(entriesArb, (entries) => {
        const aggregator = new Aggregator<TestEntry>({ aggregationMaxSize: 10 * 1024 * 1024 });
        for (let i = 0; i < entries.length; i++) {
          expect(aggregator.tryAdd(entries[i]!)).toBe(true);
          expect(aggregator.sizeBytes).toBe(referenceEnvelope(entries.slice(0, i + 1)).length);
          expect(aggregator.count).toBe(i + 1);
        }
        const size = aggregator.sizeBytes;
        const drained = aggregator.drain();
        expect(drained.entries).toEqual(entries);
        if (entries.length === 1) {
          expect(drained.aggregated).toBe(false);
          expect(drained.data).toBe(entries[0]!.data);
        } else {
          expect(drained.aggregated).toBe(true);
          expect(drained.data.length).toBe(size);
          expect(hex(drained.data)).toBe(hex(referenceEnvelope(entries)));
          expect(readDrained(drained.data, true, entries)).toEqual(expected(entries));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('with random limits: every envelope within them, every refusal justified, nothing lost or reordered', () => {
    fc.assert(
      fc.property(entriesArb, fc.integer({ min: 64, max: 6000 }), fc.integer({ min: 1, max: 12 }), (entries, maxSize, maxCount) => {
        const aggregator = new Aggregator<TestEntry>({ aggregationMaxSize: maxSize, aggregationMaxCount: maxCount });
        const out: ReadBack[] = [];
        let held: TestEntry[] = [];
        const drain = (): void => {
          const sizeBefore = aggregator.sizeBytes;
          const recordSize = aggregator.recordSizeBytes;
          const drained = aggregator.drain();
          expect(drained.entries).toEqual(held);
          if (drained.aggregated) {
            expect(drained.entries.length).toBeGreaterThan(1);
            expect(drained.data.length).toBe(sizeBefore);
            expect(drained.data.length).toBeLessThanOrEqual(maxSize);
            expect(recordSize).toBe(sizeBefore + 1);
          } else {
            expect(recordSize).toBe(drained.data.length + Buffer.byteLength(held[0]!.partitionKey));
          }
          expect(drained.entries.length).toBeLessThanOrEqual(maxCount);
          out.push(...readDrained(drained.data, drained.aggregated, held));
          held = [];
        };
        for (const entry of entries) {
          if (!aggregator.tryAdd(entry)) {
            // Refused: only because the count is full or the envelope would have grown past maxSize.
            expect(held.length === maxCount || referenceEnvelope([...held, entry]).length > maxSize).toBe(true);
            expect(held.length).toBeGreaterThan(0);
            drain();
            expect(aggregator.tryAdd(entry)).toBe(true);
          } else {
            // Taken: within both limits, unless it is alone.
            const envelopeLength = referenceEnvelope([...held, entry]).length;
            if (held.length > 0) expect(envelopeLength).toBeLessThanOrEqual(maxSize);
            expect(held.length + 1).toBeLessThanOrEqual(maxCount);
          }
          held.push(entry);
          expect(aggregator.sizeBytes).toBe(referenceEnvelope(held).length);
        }
        drain();
        expect(out).toEqual(expected(entries));
      }),
      { numRuns: 300 },
    );
  });

  it('keys with lone surrogates are still sized exactly (each one is written as U+FFFD, 3 bytes)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('\ud800', '\udfff', 'a', 'é', '🙂'), minLength: 1 }), { minLength: 2, maxLength: 10 }), (keys) => {
        const aggregator = new Aggregator<TestEntry>();
        for (const key of keys) aggregator.tryAdd({ partitionKey: key, explicitHashKey: undefined, data: Buffer.from(key) });
        const size = aggregator.sizeBytes;
        expect(aggregator.drain().data.length).toBe(size);
      }),
    );
  });
});
