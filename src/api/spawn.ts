/**
 * The top-level spawn(): a one-line forward to the default pool
 * (src/pool/default-pool.ts), above the pool like run() (src/api/run.ts).
 */
import type { SpawnOptions } from '../options/spawn-options.js';
import { defaultPool } from '../pool/default-pool.js';
import type { ProcessHandle } from '../spawn/process-handle.js';

/**
 * Start `file` with `args` in a fresh child hatched by a zygote of the
 * default pool. Resolves once the program has been exec'd; rejects with
 * EXEC_FAILED (with `stage` and `errno`) if any setup step or the exec itself
 * failed.
 */
export async function spawn(file: string, args: readonly string[] = [], options: SpawnOptions = {}): Promise<ProcessHandle> {
  return defaultPool().spawn(file, args, options);
}
