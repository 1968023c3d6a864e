/**
 * A small HTTP service that writes the events it receives to Kinesis: POST /events with a JSON
 * array of events; each becomes one record, keyed by its `userId` when it has one. The answer says
 * which events were written and which failed, with the service's error code.
 *
 *   STREAM_NAME=events PORT=8080 node --import tsx examples/service.ts
 *   curl -d '[{"userId":"42","clicked":"buy"}]' http://127.0.0.1:8080/events
 *
 * Region, credentials and endpoint come from the AWS SDK's usual sources (AWS_REGION, the default
 * credential chain, AWS_ENDPOINT_URL_KINESIS for a local Kinesis).
 */
import { createServer, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { KinesisProducer, UserRecordFailedError } from 'shardline';

// One producer for the process, made once: requests share its connections, its shard map and
// its buffers, so records from concurrent requests travel in the same PutRecords calls.
const producer = new KinesisProducer({ streamName: process.env.STREAM_NAME ?? 'events' });

/** Why one event was not written. */
interface Failure {
  readonly index: number;
  readonly error: string;
}

async function readJson(request: IncomingMessage, limit: number): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`the body must be at most ${limit} bytes`);
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function writeEvents(events: unknown[]): Promise<{ written: number; failed: Failure[] }> {
  // Put every event, then await them together: the records go out in one batch after at most
  // recordMaxBufferedTime (100 ms). Awaiting each put() in turn would wait that long per event.
  const results = await Promise.allSettled(
    events.map((event) => {
      const userId = (event as { userId?: unknown }).userId;
      return producer.put({ partitionKey: typeof userId === 'string' && userId !== '' ? userId : randomUUID(), data: JSON.stringify(event) });
    }),
  );
  const failed: Failure[] = [];
  results.forEach((result, index) => {
    if (result.status === 'fulfilled') return;
    const error = result.reason as Error;
    failed.push({ index, error: error instanceof UserRecordFailedError ? error.errorCode : error.message });
  });
  return { written: results.length - failed.length, failed };
}

const server = createServer((request, response) => {
  const answer = (status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (request.method !== 'POST' || request.url !== '/events') return answer(404, { error: 'POST /events' });
  readJson(request, 5 * 1024 * 1024)
    .then(async (events) => {
      if (!Array.isArray(events)) return answer(400, { error: 'the body must be a JSON array' });
      const { written, failed } = await writeEvents(events);
      answer(failed.length === 0 ? 200 : 207, { written, failed });
    })
    .catch((error: unknown) => answer(400, { error: (error as Error).message }));
});

server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  console.log(`listening on http://${process.env.HOST ?? '127.0.0.1'}:${port}/events`);
});

// On shutdown, stop taking requests, then close the producer: it sends what it still holds and
// waits for every record to settle before the process exits.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    void producer.close().then(() => {
      const { userRecordsPut, userRecordsFailed } = producer.metrics;
      console.log(`stopped: ${userRecordsPut} records written, ${userRecordsFailed} failed`);
    });
  });
}
