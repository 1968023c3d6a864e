/**
 * shardline: a pure-TypeScript producer for Amazon Kinesis Data Streams.
 * @packageDocumentation
 */
export { ShardlineError, ValidationError, DecodeError, UserRecordFailedError, ProducerClosedError, type Attempt } from './errors.js';
