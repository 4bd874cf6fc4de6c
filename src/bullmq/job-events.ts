/**
 * One event per job attempt, on node:diagnostics_channel 'hatchery:queue-job'
 * (built only when someone subscribes), like the pool's lifecycle events.
 * The CLI prints one line per event; a service can ship them to its metrics.
 *
 * An attempt's event is published once BullMQ is done with the attempt
 * (after its own 'completed' / 'failed'): whoever reacts to it finds the job
 * in Redis as the event says.
 */
import { channel } from 'node:diagnostics_channel';
import type { LimitName } from '../spawn/run.js';
import type { QueueFailureCode } from './failures.js';

/**
 * - completed: the program ran, and BullMQ stored its Result (the job is completed); the Result says how it ended (any exit code);
 * - failed: no Result, and BullMQ will not retry (permanent, or out of attempts);
 * - retrying: no Result, and BullMQ retries it after its backoff;
 * - requeued: the worker shut down past its grace period; the tree was killed and the job went back to the queue untouched.
 */
export type JobOutcome = 'completed' | 'failed' | 'retrying' | 'requeued';

export interface QueueJobEvent {
  queue: string;
  /** The BullMQ worker's id. */
  workerId: string;
  jobId: string;
  jobName: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The job's `attempts` option. */
  maxAttempts: number;
  /** The profile it ran under, or null when it was refused before one was picked. */
  profile: string | null;
  outcome: JobOutcome;
  /** failed / retrying: the failure code; otherwise null. */
  code: QueueFailureCode | null;
  /** failed / retrying / requeued: why, in one line; otherwise null. */
  reason: string | null;
  /** completed: how the program ended; otherwise null / false. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  limit: LimitName | null;
  truncated: boolean;
  /** From the job's creation (the producer's clock) to this attempt's start; includes any delay. */
  queuedMs: number;
  /** This attempt, from the processor's start to its end. */
  runMs: number;
  /** The program, cut to 120 characters (never its arguments: they may hold data). */
  command: string;
}

export const QUEUE_JOB_CHANNEL = 'hatchery:queue-job';
const jobChannel = channel(QUEUE_JOB_CHANNEL);

export function publishQueueJob(build: () => QueueJobEvent): void {
  if (jobChannel.hasSubscribers) jobChannel.publish(build());
}
