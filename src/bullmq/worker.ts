/**
 * createQueueWorker(): a BullMQ Worker whose processor runs each job through
 * a hatchery pool, under the operator's profile.
 *
 * - The job names a command, arguments, stdin, a shorter timeout and a
 *   profile (job-data.ts); the profile supplies the sandbox, limits, env and
 *   caps (profiles.ts). Nothing in job data reaches a run() option any other
 *   way, and every call names its sandbox explicitly.
 * - A program that ran completes the job with its Result, whatever its exit
 *   code. A job that could not run fails: permanent causes with BullMQ's
 *   UnrecoverableError (no retry), transient ones with a plain Error (retried
 *   with the job's backoff). See failures.ts.
 * - Backpressure: the worker's own pool has maxConcurrency = concurrency and
 *   maxQueue = 0. BullMQ never hands the processor more than `concurrency`
 *   jobs, so every job gets a slot at once and none waits in this process.
 * - The attempt's event (job-events.ts) is published once BullMQ is done
 *   with the attempt: 'completed' only once the job is completed in Redis,
 *   its Result stored; a Result that could not be stored is a failure.
 * - Cancellation kills the tree: cancelRun() (a custom queue event every
 *   worker listens to), worker.cancelJob(), and a lost lock (the job was
 *   removed, or taken over after a stall) all abort the job's pool.run().
 * - drain(): stop taking jobs, let running ones finish for a grace period,
 *   then kill their trees and put the jobs back in the queue untouched.
 */
import { hostname } from 'node:os';
import { ErrorCode, isNotConnectionError, QueueEvents, UnrecoverableError, WaitingError, Worker, type Job, type QueueEventsListener, type Span } from 'bullmq';
import { integerOption, isPlainObject } from '../options/checks.js';
import { InvalidOptionTypeError } from '../errors.js';
import { createPool, type Pool, type PoolStats } from '../pool/pool.js';
import { MAX_CHILDREN } from '../protocol/wire.js';
import { classifyError, oneLine, toJobError, type QueueFailureCode } from './failures.js';
import { checkJobCaps, checkJobShape, JobDataError, type RunJobData } from './job-data.js';
import { publishQueueJob, type JobOutcome, type QueueJobEvent } from './job-events.js';
import { CANCEL_EVENT } from './producer.js';
import { forceDisconnect } from './force-disconnect.js';
import { pickProfile, type ResolvedPolicy, type ResolvedProfile } from './profiles.js';
import { cutToJsonBytes, MAX_STREAM_JSON_BYTES, type QueueRunResult } from './result.js';
import { setLongTimeout, type LongTimeout } from '../long-timeout.js';
import { QueueWorkerStatsRecorder, type QueueWorkerStats } from './stats.js';
import { normalizeQueueWorkerOptions, type NormalizedQueueWorkerOptions, type QueueWorkerOptions } from './worker-options.js';

type AbortKind = 'cancel' | 'lock-lost' | 'shutdown';

/**
 * One attempt at a job, in the processor. BullMQ can hand out the same job
 * id again while an attempt of it still runs here (its lock expired: the
 * event loop was blocked, or Redis was slow; a stall check put the job back
 * and this worker took it again), so the bookkeeping is per attempt, never
 * per job id.
 */
interface RunningJob {
  readonly jobId: string;
  /** BullMQ's token for this attempt: the value of the job's lock while the attempt holds it. */
  readonly token: string | undefined;
  readonly startedAt: number;
  readonly controller: AbortController;
  /** Why it was aborted; the first reason wins. */
  kind: AbortKind | undefined;
  reason: string;
}

/** The attempts in the processor now, by job id: usually one per id, for a moment two. */
class RunningJobs {
  readonly #byId = new Map<string, RunningJob[]>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(running: RunningJob): void {
    const list = this.#byId.get(running.jobId);
    if (list) list.push(running);
    else this.#byId.set(running.jobId, [running]);
    this.#size++;
  }

  delete(running: RunningJob): void {
    const list = this.#byId.get(running.jobId);
    const i = list ? list.indexOf(running) : -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.#byId.delete(running.jobId);
    this.#size--;
  }

  /** The attempts at `jobId`, oldest first. */
  of(jobId: string): readonly RunningJob[] {
    return this.#byId.get(jobId) ?? [];
  }

  all(): RunningJob[] {
    return [...this.#byId.values()].flat();
  }
}

