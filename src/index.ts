/**
 * shardline: a pure-TypeScript producer for Amazon Kinesis Data Streams.
 * @packageDocumentation
 */
export { ShardlineError, ValidationError, DecodeError, UserRecordFailedError, ProducerClosedError, type Attempt } from './errors.js';
export { ShardMap, HashKeyCache, hashKeyOfPartitionKey, hashKeyToDecimal, type HashKey, type ShardInfo } from './sharding/index.js';
