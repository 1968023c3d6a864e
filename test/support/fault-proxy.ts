/**
 * A loopback fault-injecting HTTP proxy for Kinesis. Integration tests put it between the AWS SDK and a
 * local server (kinesalite, kinesis-local), because neither server ever throttles, fails part of a
 * PutRecords call, stalls or drops a connection.
 *
 * Wire protocol, verified by capturing the SDK's own requests (client-kinesis 3.114x, default
 * `AwsJson1_1Protocol`, `NodeHttpHandler`): every call is `POST /` over HTTP/1.1 keep-alive with
 * `content-type: application/x-amz-json-1.1`, `x-amz-target: Kinesis_20131202.<Operation>` and a SigV4
 * `authorization` header signed over `host` and the body hash (`x-amz-content-sha256`); blobs (`Data`) are
 * base64 in the JSON body. Errors come back as HTTP 4xx/5xx with `{"__type": "<Code>", "message": "..."}`;
 * the SDK takes the error name from `__type` (then `code`, then the `x-amzn-ErrorType` header), dropping
 * any `namespace#` prefix or `:suffix`.
 *
 * Requests pass through with their headers unchanged (Host included). Neither local server verifies
 * signatures (kinesalite only checks that the Authorization parts are present), so a rewritten body with
 * a stale signature is accepted. A client configured with another protocol (e.g. `protocol:
 * AwsSmithyRpcV2CborProtocol`) is forwarded untouched, without entry faults or shard limits, and counted in
 * `stats.passthrough`; synthetic error answers are always JSON 1.1.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';

/** Error codes the service gives failed PutRecords entries. */
export type EntryErrorCode = 'ProvisionedThroughputExceededException' | 'InternalFailure';

/** Whole-request errors the proxy can answer with, formatted as the service does in JSON 1.1. */
export type RequestFaultKind =
  | 'InternalFailure'
  | 'ServiceUnavailable'
  | 'ProvisionedThroughputExceededException'
  | 'ResourceNotFoundException'
  | 'AccessDeniedException'
  | 'KMSThrottlingException'
  | 'KMSDisabledException'
  | 'InvalidArgumentException'
  | 'LimitExceededException'
  | 'ExpiredTokenException';

/** Kinesis operations a fault applies to (`x-amz-target` suffix, e.g. `'PutRecords'`), or every request. */
export type OperationFilter = readonly string[] | 'all';

/**
 * When a fault fires. `count` fires on the next N matching requests and is decremented in place as it
 * fires; once it is used up (or if absent), `rate` fires on a seeded-random share of matching requests.
 */
export interface FaultTrigger {
  /** Fire on the next N matching requests. */
  count?: number;
  /** Fire on this share (0..1) of matching requests, drawn from the proxy's seeded generator. */
  rate?: number;
  /** Operations this fault applies to. Default: `faults.operations`. */
  operations?: OperationFilter;
}

/** A whole-request error answered without forwarding. */
export interface RequestFailure extends FaultTrigger {
  /** The error; with several, each firing picks one at random (seeded). */
  kind: RequestFaultKind | readonly RequestFaultKind[];
  /** HTTP status instead of the service's (see {@link REQUEST_FAULT_STATUS}). */
  status?: number;
  /** Message instead of the service-like default. */
  message?: string;
}

/**
 * Per-shard throughput enforcement. Each shard has two token buckets (records, bytes) that start full,
 * hold `burstSeconds` worth of the rate and refill continuously. An entry passes only if both buckets
 * hold enough (one record, its bytes); a throttled entry takes nothing. With the default depth of one
 * second this admits at most `rate × (1 s + elapsed)` in any interval: the service's 1-second window with
 * a burst of one window.
 */
export interface ShardLimits {
  /** Records per second per shard. The service: 1000. */
  recordsPerSecond: number;
  /** Bytes (base64-decoded data + partition key UTF-8) per second per shard. The service: 1048576. */
  bytesPerSecond: number;
  /** Bucket depth in seconds of rate. Default 1. */
  burstSeconds?: number;
}

