/**
 * The CloudWatch sink, through the real SDK client over HTTP against the loopback CloudWatch endpoint:
 * what arrives, how reports are split into requests, and what failing and stalling endpoints do.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { AwsQueryProtocol, AwsSmithyRpcV2CborProtocol } from '@aws-sdk/core/protocols';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { createCloudWatchSink, type CloudWatchSink, type CloudWatchSinkOptions } from '../../src/metrics/cloudwatch.js';
import { Counters } from '../../src/metrics/counters.js';
import type { MetricDatum, MetricsReport } from '../../src/metrics/report.js';
import { startCloudWatchServer, type CloudWatchServer, type RecordedDatum } from '../support/cloudwatch-server.js';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const END = new Date('2026-11-22T06:00:00.000Z');

function datum(name: MetricDatum['name'], dimensions: MetricDatum['dimensions'], values: Partial<MetricDatum> = {}): MetricDatum {
  return { name, unit: 'Count', dimensions, count: 2, sum: 10, min: 3, max: 7, ...values };
}

function report(datums: readonly MetricDatum[], end = END, namespace = 'KinesisProducerLibrary'): MetricsReport {
  return { namespace, start: new Date(end.getTime() - 60_000), end, datums };
}

/** `count` datums, each on a shard of its own. */
function shardDatums(count: number, dimensions: Record<string, string> = {}): MetricDatum[] {
  return Array.from({ length: count }, (_, i) => datum('UserRecordsPut', { StreamName: 's', ShardId: `shardId-${String(i).padStart(12, '0')}`, ...dimensions }));
}

/** What the server should have recorded for `d`, sent in a report ending at `end`. */
function recorded(d: MetricDatum, end = END, namespace = 'KinesisProducerLibrary'): RecordedDatum {
  return { namespace, name: d.name, unit: d.unit, dimensions: d.dimensions, count: d.count, sum: d.sum, min: d.min, max: d.max, timestamp: end };
}

let server: CloudWatchServer;
let counters: Counters;
let sinks: CloudWatchSink[];

beforeEach(async () => {
  server = await startCloudWatchServer();
  counters = new Counters();
  sinks = [];
});

afterEach(async () => {
  server.stall(false);
  await Promise.all(sinks.map((s) => s.close()));
  await server.close();
});

async function newSink(options: Partial<CloudWatchSinkOptions> = {}): Promise<CloudWatchSink> {
  const sink = await createCloudWatchSink({ region: 'us-east-1', endpoint: server.endpoint, credentials, requestTimeout: 2000, counters, ...options });
  sinks.push(sink);
  return sink;
}

/** Waits until the sink has nothing under way: `close()` would be final, so wait on the server's side. */
async function settled(predicate: () => boolean): Promise<void> {
  await vi.waitFor(() => expect(predicate()).toBe(true), { timeout: 10_000, interval: 10 });
}

