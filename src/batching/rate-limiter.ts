/**
 * Per-shard rate limiting: what the producer lets out toward one shard, in records and bytes per
 * second, and how that rate follows the service's answers.
 */
import { validateInteger } from '../validation.js';

/** The service's write limits for one shard. */
export const SHARD_RECORDS_PER_SECOND = 1000;
/** The service's write limits for one shard: 1 MiB/s, data plus partition keys. */
export const SHARD_BYTES_PER_SECOND = 1024 * 1024;

/** Options of a {@link RateLimiter}. */
export interface RateLimiterOptions {
  /**
   * Percent of the shard's limits to allow (KPL: RateLimit, default 150). Above 100 lets a lone
   * producer fill the shard despite timing jitter; the throttling reaction keeps it from flooding.
   */
  readonly rateLimit: number;
  /** Records per second the shard takes. Default {@link SHARD_RECORDS_PER_SECOND}. */
  readonly recordsPerSecond?: number;
  /** Bytes per second the shard takes. Default {@link SHARD_BYTES_PER_SECOND}. */
  readonly bytesPerSecond?: number;
}

/** Lowest share of the configured rate the throttling reaction goes down to. */
const MIN_FACTOR = 0.02;
/** Multiplicative decrease on throttling. */
const DECREASE = 0.9;
/** Additive increase: share of the configured rate regained per second without throttling. */
const INCREASE_PER_SECOND = 0.03;
/**
 * Increase above the shard's real limits, as a share of those limits per second: there the shard
 * can only take more by its burst allowance, so the rate probes slowly rather than climbing at
 * {@link INCREASE_PER_SECOND} into the next throttling.
 */
const PROBE_PER_SECOND = 0.005;
/** One decrease per this many ms: the throttled entries of one burst are one signal, not many. */
const DECREASE_INTERVAL_MS = 250;

/**
 * Two token buckets (records, bytes) for one shard, each holding one second of its rate and
 * refilled continuously, scaled by an AIMD factor. It starts at the shard's real limits (100 %, or
 * rateLimit if lower). A throttling answer multiplies the rate by 0.9 (once per round trip, and at
 * most once per 250 ms). Each second with successes and no throttling adds 3 % of the configured
 * rate below the real limits. Above them a shard takes more only by its burst allowance, so the rate
 * probes there: by 0.5 % of the real limits a second once the shard has throttled; before that, by
 * an excess that grows exponentially from that probe, so a real shard throttles first at a small
 * overshoot while a shard that never throttles (an endpoint without limits) reaches rateLimit
 * within seconds. A shard shared
 * with other producers thus converges to this producer's share instead of being stormed; a lone
 * producer holds the shard near its limit with few throttles.
 *
 * Time is passed in (ms, monotonic), so the limiter holds no timers and tests need no clock.
 */
export class RateLimiter {
  readonly #recordRate: number;
  readonly #byteRate: number;
  #factor: number;
  /** The factor at which the rate equals the shard's real limits (100 %). */
  readonly #realLimit: number;
  /** Whether the shard has throttled: from then on the rate only probes above its real limits. */
  #throttled = false;
  #records: number;
  #bytes: number;
  #refilledAt: number;
  #decreasedAt = -Infinity;
  #increasedAt: number;

  /**
   * @param now - The current time in ms (monotonic); the buckets start full.
   * @throws ValidationError unless `rateLimit` is an integer in 1..10000.
   */
  constructor(options: RateLimiterOptions, now: number) {
    const percent = validateInteger('rateLimit', options.rateLimit, 1, 10_000) / 100;
    this.#recordRate = (options.recordsPerSecond ?? SHARD_RECORDS_PER_SECOND) * percent;
    this.#byteRate = (options.bytesPerSecond ?? SHARD_BYTES_PER_SECOND) * percent;
    // A new shard starts at its real limits (100 %), with a full second of them, and climbs
    // toward rateLimit only while it does not throttle: starting at 150 % with 1.5 s of tokens
    // put most of a saturated run's throttling in its first second.
    this.#realLimit = 1 / percent;
    this.#factor = Math.min(1, this.#realLimit);
    this.#records = this.#recordRate * this.#factor;
    this.#bytes = this.#byteRate * this.#factor;
    this.#refilledAt = now;
    this.#increasedAt = now;
  }

