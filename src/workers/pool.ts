/**
 * createWorkerPool(): warm, sandboxed, single-use Node processes that call an
 * exported function of one module. Workers are hatched by a zygote of the
 * pool's own (never a fork of Node): the sandbox is applied by the zygote
 * child before it execs `node`, so every Node thread is confined from its
 * first instruction. A fresh process per call (reuse: 1) gives fork-per-op
 * isolation with the boot paid ahead of time.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism, constants as osConstants } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import { Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deserialize } from 'node:v8';
import { HatcheryError, InvalidOptionRangeError, InvalidOptionTypeError } from '../errors.js';
import { loadBinding } from '../native/binding.js';
import { describe, integerOption, isPlainObject, knownKeys, oneOf } from '../options/checks.js';
import type { Limits } from '../options/limits.js';
import type { SandboxOptions } from '../options/sandbox.js';
import { normalizeSpawnOptions, type NormalizedSpawnOptions } from '../options/spawn-options.js';
import { markUsernsRefused } from '../policy/features.js';
import { SignalScope, stageName, type ExitInfo } from '../protocol/wire.js';
import { prepareOperation, type PreparedOperation } from '../spawn/prepare.js';
import { endOrphanedTree, isUsernsRefusal } from '../spawn/spawn.js';
import { toExitStatus, type ExitStatus } from '../spawn/process-handle.js';
import { Zygote } from '../zygote/zygote.js';
import { Pairer, socketFd, type SocketPair } from './channel.js';
import { WorkerInput, type OpenedInput } from './input.js';
import {
  FDS_PER_FRAME,
  FD_FRAME,
  FrameReader,
  MAX_FRAME,
  MAX_INPUTS,
  ProtocolViolation,
  deserializeError,
  encodeFrame,
  parseWorkerMessage,
  serializeValue,
  type CallMessage,
  type WorkerMessage,
} from './protocol.js';
import { accessProblem, acquireRuntime, describeProblem, fixFor, nearestPackageJson, type Identity, type WorkerRuntime } from './runtime.js';

const { SIGKILL } = osConstants.signals;
const STDERR_TAIL_BYTES = 8192;
const BOOT_FAILURE_STREAK = 3;
/** Node reserves address space for V8 up front; below this RLIMIT_AS it cannot start (measured: 512 MiB fails, 768 MiB boots). */
export const MIN_WORKER_MEMORY_BYTES = 768 * 1024 * 1024;
/** Threads of an idle `node` (main, 4 V8 platform workers, signal and inspector helpers) plus libuv's 4-thread pool. */
export const MIN_WORKER_PROCESSES = 16;

/** Default per-frame cap on what a worker sends (a result, an error, the ready frame). */
export const DEFAULT_MAX_REPLY_BYTES = 64 * 1024 * 1024;
/** Default cap on reply bytes buffered across all of a pool's workers at once. */
export const DEFAULT_REPLY_BUDGET_BYTES = 256 * 1024 * 1024;
/** A frame begun and not continued for this long means the worker is stuck or hostile: it is killed. */
export const STALL_MS = 5000;
/** A worker that closed its channel gets this long to exit by itself (so its exit status is reported) before it is killed. */
export const EOF_GRACE_MS = 2000;

export interface WorkerPoolOptions {
  /** The module whose exports are called: an absolute path or a file: URL. */
  module: string | URL;
  /** Workers kept booted and idle ahead of calls. Default 1. */
  warm?: number;
  /** Calls running at once; more wait in a FIFO queue. Default os.availableParallelism(). */
  maxWorkers?: number;
  /**
   * Calls one worker serves before it is replaced. Default 1: a fresh process
   * per call. Above 1, later calls see what earlier ones left behind in the
   * process (globals, module state, open handles): weaker isolation.
   */
  reuse?: number;
  /** The workers' sandbox (see SandboxOptions). The bootstrap, the module's directory and node are added. */
  sandbox?: SandboxOptions | false;
  /** rlimits per worker. memoryBytes also sets V8's --max-old-space-size (a quarter of it). */
  limits?: Limits;
  /** Per call wall-clock limit: the worker's whole tree is killed and the call rejects with TIMEOUT. */
  timeoutMs?: number;
  /** How long a worker may take to boot and import the module. Default 10000 ms. */
  bootTimeoutMs?: number;
  /** The workers' environment (nothing is inherited). */
  env?: Record<string, string | undefined>;
  /** Where the workers' stdout/stderr go: 'inherit' (this process's, default) or 'ignore'. The stderr tail is kept for crash reports either way. */
  output?: 'inherit' | 'ignore';
  /** Extra `node` flags for the workers, e.g. ['--no-warnings']. */
  execArgv?: string[];
  /**
   * The largest frame a worker may send (a result, or a thrown value), in
   * bytes of its serialized form. Past it the call rejects with
   * REPLY_TOO_LARGE and the worker is killed. Default 64 MiB (at most 256 MiB,
   * and at most replyBudgetBytes).
   */
  maxReplyBytes?: number;
  /**
   * The most reply bytes the pool buffers across all its workers at once. The
   * worker whose bytes go past it has its call rejected with REPLY_TOO_LARGE
   * and is killed. Default 256 MiB.
   */
  replyBudgetBytes?: number;
}

