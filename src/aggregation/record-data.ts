/**
 * Reading back the data of the records in an envelope the encoder wrote, without a protobuf
 * library: the producer keeps a user record's bytes only in its envelope once they are there, and
 * takes them back from it when the record must go out again in another Kinesis record (a retry,
 * a shard that closed).
 *
 * @module
 */
import { MAGIC_LENGTH, MD5_LENGTH, TAG_DATA, TAG_EXPLICIT_HASH_KEY_INDEX, TAG_PARTITION_KEY_INDEX, TAG_RECORDS } from './format.js';

/** Thrown for bytes that are not an envelope as `encode.ts` writes them: a shardline defect, never input. */
function notOurs(what: string): Error {
  return new Error(`shardline internal error: not an envelope shardline wrote (${what})`);
}

/**
 * The data of each user record in `envelope`, in order (record `i` first at `i`), each a view into
 * `envelope`, not a copy. Reads the fields in the order and the forms `encode.ts` writes them; it
 * checks neither the magic nor the MD5, which the producer wrote itself.
 * @internal
 */
export function recordData(envelope: Uint8Array): Uint8Array[] {
  const views: Uint8Array[] = [];
  const end = envelope.length - MD5_LENGTH;
  let pos = MAGIC_LENGTH;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= end) throw notOurs('a varint runs past the protobuf');
      const byte = envelope[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw notOurs('a varint longer than 5 bytes');
  };
  while (pos < end) {
    const key = envelope[pos++];
    const length = varint();
    const fieldEnd = pos + length;
    if (fieldEnd > end) throw notOurs('a field runs past the protobuf');
    if (key === TAG_RECORDS) {
      if (envelope[pos++] !== TAG_PARTITION_KEY_INDEX) throw notOurs('a record without its partition key index first');
      varint();
      if (envelope[pos] === TAG_EXPLICIT_HASH_KEY_INDEX) {
        pos++;
        varint();
      }
      if (envelope[pos++] !== TAG_DATA) throw notOurs('a record without data after its indexes');
      const dataLength = varint();
      if (pos + dataLength !== fieldEnd) throw notOurs('a record with more than its indexes and data');
      views.push(envelope.subarray(pos, fieldEnd));
    }
    pos = fieldEnd;
  }
  return views;
}
