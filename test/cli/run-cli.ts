/**
 * Runs the `shardline` command from source (through tsx) as a child process, as a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The CLI's entry in the sources. */
export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ENV = { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local-secret', AWS_REGION: 'us-east-1', NODE_NO_WARNINGS: '1' };

/** A running CLI and how it ended. */
export interface CliRun {
  readonly child: ChildProcess;
  /** Resolves when it exits, with its status and output. */
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts `shardline ARGS` with dummy credentials (the local servers do not check them). */
export function startCli(args: readonly string[]): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, ...args], { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

/** Runs `shardline ARGS` with `input` on its standard input, to its end. */
export async function runCli(args: readonly string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args);
  run.child.stdin!.end(input);
  return run.done;
}

/** Runs `command` under `script`, which gives it a terminal; resolves with what the terminal showed. */
export function runScript(command: readonly string[]): Promise<{ code: number | null; output: string }> {
  const quoted = command.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qec', quoted, '/dev/null'], { env: ENV, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}

/** Waits until `check()` is true, polling; throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
