/**
 * Runs examples/lambda-handler.ts locally the way Lambda does: the module is loaded once, then
 * invoked several times with SQS events, one after another. Prints each invocation's latency.
 *
 *   STREAM_NAME=events INVOCATIONS=5 MESSAGES=10 node --import tsx examples/invoke-lambda.ts
 */
import { handler, type SqsEvent } from './lambda-handler.js';

const invocations = Number(process.env.INVOCATIONS ?? 3);
const messages = Number(process.env.MESSAGES ?? 10);
let failures = 0;
for (let n = 1; n <= invocations; n++) {
  const event: SqsEvent = {
    Records: Array.from({ length: messages }, (_, i) => ({ messageId: `${n}-${i}`, body: JSON.stringify({ invocation: n, message: i }) })),
  };
  const started = performance.now();
  const { batchItemFailures } = await handler(event);
  failures += batchItemFailures.length;
  console.log(`invocation ${n}: ${messages} messages, ${batchItemFailures.length} failed, ${(performance.now() - started).toFixed(1)} ms`);
}
// Lambda freezes the process between invocations and never lets it end; here it must end.
process.exit(failures === 0 ? 0 : 1);
