/**
 * A loopback CloudWatch endpoint for tests: it takes PutMetricData requests in whichever protocol the
 * SDK speaks, records their datums, and can be told to fail or stall.
 *
 * Protocols (CloudWatch's model lists all three; which one a client uses depends on its SDK version,
 * or its `protocol` option):
 * - awsJson 1.0 (`@aws-sdk/client-cloudwatch` 3.114x, the version installed here): `POST /` with
 *   `x-amz-target: GraniteServiceVersion20100801.PutMetricData` and a JSON body, timestamps in epoch
 *   seconds;
 * - Smithy RPC v2 CBOR: `POST /service/GraniteServiceVersion20100801/operation/PutMetricData` with
 *   `smithy-protocol: rpc-v2-cbor`, timestamps as CBOR tag 1; the answer must carry that header too;
 * - awsQuery (older 3.x): `POST /` with a form body `Action=PutMetricData&MetricData.member.1.…`,
 *   answered in XML.
 * Bodies of 10 kB or more come gzipped (`content-encoding: gzip`): PutMetricData has the
 * `requestCompression` trait. JSON and CBOR error answers carry `x-amzn-query-error: Code;Type`, which
 * clients of this awsQuery-compatible service read the error code from.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { cbor } from '@smithy/core/cbor';

/** The wire protocol of a request. */
export type CloudWatchProtocol = 'json' | 'cbor' | 'query';

/** One datum as CloudWatch would store it. */
export interface RecordedDatum {
  readonly namespace: string;
  readonly name: string;
  readonly unit: string | undefined;
  readonly dimensions: Readonly<Record<string, string>>;
  /** Its StatisticValues (a datum sent with `Value` reads as one sample of it). */
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly timestamp: Date | undefined;
}

/** One PutMetricData request. */
export interface RecordedRequest {
  readonly protocol: CloudWatchProtocol;
  readonly namespace: string;
  readonly datums: readonly RecordedDatum[];
  /** The body's size as sent (gzipped or not). */
  readonly bytes: number;
  /** The body's size once gunzipped. */
  readonly decodedBytes: number;
  readonly gzipped: boolean;
  /** What the server did with it: `rejected` if it could not read it (see `error`). */
  readonly outcome: 'accepted' | 'failed' | 'stalled' | 'rejected';
  /** Why it could not be read. */
  readonly error?: string;
}

/** Errors the server can answer with, as CloudWatch gives them. */
export type CloudWatchFault = 'InternalFailure' | 'Throttling';

const FAULTS: Record<CloudWatchFault, { status: number; type: 'Receiver' | 'Sender'; message: string }> = {
  InternalFailure: { status: 500, type: 'Receiver', message: 'The request processing has failed because of an unknown error.' },
  Throttling: { status: 400, type: 'Sender', message: 'Rate exceeded' },
};

