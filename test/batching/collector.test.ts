import { describe, expect, it } from 'vitest';
import { Collector } from '../../src/batching/index.js';
import { ValidationError } from '../../src/errors.js';

const entry = (size: number) => ({ size });

describe('Collector', () => {
  it('takes at most collectionMaxCount records', () => {
    const collector = new Collector<{ size: number }>({ collectionMaxCount: 500, collectionMaxSize: 5 * 1024 * 1024 });
    for (let i = 0; i < 500; i++) expect(collector.tryAdd(entry(10))).toBe(true);
    expect(collector.full).toBe(true);
    expect(collector.tryAdd(entry(10))).toBe(false);
    expect(collector.drain()).toHaveLength(500);
    expect(collector.count).toBe(0);
    expect(collector.sizeBytes).toBe(0);
    expect(collector.tryAdd(entry(10))).toBe(true);
  });

  it('takes records up to exactly collectionMaxSize bytes', () => {
    const collector = new Collector<{ size: number }>({ collectionMaxCount: 500, collectionMaxSize: 1000 });
    expect(collector.tryAdd(entry(600))).toBe(true);
    expect(collector.tryAdd(entry(401))).toBe(false);
    expect(collector.tryAdd(entry(400))).toBe(true);
    expect(collector.sizeBytes).toBe(1000);
    expect(collector.tryAdd(entry(1))).toBe(false);
    expect(collector.drain().map((e) => e.size)).toEqual([600, 400]);
  });

  it('always takes a record into an empty request', () => {
    const collector = new Collector<{ size: number }>({ collectionMaxCount: 1, collectionMaxSize: 100 });
    expect(collector.tryAdd(entry(150))).toBe(true);
    expect(collector.tryAdd(entry(1))).toBe(false);
  });

  it('validates its options', () => {
    expect(() => new Collector({ collectionMaxCount: 501, collectionMaxSize: 100 })).toThrow(ValidationError);
    expect(() => new Collector({ collectionMaxCount: 0, collectionMaxSize: 100 })).toThrow(/collectionMaxCount/);
    expect(() => new Collector({ collectionMaxCount: 10, collectionMaxSize: 0 })).toThrow(/collectionMaxSize/);
  });
});
