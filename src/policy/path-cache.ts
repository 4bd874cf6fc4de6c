/**
 * Symlink resolution for the policy planners, without a realpath(3) walk per
 * path per run: a path's resolution is remembered with the device and inode
 * its stat(2) gave, and reused while one stat of the same path still gives
 * that file. A path that changed (a symlink retargeted, a directory replaced)
 * is resolved again; a path that does not exist is never remembered, so a
 * directory made just before a run is seen by it.
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

interface Entry extends ResolvedPath {
  dev: number;
  ino: number;
}

const MAX_ENTRIES = 1024;
const cache = new Map<string, Entry>();

function kindOf(st: Stats): PathKind {
  if (st.isDirectory()) return 'dir';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'other';
}

/** The path resolved, or null when it does not exist or cannot be resolved. */
export function resolvePath(path: string): ResolvedPath | null {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) {
    cache.delete(path);
    return null;
  }
  const hit = cache.get(path);
  if (hit && hit.dev === st.dev && hit.ino === st.ino) return hit;
  let real: string;
  try {
    real = realpathSync.native(path);
  } catch {
    cache.delete(path);
    return null;
  }
  if (cache.size >= MAX_ENTRIES) cache.clear();
  const entry: Entry = { real, kind: kindOf(st), dev: st.dev, ino: st.ino };
  cache.set(path, entry);
  return entry;
}

/** Forget everything (tests). */
export function clearPathCache(): void {
  cache.clear();
}
