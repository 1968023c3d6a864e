/**
 * User data that a KCL would take for a KPL envelope (`looksLikeEnvelope`, format.ts): sent as a
 * raw Kinesis record, it is unwrapped by the consumer into the records it seems to hold, and the
 * record itself is lost to it; sent inside an envelope of its own, it reads back as itself.
 */
import { encodeAggregatedRecord } from './encode.js';

/** An envelope holding one user record: what a KCL reads from it is that record, data untouched. */
export function envelopeOfOne(partitionKey: string, explicitHashKey: string | undefined, data: Uint8Array): Buffer {
  return encodeAggregatedRecord(
    [partitionKey],
    explicitHashKey === undefined ? [] : [explicitHashKey],
    [{ partitionKeyIndex: 0, explicitHashKeyIndex: explicitHashKey === undefined ? undefined : 0, data }],
  );
}
