/**
 * Puts every item of a sync or async iterable, honouring the producer's backpressure, and resolves
 * with a tally rather than a promise per record.
 */
import type { UserRecord } from '../records.js';
import { Shipment, type ShippingOptions, type ShippingSummary } from './shipment.js';
import type { SinkProducer } from './submitter.js';

/** Records taken from a sync source between two turns of the event loop. */
const SYNC_BATCH = 1000;

/** Options of {@link putAll}. */
export type PutAllOptions<T = UserRecord> = ShippingOptions<T>;

/**
 * Puts every item of `source` (user records, or anything with `toRecord`) and resolves once each
 * has settled, with how they ended. The source is read only as fast as the producer takes records:
 * when it is full, reading waits for `ready()`. Failures are counted and given to `onFailure`;
 * with `stopOnFailure` the first one stops reading, and the promise rejects with it once what was
 * submitted has settled. Rejects likewise (after settling) when the source throws.
 */
export async function putAll<T = UserRecord>(
  producer: SinkProducer,
  source: Iterable<T> | AsyncIterable<T>,
  options: PutAllOptions<T> = {},
): Promise<ShippingSummary> {
  const shipment = new Shipment<T>(producer, options, () => undefined);
  let thrown: unknown;
  try {
    // A sync source is read in a plain loop, so that a record costs no promise unless the producer is full.
    if (Symbol.asyncIterator in source) {
      for await (const chunk of source) {
        const waiting = shipment.ship(chunk);
        if (waiting !== undefined) await waiting;
        if (shipment.stopError !== undefined) break;
      }
    } else {
      let sinceYield = 0;
      for (const chunk of source) {
        const waiting = shipment.ship(chunk);
        if (waiting !== undefined) await waiting;
        // Let timers and sockets run now and then: a long sync source would otherwise hold the event loop until the producer is full.
        else if (++sinceYield === SYNC_BATCH) {
          sinceYield = 0;
          await new Promise(setImmediate);
        }
        if (shipment.stopError !== undefined) break;
      }
    }
  } catch (error) {
    thrown = error;
  }
  await shipment.settle();
  if (thrown !== undefined) throw thrown;
  if (shipment.stopError !== undefined) throw shipment.stopError;
  return shipment.summary;
}
