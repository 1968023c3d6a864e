/**
 * Input checks for user records, stream references, option names, client settings and size
 * options. Everything here throws
 * {@link ValidationError} (never retriable) before a record is buffered, so a bad record fails its
 * own `put()` instead of a whole PutRecords request later.
 */
import { ValidationError } from './errors.js';

/** Most UTF-16 code units in a partition key (the service's limit; the KPL counts the same way). */
export const MAX_PARTITION_KEY_LENGTH = 256;
/** The service's default record size limit: data + partition key, 1 MiB. */
export const DEFAULT_MAX_USER_RECORD_SIZE = 1_048_576;
/** The largest record size a stream can opt in to (`MaxRecordSizeInKiB` 10240): 10 MiB. */
export const MAX_USER_RECORD_SIZE_LIMIT = 10_485_760;
/** 2^128-1, the largest explicit hash key, in decimal. */
export const MAX_EXPLICIT_HASH_KEY = '340282366920938463463374607431768211455';
/** Most characters in a stream name. */
export const MAX_STREAM_NAME_LENGTH = 128;
/** Most characters in a stream ARN (the API reference's length constraint). */
export const MAX_STREAM_ARN_LENGTH = 2048;

/** A user record after {@link validateUserRecord}: typed, with its data as bytes and sizes known. */
export interface ValidatedUserRecord {
  readonly partitionKey: string;
  /** UTF-8 bytes of the partition key: what the service counts against record and shard limits. */
  readonly partitionKeyBytes: number;
  readonly explicitHashKey: string | undefined;
  /** The data as given when it was bytes (not copied), or the UTF-8 encoding of a string. */
  readonly data: Uint8Array;
}

/** Does `text` contain no lone surrogate, so that its UTF-8 encoding is well-formed? */
function isWellFormed(text: string): boolean {
  // Native (ES2024, Node ≥ 20) and faster than a charCodeAt loop once keys pass ~10 characters:
  // 31 ns against 67 ns for a UUID, O(1) for one-byte strings, which cannot hold surrogates.
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return value.constructor.name;
  if (typeof value === 'object') return (value.constructor as { name?: string } | undefined)?.name ?? 'object';
  return typeof value;
}

/**
 * Checks a user record and puts it in the form the producer works with.
 *
 * - `partitionKey`: a string of 1..256 UTF-16 code units with no lone surrogate (its UTF-8 must be
 *   well-formed, or it would not hash or send as written).
 * - `explicitHashKey` (optional; `undefined` or `null` mean none): a decimal string matching
 *   `0|[1-9]\d{0,38}` with a value of at most 2^128-1.
 * - `data`: a `Uint8Array` (a `Buffer` is one) or a string, encoded here once as UTF-8; a string
 *   with a lone surrogate is refused rather than silently changed to U+FFFD.
 * - size: data bytes + partition key UTF-8 bytes ≤ `maxUserRecordSize`, because that is what the
 *   service counts against its record limit (1 MiB by default, up to 10 MiB for streams that opt in).
 *
 * Byte data is returned as is, not copied. `maxUserRecordSize` is trusted here (check it once with
 * {@link validateMaxUserRecordSize}); this runs on every `put()`.
 *
 * @throws ValidationError with `field` one of `record` (not an object), `partitionKey`,
 *   `explicitHashKey`, `data`.
 */
