/**
 * The metrics options: validated up front, defaults filled in (the KPL's, where it has the option).
 */
import { ValidationError } from '../errors.js';
import { validateInteger } from '../validation.js';
import { DEFAULT_METRICS_NAMESPACE, type MetricsGranularity, type MetricsLevel } from './catalogue.js';
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
/** CloudWatch's namespace characters; a namespace may not start with `AWS/`. */
const NAMESPACE_PATTERN = /^(?!AWS\/)[A-Za-z0-9.\-_/#: ]{1,255}$/;
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

/** A dimension name or value: ASCII, not blank, within CloudWatch's length. */
function dimensionText(field: string, value: unknown, maxLength: number): string {
  const limit = `1..${maxLength} ASCII characters, not all blank${field.endsWith('name') ? ', not starting with a colon' : ''}`;
  if (typeof value !== 'string') throw new ValidationError(field, limit, `expected a string, got ${value === null ? 'null' : typeof value}`);
  // eslint-disable-next-line no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(value);
  if (!ascii || value.trim() === '' || value.length > maxLength || (field.endsWith('name') && value.startsWith(':'))) {
    throw new ValidationError(field, limit, `${JSON.stringify(value)} is not`);
  }
  return value;
}

function additionalDimensions(value: unknown): AdditionalMetricsDimension[] {
  const field = 'additionalMetricsDimensions';
  if (!Array.isArray(value)) throw new ValidationError(field, 'an array of { name, value, granularity }', `got ${value === null ? 'null' : typeof value}`);
  if (value.length > MAX_ADDITIONAL_DIMENSIONS) throw new ValidationError(field, `at most ${MAX_ADDITIONAL_DIMENSIONS} dimensions`, `got ${value.length}`);
  const names = new Set<string>();
  return value.map((item: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof item !== 'object' || item === null) throw new ValidationError(at, 'an object { name, value, granularity }', `got ${item === null ? 'null' : typeof item}`);
    const { name, value: dimensionValue, granularity } = item as Record<string, unknown>;
    const checkedName = dimensionText(`${at}.name`, name, 255);
    if (OWN_DIMENSIONS.has(checkedName) || names.has(checkedName)) {
      throw new ValidationError(`${at}.name`, 'a name other than ErrorCode, StreamName, ShardId and the other dimensions', `${checkedName} is taken`);
    }
    names.add(checkedName);
    return {
      name: checkedName,
      value: dimensionText(`${at}.value`, dimensionValue, 1024),
      granularity: oneOf(`${at}.granularity`, granularity, GRANULARITIES),
    };
  });
}

/** Validates the metrics options (throws `ValidationError` naming the option) and fills in defaults. */
export function resolveMetricsSettings(options: MetricsOptions): MetricsSettings {
  const namespace = options.metricsNamespace ?? METRICS_DEFAULTS.metricsNamespace;
  if (typeof namespace !== 'string' || !NAMESPACE_PATTERN.test(namespace)) {
    const detail = typeof namespace === 'string' ? `${JSON.stringify(namespace)} is not one` : `expected a string, got ${typeof namespace}`;
    throw new ValidationError('metricsNamespace', '1..255 of A-Z a-z 0-9 . - _ / # : and space, not starting with AWS/', detail);
  }
  return {
    metricsLevel: oneOf('metricsLevel', options.metricsLevel ?? METRICS_DEFAULTS.metricsLevel, LEVELS),
    metricsGranularity: oneOf('metricsGranularity', options.metricsGranularity ?? METRICS_DEFAULTS.metricsGranularity, GRANULARITIES),
    metricsNamespace: namespace,
    metricsUploadDelay: validateInteger('metricsUploadDelay', options.metricsUploadDelay ?? METRICS_DEFAULTS.metricsUploadDelay, 1, 60_000),
    additionalMetricsDimensions: options.additionalMetricsDimensions === undefined ? [] : additionalDimensions(options.additionalMetricsDimensions),
  };
}
