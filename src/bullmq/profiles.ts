/**
 * The operator's policy for queue jobs: one or more named profiles, each a
 * sandbox, limits, a timeout ceiling and size caps. A profile is checked by
 * the same validators as run() options (an invalid one is refused when the
 * worker starts, never when a job arrives), and its run options always name
 * the sandbox explicitly, so no job ever runs under a default it did not get
 * from the operator.
 *
 * A policy file is JSON:
 *
 *   { "defaultProfile": "default",
 *     "profiles": { "default": { "timeoutMs": 10000, "limits": { "cpuSeconds": 10 } },
 *                   "python":  { "commands": ["/usr/bin/python3"], "maxInputBytes": 65536 } } }
 *
 * A bare profile (no "profiles" key) is shorthand for a policy whose only
 * profile is "default".
 */
import { readFileSync } from 'node:fs';
import { InvalidOptionRangeError, InvalidOptionTypeError, type InvalidOptionError } from '../errors.js';
import { describe, integerOption, isPlainObject, knownKeys, stringArray, stringOption } from '../options/checks.js';
import type { Limits } from '../options/limits.js';
import type { SandboxOptions } from '../options/sandbox.js';
import { prepareRun, type RunOptions } from '../spawn/run.js';
import { MAX_COMMAND_BYTES, PROFILE_NAME, type JobCaps } from './job-data.js';

/** What the operator allows jobs of one profile. Every field is optional. */
export interface QueueProfile {
  /** The sandbox policy (as run()'s `sandbox`). Default: the default profile. `false` turns it off: only for trusted producers. */
  sandbox?: SandboxOptions | false;
  /** rlimits (as run()'s `limits`). */
  limits?: Limits;
  /** Wall-clock limit of each job, and the most a job may ask for. Default 60000. */
  timeoutMs?: number;
  /** Per-stream output cap (stdout and stderr each); past it the tree is killed. Default 1 MiB, at most 64 MiB. */
  maxOutputBytes?: number;
  /** UTF-8 bytes of a job's `input`. Default 1 MiB, at most 64 MiB. */
  maxInputBytes?: number;
  /** Number of arguments. Default 1024. */
  maxArgs?: number;
  /** UTF-8 bytes of the command and its arguments together. Default 128 KiB. */
  maxArgsBytes?: number;
  /** When set, a job's `command` must be one of these strings exactly. */
  commands?: string[];
  /** The program's whole environment (as run()'s `env`; PATH defaults to /usr/local/bin:/usr/bin:/bin). */
  env?: Record<string, string>;
  /** Working directory (as run()'s `cwd`). Default: the sandbox's private temp dir. */
  cwd?: string;
  /** First signal on timeout or cancel (as run()'s `killSignal`). Default 'SIGTERM'. */
  killSignal?: NodeJS.Signals | number;
  /** Time between killSignal and SIGKILL (as run()'s `killGraceMs`). Default 2000. */
  killGraceMs?: number;
}

/** Several named profiles; a job picks one with `profile`. */
export interface QueuePolicy {
  profiles: Record<string, QueueProfile>;
  /** The profile of jobs that name none. Default: "default" if there is one, else the only profile; otherwise jobs must name one. */
  defaultProfile?: string;
}

/** One profile, checked and ready for pool.run(). */
export interface ResolvedProfile {
  readonly name: string;
  /** The run() options of every job of this profile (the job adds only input, timeoutMs and the abort signal). */
  readonly runOptions: Readonly<Omit<RunOptions, 'input' | 'signal' | 'encoding'>> & { readonly timeoutMs: number; readonly sandbox: SandboxOptions | false };
  readonly caps: JobCaps;
  /** False when the operator turned the sandbox off for this profile. */
  readonly sandboxed: boolean;
}

export interface ResolvedPolicy {
  readonly profiles: ReadonlyMap<string, ResolvedProfile>;
  /** The profile of jobs that name none, or null when every job must name one. */
  readonly defaultProfile: string | null;
}

export const DEFAULT_PROFILE_NAME = 'default';
export const PROFILE_DEFAULTS = {
  timeoutMs: 60_000,
  maxOutputBytes: 1024 * 1024,
  maxInputBytes: 1024 * 1024,
  maxArgs: 1024,
  maxArgsBytes: 128 * 1024,
} as const;
/** A job's result and data are single Redis strings; these keep them far from Redis's 512 MB. */
const MAX_STREAM_BYTES = 64 * 1024 * 1024;
const MAX_POLICY_FILE_BYTES = 1024 * 1024;

