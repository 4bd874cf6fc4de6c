/**
 * Producer helpers: add a run job with sensible retry defaults, and cancel
 * one wherever it runs. Both work on a plain BullMQ Queue; nothing here can
 * set a sandbox or a limit: those belong to the worker's profiles.
 */
import { QueueEventsProducer, type Job, type JobsOptions, type Queue } from 'bullmq';
import { describe, isPlainObject, knownKeys } from '../options/checks.js';
import { InvalidOptionTypeError } from '../errors.js';
import { checkJobShape, type RunJobData } from './job-data.js';
import type { QueueRunResult } from './result.js';

/** A queue of run jobs, typed for addRun() and job.returnvalue. */
export type RunQueue = Queue<RunJobData, QueueRunResult>;

/** The name of the custom queue event that asks every worker to cancel a running job. */
export const CANCEL_EVENT = 'hatchery:cancel';

/**
 * What addRun() sets unless `job` overrides it:
 * - 3 attempts with exponential backoff from 1 s: transient failures (a dead
 *   zygote, a full pool) are retried; permanent ones fail at once anyway;
 * - completed jobs kept a day (at most 10,000), failed ones a week: a Result
 *   holds up to 2 × the profile's maxOutputBytes, and Redis memory is finite.
 */
export const DEFAULT_RUN_JOB_OPTIONS: Readonly<JobsOptions> = Object.freeze({
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
});

export interface AddRunOptions {
  /** Written to the program's stdin. */
  input?: string;
  /** At most the profile's timeoutMs. */
  timeoutMs?: number;
  /** One of the worker's profile names. */
  profile?: string;
  /** The BullMQ job name. Default 'run'. */
  name?: string;
  /** BullMQ job options (priority, delay, jobId, attempts, ...), over DEFAULT_RUN_JOB_OPTIONS. */
  job?: JobsOptions;
}

const addRunKeys = ['input', 'timeoutMs', 'profile', 'name', 'job'] as const;

/**
 * Add a job that runs `command` with `args` on a hatchery queue worker.
 * The data is checked like the worker checks it (a JobDataError names the
 * field), so a malformed job never reaches Redis; the worker's profile may
 * still refuse it (size caps, timeout ceiling, command allowlist).
 */
export async function addRun(
  queue: Queue,
  command: string,
  args: readonly string[] = [],
  options: AddRunOptions = {},
): Promise<Job<RunJobData, QueueRunResult>> {
  if (!isPlainObject(options as unknown)) throw new InvalidOptionTypeError('options', `must be an object, got ${describe(options)}`);
  knownKeys(options as Record<string, unknown>, addRunKeys, '');
  const data: RunJobData = { command };
  // Anything but an array goes in as given, for checkJobShape to refuse naming args (a string would spread into letters).
  if (!Array.isArray(args)) data.args = args as unknown as string[];
  else if (args.length > 0) data.args = [...(args as readonly string[])];
  if (options.input !== undefined) data.input = options.input;
  if (options.timeoutMs !== undefined) data.timeoutMs = options.timeoutMs;
  if (options.profile !== undefined) data.profile = options.profile;
  checkJobShape(data);
  if (options.job !== undefined && !isPlainObject(options.job as unknown)) throw new InvalidOptionTypeError('job', `must be an object of BullMQ job options, got ${describe(options.job)}`);
  const name = options.name ?? 'run';
  if (typeof name !== 'string' || name === '') throw new InvalidOptionTypeError('name', `must be a non-empty string, got ${describe(name)}`);
  const job = (await queue.add(name, data, { ...DEFAULT_RUN_JOB_OPTIONS, ...options.job })) as Job<RunJobData, QueueRunResult>;
  return job;
}

/**
 * - removed: it had not started; it was taken off the queue;
 * - signalled: it is running; every worker was told, and the one running it
 *   kills the tree and fails the job with CANCELLED (no retry);
 * - finished: it had already completed or failed;
 * - not-found: there is no such job.
 */
export type CancelOutcome = 'removed' | 'signalled' | 'finished' | 'not-found';

/** Cancel a run job wherever it is: waiting (removed) or running on any machine (its tree is killed). */
export async function cancelRun(queue: Queue, jobId: string, reason = 'cancelled by the producer'): Promise<CancelOutcome> {
  if (typeof jobId !== 'string' || jobId === '') throw new InvalidOptionTypeError('jobId', `must be a non-empty string, got ${describe(jobId)}`);
  const job = await queue.getJob(jobId);
  if (!job) return 'not-found';
  const state = await job.getState();
  if (state === 'completed' || state === 'failed') return 'finished';
  if (state === 'unknown') return 'not-found';
  // remove() refuses a locked (running) job; then the running worker must be told.
  if (state !== 'active' && (await queue.remove(jobId)) === 1) return 'removed';
  const producer = new QueueEventsProducer(queue.name, { connection: queue.opts.connection, ...(queue.opts.prefix === undefined ? {} : { prefix: queue.opts.prefix }) });
  try {
    await producer.publishEvent({ eventName: CANCEL_EVENT, jobId, reason: String(reason).slice(0, 500) });
  } finally {
    await producer.close();
  }
  return 'signalled';
}
