/**
 * hatchery: run untrusted work from Node.js in sandboxed child processes,
 * hatched by pre-booted native zygotes.
 */
export { run } from './api/run.js';
export { spawn } from './api/spawn.js';
export type { RunOptions, RunBufferOptions, Result, LimitName } from './spawn/run.js';
export { ProcessHandle, type ExitStatus } from './spawn/process-handle.js';
export type { SpawnOptions } from './options/spawn-options.js';
export type { Limits } from './options/limits.js';
export type { StdioMode, StdioOption } from './options/stdio.js';
export type { SandboxOptions, FsPolicy, NetPolicy, NamespaceSet, SeccompPolicyOption } from './options/sandbox.js';
export type { Enforcement } from './policy/compile.js';
export {
  HatcheryError,
  InvalidOptionTypeError,
  InvalidOptionRangeError,
  isHatcheryError,
  type HatcheryErrorCode,
  type InvalidOptionError,
} from './errors.js';
export { closeDefaultZygote } from './api/default-zygote.js';
export { createPool, type Pool, type PoolStats, type PoolZygoteStats, type CloseOptions } from './pool/pool.js';
export type { PoolOptions, PoolDefaults } from './pool/options.js';
export type { SpawnEvent, ExitEvent, ZygoteEvent, QueueEvent } from './pool/events.js';
export {
  createWorkerPool,
  WorkerPool,
  WorkerInput,
  WorkerError,
  type WorkerPoolOptions,
  type WorkerPoolStats,
} from './workers/pool.js';
