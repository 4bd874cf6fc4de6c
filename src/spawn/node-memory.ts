/**
 * `node` under limits.memoryBytes. The limit is RLIMIT_AS, which counts
 * address space reserved, not memory used, and an unconfigured Node reserves
 * far more than it uses: V8's code range alone is 512 MiB, glibc reserves
 * 64 MiB per malloc arena (one per thread that allocates), and V8 sizes its
 * heap from the machine's RAM, not from the limit. So a plain
 * `node -e ...` under 256 MiB dies at start with "Fatal process OOM in Failed
 * to reserve virtual memory for CodeRange", hangs below ~160 MiB, and under a
 * larger limit runs out of address space before V8's heap limit with an
 * obscure "Committing semi space failed".
 *
 * When the program is `node` (or `nodejs`) and memoryBytes is set, hatchery
 * therefore starts it as
 *
 *   node --max-old-space-size=H [--jitless --no-expose-wasm] ARGS...
 *
 * with MALLOC_ARENA_MAX=1 in its environment, where
 *
 *   - below 1 GiB there is no room for the JIT's code range: --jitless (an
 *     interpreter only, so slower, and no WebAssembly);
 *   - H = (memoryBytes - base) / 2, base being what Node reserves before its
 *     heap (~160 MiB without the JIT, ~704 MiB with it, measured on Node 20
 *     x64 with one arena): half of the rest is the JS heap, half is left for
 *     Buffers, native allocations and thread stacks. Running out of heap is
 *     then V8's ordinary "JavaScript heap out of memory".
 *
 * Each part is left out when the caller already chose it: a
 * --max-old-space-size or --max-heap-size (in ARGS or NODE_OPTIONS) keeps
 * the heap as given; --jitless or --no-jitless decides the JIT; a
 * MALLOC_ARENA_MAX in `env` is kept. Below MIN_NODE_MEMORY_BYTES Node cannot
 * start at all, and the call is refused. The flags are on the command line,
 * so Node's child_process.fork() passes them on (process.execArgv);
 * result.command still shows the command as given.
 */
import { basename } from 'node:path';
import { InvalidOptionRangeError } from '../errors.js';

const MiB = 1024 * 1024;
/** Below this Node cannot start under RLIMIT_AS even without the JIT (it aborts or hangs). */
export const MIN_NODE_MEMORY_BYTES = 192 * MiB;
/** From this size the JIT's 512 MiB code range fits beside a useful heap. */
export const NODE_JIT_MEMORY_BYTES = 1024 * MiB;
const BASE_WITH_JIT = 704 * MiB;
const BASE_JITLESS = 160 * MiB;
const MIN_HEAP_MIB = 16;

export interface NodeLaunch {
  args: string[];
  /** Environment entries to add ('NAME=value'). */
  env: string[];
}

/** True for a program hatchery starts as Node: `node` or `nodejs`, bare or as a path. */
export function isNodeProgram(file: string): boolean {
  const name = basename(file);
  return name === 'node' || name === 'nodejs';
}

function nodeOptionsOf(env: readonly string[]): string[] {
  const entry = env.find((e) => e.startsWith('NODE_OPTIONS='));
  return entry === undefined ? [] : entry.slice('NODE_OPTIONS='.length).split(/\s+/).filter((s) => s !== '');
}

/**
 * The arguments and environment additions for `file args` under `memoryBytes`,
 * or null when nothing is to change (not node, or no memory limit).
 */
export function nodeMemoryLaunch(file: string, args: readonly string[], env: readonly string[], memoryBytes: number | undefined): NodeLaunch | null {
  if (memoryBytes === undefined || !isNodeProgram(file)) return null;
  if (memoryBytes < MIN_NODE_MEMORY_BYTES) {
    throw new InvalidOptionRangeError(
      'limits.memoryBytes',
      `(${memoryBytes} bytes) is too small for ${basename(file)}: limits.memoryBytes is an address-space limit (RLIMIT_AS), ` +
        `and Node cannot start in less than ${MIN_NODE_MEMORY_BYTES / MiB} MiB of address space (it aborts or hangs)`,
    );
  }
  const flags = [...args, ...nodeOptionsOf(env)];
  const has = (re: RegExp): boolean => flags.some((f) => re.test(f));
  const heapChosen = has(/^--max[-_](old[-_]space|heap)[-_]size(=|$)/);
  const jitChosen = has(/^--(no[-_])?jitless$/);
  const jitless = jitChosen ? has(/^--jitless$/) : memoryBytes < NODE_JIT_MEMORY_BYTES;
  const added: string[] = [];
  if (!heapChosen) {
    const heapMiB = Math.floor((memoryBytes - (jitless ? BASE_JITLESS : BASE_WITH_JIT)) / 2 / MiB);
    added.push(`--max-old-space-size=${Math.max(MIN_HEAP_MIB, heapMiB)}`);
  }
  if (jitless && !jitChosen) added.push('--jitless', '--no-expose-wasm');
  const envAdded = env.some((e) => e.startsWith('MALLOC_ARENA_MAX=')) ? [] : ['MALLOC_ARENA_MAX=1'];
  return { args: [...added, ...args], env: envAdded };
}
