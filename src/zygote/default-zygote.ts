/**
 * The module-level zygote behind run() and spawn(): started lazily, never
 * keeps the process alive, closed after an idle spell, replaced when dead.
 */
import { Zygote } from './zygote.js';

const IDLE_CLOSE_MS = 30_000;
const START_TIMEOUT_MS = 10_000;

let current: Promise<Zygote> | undefined;
let idleTimer: NodeJS.Timeout | undefined;

export async function defaultZygote(): Promise<Zygote> {
  if (idleTimer) {
    clearTimeout(idleTimer);
    idleTimer = undefined;
  }
  if (current) {
    const z = await current.catch(() => undefined);
    if (z?.alive) return z;
    // dead or failed to start: fall through and start another
    if (current && (await current.catch(() => undefined)) === z) current = undefined;
  }
  current ??= Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: START_TIMEOUT_MS });
  const z = await current.catch((e: unknown) => {
    current = undefined;
    throw e;
  });
  return z;
}

/** Called when an operation on the default zygote finishes. */
export function defaultZygoteIdleCheck(z: Zygote): void {
  if (z.activeCount > 0 || idleTimer) return;
  idleTimer = setTimeout(() => {
    idleTimer = undefined;
    void current?.then((live) => {
      if (live === z && z.activeCount === 0) {
        current = undefined;
        z.close();
      }
    }, () => {});
  }, IDLE_CLOSE_MS);
  idleTimer.unref();
}

/** Close the default zygote now (tests, graceful shutdown). The next call starts a new one. */
export async function closeDefaultZygote(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const z = await current?.catch(() => undefined);
  current = undefined;
  z?.close();
}

/** The default zygote's pid, if one is running (for tests and diagnostics). */
export async function defaultZygotePid(): Promise<number | undefined> {
  const z = await current?.catch(() => undefined);
  return z?.alive ? z.pid : undefined;
}