interface CancelListener extends QueueEventsListener {
  [CANCEL_EVENT]: (args: { jobId?: unknown; reason?: unknown }, id: string) => void;
}

export interface DrainOptions {
  /** How long running jobs may take to finish before their trees are killed and the jobs requeued. Default 30000. */
  graceMs?: number;
}

/** A failure, decided: what the processor throws and what the event says. */
interface Failure {
  outcome: JobOutcome;
  code: QueueFailureCode | null;
  reason: string;
  error: Error;
}

/** One attempt's end: a Result, or a failure. */
type Attempt = { value: QueueRunResult } | { failure: Failure; profile: string | null };

/** What an attempt's event says. */
interface Ending {
  outcome: JobOutcome;
  code: QueueFailureCode | null;
  reason: string | null;
  profile: string | null;
  result: QueueRunResult | null;
  startedAt: number;
  runMs: number;
}

/** An attempt's ending, held until BullMQ is done with the attempt. */
interface PendingEnding {
  ending: Ending;
  /** BullMQ's 'completed' came: the job is completed, its Result stored. */
  stored: boolean;
  /** Why BullMQ could not store the Result. */
  notStored: Pick<Ending, 'outcome' | 'code' | 'reason'> | undefined;
}

/** BullMQ's refusals to move a job that is no longer the attempt's: removed, not active, its lock gone or someone else's. */
const JOB_NOT_OURS = new Set<unknown>([ErrorCode.JobNotExist, ErrorCode.JobLockNotExist, ErrorCode.JobNotInState, ErrorCode.JobLockMismatch]);

type JobProcessor = (job: Job<RunJobData, QueueRunResult>, token?: string, signal?: AbortSignal) => Promise<QueueRunResult>;

/** Cancels that arrived for jobs not (yet) running here: kept briefly, in case the job is just starting. */
const EARLY_CANCEL_TTL_MS = 60_000;
const EARLY_CANCEL_MAX = 10_000;
export const DEFAULT_DRAIN_GRACE_MS = 30_000;
/** How long closing waits for BullMQ's connections once the jobs are done. */
const CONNECTION_CLOSE_WAIT_MS = 10_000;
/** And once they were ended by force. */
const FORCED_CLOSE_WAIT_MS = 2000;

/** Whether `promise` settles within `ms` (never rejects). Its timer is cleared either way; `unref`: it does not hold the process meanwhile. */
async function settlesWithin(promise: Promise<unknown>, ms: number, unref = false): Promise<'settled' | 'expired'> {
  let timer: LongTimeout | undefined;
  // graceMs + a margin can pass Node's longest timer: setLongTimeout goes in steps.
  const expired = new Promise<'expired'>((resolve) => (timer = setLongTimeout(() => resolve('expired'), ms, unref)));
  try {
    return await Promise.race([promise.then(() => 'settled' as const, () => 'settled' as const), expired]);
  } finally {
    timer?.clear();
  }
}

function reasonText(reason: unknown, fallback: string): string {
  if (typeof reason === 'string' && reason !== '') return reason.slice(0, 500);
  if (reason instanceof Error && reason.message !== '') return reason.message.slice(0, 500);
  return fallback;
}

export class QueueWorker extends Worker<RunJobData, QueueRunResult> {
  /** The pool jobs run on. */
  readonly pool: Pool;
  /** The operator's profiles, resolved. */
  readonly policy: ResolvedPolicy;
  /** Resolves once the worker listens for cancels and takes jobs (or was closed first). */
  readonly ready: Promise<void>;
  readonly #queueName: string;
  readonly #ownsPool: boolean;
  readonly #running = new RunningJobs();
  /** Keyed by BullMQ's Job object: one per attempt, passed to the processor, the moves and the events alike. */
  readonly #endings = new WeakMap<Job<RunJobData, QueueRunResult>, PendingEnding>();
  readonly #earlyCancels = new Map<string, { reason: string; at: number }>();
  readonly #cancelEvents: QueueEvents | undefined;
  readonly #stats = new QueueWorkerStatsRecorder();
  #requeueAll = false;
  #drainTimers: NodeJS.Timeout[] = [];
  #draining: Promise<void> | undefined;
  #drained = false;
  #closingAll: Promise<void> | undefined;
  #onCloseRequested!: () => void;
  readonly #closeRequested = new Promise<void>((resolve) => (this.#onCloseRequested = resolve));

