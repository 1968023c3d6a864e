import { describe, expect, it } from 'vitest';
import { ProducerClosedError, ShardlineError, UserRecordFailedError, ValidationError } from '../src/errors.js';

describe('errors', () => {
  it('name the field and the limit of bad input', () => {
    const error = new ValidationError('partitionKey', '1..256 UTF-16 code units', 'got 257');
    expect(error).toBeInstanceOf(ShardlineError);
    expect(error).toMatchObject({ name: 'ValidationError', field: 'partitionKey', limit: '1..256 UTF-16 code units', retriable: false });
    expect(error.message).toBe('partitionKey: got 257 (limit: 1..256 UTF-16 code units)');
  });

  it('carry the code, the attempts and the partition key of a failed record, never its data', () => {
    const attempts = [{ delayMs: 5, durationMs: 20, success: false, errorCode: 'InternalFailure', errorMessage: 'Internal service failure.' }];
    const error = new UserRecordFailedError('Expired', 'recordTtl ran out', 'user-42', attempts);
    expect(error).toMatchObject({ name: 'UserRecordFailedError', code: 'Expired', errorCode: 'Expired', partitionKey: 'user-42', attempts });
    expect(error.message).toContain('"user-42"');
    expect(error.message).toContain('1 attempt(s)');
    expect(new ProducerClosedError()).toMatchObject({ code: 'ProducerClosed', retriable: false });
  });
});
