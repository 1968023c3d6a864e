/**
 * `shardline/pino`: a pino transport that puts each log line to Kinesis as one record.
 *
 * ```ts
 * const logger = pino(pino.transport({ target: 'shardline/pino', options: { streamName: 'logs', partitionKeyField: 'reqId' } }));
 * ```
 * @packageDocumentation
 */
import type { Transform } from 'node:stream';
import build from 'pino-abstract-transport';
import type { ProducerOptions } from './config.js';
import { KinesisProducer } from './producer.js';
import { lineToRecord, openDeadLetters, type LineRecordOptions } from './shipping/index.js';

/**
 * Options of the transport: the producer's (but `client`, which cannot cross into pino's worker
 * thread), and how a log line becomes a record. Without `partitionKeyField` or `partitionKey`
 * each line gets a random key, so lines spread evenly over the shards.
 */
export interface PinoTransportOptions extends Omit<ProducerOptions, 'client'>, Omit<LineRecordOptions, 'json'> {
  /** Append every log line that could not be put to this file, as NDJSON with its error. Default: its error only, on standard error. */
  deadLetter?: string;
}

/**
 * Builds the transport (pino calls this in its worker thread). Lines are put as the producer takes
 * them (the worker reads no faster); when pino ends the stream (`logger.flush()` and the end of
 * the process, or the transport's close) every line is flushed and settled before the worker exits.
 */
export default async function shardlineTransport(options: PinoTransportOptions): Promise<Transform> {
  const { partitionKeyField, partitionKey, explicitHashKeyField, deadLetter, ...rest } = options;
  // pino (pinoWillSendConfig) and its thread-stream ($context) add these to a transport's options;
  // anything else unknown is left for the producer to refuse, so that a misspelt option is named.
  const producerOptions: Record<string, unknown> = { ...rest };
  delete producerOptions.$context;
  delete producerOptions.pinoWillSendConfig;
  const toRecord = lineToRecord({ partitionKeyField, partitionKey, explicitHashKeyField });
  const producer = new KinesisProducer(producerOptions as ProducerOptions);
  const deadLetters = deadLetter === undefined ? undefined : openDeadLetters(deadLetter);
  const shipLines = async (source: AsyncIterable<string>): Promise<void> => {
    await producer.putAll(source, {
      toRecord,
      onFailure: (record, error, line) => {
        if (deadLetters !== undefined) deadLetters.write(record, error, line);
        else process.stderr.write(`shardline/pino: a log line was not put: ${error.message}\n`);
      },
    });
  };
  let shipped: Promise<void> = Promise.resolve();
  return build(
    (source) => {
      shipped = shipLines(source);
      return shipped;
    },
    {
      parse: 'lines',
      // Lines go out as they are; only the partition key options need them parsed (lineToRecord does).
      parseLine: (line: string) => line,
      close: async () => {
        await shipped.catch(() => undefined);
        await producer.close();
        deadLetters?.close();
      },
    },
  );
}