  /** @internal Use createQueueWorker(). */
  constructor(options: NormalizedQueueWorkerOptions) {
    // BullMQ passes an AbortSignal only to processors that declare three parameters.
    const route: { process?: JobProcessor } = {};
    const processor: JobProcessor = (job, token, signal) => (route.process as JobProcessor)(job, token, signal);
    super(options.queueName, processor, {
      connection: options.connection,
      concurrency: options.concurrency,
      autorun: false,
      lockDuration: options.lockDuration,
      stalledInterval: options.stalledInterval,
      maxStalledCount: options.maxStalledCount,
      name: `${options.name}@${hostname()}:${process.pid}`,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    });
    route.process = (job, token, signal) => this.#process(job, token, signal);
    this.#queueName = options.queueName;
    this.policy = options.policy;
    this.#ownsPool = options.pool === undefined;
    this.pool = options.pool ?? createOwnPool(options);

    // Without a listener, an 'error' event (a lost connection, a failed lock renewal) would throw.
    this.on('error', () => this.#stats.recordError());
    this.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) this.#abort(id, 'lock-lost', 'the job lock was lost (the job was removed, or another worker took it over after a stall)');
    });
    this.on('completed', (job) => {
      const pending = this.#endings.get(job);
      if (pending) pending.stored = true;
    });
    this.on('failed', (job, error) => {
      // Our processor reports its own failures; this catches BullMQ's stall limit.
      if (!/stalled more than allowable limit/.test(error.message)) return;
      this.#report(job, { outcome: 'failed', code: 'STALLED', reason: error.message, profile: null, result: null, startedAt: Date.now(), runMs: 0 });
    });

    if (options.cancelEvents) {
      this.#cancelEvents = new QueueEvents(options.queueName, {
        connection: options.connection,
        ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      });
      this.#cancelEvents.on('error', () => this.#stats.recordError());
      this.#cancelEvents.on<CancelListener>(CANCEL_EVENT, (args: { jobId?: unknown; reason?: unknown }) => {
        if (typeof args.jobId !== 'string' || args.jobId === '' || args.jobId.length > 256) return;
        this.#abort(args.jobId, 'cancel', reasonText(args.reason, 'cancelled'));
      });
    }
    this.ready = this.#start();
  }

  /** Outcomes, failures by code, durations; and the pool's own stats. */
  stats(): QueueWorkerStats & { pool: PoolStats } {
    return { ...this.#stats.snapshot(this.#running.size), pool: this.pool.stats() };
  }

  /**
   * Stop taking jobs; let running ones finish within graceMs; then kill their
   * trees and move those jobs back to the queue (not failed, attempts
   * untouched) for another worker; close the pool if it is the worker's own.
   * Calling it again with a shorter grace period shortens the wait.
   *
   * BullMQ cannot close its connections while Redis is unreachable (it waits
   * for a connection that does not come); then, CONNECTION_CLOSE_WAIT_MS
   * after the grace period, drain() kills every job's tree, closes its own
   * pool and rejects, so a process can still exit.
   */
  drain(options: DrainOptions = {}): Promise<void> {
    if (!isPlainObject(options)) return Promise.reject(new InvalidOptionTypeError('options', 'must be an object'));
    let graceMs: number;
    try {
      graceMs = integerOption(options.graceMs, 'graceMs', { min: 0, max: 2 ** 31 - 1 }) ?? DEFAULT_DRAIN_GRACE_MS;
    } catch (e) {
      return Promise.reject(e);
    }
    // Once closed there is nothing left to requeue: a timer armed then would only hold the process for graceMs.
    if (!this.#drained) this.#drainTimers.push(setTimeout(() => this.#requeueRunning(graceMs), graceMs));
    this.#draining ??= this.close().finally(() => {
      this.#drained = true;
      for (const t of this.#drainTimers) clearTimeout(t);
      this.#drainTimers = [];
    });
    return this.#closedWithin(this.#draining, graceMs + CONNECTION_CLOSE_WAIT_MS);
  }

  /**
   * BullMQ's close(), then the cancel listener and the worker's own pool.
   * Without `force` it waits for running jobs however long they take (drain()
   * bounds that); with `force` it does not wait, the pool kills their trees,
   * and BullMQ's stall recovery hands the jobs to another worker later.
   */
  override close(force = false): Promise<void> {
    this.#onCloseRequested();
    this.#closingAll ??= (async () => {
      try {
        await super.close(force);
      } finally {
        // QueueEvents.close() waits for a connection that may never come: bounded, by a timer cleared once it returns.
        if (this.#cancelEvents) await settlesWithin(this.#cancelEvents.close(), CONNECTION_CLOSE_WAIT_MS, true);
        if (this.#ownsPool) await this.pool.close({ graceMs: 0 });
      }
    })();
    return this.#closingAll;
  }

  async #closedWithin(closing: Promise<void>, ms: number): Promise<void> {
    if ((await settlesWithin(closing, ms)) === 'settled') return closing;
    // Redis is unreachable: end the clients so BullMQ's close() can return, and kill every tree.
    this.#requeueRunning(0);
    forceDisconnect(this);
    forceDisconnect(this.#cancelEvents);
    await settlesWithin(closing, FORCED_CLOSE_WAIT_MS);
    if (this.#ownsPool) await this.pool.close({ graceMs: 0 });
    throw new Error(`the worker did not close within ${ms} ms: BullMQ could not close its Redis connections (is Redis reachable?), so they were ended; every job's process tree was killed`);
  }

  // ---- start -----------------------------------------------------------------

  async #start(): Promise<void> {
    const report = (e: unknown): void => {
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
    };
    try {
      // Listen for cancels before taking a job, so no cancel of a job we run can pass unseen.
      if (this.#cancelEvents) await Promise.race([this.#cancelEvents.waitUntilReady(), this.#closeRequested]);
      if (this.closing) return;
      this.run().catch(report);
      await Promise.race([this.waitUntilReady(), this.#closeRequested]);
    } catch (e) {
      // Closed while starting, or the connection failed for good: 'error' says which; ready still resolves.
      if (!this.closing) report(e);
    }
  }

  // ---- aborts ------------------------------------------------------------------

  /** Abort every attempt at `jobId` running here. */
  #abort(jobId: string, kind: AbortKind, reason: string): void {
    const attempts = this.#running.of(jobId);
    if (attempts.length === 0) {
      if (kind === 'cancel') this.#rememberCancel(jobId, reason);
      return;
    }
    for (const running of attempts) this.#abortAttempt(running, kind, reason);
  }

  #abortAttempt(running: RunningJob, kind: AbortKind, reason: string): void {
    if (running.kind === undefined) {
      running.kind = kind;
      running.reason = reason;
    }
    running.controller.abort(new Error(`${kind}: ${reason}`));
  }

  #rememberCancel(jobId: string, reason: string): void {
    const now = Date.now();
    for (const [id, entry] of this.#earlyCancels) {
      if (now - entry.at < EARLY_CANCEL_TTL_MS && this.#earlyCancels.size < EARLY_CANCEL_MAX) break;
      this.#earlyCancels.delete(id);
    }
    this.#earlyCancels.set(jobId, { reason, at: now });
  }

  #takeEarlyCancel(jobId: string): string | undefined {
    const entry = this.#earlyCancels.get(jobId);
    if (!entry) return undefined;
    this.#earlyCancels.delete(jobId);
    return Date.now() - entry.at < EARLY_CANCEL_TTL_MS ? entry.reason : undefined;
  }

  #requeueRunning(graceMs: number): void {
    this.#requeueAll = true;
    for (const running of this.#running.all()) {
      this.#abortAttempt(running, 'shutdown', `the worker shut down and its ${graceMs} ms grace period ended`);
    }
  }

  /** What an aborted job becomes. A requeue moves the job back to wait here, before BullMQ sees the error. */
  async #abortFailure(running: RunningJob, job: Job<RunJobData, QueueRunResult>, token: string | undefined): Promise<Failure> {
    switch (running.kind) {
      case 'cancel':
        return { outcome: 'failed', code: 'CANCELLED', reason: running.reason, error: new UnrecoverableError(`CANCELLED: ${running.reason}`) };
      case 'lock-lost': {
        // The job is no longer ours to finish: BullMQ's move to failed will be refused for the lost lock.
        const error = new Error(`LOCK_LOST: ${running.reason}`);
        error.name = 'HatcheryJobError';
        return { outcome: 'failed', code: 'LOCK_LOST', reason: running.reason, error };
      }
      default: {
        try {
          await job.moveToWait(token);
          // WaitingError: BullMQ leaves a job it did not move itself alone.
          return { outcome: 'requeued', code: null, reason: running.reason, error: new WaitingError() };
        } catch (e) {
          const reason = `${running.reason}; moving it back to the queue failed (${reasonText(e, 'unknown error')}), so it is retried`;
          const error = new Error(`CLOSED: ${reason}`);
          error.name = 'HatcheryJobError';
          return { outcome: this.#retryOutcome(job), code: 'CLOSED', reason, error };
        }
      }
    }
  }

  #retryOutcome(job: Job<RunJobData, QueueRunResult>): JobOutcome {
    return job.attemptsMade + 1 < (job.opts.attempts ?? 1) ? 'retrying' : 'failed';
  }

  // ---- BullMQ's side of an attempt -----------------------------------------------------

  /**
   * BullMQ's processJob: the processor, then the move to completed (which
   * stores the Result) or failed. Only then is the attempt's event published,
   * so that whoever reacts to it finds the job as the event says.
   *
   * And should a later attempt at the same job run here, it gets its lock
   * renewal back: BullMQ keys renewals by job id, and an attempt that ends
   * stops them for the job, whichever attempt holds its lock now.
   */
  override async processJob(
    job: Job<RunJobData, QueueRunResult>,
    token: string,
    fetchNextCallback?: () => boolean,
  ): Promise<void | Job<RunJobData, QueueRunResult>> {
    try {
      return await super.processJob(job, token, fetchNextCallback);
    } finally {
      this.#renewLockOfLatest(job.id ?? '', token);
      this.#publishEnding(job);
    }
  }

  /**
   * BullMQ's move to completed, which stores the Result. When it fails with
   * anything but a lost connection (which BullMQ retries itself), the attempt
   * did not complete the job: the job is no longer this attempt's (LOCK_LOST),
   * or Redis refused the Result (RESULT_NOT_STORED, thrown on for BullMQ to
   * fail or retry the job like any transient failure).
   */
  protected override async handleCompleted(
    result: QueueRunResult,
    job: Job<RunJobData, QueueRunResult>,
    token: string,
    fetchNextCallback?: () => boolean,
    span?: Span,
  ): Promise<Job<RunJobData, QueueRunResult>> {
    try {
      return await super.handleCompleted(result, job, token, fetchNextCallback, span);
    } catch (e) {
      const pending = this.#endings.get(job);
      if (!pending || pending.stored || !(e instanceof Error) || !isNotConnectionError(e)) throw e;
      const reason = oneLine(e.message).slice(0, 500) || e.name;
      if (JOB_NOT_OURS.has((e as { code?: unknown }).code)) {
        pending.notStored = { outcome: 'failed', code: 'LOCK_LOST', reason: `the job lock was lost before the Result could be stored: ${reason}` };
        throw e;
      }
      const permanent = e instanceof UnrecoverableError || e.name === 'UnrecoverableError';
      pending.notStored = { outcome: permanent ? 'failed' : this.#retryOutcome(job), code: 'RESULT_NOT_STORED', reason };
      throw toJobError({ code: 'RESULT_NOT_STORED', permanent, message: reason });
    }
  }

  /** Publish the attempt's event, now that BullMQ is done with it. */
  #publishEnding(job: Job<RunJobData, QueueRunResult>): void {
    const pending = this.#endings.get(job);
    if (!pending) return;
    this.#endings.delete(job);
    const { ending } = pending;
    if (ending.outcome !== 'completed' || pending.stored) {
      this.#report(job, ending);
      return;
    }
    // The program ran, but its Result is not in Redis: the attempt did not complete the job.
    const lost = pending.notStored ?? {
      outcome: 'retrying' as const,
      code: 'CLOSED' as const,
      reason: 'the worker closed before the Result could be stored; the job stays active until a stall check hands it out again',
    };
    this.#report(job, { ...ending, ...lost, result: null });
  }

  /**
   * The latest attempt at `jobId` here holds the job's lock, unless it was told
   * it lost it: renew it again (from BullMQ's next round), and let
   * worker.cancelJob() reach it as before.
   */
  #renewLockOfLatest(jobId: string, endedToken: string): void {
    const attempts = this.#running.of(jobId);
    const latest = attempts[attempts.length - 1];
    if (latest?.token === undefined || latest.token === endedToken || latest.kind === 'lock-lost') return;
    const controller = this.lockManager.trackJob(jobId, latest.token, latest.startedAt, true);
    controller?.signal.addEventListener('abort', () => this.#abortAttempt(latest, 'cancel', reasonText(controller.signal.reason, 'cancelled')), { once: true });
  }

  // ---- the processor -------------------------------------------------------------

  async #process(job: Job<RunJobData, QueueRunResult>, token: string | undefined, signal: AbortSignal | undefined): Promise<QueueRunResult> {
    const startedAt = Date.now();
    const jobId = job.id ?? '';
    const running: RunningJob = { jobId, token, startedAt, controller: new AbortController(), kind: undefined, reason: '' };
    // The job's lock holds this attempt's token now: an earlier attempt here (the job stalled and was taken again) can no longer finish it.
    if (jobId !== '') {
      for (const earlier of this.#running.of(jobId)) {
        this.#abortAttempt(earlier, 'lock-lost', 'the job lock was lost (the job stalled and was taken again, by this worker)');
      }
    }
    this.#running.add(running);
    // worker.cancelJob() (BullMQ's own API) aborts this signal.
    const onBullAbort = (): void => this.#abortAttempt(running, 'cancel', reasonText(signal?.reason, 'cancelled'));
    signal?.addEventListener('abort', onBullAbort, { once: true });
    if (signal?.aborted) onBullAbort();
    const early = this.#takeEarlyCancel(jobId);
    if (early !== undefined) this.#abortAttempt(running, 'cancel', early);
    if (this.#requeueAll) this.#abortAttempt(running, 'shutdown', 'the worker shut down before the job could start');

    let attempt: Attempt;
    try {
      attempt = await this.#attempt(job, token, running, startedAt);
    } finally {
      signal?.removeEventListener('abort', onBullAbort);
      this.#running.delete(running);
    }
    // The event waits for BullMQ's move (processJob).
    if ('value' in attempt) {
      const { value } = attempt;
      const ending: Ending = { outcome: 'completed', code: null, reason: null, profile: value.profile, result: value, startedAt, runMs: value.timings.runMs };
      this.#endings.set(job, { ending, stored: false, notStored: undefined });
      return value;
    }
    const { failure, profile } = attempt;
    const ending: Ending = { outcome: failure.outcome, code: failure.code, reason: failure.reason, profile, result: null, startedAt, runMs: Date.now() - startedAt };
    this.#endings.set(job, { ending, stored: false, notStored: undefined });
    throw failure.error;
  }

  /** Check the job, run it, and decide what it became. Never throws. */
  async #attempt(job: Job<RunJobData, QueueRunResult>, token: string | undefined, running: RunningJob, startedAt: number): Promise<Attempt> {
    let profile: ResolvedProfile | null = null;
    try {
      const checked = checkJobShape(job.data);
      const picked = pickProfile(this.policy, checked.profile);
      if (typeof picked === 'string') throw new JobDataError('profile', picked);
      profile = picked;
      checkJobCaps(checked, profile.caps, profile.name);
      if (running.kind !== undefined) return { failure: await this.#abortFailure(running, job, token), profile: profile.name };
      const runStart = performance.now();
      const result = await this.pool.run(checked.command, checked.args, {
        ...profile.runOptions,
        timeoutMs: checked.timeoutMs ?? profile.runOptions.timeoutMs,
        ...(checked.input === undefined ? {} : { input: checked.input }),
        signal: running.controller.signal,
        encoding: 'utf8',
      });
      const runMs = Math.round((performance.now() - runStart) * 100) / 100;
      // An abort that came after the program had ended does not undo its Result.
      if (result.aborted) return { failure: await this.#abortFailure(running, job, token), profile: profile.name };
      // The output is the program's: what JSON's escapes would blow up past what Redis and V8 take is cut.
      const stdout = cutToJsonBytes(result.stdout, MAX_STREAM_JSON_BYTES);
      const stderr = cutToJsonBytes(result.stderr, MAX_STREAM_JSON_BYTES);
      return {
        value: {
          ...result,
          stdout,
          stderr,
          truncated: {
            stdout: result.truncated.stdout || stdout.length < result.stdout.length,
            stderr: result.truncated.stderr || stderr.length < result.stderr.length,
          },
          profile: profile.name,
          timings: {
            queuedMs: Math.max(0, (job.processedOn ?? startedAt) - job.timestamp),
            runMs,
            wallMs: result.wallMs,
            userCpuMs: result.userCpuMs,
            sysCpuMs: result.sysCpuMs,
          },
        },
      };
    } catch (e) {
      // Aborted before or while starting (ABORTED, or a spawn cut short): the abort decides, unless the job was refused.
      if (running.kind !== undefined && !(e instanceof JobDataError)) {
        return { failure: await this.#abortFailure(running, job, token), profile: profile?.name ?? null };
      }
      const classified = classifyError(e);
      const failure: Failure = {
        outcome: classified.permanent ? 'failed' : this.#retryOutcome(job),
        code: classified.code,
        reason: classified.message,
        error: toJobError(classified),
      };
      return { failure, profile: profile?.name ?? null };
    }
  }

  #report(job: Job<RunJobData, QueueRunResult> | undefined, what: Ending): void {
    const result = what.result;
    const data: unknown = job?.data;
    const command = isPlainObject(data) && typeof data.command === 'string' ? data.command.slice(0, 120) : '';
    const event: QueueJobEvent = {
      queue: this.#queueName,
      workerId: this.id,
      jobId: job?.id ?? '',
      jobName: (job?.name ?? '').slice(0, 200),
      attempt: (job?.attemptsMade ?? 0) + 1,
      maxAttempts: job?.opts.attempts ?? 1,
      profile: what.profile,
      outcome: what.outcome,
      code: what.code,
      reason: what.reason,
      exitCode: result?.exitCode ?? null,
      signal: result?.signal ?? null,
      timedOut: result?.timedOut ?? false,
      limit: result?.limit ?? null,
      truncated: result !== null && (result.truncated.stdout || result.truncated.stderr),
      queuedMs: job ? Math.max(0, (job.processedOn ?? what.startedAt) - job.timestamp) : 0,
      runMs: what.runMs,
      command,
    };
    this.#stats.record(event);
    publishQueueJob(() => event);
  }
}

