/**
 * One error family with stable codes. Invalid options are real TypeErrors or
 * RangeErrors (so `instanceof TypeError` keeps working) that also carry
 * `code: 'INVALID_OPTION'` and the option's name.
 */
import { constants as osConstants } from 'node:os';

/** Every stable error code hatchery uses. */
export type HatcheryErrorCode =
  /** A child-setup stage or the exec failed; `stage` and `errno` say which and why. */
  | 'EXEC_FAILED'
  /** The zygote died or stopped answering while the operation was in flight. */
  | 'ZYGOTE_DIED'
  /** The zygote sent or refused a malformed message. */
  | 'PROTOCOL'
  /** An option is invalid (always a TypeError or RangeError naming it). */
  | 'INVALID_OPTION'
  /** mode 'strict' and this kernel cannot enforce part of the policy; `missing` lists it. */
  | 'SANDBOX_UNAVAILABLE'
  /** The AbortSignal fired before the operation started. */
  | 'ABORTED'
  /** The pool's queue is full (maxQueue). */
  | 'QUEUE_FULL'
  /** The operation waited in the queue longer than queueTimeoutMs. */
  | 'QUEUE_TIMEOUT'
  /** The pool or worker pool was closed. */
  | 'CLOSED'
  /** A warm worker crashed, was killed, or exited during a call. */
  | 'WORKER_CRASHED'
  /** A warm worker could not boot (its module failed to import). */
  | 'WORKER_BOOT_FAILED'
  /** The worker module has no such export. */
  | 'UNKNOWN_EXPORT'
  /** A warm-worker call ran past its timeoutMs. */
  | 'TIMEOUT';

export interface HatcheryErrorDetails {
  cause?: unknown;
  /** EXEC_FAILED: the child-setup stage that failed, e.g. 'exec', 'cwd', 'landlock'. */
  stage?: string;
  /** EXEC_FAILED: the errno number from the child (positive, as in C). */
  errno?: number;
  /** EXEC_FAILED: the errno's name, e.g. 'ENOENT'. */
  errnoName?: string;
  /** INVALID_OPTION: the option's path, e.g. 'limits.memoryBytes'. */
  option?: string;
  /** SANDBOX_UNAVAILABLE: what this kernel cannot enforce. */
  missing?: string[];
}

/** The base class of every runtime failure hatchery reports. */
export class HatcheryError extends Error {
  override name = 'HatcheryError';
  readonly code: HatcheryErrorCode;
  readonly stage?: string;
  readonly errno?: number;
  readonly errnoName?: string;
  readonly missing?: string[];

  constructor(code: HatcheryErrorCode, message: string, details: HatcheryErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.stage !== undefined) this.stage = details.stage;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.errnoName !== undefined) this.errnoName = details.errnoName;
    if (details.missing !== undefined) this.missing = details.missing;
  }
}

/** An option of the wrong type. `code` is always 'INVALID_OPTION'. */
export class InvalidOptionTypeError extends TypeError {
  override name = 'TypeError';
  readonly code = 'INVALID_OPTION' as const;
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`options.${option} ${message}`);
  }
}

/** An option out of range, or options that conflict. `code` is always 'INVALID_OPTION'. */
export class InvalidOptionRangeError extends RangeError {
  override name = 'RangeError';
  readonly code = 'INVALID_OPTION' as const;
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`options.${option} ${message}`);
  }
}

export type InvalidOptionError = InvalidOptionTypeError | InvalidOptionRangeError;

/** True for every error hatchery throws or rejects with. */
export function isHatcheryError(e: unknown): e is HatcheryError | InvalidOptionError {
  return e instanceof HatcheryError || e instanceof InvalidOptionTypeError || e instanceof InvalidOptionRangeError;
}

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `errno ${Math.abs(errno)}`;
}

// The first name of each number, as child_process reports it: SIGABRT not its alias SIGIOT, SIGIO not SIGPOLL.
const signalNames = new Map<number, NodeJS.Signals>();
for (const [name, value] of Object.entries(osConstants.signals)) {
  if (!signalNames.has(value)) signalNames.set(value, name as NodeJS.Signals);
}

export function signalName(signo: number): NodeJS.Signals | `SIG${number}` {
  return signalNames.get(signo) ?? `SIG${signo}`;
}

export function signalNumber(signal: NodeJS.Signals | number): number | undefined {
  if (typeof signal === 'number') return signalNames.has(signal) ? signal : undefined;
  return (osConstants.signals as Record<string, number | undefined>)[signal];
}
