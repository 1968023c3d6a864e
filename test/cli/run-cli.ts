/**
 * Runs the `shardline` command from source (through tsx) as a child process, as a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** A running CLI and how it ended. */
export interface CliRun {
  readonly child: ChildProcess;
  /** Resolves when it exits, with its status and output. */
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts `shardline ARGS` with dummy credentials (the local servers do not check them). */
export function startCli(args: readonly string[]): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local-secret', AWS_REGION: 'us-east-1', NODE_NO_WARNINGS: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
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

/** Waits until `check()` is true, polling; throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
