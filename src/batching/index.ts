/**
 * Batching: one stream's route from user record to PutRecords call ({@link StreamRouter}), each
 * shard's buffer and rate limit ({@link ShardBuffer}, {@link RateLimiter}), requests within the
 * service's limits ({@link Collector}) and the calls themselves ({@link Sender}).
 * @module
 */
export { Collector, type CollectorEntry, type CollectorOptions } from './collector.js';
export { RateLimiter, SHARD_BYTES_PER_SECOND, SHARD_RECORDS_PER_SECOND, type RateLimiterOptions } from './rate-limiter.js';
export { Sender, type SendOutcomes, type SendTarget, type SenderOptions } from './sender.js';
export { ShardBuffer, type ShardBufferOptions, type ShardBufferOutput } from './shard-buffer.js';
export { StreamRouter, type Settlement, type StreamRouterOptions } from './stream-router.js';
export { StreamRouters, type StreamRoutersOptions } from './stream-routers.js';
