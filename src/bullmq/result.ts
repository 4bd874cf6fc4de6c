/** What a completed run job returns (its `returnvalue` in BullMQ). */
import type { Result } from '../spawn/run.js';

/** Where the time of one attempt went, in ms. */
export interface JobTimings {
  /** From the job's creation (the producer's clock) to this attempt's start; includes any `delay`. */
  queuedMs: number;
  /** The whole pool.run() call on the worker: spawn, run, collect. */
  runMs: number;
  /** The program, from exec to reaping (the zygote's clock). */
  wallMs: number;
  userCpuMs: number;
  sysCpuMs: number;
}

/**
 * A run()'s Result - exit code, signal, stdout, stderr (UTF-8, each capped
 * by the profile's maxOutputBytes), timedOut, truncated, limit, enforcement -
 * plus the profile it ran under and its timings.
 */
export interface QueueRunResult extends Result<string> {
  profile: string;
  timings: JobTimings;
}
