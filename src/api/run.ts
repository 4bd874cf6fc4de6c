/**
 * The top-level run(): a one-line forward to the default pool
 * (src/pool/default-pool.ts). It lives above the pool so that nothing under
 * src/spawn/ depends on src/pool/ (see docs/ARCHITECTURE.md).
 */
import { defaultPool } from '../pool/default-pool.js';
import type { Result, RunBufferOptions, RunOptions } from '../spawn/run.js';

export function run(file: string, args?: readonly string[], options?: RunOptions): Promise<Result<string>>;
export function run(file: string, args: readonly string[] | undefined, options: RunBufferOptions): Promise<Result<Buffer>>;
export function run(file: string, args?: readonly string[], options?: RunOptions | RunBufferOptions): Promise<Result<string | Buffer>>;
/**
 * Run a program to completion in a fresh child and collect its output.
 * A non-zero exit resolves; failures to start reject with a HatcheryError.
 * Goes through the default pool.
 */
export async function run(file: string, args: readonly string[] = [], options: RunOptions | RunBufferOptions = {}): Promise<Result<string | Buffer>> {
  return defaultPool().run(file, args, options);
}
