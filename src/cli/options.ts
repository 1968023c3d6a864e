/**
 * The command line of `shardline`: its own flags, plus one flag per producer option, derived from
 * DEFAULTS so that a new producer option is reachable from the CLI without being written twice.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULTS, type ProducerOptions } from '../config.js';
import { ValidationError } from '../errors.js';
import type { LineRecordOptions } from '../shipping/index.js';

/** What the command line asks for. */
export interface CliOptions {
  readonly files: readonly string[];
  readonly follow: boolean;
  readonly json: boolean;
  readonly deadLetter: string | undefined;
  readonly lines: LineRecordOptions;
  readonly producer: ProducerOptions;
  readonly help: boolean;
}

/** Producer options given as text (stream and client) rather than derived from DEFAULTS. */
const TEXT_OPTIONS = ['streamName', 'streamARN', 'region', 'endpoint'] as const;
type TextOption = (typeof TEXT_OPTIONS)[number];
type DefaultedOption = keyof typeof DEFAULTS;

/** `recordMaxBufferedTime` → `record-max-buffered-time`, `streamARN` → `stream-arn`. */
function flagOf(option: string): string {
  return option.replace(/[A-Z]+/g, (upper) => `-${upper.toLowerCase()}`);
}

const DEFAULTED = Object.keys(DEFAULTS) as DefaultedOption[];

const OWN_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  follow: { type: 'boolean', short: 'F' },
  json: { type: 'boolean' },
  ndjson: { type: 'boolean' },
  'dead-letter': { type: 'string' },
  config: { type: 'string' },
  'partition-key': { type: 'string' },
  'partition-key-field': { type: 'string' },
  'explicit-hash-key-field': { type: 'string' },
} as const;

const PRODUCER_FLAGS = Object.fromEntries(
  [...TEXT_OPTIONS, ...DEFAULTED].map((option) => [flagOf(option), { type: 'string' as const }]),
);

/** The values a text option takes, where there are few: shown in `--help` instead of `TEXT`. */
const CHOICES: Partial<Record<DefaultedOption, string>> = {
  metricsLevel: 'none|summary|detailed',
  metricsGranularity: 'global|stream|shard',
};

/** What a producer option's flag takes, by the type of its default. */
function kindOf(option: DefaultedOption): 'boolean' | 'number' | 'list' | 'text' {
  const value: unknown = DEFAULTS[option];
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return 'number';
  return Array.isArray(value) ? 'list' : 'text';
}

/** How `--help` shows a flag's value. */
function placeholder(option: DefaultedOption): string {
  const kind = kindOf(option);
  if (kind === 'boolean') return 'true|false';
  if (kind === 'number') return 'N';
  return kind === 'list' ? 'JSON' : (CHOICES[option] ?? 'TEXT');
}

/**
 * Reads a flag's text as its option's kind: a boolean, a number, a JSON array
 * (`--additional-metrics-dimensions '[{"name":"App","value":"api","granularity":"global"}]'`), or
 * the text itself. The producer checks the value as it checks its options.
 */
function typed(option: DefaultedOption, text: string): unknown {
  const flag = `--${flagOf(option)}`;
  const kind = kindOf(option);
  if (kind === 'boolean') {
    if (text === 'true' || text === 'false') return text === 'true';
    throw new ValidationError(flag, 'true or false', `got ${JSON.stringify(text)}`);
  }
  if (kind === 'number') {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value)) throw new ValidationError(flag, 'a number', `got ${JSON.stringify(text)}`);
    return value;
  }
  if (kind === 'list') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (!Array.isArray(value)) throw new ValidationError(flag, 'a JSON array', `got ${JSON.stringify(text)}`);
    return value;
  }
  return text;
}

