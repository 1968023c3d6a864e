/**
 * Reading Kinesis records as the KCL does: KPL envelopes are parsed with protobufjs' minimal
 * `Reader`. Only this module loads protobufjs, so a producer that never decodes (and a bundle of
 * one) does not carry it.
 *
 * @module
 */
import protobuf from 'protobufjs/minimal.js';
import { DecodeError } from '../errors.js';
import {
  MAGIC_LENGTH,
  MD5_LENGTH,
  TAG_DATA,
  TAG_EXPLICIT_HASH_KEY_INDEX,
  TAG_EXPLICIT_HASH_KEY_TABLE,
  TAG_PARTITION_KEY_INDEX,
  TAG_PARTITION_KEY_TABLE,
  TAG_RECORDS,
  TAG_TAGS,
  TAG_TAG_KEY,
  TAG_TAG_VALUE,
  looksLikeEnvelope,
} from './format.js';

const { Reader } = protobuf;
type ProtoReader = InstanceType<typeof Reader>;


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
    if (!looksLikeEnvelope(bytes)) return plainRecord(data, partitionKey, explicitHashKey);

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
