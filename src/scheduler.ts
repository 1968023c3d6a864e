/**
 * The producer's one timer. Every deadline — a buffer's, a rate-limit queue's, a retry's, records
 * waiting for their stream to be learned — is served by it: no timer per record or per shard.
 */

/** The monotonic clock every deadline is measured on, in ms. */
export const now = (): number => performance.now();

/**
 * Runs `tick` no later than the earliest deadline asked for with {@link wakeAt}. `tick` moves on
 * everything due at the time it is given and returns the next deadline (Infinity for none).
 */
export class Scheduler {
  readonly #tick: (t: number) => number;
  #timer: NodeJS.Timeout | undefined;
  #at = Infinity;

  constructor(tick: (t: number) => number) {
    this.#tick = tick;
  }

  /** Makes sure the tick runs no later than `deadline` (ms on {@link now}'s clock). */
  wakeAt(deadline: number): void {
    if (deadline >= this.#at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#at = deadline;
    this.#timer = setTimeout(this.#fire, Math.max(0, deadline - now()));
  }

  /** Cancels the pending wake-up. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Infinity;
  }

  readonly #fire = (): void => {
    this.stop();
    const next = this.#tick(now());
    if (next < Infinity) this.wakeAt(next);
  };
}
