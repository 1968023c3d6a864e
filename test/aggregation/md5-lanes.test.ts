import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeAggregatedRecord, decodeRecord } from '../../src/aggregation/index.js';
import { compileMd5Lanes, sealEnvelopes } from '../../src/aggregation/md5-lanes.js';
import { deaggregateWithLibrary, hex, md5 } from './support.js';

/** Magic, `protobufLength` random bytes, and a trailer of zeros: an envelope waiting for its MD5. */
function unsealed(protobufLength: number): Buffer {
  const envelope = Buffer.alloc(4 + protobufLength + 16);
  randomBytes(protobufLength).copy(envelope, 4);
  return envelope;
}

/** The trailer node:crypto gives the envelope. */
function expectedTrailer(envelope: Buffer): Buffer {
  return md5(envelope.subarray(4, envelope.length - 16));
}

function expectSealed(envelopes: readonly Buffer[]): void {
  for (const envelope of envelopes) expect(envelope.subarray(-16).toString('hex')).toBe(expectedTrailer(envelope).toString('hex'));
}

describe('sealEnvelopes', () => {
  beforeAll(async () => {
    // Node has WebAssembly SIMD: the tests below go through the lanes, not node:crypto.
    expect(await compileMd5Lanes()).toBe(true);
  });

  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it('writes the MD5 of every envelope, whatever its length against the 64-byte blocks and the padding', () => {
    // 55 and 56 bytes: the last lengths whose padding fits in one block and the first that needs two.
    const lengths = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 51_200];
    const envelopes = lengths.map(unsealed);
    sealEnvelopes(envelopes);
    expectSealed(envelopes);
  });

  it('seals batches of any count, lanes left over included, with lengths far apart in one pass', () => {
    for (let count = 1; count <= 9; count++) {
      const envelopes = Array.from({ length: count }, (_, i) => unsealed(i % 2 === 0 ? 30 + i : 70_000 + 1000 * i));
      sealEnvelopes(envelopes);
      expectSealed(envelopes);
    }
  });

  it('makes room for an envelope longer than any before, up to the largest aggregationMaxSize', () => {
    sealEnvelopes([unsealed(100), unsealed(200)]);
    const envelopes = [unsealed(2 ** 20 - 21), unsealed(10), unsealed(2 ** 20 - 21), unsealed(500_000)];
    sealEnvelopes(envelopes);
    expectSealed(envelopes);
  });

  it('completes envelopes the readers accept: the same bytes as encodeAggregatedRecord, checksums verified by aws-kinesis-agg', () => {
    const data = Array.from({ length: 6 }, (_, i) => [randomBytes(100 * (i + 1)), randomBytes(7)] as const);
    const complete = data.map(([first, second]) =>
      encodeAggregatedRecord(['key-a', 'key-b'], [], [
        { partitionKeyIndex: 0, data: first },
        { partitionKeyIndex: 1, data: second },
      ]),
    );
    const envelopes = complete.map((envelope) => Buffer.from(envelope).fill(0, envelope.length - 16));
    sealEnvelopes(envelopes);
    for (let i = 0; i < envelopes.length; i++) {
      expect(envelopes[i]!.equals(complete[i]!)).toBe(true);
      const decoded = decodeRecord(envelopes[i]!, 'k', undefined);
      expect(decoded.aggregated && decoded.records).toHaveLength(2);
      expect(deaggregateWithLibrary(envelopes[i]!, 'k').map((r) => r.data)).toEqual(data[i]!.map(hex));
    }
  });

  it('compiles the module only once 4 MiB have been hashed without it', async () => {
    vi.resetModules();
    const fresh = await import('../../src/aggregation/md5-lanes.js');
    const ticks = async (n: number): Promise<void> => {
      for (let i = 0; i < n && !fresh.md5LanesInUse(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    for (let i = 0; i < 3; i++) fresh.sealEnvelopes([unsealed(600_000), unsealed(600_000)]);
    await ticks(20);
    expect(fresh.md5LanesInUse()).toBe(false);
    const crossing = [unsealed(600_000), unsealed(600_000)];
    fresh.sealEnvelopes(crossing);
    expectSealed(crossing);
    await ticks(400);
    expect(fresh.md5LanesInUse()).toBe(true);
  });

  it('seals with node:crypto while the module compiles, and where WebAssembly is missing', async () => {
    vi.resetModules();
    const fresh = await import('../../src/aggregation/md5-lanes.js');
    const first = [unsealed(10), unsealed(5000), unsealed(64), unsealed(70_000), unsealed(1)];
    fresh.sealEnvelopes(first);
    expectSealed(first);
    expect(await fresh.compileMd5Lanes()).toBe(true);

    vi.stubGlobal('WebAssembly', undefined);
    vi.resetModules();
    const withoutWasm = await import('../../src/aggregation/md5-lanes.js');
    expect(await withoutWasm.compileMd5Lanes()).toBe(false);
    const envelopes = [unsealed(10), unsealed(5000), unsealed(64), unsealed(70_000), unsealed(1)];
    withoutWasm.sealEnvelopes(envelopes);
    expectSealed(envelopes);
  });
});
