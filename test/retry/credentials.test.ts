/**
 * Credential and clock errors through the real SDK and a loopback proxy: retried until recordTtl,
 * as the KPL does, for records and for the stream's metadata alike.
 */
import { describe, expect, it } from 'vitest';
import { KinesisProducer } from '../../src/index.js';
import { useKinesis } from '../support/harness.js';
import { countIds, readStream, tallyIds } from '../support/read-stream.js';
import { createStream, localClient } from '../support/servers.js';
import { eventually } from '../sharding/listing.js';

const kinesis = useKinesis({ proxySeed: 11 });

describe('credential and clock errors', () => {
  it('retries records and metadata refused for an expired token until the token is good again', async () => {
    const streamName = 'expired-token';
    await createStream(kinesis.admin, streamName, 2);
    // The first three calls of each kind are refused, as while a rotated session token propagates.
    kinesis.proxy.setFaults({
      requestFailure: { kind: 'ExpiredTokenException', count: 9, operations: ['PutRecords', 'ListShards', 'DescribeStreamSummary'] },
    });
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.proxy.endpoint), retryMinBackoff: 20, retryMaxBackoff: 200 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => producer.put({ partitionKey: `k${i % 13}`, data: `${i}|token` })));
    expect(results.some((r) => r.attempts.some((a) => a.errorCode === 'ExpiredTokenException'))).toBe(true);
    // The stream's capabilities are read again too, so the producer aggregates once it can.
    await eventually(() => producer.streamStatus()?.aggregating === true, 20_000);
    await producer.close();
    const { missing } = tallyIds(countIds((await readStream(kinesis.admin, streamName)).records), 200);
    expect(missing).toEqual([]);
  });
});
