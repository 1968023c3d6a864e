/**
 * Entries for log shippers: a Writable, putAll, and log lines as records.
 */
export type { SinkProducer } from './submitter.js';
export { Shipment, type ShippingFailure, type ShippingOptions, type ShippingSummary } from './shipment.js';
export { createWritable, type RecordWritable, type WritableOptions } from './writable.js';
export { putAll, type PutAllOptions } from './put-all.js';
export { lineToRecord, type LineRecordOptions } from './lines.js';
export { openDeadLetters, type DeadLetters } from './dead-letters.js';