export interface WorkerPoolStats {
  warm: number;
  maxWorkers: number;
  idle: number;
  booting: number;
  busy: number;
  queued: number;
  /** Worker processes alive (including ones being retired). */
  live: number;
  totals: {
    calls: number;
    succeeded: number;
    /** The function threw or rejected. */
    threw: number;
    crashed: number;
    timedOut: number;
    /** A worker broke the channel protocol (WORKER_PROTOCOL) or sent too much (REPLY_TOO_LARGE), and was killed. */
    protocolErrors: number;
    booted: number;
    bootFailed: number;
  };
  /** Boot to ready (spawn request to the 'ready' frame), ms: the last one and the mean. */
  bootMs: { last: number; mean: number };
}

/** A worker that died mid-call or failed to boot. */
export class WorkerError extends HatcheryError {
  /** How the worker ended, when it did. */
  readonly exit: ExitStatus | undefined;
  /** The last bytes the worker wrote to stderr. */
  readonly stderr: string;
  constructor(
    code: 'WORKER_CRASHED' | 'WORKER_BOOT_FAILED' | 'TIMEOUT' | 'WORKER_PROTOCOL' | 'REPLY_TOO_LARGE',
    message: string,
    exit: ExitStatus | undefined,
    stderr: string,
    cause?: unknown,
  ) {
    super(code, stderr ? `${message}\n--- worker stderr (tail) ---\n${stderr.trimEnd()}` : message, cause === undefined ? {} : { cause });
    this.exit = exit;
    this.stderr = stderr;
  }
}

interface PendingCall {
  name: string;
  /** The serialized arguments (WorkerInput ones as null). */
  args: Buffer;
  /** Which arguments are inputs. */
  indexes: number[];
  inputs: WorkerInput[];
  /** The id the worker's reply must carry, once started. */
  id: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  settled: boolean;
  timer?: NodeJS.Timeout;
}

type WorkerState = 'booting' | 'idle' | 'busy' | 'retiring' | 'dead';

interface Worker {
  state: WorkerState;
  pid: number;
  requestId: number;
  pidfd: number;
  channel: Socket;
  channelFd: number;
  /** What the worker has written and the parent not yet taken. */
  reader: FrameReader;
  /** reader.buffered as last counted into the pool's reply budget. */
  accounted: number;
  /** The id of the last call sent to it. */
  lastId: number;
  /** Why its channel broke, when the parent ended it for that (a stalled frame, a closed channel). */
  lost: string | undefined;
  stallTimer: NodeJS.Timeout | undefined;
  eofTimer: NodeJS.Timeout | undefined;
  output: Socket[];
  stderrTail: string;
  outputDone: Promise<void>;
  exports: Set<string>;
  served: number;
  call: PendingCall | undefined;
  bootStarted: number;
  bootError: Error | undefined;
  /** Sent its 'ready' frame: a death before that is a boot failure. */
  ready: boolean;
  prepared: PreparedOperation;
  zygote: Zygote;
}

function zombieOrAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

function validateModule(value: unknown): string {
  let path: string;
  if (value instanceof URL) {
    if (value.protocol !== 'file:') throw new InvalidOptionTypeError('module', `must be a file: URL, got ${value.href}`);
    path = fileURLToPath(value);
  } else if (typeof value === 'string' && value.startsWith('file:')) {
    path = fileURLToPath(value);
  } else if (typeof value === 'string' && isAbsolute(value)) {
    path = value;
  } else {
    throw new InvalidOptionTypeError('module', `must be an absolute path or a file: URL, got ${describe(value)}`);
  }
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    // reported below
  }
  if (!isFile) throw new InvalidOptionRangeError('module', `does not exist or is not a file: ${path}`);
  return realpathSync(path);
}

/** An option value the sandbox gets: the caller's, with `reads` appended to fs.read (invalid shapes are left for validation to report). */
function withReads(sandbox: unknown, reads: readonly string[]): unknown {
  if (sandbox === false) return sandbox;
  const s = (isPlainObject(sandbox) ? { ...sandbox } : sandbox === undefined ? {} : sandbox) as Record<string, unknown>;
  if (isPlainObject(s)) {
    const fs = isPlainObject(s.fs) ? { ...s.fs } : s.fs === undefined ? {} : s.fs;
    if (isPlainObject(fs)) {
      const read = fs.read === undefined ? [] : fs.read;
      if (Array.isArray(read)) fs.read = [...(read as unknown[]), ...reads];
      s.fs = fs;
    }
  }
  return s;
}

/**
 * Who the workers will run as: the compiled plan of one worker decides (as
 * root that is an unprivileged uid with no supplementary groups). undefined
 * when the sandbox cannot be prepared at all: then every boot reports why.
 */
function workerIdentity(options: NormalizedSpawnOptions): Identity | undefined {
  let prepared: PreparedOperation;
  try {
    // Only the identity is wanted: no temp dir is made for it.
    const sandbox = options.sandbox ? { ...options.sandbox, tmpdir: false as const } : options.sandbox;
    prepared = prepareOperation(process.execPath, [], { ...options, sandbox });
  } catch {
    return undefined;
  }
  void prepared.release();
  const { uid, gid } = prepared.enforcement;
  const own = uid === (process.geteuid?.() ?? -1);
  return { uid, gid, groups: own ? (process.getgroups?.() ?? []) : [] };
}