/** The live fault settings of a {@link FaultProxy}; every change applies from the next request on. */
export interface Faults {
  /** Operations that faults (and latency) apply to unless a trigger says otherwise. Default: PutRecords, PutRecord. */
  operations: OperationFilter;
  /** Share (0..1) of PutRecords/PutRecord entries answered as failed without being forwarded. */
  entryFailureRate: number;
  /** Error code of those entries; `'mix'` picks one at random per entry. */
  entryErrorCode: EntryErrorCode | 'mix';
  /** Whole-request errors, answered without forwarding. */
  requestFailure: RequestFailure | undefined;
  /** Delay added before every answer to a matching request (forwarded or synthetic). */
  latencyMs: number;
  /** Hold matching requests unanswered (not forwarded) until the client gives up or {@link FaultProxy.releaseStalled}. */
  stall: FaultTrigger | undefined;
  /** Forward (so the records are written), then reset the client's connection without answering. */
  resetAfterForward: FaultTrigger | undefined;
  /** Reset the client's connection without forwarding. */
  resetBeforeForward: FaultTrigger | undefined;
  /** Per-shard throughput limits for PutRecords/PutRecord: entries over budget fail with ProvisionedThroughputExceededException. */
  shardLimits: ShardLimits | undefined;
  /**
   * Fields merged into every DescribeStreamSummary answer's `StreamDescriptionSummary`, to present
   * capabilities the local servers lack (e.g. `{ RecordDistributionStrategy: 'AUTO' }`,
   * `{ MaxRecordSizeInKiB: 512 }`).
   */
  summaryPatch: Record<string, unknown> | undefined;
  /**
   * Rewrites the parsed JSON of every 200 answer to a request of `operations` (as the client will
   * read it): garbage answers, e.g. a `null` entry in a PutRecords answer. Applied last.
   */
  answerPatch: { operations: OperationFilter; patch: (body: Record<string, unknown>) => unknown } | undefined;
}

/** Per-shard counters. */
export interface ShardStats {
  /** Records the target confirmed written on this shard (including ones whose answer was then reset). */
  written: number;
  /** Records the shard budget let through (counted only while `shardLimits` is set). */
  acceptedRecords: number;
  /** Bytes the shard budget let through. */
  acceptedBytes: number;
  /** Entries failed by the shard budget. */
  throttledEntries: number;
}

/** Counters since start or {@link FaultProxy.resetStats}. */
export interface FaultProxyStats {
  /** Requests received, by operation (`'unknown'` without a Kinesis `x-amz-target`). */
  requests: Record<string, number>;
  /** PutRecords/PutRecord entries received. */
  entriesReceived: number;
  /** Entries forwarded to the target. */
  entriesForwarded: number;
  /** Entries the client saw failed, by ErrorCode (injected or from the target). */
  entriesFailed: Record<string, number>;
  /** Whole-request errors answered, by kind. */
  requestFaults: Record<string, number>;
  /** Connections reset without forwarding. */
  resetsBeforeForward: number;
  /** Requests forwarded whose answer was replaced by a connection reset. */
  resetsAfterForward: number;
  /** Entries written by those requests: the client does not know they were. */
  entriesResetAfterForward: number;
  /** Requests held by `stall`. */
  stalls: number;
  /** Held requests whose client gave up (they were never forwarded). */
  stallsAbandoned: number;
  /** Requests forwarded untouched because they were not JSON 1.1. */
  passthrough: number;
  /** Per stream name, per shard id. */
  shards: Record<string, Record<string, ShardStats>>;
}

/** A running fault proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: give it to the SDK client as `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** Live settings: assign fields directly, or use {@link FaultProxy.setFaults}. */
  faults: Faults;
  /** Merges settings into `faults`. */
  setFaults(patch: Partial<Faults>): void;
  /** Restores the default (fault-free) settings, refills every shard budget and releases held requests. */
  clearFaults(): void;
  /** A snapshot of the counters. */
  readonly stats: FaultProxyStats;
  resetStats(): void;
  /** Requests currently held by `stall`. */
  readonly stalled: number;
  /** Lets every held request go on (forwarded and answered as usual); returns how many. */
  releaseStalled(): number;
  /** Forgets the cached shard map of one stream (or all); the next request that needs it lists shards again. */
  refreshShards(streamName?: string): void;
  /** Stops listening, destroys client and target sockets, drops held requests and timers. */
  close(): Promise<void>;
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** The local server, e.g. `http://127.0.0.1:4567`. */
  target: string;
  /** Seed of the generator behind rates and random picks. Default 1. */
  seed?: number;
  /** Milliseconds clock for shard budgets, so tests can freeze or step time. Default `performance.now`. */
  now?: () => number;
  /** Account id in messages when the request names no StreamARN. Default `000000000000`, as both local servers. */
  accountId?: string;
  /** Initial settings. */
  faults?: Partial<Faults>;
}

