/**
 * What to do with a failure, and how long to wait before trying again.
 *
 * - `throttled`: the shard or account is over its limits. Wait and retry, unless `failIfThrottled`.
 * - `transient`: server errors, timeouts, broken connections. Wait and retry.
 * - `credentials`: the request could not be signed, or its signature was refused: no credentials
 *   found yet, an expired session token, an unknown access key, a clock more than 5 minutes off.
 *   Wait and retry until `recordTtl`, as the KPL does: credentials rotate (a provider catches up,
 *   a new key propagates through IAM) and clocks get corrected (the SDK adjusts its clock offset
 *   from the answer to a skewed request). A kind of its own so that a caller can name the cause
 *   (e.g. why a stream cannot be described) instead of blaming a permission or the network.
 * - `fatal`: the request can never succeed as it is (a missing stream, a refused permission, a
 *   client setting the SDK rejects before sending: code `ClientConfigError`). Fail the records with
 *   the error's code.
 * - `invalid`: a fatal kind the producer may narrow down by splitting the request, so that one bad
 *   record does not take the others with it.
 */
export type FailureKind = 'throttled' | 'transient' | 'credentials' | 'fatal' | 'invalid';

/** Whether failures of this kind are retried (with backoff, until `recordTtl`): all but `fatal` and `invalid`. */
export function isRetriable(kind: FailureKind): boolean {
  return kind !== 'fatal' && kind !== 'invalid';
}

/** A classified failure of a request or of one entry. */
export interface Failure {
  readonly kind: FailureKind;
  /** The service's error code, or shardline's own (`RequestTimeout`, `NetworkError`, `HttpError`). */
  readonly code: string;
  readonly message: string;
}

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'SlowDown',
]);

// The stream or account is misconfigured: retrying cannot help until someone acts.
const FATAL = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'DryRunOperationException',
]);

// Signing and its acceptance: the SDK's provider errors, then the service's codes for an unknown,
// expired or wrongly signed identity and for clock skew (Kinesis's JSON protocol uses the
// `…Exception` names and InvalidSignatureException for skew; query and REST protocols the others).
const CREDENTIALS = new Set([
  'CredentialsProviderError',
  'TokenProviderError',
  'ExpiredTokenException',
  'ExpiredToken',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'RequestExpired',
  'RequestTimeTooSkewed',
  'RequestInTheFuture',
]);

// The request itself was refused: one record in it may be the cause.
const INVALID = new Set(['InvalidArgumentException', 'ValidationException', 'SerializationException']);

/** Kinds of the error codes a PutRecords entry can carry. Unknown codes are treated as transient. */
export function classifyEntryError(code: string): FailureKind {
  return THROTTLING.has(code) ? 'throttled' : 'transient';
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: unknown;
}

// Settings the SDK took when the client was built but cannot send with (no region, a region that
// is no hostname label, credentials that are no key pair): plain Errors, told apart by their text.
const CLIENT_CONFIG_MESSAGE = /^(Region is missing|Region not accepted|Resolved credential object is not valid)/;

/**
 * Whether the SDK refused to send because of a client setting: the error came before any answer,
 * and is a TypeError (an endpoint that is no URL or not http(s), a region that is no string), the
 * HTTP/2 handler's refusal of a scheme, or one of the SDK's messages above. Node's network errors
 * are never TypeErrors, and an answer that fails to parse carries its response.
 */
function isClientConfigError(error: unknown, e: ErrorLike, message: string): boolean {
  if (e.$metadata?.httpStatusCode !== undefined || e.$response !== undefined) return false;
  return error instanceof TypeError || e.code === 'ERR_HTTP2_UNSUPPORTED_PROTOCOL' || (e.name === 'Error' && CLIENT_CONFIG_MESSAGE.test(message));
}

/**
 * Classifies an error thrown by a whole call (the SDK's exceptions, HTTP and network errors). A
 * client setting the SDK rejects before sending is `fatal` with code `ClientConfigError`: it
 * would fail the same way on every attempt.
 */
export function classifyRequestError(error: unknown): Failure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  const message = typeof e.message === 'string' ? e.message : String(error);
  const name = typeof e.name === 'string' ? e.name : 'Error';
  if (THROTTLING.has(name)) return { kind: 'throttled', code: name, message };
  if (CREDENTIALS.has(name)) return { kind: 'credentials', code: name, message };
  if (FATAL.has(name)) return { kind: 'fatal', code: name, message };
  if (INVALID.has(name)) return { kind: 'invalid', code: name, message };
  if (isClientConfigError(error, e, message)) return { kind: 'fatal', code: 'ClientConfigError', message };
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  if (status === 413) return { kind: 'invalid', code: 'RequestEntityTooLarge', message };
  if (status === 429) return { kind: 'throttled', code: name, message };
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && e.$fault !== 'server') {
    return { kind: 'fatal', code: name === 'Error' || name === 'Unknown' ? `HttpError${status}` : name, message };
  }
  if (status === undefined && typeof e.code === 'string') {
    // Node's socket errors (ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT, …): the request may or may not have landed.
    return { kind: 'transient', code: 'NetworkError', message: `${e.code}: ${message}` };
  }
  if (status === undefined && (name === 'TimeoutError' || name === 'AbortError')) {
    return { kind: 'transient', code: 'RequestTimeout', message };
  }
  return { kind: 'transient', code: status !== undefined && (name === 'Error' || name === 'Unknown') ? `HttpError${status}` : name, message };
}

/** Options of a {@link RetryPolicy}. */
export interface RetryPolicyOptions {
  /** Backoff ceiling of the first retry, in ms. */
  readonly minBackoff: number;
  /** Largest backoff ceiling, in ms. */
  readonly maxBackoff: number;
  /** Source of randomness in [0, 1); replaceable for tests. */
  readonly random?: () => number;
}

/**
 * Exponential backoff with full jitter: the n-th retry waits a uniformly random time in
 * [0, min(maxBackoff, minBackoff × 2^(n-1))). Full jitter spreads retries of many producers hitting
 * the same shard, which is what stops a throttled shard from being stormed.
 */
export class RetryPolicy {
  readonly minBackoff: number;
  readonly maxBackoff: number;
  readonly #random: () => number;

  constructor(options: RetryPolicyOptions) {
    this.minBackoff = options.minBackoff;
    this.maxBackoff = options.maxBackoff;
    this.#random = options.random ?? Math.random;
  }

  /** The wait before retry number `retry` (1 for the first retry), in ms. */
  backoff(retry: number): number {
    const ceiling = Math.min(this.maxBackoff, this.minBackoff * 2 ** Math.min(retry - 1, 30));
    return Math.floor(this.#random() * ceiling);
  }
}

/**
 * Backoff for metadata calls (ListShards, DescribeStreamSummary) after `failures` failures in a
 * row: `minMs · 2^(failures-1)` capped at `maxMs`, with ±20 % jitter kept within [minMs, maxMs].
 * Unlike a record's full jitter, a failing metadata call is never retried sooner than `minMs`.
 */
export function boundedBackoff(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
  const jittered = base * (0.8 + 0.4 * random());
  return Math.round(Math.min(maxMs, Math.max(minMs, jittered)));
}
