/**
 * The KPL aggregated record format (the "envelope"): its constants and exact size arithmetic, shared
 * by the encoder (`encode.ts`) and the decoder (`decode.ts`).
 *
 * An envelope is `F3 89 9A C2` | protobuf `AggregatedRecord` | MD5(protobuf), see `docs/format.md`.
 *
 * @module
 */
import * as crypto from 'node:crypto';

/** The envelope's leading magic bytes, read by the encoder and decoder. @internal */
export const MAGIC = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
/** Length of {@link MAGIC}. @internal */
export const MAGIC_LENGTH = MAGIC.length;
/** Length of the MD5 trailer. @internal */
export const MD5_LENGTH = 16;

/**
 * The four bytes every KPL envelope starts with: `F3 89 9A C2`. This is a copy: the encoder and
 * decoder do not read it, so changing it changes nothing.
 */
export const KPL_MAGIC: Uint8Array = MAGIC.slice();

/** Bytes an envelope adds around its protobuf: 4 bytes of magic and the 16-byte MD5 trailer. */
export const ENVELOPE_OVERHEAD = MAGIC_LENGTH + MD5_LENGTH;

// Field keys (field number << 3 | wire type). Every field number here is below 16, so each key is
// one byte on the wire: that is what the `1 +` in the size functions below stands for.
/** AggregatedRecord.partition_key_table = 1, length-delimited. */
export const TAG_PARTITION_KEY_TABLE = 0x0a;
/** AggregatedRecord.explicit_hash_key_table = 2, length-delimited. */
export const TAG_EXPLICIT_HASH_KEY_TABLE = 0x12;
/** AggregatedRecord.records = 3, length-delimited. */
export const TAG_RECORDS = 0x1a;
/** Record.partition_key_index = 1, varint. */
export const TAG_PARTITION_KEY_INDEX = 0x08;
/** Record.explicit_hash_key_index = 2, varint. */
export const TAG_EXPLICIT_HASH_KEY_INDEX = 0x10;
/** Record.data = 3, length-delimited. */
export const TAG_DATA = 0x1a;
/** Record.tags = 4, length-delimited. */
export const TAG_TAGS = 0x22;
/** Tag.key = 1, length-delimited. */
export const TAG_TAG_KEY = 0x0a;
/** Tag.value = 2, length-delimited. */
export const TAG_TAG_VALUE = 0x12;

/** Index value meaning "this record has no explicit hash key" in the internal index arrays. */
export const NO_EXPLICIT_HASH_KEY = -1;

// ---------------------------------------------------------------------------------------------
// Exact sizes: the one implementation used by the encoder and by the Aggregator.
// ---------------------------------------------------------------------------------------------

/**
 * Bytes a protobuf varint takes for `value`, a non-negative integer (at most 2^53 - 1).
 */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 4;
  let rest = Math.floor(value / 0x10000000);
  while (rest > 0) {
    size += 1;
    rest = Math.floor(rest / 0x80);
  }
  return size;
}

/**
 * Bytes a length-delimited field (one-byte key, varint length, payload) takes for a payload of
 * `payloadLength` bytes. A key table entry of `n` UTF-8 bytes takes `lengthDelimitedSize(n)`.
 */
export function lengthDelimitedSize(payloadLength: number): number {
  return 1 + varintSize(payloadLength) + payloadLength;
}

/**
 * Bytes of one `Record` message's body (without its own key and length).
 * @internal
 */
export function recordBodySize(partitionKeyIndex: number, explicitHashKeyIndex: number, dataLength: number): number {
  return (
    1 +
    varintSize(partitionKeyIndex) +
    (explicitHashKeyIndex === NO_EXPLICIT_HASH_KEY ? 0 : 1 + varintSize(explicitHashKeyIndex)) +
    lengthDelimitedSize(dataLength)
  );
}

/**
 * Bytes one user record adds to the `records` field of an `AggregatedRecord`, key and length
 * included. `explicitHashKeyIndex` is {@link NO_EXPLICIT_HASH_KEY} for a record without one.
 */
export function recordFieldSize(partitionKeyIndex: number, explicitHashKeyIndex: number, dataLength: number): number {
  return lengthDelimitedSize(recordBodySize(partitionKeyIndex, explicitHashKeyIndex, dataLength));
}

const oneShotHash = (crypto as { hash?: unknown }).hash;

/**
 * MD5 of `bytes`, as 16 bytes. Uses `crypto.hash` where Node has it (20.12+), else `createHash`.
 * @internal
 */
export function md5(bytes: Uint8Array): Uint8Array {
  if (typeof oneShotHash === 'function') return crypto.hash('md5', bytes, 'buffer');
  return crypto.createHash('md5').update(bytes).digest();
}

/**
 * Whether `data` has an envelope's shape, the KCL's first tests: the magic, more than 16 bytes
 * after it, and an MD5 trailer matching what lies between. (The KCL then parses the protobuf.)
 */
export function looksLikeEnvelope(data: Uint8Array): boolean {
  if (data.length <= ENVELOPE_OVERHEAD) return false;
  for (let i = 0; i < MAGIC_LENGTH; i++) {
    if (data[i] !== MAGIC[i]) return false;
  }
  const protobufEnd = data.length - MD5_LENGTH;
  const digest = md5(data.subarray(MAGIC_LENGTH, protobufEnd));
  for (let i = 0; i < MD5_LENGTH; i++) {
    if (digest[i] !== data[protobufEnd + i]) return false;
  }
  return true;
}
