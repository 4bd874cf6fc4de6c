/**
 * The data of a run job, and the strict check every job passes before it runs.
 *
 * Every byte of job data comes from a queue producer, which the worker does
 * not trust: a job may name a program, its arguments, its stdin, a shorter
 * timeout and one of the operator's profiles - nothing else. Unknown keys
 * (`sandbox`, `limits`, `env`, ...), prototype-pollution keys, wrong types and
 * oversized values are refused with a reason that names the field. The check
 * runs twice: in addRun(), so a producer fails fast, and in the worker, which
 * never assumes a producer used addRun().
 */
import { describe } from '../options/checks.js';
import { MAX_TIMER_MS } from '../long-timeout.js';

/** What a producer puts in a run job. The operator's profile supplies everything else. */
export interface RunJobData {
  /** The program: a path, or a name looked up in the profile's PATH. */
  command: string;
  args?: string[];
  /** Written to the program's stdin (UTF-8), which is then closed. */
  input?: string;
  /** A wall-clock limit at most the profile's `timeoutMs` (its default and ceiling). */
  timeoutMs?: number;
  /** One of the operator's profile names; default: the policy's `defaultProfile`. */
  profile?: string;
}

/** The keys a job may set. Anything else is refused. */
export const RUN_JOB_KEYS = ['command', 'args', 'input', 'timeoutMs', 'profile'] as const;

/** Keys that only a prototype-pollution attempt would use: refused by name. */
const POLLUTION_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Keys a producer might try to widen the sandbox with: refused with that explanation. */
const POLICY_KEYS = new Set(['sandbox', 'limits', 'env', 'cwd', 'maxOutputBytes', 'killSignal', 'killGraceMs', 'stdio', 'spawnTimeoutMs', 'encoding', 'signal']);

/** Profile names: short, and safe to print in one log line. */
export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Hard bounds that hold for any profile (a profile may only set lower ones). */
export const MAX_COMMAND_BYTES = 4096;

/** A job whose data breaks the rules. `field` names the part, e.g. `args[2]`. */
export class JobDataError extends TypeError {
  override name = 'JobDataError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(field === '' ? `job data ${message}` : `job data.${field} ${message}`);
    this.field = field;
  }
}

/** The job's fields after the shape check: types right, no extra keys. */
export interface CheckedJob {
  command: string;
  args: string[];
  input: string | undefined;
  timeoutMs: number | undefined;
  profile: string | undefined;
}

/** What one profile allows a job to send (profiles.ts fills these in). */
export interface JobCaps {
  /** UTF-8 bytes of `input`. */
  maxInputBytes: number;
  /** Number of `args`. */
  maxArgs: number;
  /** UTF-8 bytes of the command and every argument together. */
  maxArgsBytes: number;
  /** A job's `timeoutMs` may not exceed it. */
  timeoutMs: number;
  /** When set, `command` must be one of these, exactly. */
  commands: readonly string[] | null;
}

function isPlainData(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function noNul(value: string, field: string): string {
  if (value.includes('\0')) throw new JobDataError(field, 'must not contain NUL bytes');
  return value;
}

/**
 * Types and keys only: what can be checked without knowing the profile.
 * Throws JobDataError naming the first field that is wrong.
 */
export function checkJobShape(data: unknown): CheckedJob {
  if (!isPlainData(data)) throw new JobDataError('', `must be an object, got ${describe(data)}`);
  if (Object.getOwnPropertySymbols(data).length > 0) throw new JobDataError('', 'must not have symbol keys');
  for (const key of Object.keys(data)) {
    if (POLLUTION_KEYS.has(key)) throw new JobDataError('', `has the key ${JSON.stringify(key)}, which is refused (prototype pollution)`);
    if ((RUN_JOB_KEYS as readonly string[]).includes(key)) continue;
    const why = POLICY_KEYS.has(key)
      ? 'the sandbox, limits, environment and output caps are set by the operator\'s profile, never by a job'
      : 'a job may set only these';
    throw new JobDataError('', `has the key ${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)}, which is not allowed (${why}; allowed: ${RUN_JOB_KEYS.join(', ')})`);
  }

  const { command, args, input, timeoutMs, profile } = data;
  if (typeof command !== 'string' || command === '') throw new JobDataError('command', `must be a non-empty string, got ${describe(command)}`);
  noNul(command, 'command');
  if (Buffer.byteLength(command) > MAX_COMMAND_BYTES) throw new JobDataError('command', `is longer than ${MAX_COMMAND_BYTES} bytes`);

  const checkedArgs: string[] = [];
  if (args !== undefined) {
    if (!Array.isArray(args)) throw new JobDataError('args', `must be an array of strings, got ${describe(args)}`);
    // Index by index: a hole in a sparse array is refused like any other non-string.
    for (let i = 0; i < args.length; i++) {
      const arg: unknown = args[i];
      if (typeof arg !== 'string') throw new JobDataError(`args[${i}]`, `must be a string, got ${describe(arg)}`);
      checkedArgs.push(noNul(arg, `args[${i}]`));
    }
  }

  if (input !== undefined && typeof input !== 'string') throw new JobDataError('input', `must be a string, got ${describe(input)}`);

  if (timeoutMs !== undefined) {
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs)) {
      throw new JobDataError('timeoutMs', `must be an integer number of milliseconds, got ${describe(timeoutMs)}`);
    }
    if (timeoutMs < 1 || timeoutMs > MAX_TIMER_MS) throw new JobDataError('timeoutMs', `must be between 1 and ${MAX_TIMER_MS}, got ${timeoutMs}`);
  }

  if (profile !== undefined && (typeof profile !== 'string' || !PROFILE_NAME.test(profile))) {
    throw new JobDataError('profile', `must be a profile name (letters, digits, '.', '_', '-'; at most 64), got ${describe(profile)}`);
  }

  return { command, args: checkedArgs, input, timeoutMs, profile };
}

/** The profile's caps: sizes, the timeout ceiling, and the command allowlist. */
export function checkJobCaps(job: CheckedJob, caps: JobCaps, profileName: string): void {
  const where = `(profile ${JSON.stringify(profileName)})`;
  if (caps.commands !== null && !caps.commands.includes(job.command)) {
    throw new JobDataError('command', `${JSON.stringify(job.command.slice(0, 200))} is not one of the commands the profile allows ${where}: ${caps.commands.join(', ')}`);
  }
  if (job.args.length > caps.maxArgs) throw new JobDataError('args', `has ${job.args.length} arguments, more than the ${caps.maxArgs} allowed ${where}`);
  let argBytes = Buffer.byteLength(job.command);
  for (const arg of job.args) argBytes += Buffer.byteLength(arg);
  if (argBytes > caps.maxArgsBytes) {
    throw new JobDataError('args', `command and arguments take ${argBytes} bytes, more than the ${caps.maxArgsBytes} allowed ${where}`);
  }
  if (job.input !== undefined) {
    const inputBytes = Buffer.byteLength(job.input);
    if (inputBytes > caps.maxInputBytes) throw new JobDataError('input', `is ${inputBytes} bytes, more than the ${caps.maxInputBytes} allowed ${where}`);
  }
  if (job.timeoutMs !== undefined && job.timeoutMs > caps.timeoutMs) {
    throw new JobDataError('timeoutMs', `(${job.timeoutMs}) may not exceed the profile's timeoutMs (${caps.timeoutMs}) ${where}`);
  }
}
