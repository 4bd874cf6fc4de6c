/**
 * A pool's sandbox is a ceiling for its calls' fs paths (src/pool/narrow.ts).
 * A path a call narrowed to is judged beneath the pool's paths when the call
 * is made, and again here, where its plan is compiled, maybe long after (the
 * call waited in the queue, or an earlier run of the pool changed what the
 * path names). This judgement is made on a fresh resolution (resolveAfresh),
 * and the plan then names the real path judged, opened by the child with no
 * symlink anywhere on it (`exact` Landlock rules and mount ops, opened by
 * hatch_open_exact in native/landlock.c): a symlink put on it between this
 * check and the child's open fails the spawn with ELOOP instead of granting
 * what it points to. What the child opens is what was judged.
 */
import { sep } from 'node:path';
import { InvalidOptionRangeError } from '../errors.js';
import type { NormalizedSandbox } from '../options/sandbox.js';
import type { PathKind, ResolvedPath } from './path-cache.js';

export type FsRight = 'read' | 'write' | 'exec';
export const FS_RIGHTS: readonly FsRight[] = ['read', 'write', 'exec'];

/** `path` is `root` or lies beneath it (both real paths). */
export function beneath(path: string, root: string): boolean {
  if (path === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return path.startsWith(prefix);
}

/** The pool paths that grant `right`: write and exec rules also grant read. */
export function grantsOf(pool: NormalizedSandbox['fs'], right: FsRight): string[] {
  if (right === 'read') return [...pool.read, ...pool.write, ...pool.exec];
  return pool[right];
}

/** The refusal of `path` (the call's, as written) for `right`, naming `option`; `real` when it resolves elsewhere. */
export function outsideCeiling(option: string, right: FsRight, path: string, allowed: readonly string[], real?: string): InvalidOptionRangeError {
  const adjective = right === 'read' ? 'readable' : right === 'write' ? 'writable' : 'executable';
  const resolved = real !== undefined && real !== path ? ` (it resolves to ${real})` : '';
  return new InvalidOptionRangeError(
    option,
    `(${path})${resolved} is not ${adjective} under the pool's sandbox` +
      (allowed.length > 0 ? ` (allowed: ${allowed.join(', ')})` : ' (the pool allows no extra paths for it)'),
  );
}

type Resolve = (path: string) => ResolvedPath | null;

export interface Narrowed {
  /** The sandbox's fs lists, each narrowed list's paths replaced by their real paths (a path gone since is left out). */
  fs: NormalizedSandbox['fs'];
  /** The real paths of narrowed lists, to be opened exactly, and what each is. */
  exact: ReadonlyMap<string, PathKind>;
}

/**
 * Judge the paths of each list the call narrowed against the pool's
 * (`sandbox.ceiling`), throwing outsideCeiling's error for the first one
 * that lies outside them now. `afresh` resolves a narrowed path (never from
 * the path cache: its answer is opened exactly); `resolve` the pool's own
 * paths, granted by name. Null when nothing was narrowed.
 */
export function judgeNarrowed(sandbox: NormalizedSandbox, resolve: Resolve, afresh: Resolve): Narrowed | null {
  const ceiling = sandbox.ceiling;
  if (ceiling === undefined) return null;
  const fs = { read: sandbox.fs.read, write: sandbox.fs.write, exec: sandbox.fs.exec };
  const exact = new Map<string, PathKind>();
  for (const right of FS_RIGHTS) {
    const allowed = ceiling[right];
    if (allowed === undefined) continue;
    const roots = allowed.flatMap((root) => resolve(root)?.real ?? []);
    const reals: string[] = [];
    sandbox.fs[right].forEach((path, i) => {
      const resolved = afresh(path);
      if (resolved === null) return; // gone since the call was made: it grants nothing
      if (!roots.some((root) => beneath(resolved.real, root))) {
        throw outsideCeiling(`${ceiling.option}.fs.${right}[${i}]`, right, path, allowed, resolved.real);
      }
      if (!reals.includes(resolved.real)) reals.push(resolved.real);
      exact.set(resolved.real, resolved.kind);
    });
    fs[right] = reals;
  }
  return { fs, exact };
}
