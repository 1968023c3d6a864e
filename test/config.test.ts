/**
 * Options and inputs refused when given, with a ValidationError naming the field: never a TypeError,
 * never the SDK's plain Error, never a setting silently ignored. No server: nothing here is sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KinesisProducer, ValidationError, type ProducerOptions, type UserRecordFailedError } from '../src/index.js';
import { localClient } from './support/servers.js';

const producers: KinesisProducer[] = [];
afterEach(async () => {
  for (const producer of producers.splice(0)) await producer.close();
});

/** The error `new KinesisProducer(options)` throws, checked to be a ValidationError. */
function refusal(options: unknown): ValidationError {
  try {
    producers.push(new KinesisProducer(options as ProducerOptions));
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('new KinesisProducer(options)', () => {
  it('refuses no options at all', () => {
    expect(refusal(undefined).field).toBe('options');
  });

  it.each([
    ['an empty region', { region: '' }, 'region'],
    ['a region with a space', { region: 'us-east-1 ' }, 'region'],
    ['a region that is a number', { region: 123 }, 'region'],
    ['an endpoint that is no URL', { endpoint: 'not a url' }, 'endpoint'],
    ['an endpoint that is a number', { endpoint: 123 }, 'endpoint'],
    ['credentials that are a string', { credentials: 'secret' }, 'credentials'],
  ])('refuses %s before building a client', (_, options, field) => {
    expect(refusal({ streamName: 's', ...options }).field).toBe(field);
  });

  it('refuses the KPL\'s PascalCase names, suggesting shardline\'s', () => {
    const error = refusal({ streamName: 's', AggregationEnabled: false });
    expect(error.field).toBe('AggregationEnabled');
    expect(error.message).toContain('did you mean aggregationEnabled?');
  });

  it('refuses null instead of taking the default', () => {
    expect(refusal({ streamName: 's', aggregationEnabled: null }).field).toBe('aggregationEnabled');
    expect(refusal({ streamName: 's', region: null }).field).toBe('region');
  });

  it('takes undefined as the default', () => {
    const producer = new KinesisProducer({ streamName: 's', client: localClient('http://127.0.0.1:9'), region: undefined, recordTtl: undefined });
    producers.push(producer);
    expect(producer.outstandingRecords).toBe(0);
  });
});

describe('put(record)', () => {
  it.each([[null], [undefined], ['data']])('rejects %j with a ValidationError', async (record) => {
    const producer = new KinesisProducer({ streamName: 's', client: localClient('http://127.0.0.1:9') });
    producers.push(producer);
    await expect(producer.put(record as never)).rejects.toMatchObject({ name: 'ValidationError', field: 'record' });
    expect(producer.outstandingRecords).toBe(0);
  });
});

describe('a client setting the SDK rejects only when it sends', () => {
  it('fails records at their first attempt with ClientConfigError, not after recordTtl', async () => {
    const producer = new KinesisProducer({
      streamName: 's',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: () => Promise.resolve({} as { accessKeyId: string; secretAccessKey: string }), // a provider returning no key pair
      recordMaxBufferedTime: 0,
    });
    producers.push(producer);
    const failure = await producer.put({ partitionKey: 'k', data: 'x' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ name: 'UserRecordFailedError', errorCode: 'ClientConfigError' });
    expect((failure as UserRecordFailedError).attempts).toHaveLength(1);
  });
});
