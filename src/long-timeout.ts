/**
 * Node's timers take at most 2^31 − 1 ms: a longer delay fires after 1 ms
 * (with a warning). Options that set one timer are bounded by MAX_TIMER_MS;
 * a delay made of several (a timeout plus its grace and a margin) goes
 * through setLongTimeout.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/** setTimeout for a delay of any length, in steps of at most MAX_TIMER_MS; each step unref'd if `unref`. */
export function setLongTimeout(fn: () => void, ms: number, unref = false): LongTimeout {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    const step = Math.min(left, MAX_TIMER_MS);
    timer = setTimeout(() => (left > step ? arm(left - step) : fn()), step);
    if (unref) timer.unref();
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}