export function validateUserRecord(record: unknown, maxUserRecordSize: number): ValidatedUserRecord {
  validateRecordObject(record);
  const { partitionKey, explicitHashKey } = record;
  if (typeof partitionKey !== 'string') {
    throw new ValidationError('partitionKey', 'a string', `expected a string, got ${typeName(partitionKey)}`);
  }
  if (partitionKey.length === 0 || partitionKey.length > MAX_PARTITION_KEY_LENGTH) {
    throw new ValidationError(
      'partitionKey',
      `1..${MAX_PARTITION_KEY_LENGTH} UTF-16 code units`,
      `has ${partitionKey.length} UTF-16 code units`,
    );
  }
  if (!isWellFormed(partitionKey)) {
    throw new ValidationError('partitionKey', 'well-formed UTF-16 (no lone surrogates)', 'contains a lone surrogate');
  }
  const partitionKeyBytes = Buffer.byteLength(partitionKey, 'utf8');

  if (explicitHashKey !== undefined && explicitHashKey !== null) validateExplicitHashKey(explicitHashKey);

  const data = toBytes(record.data);
  const size = data.byteLength + partitionKeyBytes;
  if (size > maxUserRecordSize) {
    throw new ValidationError(
      'data',
      `data + partition key ≤ ${maxUserRecordSize} bytes`,
      `data (${data.byteLength} bytes) + partition key (${partitionKeyBytes} bytes) is ${size} bytes`,
    );
  }
  return {
    partitionKey,
    partitionKeyBytes,
    explicitHashKey: explicitHashKey === null ? undefined : (explicitHashKey as string | undefined),
    data,
  };
}

/**
 * Checks that a user record is an object, so that its fields (the stream's included) can be read.
 *
 * @throws ValidationError with `field` `record`.
 */
export function validateRecordObject(record: unknown): asserts record is { readonly [field: string]: unknown } {
  if (typeof record !== 'object' || record === null) {
    throw new ValidationError('record', 'an object with partitionKey and data', `got ${typeName(record)}`);
  }
}

const EXPLICIT_HASH_KEY_LIMIT = 'a decimal string 0..2^128-1 matching 0|[1-9][0-9]{0,38}';

/**
 * Checks an explicit hash key: a decimal string without sign or leading zeros, at most 2^128-1.
 *
 * @throws ValidationError with `field` `explicitHashKey`.
 */
export function validateExplicitHashKey(value: unknown): asserts value is string {
  if (typeof value !== 'string') {
    throw new ValidationError('explicitHashKey', EXPLICIT_HASH_KEY_LIMIT, `expected a string, got ${typeName(value)}`);
  }
  const length = value.length;
  if (length === 0 || length > MAX_EXPLICIT_HASH_KEY.length) {
    throw new ValidationError('explicitHashKey', EXPLICIT_HASH_KEY_LIMIT, `has ${length} characters`);
  }
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) {
      throw new ValidationError('explicitHashKey', EXPLICIT_HASH_KEY_LIMIT, `${JSON.stringify(value)} is not a decimal integer`);
    }
  }
  if (length > 1 && value.charCodeAt(0) === 0x30) {
    throw new ValidationError('explicitHashKey', EXPLICIT_HASH_KEY_LIMIT, `${JSON.stringify(value)} has a leading zero`);
  }
  // Same length and digits only, so string order is numeric order.
  if (length === MAX_EXPLICIT_HASH_KEY.length && value > MAX_EXPLICIT_HASH_KEY) {
    throw new ValidationError('explicitHashKey', EXPLICIT_HASH_KEY_LIMIT, `${value} is above 2^128-1`);
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') {
    if (!isWellFormed(data)) {
      throw new ValidationError('data', 'a Uint8Array, or a well-formed UTF-16 string', 'the string contains a lone surrogate');
    }
    return Buffer.from(data, 'utf8');
  }
  throw new ValidationError('data', 'a Uint8Array, or a well-formed UTF-16 string', `expected bytes or a string, got ${typeName(data)}`);
}

/** A stream reference after {@link validateStreamRef}: at least one of the two is set. */
export interface StreamRef {
  readonly streamName?: string;
  readonly streamARN?: string;
}

const STREAM_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,128}$/;
// The API reference's pattern is the looser `arn:aws.*:kinesis:.*:\d{12}:stream/\S+` (length
// 1..2048); the stricter one here refuses typos the service would refuse anyway and captures the
// stream name so it can be checked against `streamName`.
const STREAM_ARN_PATTERN = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/([a-zA-Z0-9_.-]{1,128})$/;

