/**
 * Writing KPL envelopes: the protobuf is written by hand into one buffer of the exactly predicted
 * size (the schema is three small messages), so encoding needs no protobuf library.
 *
 * @module
 */
import { ValidationError } from '../errors.js';
import {
  MAGIC,
  MAGIC_LENGTH,
  MD5_LENGTH,
  NO_EXPLICIT_HASH_KEY,
  TAG_DATA,
  TAG_EXPLICIT_HASH_KEY_INDEX,
  TAG_EXPLICIT_HASH_KEY_TABLE,
  TAG_PARTITION_KEY_INDEX,
  TAG_PARTITION_KEY_TABLE,
  TAG_RECORDS,
  lengthDelimitedSize,
  md5,
  recordBodySize,
  recordFieldSize,
} from './format.js';

/** One user record for {@link encodeAggregatedRecord}: indexes into the two key tables, and data. */
export interface EncodableRecord {
  /** Zero-based index into the partition key table. */
  readonly partitionKeyIndex: number;
  /** Zero-based index into the explicit hash key table; absent when the record has none. */
  readonly explicitHashKeyIndex?: number | undefined;
  /** The user record's data. */
  readonly data: Uint8Array;
}

/**
 * Everything needed to write an envelope, with every size already known and the records already
 * encoded. The Aggregator keeps its state in this shape so that draining it computes no size twice.
 * With room before the records for the magic and the key tables, and after them for the MD5, the
 * envelope is written around them in the same buffer, copying nothing.
 * @internal
 */
export interface EnvelopeParts {
  /** Exact length of the protobuf `AggregatedRecord` (the envelope is 20 bytes longer). */
  readonly protobufSize: number;
  readonly partitionKeys: readonly string[];
  /** UTF-8 byte length of each partition key, same order. */
  readonly partitionKeyByteLengths: readonly number[];
  readonly explicitHashKeys: readonly string[];
  /** UTF-8 byte length of each explicit hash key, same order. */
  readonly explicitHashKeyByteLengths: readonly number[];
  /** Holds the `records` fields, in order, as {@link writeRecordField} wrote them, from `recordsStart`. */
  readonly records: Buffer;
  readonly recordsStart: number;
  readonly recordsLength: number;
}

/**
 * Writes `value` (a non-negative integer below 2^32: every length and index here is) as a varint
 * at `pos`; returns the position after it.
 */
function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value > 0x7f) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
  return pos;
}

/** Writes one length-delimited string field; `byteLength` is the string's exact UTF-8 length. */
function writeStringField(out: Buffer, pos: number, tag: number, value: string, byteLength: number): number {
  out[pos++] = tag;
  pos = writeVarint(out, pos, byteLength);
  if (byteLength === value.length) {
    // Same length in UTF-8 bytes as in UTF-16 units: every character is ASCII. Short keys are the
    // norm, and for them a loop is cheaper than a call into the native UTF-8 encoder.
    for (let i = 0; i < byteLength; i++) out[pos + i] = value.charCodeAt(i);
    return pos + byteLength;
  }
  return pos + out.write(value, pos, byteLength, 'utf8');
}

/**
 * Writes one user record as a `records` field of an `AggregatedRecord` at `pos`, into a buffer with
 * `recordFieldSize(partitionKeyIndex, explicitHashKeyIndex, data.byteLength)` bytes free there;
 * returns the position after it.
 * @internal
 */
export function writeRecordField(out: Uint8Array, pos: number, partitionKeyIndex: number, explicitHashKeyIndex: number, data: Uint8Array): number {
  out[pos++] = TAG_RECORDS;
  pos = writeVarint(out, pos, recordBodySize(partitionKeyIndex, explicitHashKeyIndex, data.byteLength));
  out[pos++] = TAG_PARTITION_KEY_INDEX;
  pos = writeVarint(out, pos, partitionKeyIndex);
  if (explicitHashKeyIndex !== NO_EXPLICIT_HASH_KEY) {
    out[pos++] = TAG_EXPLICIT_HASH_KEY_INDEX;
    pos = writeVarint(out, pos, explicitHashKeyIndex);
  }
  out[pos++] = TAG_DATA;
  pos = writeVarint(out, pos, data.byteLength);
  out.set(data, pos);
  return pos + data.byteLength;
}

/**
 * Writes an envelope from parts whose sizes are known: magic, key tables, the encoded records and
 * room for the MD5, `ENVELOPE_OVERHEAD + parts.protobufSize` bytes. Around the records in their
 * own buffer when it has room for the rest and little more, else into a new buffer. The MD5 is not
 * written: {@link sealEnvelope} does that, and must before anything reads the envelope.
 * @internal
 */
