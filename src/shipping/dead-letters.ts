/**
 * A dead-letter file for the CLI and the pino transport: every record that fails is kept there, so
 * that nothing a shipper took in is lost silently.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { UserRecord } from '../records.js';
import type { ShippingFailure } from './shipment.js';

/** The dead-letter file: one NDJSON line per failed record, written as the failure is known. */
export interface DeadLetters {
  /** Writes a failed line: its data (or the line when it never became a record), code, message and attempts. */
  write(record: UserRecord | undefined, error: ShippingFailure, line: string | undefined): void;
  close(): void;
}

/**
 * Opens (appending, creating) the dead-letter file at once, so that a path that cannot be written
 * fails the run before anything is read. Writes are synchronous: a record is in the file before the
 * run can end, signal or not.
 */
export function openDeadLetters(path: string): DeadLetters {
  const fd = openSync(path, 'a');
  return {
    write(record, error, line) {
      const data = record === undefined ? line : typeof record.data === 'string' ? record.data : Buffer.from(record.data).toString('utf8');
      const entry = {
        data,
        partitionKey: record?.partitionKey,
        errorCode: error.code,
        message: error.message,
        attempts: 'attempts' in error ? error.attempts.length : 0,
        attemptErrors: 'attempts' in error ? error.attempts.map((attempt) => attempt.errorCode) : [],
      };
      writeSync(fd, `${JSON.stringify(entry)}\n`);
    },
    close: () => closeSync(fd),
  };
}
