/**
 * A stream deleted and created again under the same name with another shard layout, while the
 * producer writes to it: shard IDs come back with other hash ranges. Every record the producer
 * says was written must be where a KCL reads it, never in an envelope a KCL drops.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { KinesisProducer, type PutResult } from '../../src/index.js';
import { useKinesis } from '../support/harness.js';
import { readStream } from '../support/read-stream.js';
import { createStream, localClient } from '../support/servers.js';

const kinesis = useKinesis();

describe('a stream created again with another shard layout', () => {
  it('settles as written only records a KCL will read, before and after the stream is created again', async () => {
    const streamName = 'recreated';
    await createStream(kinesis.admin, streamName, 2);
    // The periodic refresh is off: only what the answers show may tell the producer.
    const producer = new KinesisProducer({ streamName, client: localClient(kinesis.server.endpoint), shardMapRefreshInterval: 0, retryMaxBackoff: 500 });
    const written = new Map<string, PutResult>();
    let failed = 0;
    let next = 0;
    const batch = async (): Promise<void> => {
      const ids = Array.from({ length: 300 }, () => next++);
      const settled = await Promise.allSettled(ids.map((i) => producer.put({ partitionKey: `pk-${i % 211}`, data: `${i}|again` })));
      settled.forEach((outcome, j) => (outcome.status === 'fulfilled' ? written.set(`${ids[j]}`, outcome.value) : failed++));
    };
    await batch();
    await kinesis.admin.send(new DeleteStreamCommand({ StreamName: streamName }));
    for (let gone = false; !gone; await sleep(20)) {
      gone = await kinesis.admin.send(new DescribeStreamSummaryCommand({ StreamName: streamName })).then(
        () => false,
        (error: Error) => error.name === 'ResourceNotFoundException',
      );
    }
    await batch(); // fails: the stream is gone
    await createStream(kinesis.admin, streamName, 3);
    for (let i = 0; i < 5; i++) await batch();
    await producer.close();

    const contents = await readStream(kinesis.admin, streamName);
    const readBack = new Map(contents.records.map((r) => [`${r.shardId}/${r.sequenceNumber}/${r.subSequenceNumber}`, r]));
    // Written after the stream was created again: each must be read back where its result says.
    const afterRecreation = [...written].filter(([id]) => Number(id) >= 600);
    expect(afterRecreation.length).toBeGreaterThan(1000);
    const lost = afterRecreation.filter(([, r]) => !readBack.has(`${r.shardId}/${r.sequenceNumber}/${r.aggregated ? r.subSequenceNumber! : 0}`));
    console.log(
      `recreated stream: ${written.size} written, ${failed} failed, ${contents.droppedByKcl} records in envelopes a KCL drops, ` +
        `${lost.length} written after re-creation and not read back`,
    );
    expect(lost.map(([id]) => id)).toEqual([]);
    expect(failed).toBeGreaterThanOrEqual(300);
  });
});
