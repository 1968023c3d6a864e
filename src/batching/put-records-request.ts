/**
 * PutRecords requests whose `Records` shardline writes into the body itself.
 *
 * The SDK's JSON serializer base64-encodes every byte of every record's `Data` in a JavaScript
 * loop: a quarter to a third of the producer's CPU. Here the SDK still serializes the request
 * (endpoint, path, headers, every member but `Records`), from the input without its records; the
 * step right after it puts the records in front of that body, each `Data` base64-encoded by Node
 * (native code) and each key escaped by `JSON.stringify`, written once into a buffer of the exact
 * size. The bytes are those the SDK would write.
 *
 * A full request is ~7 MB of body: written in one go, with the SHA-256 that SigV4 signs (which the
 * SDK's signer computes in one call), it would hold the event loop for 10–20 ms. It is written a
 * few hundred KiB at a time instead, over turns of the event loop (src/slices.ts), hashed as it
 * goes, and the hash handed to the signer in the `x-amz-content-sha256` header, where the signer
 * takes it from rather than hashing the body again (the SDK's own requests carry that header too).
 * Everything after the serializer (content length, signing, retries, abort, the handler, the
 * deserializer) sees an ordinary request. The sender's bodies are written into memory it keeps
 * from one call to the next (src/batching/body-pool.ts).
 */
