/**
 * The demo and every example in examples/, run as a user runs them (a Node process through tsx)
 * against kinesalite, checked by what they print and by what the stream holds afterwards.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { useKinesis } from './support/harness.js';
import { createStream } from './support/servers.js';
import { readStream } from './support/read-stream.js';

/** How a finished process ended, and what it printed. */
interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A process started by {@link start}: its output so far, and its end. */
interface Running {
  readonly output: () => string;
  readonly signal: (signal: NodeJS.Signals) => void;
  readonly finished: Promise<Finished>;
}

/** Starts `node --import tsx <script> ...args` from the repository's root, killed after `deadlineMs`. */
function start(script: string, args: string[], env: NodeJS.ProcessEnv, stdin = '', deadlineMs = 50_000): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(stdin);
  const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  const finished = once(child, 'close').then(([code]) => {
    clearTimeout(timer);
    return { code: code as number | null, stdout, stderr };
  });
  return { output: () => stdout, signal: (signal) => child.kill(signal), finished };
}

/** Resolves once `running` has printed a line matching `pattern`, with the match. */
async function waitForOutput(running: Running, pattern: RegExp, deadlineMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const match = running.output().match(pattern);
    if (match !== null) return match;
    if (Date.now() > deadline) throw new Error(`no output matching ${pattern}; got: ${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The environment without the SDK's switch for its Node-version notice (so a test sees whether a script sets it). */
function environmentWithoutSwitch(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return env;
}

describe('the demo', () => {
  it('prints its usage for --help, and refuses an unknown option with the usage', async () => {
    const help = await start('demo/demo.ts', ['--help'], process.env).finished;
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run demo/);
    const unknown = await start('demo/demo.ts', ['--bogus'], process.env).finished;
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--bogus'");
    expect(unknown.stderr).toContain('Usage: npm run demo');
  });

  it('produces, reads back and checks every record, quietly', async () => {
    const { code, stdout, stderr } = await start('demo/demo.ts', ['--records', '3000', '--shards', '2'], environmentWithoutSwitch()).finished;
    expect(stderr).toBe('');
    expect(stdout).toContain('records read back:      3,000 (0 missing, 0 duplicated, 0 unknown, 0 in envelopes a KCL would drop)');
    expect(stdout).toContain('OK: every record arrived exactly once.');
    expect(code).toBe(0);
  });
});

describe('examples/', () => {
  const kinesis = useKinesis();
  let streams = 0;
  /** A fresh stream, and the environment that points an example at it through the SDK's own variables. */
  async function stream(): Promise<{ streamName: string; env: NodeJS.ProcessEnv }> {
    const streamName = `example-${++streams}`;
    await createStream(kinesis.admin, streamName, 2);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      STREAM_NAME: streamName,
      AWS_ENDPOINT_URL_KINESIS: kinesis.server.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDLOCAL',
      AWS_SECRET_ACCESS_KEY: 'local-secret',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    return { streamName, env };
  }
  /** The data of every record in a stream, as text, sorted. */
  async function stored(streamName: string): Promise<string[]> {
    const contents = await readStream(kinesis.admin, streamName);
    expect(contents.droppedByKcl).toBe(0);
    return contents.records.map((record) => Buffer.from(record.data).toString('utf8')).sort();
  }

  it('service: writes the events of each request and answers with what was written; closes on SIGTERM', async () => {
    const { streamName, env } = await stream();
    const service = start('examples/service.ts', [], { ...env, PORT: '0' });
    const [, url] = await waitForOutput(service, /listening on (\S+)/);
    const events = Array.from({ length: 40 }, (_, i) => ({ userId: `user-${i % 7}`, n: i }));
    const answers = await Promise.all(
      [events.slice(0, 25), events.slice(25)].map(async (body) => {
        const response = await fetch(url!, { method: 'POST', body: JSON.stringify(body) });
        return { status: response.status, body: (await response.json()) as unknown };
      }),
    );
    expect(answers).toEqual([
      { status: 200, body: { written: 25, failed: [] } },
      { status: 200, body: { written: 15, failed: [] } },
    ]);
    const refused = await fetch(url!, { method: 'POST', body: '{"not":"an array"}' });
    expect(refused.status).toBe(400);
    service.signal('SIGTERM');
    const { code, stdout, stderr } = await service.finished;
    expect(stderr).toBe('');
    expect(stdout).toContain('stopped: 40 records written, 0 failed');
    expect(code).toBe(0);
    expect(await stored(streamName)).toEqual(events.map((event) => JSON.stringify(event)).sort());
  });

  it('lambda handler: every invocation flushes before it returns, with no failures', async () => {
    const { streamName, env } = await stream();
    const { code, stdout, stderr } = await start('examples/invoke-lambda.ts', [], { ...env, INVOCATIONS: '4', MESSAGES: '25' }).finished;
    expect(stderr).toBe('');
    expect(stdout.match(/^invocation \d: 25 messages, 0 failed, [\d.]+ ms$/gm)).toHaveLength(4);
    expect(code).toBe(0);
    const expected = [];
    for (let n = 1; n <= 4; n++) for (let i = 0; i < 25; i++) expected.push(JSON.stringify({ invocation: n, message: i }));
    expect(await stored(streamName)).toEqual(expected.sort());
  });

  it('log shipper: one record per non-empty line of stdin, and a summary', async () => {
    const { streamName, env } = await stream();
    const lines = Array.from({ length: 2000 }, (_, i) => `2026-11-22T04:00:00Z INFO request ${i} served`);
    const stdin = `${lines.slice(0, 1000).join('\n')}\n\n${lines.slice(1000).join('\r\n')}\n`;
    const { code, stdout, stderr } = await start('examples/log-shipper.ts', [], env, stdin).finished;
    expect(stderr).toBe('');
    expect(stdout).toBe('shipped 2000 of 2000 lines (0 failed)\n');
    expect(code).toBe(0);
    expect(await stored(streamName)).toEqual([...lines].sort());
  });
});
