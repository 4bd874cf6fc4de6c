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
  /** A warm worker wrote a malformed or unexpected frame to its channel; it was killed. */
  | 'WORKER_PROTOCOL'
  /** A warm worker's reply exceeded maxReplyBytes, or the pool's replyBudgetBytes; it was killed. */
  | 'REPLY_TOO_LARGE'
  /** The worker module has no such export. */
  | 'UNKNOWN_EXPORT'
  /** A warm-worker call ran past its timeoutMs. */
  | 'TIMEOUT'
  /** The native build (addon and zygote) is missing or does not load: run `npm rebuild hatchery`. */
  | 'NATIVE_UNAVAILABLE';

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

/**
 * A HATCHERY_* simulation variable with a value it does not take (src/policy/features.ts).
 * `option` is `process.env.NAME`; the message starts with the variable's name.
 */
export class InvalidEnvironmentVariableError extends InvalidOptionRangeError {
  constructor(variable: string, message: string) {
    super(`process.env.${variable}`, message);
    this.message = `${variable} ${message}`;
  }
}

export type InvalidOptionError = InvalidOptionTypeError | InvalidOptionRangeError;

/** True for every error hatchery throws or rejects with. */
export function isHatcheryError(e: unknown): e is HatcheryError | InvalidOptionError {
  return e instanceof HatcheryError || e instanceof InvalidOptionTypeError || e instanceof InvalidOptionRangeError;
}

/**
 * Linux's errno names (include/uapi/asm-generic/errno-base.h and errno.h),
 * index = number. Node's os.constants.errno lists only the POSIX subset, so a
 * child reporting e.g. EBADFD (77) or EKEYREJECTED (129) would otherwise get
 * no name. 41 and 58 are unused by Linux. Architectures with their own
 * numbering (alpha, mips, parisc, sparc) are covered by os.constants first.
 */
const LINUX_ERRNO_NAMES: readonly (string | undefined)[] = [
  undefined, 'EPERM', 'ENOENT', 'ESRCH', 'EINTR', 'EIO', 'ENXIO', 'E2BIG', 'ENOEXEC', 'EBADF',
  'ECHILD', 'EAGAIN', 'ENOMEM', 'EACCES', 'EFAULT', 'ENOTBLK', 'EBUSY', 'EEXIST', 'EXDEV', 'ENODEV',
  'ENOTDIR', 'EISDIR', 'EINVAL', 'ENFILE', 'EMFILE', 'ENOTTY', 'ETXTBSY', 'EFBIG', 'ENOSPC', 'ESPIPE',
  'EROFS', 'EMLINK', 'EPIPE', 'EDOM', 'ERANGE', 'EDEADLK', 'ENAMETOOLONG', 'ENOLCK', 'ENOSYS', 'ENOTEMPTY',
  'ELOOP', undefined, 'ENOMSG', 'EIDRM', 'ECHRNG', 'EL2NSYNC', 'EL3HLT', 'EL3RST', 'ELNRNG', 'EUNATCH',
  'ENOCSI', 'EL2HLT', 'EBADE', 'EBADR', 'EXFULL', 'ENOANO', 'EBADRQC', 'EBADSLT', undefined, 'EBFONT',
  'ENOSTR', 'ENODATA', 'ETIME', 'ENOSR', 'ENONET', 'ENOPKG', 'EREMOTE', 'ENOLINK', 'EADV', 'ESRMNT',
  'ECOMM', 'EPROTO', 'EMULTIHOP', 'EDOTDOT', 'EBADMSG', 'EOVERFLOW', 'ENOTUNIQ', 'EBADFD', 'EREMCHG', 'ELIBACC',
  'ELIBBAD', 'ELIBSCN', 'ELIBMAX', 'ELIBEXEC', 'EILSEQ', 'ERESTART', 'ESTRPIPE', 'EUSERS', 'ENOTSOCK', 'EDESTADDRREQ',
  'EMSGSIZE', 'EPROTOTYPE', 'ENOPROTOOPT', 'EPROTONOSUPPORT', 'ESOCKTNOSUPPORT', 'EOPNOTSUPP', 'EPFNOSUPPORT', 'EAFNOSUPPORT', 'EADDRINUSE', 'EADDRNOTAVAIL',
  'ENETDOWN', 'ENETUNREACH', 'ENETRESET', 'ECONNABORTED', 'ECONNRESET', 'ENOBUFS', 'EISCONN', 'ENOTCONN', 'ESHUTDOWN', 'ETOOMANYREFS',
  'ETIMEDOUT', 'ECONNREFUSED', 'EHOSTDOWN', 'EHOSTUNREACH', 'EALREADY', 'EINPROGRESS', 'ESTALE', 'EUCLEAN', 'ENOTNAM', 'ENAVAIL',
  'EISNAM', 'EREMOTEIO', 'EDQUOT', 'ENOMEDIUM', 'EMEDIUMTYPE', 'ECANCELED', 'ENOKEY', 'EKEYEXPIRED', 'EKEYREVOKED', 'EKEYREJECTED',
  'EOWNERDEAD', 'ENOTRECOVERABLE', 'ERFKILL', 'EHWPOISON',
];

