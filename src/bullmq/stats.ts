/** Running totals of a queue worker: outcomes, failures by code, and recent durations. */
import type { QueueFailureCode } from './failures.js';
import type { QueueJobEvent } from './job-events.js';

/** Percentiles over the most recent attempts (at most SAMPLES of them), in ms. */
export interface DurationSummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface QueueWorkerStats {
  /** Attempts in the processor now (a job that stalled and was taken again by this worker counts twice while its first attempt is killed). */
  running: number;
  /** Attempts by outcome since the worker started. */
  jobs: { completed: number; failed: number; retrying: number; requeued: number };
  /** How the programs of completed jobs ended. */
  exits: { zero: number; nonZero: number; signaled: number; timedOut: number; truncated: number };
  /** failed and retrying attempts by code. */
  failuresByCode: Partial<Record<QueueFailureCode, number>>;
  /** BullMQ 'error' events (lost connections, failed lock renewals, ...). */
  errors: number;
  /** Processor time per attempt. */
  runMs: DurationSummary;
  /** Time from a job's creation to its attempt's start. */
  queuedMs: DurationSummary;
}

const SAMPLES = 1024;

class Recent {
  readonly #values: number[] = [];
  #next = 0;

  add(value: number): void {
    if (this.#values.length < SAMPLES) this.#values.push(value);
    else this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % SAMPLES;
  }

  summary(): DurationSummary {
    const sorted = [...this.#values].sort((a, b) => a - b);
    const at = (q: number): number => (sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number));
    return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.length === 0 ? 0 : (sorted[sorted.length - 1] as number) };
  }
}

export class QueueWorkerStatsRecorder {
  readonly #jobs = { completed: 0, failed: 0, retrying: 0, requeued: 0 };
  readonly #exits = { zero: 0, nonZero: 0, signaled: 0, timedOut: 0, truncated: 0 };
  readonly #failures: Partial<Record<QueueFailureCode, number>> = {};
  readonly #runMs = new Recent();
  readonly #queuedMs = new Recent();
  #errors = 0;

  record(event: QueueJobEvent): void {
    this.#jobs[event.outcome]++;
    if (event.code !== null) this.#failures[event.code] = (this.#failures[event.code] ?? 0) + 1;
    if (event.outcome === 'completed') {
      if (event.exitCode === 0) this.#exits.zero++;
      else if (event.exitCode !== null) this.#exits.nonZero++;
      else this.#exits.signaled++;
      if (event.timedOut) this.#exits.timedOut++;
      if (event.truncated) this.#exits.truncated++;
    }
    // A stall is reported by BullMQ's checker, not timed by a processor.
    if (event.code === 'STALLED') return;
    this.#runMs.add(event.runMs);
    this.#queuedMs.add(event.queuedMs);
  }

  recordError(): void {
    this.#errors++;
  }

  snapshot(running: number): QueueWorkerStats {
    return {
      running,
      jobs: { ...this.#jobs },
      exits: { ...this.#exits },
      failuresByCode: { ...this.#failures },
      errors: this.#errors,
      runMs: this.#runMs.summary(),
      queuedMs: this.#queuedMs.summary(),
    };
  }
}
