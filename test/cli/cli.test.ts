/**
 * The `shardline` command as a child process against kinesalite (and the fault proxy): from standard
 * input and from a followed file that is rotated and truncated, every line read back exactly once;
 * failures dead-lettered; SIGTERM in the middle loses nothing that was read.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/index.js';
import { useKinesis } from '../support/harness.js';
import { countIds, readStream, tallyIds } from '../support/read-stream.js';
import { CLI_MAIN, runCli, runScript, startCli, waitFor } from './run-cli.js';

const kinesis = useKinesis({ proxySeed: 3 });
const dir = mkdtempSync(join(tmpdir(), 'shardline-cli-'));

function lines(from: number, to: number, line: (i: number) => string = (i) => `${i}|plain line ${i}`): string {
  let text = '';
  for (let i = from; i < to; i++) text += `${line(i)}\n`;
  return text;
}

async function idsInStream(streamName: string): Promise<Map<string, number>> {
  return countIds((await readStream(kinesis.admin, streamName)).records);
}

describe('shardline CLI', () => {
  it('puts NDJSON from standard input keyed by a field, dead-letters bad lines and exits 1', async () => {
    const streamName = await kinesis.newStream(4);
    const deadLetter = join(dir, 'stdin.dead.ndjson');
    let input = lines(0, 20_000, (i) => JSON.stringify({ id: `${i}|`, user: { name: `u${i % 50}` } }));
    input += 'not json\n{"user":{}}\n\n';
    const run = await runCli(
      ['--stream-name', streamName, '--endpoint', kinesis.server.endpoint, '--partition-key-field', 'user.name', '--json', '--dead-letter', deadLetter],
      input,
    );
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ put: 20_000, failed: 2, failedByCode: { ValidationError: 2 }, interrupted: false });
    const dead = readFileSync(deadLetter, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(dead.map((entry) => [entry.data, entry.errorCode])).toEqual([
      ['not json', 'ValidationError'],
      ['{"user":{}}', 'ValidationError'],
    ]);
    const contents = await readStream(kinesis.admin, streamName);
    // Lines are JSON here: ids are read from the `id` field's start, `{"id":"<n>|`.
    const counts = countIds(contents.records.map((record) => ({ ...record, data: record.data.subarray(7) })));
    const { missing, duplicates } = tallyIds(counts, 20_000);
    expect(missing).toEqual([]);
    expect(duplicates).toBe(0);
    expect(new Set(contents.records.map((record) => record.partitionKey)).size).toBe(50);
  });

  it('spreads plain lines over every shard with random keys, and exits 0', async () => {
    const streamName = await kinesis.newStream(4);
    const run = await runCli(['--stream-name', streamName, '--endpoint', kinesis.server.endpoint], lines(0, 8000));
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/8000 records put, 0 failed/);
    const contents = await readStream(kinesis.admin, streamName);
    const perShard = new Map<string, number>();
    for (const record of contents.records) perShard.set(record.shardId, (perShard.get(record.shardId) ?? 0) + 1);
    expect(perShard.size).toBe(4);
    for (const count of perShard.values()) expect(count).toBeGreaterThan(8000 / 4 / 2);
    expect(tallyIds(countIds(contents.records), 8000)).toEqual({ missing: [], duplicates: 0 });
  });

  it('follows a file across rotation and truncation, as tail -F does, until SIGTERM', async () => {
    const streamName = await kinesis.newStream(2);
    const file = join(dir, 'app.log');
    writeFileSync(file, lines(0, 1000));
    const run = startCli(['--stream-name', streamName, '--endpoint', kinesis.server.endpoint, '--follow', '--json', file]);
    const seen = async (count: number): Promise<boolean> => (await idsInStream(streamName)).size >= count;
    await waitFor(() => seen(1000), 30_000, 'the first 1000 lines');
    // Rotate: rename, a late write to the old file, then a new file at the path.
    renameSync(file, `${file}.1`);
    appendFileSync(`${file}.1`, lines(1000, 1100));
    writeFileSync(file, lines(1100, 2000));
    await waitFor(() => seen(2000), 30_000, 'the lines around rotation');
    // Truncate in place, wait for the follower to notice, then write again from the start.
    truncateSync(file, 0);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    appendFileSync(file, lines(2000, 2500));
    await waitFor(() => seen(2500), 30_000, 'the lines after truncation');
    run.child.kill('SIGTERM');
    const { code, stdout, stderr } = await run.done;
    expect(code).toBe(0);
    expect(stderr).toMatch(/rotated/);
    expect(stderr).toMatch(/truncated/);
    expect(JSON.parse(stdout)).toMatchObject({ put: 2500, failed: 0, interrupted: true });
    expect(tallyIds(await idsInStream(streamName), 2500)).toEqual({ missing: [], duplicates: 0 });
  });

  it('on SIGTERM mid-run puts or dead-letters every line it read, each once', async () => {
    const streamName = await kinesis.newStream(2);
    const deadLetter = join(dir, 'sigterm.dead.ndjson');
    const run = startCli([
      '--stream-name', streamName, '--endpoint', kinesis.proxy.endpoint, '--json', '--dead-letter', deadLetter,
      '--record-ttl', '2000', '--request-timeout', '3000', '--retry-max-backoff', '200',
    ]);
    run.child.stdin!.write(lines(0, 5000));
    await waitFor(async () => (await idsInStream(streamName)).size >= 5000, 30_000, 'the first 5000 lines written');
    // Now the endpoint stalls: what is read from here on cannot be written before its TTL.
    kinesis.proxy.setFaults({ stall: { rate: 1, operations: ['PutRecords'] } });
    run.child.stdin!.write(lines(5000, 8000));
    await new Promise((resolve) => setTimeout(resolve, 500));
    run.child.kill('SIGTERM');
    const { code, stdout } = await run.done;
    kinesis.proxy.clearFaults();
    const summary = JSON.parse(stdout) as { put: number; failed: number; interrupted: boolean };
    expect(summary.interrupted).toBe(true);
    const read = summary.put + summary.failed;
    expect(read).toBeGreaterThanOrEqual(5000);
    expect(summary.failed).toBeGreaterThan(0);
    expect(code).toBe(1);
    const counts = await idsInStream(streamName);
    const dead = readFileSync(deadLetter, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { data: string; errorCode: string; attempts: number });
    expect(dead).toHaveLength(summary.failed);
    for (const entry of dead) {
      expect(entry.errorCode).toBe('Expired');
      expect(entry.attempts).toBeGreaterThan(0);
      const id = entry.data.slice(0, entry.data.indexOf('|'));
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // Exactly the lines read, a prefix of the input, each in the stream or the dead-letter file once.
    expect(tallyIds(counts, read)).toEqual({ missing: [], duplicates: 0 });
    expect(counts.size).toBe(read);
  });

  // `script` (util-linux) runs the CLI with a terminal for its output, as a user at a shell sees it.
  it.skipIf(!existsSync('/usr/bin/script'))('shows one progress line, rewritten at most twice a second, on a terminal', async () => {
    const streamName = await kinesis.newStream(1);
    const file = join(dir, 'progress.log');
    writeFileSync(file, lines(0, 4000, (i) => `${i}|${'x'.repeat(100)}`));
    // One key at 10 % of a shard's 1 MiB/s: about 4 s for these 400 KB.
    const command = [process.execPath, '--import', 'tsx', CLI_MAIN, '--stream-name', streamName, '--endpoint', kinesis.server.endpoint, '--partition-key', 'k', '--rate-limit', '10', file];
    const started = performance.now();
    const run = await runScript(command);
    const seconds = (performance.now() - started) / 1000;
    expect(run.code).toBe(0);
    const updates = run.output.split('\r\x1b[K').filter((part) => part.includes('records/s'));
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.length).toBeLessThanOrEqual(seconds * 2 + 1);
    expect(updates[0]).toMatch(/\d+ records\/s {2}[\d.]+ MB\/s {2}outstanding \d+ {2}retries \d+ {2}failures 0 {2}[\d.]+ records\/Kinesis record/);
    expect(run.output).toMatch(/4000 records put, 0 failed/);
  });

  it('documents a flag for every producer option, takes them from a config file, and flags override it', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const option of Object.keys(DEFAULTS)) expect(help.stdout).toContain(`--${option.replace(/[A-Z]+/g, (c) => `-${c.toLowerCase()}`)} `);
    const streamName = await kinesis.newStream(1);
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ streamName, endpoint: kinesis.server.endpoint, aggregationEnabled: false }));
    const unaggregated = await runCli(['--config', config, '--json'], lines(0, 300));
    expect(JSON.parse(unaggregated.stdout)).toMatchObject({ put: 300, kinesisRecordsPut: 300 });
    const aggregated = await runCli(['--config', config, '--aggregation-enabled', 'true', '--partition-key', 'k', '--json'], lines(0, 300));
    expect((JSON.parse(aggregated.stdout) as { kinesisRecordsPut: number }).kinesisRecordsPut).toBeLessThan(300);
    // Options whose values are text or a list take them as such, not as numbers.
    const dimensions = JSON.stringify([{ name: 'App', value: 'shipper', granularity: 'global' }]);
    const textual = await runCli(
      ['--config', config, '--metrics-level', 'summary', '--metrics-granularity', 'stream', '--metrics-namespace', 'Shipper', '--additional-metrics-dimensions', dimensions, '--json'],
      lines(300, 400),
    );
    expect(textual.code).toBe(0);
    expect(JSON.parse(textual.stdout)).toMatchObject({ put: 100 });
    const notAList = await runCli(['--config', config, '--additional-metrics-dimensions', 'App=shipper'], lines(0, 1));
    expect(notAList.code).toBe(2);
    expect(notAList.stderr).toContain('--additional-metrics-dimensions');
    const notALevel = await runCli(['--config', config, '--metrics-level', 'verbose'], lines(0, 1));
    expect(notALevel.code).toBe(2);
    expect(notALevel.stderr).toContain('metricsLevel');
  });

  it('exits 2 with a message naming the flag on bad usage', async () => {
    const badValue = await runCli(['--stream-name', 's', '--record-ttl', 'soon']);
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toMatch(/--record-ttl/);
    const outOfRange = await runCli(['--stream-name', 's', '--max-connections', '1000']);
    expect(outOfRange.code).toBe(2);
    expect(outOfRange.stderr).toMatch(/maxConnections/);
    const noStream = await runCli(['--endpoint', kinesis.server.endpoint], 'a line\n');
    expect(noStream.code).toBe(2);
    expect(noStream.stderr).toMatch(/--stream-name/);
    const unknown = await runCli(['--no-such-flag']);
    expect(unknown.code).toBe(2);
    const config = join(dir, 'bad-config.json');
    writeFileSync(config, JSON.stringify({ streamName: 's', recordTTL: 5 }));
    const badConfig = await runCli(['--config', config]);
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toMatch(/recordTTL/);
  });
});
