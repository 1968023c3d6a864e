/**
 * A deadline of shardline's own for every call it makes (PutRecords, ListShards,
 * DescribeStreamSummary). The SDK's `requestTimeout` cannot be relied on: @smithy/node-http-handler
 * 4.x only logs a warning when it passes, so a call into a blackholed connection would otherwise
 * never end; nor can an abort alone, which a hung credentials provider never sees.
 */

/** Default time a call may take before it is abandoned, in ms: the KPL's `requestTimeout`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 6000;

/**
 * Runs `send` (e.g. `(abortSignal) => client.send(command, { abortSignal })`) and settles within
 * `timeoutMs` whatever the client does: on time out the call's signal is aborted and the promise
 * rejects with an error named `TimeoutError`, which `classifyRequestError` calls a retriable
 * `RequestTimeout`. Aborting `signal` aborts the call and rejects with the signal's reason.
 *
 * @param operation - The call's name for the timeout message, e.g. `ListShards`.
 * @param background - Whether the call is background work that must not keep the process alive
 *   (metadata); a call that records wait on keeps it alive until it settles.
 */
export function withDeadline<Output>(
  operation: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  send: (abortSignal: AbortSignal) => Promise<Output>,
  background = true,
): Promise<Output> {
  const abort = new AbortController();
  let stop: () => void = () => undefined;
  // Raced against the call rather than left to the SDK, so that a client that ignores the abort
  // (a custom handler, a credentials provider that hangs) cannot hold the caller.
  const deadline = new Promise<never>((_, reject) => {
    const fail = (reason: unknown): void => {
      abort.abort(reason);
      reject(reason);
    };
    const onAbort = (): void => fail(signal?.reason);
    const timer = setTimeout(() => {
      const error = new Error(`${operation} got no answer within ${timeoutMs} ms (requestTimeout)`);
      error.name = 'TimeoutError';
      fail(error);
    }, timeoutMs);
    if (background) timer.unref();
    if (signal?.aborted === true) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    stop = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  });
  // Through a promise, so that a synchronous throw also ends the deadline's timer.
  const call = new Promise<Output>((resolve) => resolve(send(abort.signal)));
  return Promise.race([call, deadline]).finally(stop);
}
