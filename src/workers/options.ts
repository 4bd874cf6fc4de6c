/**
 * createWorkerPool()'s options: checked here, each error naming its option,
 * into what the pool and its workers run with (the module's real path, the
 * workers' spawn options with the reads node needs, the runtime copy they
 * load from, node's flags).
 */
import { realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidOptionRangeError, InvalidOptionTypeError } from '../errors.js';
import { describe, integerOption, isPlainObject, knownKeys, oneOf } from '../options/checks.js';
import type { Limits } from '../options/limits.js';
import type { SandboxOptions } from '../options/sandbox.js';
import { normalizeSpawnOptions, type NormalizedSpawnOptions } from '../options/spawn-options.js';
import { prepareOperation, type PreparedOperation } from '../spawn/prepare.js';
import { MAX_FRAME } from './protocol.js';
import { accessProblem, acquireRuntime, describeProblem, fixFor, nearestPackageJson, type Identity, type WorkerRuntime } from './runtime.js';

/** Node reserves address space for V8 up front; below this RLIMIT_AS it cannot start (measured: 512 MiB fails, 768 MiB boots). */
export const MIN_WORKER_MEMORY_BYTES = 768 * 1024 * 1024;
/** Threads of an idle `node` (main, 4 V8 platform workers, signal and inspector helpers) plus libuv's 4-thread pool. */
export const MIN_WORKER_PROCESSES = 16;

/** Default per-frame cap on what a worker sends (a result, an error, the ready frame). */
export const DEFAULT_MAX_REPLY_BYTES = 64 * 1024 * 1024;
/** Default cap on reply bytes buffered across all of a pool's workers at once. */
export const DEFAULT_REPLY_BUDGET_BYTES = 256 * 1024 * 1024;

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

/** The options as the pool and its workers use them. `runtime` is acquired: release it when the pool is closed. */
export interface NormalizedWorkerPoolOptions {
  modulePath: string;
  warm: number;
  maxWorkers: number;
  reuse: number;
  timeoutMs: number | undefined;
  bootTimeoutMs: number;
  output: 'inherit' | 'ignore';
  /** What each worker is spawned with (stdio is set per worker: the channel, then output). */
  spawnOptions: NormalizedSpawnOptions;
  /** node's flags before the bootstrap. */
  nodeArgs: string[];
  runtime: WorkerRuntime;
  maxReplyBytes: number;
  replyBudgetBytes: number;
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

export function normalizeWorkerPoolOptions(options: WorkerPoolOptions): NormalizedWorkerPoolOptions {
  if (!isPlainObject(options)) throw new InvalidOptionTypeError('options', 'must be an object');
  const o = options as unknown as Record<string, unknown>;
  knownKeys(
    o,
    ['module', 'warm', 'maxWorkers', 'reuse', 'sandbox', 'limits', 'timeoutMs', 'bootTimeoutMs', 'env', 'output', 'execArgv', 'maxReplyBytes', 'replyBudgetBytes'],
    '',
  );
  const modulePath = validateModule(o.module);
  const warm = integerOption(o.warm, 'warm', { min: 0, max: 256 }) ?? 1;
  const maxWorkers = integerOption(o.maxWorkers, 'maxWorkers', { min: 1, max: 256 }) ?? Math.max(1, availableParallelism());
  const reuse = integerOption(o.reuse, 'reuse', { min: 1, max: 2 ** 31 - 1 }) ?? 1;
  const timeoutMs = integerOption(o.timeoutMs, 'timeoutMs', { min: 1, max: 2 ** 31 - 1 });
  const bootTimeoutMs = integerOption(o.bootTimeoutMs, 'bootTimeoutMs', { min: 1, max: 2 ** 31 - 1 }) ?? 10_000;
  const output = oneOf(o.output, 'output', ['inherit', 'ignore'] as const) ?? 'inherit';
  const execArgv = o.execArgv ?? [];
  if (!Array.isArray(execArgv) || execArgv.some((a) => typeof a !== 'string' || !a.startsWith('-'))) {
    throw new InvalidOptionTypeError('execArgv', 'must be an array of node flags (strings starting with "-")');
  }
  if (warm + maxWorkers > 256) throw new InvalidOptionRangeError('warm', 'plus maxWorkers must not exceed 256 (one zygote)');

  const budget = integerOption(o.replyBudgetBytes, 'replyBudgetBytes', { min: 1, max: Number.MAX_SAFE_INTEGER }) ?? DEFAULT_REPLY_BUDGET_BYTES;
  const maxReply = integerOption(o.maxReplyBytes, 'maxReplyBytes', { min: 1, max: MAX_FRAME });
  if (maxReply !== undefined && maxReply > budget) {
    throw new InvalidOptionRangeError('maxReplyBytes', `must not exceed replyBudgetBytes (${budget}), got ${maxReply}`);
  }
  const maxReplyBytes = maxReply ?? Math.min(DEFAULT_MAX_REPLY_BYTES, budget);

  // The sandbox must let node read what it loads: the bootstrap and its
  // imports, the addon (for SCM_RIGHTS on the channel), the module's
  // directory and the package.json files that say how to load them.
  const moduleDir = dirname(modulePath);
  const moduleReads = [moduleDir];
  const modulePj = nearestPackageJson(moduleDir);
  if (modulePj) moduleReads.push(modulePj);
  const normalize = (reads: string[]): NormalizedSpawnOptions =>
    normalizeSpawnOptions(
      { sandbox: withReads(o.sandbox, reads), limits: o.limits, env: o.env, stdio: ['pipe', 'pipe', 'pipe'], spawnTimeoutMs: bootTimeoutMs },
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
  checkModuleReachable(modulePath, identity);
  const runtime = acquireRuntime(identity);
  let spawnOptions: NormalizedSpawnOptions;
  try {
    spawnOptions = normalize([...runtime.reads, ...moduleReads]);
  } catch (e) {
    runtime.release();
    throw e;
  }
  const nodeArgs = [...(execArgv as string[])];
  if (limits.memoryBytes !== undefined) {
    // The heap is a quarter of the limit, and the JIT stays on unless execArgv says otherwise: the
    // worker's own choices, which spawnOn's Node memory flags (src/spawn/node-memory.ts) then keep.
    if (!nodeArgs.some((a) => /^--(no[-_])?jitless$/.test(a))) nodeArgs.unshift('--no-jitless');
    nodeArgs.unshift(`--max-old-space-size=${Math.max(16, Math.floor(limits.memoryBytes / 4 / 2 ** 20))}`);
  }
  return { modulePath, warm, maxWorkers, reuse, timeoutMs, bootTimeoutMs, output, spawnOptions, nodeArgs, runtime, maxReplyBytes, replyBudgetBytes: budget };
}
