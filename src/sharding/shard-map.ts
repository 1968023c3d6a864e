/**
 * A stream's open shards and their hash key ranges, kept fresh from ListShards, so the producer can
 * predict which shard a record lands on (to aggregate only records bound for the same shard) and
 * tell a wrong-shard answer from a reshard.
 */
import { ListShardsCommand, type ListShardsCommandInput, type Shard } from '@aws-sdk/client-kinesis';
import type { KinesisClientLike } from '../client.js';
import { ShardlineError, ValidationError } from '../errors.js';
import { boundedBackoff, classifyRequestError, isRetriable } from '../retry/index.js';
import { validateInteger, validateStreamRef } from '../validation.js';
import { decimalToHashKey, type HashKey } from './hash-key.js';

/** One shard's place on the hash ring. Both ends of the range are inclusive. */
export interface ShardInfo {
  readonly shardId: string;
  readonly startingHashKey: HashKey;
  readonly endingHashKey: HashKey;
}

/** Options of {@link ShardMap}. Checked by the constructor. */
export interface ShardMapOptions {
  /** The client ListShards is sent with. */
  readonly client: KinesisClientLike;
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

/** The page size asked of ListShards (the service's maximum per page is 1000 by default). */
const PAGE_SIZE = 1000;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * ListShards errors that the PutRecords classification (src/retry) calls fatal but that clear up by
 * themselves here: an expired paging token (the walk restarts) and a stream being created or
 * resharded. Every other error the retry policy calls fatal or invalid (ResourceNotFoundException,
 * AccessDeniedException, InvalidArgumentException, …) stops the background retries.
 */
const RETRIABLE_LISTING_ERRORS = new Set(['ExpiredNextTokenException', 'ResourceInUseException']);

/**
 * The open shards of one stream, sorted by starting hash key, with lookups by hash key.
 *
 * Life cycle: {@link refresh} lists the shards (ListShards, `ShardFilter: AT_LATEST`, paged) and
 * swaps in the new map only when the walk completes, so lookups keep using the old map meanwhile.
 * Concurrent refreshes share one walk. After a failure the map retries by itself with exponential
 * backoff (`minBackoffMs` doubling up to `maxBackoffMs`, ±20 % jitter, never below `minBackoffMs`)
 * on unref'd timers, except after a non-retriable error such as ResourceNotFoundException.
 *
 * How the producer learns of failures: a direct `refresh()` rejects with a {@link ShardlineError}
 * whose `code` is the service's error name and `retriable` says whether the map will keep trying;
 * background retries never reject anywhere, they set {@link lastError} and call `onError`.
 * A successful refresh clears `lastError`.
 */
export class ShardMap {
  readonly #client: KinesisClientLike;
  readonly #streamName: string | undefined;
  readonly #streamARN: string | undefined;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #closedShardRetentionMs: number;
  readonly #now: () => number;

  /**
   * Called after a refresh that changed the map (including the first), e.g. to re-route buffered
   * records. Settable after construction; see {@link ShardMapOptions.onUpdate}.
   */
  onUpdate: ((map: ShardMap) => void) | undefined;
  /** Called with every failed refresh; settable after construction; see {@link ShardMapOptions.onError}. */
  onError: ((error: ShardlineError) => void) | undefined;

