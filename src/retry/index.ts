export {
  RetryPolicy,
  boundedBackoff,
  classifyEntryError,
  classifyRequestError,
  type Failure,
  type FailureKind,
  type RetryPolicyOptions,
} from './policy.js';
