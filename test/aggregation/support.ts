/**
 * Test helpers for the aggregation tests: independent oracles (protobufjs' Writer, node:crypto) and
 * a typed wrapper around aws-kinesis-agg, the reference JavaScript implementation of the format.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs/minimal.js';

const { Writer } = protobuf;
const require = createRequire(import.meta.url);

/** A user record as the tests build them. */
export interface TestEntry {
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  readonly data: Uint8Array;
}

/** A user record as read back, in a shape every decoder's output is mapped to before comparing. */
export interface ReadBack {
  readonly partitionKey: string;
  readonly explicitHashKey: string | undefined;
  readonly data: string; // hex
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function md5(bytes: Uint8Array): Buffer {
  return createHash('md5').update(bytes).digest();
}

/** Magic + `protobufBytes` + MD5(protobufBytes): any bytes, wrapped so they reach the protobuf parser. */
export function wrapInEnvelope(protobufBytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), protobufBytes, md5(protobufBytes)]);
}

/** What reading `entries` back must give. */
export function expected(entries: readonly TestEntry[]): ReadBack[] {
  return readBack(entries);
}

/** Decoded (or expected) records in the comparable {@link ReadBack} shape. */
export function readBack(records: readonly TestEntry[]): ReadBack[] {
  return records.map((r) => ({ partitionKey: r.partitionKey, explicitHashKey: r.explicitHashKey, data: hex(r.data) }));
}

/**
 * The envelope for `entries` built with protobufjs' Writer (tables de-duplicated in order of first
 * appearance, as the KPL and aws-kinesis-agg do): an oracle independent of shardline's encoder.
 */
export function referenceEnvelope(entries: readonly TestEntry[]): Buffer {
  const pks = new Map<string, number>();
  const ehks = new Map<string, number>();
  for (const e of entries) {
    if (!pks.has(e.partitionKey)) pks.set(e.partitionKey, pks.size);
    if (e.explicitHashKey !== undefined && !ehks.has(e.explicitHashKey)) ehks.set(e.explicitHashKey, ehks.size);
  }
  const w = Writer.create();
  for (const key of pks.keys()) w.uint32(0x0a).string(key);
  for (const key of ehks.keys()) w.uint32(0x12).string(key);
  for (const e of entries) {
    w.uint32(0x1a).fork();
    w.uint32(0x08).uint64(pks.get(e.partitionKey)!);
    if (e.explicitHashKey !== undefined) w.uint32(0x10).uint64(ehks.get(e.explicitHashKey)!);
    w.uint32(0x1a).bytes(e.data);
    w.ldelim();
  }
  return wrapInEnvelope(w.finish());
}

// ---- aws-kinesis-agg ---------------------------------------------------------------------------

interface LibUserRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  sequenceNumber: string;
  subSequenceNumber?: number;
  data: string; // base64
}
interface LibEncodedRecord {
  partitionKey: string;
  data: Buffer;
  ExplicitHashKey?: string;
}
interface LibRecordAggregator {
  addUserRecord(record: { partitionKey: string; explicitHashKey?: string; data: Uint8Array }): void;
  build(): LibEncodedRecord | undefined;
}
interface AwsKinesisAgg {
  deaggregateSync(
    kinesisRecord: {
      partitionKey: string;
      explicitHashKey?: string;
      sequenceNumber: string;
      data: string;
      approximateArrivalTimestamp: number;
    },
    computeChecksums: boolean,
    afterRecordCallback: (err: Error | null | undefined, userRecords?: LibUserRecord[]) => void,
  ): void;
  RecordAggregator: new () => LibRecordAggregator;
}

const awsKinesisAgg = require('aws-kinesis-agg') as AwsKinesisAgg;

/** The user records aws-kinesis-agg reads from one Kinesis record (checksums verified). */
export function deaggregateWithLibrary(
  data: Uint8Array,
  partitionKey: string,
): { partitionKey: string; explicitHashKey: string | undefined; data: string; subSequenceNumber: number | undefined }[] {
  let result: LibUserRecord[] | undefined;
  let failure: Error | null | undefined;
  awsKinesisAgg.deaggregateSync(
    {
      partitionKey,
      sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: 1_700_000_000_000,
    },
    true,
    (err, records) => {
      failure = err;
      result = records;
    },
  );
  if (failure) throw failure;
  return (result ?? []).map((r) => ({
    partitionKey: r.partitionKey,
    explicitHashKey: r.explicitPartitionKey,
    data: Buffer.from(r.data, 'base64').toString('hex'),
    subSequenceNumber: r.subSequenceNumber,
  }));
}

/** One envelope built by aws-kinesis-agg's RecordAggregator from `entries`. */
export function aggregateWithLibrary(entries: readonly TestEntry[]): LibEncodedRecord {
  const aggregator = new awsKinesisAgg.RecordAggregator();
  for (const e of entries) {
    aggregator.addUserRecord({
      partitionKey: e.partitionKey,
      ...(e.explicitHashKey !== undefined && { explicitHashKey: e.explicitHashKey }),
      data: Buffer.from(e.data),
    });
  }
  const built = aggregator.build();
  if (built === undefined) throw new Error('aws-kinesis-agg built nothing');
  return built;
}
