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

/** The non-empty lines of stdin. */
async function* lines(): AsyncGenerator<string> {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) if (line !== '') yield line;
}

let numbered = 0;
// putAll reads the lines only as fast as the producer takes them (memory stays bounded however
// fast they come), gives each record's failure to onFailure, and resolves with the counts once
// every record has settled. Order does not matter for these lines: a key per line spreads them
// over every shard.
const summary = await producer.putAll(lines(), {
  toRecord: (line) => ({ partitionKey: String(++numbered), data: line }),
  onFailure: (record, error) => console.error(`line ${record?.partitionKey ?? '?'} not written: ${String(error)}`),
});
// End of input: release the sockets.
await producer.close();
console.log(`shipped ${summary.put} of ${summary.put + summary.failed} lines (${summary.failed} failed)`);
process.exitCode = summary.failed === 0 ? 0 : 1;
