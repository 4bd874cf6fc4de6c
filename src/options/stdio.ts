/** `stdio`: what the child's fds 0, 1 and 2 are. */
import { InvalidOptionTypeError } from '../errors.js';
import { describe } from './checks.js';

/** 'pipe': a stream on the handle; 'ignore': /dev/null; 'inherit': this process's own fd. */
export type StdioMode = 'pipe' | 'ignore' | 'inherit';
export type StdioOption = StdioMode | readonly [StdioMode, StdioMode, StdioMode];

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
