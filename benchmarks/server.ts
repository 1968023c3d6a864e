/**
 * Child-process entry: starts a server and prints `READY {"endpoint":…}`; exits when stdin closes.
 *
 *   server.ts instant <stream> [shards]      the instant endpoint (default 4 shards; any stream name is accepted)
 *   server.ts kinesalite <stream> [shards]   kinesalite with a stream named <stream> (default 4 shards), created here
 */
import { createStream, localClient, startKinesalite } from '../test/support/servers.js';
import { startInstantKinesis } from './instant-kinesis.js';
import { report } from './processes.js';

const [kind, streamName = 'bench', shards = '4'] = process.argv.slice(2);
let stop: () => unknown;
let endpoint: string;
if (kind === 'instant') {
  const server = await startInstantKinesis(Number(shards));
  endpoint = server.endpoint;
  stop = server.close;
} else if (kind === 'kinesalite') {
  const server = await startKinesalite({ shardLimit: 100 });
  const admin = localClient(server.endpoint);
  await createStream(admin, streamName, Number(shards));
  admin.destroy();
  endpoint = server.endpoint;
  stop = server.stop;
} else {
  throw new Error(`unknown server kind ${kind}`);
}
const exit = (): void => {
  void Promise.resolve(stop()).finally(() => process.exit(0));
};
process.stdin.on('end', exit).resume();
process.once('SIGTERM', exit);
report('READY', { endpoint });