const profileKeys = [
  'sandbox',
  'limits',
  'timeoutMs',
  'maxOutputBytes',
  'maxInputBytes',
  'maxArgs',
  'maxArgsBytes',
  'commands',
  'env',
  'cwd',
  'killSignal',
  'killGraceMs',
] as const;

function isInvalidOption(e: unknown): e is InvalidOptionError {
  return e instanceof InvalidOptionTypeError || e instanceof InvalidOptionRangeError;
}

/** Re-raise a run()-option error under the profile's path, e.g. options.profiles.python.sandbox.fs.read[0]. */
function underProfile(e: InvalidOptionError, prefix: string): InvalidOptionError {
  const tail = e.message.startsWith(`options.${e.option} `) ? e.message.slice(`options.${e.option} `.length) : e.message;
  const option = `${prefix}${e.option}`;
  return e instanceof InvalidOptionRangeError ? new InvalidOptionRangeError(option, tail) : new InvalidOptionTypeError(option, tail);
}

/** A deep copy the caller cannot change behind the worker's back. */
function frozenCopy<T>(value: T): T {
  const copy = structuredClone(value);
  const freeze = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
    Object.freeze(v);
    for (const inner of Object.values(v)) freeze(inner);
  };
  freeze(copy);
  return copy;
}

function resolveProfile(name: string, value: unknown, prefix: string): ResolvedProfile {
  if (!isPlainObject(value)) throw new InvalidOptionTypeError(prefix.replace(/\.$/, '') || 'policy', `must be an object, got ${describe(value)}`);
  knownKeys(value, profileKeys, prefix.replace(/\.$/, ''));
  const timeoutMs = integerOption(value.timeoutMs, `${prefix}timeoutMs`, { min: 1, max: 2 ** 31 - 1 }) ?? PROFILE_DEFAULTS.timeoutMs;
  const maxOutputBytes = integerOption(value.maxOutputBytes, `${prefix}maxOutputBytes`, { min: 0, max: MAX_STREAM_BYTES }) ?? PROFILE_DEFAULTS.maxOutputBytes;
  const caps: JobCaps = {
    timeoutMs,
    maxInputBytes: integerOption(value.maxInputBytes, `${prefix}maxInputBytes`, { min: 0, max: MAX_STREAM_BYTES }) ?? PROFILE_DEFAULTS.maxInputBytes,
    maxArgs: integerOption(value.maxArgs, `${prefix}maxArgs`, { min: 0, max: 1 << 20 }) ?? PROFILE_DEFAULTS.maxArgs,
    maxArgsBytes: integerOption(value.maxArgsBytes, `${prefix}maxArgsBytes`, { min: 1, max: 2 * 1024 * 1024 }) ?? PROFILE_DEFAULTS.maxArgsBytes,
    commands: null,
  };
  const commands = stringArray(value.commands, `${prefix}commands`);
  if (commands !== undefined) {
    if (commands.length === 0) throw new InvalidOptionRangeError(`${prefix}commands`, 'must list at least one command (leave it out to allow any)');
    commands.forEach((c, i) => {
      if (c === '' || Buffer.byteLength(c) > MAX_COMMAND_BYTES) throw new InvalidOptionRangeError(`${prefix}commands[${i}]`, `must be a command of 1 to ${MAX_COMMAND_BYTES} bytes`);
    });
    caps.commands = Object.freeze([...commands]);
  }

  // The sandbox is always explicit: `{}` is the default profile, never "whatever the pool defaults to".
  const runOptions: ResolvedProfile['runOptions'] = {
    sandbox: value.sandbox === undefined ? {} : (value.sandbox as SandboxOptions | false),
    timeoutMs,
    maxOutputBytes,
    ...(value.limits === undefined ? {} : { limits: value.limits as Limits }),
    ...(value.env === undefined ? {} : { env: value.env as Record<string, string> }),
    ...(value.cwd === undefined ? {} : { cwd: stringOption(value.cwd, `${prefix}cwd`) as string }),
    ...(value.killSignal === undefined ? {} : { killSignal: value.killSignal as NodeJS.Signals | number }),
    ...(value.killGraceMs === undefined ? {} : { killGraceMs: value.killGraceMs as number }),
  };
  try {
    // Exactly run()'s checks: sandbox paths exist, limits in range, env well formed, ...
    prepareRun('true', [], runOptions as RunOptions);
  } catch (e) {
    if (isInvalidOption(e)) throw underProfile(e, prefix);
    throw e;
  }
  return Object.freeze({ name, runOptions: frozenCopy(runOptions), caps: Object.freeze(caps), sandboxed: runOptions.sandbox !== false });
}

