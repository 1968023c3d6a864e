/**
 * Collects user records bound for one shard into one KPL envelope, knowing its exact size at every step.
 * @module
 */
import { validateInteger } from '../validation.js';
import { ENVELOPE_OVERHEAD, MAGIC_LENGTH, MD5_LENGTH, NO_EXPLICIT_HASH_KEY, lengthDelimitedSize, recordFieldSize } from './format.js';
import { sealEnvelope, writeEnvelope, writeRecordField } from './encode.js';

/** The KPL's default `AggregationMaxCount`: in effect, no limit on the count. */
export const DEFAULT_AGGREGATION_MAX_COUNT = 4_294_967_295;
/** The KPL's default `AggregationMaxSize`, in bytes of envelope. */
export const DEFAULT_AGGREGATION_MAX_SIZE = 51_200;
/** Smallest accepted `aggregationMaxSize` (the KPL's minimum). */
export const MIN_AGGREGATION_MAX_SIZE = 64;
/** Largest accepted `aggregationMaxSize`: 10 MiB, the largest record a stream can be set to take. */
export const MAX_AGGREGATION_MAX_SIZE = 10 * 1024 * 1024;

/**
 * The partition key of every envelope the producer sends, as the KPL does. The service counts its
 * one UTF-8 byte toward the record size; the envelope is routed by its explicit hash key instead.
 */
export const AGGREGATED_PARTITION_KEY = 'a';
const AGGREGATED_PARTITION_KEY_BYTES = 1;
const EMPTY = Buffer.alloc(0);
/** Least first allocation of an envelope's encoded records. */
const MIN_RECORDS_ALLOCATION = 1024;
/** Least room left before the records for the key tables. */
const MIN_TABLES_ROOM = 64;

/** What an {@link Aggregator} needs of a user record. Validation (key lengths, hash key format) is the caller's. */
export interface AggregatorEntry {
  /** The user record's partition key; counted in UTF-8 bytes. */
  readonly partitionKey: string;
  /** The user record's explicit hash key (decimal string), or `undefined` for none. */
  readonly explicitHashKey: string | undefined;
  /** The user record's data; copied once a second entry joins it (a lone entry is sent as it is). */
  readonly data: Uint8Array;
}

/** Limits of one envelope, as in the KPL. */
export interface AggregatorOptions {
  /** Most user records in one envelope: an integer in 1..4294967295, default 4294967295. */
  readonly aggregationMaxCount?: number;
  /**
   * Most bytes in one envelope (magic, protobuf and MD5): an integer in 64..10485760, default
   * 51200. The producer must keep it within the stream's record size limit less the 1-byte outer
   * partition key.
   */
  readonly aggregationMaxSize?: number;
}

/** The Kinesis record an {@link Aggregator} drained into. */
export interface DrainedRecord<T extends AggregatorEntry> {
  /** The entries it holds, in the order they were added: entry `i` gets sub-sequence number `i`. */
  readonly entries: T[];
  /**
   * The Kinesis record's data: the envelope when `aggregated`, else (exactly one entry) that
   * entry's own data, the same object that was added.
   */
  readonly data: Uint8Array;
  /**
   * Whether `data` is an envelope. If so, send it with partition key
   * {@link AGGREGATED_PARTITION_KEY} and the first entry's hash key (its explicit hash key, else
   * the MD5 of its partition key, in decimal) as ExplicitHashKey; otherwise send it with the
   * entry's own partition key and explicit hash key.
   */
  readonly aggregated: boolean;
  /** The Kinesis record's size as the service counts it: `data` plus the outer partition key, in bytes. */
  readonly recordSizeBytes: number;
}

/** `value` if it is an integer in min..max, `fallback` if it is undefined; else a ValidationError. */
function integerOption(field: string, value: number | undefined, fallback: number, min: number, max: number): number {
  return value === undefined ? fallback : validateInteger(field, value, min, max);
}

/**
 * Collects user records into one KPL envelope, keeping its exact encoded size up to date.
 *
 * Feed it only records predicted for the same shard: the KCL drops a whole envelope if any of its
 * records hashes outside the shard that received it. Use {@link Aggregator.tryAdd} until it
 * refuses, then {@link Aggregator.drain} and send what it returns.
 *
 * @typeParam T - The caller's record type; drained entries are the same objects, in order.
 */
export class Aggregator<T extends AggregatorEntry> {
  /** The most entries one envelope takes. */
  readonly maxCount: number;
  /** The most bytes one envelope takes. */
  readonly maxSize: number;