/** The module must be readable by the workers' uid, or every boot would fail with a misleading ERR_MODULE_NOT_FOUND. */
function checkModuleReachable(modulePath: string, id: Identity): void {
  const targets: Array<[string, 'read' | 'search']> = [[dirname(modulePath), 'search'], [modulePath, 'read']];
  const pj = nearestPackageJson(dirname(modulePath));
  if (pj) targets.push([realpathSync(pj), 'read']);
  for (const [path, want] of targets) {
    const problem = accessProblem(path, id, want);
    if (!problem) continue;
    throw new InvalidOptionRangeError(
      'module',
      `${modulePath} cannot be loaded by the workers, which run as uid ${id.uid} (gid ${id.gid}): ${describeProblem(problem, id)}. ` +
        `Fix: ${fixFor(problem)}, or put the module in a directory uid ${id.uid} can read (a mkdtemp dir is 0700)`,
    );
  }
}

/** Retiring or dead (a function, so a state read after a call is not narrowed away). */
function gone(worker: Worker): boolean {
  return worker.state === 'retiring' || worker.state === 'dead';
}

/** Why a worker is being retired for what it sent. */
class Violation extends Error {
  constructor(
    readonly code: 'WORKER_PROTOCOL' | 'REPLY_TOO_LARGE',
    message: string,
  ) {
    super(message);
  }
}

export class WorkerPool {
  private readonly modulePath: string;
  private readonly warm: number;
  private readonly maxWorkers: number;
  private readonly reuse: number;
  private readonly timeoutMs: number | undefined;
  private readonly bootTimeoutMs: number;
  private readonly output: 'inherit' | 'ignore';
  private readonly spawnOptions: NormalizedSpawnOptions;
  private readonly nodeArgs: string[];
  private readonly runtime: WorkerRuntime;
  private readonly maxReplyBytes: number;
  private readonly replyBudgetBytes: number;
  /** Bytes the workers have written that the pool holds (all readers together). */
  private bufferedReplyBytes = 0;
  private readonly workers = new Set<Worker>();
  private readonly queue: PendingCall[] = [];
  private readonly pairer = new Pairer();
  private zygote: Zygote | undefined;
  private zygoteStarting: Promise<Zygote> | undefined;
  private booting = 0;
  private bootFailures = 0;
  private knownExports: Set<string> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly totals = { calls: 0, succeeded: 0, threw: 0, crashed: 0, timedOut: 0, protocolErrors: 0, booted: 0, bootFailed: 0 };
  private bootMsLast = 0;
  private lastBootError: Error | undefined;
  private bootMsSum = 0;

  /** @internal use createWorkerPool() */
  constructor(options: WorkerPoolOptions) {
    if (!isPlainObject(options)) throw new InvalidOptionTypeError('options', 'must be an object');
    const o = options as unknown as Record<string, unknown>;
    knownKeys(
      o,
      ['module', 'warm', 'maxWorkers', 'reuse', 'sandbox', 'limits', 'timeoutMs', 'bootTimeoutMs', 'env', 'output', 'execArgv', 'maxReplyBytes', 'replyBudgetBytes'],
      '',
    );
    this.modulePath = validateModule(o.module);
    this.warm = integerOption(o.warm, 'warm', { min: 0, max: 256 }) ?? 1;
    this.maxWorkers = integerOption(o.maxWorkers, 'maxWorkers', { min: 1, max: 256 }) ?? Math.max(1, availableParallelism());
    this.reuse = integerOption(o.reuse, 'reuse', { min: 1, max: 2 ** 31 - 1 }) ?? 1;
    this.timeoutMs = integerOption(o.timeoutMs, 'timeoutMs', { min: 1, max: 2 ** 31 - 1 });
    this.bootTimeoutMs = integerOption(o.bootTimeoutMs, 'bootTimeoutMs', { min: 1, max: 2 ** 31 - 1 }) ?? 10_000;
    this.output = oneOf(o.output, 'output', ['inherit', 'ignore'] as const) ?? 'inherit';
    const execArgv = o.execArgv ?? [];
    if (!Array.isArray(execArgv) || execArgv.some((a) => typeof a !== 'string' || !a.startsWith('-'))) {
      throw new InvalidOptionTypeError('execArgv', 'must be an array of node flags (strings starting with "-")');
    }
    if (this.warm + this.maxWorkers > 256) throw new InvalidOptionRangeError('warm', 'plus maxWorkers must not exceed 256 (one zygote)');

    const budget = integerOption(o.replyBudgetBytes, 'replyBudgetBytes', { min: 1, max: Number.MAX_SAFE_INTEGER }) ?? DEFAULT_REPLY_BUDGET_BYTES;
    const maxReply = integerOption(o.maxReplyBytes, 'maxReplyBytes', { min: 1, max: MAX_FRAME });
    if (maxReply !== undefined && maxReply > budget) {
      throw new InvalidOptionRangeError('maxReplyBytes', `must not exceed replyBudgetBytes (${budget}), got ${maxReply}`);
    }
    this.replyBudgetBytes = budget;
    this.maxReplyBytes = maxReply ?? Math.min(DEFAULT_MAX_REPLY_BYTES, budget);

    // The sandbox must let node read what it loads: the bootstrap and its
    // imports, the addon (for SCM_RIGHTS on the channel), the module's
    // directory and the package.json files that say how to load them.
    const moduleDir = dirname(this.modulePath);
    const moduleReads = [moduleDir];
    const modulePj = nearestPackageJson(moduleDir);
    if (modulePj) moduleReads.push(modulePj);
    const normalize = (reads: string[]): NormalizedSpawnOptions =>
      normalizeSpawnOptions(
        { sandbox: withReads(o.sandbox, reads), limits: o.limits, env: o.env, stdio: ['pipe', 'pipe', 'pipe'], spawnTimeoutMs: this.bootTimeoutMs },
        [],
        ['pipe', 'pipe', 'pipe'],
      );
    const draft = normalize(moduleReads);
    const limits = draft.limits;
    if (limits.memoryBytes !== undefined && limits.memoryBytes < MIN_WORKER_MEMORY_BYTES) {
      throw new InvalidOptionRangeError('limits.memoryBytes', `must be at least ${MIN_WORKER_MEMORY_BYTES} for a Node worker (V8 reserves address space at startup), got ${limits.memoryBytes}`);
    }
    if (limits.processes !== undefined && limits.processes < MIN_WORKER_PROCESSES) {
      throw new InvalidOptionRangeError('limits.processes', `must be at least ${MIN_WORKER_PROCESSES} for a Node worker (its own threads count), got ${limits.processes}`);
    }
    // Everything a worker reads must be reachable by its uid: the module is
    // the caller's to place; the bootstrap and addon the library copies where
    // that uid can read them when the workers run as someone else.
    const me = process.geteuid?.() ?? 0;
    const identity = workerIdentity(draft) ?? { uid: me, gid: process.getegid?.() ?? 0, groups: [] };
    checkModuleReachable(this.modulePath, identity);
    this.runtime = acquireRuntime(identity);
    try {
      this.spawnOptions = normalize([...this.runtime.reads, ...moduleReads]);
    } catch (e) {
      this.runtime.release();
      throw e;
    }
    this.nodeArgs = [...(execArgv as string[])];
    if (limits.memoryBytes !== undefined) {
      this.nodeArgs.unshift(`--max-old-space-size=${Math.max(16, Math.floor(limits.memoryBytes / 4 / 2 ** 20))}`);
    }
    this.ensureWarm();
  }