/** The kernel's internal codes (include/linux/errno.h): never meant for user space, but named if one leaks. */
const LINUX_KERNEL_ERRNO_NAMES: Readonly<Record<number, string>> = {
  512: 'ERESTARTSYS', 513: 'ERESTARTNOINTR', 514: 'ERESTARTNOHAND', 515: 'ENOIOCTLCMD', 516: 'ERESTART_RESTARTBLOCK',
  517: 'EPROBE_DEFER', 518: 'EOPENSTALE', 519: 'ENOPARAM', 521: 'EBADHANDLE', 522: 'ENOTSYNC', 523: 'EBADCOOKIE',
  524: 'ENOTSUPP', 525: 'ETOOSMALL', 526: 'ESERVERFAULT', 527: 'EBADTYPE', 528: 'EJUKEBOX', 529: 'EIOCBQUEUED',
  530: 'ERECALLCONFLICT', 531: 'ENOGRACE',
};

/** Aliases os.constants.errno lists beside the canonical name (EWOULDBLOCK = EAGAIN, ENOTSUP = EOPNOTSUPP, EDEADLOCK = EDEADLK). */
const ERRNO_ALIASES = new Set(['EWOULDBLOCK', 'ENOTSUP', 'EDEADLOCK']);

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) {
  if (!ERRNO_ALIASES.has(name) || !errnoNames.has(value)) errnoNames.set(value, name);
}

/**
 * The symbolic name of an errno number (sign ignored), e.g. 2 -> 'ENOENT',
 * 77 -> 'EBADFD'. Always a name: a number no Linux version defines is 'EUNKNOWN'
 * (the number itself stays in HatcheryError.errno).
 */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return errnoNames.get(n) ?? LINUX_ERRNO_NAMES[n] ?? LINUX_KERNEL_ERRNO_NAMES[n] ?? 'EUNKNOWN';
}

/** Aliases os.constants.signals lists after the canonical name (SIGIOT = SIGABRT, SIGPOLL = SIGIO). */
const SIGNAL_ALIASES = new Set(['SIGIOT', 'SIGPOLL', 'SIGUNUSED', 'SIGCLD']);

const signalNames = new Map<number, NodeJS.Signals>();
for (const [name, value] of Object.entries(osConstants.signals)) {
  if (!SIGNAL_ALIASES.has(name) || !signalNames.has(value)) signalNames.set(value, name as NodeJS.Signals);
}

export function signalName(signo: number): NodeJS.Signals | `SIG${number}` {
  return signalNames.get(signo) ?? `SIG${signo}`;
}

export function signalNumber(signal: NodeJS.Signals | number): number | undefined {
  if (typeof signal === 'number') return signalNames.has(signal) ? signal : undefined;
  return (osConstants.signals as Record<string, number | undefined>)[signal];
}

// ---- The library's own factories: every HatcheryError hatchery raises is made here ----
// One function per kind of failure, so the message shape of a code lives in one
// place. HatcheryError's constructor stays public for users and tests.

