import { describe, expect, it } from 'vitest';
import { RetryPolicy, boundedBackoff, classifyEntryError, classifyRequestError } from '../src/retry/index.js';

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
    expect(classifyRequestError(sdk('ResourceNotFoundException', 400), false)).toMatchObject({ kind: 'fatal', code: 'ResourceNotFoundException' });
    expect(classifyRequestError(sdk('AccessDeniedException', 400), false).kind).toBe('fatal');
    expect(classifyRequestError(sdk('KMSDisabledException', 400), false).kind).toBe('fatal');
    expect(classifyRequestError(sdk('KMSThrottlingException', 400), false).kind).toBe('throttled');
    expect(classifyRequestError(sdk('ProvisionedThroughputExceededException', 400), false).kind).toBe('throttled');
    expect(classifyRequestError(sdk('InvalidArgumentException', 400), false).kind).toBe('invalid');
    expect(classifyRequestError(sdk('Unknown', 413), false)).toMatchObject({ kind: 'invalid', code: 'RequestEntityTooLarge' });
    expect(classifyRequestError(sdk('InternalFailure', 500, 'server'), false)).toMatchObject({ kind: 'transient', code: 'InternalFailure' });
    expect(classifyRequestError(sdk('Unknown', 502, 'server'), false)).toMatchObject({ kind: 'transient', code: 'HttpError502' });
    expect(classifyRequestError(sdk('Unknown', 418), false)).toMatchObject({ kind: 'fatal', code: 'HttpError418' });
    expect(classifyRequestError(Object.assign(new Error('read ECONNRESET'), { name: 'TimeoutError', code: 'ECONNRESET' }), false)).toMatchObject({
      kind: 'transient',
      code: 'NetworkError',
    });
    expect(classifyRequestError(Object.assign(new Error('aborted'), { name: 'AbortError' }), true)).toMatchObject({ kind: 'transient', code: 'RequestTimeout' });
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