/** HTTP status of each whole-request fault, as the service answers it. */
export const REQUEST_FAULT_STATUS: Readonly<Record<RequestFaultKind, number>> = {
  InternalFailure: 500,
  ServiceUnavailable: 503,
  ProvisionedThroughputExceededException: 400,
  ResourceNotFoundException: 400,
  AccessDeniedException: 400,
  KMSThrottlingException: 400,
  KMSDisabledException: 400,
  InvalidArgumentException: 400,
  LimitExceededException: 400,
  ExpiredTokenException: 400,
};

const JSON_11 = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'Kinesis_20131202.';
const WRITE_OPERATIONS: readonly string[] = ['PutRecords', 'PutRecord'];
// Hop-by-hop headers: each leg of the proxy has its own connection, and bodies are re-sent with a Content-Length.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'proxy-connection', 'upgrade']);

/** The fault-free settings. */
export function defaultFaults(): Faults {
  return {
    operations: WRITE_OPERATIONS,
    entryFailureRate: 0,
    entryErrorCode: 'ProvisionedThroughputExceededException',
    requestFailure: undefined,
    latencyMs: 0,
    stall: undefined,
    resetAfterForward: undefined,
    resetBeforeForward: undefined,
    shardLimits: undefined,
    summaryPatch: undefined,
    answerPatch: undefined,
  };
}

/** Starts a fault proxy on 127.0.0.1 and a free port in front of `target`. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const proxy = new FaultProxyServer(options);
  await proxy.listen();
  return proxy;
}

interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

interface ShardRange {
  id: string;
  start: bigint;
  end: bigint;
}

/** A shard as ListShards returns it (kinesis-local: `null` for absent fields). */
interface ListedShard {
  ShardId: string;
  HashKeyRange: { StartingHashKey: string; EndingHashKey: string };
  SequenceNumberRange?: { EndingSequenceNumber?: string | null };
}

interface Budget {
  records: number;
  bytes: number;
  at: number;
}

/** What the proxy knows about the stream a request names, for messages and shard lookups. */
interface StreamRef {
  name: string;
  arn: string | undefined;
  account: string;
  region: string;
}

interface PutEntry {
  Data?: unknown;
  PartitionKey?: unknown;
  ExplicitHashKey?: unknown;
}

/** A PutRecords result entry; kinesis-local sends absent fields as `null`, so both mean absent. */
interface ResultEntry {
  ShardId?: string | null;
  SequenceNumber?: string | null;
  ErrorCode?: string | null;
  ErrorMessage?: string | null;
}

type JsonObject = Record<string, unknown>;

class FaultProxyServer implements FaultProxy {
  faults: Faults;
  endpoint = '';
  port = 0;
  private counters = emptyStats();
  private readonly target: URL;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly accountId: string;
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly held = new Set<(release: boolean) => void>();
  private readonly shardMaps = new Map<string, Promise<ShardRange[] | undefined>>();
  private readonly budgets = new Map<string, Budget>();
  private closed = false;

  constructor(options: FaultProxyOptions) {
    this.target = new URL(options.target);
    this.random = mulberry32(options.seed ?? 1);
    this.now = options.now ?? (() => performance.now());
    this.accountId = options.accountId ?? '000000000000';
    this.faults = { ...defaultFaults(), ...options.faults };
    // Node's 5 s idle close races clients reusing a kept-alive socket (a spurious ECONNRESET).
    this.server.keepAliveTimeout = 10 * 60_000;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('fault proxy has no TCP address');
    this.port = address.port;
    this.endpoint = `http://127.0.0.1:${address.port}`;
  }

  get stats(): FaultProxyStats {
    return structuredClone(this.counters);
  }

  get stalled(): number {
    return this.held.size;
  }

  setFaults(patch: Partial<Faults>): void {
    Object.assign(this.faults, patch);
  }

