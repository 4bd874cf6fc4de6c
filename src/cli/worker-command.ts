/**
 * `hatchery worker --redis URL --queue NAME`: a BullMQ worker that runs each
 * job in a hatchery sandbox under this machine's profiles, until SIGTERM or
 * SIGINT; then it drains. One line per job (or one JSON object with --json).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { parseArgs } from 'node:util';
import { isHatcheryError } from '../errors.js';
import { createPool } from '../pool/pool.js';
import { loadPolicyFile, PolicyFileError, resolvePolicy, type QueuePolicy, type QueueProfile, type ResolvedPolicy, type ResolvedProfile } from '../bullmq/profiles.js';
import { QUEUE_JOB_CHANNEL, type QueueJobEvent } from '../bullmq/job-events.js';
import {
  DEFAULT_LOCK_DURATION_MS,
  DEFAULT_MAX_STALLED_COUNT,
  DEFAULT_STALLED_INTERVAL_MS,
  MAX_QUEUE_CONCURRENCY,
} from '../bullmq/worker-options.js';
import type { QueueWorker } from '../bullmq/worker.js';
import { UsageError } from './run-command.js';

const DEFAULT_GRACE_MS = 30_000;

export const workerHelp = `Usage: hatchery worker --redis URL --queue NAME [options]

Takes jobs from a BullMQ queue and runs each one in a hatchery sandbox under
this machine's profiles; a job names only its command, args, input, a shorter
timeout and a profile (docs/scale-out.md). Runs until SIGTERM or SIGINT, then
drains: it takes no more jobs, lets running ones finish within --grace-ms,
then kills their process trees and puts those jobs back in the queue. A second
signal ends the grace period at once.

Connection:
  --redis URL                 redis://[USER:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS.
                              Default: $HATCHERY_REDIS_URL (keeps a password out of ps)
  --queue NAME                the queue to take jobs from (required)
  --prefix PREFIX             BullMQ key prefix (default bull)

Jobs:
  --concurrency N             jobs at once; the pool gets exactly N slots and no
                              local queue (default: the CPU count, ${availableParallelism()} here)
  --profile FILE              the operator's policy: a JSON file of named profiles
                              (sandbox, limits, timeout, size caps). Default: one
                              profile with every default (default sandbox, 60 s
                              timeout, 1 MiB input and output caps)
  --check                     check the profile file, run /bin/true under each
                              profile to prove this machine enforces it, print the
                              profiles, and exit (no Redis)

Reliability (see docs/scale-out.md for why these defaults):
  --lock-ms MS                a job's lock lasts MS and is renewed every MS/2;
                              a dead worker's jobs are taken over once it lapses
                              (default ${DEFAULT_LOCK_DURATION_MS})
  --stalled-interval-ms MS    how often to look for lapsed locks (default ${DEFAULT_STALLED_INTERVAL_MS})
  --max-stalled-count N       stalls a job survives before it fails (default ${DEFAULT_MAX_STALLED_COUNT})
  --grace-ms MS               how long running jobs may finish after SIGTERM/SIGINT
                              (default ${DEFAULT_GRACE_MS})

Output:
  --json                      one JSON object per line (events: ready, job, error,
                              draining, stopped)
  -h, --help                  show this help

Exit codes: 0 after a clean drain; 125 for a bad command line, profile file or
a profile this machine cannot enforce (one line 'hatchery: CODE: reason' on
stderr); 1 when the worker stopped on its own, or could not close its Redis
connections (Redis unreachable) within --grace-ms + 10 s of the signal.
`;

const flagSpec = {
  redis: { type: 'string' },
  queue: { type: 'string' },
  prefix: { type: 'string' },
  concurrency: { type: 'string' },
  profile: { type: 'string' },
  check: { type: 'boolean' },
  'lock-ms': { type: 'string' },
  'stalled-interval-ms': { type: 'string' },
  'max-stalled-count': { type: 'string' },
  'grace-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ParsedWorker {
  redisUrl: string;
  queue: string;
  prefix: string | undefined;
  concurrency: number;
  profileFile: string | undefined;
  check: boolean;
  lockMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  graceMs: number;
  json: boolean;
}

function integerFlag(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} expects an integer between ${min} and ${max}, got '${value}'`);
  }
  return n;
}

/** argv (after `worker`) -> settings. Exported so tests can prove the mapping. */
export function parseWorkerArgs(argv: readonly string[], environment: NodeJS.ProcessEnv = process.env): ParsedWorker | 'help' {
  const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: flagSpec });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const check = values.check === true;
  const redisUrl = values.redis ?? environment.HATCHERY_REDIS_URL ?? '';
  if (!check) {
    if (redisUrl === '') throw new UsageError('missing --redis URL (or $HATCHERY_REDIS_URL)');
    let url: URL;
    try {
      url = new URL(redisUrl);
    } catch {
      throw new UsageError(`--redis expects a URL like redis://HOST:PORT, got '${redactUrl(redisUrl)}'`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--redis expects a redis:// or rediss:// URL, got '${redactUrl(redisUrl)}'`);
    if (values.queue === undefined || values.queue === '') throw new UsageError('missing --queue NAME');
  }
  return {
    redisUrl,
    queue: values.queue ?? '',
    prefix: values.prefix,
    concurrency: integerFlag('concurrency', values.concurrency, Math.max(1, availableParallelism()), 1, MAX_QUEUE_CONCURRENCY),
    profileFile: values.profile,
    check,
    lockMs: integerFlag('lock-ms', values['lock-ms'], DEFAULT_LOCK_DURATION_MS, 100, 2 ** 31 - 1),
    stalledIntervalMs: integerFlag('stalled-interval-ms', values['stalled-interval-ms'], DEFAULT_STALLED_INTERVAL_MS, 100, 2 ** 31 - 1),
    maxStalledCount: integerFlag('max-stalled-count', values['max-stalled-count'], DEFAULT_MAX_STALLED_COUNT, 0, 1000),
    graceMs: integerFlag('grace-ms', values['grace-ms'], DEFAULT_GRACE_MS, 0, 2 ** 31 - 1),
    json: values.json === true,
  };
}

/** The URL without its password, for logs. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return text.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** Writes log lines: human text, or one JSON object per line. */
export class Log {
  readonly #json: boolean;
  readonly #lastError = new Map<string, { at: number; suppressed: number }>();

  constructor(json: boolean) {
    this.#json = json;
  }

  emit(event: string, text: string, fields: Record<string, unknown> = {}): void {
    const line = this.#json ? JSON.stringify({ time: new Date().toISOString(), event, ...fields }) : `hatchery worker: ${text}`;
    process.stdout.write(`${line}\n`);
  }

  /** The same error at most once per 10 s (a Redis outage repeats it many times a second). */
  error(raw: string): void {
    // Queue errors can carry what a producer chose (a job id): no control characters reach the terminal.
    const message = printable(raw);
    const now = Date.now();
    const seen = this.#lastError.get(message);
    if (seen && now - seen.at < 10_000) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.#lastError.set(message, { at: now, suppressed: 0 });
    if (this.#lastError.size > 100) this.#lastError.delete(this.#lastError.keys().next().value as string);
    const more = suppressed > 0 ? ` (and ${suppressed} more like it)` : '';
    this.emit('error', `error: ${message}${more}`, { message, suppressed });
  }
}

function fatal(code: string, message: string): number {
  process.stderr.write(`hatchery: ${code}: ${message.replace(/\s*\n\s*/g, ' ').trim()}\n`);
  return 125;
}

function describeProfiles(policy: ResolvedPolicy): Array<Record<string, unknown>> {
  return [...policy.profiles.values()].map((p) => ({
    name: p.name,
    default: p.name === policy.defaultProfile,
    sandboxed: p.sandboxed,
    timeoutMs: p.runOptions.timeoutMs,
    maxOutputBytes: p.runOptions.maxOutputBytes,
    maxInputBytes: p.caps.maxInputBytes,
    limits: p.runOptions.limits ?? {},
    commands: p.caps.commands,
  }));
}

function profileLine(p: ResolvedProfile, isDefault: boolean): string {
  const limits = Object.entries(p.runOptions.limits ?? {}).map(([k, v]) => `${k} ${String(v)}`);
  return [
    `profile ${p.name}${isDefault ? ' (default)' : ''}: sandbox ${p.sandboxed ? 'on' : 'OFF'}`,
    `timeout ${p.runOptions.timeoutMs} ms`,
    `output <= ${p.runOptions.maxOutputBytes ?? 0} bytes per stream`,
    `input <= ${p.caps.maxInputBytes} bytes`,
    `limits: ${limits.length === 0 ? 'none' : limits.join(', ')}`,
    p.caps.commands === null ? 'any command' : `commands: ${p.caps.commands.join(', ')}`,
  ].join(', ');
}

const TRUE_BINARY = ['/bin/true', '/usr/bin/true'].find((p) => existsSync(p)) ?? 'true';

/**
 * Run /bin/true under every profile. A profile this machine cannot enforce
 * (SANDBOX_UNAVAILABLE in strict mode, say) would fail every job it gets
 * after taking it from the queue; refusing to start leaves them to machines
 * that can.
 */
async function probeProfiles(policy: ResolvedPolicy): Promise<{ profile: string; code: string; message: string } | null> {
  const pool = createPool({ minZygotes: 0, maxConcurrency: 1, sandbox: false });
  try {
    for (const profile of policy.profiles.values()) {
      try {
        const result = await pool.run(TRUE_BINARY, [], { ...profile.runOptions, timeoutMs: 10_000 });
        if (result.exitCode !== 0) return { profile: profile.name, code: 'EXEC_FAILED', message: `${TRUE_BINARY} exited with ${result.exitCode ?? result.signal} under it` };
      } catch (e) {
        const code = isHatcheryError(e) ? e.code : 'INTERNAL';
        return { profile: profile.name, code, message: e instanceof Error ? e.message : String(e) };
      }
    }
    return null;
  } finally {
    await pool.close({ graceMs: 0 });
  }
}

/** bullmq and ioredis are optional peer dependencies: say which one is missing. */
function missingPeer(): string | null {
  const here = createRequire(import.meta.url);
  let bullmqEntry: string;
  try {
    bullmqEntry = here.resolve('bullmq');
  } catch {
    return 'bullmq';
  }
  try {
    createRequire(bullmqEntry).resolve('ioredis');
  } catch {
    return 'ioredis';
  }
  return null;
}

/** Producer-chosen text (job ids, reasons) made safe for a terminal or a line-based log: no control characters. */
export function printable(text: string, max = 500): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function jobLine(raw: QueueJobEvent): string {
  const e = { ...raw, jobId: printable(raw.jobId, 100), reason: raw.reason === null ? null : printable(raw.reason) };
  const tag = e.profile === null ? '' : ` [${e.profile}]`;
  const timing = `${Math.round(e.runMs)} ms (queued ${Math.round(e.queuedMs)} ms)`;
  switch (e.outcome) {
    case 'completed': {
      const how = e.exitCode !== null ? `exit ${e.exitCode}` : `signal ${e.signal ?? '?'}`;
      const limit = e.limit === null ? '' : `, ${e.limit} limit`;
      return `job ${e.jobId} completed: ${how}${limit}, ${timing}${tag}`;
    }
    case 'retrying':
      return `job ${e.jobId} will be retried (attempt ${e.attempt} of ${e.maxAttempts} failed): ${e.code}: ${e.reason}, ${timing}${tag}`;
    case 'requeued':
      return `job ${e.jobId} requeued: ${e.reason}${tag}`;
    default:
      return `job ${e.jobId} failed: ${e.code}: ${e.reason}, ${timing}${tag}`;
  }
}

export async function workerCommand(argv: readonly string[]): Promise<number> {
  let parsed: ParsedWorker | 'help';
  try {
    parsed = parseWorkerArgs(argv);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      return fatal('USAGE', `${e.message} (see hatchery worker --help)`);
    }
    throw e;
  }
  if (parsed === 'help') {
    process.stdout.write(workerHelp);
    return 0;
  }
  const log = new Log(parsed.json);

  let policy: QueuePolicy | QueueProfile | undefined;
  let resolved: ResolvedPolicy;
  try {
    if (parsed.profileFile !== undefined) ({ policy, resolved } = loadPolicyFile(parsed.profileFile));
    else resolved = resolvePolicy(undefined);
  } catch (e) {
    if (e instanceof PolicyFileError) return fatal(e.code, e.message);
    if (isHatcheryError(e)) return fatal(e.code, e.message);
    throw e;
  }
  const unusable = await probeProfiles(resolved);
  if (unusable) return fatal(unusable.code, `profile ${JSON.stringify(unusable.profile)} cannot run on this machine: ${unusable.message}`);
  const profiles = describeProfiles(resolved);
  for (const p of profiles) {
    if (!p.sandboxed) log.emit('warning', `warning: profile ${p.name} turns the sandbox off: its jobs run unconfined`, { message: `profile ${String(p.name)} has sandbox: false`, profile: p.name });
  }
  if (parsed.check) {
    if (parsed.json) log.emit('check', '', { ok: true, profiles, defaultProfile: resolved.defaultProfile });
    else for (const p of resolved.profiles.values()) process.stdout.write(`${profileLine(p, p.name === resolved.defaultProfile)}\n`);
    return 0;
  }

  const peer = missingPeer();
  if (peer) return fatal('USAGE', `hatchery worker needs the optional package '${peer}': npm install bullmq ioredis`);
  const { createQueueWorker } = await import('../bullmq/worker.js');

  let worker: QueueWorker;
  try {
    worker = createQueueWorker(parsed.queue, {
      connection: { url: parsed.redisUrl },
      concurrency: parsed.concurrency,
      ...(policy === undefined ? {} : { policy }),
      ...(parsed.prefix === undefined ? {} : { prefix: parsed.prefix }),
      lockDuration: parsed.lockMs,
      stalledInterval: parsed.stalledIntervalMs,
      maxStalledCount: parsed.maxStalledCount,
    });
  } catch (e) {
    if (isHatcheryError(e)) return fatal(e.code, e.message);
    throw e;
  }
  const redis = redactUrl(parsed.redisUrl);
  const workerId = worker.id;

  const onJob = (message: unknown): void => {
    const e = message as QueueJobEvent;
    if (e.workerId !== workerId) return;
    const s = worker.stats();
    const totals = { ...s.jobs, running: s.running };
    const summary = `${totals.completed} completed, ${totals.failed} failed, ${totals.retrying} retried, ${totals.requeued} requeued, ${totals.running} running`;
    log.emit('job', `${jobLine(e)} | ${summary}`, { ...e, totals });
  };
  subscribe(QUEUE_JOB_CHANNEL, onJob);
  worker.on('error', (e) => log.error(e.message));

  let stopping = false;
  let closedOnItsOwn = false;
  let failedToClose = false;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  worker.once('closed', () => {
    if (stopping) return;
    closedOnItsOwn = true;
    resolveStopped();
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) {
      stopping = true;
      const running = worker.stats().running;
      log.emit('draining', `${signal}: draining: no new jobs; ${running} running may finish within ${parsed.graceMs} ms`, { signal, running, graceMs: parsed.graceMs });
      worker.drain({ graceMs: parsed.graceMs }).then(resolveStopped, (e: unknown) => {
        failedToClose = true;
        log.error(e instanceof Error ? e.message : String(e));
        resolveStopped();
      });
    } else {
      log.emit('draining', `${signal} again: killing running jobs now and putting them back in the queue`, { signal, graceMs: 0 });
      worker.drain({ graceMs: 0 }).catch(() => {});
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await Promise.race([worker.ready, stopped]);
    if (!stopping && !closedOnItsOwn) {
      log.emit(
        'ready',
        `ready: queue ${parsed.queue} on ${redis}, concurrency ${parsed.concurrency}, profiles ${profiles.map((p) => `${String(p.name)}${p.default ? ' (default)' : ''}`).join(', ')}; lock ${parsed.lockMs} ms, stalled check every ${parsed.stalledIntervalMs} ms, grace ${parsed.graceMs} ms; pid ${process.pid}`,
        {
          queue: parsed.queue,
          redis,
          concurrency: parsed.concurrency,
          profiles,
          lockMs: parsed.lockMs,
          stalledIntervalMs: parsed.stalledIntervalMs,
          maxStalledCount: parsed.maxStalledCount,
          graceMs: parsed.graceMs,
          pid: process.pid,
          workerId,
        },
      );
    }
    await stopped;
    // A worker that closed on its own (not by a signal) still owes its pool a close.
    if (!failedToClose) await worker.close();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    unsubscribe(QUEUE_JOB_CHANNEL, onJob);
  }
  const s = worker.stats();
  log.emit('stopped', `stopped: ${s.jobs.completed} completed, ${s.jobs.failed} failed, ${s.jobs.retrying} retried, ${s.jobs.requeued} requeued`, {
    jobs: s.jobs,
    failuresByCode: s.failuresByCode,
    exits: s.exits,
    runMs: s.runMs,
  });
  // Every connection and zygote is closed; should a client library still hold a handle, do not hang on it.
  setTimeout(() => process.exit(), 1000).unref();
  return closedOnItsOwn || failedToClose ? 1 : 0;
}