  /**
   * Call `exportName(...args)` in a warm worker. Arguments and the result are
   * structured-cloned (v8.serialize). A WorkerInput argument (top level only)
   * reaches the worker as an fs.ReadStream over a passed fd.
   */
  call(exportName: string, ...args: unknown[]): Promise<unknown> {
    if (typeof exportName !== 'string' || exportName === '') {
      return Promise.reject(new InvalidOptionTypeError('exportName', `must be a non-empty string, got ${describe(exportName)}`));
    }
    if (this.closed) return Promise.reject(new HatcheryError('CLOSED', 'the worker pool is closed'));
    if (this.knownExports && !this.knownExports.has(exportName)) {
      return Promise.reject(new HatcheryError('UNKNOWN_EXPORT', `${this.modulePath} has no exported function ${JSON.stringify(exportName)}`));
    }
    const inputs: WorkerInput[] = [];
    const indexes: number[] = [];
    const plain = args.map((a, i) => {
      if (a instanceof WorkerInput) {
        inputs.push(a);
        indexes.push(i);
        return null;
      }
      return a;
    });
    if (inputs.length > MAX_INPUTS) {
      return Promise.reject(new InvalidOptionRangeError('args', `may hold at most ${MAX_INPUTS} WorkerInput values, got ${inputs.length}`));
    }
    let serialized: Buffer;
    try {
      serialized = serializeValue(plain);
    } catch (e) {
      return Promise.reject(e);
    }
    // The frame adds the name and a few dozen bytes of framing to the arguments.
    if (serialized.length + Buffer.byteLength(exportName) + 4096 > MAX_FRAME) {
      return Promise.reject(new RangeError(`arguments of ${serialized.length} bytes exceed the ${MAX_FRAME} byte frame limit`));
    }
    this.totals.calls++;
    return new Promise<unknown>((resolve, reject) => {
      this.queue.push({ name: exportName, args: serialized, indexes, inputs, id: 0, resolve, reject, settled: false });
      if (this.bootFailures >= BOOT_FAILURE_STREAK) this.bootFailures = BOOT_FAILURE_STREAK - 1; // one more try
      this.dispatch();
    });
  }

  stats(): WorkerPoolStats {
    let idle = 0;
    let busy = 0;
    for (const w of this.workers) {
      if (w.state === 'idle') idle++;
      else if (w.state === 'busy') busy++;
    }
    return {
      warm: this.warm,
      maxWorkers: this.maxWorkers,
      idle,
      booting: this.booting,
      busy,
      queued: this.queue.length,
      live: this.workers.size,
      totals: { ...this.totals },
      bootMs: { last: this.bootMsLast, mean: this.totals.booted ? this.bootMsSum / this.totals.booted : 0 },
    };
  }