  clearFaults(): void {
    this.faults = defaultFaults();
    this.budgets.clear();
    this.releaseStalled();
  }

  resetStats(): void {
    this.counters = emptyStats();
  }

  releaseStalled(): number {
    const count = this.held.size;
    for (const resume of [...this.held]) resume(true);
    return count;
  }

  refreshShards(streamName?: string): void {
    if (streamName === undefined) this.shardMaps.clear();
    else this.shardMaps.delete(streamName);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const resume of [...this.held]) resume(false);
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req);
      const operation = operationOf(req.headers);
      bump(this.counters.requests, operation);
      const answer = await this.answer(req, res, operation, body);
      if (answer !== undefined) await this.reply(res, operation, answer);
    } catch (error) {
      // Only the proxy's own failures land here (target unreachable, proxy closing): say so plainly.
      if (!res.headersSent && !res.destroyed) {
        writeAnswer(res, errorAnswer('FaultProxyError', String(error), 502));
      } else {
        res.destroy();
      }
    }
  }

  /** Applies the faults in a fixed order; `undefined` means the connection was dealt with (reset or dropped). */
  private async answer(
    req: IncomingMessage,
    res: ServerResponse,
    operation: string,
    body: Buffer,
  ): Promise<Answer | undefined> {
    const faults = this.faults;
    if (this.fires(faults.stall, operation)) {
      this.counters.stalls++;
      if (!(await this.hold(res))) return undefined;
    }
    if (this.fires(faults.resetBeforeForward, operation)) {
      this.counters.resetsBeforeForward++;
      req.socket.resetAndDestroy();
      return undefined;
    }
    const jsonProtocol = isJson11(req.headers);
    if (!jsonProtocol) this.counters.passthrough++;
    const json = jsonProtocol ? parseObject(body) : undefined;
    const stream = json === undefined ? undefined : this.streamOf(json);
    const failure = faults.requestFailure;
    if (failure !== undefined && this.fires(failure, operation)) {
      const kind = typeof failure.kind === 'string' ? failure.kind : this.pick(failure.kind);
      bump(this.counters.requestFaults, kind);
      return requestFaultAnswer(kind, operation, stream, failure);
    }
    const resetAfter = this.fires(faults.resetAfterForward, operation);
    let answer: Answer;
    if (json !== undefined && stream !== undefined && operation === 'PutRecords' && Array.isArray(json.Records)) {
      answer = await this.putRecords(req, body, json, stream);
    } else if (json !== undefined && stream !== undefined && operation === 'PutRecord') {
      answer = await this.putRecord(req, body, json, stream);
    } else {
      answer = await this.forward(req, body);
      if (operation === 'DescribeStreamSummary' && faults.summaryPatch !== undefined) answer = patchSummary(answer, faults.summaryPatch);
    }
    if (resetAfter) {
      this.counters.resetsAfterForward++;
      if (json !== undefined && stream !== undefined) {
        this.counters.entriesResetAfterForward += writtenEntries(operation, answer).length;
      }
      req.socket.resetAndDestroy();
      return undefined;
    }
    const answerPatch = faults.answerPatch;
    if (answerPatch !== undefined && matches(answerPatch.operations, operation) && answer.status === 200) {
      const parsed = parseObject(answer.body);
      if (parsed !== undefined) answer = { ...answer, body: Buffer.from(JSON.stringify(answerPatch.patch(parsed))) };
    }
    return answer;
  }

  private async putRecords(req: IncomingMessage, body: Buffer, json: JsonObject, stream: StreamRef): Promise<Answer> {
    const entries = json.Records as PutEntry[];
    this.counters.entriesReceived += entries.length;
    const failures = await this.entryFailures(entries, stream);
    for (const failure of failures) if (failure !== undefined) bump(this.counters.entriesFailed, failure.ErrorCode ?? '');
    const kept = entries.filter((_, i) => failures[i] === undefined);
    if (kept.length === 0) return stitch(failures, [], {}, serviceHeaders());
    // An untouched request goes out byte for byte; only a split one is re-serialised.
    const split = kept.length < entries.length;
    const answer = await this.forward(req, split ? Buffer.from(JSON.stringify({ ...json, Records: kept })) : body);
    this.counters.entriesForwarded += kept.length;
    const parsed = answer.status === 200 ? parseObject(answer.body) : undefined;
    if (parsed === undefined || !Array.isArray(parsed.Records)) return answer;
    const forwarded = parsed.Records as ResultEntry[];
    this.countWritten(stream, forwarded);
    for (const result of forwarded) if (result.ErrorCode != null) bump(this.counters.entriesFailed, result.ErrorCode);
    return split ? stitch(failures, forwarded, parsed, answer.headers) : answer;
  }

  private async putRecord(req: IncomingMessage, body: Buffer, json: JsonObject, stream: StreamRef): Promise<Answer> {
    this.counters.entriesReceived++;
    const [failure] = await this.entryFailures([json], stream);
    if (failure !== undefined) {
      // A single record's failure is a whole-request error, as the service answers PutRecord.
      const code = failure.ErrorCode as EntryErrorCode;
      bump(this.counters.entriesFailed, code);
      return errorAnswer(code, failure.ErrorMessage ?? '', REQUEST_FAULT_STATUS[code]);
    }
    const answer = await this.forward(req, body);
    this.counters.entriesForwarded++;
    const parsed = answer.status === 200 ? parseObject(answer.body) : undefined;
    if (parsed !== undefined) this.countWritten(stream, [parsed as ResultEntry]);
    return answer;
  }

  /** Decides each entry's fate: random failure first, then the shard budget. */
  private async entryFailures(entries: readonly PutEntry[], stream: StreamRef): Promise<(ResultEntry | undefined)[]> {
    const { entryFailureRate, entryErrorCode, shardLimits } = this.faults;
    const codes = entries.map((): EntryErrorCode | undefined => {
      if (entryFailureRate <= 0 || this.random() >= entryFailureRate) return undefined;
      if (entryErrorCode !== 'mix') return entryErrorCode;
      return this.random() < 0.5 ? 'ProvisionedThroughputExceededException' : 'InternalFailure';
    });
    const needShards = shardLimits !== undefined || codes.includes('ProvisionedThroughputExceededException');
    const shards = needShards ? await this.shardsOf(entries, stream) : [];
    return entries.map((entry, i) => {
      const shard = shards[i];
      let code = codes[i];
      if (code === undefined && shardLimits !== undefined && shard !== undefined) {
        code = this.spend(stream, shard, entryBytes(entry), shardLimits) ? undefined : 'ProvisionedThroughputExceededException';
      }
      if (code === undefined) return undefined;
      return { ErrorCode: code, ErrorMessage: entryErrorMessage(code, stream, shard ?? 'shardId-unknown') };
    });
  }

  /** Takes one record and `bytes` from the shard's buckets, if both hold enough. */
  private spend(stream: StreamRef, shardId: string, bytes: number, limits: ShardLimits): boolean {
    const depth = limits.burstSeconds ?? 1;
    const key = `${stream.name}\u0000${shardId}`;
    const now = this.now();
    const budget = this.budgets.get(key) ?? {
      records: limits.recordsPerSecond * depth,
      bytes: limits.bytesPerSecond * depth,
      at: now,
    };
    const elapsed = Math.max(0, now - budget.at) / 1000;
    budget.records = Math.min(limits.recordsPerSecond * depth, budget.records + elapsed * limits.recordsPerSecond);
    budget.bytes = Math.min(limits.bytesPerSecond * depth, budget.bytes + elapsed * limits.bytesPerSecond);
    budget.at = now;
    this.budgets.set(key, budget);
    const stats = shardStats(this.counters, stream.name, shardId);
    if (budget.records < 1 || budget.bytes < bytes) {
      stats.throttledEntries++;
      return false;
    }
    budget.records -= 1;
    budget.bytes -= bytes;
    stats.acceptedRecords++;
    stats.acceptedBytes += bytes;
    return true;
  }

  /** Each entry's shard id; a key no open shard covers makes the proxy list the shards again, once. */
  private async shardsOf(entries: readonly PutEntry[], stream: StreamRef): Promise<(string | undefined)[]> {
    const keys = entries.map(hashKeyOf);
    let map = await this.shardMap(stream);
    const lookup = (): (string | undefined)[] => keys.map((key) => (key === undefined ? undefined : findShard(map, key)));
    let found = lookup();
    if (map !== undefined && found.some((id, i) => id === undefined && keys[i] !== undefined)) {
      this.refreshShards(stream.name);
      map = await this.shardMap(stream);
      found = lookup();
    }
    return found;
  }

  private shardMap(stream: StreamRef): Promise<ShardRange[] | undefined> {
    let map = this.shardMaps.get(stream.name);
    if (map === undefined) {
      map = this.listShards(stream);
      this.shardMaps.set(stream.name, map);
      // A failed listing is not cached: the next request tries again.
      void map.then((shards) => shards === undefined && this.shardMaps.delete(stream.name));
    }
    return map;
  }

  /** Lists the open shards with ListShards on the target (the proxy's own call, plain JSON over HTTP). */
  private async listShards(stream: StreamRef): Promise<ShardRange[] | undefined> {
    const shards: ShardRange[] = [];
    let nextToken: string | undefined;
    do {
      // A page token goes alone; otherwise name the stream the way the client did.
      const input =
        nextToken !== undefined
          ? { NextToken: nextToken }
          : stream.arn !== undefined
            ? { StreamARN: stream.arn }
            : { StreamName: stream.name };
      const answer = await this.send('POST', '/', kinesisHeaders('ListShards'), Buffer.from(JSON.stringify(input)));
      const page = answer.status === 200 ? parseObject(answer.body) : undefined;
      if (page === undefined || !Array.isArray(page.Shards)) return undefined;
      for (const shard of page.Shards as ListedShard[]) {
        // kinesalite ignores ShardFilter, so closed shards are dropped here.
        if (shard.SequenceNumberRange?.EndingSequenceNumber != null) continue;
        const { StartingHashKey, EndingHashKey } = shard.HashKeyRange;
        shards.push({ id: shard.ShardId, start: BigInt(StartingHashKey), end: BigInt(EndingHashKey) });
      }
      nextToken = typeof page.NextToken === 'string' ? page.NextToken : undefined;
    } while (nextToken !== undefined);
    return shards;
  }

  private countWritten(stream: StreamRef, results: readonly ResultEntry[]): void {
    for (const result of results) {
      if (result.ErrorCode == null && result.ShardId != null) shardStats(this.counters, stream.name, result.ShardId).written++;
    }
  }

  private streamOf(json: JsonObject): StreamRef | undefined {
    const arn = typeof json.StreamARN === 'string' ? json.StreamARN : undefined;
    // arn:aws:kinesis:<region>:<account>:stream/<name>
    const parts = arn?.split(':') ?? [];
    const name = typeof json.StreamName === 'string' ? json.StreamName : parts[5]?.replace(/^stream\//, '');
    if (name === undefined) return undefined;
    return { name, arn, account: parts[4] ?? this.accountId, region: parts[3] ?? 'us-east-1' };
  }

  /** Forwards the client's request with `body` (headers kept, Host included; the length is redone). */
  private forward(req: IncomingMessage, body: Buffer): Promise<Answer> {
    return this.send(req.method ?? 'POST', req.url ?? '/', req.headers, body);
  }

  private send(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const outgoing = request(
        {
          protocol: this.target.protocol,
          hostname: this.target.hostname,
          port: this.target.port,
          method,
          path,
          agent: this.agent,
          headers: { ...withoutHopByHop(headers), 'content-length': body.length },
        },
        (incoming) => {
          readBody(incoming).then(
            (answer) => resolve({ status: incoming.statusCode ?? 502, headers: withoutHopByHop(incoming.headers), body: answer }),
            reject,
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  private async reply(res: ServerResponse, operation: string, answer: Answer): Promise<void> {
    if (this.faults.latencyMs > 0 && matches(this.faults.operations, operation)) await this.sleep(this.faults.latencyMs);
    if (!res.destroyed) writeAnswer(res, answer);
  }

  private fires(trigger: FaultTrigger | undefined, operation: string): boolean {
    if (trigger === undefined || !matches(trigger.operations ?? this.faults.operations, operation)) return false;
    if (trigger.count !== undefined && trigger.count > 0) {
      trigger.count--;
      return true;
    }
    return trigger.rate !== undefined && trigger.rate > 0 && this.random() < trigger.rate;
  }

  private pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.random() * items.length)];
    if (item === undefined) throw new Error('requestFailure.kind is an empty list');
    return item;
  }

  /** Resolves true when released, false when the client went away or the proxy closed. */
  private hold(res: ServerResponse): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const resume = (release: boolean): void => {
        if (!this.held.delete(resume)) return;
        res.off('close', abandoned);
        resolve(release);
      };
      const abandoned = (): void => {
        if (this.held.has(resume)) this.counters.stallsAbandoned++;
        resume(false);
      };
      this.held.add(resume);
      res.on('close', abandoned);
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

/** The message the service gives a failed PutRecords entry (and a throttled PutRecord). */
function entryErrorMessage(code: EntryErrorCode, stream: StreamRef, shardId: string): string {
  return code === 'InternalFailure'
    ? 'Internal service failure.'
    : `Rate exceeded for shard ${shardId} in stream ${stream.name} under account ${stream.account}.`;
}

function requestFaultAnswer(
  kind: RequestFaultKind,
  operation: string,
  stream: StreamRef | undefined,
  failure: RequestFailure,
): Answer {
  const name = stream?.name ?? 'unknown';
  const account = stream?.account ?? '000000000000';
  const arn = stream?.arn ?? `arn:aws:kinesis:${stream?.region ?? 'us-east-1'}:${account}:stream/${name}`;
  const messages: Record<RequestFaultKind, string> = {
    InternalFailure: 'Internal service failure.',
    ServiceUnavailable: 'Service Unavailable',
    ProvisionedThroughputExceededException: `Rate exceeded for stream ${name} under account ${account}.`,
    ResourceNotFoundException: `Stream ${name} under account ${account} not found.`,
    AccessDeniedException:
      `User: arn:aws:iam::${account}:user/shardline-test is not authorized to perform: kinesis:${operation} ` +
      `on resource: ${arn} because no identity-based policy allows the kinesis:${operation} action`,
    KMSThrottlingException: `The request was denied due to request throttling by AWS KMS for stream ${name}.`,
    KMSDisabledException: `The KMS key for stream ${name} under account ${account} is disabled.`,
    InvalidArgumentException: `Invalid argument for stream ${name} under account ${account}.`,
    LimitExceededException: `Rate exceeded for stream ${name} under account ${account}.`,
    ExpiredTokenException: 'The security token included in the request is expired',
  };
  return errorAnswer(kind, failure.message ?? messages[kind], failure.status ?? REQUEST_FAULT_STATUS[kind]);
}

/** A JSON 1.1 error, as the service sends it: `__type` and `message` in the body, the code in `x-amzn-ErrorType`. */
function errorAnswer(type: string, message: string, status: number): Answer {
  return {
    status,
    headers: { ...serviceHeaders(), 'x-amzn-ErrorType': type },
    body: Buffer.from(JSON.stringify({ __type: type, message })),
  };
}

function serviceHeaders(): OutgoingHttpHeaders {
  return {
    'content-type': JSON_11,
    'x-amzn-RequestId': randomUUID(),
    'x-amz-id-2': randomBytes(72).toString('base64'),
    date: new Date().toUTCString(),
  };
}

/** Headers for the proxy's own calls: the local servers want an Authorization header's parts, not a valid signature. */
function kinesisHeaders(operation: string): IncomingHttpHeaders {
  const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  return {
    'content-type': JSON_11,
    'x-amz-target': `${TARGET_PREFIX}${operation}`,
    'x-amz-date': date,
    authorization:
      `AWS4-HMAC-SHA256 Credential=AKIDFAULTPROXY/${date.slice(0, 8)}/us-east-1/kinesis/aws4_request, ` +
      'SignedHeaders=host;x-amz-date;x-amz-target, Signature=0',
  };
}

function writeAnswer(res: ServerResponse, answer: Answer): void {
  res.writeHead(answer.status, { ...answer.headers, 'content-length': answer.body.length });
  res.end(answer.body);
}

/**
 * The answer to a split PutRecords: injected failures and the target's results back in request order, with
 * FailedRecordCount recounted and any other field of the target's answer (e.g. EncryptionType) kept.
 */
function stitch(
  failures: readonly (ResultEntry | undefined)[],
  forwarded: readonly ResultEntry[],
  targetAnswer: JsonObject,
  headers: OutgoingHttpHeaders,
): Answer {
  let next = 0;
  const records = failures.map((failure) => failure ?? forwarded[next++] ?? {});
  const failed = records.filter((r) => r.ErrorCode != null).length;
  const result: JsonObject = { ...targetAnswer, FailedRecordCount: failed, Records: records };
  return { status: 200, headers, body: Buffer.from(JSON.stringify(result)) };
}

/** Successful result entries of a forwarded write's answer. */
function writtenEntries(operation: string, answer: Answer): ResultEntry[] {
  const parsed = answer.status === 200 ? parseObject(answer.body) : undefined;
  if (parsed === undefined) return [];
  const results =
    operation === 'PutRecords' && Array.isArray(parsed.Records) ? (parsed.Records as ResultEntry[]) : [parsed as ResultEntry];
  return results.filter((r) => r.ErrorCode == null && r.SequenceNumber != null);
}

/** Explicit hash key, else MD5 of the partition key's UTF-8 bytes as a big-endian 128-bit integer. */
export function hashKeyOf(entry: { PartitionKey?: unknown; ExplicitHashKey?: unknown }): bigint | undefined {
  try {
    if (typeof entry.ExplicitHashKey === 'string') return BigInt(entry.ExplicitHashKey);
  } catch {
    return undefined; // not a number: the target rejects the request itself
  }
  if (typeof entry.PartitionKey !== 'string') return undefined;
  return BigInt(`0x${createHash('md5').update(entry.PartitionKey, 'utf8').digest('hex')}`);
}

function findShard(map: readonly ShardRange[] | undefined, key: bigint): string | undefined {
  return map?.find((shard) => shard.start <= key && key <= shard.end)?.id;
}

/** Bytes an entry counts against the shard: decoded data plus partition key UTF-8 bytes. */
function entryBytes(entry: PutEntry): number {
  const data = typeof entry.Data === 'string' ? Buffer.byteLength(entry.Data, 'base64') : 0;
  const key = typeof entry.PartitionKey === 'string' ? Buffer.byteLength(entry.PartitionKey, 'utf8') : 0;
  return data + key;
}

function operationOf(headers: IncomingHttpHeaders): string {
  const target = headers['x-amz-target'];
  return typeof target === 'string' && target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : 'unknown';
}

function isJson11(headers: IncomingHttpHeaders): boolean {
  return (headers['content-type'] ?? '').split(';')[0]?.trim() === JSON_11;
}

function matches(filter: OperationFilter, operation: string): boolean {
  return filter === 'all' || filter.includes(operation);
}

function parseObject(body: Buffer): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())));
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    // A body cut short never ends: settle on close instead (a no-op once resolved).
    stream.on('close', () => stream.complete || reject(new Error('connection closed before the body ended')));
  });
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function shardStats(stats: FaultProxyStats, stream: string, shardId: string): ShardStats {
  const byShard = (stats.shards[stream] ??= {});
  return (byShard[shardId] ??= { written: 0, acceptedRecords: 0, acceptedBytes: 0, throttledEntries: 0 });
}

function emptyStats(): FaultProxyStats {
  return {
    requests: {},
    entriesReceived: 0,
    entriesForwarded: 0,
    entriesFailed: {},
    requestFaults: {},
    resetsBeforeForward: 0,
    resetsAfterForward: 0,
    entriesResetAfterForward: 0,
    stalls: 0,
    stallsAbandoned: 0,
    passthrough: 0,
    shards: {},
  };
}

/**
 * A small seeded generator (mulberry32) returning floats in [0, 1): the same seed and request order give
 * the same faults. Exported for tests that want the same repeatable randomness.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Merges `patch` into a successful DescribeStreamSummary answer's `StreamDescriptionSummary`. */
function patchSummary(answer: Answer, patch: Record<string, unknown>): Answer {
  if (answer.status !== 200) return answer;
  const parsed = parseObject(answer.body);
  const summary = parsed?.StreamDescriptionSummary;
  if (parsed === undefined || typeof summary !== 'object' || summary === null) return answer;
  const body = Buffer.from(JSON.stringify({ ...parsed, StreamDescriptionSummary: { ...summary, ...patch } }));
  return { ...answer, body };
}
