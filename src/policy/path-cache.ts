/**
 * Symlink resolution for the policy planners, without a realpath(3) walk per
 * path per run. A path's resolution is remembered and reused while it still
 * holds: a fresh stat(2) of the path and one of the remembered real path
 * must name the same file (device and inode; two live files never share
 * them). A path that is its own resolution (most system paths) costs one
 * stat. What a path is (directory, device, other) always comes from the
 * fresh stat, since an inode number may be reused for a new file. A path
 * that does not exist is never remembered, so a directory made just before
 * a run is seen by it.
 *
 * What is guaranteed is that the real path handed out names the file the
 * path names now, which is what Landlock and the mount plan act on (the
 * child opens them by name). If a directory above it was swapped for a
 * symlink to a place where the same file sits, the old name is kept.
 *
 * Bounded: the cache is dropped whole past MAX_ENTRIES paths.
 */
import { realpathSync, statSync, type Stats } from 'node:fs';

export type PathKind = 'dir' | 'device' | 'other';

export interface ResolvedPath {
  /** The path with every symlink resolved. */
  real: string;
  /** What it is, following symlinks. */
  kind: PathKind;
}

const MAX_ENTRIES = 1024;
/** path -> its real path */
const cache = new Map<string, string>();

function kindOf(st: Stats): PathKind {
  if (st.isDirectory()) return 'dir';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'other';
}

function stillNames(real: string, st: Stats): boolean {
  const now = statSync(real, { throwIfNoEntry: false });
  return now !== undefined && now.dev === st.dev && now.ino === st.ino;
}

/** The path resolved, or null when it does not exist or cannot be resolved. */
export function resolvePath(path: string): ResolvedPath | null {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) {
    cache.delete(path);
    return null;
  }
  const kind = kindOf(st);
  const hit = cache.get(path);
  if (hit !== undefined && (hit === path || stillNames(hit, st))) return { real: hit, kind };
  let real: string;
  try {
    real = realpathSync.native(path);
  } catch {
    cache.delete(path);
    return null;
  }
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(path, real);
  return { real, kind };
}

/** Forget everything (tests). */
export function clearPathCache(): void {
  cache.clear();
}
