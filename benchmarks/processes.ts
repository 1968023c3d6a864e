/**
 * Child processes of the benchmark. Servers and the process being measured each run in their own
 * process: on a 2-core machine each then has a core, neither steals the other's event loop, and the
 * measured process's peak RSS is its own.
 *
 * Protocol: a child prints one line `READY <json>` (servers) or `RESULT <json>` (measurements) on
 * stdout; everything else it prints is passed through to stderr. A server exits when its stdin closes,
 * so it never outlives the runner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Starts `file` (a .ts file in benchmarks/) with the runner's own loader flags (`--import tsx`). */
function spawnScript(file: string, args: readonly string[]): ChildProcess {
  const path = fileURLToPath(new URL(file, import.meta.url));
  return spawn(process.execPath, [...process.execArgv, path, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    // The SDK's eight-line "Node < 22" notice, once per child, would bury the progress lines; the
    // header prints the Node version.
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
}

/** Resolves with the JSON after `prefix` on the child's stdout; rejects if it exits first. */
function awaitLine<T>(child: ChildProcess, prefix: string, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buffered = '';
    let found = false;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!found && line.startsWith(prefix)) {
          found = true;
          resolve(JSON.parse(line.slice(prefix.length)) as T);
        } else if (line !== '') {
          process.stderr.write(`  [${what}] ${line}\n`);
        }
      }
    });
    child.once('exit', (code, signal) => {
      if (!found) reject(new Error(`${what} exited (${code ?? signal}) without ${prefix.trim()}`));
    });
    child.once('error', reject);
  });
}

/** A server running in a child process. */
export interface ServerProcess {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts benchmarks/server.ts: `instant` (answers at once) or `kinesalite` (with a stream `streamName` of `shards` shards). */
export async function startServer(kind: 'instant' | 'kinesalite', streamName: string, shards = 4): Promise<ServerProcess> {
  const child = spawnScript('./server.ts', [kind, streamName, String(shards)]);
  const { endpoint } = await awaitLine<{ endpoint: string }>(child, 'READY ', `${kind} server`);
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
        child.kill('SIGTERM');
      }),
  };
}

/** Runs benchmarks/measure.ts with `job` in a fresh process and resolves with its result. */
export async function measureInChild<T>(job: object): Promise<T> {
  const child = spawnScript('./measure.ts', [JSON.stringify(job)]);
  child.stdin!.end();
  const result = awaitLine<T>(child, 'RESULT ', 'measure');
  // Wait for the exit too, so two measured processes never overlap.
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    return await result;
  } finally {
    await exited;
  }
}

/** Prints `READY`/`RESULT` lines for the runner. */
export function report(prefix: 'READY' | 'RESULT', value: unknown): void {
  process.stdout.write(`${prefix} ${JSON.stringify(value)}\n`);
}
