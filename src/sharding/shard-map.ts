/**
 * A stream's open shards and their hash key ranges, kept fresh from ListShards, so the producer can
 * predict which shard a record lands on (to aggregate only records bound for the same shard) and
 * tell a wrong-shard answer from a reshard. This file decides when to list; what a listing means
 * is {@link ShardTable}'s.
 */
import type { KinesisClientLike } from '../client.js';
import { ShardlineError, ValidationError } from '../errors.js';
import { boundedBackoff } from '../retry/index.js';
import { validateInteger, validateStreamRef, type StreamRef } from '../validation.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../deadline.js';
import { listShards, listingError, readListing } from './list-shards.js';
import { ShardTable } from './shard-table.js';

/** Options of {@link ShardMap}. Checked by the constructor. */
export interface ShardMapOptions {
  /** The client ListShards is sent with. */
  readonly client: KinesisClientLike;
  /**
   * How long one ListShards call may take before it is abandoned and retried with the backoff, in
   * ms; default 6000 (the KPL's `requestTimeout`). Enforced by the map itself: the SDK's own
   * request timeout does not end a call.
   */
  readonly requestTimeoutMs?: number;
  /** The stream's name; `streamName`, `streamARN` or both (both are then sent). */
  readonly streamName?: string;
  /** The stream's ARN (recommended by the service). */
  readonly streamARN?: string;
  /** First delay after a failed refresh, and the least time between two refreshes; default 1000 ms. */
  readonly minBackoffMs?: number;
  /** Longest delay between retries of a failing refresh; default 30000 ms. */
  readonly maxBackoffMs?: number;
  /**
   * How long a shard is remembered after it closed, so that answers naming it can still be judged
   * by {@link ShardMap.shardContains}; default 600000 ms (10 min). Keep it above the producer's
   * record time-to-live plus a request timeout: records routed before the reshard answer within that.
   */
  readonly closedShardRetentionMs?: number;
  /** The clock, in ms; default `Date.now`. Used for closed-shard retention and refresh spacing. */
  readonly now?: () => number;
  /** Called after a refresh that changed the map (including the first), e.g. to re-route buffered records. */
  readonly onUpdate?: (map: ShardMap) => void;
  /**
   * Called with every failed refresh, whether a direct {@link ShardMap.refresh} call or a
   * background retry; also with an error thrown by `onUpdate`.
   */
  readonly onError?: (error: ShardlineError) => void;
  /**
   * List the shards again every this many ms, even when no answer has shown the map to be stale,
   * so records buffered for a shard that closed are re-routed before they go out. 0 (default) is off.
   */
  readonly refreshIntervalMs?: number;
}

/** Default of {@link ShardMapOptions.minBackoffMs}. */
export const DEFAULT_MIN_BACKOFF_MS = 1000;
/** Default of {@link ShardMapOptions.maxBackoffMs}. */
export const DEFAULT_MAX_BACKOFF_MS = 30_000;
/** Default of {@link ShardMapOptions.closedShardRetentionMs}. */
export const DEFAULT_CLOSED_SHARD_RETENTION_MS = 600_000;

/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A {@link ShardTable} (the open shards of one stream, with lookups) kept fresh from ListShards.
 *
 * Life cycle: {@link refresh} lists the shards (ListShards, `ShardFilter: AT_LATEST`, paged, each
 * call ended after `requestTimeoutMs`) and swaps in the new map only when the walk completes, so
 * lookups keep using the old map meanwhile. Concurrent refreshes share one walk; a refresh asked
 * for during a walk makes one more walk after it. After a failure (a timeout included) the map
 * retries by itself with exponential backoff (`minBackoffMs` doubling up to `maxBackoffMs`, ±20 %
 * jitter, never below `minBackoffMs`) on unref'd timers, except after a non-retriable error such as
 * AccessDeniedException. ResourceNotFoundException is retried: a stream deleted and created again
 * under its name, possibly with other shards: see {@link ShardTable} for what a reused ID changes.
 *
 * How the producer learns of failures: a direct `refresh()` rejects with a {@link ShardlineError}
 * whose `code` is the service's error name and `retriable` says whether the map will keep trying;
 * background retries never reject anywhere, they set {@link lastError} and call `onError`.
 * A successful refresh clears `lastError`.
 */
export class ShardMap extends ShardTable {
  readonly #client: KinesisClientLike;
  readonly #stream: StreamRef;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #requestTimeoutMs: number;
  readonly #now: () => number;

  /**
   * Called after a refresh that changed the map (including the first), e.g. to re-route buffered
   * records. Settable after construction; see {@link ShardMapOptions.onUpdate}.
   */
  onUpdate: ((map: ShardMap) => void) | undefined;
  /** Called with every failed refresh; settable after construction; see {@link ShardMapOptions.onError}. */
  onError: ((error: ShardlineError) => void) | undefined;

  #lastError: ShardlineError | undefined;

  #inFlight: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Consecutive failed walks. */
  #failures = 0;
  /** The earliest time the next walk may start unless asked for directly with {@link refresh}. */
  #nextAllowedAt = Number.NEGATIVE_INFINITY;
  /** A refresh was requested while a walk was in flight (which may have listed too early). */
  #requestedDuringWalk = false;
  #closedMap = false;
  #interval: NodeJS.Timeout | undefined;

