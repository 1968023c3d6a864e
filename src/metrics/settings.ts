/**
 * The metrics options: validated up front, defaults filled in (the KPL's, where it has the option).
 */
import { ValidationError } from '../errors.js';
import { validateInteger } from '../validation.js';
import { DEFAULT_METRICS_NAMESPACE, type MetricsGranularity, type MetricsLevel } from './catalogue.js';
import { dimensionProblem, namespaceProblem } from './cloudwatch.js';
import type { AdditionalMetricsDimension, MetricsSettings } from './recorder.js';

/** The metrics options' defaults. */
export const METRICS_DEFAULTS = {
  metricsLevel: 'detailed',
  metricsGranularity: 'shard',
  metricsNamespace: DEFAULT_METRICS_NAMESPACE,
  metricsUploadDelay: 60_000,
} as const satisfies Partial<MetricsSettings>;

const LEVELS: readonly MetricsLevel[] = ['none', 'summary', 'detailed'];
const GRANULARITIES: readonly MetricsGranularity[] = ['global', 'stream', 'shard'];
/** CloudWatch allows 30 dimensions a metric; ErrorsByCode already has three. */
const MAX_ADDITIONAL_DIMENSIONS = 27;
const OWN_DIMENSIONS = new Set(['ErrorCode', 'StreamName', 'ShardId']);

/** The options {@link resolveMetricsSettings} reads. */
export interface MetricsOptions {
  readonly metricsLevel?: MetricsLevel;
  readonly metricsGranularity?: MetricsGranularity;
  readonly metricsNamespace?: string;
  readonly metricsUploadDelay?: number;
  readonly additionalMetricsDimensions?: readonly AdditionalMetricsDimension[];
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new ValidationError(field, `one of ${allowed.join(', ')}`, `got ${JSON.stringify(value) ?? typeof value}`);
}

const DIMENSION_LIMIT = 'printable ASCII with a non-space character; a name of 1..255 not starting with ":", a value of 1..1024';

function additionalDimensions(value: unknown): AdditionalMetricsDimension[] {
  const field = 'additionalMetricsDimensions';
  if (!Array.isArray(value)) throw new ValidationError(field, 'an array of { name, value, granularity }', `got ${value === null ? 'null' : typeof value}`);
  if (value.length > MAX_ADDITIONAL_DIMENSIONS) throw new ValidationError(field, `at most ${MAX_ADDITIONAL_DIMENSIONS} dimensions`, `got ${value.length}`);
  const names = new Set<string>();
  return value.map((item: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof item !== 'object' || item === null) throw new ValidationError(at, 'an object { name, value, granularity }', `got ${item === null ? 'null' : typeof item}`);
    const { name, value: dimensionValue, granularity } = item as Record<string, unknown>;
    if (typeof name !== 'string') throw new ValidationError(`${at}.name`, DIMENSION_LIMIT, `expected a string, got ${name === null ? 'null' : typeof name}`);
    if (typeof dimensionValue !== 'string') {
      throw new ValidationError(`${at}.value`, DIMENSION_LIMIT, `expected a string, got ${dimensionValue === null ? 'null' : typeof dimensionValue}`);
    }
    const problem = dimensionProblem(name, dimensionValue);
    if (problem !== undefined) throw new ValidationError(at, DIMENSION_LIMIT, `${JSON.stringify(name)}=${JSON.stringify(dimensionValue)}: ${problem}`);
    if (OWN_DIMENSIONS.has(name) || names.has(name)) {
      throw new ValidationError(`${at}.name`, 'a name other than ErrorCode, StreamName, ShardId and the other dimensions', `${name} is taken`);
    }
    names.add(name);
    return { name, value: dimensionValue, granularity: oneOf(`${at}.granularity`, granularity, GRANULARITIES) };
  });
}

/** Validates the metrics options (throws `ValidationError` naming the option) and fills in defaults. */
export function resolveMetricsSettings(options: MetricsOptions): MetricsSettings {
  const namespace = options.metricsNamespace ?? METRICS_DEFAULTS.metricsNamespace;
  const problem = typeof namespace === 'string' ? namespaceProblem(namespace) : `expected a string, got ${typeof namespace}`;
  if (problem !== undefined) throw new ValidationError('metricsNamespace', '1..255 of 0-9 A-Z a-z . - _ / # : and space, not all spaces, not starting with ":" or "AWS/"', problem);
  return {
    metricsLevel: oneOf('metricsLevel', options.metricsLevel ?? METRICS_DEFAULTS.metricsLevel, LEVELS),
    metricsGranularity: oneOf('metricsGranularity', options.metricsGranularity ?? METRICS_DEFAULTS.metricsGranularity, GRANULARITIES),
    metricsNamespace: namespace,
    metricsUploadDelay: validateInteger('metricsUploadDelay', options.metricsUploadDelay ?? METRICS_DEFAULTS.metricsUploadDelay, 1, 60_000),
    additionalMetricsDimensions: options.additionalMetricsDimensions === undefined ? [] : additionalDimensions(options.additionalMetricsDimensions),
  };
}
