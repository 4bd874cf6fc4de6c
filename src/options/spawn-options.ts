/**
 * The one options pipeline for spawn() and run(): copy -> defaults -> the
 * validators that live with each concern. Produces a NormalizedSpawnOptions
 * that the planner turns into a wire-level SpawnPlan.
 */
import { resolve } from 'node:path';
import { InvalidOptionTypeError, signalNumber } from '../errors.js';
import { buildEnv } from './env.js';
import { describe, integerOption, isPlainObject, knownKeys, stringOption } from './checks.js';
import { checkArgString, checkExecTotal } from './exec-limits.js';
import { validateLimits, type Limits } from './limits.js';
import { validateStdio, type NormalizedStdio, type StdioMode, type StdioOption } from './stdio.js';
import { validateSandbox, type NormalizedSandbox, type SandboxOptions } from './sandbox.js';
import { MAX_TIMER_MS } from '../long-timeout.js';

/** Options of spawn(). run() accepts these plus its own. */
export interface SpawnOptions {
  /** The child's entire environment. The parent's is never inherited; PATH defaults to /usr/local/bin:/usr/bin:/bin. */
  env?: Record<string, string | undefined>;
  /** Working directory (relative paths resolve against process.cwd()). */
  cwd?: string;
  /** Wall-clock limit in ms, enforced by the zygote: killSignal to the whole tree, then SIGKILL after killGraceMs. */
  timeoutMs?: number;
  /** First signal to the tree on timeout or abort. Default 'SIGTERM'. */
  killSignal?: NodeJS.Signals | number;
  /** Time between killSignal and SIGKILL of the tree, on timeout and on abort alike. Default 2000 ms. */
  killGraceMs?: number;
  /** Aborting kills the child's tree like a timeout does: killSignal, then SIGKILL after killGraceMs. */
  signal?: AbortSignal;
  /** rlimits for the child. */
  limits?: Limits;
  /** What fds 0, 1, 2 are. spawn() default: 'pipe'. */
  stdio?: StdioOption;
  /** How long to wait for the zygote to start the program. Default 10000 ms. */
  spawnTimeoutMs?: number;
  /** The sandbox policy; on by default. `false` turns every restriction off (rlimits still apply). */
  sandbox?: SandboxOptions | false;
}

export interface NormalizedSpawnOptions {
  env: string[];
  cwd: string | undefined;
  timeoutMs: number | undefined;
  killSignal: number;
  killGraceMs: number;
  signal: AbortSignal | undefined;
  limits: Limits;
  stdio: [NormalizedStdio, NormalizedStdio, NormalizedStdio];
  spawnTimeoutMs: number;
  sandbox: NormalizedSandbox | false;
}

export const spawnOptionKeys = [
  'env',
  'cwd',
  'timeoutMs',
  'killSignal',
  'killGraceMs',
  'signal',
  'limits',
  'stdio',
  'spawnTimeoutMs',
  'sandbox',
] as const;


export function validateCommand(file: unknown, args: unknown): { file: string; args: string[] } {
  if (typeof file !== 'string' || file === '') {
    throw new InvalidOptionTypeError('file', `must be a non-empty string, got ${describe(file)}`);
  }
  if (file.includes('\0')) throw new InvalidOptionTypeError('file', 'must not contain NUL bytes');
  if (args === undefined) return { file, args: [] };
  if (!Array.isArray(args)) throw new InvalidOptionTypeError('args', `must be an array of strings, got ${describe(args)}`);
  const out = args.map((a, i) => {
    if (typeof a !== 'string') throw new InvalidOptionTypeError(`args[${i}]`, `must be a string, got ${describe(a)}`);
    if (a.includes('\0')) throw new InvalidOptionTypeError(`args[${i}]`, 'must not contain NUL bytes');
    checkArgString(a, `args[${i}]`);
    return a;
  });
  return { file, args: out };
}

/**
 * argv and env together, once both are known: refused (INVALID_OPTION
 * naming `args` or `env`) only past what execve takes under any stack
 * rlimit; see exec-limits.ts. Below that the kernel answers at exec (E2BIG).
 */
export function validateExecSize(cmd: { file: string; args: readonly string[] }, options: NormalizedSpawnOptions): void {
  checkExecTotal([cmd.file, ...cmd.args], options.env);
}

/**
 * Turns raw options into normalized ones: normalizeSpawnOptions, or a pool's
 * version of it that also narrows them to the pool's defaults and ceilings.
 */
export type OptionsNormalizer = (
  options: unknown,
  extraKeys: readonly string[],
  stdioDefault: [StdioMode, StdioMode, StdioMode],
) => NormalizedSpawnOptions;

export function normalizeSpawnOptions(
  value: unknown,
  extraKeys: readonly string[],
  stdioDefault: [StdioMode, StdioMode, StdioMode],
): NormalizedSpawnOptions {
  if (value !== undefined && !isPlainObject(value)) throw new InvalidOptionTypeError('options', 'must be an object');
  const o = { ...(value ?? {}) } as Record<string, unknown>;
  knownKeys(o, [...spawnOptionKeys, ...extraKeys], '');

  const cwdRaw = stringOption(o.cwd, 'cwd');
  const killSignalRaw = o.killSignal ?? 'SIGTERM';
  const killSignal = typeof killSignalRaw === 'string' || typeof killSignalRaw === 'number'
    ? signalNumber(killSignalRaw as NodeJS.Signals | number)
    : undefined;
  if (killSignal === undefined || killSignal === 0) {
    throw new InvalidOptionTypeError('killSignal', `must be a signal name like 'SIGTERM' or number, got ${describe(killSignalRaw)}`);
  }
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionTypeError('signal', `must be an AbortSignal, got ${describe(signal)}`);
  }
  return {
    env: buildEnv(o.env),
    cwd: cwdRaw === undefined ? undefined : resolve(cwdRaw),
    timeoutMs: integerOption(o.timeoutMs, 'timeoutMs', { min: 1, max: MAX_TIMER_MS }),
    killSignal,
    killGraceMs: integerOption(o.killGraceMs, 'killGraceMs', { min: 0, max: MAX_TIMER_MS }) ?? 2000,
    signal,
    limits: validateLimits(o.limits),
    stdio: validateStdio(o.stdio, stdioDefault),
    spawnTimeoutMs: integerOption(o.spawnTimeoutMs, 'spawnTimeoutMs', { min: 1, max: MAX_TIMER_MS }) ?? 10_000,
    sandbox: validateSandbox(o.sandbox),
  };
}