  /** @throws ValidationError if an option breaks its limit. */
  constructor(options: ShardMapOptions) {
    // Checked as `unknown`: JavaScript callers and loosely typed config reach here too.
    const client = options.client as unknown;
    if (typeof client !== 'object' || client === null || typeof (client as { send?: unknown }).send !== 'function') {
      throw new ValidationError('client', 'a KinesisClient', 'has no send() method');
    }
    const stream = validateStreamRef(options);
    const minBackoffMs = validateInteger('minBackoffMs', options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS, 1, MAX_TIMER_MS);
    const maxBackoffMs = validateInteger(
      'maxBackoffMs',
      options.maxBackoffMs ?? Math.max(DEFAULT_MAX_BACKOFF_MS, minBackoffMs),
      minBackoffMs,
      MAX_TIMER_MS,
    );
    const retentionMs = options.closedShardRetentionMs ?? DEFAULT_CLOSED_SHARD_RETENTION_MS;
    const now = options.now ?? Date.now;
    super(validateInteger('closedShardRetentionMs', retentionMs, 0, Number.MAX_SAFE_INTEGER), now);
    this.#client = options.client;
    this.#stream = stream;
    this.#minBackoffMs = minBackoffMs;
    this.#maxBackoffMs = maxBackoffMs;
    this.#requestTimeoutMs = validateInteger('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, 1, MAX_TIMER_MS);
    this.#now = now;
    this.onUpdate = options.onUpdate;
    this.onError = options.onError;
    const every = validateInteger('refreshIntervalMs', options.refreshIntervalMs ?? 0, 0, MAX_TIMER_MS);
    if (every > 0) {
      this.#interval = setInterval(() => this.requestRefresh(), every);
      this.#interval.unref();
    }
  }

  /** The error of the last refresh if it failed; cleared by a successful refresh. */
  get lastError(): ShardlineError | undefined {
    return this.#lastError;
  }

  /**
   * Whether a ListShards walk is in flight: the first load while not {@link ready}, later a refresh
   * while the old map keeps serving.
   */
  get loading(): boolean {
    return this.#inFlight !== undefined;
  }

  /**
   * Lists the shards now (sharing a walk already in flight) and resolves once the new map is in
   * place. Rejects with a {@link ShardlineError} if the walk fails; the map then keeps serving the
   * previous listing and, for a retriable error, retries in the background.
   */
  refresh(): Promise<void> {
    if (this.#closedMap) return Promise.reject(closedError());
    return this.#inFlight ?? this.#startWalk();
  }

  /**
   * Asks for a refresh without waiting for it, e.g. after a wrong-shard answer. Never starts walks
   * closer together than `minBackoffMs`, nor sooner than a pending backoff allows; many requests
   * within that time make one walk. Never throws or rejects.
   */
  requestRefresh(): void {
    if (this.#closedMap) return;
    if (this.#inFlight !== undefined) {
      this.#requestedDuringWalk = true;
      return;
    }
    if (this.#timer !== undefined) return;
    this.#scheduleWalk();
  }

  /** Stops background work: clears timers and aborts a walk in flight. Lookups keep answering. */
  close(): void {
    this.#closedMap = true;
    clearInterval(this.#interval);
    this.#clearTimer();
    this.#abort?.abort();
  }

  #startWalk(): Promise<void> {
    this.#clearTimer();
    const walk = this.#walk();
    this.#inFlight = walk;
    return walk;
  }

  async #walk(): Promise<void> {
    const startedAt = this.#now();
    this.#nextAllowedAt = startedAt + this.#minBackoffMs;
    this.#requestedDuringWalk = false;
    const abort = new AbortController();
    this.#abort = abort;
    let changed: boolean;
    try {
      changed = this.install(readListing(await listShards(this.#client, this.#stream, this.#requestTimeoutMs, abort.signal)));
    } catch (error) {
      const failure = this.#closedMap ? closedError(error) : listingError(error, this.#stream);
      this.#walkEnded();
      this.#failures++;
      this.#lastError = failure;
      this.#nextAllowedAt = this.#now() + this.#backoffMs();
      if (failure.retriable || this.#requestedDuringWalk) this.#scheduleWalk();
      if (!this.#closedMap) this.#report(failure);
      throw failure;
    }
    this.#walkEnded();
    this.#failures = 0;
    this.#lastError = undefined;
    if (this.#requestedDuringWalk) this.#scheduleWalk();
    if (changed) this.#notifyUpdate();
  }

  #walkEnded(): void {
    this.#inFlight = undefined;
    this.#abort = undefined;
  }

  /** Starts a walk at `#nextAllowedAt`: now if that has passed, else on an unref'd timer. */
  #scheduleWalk(): void {
    if (this.#closedMap) return;
    const delay = this.#nextAllowedAt - this.#now();
    if (delay <= 0) {
      this.#startWalk().catch(ignore); // recorded in lastError and reported by #walk
      return;
    }
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#inFlight === undefined && !this.#closedMap) this.#startWalk().catch(ignore);
    }, Math.min(delay, MAX_TIMER_MS));
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #backoffMs(): number {
    return boundedBackoff(this.#failures, this.#minBackoffMs, this.#maxBackoffMs);
  }

  #notifyUpdate(): void {
    const onUpdate = this.onUpdate;
    if (onUpdate === undefined || this.#closedMap) return;
    try {
      onUpdate(this);
    } catch (error) {
      // A throwing hook must not make a good listing look failed.
      this.#report(new ShardlineError(`onUpdate threw: ${String(error)}`, 'OnUpdateFailed', false, { cause: error }));
    }
  }

  #report(error: ShardlineError): void {
    try {
      this.onError?.(error);
    } catch {
      // The error is in lastError already; a throwing hook has nowhere better to go.
    }
  }
}

function closedError(cause?: unknown): ShardlineError {
  return new ShardlineError('the shard map is closed', 'ShardMapClosed', false, { cause });
}

function ignore(): void {}
