/**
 * recordData: the data of each record of an envelope the encoder wrote, read back as views.
 */
import fc from 'fast-check';
import protobuf from 'protobufjs/minimal.js';
import { describe, expect, it } from 'vitest';
import { Aggregator, encodeAggregatedRecord, recordData } from '../../src/aggregation/index.js';
import { wrapInEnvelope } from './support.js';

describe('recordData', () => {
  it('reads back every record of an envelope, in order, as views into it', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            // Indexes past 127 and lengths past 127 and 16,383 take varints of two and three bytes.
            keyIndex: fc.integer({ min: 0, max: 299 }),
            withHashKey: fc.boolean(),
            data: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 16_380, max: 16_400 }).map((n) => new Uint8Array(n).fill(n & 0xff))),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (records) => {
          const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`);
          const envelope = encodeAggregatedRecord(keys, ['1', '2'], records.map((r, i) => ({ partitionKeyIndex: r.keyIndex, explicitHashKeyIndex: r.withHashKey ? i % 2 : undefined, data: r.data })));
          const views = recordData(envelope);
          expect(views).toHaveLength(records.length);
          const differing = views.findIndex((view, i) => view.buffer !== envelope.buffer || Buffer.compare(view, records[i]!.data) !== 0);
          expect(differing).toBe(-1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads an envelope an Aggregator drained', () => {
    const aggregator = new Aggregator();
    const datas = ['a', '', 'ccc', 'dddd'].map((s) => Buffer.from(s));
    datas.forEach((data, i) => aggregator.tryAdd({ partitionKey: `k${i % 2}`, explicitHashKey: i === 3 ? '42' : undefined, data }));
    const drained = aggregator.drain();
    expect(recordData(drained.data).map((v) => Buffer.from(v))).toEqual(datas);
  });

  it('refuses what the encoder never writes, rather than guessing', () => {
    const writer = protobuf.Writer.create();
    writer.uint32(0x0a).string('k');
    // A record with tags (field 4), which other writers may add and shardline never does.
    const record = protobuf.Writer.create().uint32(0x08).uint32(0).uint32(0x1a).bytes(Buffer.from('x')).uint32(0x22).bytes(Buffer.from([0x0a, 0x01, 0x74])).finish();
    writer.uint32(0x1a).bytes(record);
    expect(() => recordData(wrapInEnvelope(writer.finish()))).toThrow(/not an envelope shardline wrote/);
  });
});