/** A running server; see {@link startCloudWatchServer}. */
export interface CloudWatchServer {
  /** `http://127.0.0.1:<port>`, for `cloudwatchEndpoint` or a client's `endpoint`. */
  readonly endpoint: string;
  /** Every PutMetricData request so far, in arrival order, accepted or not. */
  readonly requests: readonly RecordedRequest[];
  /**
   * The datums of accepted requests (what CloudWatch would hold), in arrival order; only those named
   * `name` if given, and only those with exactly `dimensions` if given (`{}`: the global figure).
   */
  datums(name?: string, dimensions?: Readonly<Record<string, string>>): RecordedDatum[];
  /** The sum of the `sum`s of {@link datums}`(name, dimensions)`: e.g. the records put over all intervals. */
  sum(name: string, dimensions?: Readonly<Record<string, string>>): number;
  /** Answers the next `count` requests with `fault` (default `InternalFailure`, HTTP 500). */
  failNext(count: number, fault?: CloudWatchFault): void;
  /** While on, requests are recorded and never answered (before any `failNext`). */
  stall(on?: boolean): void;
  /** Resolves once `count` requests have arrived; rejects after `timeoutMs`. */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Forgets the requests recorded so far. */
  clear(): void;
  /** Drops stalled requests and stops the server. */
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 and a free port. */
export async function startCloudWatchServer(): Promise<CloudWatchServer> {
  let requests: RecordedRequest[] = [];
  let failures: { count: number; fault: CloudWatchFault } = { count: 0, fault: 'InternalFailure' };
  let stalling = false;
  const waiters = new Set<() => void>();
  const record = (request: RecordedRequest): void => {
    requests.push(request);
    for (const wake of waiters) wake();
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const gzipped = req.headers['content-encoding'] === 'gzip';
      const protocol = protocolOf(req);
      let body = raw;
      let input: PutMetricDataInput;
      try {
        if (gzipped) body = gunzipSync(raw);
        input = parsePutMetricData(protocol, req, body);
      } catch (error) {
        // Recorded, so that a test sees why its datums never arrived.
        record({ protocol, namespace: '', datums: [], bytes: raw.length, decodedBytes: body.length, gzipped, outcome: 'rejected', error: String(error) });
        answerError(res, protocol, 400, 'InvalidParameterValue', 'Sender', String(error));
        return;
      }
      const outcome = stalling ? 'stalled' : failures.count > 0 ? 'failed' : 'accepted';
      record({ protocol, ...input, bytes: raw.length, decodedBytes: body.length, gzipped, outcome });
      if (outcome === 'accepted') {
        answerSuccess(res, protocol);
      } else if (outcome === 'failed') {
        failures.count--;
        const { status, type, message } = FAULTS[failures.fault];
        answerError(res, protocol, status, failures.fault, type, message);
      }
    });
  });
  const datums = (name?: string, dimensions?: Readonly<Record<string, string>>): RecordedDatum[] =>
    requests
      .filter((r) => r.outcome === 'accepted')
      .flatMap((r) => r.datums)
      .filter((d) => (name === undefined || d.name === name) && (dimensions === undefined || sameDimensions(d.dimensions, dimensions)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    datums,
    sum: (name, dimensions) => datums(name, dimensions).reduce((total, d) => total + d.sum, 0),
    failNext: (count, fault = 'InternalFailure') => {
      failures = { count, fault };
    },
    stall: (on = true) => {
      stalling = on;
    },
    waitForRequests: (count, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (requests.length < count) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`the CloudWatch server got ${requests.length} of ${count} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    clear: () => {
      requests = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** PutMetricData's input as every protocol carries it, before types are read. */
interface PutMetricDataInput {
  readonly namespace: string;
  readonly datums: RecordedDatum[];
}

function protocolOf(req: IncomingMessage): CloudWatchProtocol {
  if (req.headers['smithy-protocol'] === 'rpc-v2-cbor') return 'cbor';
  if (req.headers['x-amz-target'] !== undefined) return 'json';
  return 'query';
}

/** Reads a request's input in its protocol; throws if it is not a PutMetricData request. */
function parsePutMetricData(protocol: CloudWatchProtocol, req: IncomingMessage, body: Buffer): PutMetricDataInput {
  let input: Record<string, unknown>;
  if (protocol === 'cbor') {
    if (!req.url?.endsWith('/service/GraniteServiceVersion20100801/operation/PutMetricData')) throw new Error(`not PutMetricData: ${req.url}`);
    input = body.length === 0 ? {} : (cbor.deserialize(body) as Record<string, unknown>);
  } else if (protocol === 'json') {
    if (req.headers['x-amz-target'] !== 'GraniteServiceVersion20100801.PutMetricData') throw new Error(`not PutMetricData: ${req.headers['x-amz-target']}`);
    input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } else {
    const params = new URLSearchParams(body.toString('utf8'));
    if (params.get('Action') !== 'PutMetricData') throw new Error(`not PutMetricData: ${params.get('Action')}`);
    input = unflattenQuery(params);
  }
  const namespace = String(input.Namespace);
  const metricData = (input.MetricData ?? []) as Record<string, unknown>[];
  return { namespace, datums: metricData.map((d) => readDatum(namespace, d)) };
}

/** A datum from its protocol's shape: numbers may be strings (awsQuery), timestamps three ways. */
function readDatum(namespace: string, d: Record<string, unknown>): RecordedDatum {
  // An empty list comes as `Dimensions=` in awsQuery: an empty string.
  const list = Array.isArray(d.Dimensions) ? (d.Dimensions as { Name: unknown; Value: unknown }[]) : [];
  const dimensions = Object.fromEntries(list.map((x) => [String(x.Name), String(x.Value)]));
  const stats = d.StatisticValues as Record<string, unknown> | undefined;
  const value = Number(d.Value);
  return {
    namespace,
    name: String(d.MetricName),
    unit: d.Unit === undefined ? undefined : String(d.Unit),
    dimensions,
    count: stats === undefined ? 1 : Number(stats.SampleCount),
    sum: stats === undefined ? value : Number(stats.Sum),
    min: stats === undefined ? value : Number(stats.Minimum),
    max: stats === undefined ? value : Number(stats.Maximum),
    timestamp: readTimestamp(d.Timestamp),
  };
}

function readTimestamp(value: unknown): Date | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return new Date(value); // awsQuery: ISO 8601
  if (typeof value === 'number') return new Date(value * 1000); // JSON: epoch seconds
  return new Date(Number((value as { value: unknown }).value) * 1000); // CBOR: tag 1, epoch seconds
}

/** `MetricData.member.1.Dimensions.member.2.Name=x` and the like, as nested objects and arrays. */
function unflattenQuery(params: URLSearchParams): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of params) {
    const parts = key.split('.');
    let node: Record<string, unknown> | unknown[] = root;
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      // `Name.member.N`: a list, its elements numbered from 1.
      const isList = parts[i + 1] === 'member';
      const slot: string | number = Array.isArray(node) ? Number(parts[i]) - 1 : parts[i]!;
      const holder = node as Record<string | number, unknown>;
      if (last) {
        holder[slot] = value;
      } else {
        holder[slot] ??= isList ? [] : {};
        node = holder[slot] as Record<string, unknown> | unknown[];
        if (isList) i++; // skip `member`
      }
    }
  }
  return root;
}

function answerSuccess(res: ServerResponse, protocol: CloudWatchProtocol): void {
  if (protocol === 'cbor') {
    res.writeHead(200, { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' }).end(Buffer.from(cbor.serialize({})));
  } else if (protocol === 'json') {
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() }).end('{}');
  } else {
    const xml =
      '<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">' +
      `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PutMetricDataResponse>`;
    res.writeHead(200, { 'content-type': 'text/xml' }).end(xml);
  }
}

function answerError(res: ServerResponse, protocol: CloudWatchProtocol, status: number, code: string, type: string, message: string): void {
  const error = { __type: `com.amazonaws.cloudwatch#${code}`, message };
  const queryError = { 'x-amzn-query-error': `${code};${type}` };
  if (protocol === 'cbor') {
    res.writeHead(status, { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor', ...queryError }).end(Buffer.from(cbor.serialize(error)));
  } else if (protocol === 'json') {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', ...queryError }).end(JSON.stringify(error));
  } else {
    const xml = `<ErrorResponse><Error><Type>${type}</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
    res.writeHead(status, { 'content-type': 'text/xml' }).end(xml);
  }
}

function sameDimensions(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
}
