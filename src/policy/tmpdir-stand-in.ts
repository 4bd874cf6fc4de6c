/**
 * A kept plan for a sandbox whose temp dir is a host directory.
 *
 * Where no mount namespace gives a private tmpfs (containers, hosts without
 * user namespaces), each operation gets a fresh host dir (src/spawn/tmpdir.ts),
 * and its path lands in the compiled plan. A plan keyed by policy could not
 * be kept for the next operation, so every run compiled afresh. Here the
 * memo compiles once with a stand-in path in the dir's place, checks that the
 * stand-in landed only where a dir's path is carried verbatim, and each run
 * puts its own dir there.
 *
 * Only a compile without mounts qualifies: with a mount namespace the
 * mounts are planned from resolved paths, and a dir that does not exist
 * (the stand-in) plans differently from one that does. Elsewhere the path
 * is carried as a string, never looked up: the Landlock rule for it (merged
 * with other rules by exact path only, in the order given) and the temp dir
 * the report and the environment name.
 */
import { randomBytes } from 'node:crypto';
import type { CompiledSandbox } from './compile.js';

/** A path nothing else is: absolute, normal, and never made. */
export function tmpdirStandIn(): string {
  return `/.hatchery-host-tmpdir-stand-in-${randomBytes(8).toString('hex')}`;
}

/**
 * Whether `standIn` appears in `compiled` only where withTmpdir replaces it:
 * the temp dir fields, and whole Landlock rule paths. A compile with mounts
 * never qualifies (above).
 */
export function standInOnlyWhereExpected(compiled: CompiledSandbox, standIn: string): boolean {
  if (compiled.plan.mounts !== undefined || compiled.plan.privateTmp !== undefined) return false;
  if (compiled.hostTmpdir !== standIn || compiled.tmpdir !== standIn || compiled.enforcement.tmpdir !== standIn) return false;
  const carriers = new Map<object, readonly string[]>([
    [compiled, ['tmpdir', 'hostTmpdir']],
    [compiled.enforcement, ['tmpdir']],
  ]);
  for (const rule of compiled.plan.landlock?.paths ?? []) if (rule.path === standIn) carriers.set(rule, ['path']);
  return !mentions(compiled, standIn, carriers, new Set());
}

/** Whether a string under `value` holds `text`, other than as the whole of a carrier's named field. */
function mentions(value: unknown, text: string, carriers: ReadonlyMap<object, readonly string[]>, seen: Set<object>): boolean {
  if (typeof value === 'string') return value.includes(text);
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || seen.has(value)) return false;
  seen.add(value);
  const carried = carriers.get(value) ?? [];
  for (const [key, field] of Object.entries(value)) {
    if (field === text && carried.includes(key)) continue;
    if (mentions(field, text, carriers, seen)) return true;
  }
  return false;
}

/** `compiled` (a copy from the memo, whose plan fields are shared and frozen) with `dir` where `standIn` was. */
export function withTmpdir(compiled: CompiledSandbox, standIn: string, dir: string): CompiledSandbox {
  const { landlock } = compiled.plan;
  const plan = { ...compiled.plan };
  if (landlock) {
    plan.landlock = { ...landlock, paths: landlock.paths.map((rule) => (rule.path === standIn ? { ...rule, path: dir } : rule)) };
  }
  return { ...compiled, plan, tmpdir: dir, hostTmpdir: dir, enforcement: { ...compiled.enforcement, tmpdir: dir } };
}