/**
 * Checks a stream reference: `streamName` (`[a-zA-Z0-9_.-]`, 1..128 characters), `streamARN`
 * (`arn:aws…:kinesis:<region>:<12-digit account>:stream/<name>`, at most 2048 characters), or both.
 * When both are given, the ARN must name the same stream.
 *
 * @throws ValidationError with `field` `streamName` or `streamARN`.
 */
export function validateStreamRef(ref: { streamName?: unknown; streamARN?: unknown }): StreamRef {
  const { streamName, streamARN } = ref;
  if (streamName === undefined && streamARN === undefined) {
    throw new ValidationError('streamName', 'streamName or streamARN is required', 'neither was given');
  }
  if (streamName !== undefined && (typeof streamName !== 'string' || !STREAM_NAME_PATTERN.test(streamName))) {
    throw new ValidationError(
      'streamName',
      `1..${MAX_STREAM_NAME_LENGTH} characters of [a-zA-Z0-9_.-]`,
      typeof streamName === 'string' ? `${JSON.stringify(streamName)} does not match` : `expected a string, got ${typeName(streamName)}`,
    );
  }
  if (streamARN === undefined) return { streamName: streamName as string };

  const arnLimit = `arn:aws[-partition]:kinesis:<region>:<12-digit account>:stream/<name>, 1..${MAX_STREAM_ARN_LENGTH} characters`;
  if (typeof streamARN !== 'string') {
    throw new ValidationError('streamARN', arnLimit, `expected a string, got ${typeName(streamARN)}`);
  }
  const match = streamARN.length <= MAX_STREAM_ARN_LENGTH ? STREAM_ARN_PATTERN.exec(streamARN) : null;
  if (match === null) throw new ValidationError('streamARN', arnLimit, `${JSON.stringify(streamARN)} does not match`);
  if (streamName !== undefined && match[1] !== streamName) {
    throw new ValidationError(
      'streamARN',
      'the same stream as streamName',
      `names stream ${JSON.stringify(match[1])}, but streamName is ${JSON.stringify(streamName)}`,
    );
  }
  return streamName === undefined ? { streamARN } : { streamName: streamName as string, streamARN };
}

/**
 * Checks that `value` is an integer in `min..max` and returns it. Used for size and time options.
 *
 * @throws ValidationError with the given `field`.
 */
export function validateInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, `an integer in ${min}..${max}`, `got ${typeof value === 'number' ? value : typeName(value)}`);
  }
  return value;
}

/**
 * Checks the largest user record size: an integer from 1 to 10 MiB (10,485,760). Above 1 MiB only
 * for streams that opted in to larger records (`MaxRecordSizeInKiB`).
 *
 * @throws ValidationError with `field` `maxUserRecordSize`.
 */
export function validateMaxUserRecordSize(value: unknown): number {
  return validateInteger('maxUserRecordSize', value, 1, MAX_USER_RECORD_SIZE_LIMIT);
}

/**
 * Checks that `options` is an object whose keys are all in `names`, none of them set to `null`
 * (leave an option out, or `undefined`, for its default). An unknown key is refused with the name
 * it most likely meant: the same name in another case (the KPL's PascalCase `AggregationEnabled` is
 * `aggregationEnabled`), the name `aliases` gives it (lower-cased keys), or the nearest name by
 * edit distance.
 *
 * @throws ValidationError with `field` `options`, the unknown key, or the key set to `null`.
 */
