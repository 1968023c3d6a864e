/**
 * Retrying: how failures are classified and backed off ({@link RetryPolicy}), and what happens to
 * each failed or expired record ({@link RetryScheduler}).
 * @module
 */
export {
  RetryPolicy,
  boundedBackoff,
  classifyEntryError,
  classifyRequestError,
  isRetriable,
  type Failure,
  type FailureKind,
  type RetryPolicyOptions,
} from './policy.js';
export { RetryScheduler, type RetrySchedulerOptions } from './retry-scheduler.js';