describe('what arrives', () => {
  it('sends names, units, dimensions, statistic sets and the interval end as the timestamp', async () => {
    const sink = await newSink();
    const datums = [
      datum('UserRecordsPut', { StreamName: 'orders', ShardId: 'shardId-000000000001' }),
      datum('BufferingTime', { StreamName: 'orders' }, { unit: 'Milliseconds', count: 5, sum: 1234.5, min: 0.25, max: 1000 }),
      datum('ErrorsByCode', { ErrorCode: 'ProvisionedThroughputExceededException', StreamName: 'orders' }),
      datum('EventLoopDelay', {}, { unit: 'Milliseconds', count: 1, sum: -3, min: -3, max: -3 }),
    ];
    sink.report(report(datums));
    await server.waitForRequests(1);
    await sink.close();
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.protocol).toBe('json');
    expect(server.datums()).toEqual(datums.map((d) => recorded(d)));
    // Looked up by exact dimensions: the stream's figure is not the shard's.
    expect(server.datums('UserRecordsPut', { StreamName: 'orders' })).toEqual([]);
    expect(server.sum('UserRecordsPut', { ShardId: 'shardId-000000000001', StreamName: 'orders' })).toBe(10);
    expect(server.datums('EventLoopDelay', {})).toHaveLength(1);
    expect(counters.metricsUploadsFailed).toBe(0);
    expect(counters.metricDatumsDropped).toBe(0);
  });

  it('sends nothing for a datum without samples, and drops and counts those CloudWatch would refuse', async () => {
    const sink = await newSink();
    const good = datum('UserRecordsPut', { StreamName: 's' });
    sink.report(
      report([
        datum('UserRecordsPut', { StreamName: 'empty' }, { count: 0, sum: 0, min: Infinity, max: -Infinity }),
        datum('RequestTime', { StreamName: 'nan' }, { sum: NaN }),
        datum('RequestTime', { StreamName: 'huge' }, { max: 2 ** 361 }),
        datum('RequestTime', { StreamName: 'non-ascii-é' }),
        datum('RequestTime', { StreamName: ' ' }),
        datum('RequestTime', Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`D${i}`, 'x']))),
        datum('RequestTime', { StreamName: 'tiny' }, { min: 2 ** -400 }),
        good,
      ]),
    );
    await server.waitForRequests(1);
    await sink.close();
    expect(server.datums()).toEqual([{ ...recorded(datum('RequestTime', { StreamName: 'tiny' })), min: 0 }, recorded(good)]);
    expect(counters.metricDatumsDropped).toBe(5);
  });

  it('takes its namespace from the report, one namespace a request, and drops a namespace CloudWatch would refuse', async () => {
    const sink = await newSink();
    sink.report(report([datum('UserRecordsPut', {})], END, 'first'));
    await server.waitForRequests(1);
    sink.report(report([datum('UserRecordsPut', {})], END, 'AWS/Kinesis'));
    sink.report(report([datum('UserRecordsPut', {})], END, 'second'));
    await sink.close();
    expect(server.requests.map((r) => r.namespace)).toEqual(['first', 'second']);
    expect(counters.metricDatumsDropped).toBe(1);
  });

  it('arrives the same over awsQuery and CBOR, the protocols of other SDK versions, from a client of the user', async () => {
    const datums = [
      datum('UserRecordsPut', { StreamName: 'orders', ShardId: 'shardId-000000000001' }),
      datum('RequestTime', { StreamName: 'orders' }, { unit: 'Milliseconds', sum: 1.5 }),
      datum('EventLoopDelay', {}, { unit: 'Milliseconds' }),
    ];
    const protocols = [
      [AwsQueryProtocol, 'query'],
      [AwsSmithyRpcV2CborProtocol, 'cbor'],
    ] as const;
    for (const [protocol, name] of protocols) {
      server.clear();
      const client = new CloudWatchClient({ region: 'us-east-1', endpoint: server.endpoint, credentials, protocol });
      const sink = await newSink({ client });
      sink.report(report(datums));
      await sink.close();
      client.destroy();
      expect(server.requests.map((r) => [r.protocol, r.outcome])).toEqual([[name, 'accepted']]);
      expect(server.datums()).toEqual(datums.map((d) => recorded(d)));
    }
  });
});

describe('batching', () => {
  it('splits a report into requests of at most 1000 datums', async () => {
    const sink = await newSink();
    const datums = shardDatums(2500);
    sink.report(report(datums));
    await server.waitForRequests(3);
    await sink.close();
    expect(server.requests.map((r) => r.datums.length)).toEqual([1000, 1000, 500]);
    expect(server.datums()).toEqual(datums.map((d) => recorded(d)));
  });

  it('splits a report into requests of at most 1 MB however it is encoded', async () => {
    const sink = await newSink();
    // Long dimension values: 1000 of these would be ~3.3 MB of JSON.
    const datums = shardDatums(1000, { Long: 'v'.repeat(1024), Longer: 'w'.repeat(1024), Longest: 'x'.repeat(1024) });
    sink.report(report(datums));
    await sink.close();
    expect(server.requests.length).toBeGreaterThan(3);
    for (const request of server.requests) expect(request.decodedBytes).toBeLessThanOrEqual(1_000_000);
    expect(server.datums()).toHaveLength(1000);
    expect(counters.metricsUploadsFailed).toBe(0);
  });
});

