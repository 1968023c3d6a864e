import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/batching/index.js';
import { ValidationError } from '../../src/errors.js';

describe('RateLimiter', () => {
  it('starts a shard at its real limits, refills continuously, and climbs toward rateLimit% only while it does not throttle', () => {
    const limiter = new RateLimiter({ rateLimit: 150 }, 0);
    expect(limiter.factor).toBeCloseTo(1 / 1.5);
    let taken = 0;
    while (limiter.tryTake(10, 0)) taken++;
    expect(taken).toBe(1000); // one second of 100 %, not of 150 %
    expect(limiter.waitTime(10, 0)).toBe(1); // one record's worth of 1,000/s
    expect(limiter.tryTake(10, 100)).toBe(true);
    let more = 1;
    while (limiter.tryTake(10, 100)) more++;
    expect(more).toBe(100);
    // Successes, never a throttle: above 100 % the excess grows from a slow probe…
    limiter.onSuccess(1000);
    expect(limiter.factor * 1.5).toBeCloseTo(1.005, 5);
    // …exponentially, up to rateLimit.
    for (let t = 2000; t <= 20_000; t += 1000) limiter.onSuccess(t);
    expect(limiter.factor).toBe(1);
    let full = 0;
    while (limiter.tryTake(10, 22_000)) full++;
    expect(full).toBe(1500);
  });

  it('reaches a high rateLimit within seconds on a shard that never throttles', () => {
    const limiter = new RateLimiter({ rateLimit: 10_000 }, 0);
    expect(limiter.factor).toBeCloseTo(0.01);
    let t = 0;
    while (limiter.factor < 1 && t < 60_000) limiter.onSuccess((t += 100));
    expect(t).toBeLessThan(15_000);
  });

  it('once a shard has throttled, probes above its real limits by only 0.5 % of them a second', () => {
    const limiter = new RateLimiter({ rateLimit: 150 }, 0);
    for (let t = 1000; t <= 20_000; t += 1000) limiter.onSuccess(t);
    limiter.onThrottled(20_000, 20_000); // at 150 %: down to 135 %
    expect(limiter.factor * 1.5).toBeCloseTo(1.35);
    for (let t = 21_000; t <= 40_000; t += 1000) limiter.onSuccess(t);
    expect(limiter.factor * 1.5).toBeCloseTo(1.35 + 20 * 0.005, 5);
  });

  it('climbs back to the real limits at 3 % of rateLimit a second after a decrease', () => {
    const limiter = new RateLimiter({ rateLimit: 150 }, 0);
    limiter.onThrottled(0, 0);
    expect(limiter.factor * 1.5).toBeCloseTo(0.9);
    limiter.onSuccess(1000);
    expect(limiter.factor * 1.5).toBeCloseTo(0.945);
  });

  it('starts below 100 % when rateLimit is lower', () => {
    const limiter = new RateLimiter({ rateLimit: 50 }, 0);
    expect(limiter.factor).toBe(1);
    let taken = 0;
    while (limiter.tryTake(10, 0)) taken++;
    expect(taken).toBe(500);
  });

  it('limits bytes to rateLimit% of 1 MiB/s, and lets a record larger than a second of bytes through a full bucket', () => {
    const limiter = new RateLimiter({ rateLimit: 100 }, 0);
    expect(limiter.tryTake(600 * 1024, 0)).toBe(true);
    expect(limiter.tryTake(600 * 1024, 0)).toBe(false);
    expect(limiter.waitTime(600 * 1024, 0)).toBe(Math.ceil(((600 * 1024 - 424 * 1024) / (1024 * 1024)) * 1000));
    const big = new RateLimiter({ rateLimit: 100 }, 0);
    expect(big.tryTake(3 * 1024 * 1024, 0)).toBe(true); // in debt now
    expect(big.tryTake(1, 1000)).toBe(false);
    expect(big.waitTime(1, 1000)).toBeGreaterThan(900);
  });

  it('decreases multiplicatively on throttling, once per round trip and 250 ms, and increases additively on success', () => {
    const limiter = new RateLimiter({ rateLimit: 100 }, 0);
    limiter.onThrottled(0, 0);
    expect(limiter.factor).toBeCloseTo(0.9);
    limiter.onThrottled(50, 100); // the same burst
    expect(limiter.factor).toBeCloseTo(0.9);
    limiter.onThrottled(-10, 400); // sent before the decrease: the old rate's answer
    expect(limiter.factor).toBeCloseTo(0.9);
    limiter.onThrottled(300, 300);
    expect(limiter.factor).toBeCloseTo(0.81);
    limiter.onSuccess(1300);
    expect(limiter.factor).toBeCloseTo(0.84);
    limiter.onSuccess(11_300); // at most one second of increase per success
    expect(limiter.factor).toBeCloseTo(0.87);
    for (let t = 12_300; t < 40_000; t += 1000) limiter.onSuccess(t);
    expect(limiter.factor).toBe(1);
  });

  it('caps its tokens at the lowered rate, so a throttled shard gets no burst at the old rate', () => {
    const limiter = new RateLimiter({ rateLimit: 100 }, 0);
    for (let i = 0; i < 5; i++) limiter.onThrottled(i * 300, i * 300);
    let taken = 0;
    while (limiter.tryTake(1, 1200)) taken++;
    expect(taken).toBe(Math.floor(1000 * 0.9 ** 5));
  });

  it('never goes below 2 % of the configured rate', () => {
    const limiter = new RateLimiter({ rateLimit: 100 }, 0);
    for (let i = 0; i < 100; i++) limiter.onThrottled(i * 300, i * 300);
    expect(limiter.factor).toBe(0.02);
  });

  it('validates rateLimit', () => {
    expect(() => new RateLimiter({ rateLimit: 0 }, 0)).toThrow(ValidationError);
  });
});
