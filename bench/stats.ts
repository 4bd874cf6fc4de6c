/** Summary statistics of latency samples. All contenders go through the same code. */

export interface Summary {
  samples: number;
  p50Ms: number;
  p90Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

/**
 * Nearest-rank percentile (the smallest sample with at least p of the samples
 * at or below it): always a value that was actually measured.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no samples');
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

/** The nearest-rank median of unsorted samples; NaN for none. */
export function median(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : percentile([...values].sort((a, b) => a - b), 0.5);
}

/** Summarises durations given in nanoseconds; the summary is in milliseconds. */
export function summarize(durationsNs: readonly number[]): Summary {
  const sorted = [...durationsNs].sort((a, b) => a - b);
  const total = sorted.reduce((sum, d) => sum + d, 0);
  const ms = (ns: number): number => ns / 1e6;
  return {
    samples: sorted.length,
    p50Ms: ms(percentile(sorted, 0.5)),
    p90Ms: ms(percentile(sorted, 0.9)),
    meanMs: ms(total / sorted.length),
    minMs: ms(sorted[0] as number),
    maxMs: ms(sorted[sorted.length - 1] as number),
  };
}

/** Splits `total` runs into `rounds` nearly equal parts that add up to `total`. */
export function splitRuns(total: number, rounds: number): number[] {
  const base = Math.floor(total / rounds);
  const extra = total % rounds;
  return Array.from({ length: rounds }, (_, i) => base + (i < extra ? 1 : 0));
}