  private entries: T[] = [];
  private readonly partitionKeyIndex = new Map<string, number>();
  private readonly partitionKeys: string[] = [];
  private readonly partitionKeyByteLengths: number[] = [];
  private readonly explicitHashKeyIndex = new Map<string, number>();
  private readonly explicitHashKeys: string[] = [];
  private readonly explicitHashKeyByteLengths: number[] = [];
  /**
   * The `records` fields of the entries, encoded from `recordsStart` on as each entry joins (the
   * first when the second does): the record and its data are still in the CPU's cache then, where
   * by the time the envelope is drained they are not. Room is left before them for the magic and
   * the key tables and after them for the MD5, so that the envelope is written around them: the
   * buffer becomes the envelope, and an idle shard holds none.
   */
  private records: Buffer = EMPTY;
  private recordsStart = 0;
  private recordsLength = 0;
  /** Sizes of the last envelope, the first allocation of the next: its records, its magic and tables. */
  private recordsHint = 0;
  private headerHint = 0;
  private protobufSize = 0;

  /**
   * @param options - Envelope limits; both optional.
   * @throws {@link ValidationError} naming `aggregationMaxCount` or `aggregationMaxSize` when out of range.
   */
  constructor(options: AggregatorOptions = {}) {
    this.maxCount = integerOption(
      'aggregationMaxCount',
      options.aggregationMaxCount,
      DEFAULT_AGGREGATION_MAX_COUNT,
      1,
      DEFAULT_AGGREGATION_MAX_COUNT,
    );
    this.maxSize = integerOption(
      'aggregationMaxSize',
      options.aggregationMaxSize,
      DEFAULT_AGGREGATION_MAX_SIZE,
      MIN_AGGREGATION_MAX_SIZE,
      MAX_AGGREGATION_MAX_SIZE,
    );
  }

  /** How many entries it holds. */
  get count(): number {
    return this.entries.length;
  }

  /**
   * The exact length in bytes of the envelope holding the current entries (magic, protobuf and
   * MD5): always the length {@link drain} would encode were it to build an envelope. 20 when empty.
   */
  get sizeBytes(): number {
    return ENVELOPE_OVERHEAD + this.protobufSize;
  }

  /**
   * The size the service would count for the Kinesis record {@link drain} would return now: 0 when
   * empty; the entry's data plus its partition key (UTF-8) for one entry, sent raw; the envelope
   * plus the outer partition key `"a"` for more.
   */
  get recordSizeBytes(): number {
    const count = this.entries.length;
    if (count === 0) return 0;
    if (count === 1) return this.entries[0]!.data.byteLength + this.partitionKeyByteLengths[0]!;
    return ENVELOPE_OVERHEAD + this.protobufSize + AGGREGATED_PARTITION_KEY_BYTES;
  }

  /**
   * Adds `entry` if the envelope stays within both limits with it: its size at most `maxSize`
   * bytes, its count at most `maxCount`. An empty aggregator takes any entry, however large (a lone
   * entry is sent raw, so the envelope limit does not apply to it).
   *
   * @returns `true` if added; `false` if not (nothing changed: drain, then add it again).
   */
  tryAdd(entry: T): boolean {
    const count = this.entries.length;
    if (count >= this.maxCount) return false;

    let added = 0;
    let pkIndex = this.partitionKeyIndex.get(entry.partitionKey);
    let pkByteLength = 0;
    if (pkIndex === undefined) {
      pkIndex = this.partitionKeys.length;
      pkByteLength = Buffer.byteLength(entry.partitionKey, 'utf8');
      added += lengthDelimitedSize(pkByteLength);
    }

    const ehk = entry.explicitHashKey;
    let ehkIndex = NO_EXPLICIT_HASH_KEY;
    let newEhk: string | undefined;
    let ehkByteLength = 0;
    if (ehk !== undefined) {
      const known = this.explicitHashKeyIndex.get(ehk);
      if (known === undefined) {
        newEhk = ehk;
        ehkIndex = this.explicitHashKeys.length;
        ehkByteLength = Buffer.byteLength(ehk, 'utf8');
        added += lengthDelimitedSize(ehkByteLength);
      } else {
        ehkIndex = known;
      }
    }

    const fieldSize = recordFieldSize(pkIndex, ehkIndex, entry.data.byteLength);
    added += fieldSize;
    if (count > 0 && ENVELOPE_OVERHEAD + this.protobufSize + added > this.maxSize) return false;

    if (pkIndex === this.partitionKeys.length) {
      this.partitionKeyIndex.set(entry.partitionKey, pkIndex);
      this.partitionKeys.push(entry.partitionKey);
      this.partitionKeyByteLengths.push(pkByteLength);
    }
    if (newEhk !== undefined) {
      this.explicitHashKeyIndex.set(newEhk, ehkIndex);
      this.explicitHashKeys.push(newEhk);
      this.explicitHashKeyByteLengths.push(ehkByteLength);
    }
    this.entries.push(entry);
    this.protobufSize += added;
    if (count === 1) {
      // The first entry's keys are first in both tables.
      const first = this.entries[0]!;
      this.encode(0, first.explicitHashKey === undefined ? NO_EXPLICIT_HASH_KEY : 0, first.data);
    }
    if (count >= 1) this.encode(pkIndex, ehkIndex, entry.data);
    return true;
  }

