/**
 * What execve(2) takes, checked up front where the answer cannot depend on
 * the child: hatchery's protocol carries any argv and env (an args file past
 * one datagram), so the only limits are the kernel's (fs/exec.c):
 *
 * - one string (an argument, or an env entry "NAME=value"), its NUL included,
 *   is at most MAX_ARG_STRLEN = 32 pages (131072 bytes with 4 KiB pages);
 * - all strings plus one pointer each take at most a quarter of the stack
 *   rlimit, never more than 3/4 of _STK_LIM (8 MiB), i.e. 6 MiB, and never
 *   less than 32 pages.
 *
 * Past the first, or past 6 MiB in total, no stack rlimit helps: that is an
 * INVALID_OPTION (RangeError) naming `args[i]`, `env.NAME`, `args` or `env`
 * and the number. Between the stack rlimit's share and 6 MiB the kernel
 * decides at exec: EXEC_FAILED, stage 'exec', E2BIG (it also counts the
 * path it execs, which only the child knows).
 */
import { InvalidOptionRangeError } from '../errors.js';
import { loadBinding } from '../native/binding.js';

/** 3/4 of _STK_LIM: execve's ceiling for strings plus pointers, whatever the stack rlimit (Linux >= 4.13). */
export const EXEC_MAX_TOTAL = 6 * 1024 * 1024;
/** MAX_ARG_STRLEN with 4 KiB pages, the smallest it is; 32 pages in general. */
export const MIN_MAX_ARG_STRLEN = 32 * 4096;
const POINTER_SIZE = ['arm', 'ia32', 'mips', 'mipsel', 'ppc'].includes(process.arch) ? 4 : 8;
/** A UTF-16 code unit is at most 3 UTF-8 bytes: strings shorter than this cannot be too long. */
const SAFE_CHARS = Math.floor((MIN_MAX_ARG_STRLEN - 1) / 3);

let maxArgStrlen: number | undefined;

/** MAX_ARG_STRLEN: 32 pages, NUL included. Asks the addon only when a string might be near it. */
export function maxArgStringBytes(): number {
  maxArgStrlen ??= 32 * loadBinding().pageSize();
  return maxArgStrlen;
}

/** Bytes of `s` as an execve string, its NUL included; 0 when it cannot be near the limit. */
function longStringBytes(s: string): number {
  if (s.length <= SAFE_CHARS) return 0;
  return Buffer.byteLength(s, 'utf8') + 1;
}

/** One argument: refused when no kernel setting would let execve take it. */
export function checkArgString(s: string, option: string): void {
  const n = longStringBytes(s);
  if (n > MIN_MAX_ARG_STRLEN && n > maxArgStringBytes()) {
    throw new InvalidOptionRangeError(
      option,
      `is ${n} bytes with its NUL; execve takes at most ${maxArgStringBytes()} bytes per argument or environment string (MAX_ARG_STRLEN, 32 pages)`,
    );
  }
}

/** Bytes of strings and pointers a list takes on the new program's stack. */
function stackBytes(list: readonly string[]): number {
  let total = list.length * POINTER_SIZE;
  for (const s of list) total += s.length <= SAFE_CHARS ? Buffer.byteLength(s, 'utf8') + 1 : longStringBytes(s);
  return total;
}

/**
 * argv (file first, as the child gets it) and env together: refused past
 * EXEC_MAX_TOTAL, which no stack rlimit raises. `option` names the larger
 * share ('args' or 'env').
 */
export function checkExecTotal(argv: readonly string[], env: readonly string[]): void {
  // Cheap bound first: every UTF-16 unit is at most 3 bytes.
  let bound = 0;
  for (const list of [argv, env]) for (const s of list) bound += 3 * s.length + 1 + POINTER_SIZE;
  if (bound <= EXEC_MAX_TOTAL) return;
  const args = stackBytes(argv);
  const vars = stackBytes(env);
  if (args + vars <= EXEC_MAX_TOTAL) return;
  const option = args >= vars ? 'args' : 'env';
  throw new InvalidOptionRangeError(
    option,
    `with ${option === 'args' ? 'env' : 'args'} take ${args + vars} bytes of the new program's stack ` +
      `(${argv.length} arguments: ${args} bytes, ${env.length} environment entries: ${vars} bytes, ` +
      `each string with its NUL and a ${POINTER_SIZE}-byte pointer); execve takes at most ${EXEC_MAX_TOTAL} ` +
      `(3/4 of the kernel's 8 MiB _STK_LIM) whatever the stack rlimit`,
  );
}