export function validateOptionNames(
  options: unknown,
  names: readonly string[],
  aliases: Readonly<Record<string, string>>,
): asserts options is object {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ValidationError('options', 'an object of producer options, e.g. { streamName }', `got ${typeName(options)}`);
  }
  for (const [key, value] of Object.entries(options)) {
    if (!names.includes(key)) {
      const meant = aliases[key.toLowerCase()] ?? nearestName(key, names);
      throw new ValidationError(
        key,
        'an option of shardline (camelCase; see docs/configuration.md)',
        meant === undefined ? `unknown option; the options are ${names.join(', ')}` : `unknown option; did you mean ${meant}?`,
      );
    }
    if (value === null) throw new ValidationError(key, 'a value, or undefined for the default', 'got null');
  }
}

/** The name `key` most likely meant: the same in another case, else one a few edits away. */
function nearestName(key: string, names: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let nearest: string | undefined;
  // A typo or two, more in long names: `retryBackoff` still finds `retryMinBackoff`.
  let best = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const name of names) {
    const distance = editDistance(lower, name.toLowerCase());
    if (distance < best) [nearest, best] = [name, distance];
  }
  return nearest;
}

/** Levenshtein distance: insertions, deletions and substitutions, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

// The SDK's own test of a region, a hostname label, which it runs only once a call is made.
const REGION_PATTERN = /^(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$/;

/**
 * Checks the settings of the client shardline builds, which the SDK would only reject once a call
 * is made (or take as a network error):
 *
 * - `region`: a hostname label (`[a-zA-Z0-9-]`, 1..63 characters, no leading or trailing `-`).
 * - `endpoint`: a string that parses as an `http:` or `https:` URL with a host.
 * - `credentials`: `{ accessKeyId, secretAccessKey }` as non-empty strings (and `sessionToken`, if
 *   any, a string), or a function providing them.
 *
 * `undefined` leaves a setting to the SDK's resolution.
 *
 * @throws ValidationError with `field` `region`, `endpoint` or `credentials`.
 */
export function validateClientSettings(settings: { readonly region?: unknown; readonly endpoint?: unknown; readonly credentials?: unknown }): void {
  const { region, endpoint, credentials } = settings;
  if (region !== undefined && (typeof region !== 'string' || !REGION_PATTERN.test(region))) {
    const detail = typeof region === 'string' ? `${JSON.stringify(region)} is not one` : `expected a string, got ${typeName(region)}`;
    throw new ValidationError('region', 'a region name such as us-east-1: 1..63 of [a-zA-Z0-9-], no leading or trailing -', detail);
  }
  if (endpoint !== undefined) validateEndpoint('endpoint', endpoint);
  if (credentials !== undefined && typeof credentials !== 'function') validateCredentials(credentials);
}

/** Checks that `endpoint` (the option named `field`) is an http(s) URL with a host. */
export function validateEndpoint(field: string, endpoint: unknown): void {
  const limit = 'an http:// or https:// URL, e.g. http://localhost:4567';
  if (typeof endpoint !== 'string') throw new ValidationError(field, limit, `expected a string, got ${typeName(endpoint)}`);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ValidationError(field, limit, `${JSON.stringify(endpoint)} is not a URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new ValidationError(field, limit, `${JSON.stringify(endpoint)} is not an http(s) URL with a host`);
  }
}

function validateCredentials(credentials: unknown): void {
  const limit = '{ accessKeyId, secretAccessKey, sessionToken? } as non-empty strings, or a function providing them';
  if (typeof credentials !== 'object' || credentials === null) {
    throw new ValidationError('credentials', limit, `got ${typeName(credentials)}`);
  }
  const { accessKeyId, secretAccessKey, sessionToken } = credentials as { [field: string]: unknown };
  for (const [field, value] of [['accessKeyId', accessKeyId], ['secretAccessKey', secretAccessKey]] as const) {
    if (typeof value !== 'string' || value === '') {
      throw new ValidationError('credentials', limit, `${field} is ${typeof value === 'string' ? 'empty' : typeName(value)}`);
    }
  }
  if (sessionToken !== undefined && typeof sessionToken !== 'string') {
    throw new ValidationError('credentials', limit, `sessionToken is ${typeName(sessionToken)}`);
  }
}