/** EXEC_FAILED: the child failed at a setup `stage` (or at exec) with `errno`; fills stage, errno and errnoName. */
export function execFailed(file: string, stage: string, errno: number): HatcheryError {
  const name = errnoName(errno);
  return new HatcheryError('EXEC_FAILED', `${file}: child setup failed at stage '${stage}': ${name}`, { stage, errno, errnoName: name });
}

/**
 * EXEC_FAILED at stage 'tmpdir': the host temp dir an operation needs (where
 * no mount namespace gives it a private tmpfs) could not be made; `why` says
 * where it was tried. errno is the first failure's.
 */
export function hostTmpdirFailed(why: string, cause?: unknown): HatcheryError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const errno = (code !== undefined ? (osConstants.errno as Record<string, number>)[code] : undefined) ?? osConstants.errno.EIO;
  return new HatcheryError('EXEC_FAILED', `the operation's temp dir: ${why}`, { stage: 'tmpdir', errno, errnoName: errnoName(errno), cause });
}

/** ZYGOTE_DIED: zygote `pid` ended, e.g. zygoteDied(123, 'exited') -> "zygote 123 exited". */
export function zygoteDied(pid: number, what: string): HatcheryError {
  return new HatcheryError('ZYGOTE_DIED', `zygote ${pid} ${what}`);
}

/** ZYGOTE_DIED: zygote `pid` did not `what` (e.g. 'answer a heartbeat') within `ms`, and was killed for it. */
export function zygoteUnresponsive(pid: number, what: string, ms: number): HatcheryError {
  return zygoteDied(pid, `did not ${what} within ${ms} ms; it was killed`);
}

/** ZYGOTE_DIED: a pool had no zygote to run the operation on (none could be started). */
export function noZygote(): HatcheryError {
  return new HatcheryError('ZYGOTE_DIED', 'no zygote could be started for the operation');
}

/** PROTOCOL: a fault of the wire protocol on this side, e.g. a request that cannot be encoded. */
export function protocolError(message: string, cause?: unknown): HatcheryError {
  return new HatcheryError('PROTOCOL', message, { cause });
}

/** PROTOCOL: zygote `pid` sent something malformed or unexpected, e.g. zygoteProtocolError(123, 'spoke before its handshake'). */
export function zygoteProtocolError(pid: number, what: string, cause?: unknown): HatcheryError {
  return protocolError(`zygote ${pid} ${what}`, cause);
}

/** PROTOCOL: zygote `pid` refused request `requestId` as malformed, with its reason and numeric error code. */
export function requestRefused(pid: number, requestId: number, reason: string, code: number): HatcheryError {
  return zygoteProtocolError(pid, `refused request ${requestId}: ${reason} (code ${code})`);
}

/** SANDBOX_UNAVAILABLE: strict mode and this kernel cannot enforce `missing` (also named in the message, with any simulations in effect). */
export function sandboxUnavailable(missing: string[], simulated: readonly string[] = []): HatcheryError {
  const simulations = simulated.length > 0 ? ` — simulations in effect: ${simulated.join('; ')}` : '';
  return new HatcheryError('SANDBOX_UNAVAILABLE', `this kernel cannot enforce: ${missing.join('; ')}${simulations}`, { missing });
}

/** ABORTED: the AbortSignal fired before the operation started, or while it waited in a pool's queue; `reason` is the signal's reason, kept as the cause. */
export function aborted(reason: unknown, when: 'before-start' | 'queued' = 'before-start'): HatcheryError {
  const message = when === 'queued' ? 'the operation was aborted while it waited in the queue' : 'the operation was aborted before it started';
  return new HatcheryError('ABORTED', message, { cause: reason });
}

/** The numbers a pool's QUEUE_FULL reports. */
export interface QueueFullState {
  queued: number;
  maxQueue: number;
  running: number;
  maxConcurrency: number;
}