/** The worker's own pool: one slot per job BullMQ may hand it, and no local queue. */
function createOwnPool(options: NormalizedQueueWorkerOptions): Pool {
  const profiles = [...options.policy.profiles.values()];
  const only = profiles.length === 1 ? (profiles[0] as ResolvedProfile) : undefined;
  return createPool({
    minZygotes: 1,
    maxZygotes: Math.max(4, Math.ceil(options.concurrency / MAX_CHILDREN)),
    maxConcurrency: options.concurrency,
    maxQueue: 0,
    // One profile: the pool's ceiling is that profile, a second guard behind the explicit per-call sandbox.
    // Several: each call carries its profile's whole sandbox and limits, and the pool adds no ceiling.
    ...(only
      ? { sandbox: only.runOptions.sandbox, ...(only.runOptions.limits === undefined ? {} : { limits: only.runOptions.limits }) }
      : { sandbox: false as const }),
  });
}

/**
 * A running BullMQ Worker for `queueName` whose jobs run in hatchery
 * sandboxes under the operator's policy. Options are checked here (an
 * invalid profile throws INVALID_OPTION naming it).
 */
export function createQueueWorker(queueName: string, options: QueueWorkerOptions): QueueWorker {
  return new QueueWorker(normalizeQueueWorkerOptions(queueName, options));
}
