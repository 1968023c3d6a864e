/**
 * Run as a process by the pino transport test: logs `count` lines through `shardline/pino` (the
 * transport at TRANSPORT, a file path) into STREAM at ENDPOINT, then lets the process end, so the
 * transport must flush on the worker's exit.
 */
import pino from 'pino';

const [transportPath, endpoint, streamName, count] = process.argv.slice(2) as [string, string, string, string];
const logger = pino(
  pino.transport({
    target: transportPath,
    options: { streamName, endpoint, region: 'us-east-1', partitionKeyField: 'user', recordMaxBufferedTime: 50 },
  }),
);
for (let i = 0; i < Number(count); i++) logger.info({ user: `u${i % 10}`, seq: i }, `${i}|line`);
