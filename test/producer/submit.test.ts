/**
 * Records put for a sink rather than a promise each (the path of putAll and writable): every
 * accepted record reaches the sink exactly once; refusals are thrown at once.
 */
import { describe, expect, it } from 'vitest';
import { KinesisProducer, UserRecordFailedError, ValidationError, type UserRecord } from '../../src/index.js';
import { submit, type RecordSink } from '../../src/records.js';
import { useKinesis } from '../support/harness.js';
import { countIds, readStream, tallyIds } from '../support/read-stream.js';
import { createStream, localClient } from '../support/servers.js';

const kinesis = useKinesis({ proxySeed: 3 });

function recordingSink() {
  const succeeded: UserRecord[] = [];
  const failed: [UserRecord, UserRecordFailedError][] = [];
  const sink: RecordSink = { succeeded: (record) => void succeeded.push(record), failed: (record, error) => void failed.push([record, error]) };
  return { sink, succeeded, failed };
}

describe('producer[submit]', () => {
  it('tells the sink of every record once, with the record as it was put, and throws bad input at once', async () => {
    await createStream(kinesis.admin, 'submit-1', 2);
    const producer = new KinesisProducer({ streamName: 'submit-1', client: localClient(kinesis.proxy.endpoint), retryMinBackoff: 10 });
    const { sink, succeeded, failed } = recordingSink();
    kinesis.proxy.setFaults({ entryFailureRate: 0.2 });
    const records = Array.from({ length: 2000 }, (_, i): UserRecord => ({ partitionKey: `k${i % 50}`, data: `${i}|submit` }));
    for (const record of records) producer[submit](record, sink);
    expect(() => producer[submit]({ partitionKey: '', data: 'x' }, sink)).toThrow(ValidationError);
    await producer.flush();
    await producer.close();
    expect(failed).toEqual([]);
    expect(new Set(succeeded)).toEqual(new Set(records));
    expect(succeeded).toHaveLength(2000);
    expect(tallyIds(countIds((await readStream(kinesis.admin, 'submit-1')).records), 2000)).toEqual({ missing: [], duplicates: 0 });
  });

  it('hands the sink each failed record with its error', async () => {
    await createStream(kinesis.admin, 'submit-2', 1);
    const producer = new KinesisProducer({ streamName: 'submit-2', client: localClient(kinesis.proxy.endpoint), failIfThrottled: true });
    kinesis.proxy.setFaults({ entryFailureRate: 1, entryErrorCode: 'ProvisionedThroughputExceededException' });
    const { sink, succeeded, failed } = recordingSink();
    const record: UserRecord = { partitionKey: 'k', data: 'doomed' };
    producer[submit](record, sink);
    await producer.close();
    expect(succeeded).toEqual([]);
    expect(failed).toHaveLength(1);
    expect(failed[0]![0]).toBe(record);
    expect(failed[0]![1]).toBeInstanceOf(UserRecordFailedError);
    expect(failed[0]![1].errorCode).toBe('ProvisionedThroughputExceededException');
  });
});