describe('a failing endpoint', () => {
  it('counts a failed upload and sends its datums again with the next report', async () => {
    const sink = await newSink();
    const first = [datum('UserRecordsPut', { StreamName: 'first' })];
    const second = [datum('UserRecordsPut', { StreamName: 'second' })];
    const later = new Date(END.getTime() + 60_000);
    server.failNext(1, 'Throttling');
    sink.report(report(first));
    await settled(() => counters.metricsUploadsFailed === 1);
    expect(server.datums()).toEqual([]);
    sink.report(report(second, later));
    await sink.close();
    expect(server.requests.map((r) => r.outcome)).toEqual(['failed', 'accepted']);
    // Each datum keeps the timestamp of its own interval.
    expect(server.datums()).toEqual([recorded(first[0]!), recorded(second[0]!, later)]);
    expect(counters.metricDatumsDropped).toBe(0);
  });

  it('gives up on datums after three failed uploads, and counts them', async () => {
    const sink = await newSink();
    server.failNext(3);
    for (let i = 1; i <= 3; i++) {
      sink.report(report([datum('UserRecordsPut', { StreamName: `report-${i}` })]));
      await settled(() => counters.metricsUploadsFailed === i);
    }
    expect(counters.metricDatumsDropped).toBe(1);
    await sink.close();
    expect(server.datums().map((d) => d.dimensions.StreamName)).toEqual(['report-2', 'report-3']);
    expect(counters.metricDatumsDropped).toBe(1);
  });

  it('keeps at most maxWaitingDatums waiting, dropping the oldest', async () => {
    const sink = await newSink({ maxWaitingDatums: 5 });
    server.failNext(1, 'InternalFailure');
    sink.report(report(shardDatums(4)));
    await settled(() => counters.metricsUploadsFailed === 1);
    const next = shardDatums(4, { StreamName: 'next' });
    sink.report(report(next));
    await sink.close();
    expect(counters.metricDatumsDropped).toBe(3);
    expect(server.datums().map((d) => d.dimensions.ShardId)).toEqual(['shardId-000000000003', ...next.map((d) => d.dimensions.ShardId)]);
  });

  it('uploads what is waiting at close()', async () => {
    const sink = await newSink();
    server.failNext(1);
    const datums = shardDatums(3);
    sink.report(report(datums));
    await settled(() => counters.metricsUploadsFailed === 1);
    await sink.close();
    expect(server.datums()).toEqual(datums.map((d) => recorded(d)));
  });
});

describe('a stalling endpoint', () => {
  it('cuts an upload at its deadline, and sends no second request while one is under way', async () => {
    const sink = await newSink({ requestTimeout: 300 });
    server.stall();
    sink.report(report(shardDatums(2)));
    await server.waitForRequests(1);
    sink.report(report(shardDatums(1, { StreamName: 'meanwhile' })));
    await settled(() => counters.metricsUploadsFailed === 1);
    expect(server.requests).toHaveLength(1);
    server.stall(false);
    sink.report(report([]));
    await sink.close();
    expect(server.requests.map((r) => [r.outcome, r.datums.length])).toEqual([
      ['stalled', 2],
      ['accepted', 3],
    ]);
  });

  it('ends close() within its deadline, dropping what it could not upload', async () => {
    const sink = await newSink({ requestTimeout: 1000 });
    server.stall();
    sink.report(report(shardDatums(2)));
    await server.waitForRequests(1);
    const started = performance.now();
    await sink.close();
    // A bound on correctness, not a speed: with the requests' deadlines alone, close() would wait
    // for the stalled one (~1 s) and then for its own last try (1 s more).
    expect(performance.now() - started).toBeLessThan(1600);
    // The stalled upload, and close()'s last try if the first one timed out before close() began.
    expect(counters.metricsUploadsFailed).toBeGreaterThanOrEqual(1);
    expect(counters.metricDatumsDropped).toBe(2);
  });
});

describe('the SDK as an optional peer dependency', () => {
  it('rejects with a ValidationError for cloudwatchUpload naming the package when it cannot be loaded', async () => {
    const missing = 'shardline-test-package-that-does-not-exist';
    const attempt = createCloudWatchSink({ requestTimeout: 1000, counters }, () => import(missing));
    await expect(attempt).rejects.toThrow(ValidationError);
    await expect(attempt).rejects.toMatchObject({ field: 'cloudwatchUpload', message: expect.stringContaining('npm install @aws-sdk/client-cloudwatch') });
  });
});
