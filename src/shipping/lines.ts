/**
 * Log lines as user records, for the CLI and the pino transport: each line is one record's data,
 * its partition key taken from a JSON field, fixed, or random (so lines spread evenly over shards).
 */
import { randomBytes } from 'node:crypto';
import { ValidationError } from '../errors.js';
import type { UserRecord } from '../records.js';

/** How lines become records. With neither partition key option, each line gets a random key. */
export interface LineRecordOptions {
  /** Dot path (`a.b`) of the JSON field holding each line's partition key; lines are then read as JSON. */
  partitionKeyField?: string;
  /** One partition key for every line (so every line goes to the same shard). */
  partitionKey?: string;
  /** Dot path of the JSON field holding each line's explicit hash key (a decimal string); lines are then read as JSON. */
  explicitHashKeyField?: string;
  /** Refuse lines that are not JSON (NDJSON input). Implied by the field options. Default false. */
  json?: boolean;
}

/** Random partition keys are drawn from a pool of random bytes refilled this many keys at a time. */
const RANDOM_KEYS_PER_REFILL = 512;
const RANDOM_KEY_BYTES = 8;

/** A source of random partition keys: 16 hex digits each, cheaper than a `randomUUID()` per line. */
function randomKeys(): () => string {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return () => {
    if (offset === pool.length) {
      pool = randomBytes(RANDOM_KEYS_PER_REFILL * RANDOM_KEY_BYTES);
      offset = 0;
    }
    offset += RANDOM_KEY_BYTES;
    return pool.toString('hex', offset - RANDOM_KEY_BYTES, offset);
  };
}

/** The value at a dot path of a parsed JSON line, as a key (strings as they are, numbers in decimal). */
function keyAt(value: unknown, path: readonly string[], option: string): string {
  let at = value;
  for (const name of path) at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[name] : undefined;
  if (typeof at === 'string' || typeof at === 'number' || typeof at === 'bigint') return String(at);
  throw new ValidationError(option, `a string or number at ${path.join('.')} of every line`, `found ${at === null ? 'null' : typeof at}`);
}

/**
 * A `toRecord` for lines (strings without their newline). Throws `ValidationError` at once for
 * conflicting options; the function it returns throws it for a line that lacks a key field or is
 * not JSON when JSON is expected (a failure of that line only).
 */
export function lineToRecord(options: LineRecordOptions = {}): (line: string) => UserRecord {
  const { partitionKeyField, partitionKey, explicitHashKeyField } = options;
  if (partitionKeyField !== undefined && partitionKey !== undefined) {
    throw new ValidationError('partitionKey', 'either partitionKey or partitionKeyField', 'both were given');
  }
  for (const [name, path] of [['partitionKeyField', partitionKeyField], ['explicitHashKeyField', explicitHashKeyField]] as const) {
    if (path !== undefined && (typeof path !== 'string' || path.split('.').some((part) => part === ''))) {
      throw new ValidationError(name, 'a dot path of field names, e.g. a.b', `got ${JSON.stringify(path)}`);
    }
  }
  const keyPath = partitionKeyField?.split('.');
  const hashKeyPath = explicitHashKeyField?.split('.');
  const json = options.json === true || keyPath !== undefined || hashKeyPath !== undefined;
  const nextRandomKey = randomKeys();
  return (line) => {
    let parsed: unknown;
    if (json) {
      try {
        parsed = JSON.parse(line);
      } catch (error) {
        throw new ValidationError('data', 'one JSON value per line', (error as Error).message);
      }
    }
    const key = keyPath !== undefined ? keyAt(parsed, keyPath, 'partitionKeyField') : (partitionKey ?? nextRandomKey());
    if (hashKeyPath === undefined) return { partitionKey: key, data: line };
    return { partitionKey: key, data: line, explicitHashKey: keyAt(parsed, hashKeyPath, 'explicitHashKeyField') };
  };
}