/**
 * Check a policy (or a bare profile) and resolve every profile. Throws an
 * INVALID_OPTION TypeError/RangeError naming the option, e.g.
 * `options.profiles.python.limits.cpuSeconds`.
 */
export function resolvePolicy(value: QueuePolicy | QueueProfile | undefined): ResolvedPolicy {
  if (value === undefined) value = {};
  if (!isPlainObject(value)) throw new InvalidOptionTypeError('policy', `must be an object, got ${describe(value)}`);
  if (!('profiles' in value)) {
    const only = resolveProfile(DEFAULT_PROFILE_NAME, value, '');
    return Object.freeze({ profiles: new Map([[DEFAULT_PROFILE_NAME, only]]), defaultProfile: DEFAULT_PROFILE_NAME });
  }
  knownKeys(value, ['profiles', 'defaultProfile'], '');
  const raw = value.profiles;
  if (!isPlainObject(raw)) throw new InvalidOptionTypeError('profiles', `must be an object of named profiles, got ${describe(raw)}`);
  const names = Object.keys(raw);
  if (names.length === 0) throw new InvalidOptionRangeError('profiles', 'must name at least one profile');
  const profiles = new Map<string, ResolvedProfile>();
  for (const name of names) {
    if (!PROFILE_NAME.test(name)) {
      throw new InvalidOptionRangeError(`profiles`, `has a profile named ${JSON.stringify(name)}; names are 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    }
    profiles.set(name, resolveProfile(name, raw[name], `profiles.${name}.`));
  }
  let defaultProfile: string | null;
  if (value.defaultProfile !== undefined) {
    const wanted = stringOption(value.defaultProfile, 'defaultProfile') as string;
    if (!profiles.has(wanted)) throw new InvalidOptionRangeError('defaultProfile', `(${JSON.stringify(wanted)}) is not one of the profiles: ${names.join(', ')}`);
    defaultProfile = wanted;
  } else if (profiles.has(DEFAULT_PROFILE_NAME)) {
    defaultProfile = DEFAULT_PROFILE_NAME;
  } else {
    defaultProfile = profiles.size === 1 ? (names[0] as string) : null;
  }
  return Object.freeze({ profiles, defaultProfile });
}

/** A policy file that cannot be read, parsed or validated. `code` is always 'INVALID_OPTION'. */
export class PolicyFileError extends Error {
  override name = 'PolicyFileError';
  readonly code = 'INVALID_OPTION' as const;
  constructor(
    readonly file: string,
    message: string,
    options?: { cause: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** Read, parse and check a JSON policy file. Returns the policy as written and its resolved form. */
export function loadPolicyFile(file: string): { policy: QueuePolicy | QueueProfile; resolved: ResolvedPolicy } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyFileError(file, `cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
  if (Buffer.byteLength(text) > MAX_POLICY_FILE_BYTES) throw new PolicyFileError(file, `is larger than ${MAX_POLICY_FILE_BYTES} bytes`);
  let policy: unknown;
  try {
    policy = JSON.parse(text);
  } catch (e) {
    throw new PolicyFileError(file, `is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  try {
    return { policy: policy as QueuePolicy | QueueProfile, resolved: resolvePolicy(policy as QueuePolicy) };
  } catch (e) {
    if (isInvalidOption(e)) throw new PolicyFileError(file, e.message.replace(/^options\./, ''), { cause: e });
    throw e;
  }
}

/** Which profile a job runs under, or a reason it may not run at all. */
export function pickProfile(policy: ResolvedPolicy, requested: string | undefined): ResolvedProfile | string {
  const name = requested ?? policy.defaultProfile;
  if (name === null) return `names no profile and this worker has no default profile (profiles: ${[...policy.profiles.keys()].join(', ')})`;
  const profile = policy.profiles.get(name);
  if (!profile) return `asks for the profile ${JSON.stringify(name)}, which this worker does not have (profiles: ${[...policy.profiles.keys()].join(', ')})`;
  return profile;
}
