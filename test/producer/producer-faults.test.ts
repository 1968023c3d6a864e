/**
 * The producer under faults injected by a loopback proxy in front of kinesalite (which itself never
 * throttles or fails): partial failures, whole-request errors, timeouts, connection resets, TTL
 * expiry and a missing stream. For each: records sent, read back, duplicates, failures by code.
 */
import { describe, expect, it } from 'vitest';
import { KinesisProducer, UserRecordFailedError, type Attempt, type PutResult, type ProducerOptions } from '../../src/index.js';
import type { Faults } from '../support/fault-proxy.js';
import { countIds, readStream, tallyIds } from '../support/read-stream.js';
import { useKinesis } from '../support/harness.js';
import { createStream, localClient } from '../support/servers.js';

const kinesis = useKinesis({ proxySeed: 7 });
let streams = 0;

interface Outcome {
  readonly sent: number;
  readonly results: PutResult[];
  readonly failures: UserRecordFailedError[];
  readonly readBack: Map<string, number>;
  readonly missing: string[];
  readonly duplicates: number;
  /** From the first put() to the last settlement. */
  readonly elapsedMs: number;
}

/** A new stream of 2 shards, and a producer writing to it through the proxy (short backoffs unless `options` say otherwise). */
async function producerOnNewStream(options: Partial<ProducerOptions> = {}): Promise<{ streamName: string; producer: KinesisProducer }> {
  const streamName = `faults-${++streams}`;
  await createStream(kinesis.admin, streamName, 2);
  const producer = new KinesisProducer({
    streamName,
    client: localClient(kinesis.proxy.endpoint),
    retryMinBackoff: 20,
    retryMaxBackoff: 200,
    ...options,
  });
  return { streamName, producer };
}

/** Puts `count` records through the proxy with the given faults, then reads the stream back directly. */
async function produce(count: number, faults: Partial<Faults>, options: Partial<ProducerOptions> = {}): Promise<Outcome> {
  const { streamName, producer } = await producerOnNewStream(options);
  const described = JSON.stringify(faults); // the proxy counts triggers down in place
  kinesis.proxy.setFaults(faults);
  const started = performance.now();
  const settled = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => producer.put({ partitionKey: `pk-${i % 97}`, data: `${i}|payload-${i}` })),
  );
  const elapsedMs = performance.now() - started;
  await producer.close();
  kinesis.proxy.clearFaults();
  const results: PutResult[] = [];
  const failures: UserRecordFailedError[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'fulfilled') results.push(outcome.value);
    else if (outcome.reason instanceof UserRecordFailedError) failures.push(outcome.reason);
    else throw outcome.reason;
  }
  const readBack = countIds((await readStream(kinesis.admin, streamName)).records);
  const { missing, duplicates } = tallyIds(readBack, count);
  const codes: Record<string, number> = {};
  for (const failure of failures) codes[failure.errorCode] = (codes[failure.errorCode] ?? 0) + 1;
  const retried = results.filter((r) => r.attempts.length > 1).length;
  console.log(
    `${described}: sent ${count}, read back ${readBack.size} distinct (${missing.length} missing, ` +
      `${duplicates} duplicates), ${retried} retried, failed ${JSON.stringify(codes)}`,
  );
  return { sent: count, results, failures, readBack, missing, duplicates, elapsedMs };
}

