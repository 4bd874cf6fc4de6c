/**
 * Compatibility names from before pools: the default zygote is now the
 * default pool's (src/pool/default-pool.ts).
 */
import { closeDefaultPool, peekDefaultPool } from '../pool/default-pool.js';

/** Close the default pool's zygotes now (tests, graceful shutdown). The next call starts a new one. */
export function closeDefaultZygote(): Promise<void> {
  return closeDefaultPool();
}

/** The pid of the default pool's least-recently started live zygote, if any (tests and diagnostics). */
export async function defaultZygotePid(): Promise<number | undefined> {
  return peekDefaultPool()?.stats().zygotes.find((z) => z.state === 'ready')?.pid;
}
