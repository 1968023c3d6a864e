/**
 * Ships lines from stdin to Kinesis, one record per non-empty line, and prints a summary at the end
 * of input. Exits 1 if any line could not be written.
 *
 *   tail -F /var/log/app.log | STREAM_NAME=logs node --import tsx examples/log-shipper.ts
 *
 * Region, credentials and endpoint come from the AWS SDK's usual sources (AWS_REGION, the default
 * credential chain, AWS_ENDPOINT_URL_KINESIS for a local Kinesis).
 */
import { createInterface } from 'node:readline';
import { KinesisProducer } from 'shardline';

const producer = new KinesisProducer({ streamName: process.env.STREAM_NAME ?? 'logs' });

let lines = 0;
let failed = 0;
// The producer fed by hand: before each put(), ready() waits while the producer holds
// maxOutstandingRecords or maxOutstandingBytes, so memory stays bounded however fast lines come.
// Planned: producer.writable() (a Writable taking records) and putAll() will replace this loop
// with one pipeline from stdin's lines into the producer.
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line === '') continue;
  await producer.ready();
  const number = ++lines;
  // Order does not matter for these lines: a key per line spreads them over every shard.
  producer.put({ partitionKey: String(number), data: line }).catch((error: unknown) => {
    failed++;
    console.error(`line ${number} not written: ${String(error)}`);
  });
}
// End of input: send what is still buffered, wait for every record, release the sockets.
await producer.close();
console.log(`shipped ${lines - failed} of ${lines} lines (${failed} failed)`);
process.exitCode = failed === 0 ? 0 : 1;