import { createHash } from 'node:crypto';
import {
  PutRecordsCommand,
  type PutRecordsCommandInput,
  type PutRecordsCommandOutput,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import type {
  HandlerExecutionContext,
  RelativeMiddlewareOptions,
  SerializeMiddleware,
} from '@smithy/types';
import { runInSlices } from '../slices.js';
import type { BodyPool } from './body-pool.js';

/** The middleware, in the SDK's protocols, that turns the input into the HTTP request. */
const SDK_SERIALIZER = 'serializerMiddleware';

/** Full inputs of the sends in progress, from the step before the serializer to the one after it. */
const inputs = new WeakMap<HandlerExecutionContext, PutRecordsCommandInput>();

/** Hands the serializer the input without its records, which it would encode byte by byte. */
const withoutRecords: SerializeMiddleware<PutRecordsCommandInput, PutRecordsCommandOutput> = (next, context) => (args) => {
  const input = args.input;
  if (input.Records == null) return next(args);
  inputs.set(context, input);
  return next({ ...args, input: { ...input, Records: undefined } });
};

/** The header the SigV4 signer reads a body's SHA-256 from (hex), rather than hashing the body itself. */
const CONTENT_SHA256 = 'x-amz-content-sha256';

/**
 * Puts the records into the body the serializer wrote, in slices over turns of the event loop
 * (src/slices.ts), with its SHA-256 in the header the signer takes it from; and the full input
 * back into the arguments. The body's memory comes from `bodies` when given, and goes back there
 * once the call is answered.
 */
function recordsIntoBody(bodies: BodyPool | undefined): SerializeMiddleware<PutRecordsCommandInput, PutRecordsCommandOutput> {
  return (next, context) => async (args) => {
    const input = inputs.get(context);
    if (input === undefined) return next(args);
    inputs.delete(context);
    const request = args.request;
    if (!isHttpRequest(request)) throw new Error('PutRecords: the SDK serializer produced no HTTP request');
    const writer = new RecordsBodyWriter(input.Records!, bodyBytes(request.body), bodies);
    await runInSlices(() => writer.writeSome());
    request.body = writer.body;
    request.headers[CONTENT_SHA256] = writer.sha256Hex();
    const result = await next({ ...args, input });
    // Answered, so the body was sent whole: its memory may serve the next call. A call that failed
    // keeps its body to the collector, since a socket cut mid-write may still hold part of it.
    bodies?.give(writer.body);
    return result;
  };
}

const BEFORE: RelativeMiddlewareOptions = { name: 'shardlinePutRecordsWithoutRecords', relation: 'before', toMiddleware: SDK_SERIALIZER };
const AFTER: RelativeMiddlewareOptions = { name: 'shardlinePutRecordsBody', relation: 'after', toMiddleware: SDK_SERIALIZER };

/**
 * A `PutRecordsCommand` for `input` whose records are serialized with Node's native base64 rather
 * than the SDK's JavaScript loop; send it with any Kinesis client. The request is the one the SDK
 * would build, byte for byte. Only this command's middleware stack changes, never the client's.
 * With `bodies`, the body is written into memory from that pool and given back once answered.
 */
export function createPutRecordsCommand(input: PutRecordsCommandInput, bodies?: BodyPool): PutRecordsCommand {
  const command = new PutRecordsCommand(input);
  command.middlewareStack.use({
    applyToStack: (stack) => {
      stack.addRelativeTo(withoutRecords, BEFORE);
      stack.addRelativeTo(recordsIntoBody(bodies), AFTER);
    },
  });
  return command;
}

function isHttpRequest(request: unknown): request is { body: unknown; headers: Record<string, string> } {
  if (typeof request !== 'object' || request === null || !('body' in request)) return false;
  const headers = (request as { headers?: unknown }).headers;
  return typeof headers === 'object' && headers !== null;
}

/** The serializer's body: bytes (a Uint8Array) or, for an input with no members set, the string `{}`. */
function bodyBytes(body: unknown): Uint8Array {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return body;
  throw new Error(`PutRecords: unexpected body from the SDK serializer (${typeof body})`);
}

const EMPTY = Buffer.alloc(0);
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
/** `Records` is the first member of PutRecordsInput, so the SDK writes it first. */
const RECORDS_OPEN = '{"Records":[';
const DATA_OPEN = '{"Data":"';

/** Bytes of `Data` one step of {@link RecordsBodyWriter.writeSome} encodes: well under a ms of work. */
const STEP_DATA_BYTES = 256 * 1024;

/**
 * Writes the JSON body of a PutRecords request, a step at a time, and its SHA-256 as it goes:
 * `records`, then the other members as the SDK serialized them in `rest` (`{}` or
 * `{"StreamName":…}`). Members and entries in the SDK's order, absent members left out as it does,
 * so the bytes equal the SDK's.
 */
class RecordsBodyWriter {
  /** The body's exact length. */
  readonly #length: number;
  /** The body, allocated by the first step; complete once {@link writeSome} has returned true. */
  body: Buffer = EMPTY;
  readonly #records: readonly (PutRecordsRequestEntry | null | undefined)[];
  readonly #rest: Uint8Array;
  /** Each entry's text after its base64 data (undefined for a null entry). */
  readonly #tails: (string | undefined)[];
  readonly #sha256 = createHash('sha256');
  readonly #bodies: BodyPool | undefined;
  /** The next entry to write, and where its bytes go (everything before is written and hashed). */
  #next = 0;
  #at = 0;

  constructor(records: readonly (PutRecordsRequestEntry | null | undefined)[], rest: Uint8Array, bodies: BodyPool | undefined) {
    if (rest.length < 2 || rest[0] !== OPEN_BRACE || rest[rest.length - 1] !== CLOSE_BRACE) {
      throw new Error('PutRecords: the SDK serializer did not write a JSON object');
    }
    // The exact length first. Each entry is DATA_OPEN, base64, then a tail of text.
    const tails = new Array<string | undefined>(records.length);
    let entries = 0;
    let length = RECORDS_OPEN.length + 1 + (rest.length === 2 ? 1 : rest.length);
    for (let i = 0; i < records.length; i++) {
      const entry = records[i];
      if (entry == null) continue;
      const tail = entryTail(entry);
      tails[i] = tail;
      length += (entries++ > 0 ? 1 : 0) + Buffer.byteLength(tail, 'utf8');
      if (entry.Data != null) length += DATA_OPEN.length + Math.ceil(entry.Data.byteLength / 3) * 4;
      else length += 1;
    }
    this.#length = length;
    this.#records = records;
    this.#rest = rest;
    this.#tails = tails;
    this.#bodies = bodies;
  }

  /** The body's SHA-256 in hex; call once, when the body is complete. */
  sha256Hex(): string {
    return this.#sha256.digest('hex');
  }

  /** Writes entries until about {@link STEP_DATA_BYTES} of data are encoded; returns whether the body is complete. */
  writeSome(): boolean {
    const from = this.#at;
    if (this.body === EMPTY) {
      this.body = this.#bodies?.take(this.#length) ?? Buffer.allocUnsafe(this.#length);
      this.#at = this.body.write(RECORDS_OPEN, 0, 'latin1');
    }
    const body = this.body;
    const records = this.#records;
    let at = this.#at;
    let encoded = 0;
    let i = this.#next;
    for (; i < records.length && encoded < STEP_DATA_BYTES; i++) {
      const tail = this.#tails[i];
      if (tail === undefined) continue;
      if (at > RECORDS_OPEN.length) body[at++] = COMMA;
      const data = records[i]!.Data;
      if (data != null) {
        at += body.write(DATA_OPEN, at, 'latin1');
        at += body.write(asBuffer(data).toString('base64'), at, 'latin1');
        encoded += data.byteLength;
      } else {
        body[at++] = OPEN_BRACE;
      }
      at += body.write(tail, at, 'utf8');
    }
    this.#next = i;
    const complete = i === records.length;
    if (complete) at = this.#close(at);
    this.#sha256.update(body.subarray(from, at));
    this.#at = at;
    return complete;
  }

  /** Writes the end of `Records` and the other members; returns the body's length. */
  #close(at: number): number {
    const body = this.body;
    const rest = this.#rest;
    body[at++] = CLOSE_BRACKET;
    if (rest.length === 2) {
      body[at++] = CLOSE_BRACE;
    } else {
      body[at++] = COMMA;
      body.set(rest.subarray(1), at);
      at += rest.length - 1;
    }
    // Bytes past `at` would be whatever allocUnsafe left there: never send them.
    if (at !== body.length) throw new Error(`PutRecords: body of ${at} bytes, ${body.length} computed`);
    return at;
  }
}

/**
 * An entry after its base64 data: the data's closing quote, ExplicitHashKey and PartitionKey, `}`.
 * JSON.stringify escapes as the SDK does: `"`, `\`, control characters (lower-case `\u00xx`) and
 * lone surrogates, nothing else.
 */
function entryTail(entry: PutRecordsRequestEntry): string {
  let tail = entry.Data != null ? '"' : '';
  let separator = entry.Data != null ? ',' : '';
  if (entry.ExplicitHashKey != null) {
    tail += `${separator}"ExplicitHashKey":${JSON.stringify(entry.ExplicitHashKey)}`;
    separator = ',';
  }
  if (entry.PartitionKey != null) tail += `${separator}"PartitionKey":${JSON.stringify(entry.PartitionKey)}`;
  return `${tail}}`;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
