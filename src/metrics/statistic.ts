/**
 * A statistic set: the count, sum, minimum and maximum of a metric's samples over an interval.
 */
export class Statistic {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  /** Adds one sample. */
  add(value: number): void {
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** Adds `count` samples of the same value (e.g. one per user record of an envelope). */
  addMany(value: number, count: number): void {
    if (count <= 0) return;
    this.count += count;
    this.sum += value * count;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** Adds a set of samples given by its figures (e.g. gathered in a loop's locals). */
  addSet(count: number, sum: number, min: number, max: number): void {
    if (count <= 0) return;
    this.count += count;
    this.sum += sum;
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
  }

  /** Adds the samples of another set. */
  merge(other: Statistic): void {
    this.addSet(other.count, other.sum, other.min, other.max);
  }

  /** Forgets every sample (a new interval starts). */
  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }
}
