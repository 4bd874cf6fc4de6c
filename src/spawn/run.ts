/**
 * What run() does around a spawn: check its own options, feed input, collect
 * output under byte caps, and report a Result. The run() facade is
 * src/api/run.ts; Pool.run (src/pool/pool.ts) calls prepareRun and collectRun.
 */
import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';
import { InvalidOptionRangeError, InvalidOptionTypeError, signalNumber } from '../errors.js';
import { integerOption } from '../options/checks.js';
import {
  normalizeSpawnOptions,
  validateCommand,
  type NormalizedSpawnOptions,
  type OptionsNormalizer,
  type SpawnOptions,
} from '../options/spawn-options.js';
import type { Limits } from '../options/limits.js';
import type { ExitStatus } from './process-handle.js';
import type { Enforcement } from '../policy/compile.js';
import type { InternalSpawn } from './spawn.js';
import { OutputCollector } from './output-collector.js';

/** Options of run(): spawn()'s plus input, an output cap and the text encoding. Results have string output. */
export interface RunOptions extends SpawnOptions {
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Uint8Array;
  /** Per-stream cap. Past it the tree is killed and `truncated` is set. Default 64 MiB. */
  maxOutputBytes?: number;
  /** Any Node text encoding for string output. Default 'utf8'. For Buffers, see RunBufferOptions. */
  encoding?: BufferEncoding;
}

/** Options of a run() whose stdout and stderr are Buffers: RunOptions with `encoding: 'buffer'`. */
export interface RunBufferOptions extends Omit<RunOptions, 'encoding'> {
  encoding: 'buffer';
}

/**
 * Which limit ended the process, when one did. 'memory' (RLIMIT_AS) is only
 * named on evidence, since the kernel never kills for it and a crash looks
 * the same with or without it (see whichLimit).
 */
export type LimitName = 'timeout' | 'output' | 'cpu' | 'memory' | 'fileSize' | 'tmpdir';

export interface Result<T extends string | Buffer = string> extends ExitStatus {
  /** The program that ran and its arguments. */
  command: readonly string[];
  pid: number;
  stdout: T;
  stderr: T;
  /** The run was aborted through its AbortSignal (the tree was killed). */
  aborted: boolean;
  /** Which streams hit maxOutputBytes. */
  truncated: { stdout: boolean; stderr: boolean };
  /** The limit that ended the process, or null. */
  limit: LimitName | null;
  /** What the sandbox enforced for this run. */
  enforcement: Enforcement;
}

export const runOnlyKeys = ['input', 'maxOutputBytes', 'encoding'] as const;
const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;

/** What a stream's collection kept: OutputCollector, or nothing for a stream that is not a pipe. */
interface Collected {
  chunks: Buffer[];
  bytes: number;
  truncated: boolean;
}

const NOTHING_COLLECTED: Collected = Object.freeze({ chunks: [], bytes: 0, truncated: false }) as Collected;

/**
 * What programs print when an allocation fails: V8, glibc/C (strerror of
 * ENOMEM), C++, Python, Rust, Go, Java, bash, coreutils ("memory exhausted")
 * and most others ("out of memory").
 */
const OUT_OF_MEMORY = [
  /\bout of memory\b/i,
  /Fatal process OOM/,
  /\bCannot allocate memory\b/i,
  /\bcannot (re)?allocate \d+ bytes\b/i,
  /\bmemory exhausted\b/i,
  /std::bad_alloc/,
  /\bMemoryError\b/,
  /memory allocation of \d+ bytes failed/,
  /OutOfMemoryError/,
];
const { SIGABRT, SIGBUS, SIGKILL, SIGSEGV, SIGXCPU, SIGXFSZ } = osConstants.signals;

/** How much of the end of stderr is searched: the dying words come last (V8 adds a stack trace). */
const OOM_TAIL_BYTES = 16 * 1024;
/** Peak resident memory this close to the address-space limit means the limit was reached. */
const AS_REACHED_FRACTION = 0.9;