/** The producer options of a JSON config file: an object of ProducerOptions names only. */
function readConfigFile(path: string): ProducerOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ValidationError('--config', 'a readable JSON file', (error as Error).message);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ValidationError('--config', 'a JSON object of producer options', `got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`);
  }
  const known = new Set<string>([...TEXT_OPTIONS, ...DEFAULTED]);
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new ValidationError('--config', `producer option names (${[...known].join(', ')})`, `unknown option ${JSON.stringify(key)}`);
  }
  return parsed as ProducerOptions;
}

/** Parses the command line (without `node` and the script). Throws `ValidationError` or parseArgs' TypeError on bad usage. */
export function parseCommandLine(args: readonly string[]): CliOptions {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { ...OWN_FLAGS, ...PRODUCER_FLAGS },
    allowPositionals: true,
    strict: true,
  });
  const flags = values as Record<string, string | boolean | undefined>;
  // Flags override the config file, which overrides the defaults.
  const producer: Record<string, unknown> = values.config === undefined ? {} : { ...readConfigFile(values.config) };
  for (const option of TEXT_OPTIONS) {
    const text = flags[flagOf(option)];
    if (typeof text === 'string') producer[option satisfies TextOption] = text;
  }
  for (const option of DEFAULTED) {
    const text = flags[flagOf(option)];
    if (typeof text === 'string') producer[option] = typed(option, text);
  }
  if (values.help !== true && producer.streamName === undefined && producer.streamARN === undefined) {
    throw new ValidationError('--stream-name', 'a stream: --stream-name or --stream-arn, or either in --config', 'none was given');
  }
  return {
    files: positionals,
    follow: values.follow ?? false,
    json: values.json ?? false,
    deadLetter: values['dead-letter'],
    lines: {
      partitionKeyField: values['partition-key-field'],
      partitionKey: values['partition-key'],
      explicitHashKeyField: values['explicit-hash-key-field'],
      json: values.ndjson ?? false,
    },
    producer: producer as ProducerOptions,
    help: values.help ?? false,
  };
}

/** The `--help` text; producer options are listed from DEFAULTS with their defaults. */
export function helpText(): string {
  const producerFlags = DEFAULTED.map((option) => {
    const value: unknown = DEFAULTS[option];
    return `  --${flagOf(option)} ${placeholder(option)} `.padEnd(40) + `${option} (default ${Array.isArray(value) ? JSON.stringify(value) : String(value)})`;
  });
  return `Usage: shardline --stream-name NAME [options] [FILE...]

Puts newline-delimited records (plain lines, or NDJSON) from FILEs, or standard input when there is
no FILE or it is -, to an Amazon Kinesis data stream: one line, one record (blank lines are skipped).

Input and records
  -F, --follow                          Keep reading FILEs as they grow, across rotation (rename or
                                        delete and re-create) and truncation, as tail -F does.
  --ndjson                              Every line must be JSON; a line that is not fails.
  --partition-key-field a.b             Partition key from this field of each (JSON) line.
  --partition-key VALUE                 This partition key for every line.
                                        Without either, each line gets a random key (spreads evenly).
  --explicit-hash-key-field a.b         Explicit hash key (decimal) from this field of each line.

Output
  --dead-letter FILE                    Append every record that fails to FILE, as NDJSON with its
                                        error code and attempts.
  --json                                Print the final summary as JSON on standard output.
  A progress line is shown on standard error when it is a terminal; a summary always.
  Exit status: 0 when every record was written, 1 when any failed, 2 on bad usage.
  SIGINT/SIGTERM stop reading; what was read is written (or dead-lettered) before exit.

Stream and client
  --stream-name NAME, --stream-arn ARN  The stream (either or both).
  --region REGION                       AWS region (default: the SDK's, e.g. AWS_REGION).
  --endpoint URL                        Endpoint, e.g. http://localhost:4567 for a local Kinesis.
  Credentials come from the SDK's default chain (environment, profile, instance role).

Producer options (names and defaults are the KPL's; see docs/configuration.md)
  --config FILE                         JSON object of producer options (camelCase names);
                                        flags override it.
${producerFlags.join('\n')}
`;
}