export function writeEnvelope(parts: EnvelopeParts): Buffer {
  const { records, recordsStart, recordsLength } = parts;
  const headerLength = MAGIC_LENGTH + parts.protobufSize - recordsLength;
  const envelopeLength = headerLength + recordsLength + MD5_LENGTH;
  let out = records;
  let start = recordsStart - headerLength;
  // The envelope keeps its whole buffer until its records settle: a buffer more than a quarter
  // larger than the envelope is copied out of rather than held that long with its spare room.
  const fits = start >= 0 && recordsStart + recordsLength + MD5_LENGTH <= records.length;
  if (!fits || records.length - envelopeLength > envelopeLength >>> 2) {
    out = Buffer.allocUnsafe(envelopeLength);
    out.set(records.subarray(recordsStart, recordsStart + recordsLength), headerLength);
    start = 0;
  }
  out.set(MAGIC, start);
  let pos = start + MAGIC_LENGTH;

  const { partitionKeys, partitionKeyByteLengths, explicitHashKeys, explicitHashKeyByteLengths } = parts;
  for (let i = 0; i < partitionKeys.length; i++) {
    pos = writeStringField(out, pos, TAG_PARTITION_KEY_TABLE, partitionKeys[i]!, partitionKeyByteLengths[i]!);
  }
  for (let i = 0; i < explicitHashKeys.length; i++) {
    pos = writeStringField(out, pos, TAG_EXPLICIT_HASH_KEY_TABLE, explicitHashKeys[i]!, explicitHashKeyByteLengths[i]!);
  }
  if (pos !== start + headerLength) {
    // Cannot happen while the size functions above and this writer agree; a bug if it does.
    throw new Error(`shardline internal error: envelope tables are ${pos - start - MAGIC_LENGTH} bytes, predicted ${headerLength - MAGIC_LENGTH}`);
  }
  const end = pos + recordsLength + MD5_LENGTH;
  return start === 0 && end === out.length ? out : out.subarray(start, end);
}

/**
 * Writes the MD5 trailer of an envelope that {@link writeEnvelope} wrote: the MD5 of all between
 * the magic and the trailer. Apart so that the producer can hash its envelopes when it sends them,
 * a slice at a time, rather than in the `put()` that fills one: MD5 runs at ~600 MB/s, so a burst
 * of `put()` calls of large records would otherwise take several times as long.
 * @returns `envelope`, now complete.
 * @internal
 */
export function sealEnvelope<T extends Uint8Array>(envelope: T): T {
  const protobufEnd = envelope.length - MD5_LENGTH;
  envelope.set(md5(envelope.subarray(MAGIC_LENGTH, protobufEnd)), protobufEnd);
  return envelope;
}

function checkIndex(field: string, index: number | undefined, tableLength: number, position: number): void {
  if (index === undefined || Number.isInteger(index) && index >= 0 && index < tableLength) return;
  throw new ValidationError(
    field,
    `an integer in 0..${tableLength - 1}`,
    `record ${position} has index ${String(index)} but the table has ${tableLength} entries`,
  );
}

/**
 * Encodes a complete KPL envelope: magic, protobuf `AggregatedRecord`, MD5 trailer.
 *
 * The key tables are written as given (not de-duplicated or checked against each other); records
 * are written in order, so record `i` gets sub-sequence number `i` when read back.
 *
 * @param partitionKeyTable - Partition keys the records point into.
 * @param explicitHashKeyTable - Explicit hash keys the records point into (may be empty).
 * @param records - The user records, each with its table indexes.
 * @returns The envelope, a Buffer of exactly `ENVELOPE_OVERHEAD` + protobuf length bytes.
 * @throws {@link ValidationError} when an index is not an integer inside its table.
 */
export function encodeAggregatedRecord(
  partitionKeyTable: readonly string[],
  explicitHashKeyTable: readonly string[],
  records: readonly EncodableRecord[],
): Buffer {
  let protobufSize = 0;
  const partitionKeyByteLengths = partitionKeyTable.map((key) => Buffer.byteLength(key, 'utf8'));
  for (const length of partitionKeyByteLengths) protobufSize += lengthDelimitedSize(length);
  const explicitHashKeyByteLengths = explicitHashKeyTable.map((key) => Buffer.byteLength(key, 'utf8'));
  for (const length of explicitHashKeyByteLengths) protobufSize += lengthDelimitedSize(length);

  let recordsSize = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    checkIndex('partitionKeyIndex', record.partitionKeyIndex, partitionKeyTable.length, i);
    checkIndex('explicitHashKeyIndex', record.explicitHashKeyIndex, explicitHashKeyTable.length, i);
    recordsSize += recordFieldSize(record.partitionKeyIndex, record.explicitHashKeyIndex ?? NO_EXPLICIT_HASH_KEY, record.data.byteLength);
  }
  // The records go where the envelope has them, so it is written around them.
  const recordsStart = MAGIC_LENGTH + protobufSize;
  const envelope = Buffer.allocUnsafe(recordsStart + recordsSize + MD5_LENGTH);
  let pos = recordsStart;
  for (const record of records) {
    pos = writeRecordField(envelope, pos, record.partitionKeyIndex, record.explicitHashKeyIndex ?? NO_EXPLICIT_HASH_KEY, record.data);
  }

  const unsealed = writeEnvelope({
    protobufSize: protobufSize + recordsSize,
    partitionKeys: partitionKeyTable,
    partitionKeyByteLengths,
    explicitHashKeys: explicitHashKeyTable,
    explicitHashKeyByteLengths,
    records: envelope,
    recordsStart,
    recordsLength: recordsSize,
  });
  return sealEnvelope(unsealed);
}
