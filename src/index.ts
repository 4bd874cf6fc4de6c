/**
 * hatchery: run untrusted work from Node.js in sandboxed child processes,
 * hatched by pre-booted native zygotes.
 */
export { run, type RunOptions, type Result, type LimitName } from './spawn/run.js';
export { spawn } from './spawn/spawn.js';
export { ProcessHandle, type ExitStatus } from './spawn/process-handle.js';
export type { SpawnOptions } from './options/spawn-options.js';
export type { Limits } from './options/limits.js';
export type { StdioMode, StdioOption } from './options/stdio.js';
export {
  HatcheryError,
  InvalidOptionTypeError,
  InvalidOptionRangeError,
  isHatcheryError,
  type HatcheryErrorCode,
  type InvalidOptionError,
} from './errors.js';
export { closeDefaultZygote } from './zygote/default-zygote.js';
