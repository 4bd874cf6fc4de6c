/**
 * hatchery/bullmq: run queue jobs from BullMQ in hatchery sandboxes, on as
 * many machines as share the Redis. Needs the optional peer dependency
 * `bullmq` (and `ioredis` to connect with Redis options or a URL); the main
 * `hatchery` entry never loads them. See docs/scale-out.md.
 */
export { createQueueWorker, QueueWorker, DEFAULT_DRAIN_GRACE_MS, type DrainOptions } from './worker.js';
export {
  DEFAULT_LOCK_DURATION_MS,
  DEFAULT_MAX_STALLED_COUNT,
  DEFAULT_STALLED_INTERVAL_MS,
  MAX_QUEUE_CONCURRENCY,
  type QueueWorkerOptions,
} from './worker-options.js';
export { addRun, cancelRun, CANCEL_EVENT, DEFAULT_RUN_JOB_OPTIONS, type AddRunOptions, type CancelOutcome, type RunQueue } from './producer.js';
export { checkJobShape, checkJobCaps, JobDataError, RUN_JOB_KEYS, type RunJobData, type CheckedJob, type JobCaps } from './job-data.js';
export {
  resolvePolicy,
  loadPolicyFile,
  pickProfile,
  PolicyFileError,
  PROFILE_DEFAULTS,
  DEFAULT_PROFILE_NAME,
  type QueuePolicy,
  type QueueProfile,
  type ResolvedPolicy,
  type ResolvedProfile,
} from './profiles.js';
export { classifyError, failureCodeOf, type QueueFailureCode } from './failures.js';
export type { QueueRunResult, JobTimings } from './result.js';
export { QUEUE_JOB_CHANNEL, type QueueJobEvent, type JobOutcome } from './job-events.js';
export type { QueueWorkerStats, DurationSummary } from './stats.js';