describe('KinesisProducer under faults', () => {
  it.each([true, false])('retries entries failed with ProvisionedThroughputExceeded and InternalFailure until all are written (aggregation %s)', async (aggregationEnabled) => {
    // Small envelopes, so that requests carry enough entries for both codes to be drawn.
    const outcome = await produce(3000, { entryFailureRate: 0.3, entryErrorCode: 'mix' }, { aggregationEnabled, aggregationMaxSize: 1024 });
    expect(outcome.failures).toEqual([]);
    expect(outcome.missing).toEqual([]);
    expect(outcome.duplicates).toBe(0); // failed entries were never forwarded
    const retried = outcome.results.filter((r) => r.attempts.length > 1);
    expect(retried.length).toBeGreaterThan(0);
    const codes = new Set(retried.flatMap((r) => r.attempts.filter((a) => !a.success).map((a) => a.errorCode)));
    expect(codes).toEqual(new Set(['ProvisionedThroughputExceededException', 'InternalFailure']));
    for (const result of retried) {
      expect(Object.isFrozen(result.attempts)).toBe(true);
      expect(result.attempts.at(-1)!.success).toBe(true);
      expect(result.attempts.slice(0, -1).every((a) => !a.success && a.errorMessage !== undefined)).toBe(true);
      // Retries wait their backoff: the attempt after a failure was sent no sooner than it failed.
      expect(result.attempts[1]!.delayMs).toBeGreaterThanOrEqual(0);
    }
  });

  it.each([
    ['InternalFailure', 500],
    ['ServiceUnavailable', 503],
  ] as const)('retries whole requests answered %s (%i)', async (kind, _status) => {
    const outcome = await produce(1000, { requestFailure: { kind, count: 3 } });
    expect(outcome.failures).toEqual([]);
    expect(outcome.missing).toEqual([]);
    expect(outcome.duplicates).toBe(0);
    const codes = new Set(outcome.results.flatMap((r) => r.attempts.filter((a) => !a.success).map((a) => a.errorCode)));
    expect(codes).toEqual(new Set([kind]));
    expect(outcome.results.some((r) => r.attempts.length > 1)).toBe(true);
  });

  it('aborts requests that outlive requestTimeout and retries them; nothing is lost', async () => {
    const outcome = await produce(500, { stall: { count: 2 } }, { requestTimeout: 300 });
    expect(outcome.failures).toEqual([]);
    expect(outcome.missing).toEqual([]);
    const timedOut = outcome.results.filter((r) => r.attempts.some((a) => a.errorCode === 'RequestTimeout'));
    expect(timedOut.length).toBeGreaterThan(0);
    for (const result of timedOut) expect(result.attempts[0]!.durationMs).toBeGreaterThanOrEqual(290);
  });

  it('keeps records written before a connection reset: duplicates are possible, losses are not', async () => {
    const outcome = await produce(1000, { resetAfterForward: { count: 2 } });
    expect(outcome.failures).toEqual([]);
    expect(outcome.missing).toEqual([]);
    const resetAttempts = outcome.results.reduce((n, r) => n + r.attempts.filter((a) => a.errorCode === 'NetworkError').length, 0);
    expect(kinesis.proxy.stats.resetsAfterForward).toBe(2);
    expect(resetAttempts).toBeGreaterThan(0);
    // Every reset request had been written, so each attempt it ended left one extra copy behind.
    expect(outcome.duplicates).toBe(resetAttempts);
  });

  it('fails records with Expired and all their attempts once recordTtl runs out', async () => {
    const outcome = await produce(200, { entryFailureRate: 1 }, { recordTtl: 800 });
    // A record fails as soon as its next retry would land after its TTL: at the earliest one
    // backoff ceiling (retryMaxBackoff, 200 ms here) before it; and not at some later sweep.
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(800 - 200);
    expect(outcome.elapsedMs).toBeLessThan(3000);
    expect(outcome.results).toEqual([]);
    expect(outcome.failures).toHaveLength(200);
    for (const failure of outcome.failures) {
      expect(failure.errorCode).toBe('Expired');
      expect(failure.attempts.length).toBeGreaterThanOrEqual(1);
      expect(Object.isFrozen(failure.attempts)).toBe(true);
      // Each attempt was refused as throttled, or was cut because the TTL of a record in its request
      // (this one's or another's) ran out before the answer came, as on a loaded machine.
      const cutByTtl = (a: Attempt) => a.errorCode === 'RequestTimeout' && a.errorMessage?.includes('recordTtl') === true;
      expect(failure.attempts.filter((a) => a.success || (a.errorCode !== 'ProvisionedThroughputExceededException' && !cutByTtl(a)))).toEqual([]);
      expect(failure.message).toContain(failure.partitionKey);
      expect(failure.message).not.toContain('payload');
      // Wherever its TTL ran out (before a retry, waiting for the rate limit or to be sent), the
      // error says what its tries met.
      const last = failure.attempts.at(-1)!;
      expect(failure.message).toContain(`; last error ${last.errorCode}: ${last.errorMessage}`);
    }
    expect(outcome.readBack.size).toBe(0);
  });

  it('survives garbage answers: a null entry, a missing list, an entry of the wrong type; every record still settles', async () => {
    let answers = 0;
    const garbage = [
      (body: Record<string, unknown>) => ({ ...body, Records: [null, ...(body.Records as unknown[]).slice(1)] }),
      (body: Record<string, unknown>) => ({ ...body, Records: undefined }),
      (body: Record<string, unknown>) => ({ ...body, Records: (body.Records as unknown[]).map((entry, i) => (i === 0 ? 42 : entry)) }),
      (body: Record<string, unknown>) => ({ ...body, Records: (body.Records as unknown[]).map((entry, i) => (i === 0 ? { ErrorCode: 7 } : entry)) }),
    ];
    const patch = (body: Record<string, unknown>) => (answers < garbage.length ? garbage[answers++]!(body) : body);
    const outcome = await produce(600, { answerPatch: { operations: ['PutRecords'], patch } }, { aggregationEnabled: false });
    expect(answers).toBe(garbage.length);
    expect(outcome.failures).toEqual([]);
    expect(outcome.missing).toEqual([]);
    const invalid = outcome.results.filter((r) => r.attempts.some((a) => a.errorCode === 'InvalidResponse'));
    expect(invalid.length).toBeGreaterThan(0);
  });

  it('names the last error of a tried record whose TTL runs out while it waits to be sent again', async () => {
    const { producer } = await producerOnNewStream({ maxConnections: 1, recordMaxBufferedTime: 1, recordTtl: 2000, retryMinBackoff: 400, retryMaxBackoff: 400 });
    // First try: every entry throttled. Then the only connection hangs on a later call, and the
    // first records' retry waits behind it until their TTL has run out.
    kinesis.proxy.setFaults({ entryFailureRate: 1 });
    const tried = Array.from({ length: 5 }, (_, i) => producer.put({ partitionKey: `tried-${i}`, data: `${i}|` }).catch((e: unknown) => e));
    // The first call is answered (its entries counted) well before the retries' backoff ends.
    while ((kinesis.proxy.stats.entriesFailed.ProvisionedThroughputExceededException ?? 0) === 0) await new Promise((r) => setTimeout(r, 5));
    kinesis.proxy.setFaults({ entryFailureRate: 0, stall: { rate: 1 } });
    const later = Array.from({ length: 5 }, (_, i) => producer.put({ partitionKey: `later-${i}`, data: `${5 + i}|` }).catch((e: unknown) => e));
    const errors = await Promise.all(tried);
    await Promise.all(later);
    await producer.close();
    kinesis.proxy.clearFaults();
    for (const error of errors) {
      expect(error).toBeInstanceOf(UserRecordFailedError);
      const failure = error as UserRecordFailedError;
      expect(failure.errorCode).toBe('Expired');
      expect(failure.attempts.map((a) => a.errorCode)).toEqual(['ProvisionedThroughputExceededException']);
      expect(failure.message).toMatch(/recordTtl ran out while the record waited to be sent; last error ProvisionedThroughputExceededException: /);
    }
  });

  it('settles records by their recordTtl when the endpoint hangs, not recordTtl + requestTimeout', async () => {
    const outcome = await produce(50, { stall: { rate: 1 } }, { recordTtl: 1500, requestTimeout: 6000 });
    expect(outcome.failures.map((f) => f.errorCode)).toEqual(Array(50).fill('Expired'));
    // The attempt is cut when the first TTL in its request runs out (before the fix: ~6 s).
    expect(outcome.elapsedMs).toBeLessThan(1500 + 1000);
  });

  it('fails throttled records at once with failIfThrottled', async () => {
    const outcome = await produce(100, { entryFailureRate: 1, entryErrorCode: 'ProvisionedThroughputExceededException' }, { failIfThrottled: true });
    expect(outcome.failures).toHaveLength(100);
    for (const failure of outcome.failures) {
      expect(failure.errorCode).toBe('ProvisionedThroughputExceededException');
      expect(failure.attempts).toHaveLength(1);
    }
  });

  it('fails fast with ResourceNotFoundException for a missing stream', async () => {
    const producer = new KinesisProducer({ streamName: 'no-such-stream', client: localClient(kinesis.server.endpoint) });
    const started = performance.now();
    const settled = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => producer.put({ partitionKey: `k${i}`, data: 'x' })));
    expect(performance.now() - started).toBeLessThan(2000);
    for (const outcome of settled) {
      expect(outcome.status).toBe('rejected');
      const error = (outcome as PromiseRejectedResult).reason as UserRecordFailedError;
      expect(error).toBeInstanceOf(UserRecordFailedError);
      expect(error.errorCode).toBe('ResourceNotFoundException');
      expect(error.attempts).toHaveLength(1);
    }
    await producer.close();
  });

  it('splits a request the service refuses as invalid, so the other records still go through', async () => {
    const outcome = await produce(400, { requestFailure: { kind: 'InvalidArgumentException', count: 1 } }, { aggregationEnabled: false });
    expect(outcome.failures).toEqual([]);
    expect(outcome.missing).toEqual([]);
    const split = outcome.results.filter((r) => r.attempts[0]!.errorCode === 'InvalidArgumentException');
    expect(split.length).toBeGreaterThan(0);
  });

  it('fails the one record of a request refused as invalid', async () => {
    const outcome = await produce(1, { requestFailure: { kind: 'InvalidArgumentException', count: 1 } });
    expect(outcome.failures.map((f) => f.errorCode)).toEqual(['InvalidArgumentException']);
  });
});
