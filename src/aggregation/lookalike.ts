/**
 * User data that a KCL would take for a KPL envelope. Sent as a raw Kinesis record, such data is
 * unwrapped by the consumer into the records it seems to hold, and the record itself is lost to
 * it; sent inside an envelope of its own, it reads back as itself.
 */
import { createHash } from 'node:crypto';
import { encodeAggregatedRecord } from './encode.js';
import { ENVELOPE_OVERHEAD, KPL_MAGIC } from './format.js';

const MAGIC_LENGTH = KPL_MAGIC.length;

/**
 * Whether `data` passes the KCL's first tests for an envelope: the magic prefix and the MD5
 * trailer over what lies between. (The KCL then parses the protobuf; treating data that fails
 * only that as an envelope is harmless: wrapping it costs 20-odd bytes.)
 */
export function looksLikeEnvelope(data: Uint8Array): boolean {
  if (data.length <= ENVELOPE_OVERHEAD) return false;
  for (let i = 0; i < MAGIC_LENGTH; i++) if (data[i] !== KPL_MAGIC[i]) return false;
  const end = data.length - (ENVELOPE_OVERHEAD - MAGIC_LENGTH);
  const digest = createHash('md5').update(data.subarray(MAGIC_LENGTH, end)).digest();
  return digest.equals(data.subarray(end));
}

/** An envelope holding one user record: what a KCL reads from it is that record, data untouched. */
export function envelopeOfOne(partitionKey: string, explicitHashKey: string | undefined, data: Uint8Array): Buffer {
  return encodeAggregatedRecord(
    [partitionKey],
    explicitHashKey === undefined ? [] : [explicitHashKey],
    [{ partitionKeyIndex: 0, explicitHashKeyIndex: explicitHashKey === undefined ? undefined : 0, data }],
  );
}
