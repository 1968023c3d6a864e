/**
 * An AWS Lambda handler that forwards the messages of an SQS batch to Kinesis, one record per
 * message, and reports the messages it could not write as batch item failures, so SQS delivers
 * those again (the event source mapping needs `ReportBatchItemFailures`).
 *
 * Environment: STREAM_NAME. Region and credentials come from the Lambda environment.
 * Run it locally with examples/invoke-lambda.ts; see docs/lambda.md.
 */
import { KinesisProducer, UserRecordFailedError } from 'shardline';

/** The parts of an SQS event this handler reads. */
export interface SqsEvent {
  readonly Records: readonly { readonly messageId: string; readonly body: string }[];
}

/** What Lambda's SQS integration reads back: the messages to deliver again. */
export interface SqsBatchResponse {
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

// At module scope: made once per execution environment and reused by every invocation it
// serves, so connections, the shard map and the stream's capabilities are paid for once.
const producer = new KinesisProducer({
  streamName: process.env.STREAM_NAME ?? 'events',
  // Below the function's timeout (30 s here), leaving time to answer: a record that cannot be
  // written by then fails with `Expired` and its message is retried by SQS, instead of the whole
  // invocation timing out with nothing reported.
  recordTtl: 20_000,
});

/** The Lambda entry point. */
export async function handler(event: SqsEvent): Promise<SqsBatchResponse> {
  // Attach the handlers now (allSettled), before awaiting anything: a put() that fails while
  // flush() runs would otherwise be an unhandled rejection.
  const settled = Promise.allSettled(event.Records.map((message) => producer.put({ partitionKey: message.messageId, data: message.body })));
  // Send what is buffered now rather than after recordMaxBufferedTime, and wait until every record
  // has settled: once the handler returns, Lambda freezes the process and nothing more is sent.
  await producer.flush();
  const batchItemFailures: { itemIdentifier: string }[] = [];
  (await settled).forEach((result, index) => {
    if (result.status === 'fulfilled') return;
    const messageId = event.Records[index]!.messageId;
    const reason = result.reason instanceof UserRecordFailedError ? result.reason.errorCode : String(result.reason);
    console.error(`message ${messageId} not written: ${reason}`);
    batchItemFailures.push({ itemIdentifier: messageId });
  });
  return { batchItemFailures };
}