/** QUEUE_FULL: a pool already had maxQueue calls waiting. */
export function queueFull(state: QueueFullState): HatcheryError {
  const { queued, maxQueue, running, maxConcurrency } = state;
  return new HatcheryError('QUEUE_FULL', `the pool's queue is full (${queued} waiting, maxQueue ${maxQueue}; ${running} running, maxConcurrency ${maxConcurrency})`);
}

/** QUEUE_FULL: zygote `pid` already holds the `maxChildren` it reported (pools never place more). */
export function zygoteFull(pid: number, maxChildren: number): HatcheryError {
  return new HatcheryError('QUEUE_FULL', `zygote ${pid} already has the ${maxChildren} children it said it can hold`);
}

/** QUEUE_TIMEOUT: a call waited `waitedMs` (the pool's queueTimeoutMs) in the queue. */
export function queueTimeout(waitedMs: number): HatcheryError {
  return new HatcheryError('QUEUE_TIMEOUT', `the operation waited ${waitedMs} ms in the pool's queue without a slot`);
}

/** CLOSED: `what` ('the pool', 'the worker pool') is closed; `was` for calls it ended by closing. */
export function closed(what: 'the pool' | 'the worker pool', tense: 'is' | 'was' = 'is'): HatcheryError {
  return new HatcheryError('CLOSED', `${what} ${tense} closed`);
}

/** WORKER_BOOT_FAILED: workers of `modulePath` keep failing to boot; `lastError` is the last failure, kept as the cause. */
export function workerBootFailed(modulePath: string, lastError: Error | undefined): HatcheryError {
  return new HatcheryError(
    'WORKER_BOOT_FAILED',
    `workers of ${modulePath} keep failing to boot: ${lastError?.message ?? 'unknown'}`,
    { cause: lastError },
  );
}

/** WORKER_BOOT_FAILED: workers of `modulePath` did not boot within `timeoutMs`. */
export function workerBootTimeout(modulePath: string, timeoutMs: number): HatcheryError {
  return new HatcheryError('WORKER_BOOT_FAILED', `workers of ${modulePath} did not boot within ${timeoutMs} ms`);
}

/** WORKER_BOOT_FAILED: uid `uid` can read neither the installed worker runtime (`problem`) nor a copy (`copyError`, kept as the cause). */
export function workerRuntimeUnreadable(uid: number, problem: string, copyError: unknown): HatcheryError {
  const why = copyError instanceof Error ? copyError.message : String(copyError);
  return new HatcheryError(
    'WORKER_BOOT_FAILED',
    `workers running as uid ${uid} can read neither the installed worker runtime (${problem}) nor a copy: ${why}`,
    { cause: copyError },
  );
}

/** UNKNOWN_EXPORT: the worker module `modulePath` exports no function `name`. */
export function unknownExport(modulePath: string, name: string): HatcheryError {
  return new HatcheryError('UNKNOWN_EXPORT', `${modulePath} has no exported function ${JSON.stringify(name)}`);
}

/** NATIVE_UNAVAILABLE: the native build `what` (e.g. 'is missing (... does not exist)'); says how to rebuild it. */
export function nativeUnavailable(what: string, cause?: unknown): HatcheryError {
  const text = cause instanceof Error ? cause.message : '';
  // dlopen's words for a file it may not map executable: the install is on a noexec mount, which no rebuild fixes.
  const advice = /failed to map segment/i.test(text)
    ? 'The install is probably on a mount that forbids executing files (noexec): install hatchery on one that allows it'
    : 'The install probably skipped its build step (npm install --ignore-scripts): ' +
      'run `npm rebuild hatchery` (it needs python3, make and a C compiler; in a checkout of hatchery itself: npm run build)';
  return new HatcheryError('NATIVE_UNAVAILABLE', `hatchery's native build ${what}. ${advice}`, { cause });
}

/** NATIVE_UNAVAILABLE: hatchery runs on Linux only; `platform` is process.platform. */
export function unsupportedPlatform(platform: string): HatcheryError {
  return new HatcheryError('NATIVE_UNAVAILABLE', `hatchery runs on Linux only (this is ${platform})`);
}