/**
 * The limit that ended the process, or null. cpu and fileSize have their own
 * signals; memory does not: RLIMIT_AS only makes allocations fail, and what a
 * program does then (exit 1, abort, or a SIGSEGV from a NULL pointer or a
 * stack that cannot grow) looks like any other failure. So 'memory' needs
 * evidence beyond how it died:
 *  - it failed (a signal or a non-zero exit) and the end of its stderr says
 *    an allocation failed ("out of memory", "Cannot allocate memory",
 *    std::bad_alloc, MemoryError, ...), or
 *  - it was killed by SIGSEGV, SIGBUS or SIGABRT with a peak RSS of at least
 *    90% of memoryBytes (resident memory is part of the address space, so
 *    the limit was all but reached).
 * A plain crash far below the limit is not called 'memory'; a program that
 * dies of the limit silently and small (one huge allocation refused, then a
 * NULL dereference) is not either: that cannot be told apart from a bug.
 * Whatever hatchery killed on request (an abort, killTree) is no limit's doing.
 */
export function whichLimit(status: ExitStatus, limits: Limits, outputCapped: boolean, stderrTail: Buffer | null): LimitName | null {
  if (status.timedOut) return 'timeout';
  if (outputCapped) return 'output';
  const sig = status.signal === null ? 0 : (signalNumber(status.signal as NodeJS.Signals) ?? 0);
  if (limits.cpuSeconds !== undefined) {
    const cpuMs = status.userCpuMs + status.sysCpuMs;
    if (sig === SIGXCPU || (sig === SIGKILL && !status.killRequested && cpuMs >= limits.cpuSeconds * 1000)) return 'cpu';
  }
  if (limits.fileSizeBytes !== undefined && sig === SIGXFSZ) return 'fileSize';
  // A full temp dir gives ENOSPC; it is the limit only if the program then failed.
  if (status.tmpdirFull && (status.exitCode !== 0 || status.signal !== null)) return 'tmpdir';
  if (limits.memoryBytes !== undefined && !status.killRequested) {
    const failed = sig !== 0 || (status.exitCode !== null && status.exitCode !== 0);
    if (failed && stderrTail !== null) {
      const text = stderrTail.toString('latin1');
      if (OUT_OF_MEMORY.some((re) => re.test(text))) return 'memory';
    }
    const crashed = sig === SIGSEGV || sig === SIGBUS || sig === SIGABRT;
    if (crashed && status.maxRssBytes >= limits.memoryBytes * AS_REACHED_FRACTION) return 'memory';
  }
  return null;
}

function tail(c: Collected, bytes: number): Buffer {
  const parts: Buffer[] = [];
  let have = 0;
  for (let i = c.chunks.length - 1; i >= 0 && have < bytes; i--) {
    const chunk = c.chunks[i]!;
    parts.unshift(chunk.length > bytes - have ? chunk.subarray(chunk.length - (bytes - have)) : chunk);
    have += parts[0]!.length;
  }
  return Buffer.concat(parts, have);
}

/** A run() call with every option checked, before any zygote is involved. */
export interface PreparedRun {
  cmd: { file: string; args: string[] };
  normalized: NormalizedSpawnOptions;
  input: string | Uint8Array | undefined;
  cap: number;
  encoding: BufferEncoding | 'buffer';
}

