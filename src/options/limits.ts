/** `limits`: resource limits, validated and turned into rlimit records for the child. */
import { InvalidOptionRangeError } from '../errors.js';
import type { RlimitEntry } from '../protocol/wire.js';
import { integerOption, knownKeys, objectOption } from './checks.js';

/** Per-operation resource limits, enforced with rlimits in the child. */
export interface Limits {
  /** CPU time in seconds (RLIMIT_CPU): SIGXCPU at the limit, SIGKILL one second later. */
  cpuSeconds?: number;
  /** Address-space size in bytes (RLIMIT_AS): allocations beyond it fail. */
  memoryBytes?: number;
  /** Largest file the process may write, in bytes (RLIMIT_FSIZE): SIGXFSZ beyond it. */
  fileSizeBytes?: number;
  /** Highest fd number + 1 (RLIMIT_NOFILE). */
  openFiles?: number;
  /** Processes/threads of the child's uid (RLIMIT_NPROC); per user namespace when one is used. Not enforced for root. */
  processes?: number;
}

const RLIMIT_CPU = 0;
const RLIMIT_FSIZE = 1;
const RLIMIT_CORE = 4;
const RLIMIT_NPROC = 6;
const RLIMIT_NOFILE = 7;
const RLIMIT_AS = 9;

const keys = ['cpuSeconds', 'memoryBytes', 'fileSizeBytes', 'openFiles', 'processes'] as const;

export function validateLimits(value: unknown, name = 'limits'): Limits {
  const obj = objectOption(value, name);
  if (!obj) return {};
  knownKeys(obj, keys, name);
  const limits: Limits = {};
  const cpu = integerOption(obj.cpuSeconds, `${name}.cpuSeconds`, { min: 1, max: 365 * 24 * 3600 });
  if (cpu !== undefined) limits.cpuSeconds = cpu;
  const mem = integerOption(obj.memoryBytes, `${name}.memoryBytes`, { min: 1 << 20 });
  if (mem !== undefined) limits.memoryBytes = mem;
  const fsize = integerOption(obj.fileSizeBytes, `${name}.fileSizeBytes`, { min: 0 });
  if (fsize !== undefined) limits.fileSizeBytes = fsize;
  const nofile = integerOption(obj.openFiles, `${name}.openFiles`, { min: 4, max: 1 << 20 });
  if (nofile !== undefined) limits.openFiles = nofile;
  const nproc = integerOption(obj.processes, `${name}.processes`, { min: 1, max: 1 << 22 });
  if (nproc !== undefined) limits.processes = nproc;
  return limits;
}

/** A call may narrow pool defaults but never widen them. */
export function narrowLimits(defaults: Limits, call: Limits, name = 'limits'): Limits {
  const merged: Limits = { ...defaults };
  for (const key of keys) {
    const want = call[key];
    if (want === undefined) continue;
    const ceiling = defaults[key];
    if (ceiling !== undefined && want > ceiling) {
      throw new InvalidOptionRangeError(`${name}.${key}`, `(${want}) may not exceed the pool's limit (${ceiling})`);
    }
    merged[key] = want;
  }
  return merged;
}

export function limitsToRlimits(limits: Limits): RlimitEntry[] {
  const entries: RlimitEntry[] = [{ resource: RLIMIT_CORE, soft: 0n, hard: 0n }];
  const same = (resource: number, v: number): RlimitEntry => ({ resource, soft: BigInt(v), hard: BigInt(v) });
  if (limits.cpuSeconds !== undefined) {
    // soft first: SIGXCPU is catchable and names the cause; the hard limit a second later is SIGKILL
    entries.push({ resource: RLIMIT_CPU, soft: BigInt(limits.cpuSeconds), hard: BigInt(limits.cpuSeconds + 1) });
  }
  if (limits.memoryBytes !== undefined) entries.push(same(RLIMIT_AS, limits.memoryBytes));
  if (limits.fileSizeBytes !== undefined) entries.push(same(RLIMIT_FSIZE, limits.fileSizeBytes));
  if (limits.openFiles !== undefined) entries.push(same(RLIMIT_NOFILE, limits.openFiles));
  if (limits.processes !== undefined) entries.push(same(RLIMIT_NPROC, limits.processes));
  return entries;
}
