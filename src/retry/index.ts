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
