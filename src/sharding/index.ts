/** Shard prediction: hash keys of records and the map from hash keys to a stream's open shards. */
export {
  DEFAULT_HASH_KEY_CACHE_MAX,
  HashKeyCache,
  MAX_HASH_KEY,
  MAX_HASH_KEY_CACHE_MAX,
  MIN_HASH_KEY,
  decimalToHashKey,
  hashKeyOfExplicit,
  hashKeyOfPartitionKey,
  hashKeyToDecimal,
  type HashKey,
  type HashKeyCacheOptions,
} from './hash-key.js';
export {
  DEFAULT_CLOSED_SHARD_RETENTION_MS,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MIN_BACKOFF_MS,
  ShardMap,
  type ShardMapOptions,
} from './shard-map.js';
export { ShardTable, type ShardInfo } from './shard-table.js';
export { DEFAULT_REQUEST_TIMEOUT_MS } from '../deadline.js';
export { DEFAULT_MAX_RECORD_SIZE, describeStreamCapabilities, type StreamCapabilities } from './capabilities.js';
export { StreamView, type StreamStatus, type StreamViewOptions } from './stream-view.js';
