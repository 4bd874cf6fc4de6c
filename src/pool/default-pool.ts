/**
 * The pool behind the top-level run() and spawn(): created on first use,
 * holds no zygote until a call needs one and none after 30 s idle, and never
 * keeps the process alive.
 *
 * - minZygotes 0: a library call should not leave a process behind for good;
 *   a zygote boots in ~1-2 ms when the next call comes.
 * - maxZygotes 2: one zygote already saturates this kind of machine (see
 *   BUSY_THRESHOLD); the second is headroom past 64 children in flight.
 * - maxConcurrency 256 and maxQueue 100,000: high enough that ordinary use
 *   never waits, low enough that a runaway loop gets QUEUE_FULL rather than
 *   tens of thousands of processes.
 * - No sandbox/limits ceiling: each call's options are taken as given, as
 *   before pools existed.
 */
import { BUSY_THRESHOLD, normalizePoolOptions } from './options.js';
import { Pool } from './pool.js';

export const DEFAULT_POOL_OPTIONS = {
  minZygotes: 0,
  maxZygotes: 2,
  idleTimeoutMs: 30_000,
  maxConcurrency: 256,
  maxQueue: 100_000,
  spawnTimeoutMs: 10_000,
  heartbeatMs: 5000,
  busyThreshold: BUSY_THRESHOLD,
} as const;

let current: Pool | undefined;

export function defaultPool(): Pool {
  if (!current || current.closed) current = new Pool(normalizePoolOptions(DEFAULT_POOL_OPTIONS), true);
  return current;
}

/** Close the default pool now, killing whatever still runs on it. The next call creates a new one. */
export async function closeDefaultPool(): Promise<void> {
  const pool = current;
  current = undefined;
  await pool?.close({ graceMs: 0 });
}

/** The default pool, if one exists (tests and diagnostics). */
export function peekDefaultPool(): Pool | undefined {
  return current;
}
