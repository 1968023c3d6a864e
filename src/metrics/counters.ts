/**
 * The producer's always-on counters, shared by the stages that move them, and the snapshot users read.
 */

/**
 * Counters since the producer started, named after the KPL's metrics. A snapshot: read it again
 * for fresh figures.
 */
export interface ProducerMetrics {
  /** User records accepted by `put()`. KPL: UserRecordsReceived. */
  readonly userRecordsReceived: number;
  /** User records written. KPL: UserRecordsPut. */
  readonly userRecordsPut: number;
  /** User records failed (any code, `Expired` included). */
  readonly userRecordsFailed: number;
  /** User records failed with `Expired`. KPL: UserRecordExpired. */
  readonly userRecordsExpired: number;
  /** Kinesis records written (an envelope counts once). KPL: KinesisRecordsPut. */
  readonly kinesisRecordsPut: number;
  /** Bytes of Kinesis records written, data plus partition keys. KPL: KinesisRecordsDataPut. */
  readonly kinesisRecordsDataPut: number;
  /** PutRecords calls sent, answered or not. */
  readonly putRecordsRequests: number;
  /** PutRecords calls being sent now. */
  readonly requestsInFlight: number;
  /** Failed attempts by error code, whole-request errors counted once per Kinesis record. KPL: ErrorsByCode. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Bytes of user records held (data + partition keys). */
  readonly outstandingBytes: number;
  /** `put()` calls refused with `BackpressureError`. */
  readonly backpressureRejections: number;
  /** CloudWatch uploads (PutMetricData calls) that failed or timed out. */
  readonly metricsUploadsFailed: number;
  /** Metric datums given up on: their upload kept failing, or too many waited to be uploaded. */
  readonly metricDatumsDropped: number;
}

/** The counters behind {@link ProducerMetrics}, incremented in place by the stages. */
export class Counters {
  userRecordsReceived = 0;
  userRecordsPut = 0;
  userRecordsFailed = 0;
  userRecordsExpired = 0;
  kinesisRecordsPut = 0;
  kinesisRecordsDataPut = 0;
  putRecordsRequests = 0;
  backpressureRejections = 0;
  metricsUploadsFailed = 0;
  metricDatumsDropped = 0;
  readonly errorsByCode = new Map<string, number>();

  /** Counts one failed attempt of a Kinesis record. */
  countError(code: string): void {
    this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
  }

  /** A snapshot, with the figures only the producer knows. */
  snapshot(requestsInFlight: number, outstandingBytes: number): ProducerMetrics {
    return {
      userRecordsReceived: this.userRecordsReceived,
      userRecordsPut: this.userRecordsPut,
      userRecordsFailed: this.userRecordsFailed,
      userRecordsExpired: this.userRecordsExpired,
      kinesisRecordsPut: this.kinesisRecordsPut,
      kinesisRecordsDataPut: this.kinesisRecordsDataPut,
      putRecordsRequests: this.putRecordsRequests,
      requestsInFlight,
      errorsByCode: Object.fromEntries(this.errorsByCode),
      outstandingBytes,
      backpressureRejections: this.backpressureRejections,
      metricsUploadsFailed: this.metricsUploadsFailed,
      metricDatumsDropped: this.metricDatumsDropped,
    };
  }
}
