/**
 * KPL-compatible record aggregation: the envelope format and the per-shard {@link Aggregator}.
 * @module
 */
export {
  Aggregator,
  AGGREGATED_PARTITION_KEY,
  DEFAULT_AGGREGATION_MAX_COUNT,
  DEFAULT_AGGREGATION_MAX_SIZE,
  MAX_AGGREGATION_MAX_SIZE,
  MIN_AGGREGATION_MAX_SIZE,
} from './aggregator.js';
export type { AggregatorEntry, AggregatorOptions, DrainedRecord } from './aggregator.js';
export {
  ENVELOPE_OVERHEAD,
  KPL_MAGIC,
  lengthDelimitedSize,
  looksLikeEnvelope,
  NO_EXPLICIT_HASH_KEY,
  recordFieldSize,
  varintSize,
} from './format.js';
export { envelopeOfOne } from './lookalike.js';
export { recordData } from './record-data.js';
export { encodeAggregatedRecord, sealEnvelope, type EncodableRecord } from './encode.js';
export { sealEnvelopes } from './md5-lanes.js';
export { decodeRecord, type DecodedRecord, type DeaggregatedRecord, type RecordTag } from './decode.js';
