/**
 * The KPL aggregated record format (the "envelope"): exact size arithmetic, encoding and decoding.
 *
 * An envelope is `F3 89 9A C2` | protobuf `AggregatedRecord` | MD5(protobuf), see `docs/format.md`.
 * The encoder writes the protobuf by hand into one buffer of the exactly predicted size (the schema
 * is three small messages); the decoder reads with protobufjs' `Reader`.
 *
 * @module
 */
import * as crypto from 'node:crypto';
import protobuf from 'protobufjs/minimal.js';
import { DecodeError, ValidationError } from '../errors.js';

const { Reader } = protobuf;
type ProtoReader = InstanceType<typeof Reader>;

const MAGIC = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
const MAGIC_LENGTH = MAGIC.length;
const MD5_LENGTH = 16;

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
const TAG_PARTITION_KEY_TABLE = 0x0a;
/** AggregatedRecord.explicit_hash_key_table = 2, length-delimited. */
const TAG_EXPLICIT_HASH_KEY_TABLE = 0x12;
/** AggregatedRecord.records = 3, length-delimited. */
const TAG_RECORDS = 0x1a;
/** Record.partition_key_index = 1, varint. */
const TAG_PARTITION_KEY_INDEX = 0x08;
/** Record.explicit_hash_key_index = 2, varint. */
const TAG_EXPLICIT_HASH_KEY_INDEX = 0x10;
/** Record.data = 3, length-delimited. */
const TAG_DATA = 0x1a;
/** Record.tags = 4, length-delimited. */
const TAG_TAGS = 0x22;
/** Tag.key = 1, length-delimited. */
const TAG_TAG_KEY = 0x0a;
/** Tag.value = 2, length-delimited. */
const TAG_TAG_VALUE = 0x12;

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