  /** Appends one entry's `records` field to the encoded records, making room first. */
  private encode(pkIndex: number, ehkIndex: number, data: Uint8Array): void {
    const start = this.recordsStart;
    const length = this.recordsLength + recordFieldSize(pkIndex, ehkIndex, data.byteLength);
    const room = this.records.length - start - MD5_LENGTH;
    if (length > room) {
      if (this.records === EMPTY) this.recordsStart = MAGIC_LENGTH + Math.max(this.headerHint, MIN_TABLES_ROOM);
      // Two entries or more fit maxSize, so the records never need more than that.
      // An eighth over the last envelope's records: an envelope a little larger grows no more, and
      // one a little smaller is still written in place (see writeEnvelope).
      const hint = this.recordsHint + (this.recordsHint >>> 3);
      const capacity = Math.min(this.maxSize, Math.max(length, 2 * Math.max(room, 0), hint, MIN_RECORDS_ALLOCATION));
      const grown = Buffer.allocUnsafe(this.recordsStart + capacity + MD5_LENGTH);
      this.records.copy(grown, this.recordsStart, start, start + this.recordsLength);
      this.records = grown;
    }
    this.recordsLength = writeRecordField(this.records, this.recordsStart + this.recordsLength, pkIndex, ehkIndex, data) - this.recordsStart;
  }

  /**
   * Empties the aggregator and returns its contents as one Kinesis record: the entry's own data for
   * a single entry (`aggregated: false`), an envelope for two or more (`aggregated: true`). When it
   * was empty: no entries, empty data, `aggregated: false`, size 0 (nothing to send).
   */
  drain(): DrainedRecord<T> {
    const drained = this.drainUnsealed();
    if (drained.aggregated) sealEnvelope(drained.data);
    return drained;
  }

  /**
   * {@link drain}, but an envelope's MD5 trailer is left unwritten: `sealEnvelope` must write it
   * before the envelope is sent or read as a whole (its records can be read before, with
   * `recordData`). The producer hashes its envelopes when it sends them, not in `put()`.
   * @internal
   */
  drainUnsealed(): DrainedRecord<T> {
    const entries = this.entries;
    const recordSizeBytes = this.recordSizeBytes;
    let data: Uint8Array;
    if (entries.length <= 1) {
      data = entries[0]?.data ?? EMPTY;
    } else {
      data = writeEnvelope({
        protobufSize: this.protobufSize,
        partitionKeys: this.partitionKeys,
        partitionKeyByteLengths: this.partitionKeyByteLengths,
        explicitHashKeys: this.explicitHashKeys,
        explicitHashKeyByteLengths: this.explicitHashKeyByteLengths,
        records: this.records,
        recordsStart: this.recordsStart,
        recordsLength: this.recordsLength,
      });
      this.recordsHint = this.recordsLength;
      this.headerHint = this.protobufSize - this.recordsLength;
    }
    this.reset();
    return { entries, data, aggregated: entries.length > 1, recordSizeBytes };
  }

  private reset(): void {
    this.entries = [];
    this.partitionKeyIndex.clear();
    this.partitionKeys.length = 0;
    this.partitionKeyByteLengths.length = 0;
    this.explicitHashKeyIndex.clear();
    this.explicitHashKeys.length = 0;
    this.explicitHashKeyByteLengths.length = 0;
    this.records = EMPTY;
    this.recordsStart = 0;
    this.recordsLength = 0;
    this.protobufSize = 0;
  }
}
