/** `stdio`: what the child's fds 0, 1 and 2 are. */
import { InvalidOptionTypeError } from '../errors.js';
import { describe } from './checks.js';

/** 'pipe': a stream on the handle; 'ignore': /dev/null; 'inherit': this process's own fd. */
export type StdioMode = 'pipe' | 'ignore' | 'inherit';
export type StdioOption = StdioMode | readonly [StdioMode, StdioMode, StdioMode];

/**
 * Internal, never from a caller's options: the child gets this fd of this
 * process as it is (a warm worker's channel, src/workers/worker.ts). The
 * owner keeps it and closes it once the spawn has settled.
 */
export interface StdioFd {
  fd: number;
}

/** A normalized stdio entry: a mode, or an fd handed over as is. */
export type NormalizedStdio = StdioMode | StdioFd;

const modes: readonly StdioMode[] = ['pipe', 'ignore', 'inherit'];

export function validateStdio(value: unknown, fallback: [StdioMode, StdioMode, StdioMode], name = 'stdio'): [StdioMode, StdioMode, StdioMode] {
  if (value === undefined) return fallback;
  const check = (v: unknown, n: string): StdioMode => {
    if (typeof v !== 'string' || !(modes as readonly string[]).includes(v)) {
      throw new InvalidOptionTypeError(n, `must be 'pipe', 'ignore' or 'inherit', got ${describe(v)}`);
    }
    return v as StdioMode;
  };
  if (typeof value === 'string') {
    const m = check(value, name);
    return [m, m, m];
  }
  if (!Array.isArray(value) || value.length !== 3) {
    throw new InvalidOptionTypeError(name, 'must be a mode or an array of three modes');
  }
  return [check(value[0], `${name}[0]`), check(value[1], `${name}[1]`), check(value[2], `${name}[2]`)];
}