export function prepareRun(
  file: unknown,
  args: unknown,
  options: RunOptions | RunBufferOptions | undefined,
  normalize: OptionsNormalizer = normalizeSpawnOptions,
): PreparedRun {
  const cmd = validateCommand(file, args);
  const normalized = normalize(options, runOnlyKeys, ['ignore', 'pipe', 'pipe']);
  const input = options?.input;
  if (input !== undefined && typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new InvalidOptionTypeError('input', 'must be a string or a Uint8Array');
  }
  if (input !== undefined) normalized.stdio[0] = 'pipe';
  const cap = integerOption(options?.maxOutputBytes, 'maxOutputBytes', { min: 0 }) ?? DEFAULT_MAX_OUTPUT;
  const encoding: unknown = options?.encoding ?? 'utf8';
  if (encoding !== 'buffer' && (typeof encoding !== 'string' || !Buffer.isEncoding(encoding))) {
    throw new InvalidOptionTypeError('encoding', `must be 'buffer' or a Buffer encoding, got ${JSON.stringify(encoding)}`);
  }
  const most = maxOutputFor(encoding);
  if (cap > most) {
    throw new InvalidOptionRangeError(
      'maxOutputBytes',
      `(${cap}) must be at most ${most} with encoding ${JSON.stringify(encoding)}: more output than that cannot be returned as one ${encoding === 'buffer' ? 'Buffer' : 'string'}`,
    );
  }
  return { cmd, normalized, input, cap, encoding };
}

/**
 * The most bytes of one stream that can come back in a Result: a Buffer of
 * at most buffer.constants.MAX_LENGTH, a string of at most MAX_STRING_LENGTH
 * characters (a byte is at most one character in UTF-8, Latin-1 and ASCII,
 * two in hex, 4/3 in base64, half of one in UTF-16). A cap above it would let
 * the program's output turn the Result into a RangeError of Node's.
 */
function maxOutputFor(encoding: BufferEncoding | 'buffer'): number {
  const bytes = bufferConstants.MAX_LENGTH;
  const chars = bufferConstants.MAX_STRING_LENGTH;
  switch (encoding === 'buffer' ? encoding : encoding.toLowerCase().replace('-', '')) {
    case 'buffer':
      return bytes;
    case 'hex':
      return Math.min(bytes, Math.floor(chars / 2));
    case 'base64':
    case 'base64url':
      return Math.min(bytes, Math.floor(chars / 4) * 3);
    case 'ucs2':
    case 'utf16le':
      return Math.min(bytes, chars * 2);
    default:
      return Math.min(bytes, chars);
  }
}

/** Feed input, collect output under the caps, wait for the exit, build the Result. */
export async function collectRun(spawned: InternalSpawn, prepared: PreparedRun): Promise<Result<string | Buffer>> {
  const { handle, aborted } = spawned;
  const { cmd, normalized, input, cap, encoding } = prepared;
  let outputCapped = false;
  const overflow = (): void => {
    if (outputCapped) return;
    outputCapped = true;
    handle.killTree('SIGKILL');
  };
  const [outFd, errFd] = spawned.output;
  const stdout = outFd >= 0 ? new OutputCollector(outFd, cap, overflow) : null;
  const stderr = errFd >= 0 ? new OutputCollector(errFd, cap, overflow) : null;
  if (handle.stdin) {
    handle.stdin.on('error', () => {}); // EPIPE when the child does not read its input
    handle.stdin.end(input === undefined ? undefined : Buffer.from(input as Uint8Array | string));
  }
  let status: ExitStatus;
  try {
    status = await handle.exited;
  } catch (e) {
    stdout?.destroy();
    stderr?.destroy();
    handle.stdin?.destroy();
    throw e;
  }
  // Both pipes are read to their end of file, which comes once the last process holding a write end is gone.
  if (stdout) await stdout.done;
  if (stderr) await stderr.done;
  const out: Collected = stdout ?? NOTHING_COLLECTED;
  const err: Collected = stderr ?? NOTHING_COLLECTED;
  const decode = (c: Collected): string | Buffer => {
    const buf = Buffer.concat(c.chunks, c.bytes);
    return encoding === 'buffer' ? buf : buf.toString(encoding);
  };
  return {
    ...status,
    command: [cmd.file, ...cmd.args],
    pid: handle.pid,
    stdout: decode(out),
    stderr: decode(err),
    aborted: aborted(),
    truncated: { stdout: out.truncated, stderr: err.truncated },
    limit: whichLimit(status, normalized.limits, outputCapped, stderr ? tail(err, OOM_TAIL_BYTES) : null),
    enforcement: handle.enforcement,
  };
}
