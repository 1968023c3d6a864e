#!/usr/bin/env node
/**
 * `shardline`: puts newline-delimited records from standard input or files to a Kinesis stream.
 * See `shardline --help` and docs/log-shipping.md.
 */
import { KinesisProducer } from '../producer.js';
import { ShardlineError } from '../errors.js';
import { lineToRecord, openDeadLetters, type DeadLetters } from '../shipping/index.js';
import { readLines } from './input.js';
import { helpText, parseCommandLine, type CliOptions } from './options.js';
import { formatSummary, showProgress, summarize } from './report.js';

/** Exit status for bad usage (flags, config, a file that cannot be opened). */
const USAGE_ERROR = 2;

async function run(options: CliOptions): Promise<number> {
  const producer = new KinesisProducer(options.producer);
  const toRecord = lineToRecord(options.lines);
  let deadLetters: DeadLetters | undefined;
  try {
    deadLetters = options.deadLetter === undefined ? undefined : openDeadLetters(options.deadLetter);
  } catch (error) {
    await producer.close();
    throw error;
  }
  const stopReading = new AbortController();
  const onSignal = (): void => {
    if (stopReading.signal.aborted) process.exit(130); // A second signal: the user does not want to wait.
    stopReading.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let failures = 0;
  const stopProgress = process.stderr.isTTY ? showProgress(producer, () => failures, process.stderr) : undefined;
  const started = performance.now();
  const lines = readLines(options.files, {
    follow: options.follow,
    signal: stopReading.signal,
    stdin: process.stdin,
    warn: (message) => process.stderr.write(`shardline: ${message}\n`),
  });
  try {
    const summary = await producer.putAll(lines, {
      toRecord,
      onFailure: (record, error, line) => {
        failures++;
        deadLetters?.write(record, error, line);
      },
    });
    await producer.close();
    const report = summarize(summary, producer, performance.now() - started, stopReading.signal.aborted);
    stopProgress?.();
    if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stderr.write(formatSummary(report));
    return summary.failed > 0 ? 1 : 0;
  } finally {
    stopProgress?.();
    deadLetters?.close();
  }
}

async function main(): Promise<void> {
  let options: CliOptions;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`shardline: ${(error as Error).message}\nTry shardline --help.\n`);
    process.exit(USAGE_ERROR);
  }
  if (options.help) {
    process.stdout.write(helpText());
    return;
  }
  try {
    process.exitCode = await run(options);
  } catch (error) {
    const usage = error instanceof ShardlineError || (error as NodeJS.ErrnoException).code === 'ENOENT';
    process.stderr.write(`shardline: ${(error as Error).message}\n`);
    process.exitCode = usage ? USAGE_ERROR : 1;
  }
  // Standard input or a followed file may still hold the event loop; the run is over.
  process.exit();
}

await main();
