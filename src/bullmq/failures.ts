/**
 * How a job that could not produce a Result fails in BullMQ terms.
 *
 * Permanent failures throw BullMQ's UnrecoverableError, so the job fails at
 * once whatever its `attempts`; transient ones throw a plain Error, so BullMQ
 * retries them with the job's backoff. Every failure reason starts with a
 * stable code (`JOB_REFUSED: job data has the key "sandbox", ...`), which
 * failureCodeOf() reads back on the producer's side.
 *
 * A program that ran is never a failure: a non-zero exit, a signal, a timeout
 * or a cut output completes the job with a Result that says so.
 */
import { UnrecoverableError } from 'bullmq';
import { isHatcheryError, type HatcheryErrorCode } from '../errors.js';
import { JobDataError } from './job-data.js';

export type QueueFailureCode =
  /** The job data broke the rules or named a profile the worker does not have (permanent). */
  | 'JOB_REFUSED'
  /** Cancelled by cancelRun() or worker.cancelJob() while running; the tree was killed (permanent). */
  | 'CANCELLED'
  /** The job's lock was lost while it ran (removed, or taken over after a stall): the tree was killed, or its Result could not be stored. */
  | 'LOCK_LOST'
  /** The program ran, but Redis refused to store its Result (a read-only replica after a failover, ...): the job did not complete (transient). */
  | 'RESULT_NOT_STORED'
  /** BullMQ failed the job after it stalled more than maxStalledCount times. */
  | 'STALLED'
  /** An unexpected error in the worker (transient). */
  | 'INTERNAL'
  | HatcheryErrorCode;

export interface Classified {
  code: QueueFailureCode;
  permanent: boolean;
  message: string;
}

/** exec failures that another attempt cannot fix: the program is not there or may not be run. */
const PERMANENT_EXEC_ERRNOS = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ENOEXEC', 'ELOOP', 'ENAMETOOLONG', 'EISDIR', 'E2BIG']);

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Sort an error thrown while running a job into a code and permanent/transient. */
export function classifyError(error: unknown): Classified {
  if (error instanceof JobDataError) return { code: 'JOB_REFUSED', permanent: true, message: oneLine(error.message) };
  if (isHatcheryError(error)) {
    const message = oneLine(error.message);
    switch (error.code) {
      case 'INVALID_OPTION':
      case 'SANDBOX_UNAVAILABLE':
        return { code: error.code, permanent: true, message };
      case 'EXEC_FAILED': {
        const errno = 'errnoName' in error ? error.errnoName : undefined;
        const stage = 'stage' in error ? error.stage : undefined;
        const permanent = stage === 'exec' && errno !== undefined && PERMANENT_EXEC_ERRNOS.has(errno);
        return { code: 'EXEC_FAILED', permanent, message };
      }
      case 'ABORTED':
        return { code: 'CANCELLED', permanent: true, message };
      default:
        // ZYGOTE_DIED, QUEUE_FULL, QUEUE_TIMEOUT, CLOSED, PROTOCOL: another attempt may well succeed.
        return { code: error.code, permanent: false, message };
    }
  }
  return { code: 'INTERNAL', permanent: false, message: oneLine(error instanceof Error ? error.message : String(error)) };
}

/** The error a processor throws for BullMQ: UnrecoverableError when permanent. */
export function toJobError(failure: Classified): Error {
  const text = `${failure.code}: ${failure.message}`;
  if (failure.permanent) return new UnrecoverableError(text);
  const error = new Error(text);
  error.name = 'HatcheryJobError';
  return error;
}

/**
 * The stable code at the start of a failed job's reason (`job.failedReason`),
 * or null when the reason is not one of ours.
 */
export function failureCodeOf(failedReason: string | undefined | null): QueueFailureCode | null {
  const m = /^([A-Z][A-Z_]+): /.exec(failedReason ?? '');
  if (m) return m[1] as QueueFailureCode;
  if (failedReason && /stalled more than allowable limit/.test(failedReason)) return 'STALLED';
  return null;
}