  /** Wait until `warm` workers are booted and idle (or a boot failed). */
  async ready(timeoutMs = this.bootTimeoutMs * 2): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const hold = setInterval(() => {}, 1000);
    try {
      while (this.stats().idle < this.warm) {
        if (this.closed) throw new HatcheryError('CLOSED', 'the worker pool is closed');
        if (this.bootFailures >= BOOT_FAILURE_STREAK) {
          throw new HatcheryError('WORKER_BOOT_FAILED', `workers of ${this.modulePath} keep failing to boot: ${this.lastBootError?.message ?? 'unknown'}`, { cause: this.lastBootError });
        }
        if (Date.now() > deadline) throw new HatcheryError('WORKER_BOOT_FAILED', `workers did not boot within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 2));
      }
    } finally {
      clearInterval(hold);
    }
  }

  /** Reject queued calls, kill every worker and the pool's zygote; resolves when all are gone. */
  /** Releases of finished workers still under way (a host temp dir being emptied). */
  private readonly releases = new Set<Promise<void>>();

  private track(release: Promise<void>): void {
    this.releases.add(release);
    void release.finally(() => this.releases.delete(release));
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    const error = new HatcheryError('CLOSED', 'the worker pool was closed');
    for (const c of this.queue.splice(0)) this.settle(c, error);
    this.closing = (async () => {
      const hold = setInterval(() => {}, 1000);
      try {
        for (const w of this.workers) {
          if (w.call) this.settle(w.call, error);
          this.retire(w);
        }
        const deadline = Date.now() + 5000;
        while ((this.workers.size > 0 || this.booting > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        await this.zygoteStarting?.catch(() => undefined);
        // Host temp dirs (where there is no private tmpfs) are emptied through the zygote: let that finish first.
        await Promise.all(this.releases);
        const z = this.zygote;
        this.zygote = undefined;
        if (z) {
          z.close();
          // Resolve only once the zygote itself is reaped (its pidfd watcher does that).
          const until = Date.now() + 2000;
          while (Date.now() < until && zombieOrAlive(z.pid)) await new Promise((r) => setTimeout(r, 2));
        }
        this.pairer.close();
        // Its workers are gone: the runtime copy they read can go too (when no other pool uses it).
        this.runtime.release();
      } finally {
        clearInterval(hold);
      }
    })();
    return this.closing;
  }

  // --- internals -----------------------------------------------------------

  /** Reject the call (once). `error` may be any value a worker threw, undefined included. */
  private settle(call: PendingCall, error: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (call.timer) clearTimeout(call.timer);
    call.reject(error);
  }

  private fulfill(call: PendingCall, value: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (call.timer) clearTimeout(call.timer);
    call.resolve(value);
  }

  private busyCount(): number {
    let n = 0;
    for (const w of this.workers) if (w.state === 'busy') n++;
    return n;
  }

  private dispatch(): void {
    let busy = this.busyCount();
    while (this.queue.length > 0 && busy < this.maxWorkers) {
      // A worker part-way through its `reuse` calls first, so each serves its n calls before a fresh one starts.
      let worker: Worker | undefined;
      for (const w of this.workers) {
        if (w.state === 'idle' && (!worker || w.served > worker.served)) worker = w;
      }
      if (!worker) break;
      const call = this.queue.shift()!;
      if (!worker.exports.has(call.name)) {
        this.settle(call, new HatcheryError('UNKNOWN_EXPORT', `${this.modulePath} has no exported function ${JSON.stringify(call.name)}`));
        continue;
      }
      this.start(worker, call);
      busy++;
    }
    this.updateRefs();
    this.ensureWarm();
  }

  private ensureWarm(): void {
    if (this.closed || this.bootFailures >= BOOT_FAILURE_STREAK) return;
    let idle = 0;
    let busy = 0;
    let live = 0;
    for (const w of this.workers) {
      if (w.state === 'idle') idle++;
      else if (w.state === 'busy') busy++;
      if (w.state !== 'retiring' && w.state !== 'dead') live++;
    }
    const waiting = Math.min(this.queue.length, Math.max(0, this.maxWorkers - busy));
    const want = this.warm + waiting;
    let spare = idle + this.booting;
    live += this.booting - [...this.workers].filter((w) => w.state === 'booting').length;
    while (spare < want && live < this.maxWorkers + this.warm) {
      spare++;
      live++;
      this.boot();
    }
  }

  private start(worker: Worker, call: PendingCall): void {
    const native = loadBinding();
    worker.state = 'busy';
    worker.call = call;
    call.id = ++worker.lastId;
    const opened: OpenedInput[] = [];
    let frame: Buffer;
    try {
      frame = encodeFrame({ t: 'call', id: call.id, name: call.name, args: call.args, inputs: call.indexes } satisfies CallMessage);
      for (const input of call.inputs) opened.push(input.open());
      for (let i = 0; i < opened.length; i += FDS_PER_FRAME) {
        const fds = opened.slice(i, i + FDS_PER_FRAME).map((o) => o.fd);
        // The channel is idle (the worker has read all earlier frames), so a 4-byte sendmsg goes through whole.
        const sent = native.sendMessage(worker.channelFd, FD_FRAME, fds);
        if (sent !== FD_FRAME.length) throw new Error(`passing input fds failed (${sent < 0 ? `errno ${-sent}` : `${sent} bytes`})`);
      }
    } catch (e) {
      for (const o of opened) o.release();
      worker.call = undefined;
      // Fds may sit queued in the worker without their call: it cannot serve another.
      if (opened.length > 0) this.retire(worker);
      else worker.state = 'idle';
      this.settle(call, e);
      return;
    }
    for (const o of opened) o.release();
    if (this.timeoutMs !== undefined) {
      call.timer = setTimeout(() => {
        this.totals.timedOut++;
        this.settle(call, new WorkerError('TIMEOUT', `call ${JSON.stringify(call.name)} timed out after ${this.timeoutMs} ms; the worker's process tree was killed`, undefined, worker.stderrTail));
        this.retire(worker);
      }, this.timeoutMs);
    }
    worker.channel.ref();
    worker.channel.write(frame);
  }

  /**
   * Bytes from a worker: hostile until checked. Frames are taken whole, sizes
   * checked from the header before the body is buffered, every message
   * checked field by field; anything wrong retires the worker and rejects its
   * call with a typed error. Nothing here may throw into the event loop.
   */
  private onChannelData(worker: Worker, chunk: Buffer): void {
    if (worker.state === 'retiring' || worker.state === 'dead') return; // being killed: its bytes no longer matter
    const reader = worker.reader;
    reader.push(chunk);
    try {
      for (;;) {
        const size = reader.peekSize();
        if (size === undefined) break;
        if (size > MAX_FRAME) throw new Violation('WORKER_PROTOCOL', `a frame header announced ${size} bytes (the protocol allows ${MAX_FRAME})`);
        if (size > this.maxReplyBytes) {
          throw new Violation('REPLY_TOO_LARGE', `the worker's reply is ${size} bytes, more than maxReplyBytes (${this.maxReplyBytes})`);
        }
        const payload = reader.nextPayload();
        if (payload === undefined) break;
        if (payload === null) throw new Violation('WORKER_PROTOCOL', 'an empty frame (a worker never sends fds)');
        let decoded: unknown;
        try {
          decoded = deserialize(payload);
        } catch (e) {
          throw new Violation('WORKER_PROTOCOL', `a frame of ${size} bytes that does not deserialize (${e instanceof Error ? e.message : 'unknown error'})`);
        }
        this.account(worker);
        this.onMessage(worker, parseWorkerMessage(decoded));
        if (gone(worker)) {
          this.dropBuffered(worker);
          return;
        }
      }
      this.account(worker);
      if (this.bufferedReplyBytes > this.replyBudgetBytes) {
        throw new Violation(
          'REPLY_TOO_LARGE',
          `replies buffered across the pool's workers reached ${this.bufferedReplyBytes} bytes, more than replyBudgetBytes (${this.replyBudgetBytes}); this worker's ${reader.buffered} were dropped`,
        );
      }
      this.watchStall(worker);
    } catch (e) {
      const v =
        e instanceof Violation ? e : e instanceof ProtocolViolation ? new Violation('WORKER_PROTOCOL', e.message) : new Violation('WORKER_PROTOCOL', `its frame could not be handled (${String(e)})`);
      this.violate(worker, v);
    }
  }

  /** Count `worker`'s buffered bytes into the pool's reply budget. */
  private account(worker: Worker): void {
    const now = worker.reader.buffered;
    this.bufferedReplyBytes += now - worker.accounted;
    worker.accounted = now;
  }

  private dropBuffered(worker: Worker): void {
    worker.reader.clear();
    this.account(worker);
    if (worker.stallTimer) clearTimeout(worker.stallTimer);
    worker.stallTimer = undefined;
  }

  /** A frame begun must keep coming: no progress for STALL_MS and the worker is killed. */
  private watchStall(worker: Worker): void {
    if (worker.reader.buffered === 0) {
      if (worker.stallTimer) clearTimeout(worker.stallTimer);
      worker.stallTimer = undefined;
      return;
    }
    if (worker.stallTimer) {
      worker.stallTimer.refresh();
      return;
    }
    worker.stallTimer = setTimeout(() => {
      worker.stallTimer = undefined;
      if (worker.state === 'retiring' || worker.state === 'dead') return;
      const size = worker.reader.peekSize();
      worker.lost = `sent ${worker.reader.buffered} bytes of a ${size === undefined ? 'frame' : `${size}-byte frame`} and then nothing for ${STALL_MS} ms`;
      if (!worker.ready) worker.bootError ??= new Error(`the worker ${worker.lost}`);
      this.dropBuffered(worker);
      this.retire(worker);
    }, STALL_MS);
    worker.stallTimer.unref();
  }

  /** The worker's end of the channel closed: it can never reply. Give it a moment to exit on its own (a crash), then kill it. */
  private onChannelEnd(worker: Worker): void {
    if (worker.state === 'retiring' || worker.state === 'dead' || worker.eofTimer) return;
    const partial = worker.reader.buffered > 0;
    this.dropBuffered(worker);
    worker.eofTimer = setTimeout(() => {
      if (worker.state === 'retiring' || worker.state === 'dead') return;
      worker.lost = `closed its channel${partial ? ' in the middle of a frame' : ''} without exiting`;
      if (!worker.ready) worker.bootError ??= new Error(`the worker ${worker.lost}`);
      this.retire(worker);
    }, EOF_GRACE_MS);
    worker.eofTimer.unref();
  }

  /** A worker broke the protocol or its reply limits: reject its call now, kill its tree. */
  private violate(worker: Worker, v: Violation): void {
    if (worker.state === 'retiring' || worker.state === 'dead') return;
    this.totals.protocolErrors++;
    const call = worker.call;
    const doing = call ? `running ${JSON.stringify(call.name)}` : worker.ready ? 'while idle' : 'while booting';
    const error = new WorkerError(v.code, `a worker for ${this.modulePath} ${doing} was killed: ${v.message}`, undefined, worker.stderrTail);
    if (call) this.settle(call, error);
    else if (!worker.ready) worker.bootError = error;
    this.dropBuffered(worker);
    worker.channel.pause();
    this.retire(worker);
  }

  /** A checked message. A message the worker's state does not expect is a violation too. */
  private onMessage(worker: Worker, message: WorkerMessage): void {
    switch (message.t) {
      case 'ready': {
        if (worker.state !== 'booting') throw new ProtocolViolation(`a ready frame from a worker that is ${worker.state === 'busy' ? 'running a call' : 'already ready'}`);
        this.booting--;
        this.bootFailures = 0;
        this.totals.booted++;
        this.bootMsLast = performance.now() - worker.bootStarted;
        this.bootMsSum += this.bootMsLast;
        worker.ready = true;
        worker.exports = new Set(message.exports);
        this.knownExports = worker.exports;
        worker.state = 'idle';
        worker.channel.unref();
        this.dispatch();
        return;
      }
      case 'boot-error':
        if (worker.ready) throw new ProtocolViolation('a boot-error frame from a worker that is ready');
        worker.bootError = deserializeError(message.error);
        this.retire(worker);
        return;
      case 'ok':
      case 'err':
      case 'throw': {
        const call = worker.call;
        if (!call || worker.state !== 'busy') throw new ProtocolViolation(`a reply (${message.t}) with no call in flight`);
        if (message.id !== call.id) throw new ProtocolViolation(`a reply for call ${message.id}, not for the call in flight (${call.id})`);
        worker.call = undefined;
        worker.served++;
        if (message.t === 'ok') {
          this.totals.succeeded++;
          this.fulfill(call, message.value);
        } else {
          this.totals.threw++;
          this.settle(call, message.t === 'err' ? deserializeError(message.error) : message.value);
        }
        if (worker.served >= this.reuse || this.closed) this.retire(worker);
        else {
          worker.state = 'idle';
          worker.channel.unref();
        }
        this.dispatch();
        return;
      }
    }
  }

  /** Kill the worker's tree; its exit report cleans up. */
  private retire(worker: Worker): void {
    if (worker.state === 'retiring' || worker.state === 'dead') return;
    if (worker.state === 'booting') this.booting--;
    worker.state = 'retiring';
    worker.zygote.signal(worker.requestId, SIGKILL, SignalScope.Tree);
    this.updateRefs();
  }

  /** Queued calls and calls not yet settled hold the loop, also while their worker is being killed (its exit report settles them). */
  private holdsLoop(): boolean {
    if (this.closing || this.queue.length > 0) return true;
    for (const w of this.workers) if (w.state === 'busy' || (w.call && !w.call.settled)) return true;
    return false;
  }

  private updateRefs(): void {
    this.zygote?.updateRef();
  }

  private getZygote(): Promise<Zygote> {
    if (this.zygote?.alive) return Promise.resolve(this.zygote);
    if (this.zygoteStarting) return this.zygoteStarting;
    this.zygoteStarting = Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: this.bootTimeoutMs }).then(
      (z) => {
        this.zygoteStarting = undefined;
        // Warm idle workers are children in flight for the zygote; only busy calls should hold the loop.
        z.setChildrenHoldLoop(() => this.holdsLoop());
        z.onDeath(() => {
          if (this.zygote === z) this.zygote = undefined;
        });
        if (this.closed) {
          z.close();
          throw new HatcheryError('CLOSED', 'the worker pool was closed');
        }
        this.zygote = z;
        return z;
      },
      (e: unknown) => {
        this.zygoteStarting = undefined;
        throw e;
      },
    );
    return this.zygoteStarting;
  }

  private boot(): void {
    this.booting++;
    const started = performance.now();
    void this.bootWorker(started, false).catch((e: unknown) => {
      this.booting--;
      this.onBootFailure(e instanceof Error ? e : new Error(String(e)), undefined, '');
    });
  }

  private onBootFailure(cause: Error, exit: ExitStatus | undefined, stderr: string): void {
    this.totals.bootFailed++;
    this.bootFailures++;
    // CLOSED, and what a booting worker sent that broke the protocol, are reported as they are.
    const error =
      cause instanceof HatcheryError && (cause.code === 'CLOSED' || cause.code === 'WORKER_PROTOCOL' || cause.code === 'REPLY_TOO_LARGE')
        ? cause
        : new WorkerError('WORKER_BOOT_FAILED', `a worker for ${this.modulePath} failed to boot: ${cause.message}`, exit, stderr, cause);
    this.lastBootError = error;
    if (this.closed) return;
    // A module that cannot load fails every boot: fail the calls waiting for one rather than spin.
    if (this.bootFailures >= BOOT_FAILURE_STREAK) for (const c of this.queue.splice(0)) this.settle(c, error);
    else {
      const first = this.queue.shift();
      if (first) this.settle(first, error);
    }
    this.ensureWarm();
  }

  private async bootWorker(started: number, retried: boolean): Promise<void> {
    const zygote = await this.getZygote();
    if (this.closed) throw new HatcheryError('CLOSED', 'the worker pool was closed');
    const pair: SocketPair = await this.pairer.pair();
    const native = loadBinding();
    let prepared: PreparedOperation;
    const args = [...this.nodeArgs, this.runtime.bootstrap, this.runtime.addon, pathToFileURL(this.modulePath).href];
    try {
      prepared = prepareOperation(process.execPath, args, this.spawnOptions, zygote);
    } catch (e) {
      pair.parent.destroy();
      pair.child.destroy();
      throw e;
    }
    const closeAfter: number[] = [];
    const output: Socket[] = [];
    let outFd: number;
    let errFd: number;
    try {
      if (this.output === 'ignore') {
        outFd = native.openDevNull();
        closeAfter.push(outFd);
      } else {
        const [r, w] = native.pipe();
        closeAfter.push(w);
        outFd = w;
        const s = new Socket({ fd: r, readable: true, writable: false });
        s.on('data', (chunk: Buffer) => process.stdout.write(chunk));
        output.push(s);
      }
      const [r, w] = native.pipe();
      closeAfter.push(w);
      errFd = w;
      output.push(new Socket({ fd: r, readable: true, writable: false }));
    } catch (e) {
      for (const fd of closeAfter) native.close(fd);
      for (const s of output) s.destroy();
      pair.parent.destroy();
      pair.child.destroy();
      this.track(prepared.release(zygote));
      throw e;
    }
    const errStream = output[output.length - 1]!;
    for (const s of output) {
      s.unref();
      s.on('error', () => {});
    }
    const worker: Worker = {
      state: 'booting',
      pid: -1,
      requestId: -1,
      pidfd: -1,
      channel: pair.parent,
      channelFd: socketFd(pair.parent),
      reader: new FrameReader(),
      accounted: 0,
      lastId: 0,
      lost: undefined,
      stallTimer: undefined,
      eofTimer: undefined,
      output,
      stderrTail: '',
      outputDone: Promise.all(output.map((s) => new Promise<void>((r) => s.once('close', () => r())))).then(() => undefined),
      exports: new Set(),
      served: 0,
      call: undefined,
      bootStarted: started,
      bootError: undefined,
      ready: false,
      prepared,
      zygote,
    };
    errStream.on('data', (chunk: Buffer) => {
      if (this.output === 'inherit') process.stderr.write(chunk);
      worker.stderrTail = (worker.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    const channel = pair.parent;
    channel.unref();
    channel.on('error', () => {});
    channel.on('data', (chunk: Buffer) => this.onChannelData(worker, chunk));
    // EOF, or a reset (the worker closed with our call frame unread): either way it cannot reply.
    channel.on('end', () => this.onChannelEnd(worker));
    channel.on('close', () => this.onChannelEnd(worker));
    let bootTimer: NodeJS.Timeout | undefined = setTimeout(() => {
      bootTimer = undefined;
      if (worker.state === 'booting') {
        worker.bootError = new Error(`did not become ready within ${this.bootTimeoutMs} ms`);
        this.retire(worker);
      }
    }, this.bootTimeoutMs);
    bootTimer.unref();

    const finish = async (exit: ExitStatus | undefined, cause: Error | undefined): Promise<void> => {
      if (bootTimer) clearTimeout(bootTimer);
      if (worker.eofTimer) clearTimeout(worker.eofTimer);
      const was = worker.state;
      worker.state = 'dead';
      this.dropBuffered(worker);
      if (worker.pidfd >= 0) {
        native.close(worker.pidfd);
        worker.pidfd = -1;
      }
      this.track(prepared.release(zygote));
      // The pipes hit EOF when the tree is gone; wait briefly for the stderr tail.
      await Promise.race([worker.outputDone, new Promise((r) => setTimeout(r, 200).unref())]);
      for (const s of output) s.destroy();
      channel.destroy();
      this.workers.delete(worker);
      const ended = exit ? (exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`) : `was lost (${cause?.message ?? 'unknown'})`;
      const how = worker.lost ? `${worker.lost}, so it ${ended}` : ended;
      if (was === 'booting') this.booting--;
      if (!worker.ready) {
        this.onBootFailure(worker.bootError ?? cause ?? new Error(`the worker ${how} before it was ready`), exit, worker.stderrTail);
      } else if (worker.call) {
        const call = worker.call;
        worker.call = undefined;
        if (!call.settled) {
          this.totals.crashed++;
          this.settle(call, new WorkerError('WORKER_CRASHED', `the worker running ${JSON.stringify(call.name)} ${how}`, exit, worker.stderrTail, cause));
        }
      }
      this.updateRefs();
      this.dispatch();
    };

    this.workers.add(worker);
    let spawnSettled = false;
    /** The worker never started: undo everything made for it. */
    const abandon = (): void => {
      pair.child.destroy();
      worker.state = 'dead';
      this.workers.delete(worker);
      this.dropBuffered(worker);
      if (worker.eofTimer) clearTimeout(worker.eofTimer);
      if (bootTimer) clearTimeout(bootTimer);
      for (const s of output) s.destroy();
      channel.destroy();
      this.track(prepared.release(zygote));
    };
    await new Promise<void>((resolve, reject) => {
      try {
        worker.requestId = zygote.spawn(prepared.plan, [pair.childFd, outFd, errFd], closeAfter, {
          spawned: (pid, pidfd) => {
            spawnSettled = true;
            worker.pid = pid;
            worker.pidfd = pidfd;
            pair.child.destroy();
            if (this.closed) this.retire(worker);
            resolve();
          },
          failed: (stage, errno) => {
            spawnSettled = true;
            abandon();
            const e = new HatcheryError('EXEC_FAILED', `${process.execPath}: worker setup failed at stage '${stageName(stage)}' (errno ${errno})`, { stage: stageName(stage), errno });
            const autoNs = this.spawnOptions.sandbox && this.spawnOptions.sandbox.namespaces === 'auto';
            if (!retried && autoNs && isUsernsRefusal(e.stage, errno)) {
              markUsernsRefused('the kernel refused a user namespace at spawn time');
              this.bootWorker(started, true).then(resolve, reject);
              return;
            }
            reject(e);
          },
          exit: (info: ExitInfo) => {
            void finish(toExitStatus(info), undefined);
          },
          died: (error) => {
            pair.child.destroy();
            endOrphanedTree(worker.pid, worker.pidfd);
            if (!spawnSettled) {
              spawnSettled = true;
              abandon();
              reject(error);
              return;
            }
            void finish(undefined, error);
          },
        });
      } catch (e) {
        abandon();
        reject(e);
      }
    });
  }
}

export function createWorkerPool(options: WorkerPoolOptions): WorkerPool {
  return new WorkerPool(options);
}

export { WorkerInput };
