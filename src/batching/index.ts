export { Collector, type CollectorEntry, type CollectorOptions } from './collector.js';