/** Bytes of one `Record` message's body (without its own key and length). */
function recordBodySize(partitionKeyIndex: number, explicitHashKeyIndex: number, dataLength: number): number {
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

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

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
 * Everything needed to write an envelope, with every size already known. The Aggregator keeps its
 * state in this shape so that draining it computes no size twice.
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
  /** The user records' data, in order. */
  readonly records: readonly { readonly data: Uint8Array }[];
  /** For each record, its partition key index. */
  readonly partitionKeyIndexes: readonly number[];
  /** For each record, its explicit hash key index or {@link NO_EXPLICIT_HASH_KEY}. */
  readonly explicitHashKeyIndexes: readonly number[];
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

const oneShotHash = (crypto as { hash?: unknown }).hash;

/** MD5 of `bytes`, as 16 bytes. Uses `crypto.hash` where Node has it (20.12+), else `createHash`. */
function md5(bytes: Uint8Array): Uint8Array {
  if (typeof oneShotHash === 'function') return crypto.hash('md5', bytes, 'buffer');
  return crypto.createHash('md5').update(bytes).digest();
}

/**
 * Writes an envelope from parts whose sizes are known, into one buffer of exactly
 * `ENVELOPE_OVERHEAD + parts.protobufSize` bytes. Data is copied once, into that buffer.
 * @internal
 */
export function writeEnvelope(parts: EnvelopeParts): Buffer {
  const protobufEnd = MAGIC_LENGTH + parts.protobufSize;
  const out = Buffer.allocUnsafe(protobufEnd + MD5_LENGTH);
  out.set(MAGIC, 0);
  let pos = MAGIC_LENGTH;

  const { partitionKeys, partitionKeyByteLengths, explicitHashKeys, explicitHashKeyByteLengths } = parts;
  for (let i = 0; i < partitionKeys.length; i++) {
    pos = writeStringField(out, pos, TAG_PARTITION_KEY_TABLE, partitionKeys[i]!, partitionKeyByteLengths[i]!);
  }
  for (let i = 0; i < explicitHashKeys.length; i++) {
    pos = writeStringField(out, pos, TAG_EXPLICIT_HASH_KEY_TABLE, explicitHashKeys[i]!, explicitHashKeyByteLengths[i]!);
  }

  const { records, partitionKeyIndexes, explicitHashKeyIndexes } = parts;
  for (let i = 0; i < records.length; i++) {
    const data = records[i]!.data;
    const pkIndex = partitionKeyIndexes[i]!;
    const ehkIndex = explicitHashKeyIndexes[i]!;
    out[pos++] = TAG_RECORDS;
    pos = writeVarint(out, pos, recordBodySize(pkIndex, ehkIndex, data.byteLength));
    out[pos++] = TAG_PARTITION_KEY_INDEX;
    pos = writeVarint(out, pos, pkIndex);
    if (ehkIndex !== NO_EXPLICIT_HASH_KEY) {
      out[pos++] = TAG_EXPLICIT_HASH_KEY_INDEX;
      pos = writeVarint(out, pos, ehkIndex);
    }
    out[pos++] = TAG_DATA;
    pos = writeVarint(out, pos, data.byteLength);
    out.set(data, pos);
    pos += data.byteLength;
  }

  if (pos !== protobufEnd) {
    // Cannot happen while the size functions above and this writer agree; a bug if it does.
    throw new Error(`shardline internal error: envelope is ${pos - MAGIC_LENGTH} bytes, predicted ${parts.protobufSize}`);
  }
  out.set(md5(out.subarray(MAGIC_LENGTH, protobufEnd)), protobufEnd);
  return out;
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

  const partitionKeyIndexes = new Array<number>(records.length);
  const explicitHashKeyIndexes = new Array<number>(records.length);
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    checkIndex('partitionKeyIndex', record.partitionKeyIndex, partitionKeyTable.length, i);
    checkIndex('explicitHashKeyIndex', record.explicitHashKeyIndex, explicitHashKeyTable.length, i);
    const ehkIndex = record.explicitHashKeyIndex ?? NO_EXPLICIT_HASH_KEY;
    partitionKeyIndexes[i] = record.partitionKeyIndex;
    explicitHashKeyIndexes[i] = ehkIndex;
    protobufSize += recordFieldSize(record.partitionKeyIndex, ehkIndex, record.data.byteLength);
  }

  return writeEnvelope({
    protobufSize,
    partitionKeys: partitionKeyTable,
    partitionKeyByteLengths,
    explicitHashKeys: explicitHashKeyTable,
    explicitHashKeyByteLengths,
    records,
    partitionKeyIndexes,
    explicitHashKeyIndexes,
  });
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/** A `Tag` of a user record (the KPL never writes them; other writers may). */
export interface RecordTag {
  readonly key: string;
  readonly value: string | undefined;
}

/** One user record read back from a Kinesis record. */
export interface DeaggregatedRecord {
  /** The user record's partition key (for a plain record, the Kinesis record's). */
  readonly partitionKey: string;
  /**
   * The user record's explicit hash key. For a sub-record of an envelope, only its own (from the
   * envelope's table), never the outer record's; for a plain record, the one passed in.
   */
  readonly explicitHashKey: string | undefined;
  /** The data: a view into the bytes passed to {@link decodeRecord}, not a copy. */
  readonly data: Uint8Array;
  /** Position inside the envelope (0, 1, …); 0 for a plain record. */
  readonly subSequenceNumber: number;
  /** The record's tags, present only when the envelope carried some for it. */
  readonly tags?: readonly RecordTag[];
}

/** What {@link decodeRecord} found in one Kinesis record. */
export interface DecodedRecord {
  /**
   * `true` when the data was a KPL envelope (its records are the user records inside it, possibly
   * none); `false` when it was a plain record (then `records` holds exactly that record).
   */
  readonly aggregated: boolean;
  readonly records: readonly DeaggregatedRecord[];
}

/** A `Record` as parsed, before its indexes are looked up. */
interface ParsedRecord {
  readonly partitionKeyIndex: number;
  readonly explicitHashKeyIndex: number | undefined;
  readonly data: Uint8Array;
  readonly tags: RecordTag[] | undefined;
}

interface ParsedAggregatedRecord {
  readonly partitionKeys: string[];
  readonly explicitHashKeys: string[];
  readonly records: ParsedRecord[];
}

/** Thrown inside the parser for protobuf that the KCL's parser would reject. */
class MalformedProtobuf extends Error {}

/** Reads a field key; a field number of 0 is malformed, as in every protobuf runtime. */
function readKey(reader: ProtoReader): number {
  const key = reader.tag();
  if (key >>> 3 === 0) throw new MalformedProtobuf('field number 0');
  return key;
}

/** Skips an unknown field (any wire type, groups included); throws on wire types 4, 6 and 7. */
function skipField(reader: ProtoReader, key: number): void {
  reader.skipType(key & 7, 0, key >>> 3);
}

/** Reads a uint64 varint as a number (exact up to 2^53; larger values are out of any table anyway). */
function readUint64(reader: ProtoReader): number {
  const value = reader.uint64() as unknown as number | { toNumber(): number };
  return typeof value === 'number' ? value : value.toNumber();
}

/**
 * Narrows the reader to the embedded message that starts here (its length prefix is read) and
 * returns the reader's previous limit, for {@link leaveMessage}. Reads inside cannot cross its end.
 */
function enterMessage(reader: ProtoReader): number {
  const length = reader.size();
  const end = reader.pos + length;
  if (end > reader.len) throw new MalformedProtobuf('embedded message runs past its container');
  const outerLimit = reader.len;
  reader.len = end;
  return outerLimit;
}

function leaveMessage(reader: ProtoReader, outerLimit: number): void {
  reader.len = outerLimit;
}

function parseTag(reader: ProtoReader): RecordTag {
  const outerLimit = enterMessage(reader);
  let key: string | undefined;
  let value: string | undefined;
  while (reader.pos < reader.len) {
    const fieldKey = readKey(reader);
    if (fieldKey === TAG_TAG_KEY) key = reader.string();
    else if (fieldKey === TAG_TAG_VALUE) value = reader.string();
    else skipField(reader, fieldKey);
  }
  leaveMessage(reader, outerLimit);
  if (key === undefined) throw new MalformedProtobuf('Tag without its required key');
  return { key, value };
}

function parseRecord(reader: ProtoReader): ParsedRecord {
  const outerLimit = enterMessage(reader);
  let partitionKeyIndex: number | undefined;
  let explicitHashKeyIndex: number | undefined;
  let data: Uint8Array | undefined;
  let tags: RecordTag[] | undefined;
  while (reader.pos < reader.len) {
    const key = readKey(reader);
    switch (key) {
      case TAG_PARTITION_KEY_INDEX:
        partitionKeyIndex = readUint64(reader);
        break;
      case TAG_EXPLICIT_HASH_KEY_INDEX:
        explicitHashKeyIndex = readUint64(reader);
        break;
      case TAG_DATA:
        data = reader.bytes();
        break;
      case TAG_TAGS:
        (tags ??= []).push(parseTag(reader));
        break;
      default:
        skipField(reader, key);
    }
  }
  leaveMessage(reader, outerLimit);
  if (partitionKeyIndex === undefined) throw new MalformedProtobuf('Record without its required partition_key_index');
  if (data === undefined) throw new MalformedProtobuf('Record without its required data');
  return { partitionKeyIndex, explicitHashKeyIndex, data, tags };
}

/**
 * Parses an `AggregatedRecord` the way a proto2 runtime does: unknown fields (and known field
 * numbers with an unexpected wire type) are skipped, the last value of a repeated scalar wins, a
 * missing required field is a failure. Throws (anything) when the bytes do not parse.
 */
function parseAggregatedRecord(protobufBytes: Buffer): ParsedAggregatedRecord {
  const reader = Reader.create(protobufBytes);
  const partitionKeys: string[] = [];
  const explicitHashKeys: string[] = [];
  const records: ParsedRecord[] = [];
  while (reader.pos < reader.len) {
    const key = readKey(reader);
    switch (key) {
      case TAG_PARTITION_KEY_TABLE:
        partitionKeys.push(reader.string());
        break;
      case TAG_EXPLICIT_HASH_KEY_TABLE:
        explicitHashKeys.push(reader.string());
        break;
      case TAG_RECORDS:
        records.push(parseRecord(reader));
        break;
      default:
        skipField(reader, key);
    }
  }
  return { partitionKeys, explicitHashKeys, records };
}

/** Whether `data` has the envelope's shape: magic, then more than 16 bytes, and a matching MD5. */
function hasEnvelopeShape(data: Buffer): boolean {
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

function lookUp(table: readonly string[], index: number, what: string, subSequenceNumber: number): string {
  const value = index < table.length ? table[index] : undefined;
  if (value === undefined) {
    throw new DecodeError(
      `KPL envelope record ${subSequenceNumber} points at ${what} index ${index}, but the table has ${table.length} entries`,
    );
  }
  return value;
}

function plainRecord(data: Uint8Array, partitionKey: string, explicitHashKey: string | undefined): DecodedRecord {
  return { aggregated: false, records: [{ partitionKey, explicitHashKey, data, subSequenceNumber: 0 }] };
}

/**
 * Reads one Kinesis record's data the way the KCL does: as a KPL envelope when it is one, else as a
 * plain record.
 *
 * The data is an envelope only when it is longer than 20 bytes, starts with {@link KPL_MAGIC}, the
 * MD5 of the bytes between the magic and the last 16 bytes equals those 16 bytes, and those bytes
 * parse as a proto2 `AggregatedRecord` (required fields present). Anything else - too short, wrong
 * magic, wrong MD5, protobuf that does not parse - is a plain record, returned unchanged with
 * `aggregated: false`, exactly as the KCL passes it on.
 *
 * An envelope that parses but whose record points outside a key table is a {@link DecodeError}
 * (the KCL logs it and drops the rest of that envelope; shardline refuses the whole record).
 * Sub-records get sub-sequence numbers 0, 1, … in envelope order; their data are views into
 * `data`. This function does not check that sub-records hash into the receiving shard (the KCL
 * drops an envelope with any record outside it): callers that need it compare each record's hash key.
 *
 * @param data - The Kinesis record's data.
 * @param partitionKey - The Kinesis record's partition key (used for a plain record).
 * @param explicitHashKey - The Kinesis record's explicit hash key, if known (used for a plain record).
 * @throws {@link DecodeError} for an index outside its table; never any other error.
 */
export function decodeRecord(data: Uint8Array, partitionKey: string, explicitHashKey?: string): DecodedRecord {
  try {
    if (!(data instanceof Uint8Array)) throw new DecodeError('record data must be a Uint8Array');
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (!hasEnvelopeShape(bytes)) return plainRecord(data, partitionKey, explicitHashKey);

    let parsed: ParsedAggregatedRecord;
    try {
      parsed = parseAggregatedRecord(bytes.subarray(MAGIC_LENGTH, bytes.length - MD5_LENGTH));
    } catch {
      // The KCL: a protobuf that does not parse means the data is a plain record after all.
      return plainRecord(data, partitionKey, explicitHashKey);
    }

    const { partitionKeys, explicitHashKeys } = parsed;
    const records = parsed.records.map((record, subSequenceNumber): DeaggregatedRecord => {
      const result: DeaggregatedRecord = {
        partitionKey: lookUp(partitionKeys, record.partitionKeyIndex, 'partition key', subSequenceNumber),
        explicitHashKey:
          record.explicitHashKeyIndex === undefined
            ? undefined
            : lookUp(explicitHashKeys, record.explicitHashKeyIndex, 'explicit hash key', subSequenceNumber),
        data: record.data,
        subSequenceNumber,
      };
      return record.tags === undefined ? result : { ...result, tags: record.tags };
    });
    return { aggregated: true, records };
  } catch (error) {
    if (error instanceof DecodeError) throw error;
    throw new DecodeError('could not read the record data', { cause: error });
  }
}