  /** The share of the configured rate now allowed, in (0, 1]. */
  get factor(): number {
    return this.#factor;
  }

  /** The rate now allowed, in percent of the shard's limits (what ShardRateLimit reports). */
  get percentOfLimits(): number {
    return (this.#factor / this.#realLimit) * 100;
  }

  #refill(now: number): void {
    const seconds = (now - this.#refilledAt) / 1000;
    if (seconds <= 0) return;
    this.#refilledAt = now;
    const recordRate = this.#recordRate * this.#factor;
    const byteRate = this.#byteRate * this.#factor;
    this.#records = Math.min(recordRate, this.#records + recordRate * seconds);
    this.#bytes = Math.min(byteRate, this.#bytes + byteRate * seconds);
  }

  /**
   * Takes one record of `bytes` if both buckets allow it now. A record larger than a full bucket
   * (a record of several MiB) is let through when the bucket is full, leaving it in debt, so it
   * waits no longer than its own size requires.
   */
  tryTake(bytes: number, now: number): boolean {
    this.#refill(now);
    const byteCapacity = this.#byteRate * this.#factor;
    if (this.#records < 1 || this.#bytes < Math.min(bytes, byteCapacity)) return false;
    this.#records -= 1;
    this.#bytes -= bytes;
    return true;
  }

  /** Milliseconds until a record of `bytes` may pass (0 when it may now). */
  waitTime(bytes: number, now: number): number {
    this.#refill(now);
    const recordRate = this.#recordRate * this.#factor;
    const byteRate = this.#byteRate * this.#factor;
    const recordWait = this.#records >= 1 ? 0 : ((1 - this.#records) / recordRate) * 1000;
    const needed = Math.min(bytes, byteRate);
    const byteWait = this.#bytes >= needed ? 0 : ((needed - this.#bytes) / byteRate) * 1000;
    return Math.ceil(Math.max(recordWait, byteWait));
  }

  /**
   * The shard answered ProvisionedThroughputExceededException to a request sent at `sentAt`:
   * multiplicative decrease. A request sent before the last decrease reflects the rate before it,
   * so its throttling is not a new signal (else a burst of answers would cut the rate many times).
   */
  onThrottled(sentAt: number, now: number): void {
    if (sentAt < this.#decreasedAt || now - this.#decreasedAt < DECREASE_INTERVAL_MS) return;
    this.#refill(now);
    this.#throttled = true;
    this.#decreasedAt = now;
    this.#increasedAt = now;
    this.#factor = Math.max(MIN_FACTOR, this.#factor * DECREASE);
    // Tokens beyond the new capacity would let a burst through at the old rate.
    this.#records = Math.min(this.#records, this.#recordRate * this.#factor);
    this.#bytes = Math.min(this.#bytes, this.#byteRate * this.#factor);
  }

  /** Records were written to the shard: additive increase for the time since the last one (at most 1 s). */
  onSuccess(now: number): void {
    if (this.#factor >= 1) {
      this.#increasedAt = now;
      return;
    }
    this.#refill(now);
    const seconds = Math.min(1, (now - this.#increasedAt) / 1000);
    this.#increasedAt = now;
    const realLimit = this.#realLimit;
    const probe = PROBE_PER_SECOND * realLimit;
    // Above the real limits: a slow probe once the shard has throttled; before that, the excess
    // grows exponentially from the probe (about doubling every 0.7 s), so that a real shard's first
    // throttle comes at a small overshoot while an endpoint without limits still reaches rateLimit.
    const perSecond = this.#factor < realLimit ? INCREASE_PER_SECOND : this.#throttled ? probe : Math.max(probe, this.#factor - realLimit);
    if (seconds > 0) this.#factor = Math.min(1, this.#factor + perSecond * seconds);
  }
}