  /** Open shards, sorted by starting hash key; replaced whole, never mutated. */
  #shards: readonly ShardInfo[] = [];
  /** `#shards[i].startingHashKey`, apart so the binary search reads a flat array of strings. */
  #starts: readonly HashKey[] = [];
  #openById = new Map<string, ShardInfo>();
  readonly #closed = new Map<string, { readonly shard: ShardInfo; readonly closedAt: number }>();
  #ready = false;
  #version = 0;
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
    const ref = validateStreamRef(options);
    this.#client = options.client;
    this.#streamName = ref.streamName;
    this.#streamARN = ref.streamARN;
    this.#minBackoffMs = validateInteger('minBackoffMs', options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS, 1, MAX_TIMER_MS);
    this.#maxBackoffMs = validateInteger(
      'maxBackoffMs',
      options.maxBackoffMs ?? Math.max(DEFAULT_MAX_BACKOFF_MS, this.#minBackoffMs),
      this.#minBackoffMs,
      MAX_TIMER_MS,
    );
    this.#closedShardRetentionMs = validateInteger(
      'closedShardRetentionMs',
      options.closedShardRetentionMs ?? DEFAULT_CLOSED_SHARD_RETENTION_MS,
      0,
      Number.MAX_SAFE_INTEGER,
    );
    this.#now = options.now ?? Date.now;
    this.onUpdate = options.onUpdate;
    this.onError = options.onError;
    const every = validateInteger('refreshIntervalMs', options.refreshIntervalMs ?? 0, 0, MAX_TIMER_MS);
    if (every > 0) {
      this.#interval = setInterval(() => this.requestRefresh(), every);
      this.#interval.unref();
    }
  }

  /** Whether a listing has succeeded at least once, so lookups can answer. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Goes up by one every time the set of open shards changes. */
  get version(): number {
    return this.#version;
  }

  /** The open shards, sorted by starting hash key. */
  get shards(): readonly ShardInfo[] {
    return this.#shards;
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
   * The open shard whose range holds `hashKey`, or `undefined` when the map is not ready yet or the
   * key falls in a gap (a listing that does not cover the ring, e.g. from a fake server).
   */
  lookup(hashKey: HashKey): ShardInfo | undefined {
    // Last shard starting at or before the key; ranges do not overlap (checked on install).
    const starts = this.#starts;
    let low = 0;
    let high = starts.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((starts[mid] as HashKey) <= hashKey) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    const shard = this.#shards[found];
    return shard !== undefined && hashKey <= shard.endingHashKey ? shard : undefined;
  }

  /** Whether `shardId` is open in the current map. */
  isOpen(shardId: string): boolean {
    return this.#openById.has(shardId);
  }

  /**
   * Whether `shardId`'s range holds `hashKey`, for an open shard or one that closed within
   * `closedShardRetentionMs`; `undefined` for a shard the map does not know (or no longer remembers).
   *
   * Used to judge a PutRecords answer: `true` for a shard other than the predicted one means a
   * reshard (a child took the record: success, refresh the map); `false` means a wrong-shard answer.
   */
  shardContains(shardId: string, hashKey: HashKey): boolean | undefined {
    let shard = this.#openById.get(shardId);
    if (shard === undefined) {
      const closed = this.#closed.get(shardId);
      if (closed === undefined) return undefined;
      if (this.#now() - closed.closedAt > this.#closedShardRetentionMs) {
        this.#closed.delete(shardId);
        return undefined;
      }
      shard = closed.shard;
    }
    return shard.startingHashKey <= hashKey && hashKey <= shard.endingHashKey;
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
      changed = this.#install(await this.#listOpenShards(abort.signal));
    } catch (error) {
      const failure = this.#closedMap ? closedError(error) : this.#toShardlineError(error);
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

  /** Every page of ListShards; returns the shards as listed (closed ones included if the server sends them). */
  async #listOpenShards(abortSignal: AbortSignal): Promise<Shard[]> {
    const shards: Shard[] = [];
    let nextToken: string | undefined;
    do {
      // With NextToken the service refuses StreamName, StreamARN, ExclusiveStartShardId and
      // ShardFilter ("NextToken and ShardFilter cannot be provided together"); the token carries them.
      const input: ListShardsCommandInput =
        nextToken === undefined
          ? {
              StreamName: this.#streamName,
              StreamARN: this.#streamARN,
              ShardFilter: { Type: 'AT_LATEST' },
              MaxResults: PAGE_SIZE,
            }
          : { NextToken: nextToken, MaxResults: PAGE_SIZE };
      const page = await this.#client.send(new ListShardsCommand(input), { abortSignal });
      if (page.Shards !== undefined) shards.push(...page.Shards);
      nextToken = page.NextToken;
    } while (nextToken !== undefined && nextToken !== '');
    return shards;
  }

  /**
   * Replaces the map with the open shards of a listing. Returns whether the open shards changed.
   *
   * @throws ShardlineError `InvalidShardListing` (retriable) for a malformed or overlapping listing,
   * e.g. pages read on both sides of a reshard; the old map then stays.
   */
  #install(listed: readonly Shard[]): boolean {
    const shards: ShardInfo[] = [];
    for (const shard of listed) {
      // Servers that ignore ShardFilter (kinesalite) list closed shards too; they have an end.
      if (shard.SequenceNumberRange?.EndingSequenceNumber != null) continue;
      const range = shard.HashKeyRange;
      if (!shard.ShardId || !range?.StartingHashKey || !range.EndingHashKey) {
        throw invalidListing(`a shard without id or hash key range: ${JSON.stringify(shard)}`);
      }
      const info: ShardInfo = {
        shardId: shard.ShardId,
        startingHashKey: listedHashKey(shard.ShardId, range.StartingHashKey),
        endingHashKey: listedHashKey(shard.ShardId, range.EndingHashKey),
      };
      if (info.startingHashKey > info.endingHashKey) throw invalidListing(`${info.shardId} has an empty hash key range`);
      shards.push(info);
    }
    shards.sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : a.startingHashKey > b.startingHashKey ? 1 : 0));
    for (let i = 1; i < shards.length; i++) {
      const previous = shards[i - 1] as ShardInfo;
      const current = shards[i] as ShardInfo;
      if (current.startingHashKey <= previous.endingHashKey) {
        throw invalidListing(`open shards ${previous.shardId} and ${current.shardId} overlap`);
      }
    }

    const now = this.#now();
    const openById = new Map(shards.map((shard) => [shard.shardId, shard]));
    for (const [shardId, shard] of this.#openById) {
      if (!openById.has(shardId)) this.#closed.set(shardId, { shard, closedAt: now });
    }
    for (const [shardId, { closedAt }] of this.#closed) {
      if (now - closedAt > this.#closedShardRetentionMs) this.#closed.delete(shardId);
    }
    const changed = !this.#ready || !sameShards(this.#shards, shards);
    this.#ready = true;
    if (changed) {
      this.#shards = shards;
      this.#starts = shards.map((shard) => shard.startingHashKey);
      this.#openById = openById;
      this.#version++;
    }
    return changed;
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

  #toShardlineError(error: unknown): ShardlineError {
    if (error instanceof ShardlineError) return error;
    // One classification for the whole library: the same codes and kinds as for PutRecords.
    const { kind, code, message } = classifyRequestError(error, false);
    const retriable = isRetriable(kind) || RETRIABLE_LISTING_ERRORS.has(code);
    const stream = this.#streamARN ?? this.#streamName ?? '';
    return new ShardlineError(`ListShards for ${stream} failed: ${code}: ${message}`, code, retriable, { cause: error });
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

function sameShards(a: readonly ShardInfo[], b: readonly ShardInfo[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((shard, i) => {
    const other = b[i] as ShardInfo;
    return (
      shard.shardId === other.shardId &&
      shard.startingHashKey === other.startingHashKey &&
      shard.endingHashKey === other.endingHashKey
    );
  });
}

function listedHashKey(shardId: string, decimal: string): HashKey {
  try {
    return decimalToHashKey(decimal);
  } catch {
    throw invalidListing(`${shardId} has hash key ${JSON.stringify(decimal)}, not an integer 0..2^128-1`);
  }
}

function invalidListing(detail: string): ShardlineError {
  return new ShardlineError(`ListShards returned an unusable listing: ${detail}`, 'InvalidShardListing', true);
}

function closedError(cause?: unknown): ShardlineError {
  return new ShardlineError('the shard map is closed', 'ShardMapClosed', false, { cause });
}

function ignore(): void {}
