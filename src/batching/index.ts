export { Collector, type CollectorEntry, type CollectorOptions } from './collector.js';
export { DeadlineQueue } from './deadline-queue.js';
export { RateLimiter, SHARD_BYTES_PER_SECOND, SHARD_RECORDS_PER_SECOND, type RateLimiterOptions } from './rate-limiter.js';
