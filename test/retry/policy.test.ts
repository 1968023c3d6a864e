import { KinesisClient, ListShardsCommand, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describe, expect, it } from 'vitest';
import { RetryPolicy, boundedBackoff, classifyEntryError, classifyRequestError, isRetriable } from '../../src/retry/index.js';

describe('RetryPolicy', () => {
  it('draws full-jitter backoff under an exponentially growing, capped ceiling', () => {
    const top = new RetryPolicy({ minBackoff: 100, maxBackoff: 1000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5, 50].map((n) => top.backoff(n))).toEqual([99, 199, 399, 799, 999, 999]);
    const bottom = new RetryPolicy({ minBackoff: 100, maxBackoff: 1000, random: () => 0 });
    expect(bottom.backoff(3)).toBe(0);
  });
});

describe('error classification', () => {
  it('classifies entry error codes', () => {
    expect(classifyEntryError('ProvisionedThroughputExceededException')).toBe('throttled');
    expect(classifyEntryError('InternalFailure')).toBe('transient');
    expect(classifyEntryError('SomethingNew')).toBe('transient');
  });

  it('classifies whole-request errors as the service and Node raise them', () => {
    const sdk = (name: string, status: number, fault = 'client') => ({ name, message: 'm', $fault: fault, $metadata: { httpStatusCode: status } });
    expect(classifyRequestError(sdk('ResourceNotFoundException', 400))).toMatchObject({ kind: 'fatal', code: 'ResourceNotFoundException' });
    expect(classifyRequestError(sdk('AccessDeniedException', 400)).kind).toBe('fatal');
    expect(classifyRequestError(sdk('KMSDisabledException', 400)).kind).toBe('fatal');
    expect(classifyRequestError(sdk('KMSThrottlingException', 400)).kind).toBe('throttled');
    expect(classifyRequestError(sdk('ProvisionedThroughputExceededException', 400)).kind).toBe('throttled');
    expect(classifyRequestError(sdk('InvalidArgumentException', 400)).kind).toBe('invalid');
    expect(classifyRequestError(sdk('Unknown', 413))).toMatchObject({ kind: 'invalid', code: 'RequestEntityTooLarge' });
    expect(classifyRequestError(sdk('InternalFailure', 500, 'server'))).toMatchObject({ kind: 'transient', code: 'InternalFailure' });
    expect(classifyRequestError(sdk('Unknown', 502, 'server'))).toMatchObject({ kind: 'transient', code: 'HttpError502' });
    expect(classifyRequestError(sdk('Unknown', 418))).toMatchObject({ kind: 'fatal', code: 'HttpError418' });
    expect(classifyRequestError(Object.assign(new Error('read ECONNRESET'), { name: 'TimeoutError', code: 'ECONNRESET' }))).toMatchObject({
      kind: 'transient',
      code: 'NetworkError',
    });
    expect(classifyRequestError(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toMatchObject({ kind: 'transient', code: 'RequestTimeout' });
  });
});

describe('boundedBackoff', () => {
  it('doubles from min to max with +-20 % jitter, never outside [min, max]', () => {
    expect([1, 2, 3, 4, 5, 6, 9].map((n) => boundedBackoff(n, 1000, 30_000, () => 0.5))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(boundedBackoff(1, 1000, 30_000, () => 0)).toBe(1000); // -20 % is clamped to min
    expect(boundedBackoff(3, 1000, 30_000, () => 0)).toBe(3200);
    expect(boundedBackoff(3, 1000, 30_000, () => 0.999999)).toBe(4800);
    expect(boundedBackoff(20, 1000, 30_000, () => 0.999999)).toBe(30000);
  });
});

describe('credential and clock errors', () => {
  const sdk = (name: string, status: number | undefined, message = 'm') => ({
    name,
    message,
    $fault: 'client',
    $metadata: status === undefined ? { attempts: 1 } : { httpStatusCode: status },
  });

  it.each([
    // The SDK's own, raised before a request is sent: no credentials found yet, an SSO token to refresh.
    ['CredentialsProviderError', undefined],
    ['TokenProviderError', undefined],
    // Kinesis (JSON protocol): expired session token, unknown or not yet propagated access key,
    // wrong secret or a clock off by more than 5 minutes ("Signature expired").
    ['ExpiredTokenException', 400],
    ['UnrecognizedClientException', 400],
    ['InvalidSignatureException', 400],
    ['IncompleteSignature', 400],
    ['MissingAuthenticationToken', 403],
    // The same causes as query and REST protocols (and proxies in front of them) name them.
    ['ExpiredToken', 403],
    ['InvalidClientTokenId', 403],
    ['SignatureDoesNotMatch', 403],
    ['RequestExpired', 400],
    ['RequestTimeTooSkewed', 403],
    ['RequestInTheFuture', 400],
  ])('retries %s as credentials, keeping its code', (name, status) => {
    const failure = classifyRequestError(sdk(name, status));
    expect(failure).toEqual({ kind: 'credentials', code: name, message: 'm' });
    expect(isRetriable(failure.kind)).toBe(true);
  });

  it('retries the SDK CredentialsProviderError as it is thrown (a class whose name is a field)', () => {
    class CredentialsProviderError extends Error {
      override name = 'CredentialsProviderError';
      readonly tryNextLink = false;
    }
    expect(classifyRequestError(new CredentialsProviderError('Could not load credentials from any providers'))).toMatchObject({
      kind: 'credentials',
      code: 'CredentialsProviderError',
    });
  });

  it('still fails permissions, not credentials, at once', () => {
    expect(classifyRequestError(sdk('AccessDeniedException', 400)).kind).toBe('fatal');
    expect(classifyRequestError(sdk('KMSAccessDeniedException', 400)).kind).toBe('fatal');
    expect(isRetriable('fatal')).toBe(false);
    expect(isRetriable('invalid')).toBe(false);
    expect(isRetriable('throttled')).toBe(true);
    expect(isRetriable('transient')).toBe(true);
  });
});

describe('client settings the SDK rejects when it sends', () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

  /** The error a real client with these settings throws for a call, before anything is sent. */
  async function sdkError(config: Record<string, unknown>): Promise<unknown> {
    const client = new KinesisClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials, maxAttempts: 1, ...config } as KinesisClientConfig);
    try {
      await client.send(new ListShardsCommand({ StreamName: 's' }));
    } catch (error) {
      return error;
    } finally {
      client.destroy();
    }
    throw new Error('expected the call to fail');
  }

  it.each([
    ['an endpoint that is no URL', { endpoint: 'not a url' }],
    ['an endpoint that is a number', { endpoint: 123 }],
    ['an endpoint of another scheme, over the default HTTP/2 handler', { endpoint: 'ftp://127.0.0.1:9' }],
    ['a region that is a number', { region: 123 }],
    ['a region that is no hostname label', { region: 'us-east-1 ' }],
    ['credentials that are a string', { credentials: 'secret' }],
    ['a credentials provider resolving to no key', { credentials: () => Promise.resolve({}) }],
  ])('fails %s in one attempt with ClientConfigError', async (_, config) => {
    const error = await sdkError(config);
    expect(classifyRequestError(error)).toMatchObject({ kind: 'fatal', code: 'ClientConfigError' });
  });

  it('fails a missing region as the SDK reports it (no region in the environment)', () => {
    expect(classifyRequestError(new Error('Region is missing'))).toMatchObject({ kind: 'fatal', code: 'ClientConfigError', message: 'Region is missing' });
  });

  it('keeps network errors and answers that fail to parse retriable', async () => {
    const refused = await sdkError({ requestHandler: new NodeHttpHandler() });
    expect(classifyRequestError(refused)).toMatchObject({ kind: 'transient', code: 'NetworkError' });
    // A TypeError while reading an answer is the answer's fault: the SDK attaches the response.
    const garbled = Object.assign(new TypeError("Cannot read properties of undefined (reading 'Shards')"), { $metadata: { httpStatusCode: 200 } });
    expect(classifyRequestError(garbled).kind).toBe('transient');
    expect(classifyRequestError(new Error('the provider is down for a moment')).kind).toBe('transient');
  });
});
