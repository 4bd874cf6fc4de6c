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
 * `stillResolves` checks a whole list of earlier answers by the same rule,
 * in one batch of stats (compile.ts's memo of compiled plans rests on it).
 * The stats are the addon's statPaths: no Stats object per path. A stat
 * that fails other than with ENOENT goes through Node's statSync, which
 * throws its own error for it, as it always did.
 *
 * Bounded: the cache is dropped whole past MAX_ENTRIES paths.
 *
 * `resolveAfresh` bypasses the cache, for the paths a pool's call narrowed
 * to (ceiling.ts): their real path is opened by the child with no symlink on
 * it, which the cache's promise does not cover (a path that was its own
 * resolution stays its own answer while it names a file, though it may
 * have become a symlink to one).
 */
import { constants as fsConstants, realpathSync, statSync, type Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { loadBinding, STAT_WORDS, StatWord } from '../native/binding.js';

export type PathKind = 'dir' | 'device' | 'other';

export interface ResolvedPath {
  /** The path with every symlink resolved. */
  real: string;
  /** What it is, following symlinks. */
  kind: PathKind;
}

/** A path and what resolvePath answered for it. */
export type Resolution = readonly [path: string, resolved: ResolvedPath | null];

const MAX_ENTRIES = 1024;
/** path -> its real path */
const cache = new Map<string, string>();
const { ENOENT } = osConstants.errno;
const { S_IFDIR, S_IFCHR, S_IFBLK } = fsConstants;

function kindOfType(type: number): PathKind {
  if (type === S_IFDIR) return 'dir';
  if (type === S_IFCHR || type === S_IFBLK) return 'device';
  return 'other';
}

/** The same file: device and inode, word by word (64-bit each, exact). */
function sameFile(s: Uint32Array, a: number, b: number): boolean {
  return (
    s[a + StatWord.DevHi] === s[b + StatWord.DevHi] &&
    s[a + StatWord.DevLo] === s[b + StatWord.DevLo] &&
    s[a + StatWord.InoHi] === s[b + StatWord.InoHi] &&
    s[a + StatWord.InoLo] === s[b + StatWord.InoLo]
  );
}

// ---- Node's own stats: for a stat that fails other than with ENOENT (statSync throws its error, as before).

function kindOf(st: Stats): PathKind {
  if (st.isDirectory()) return 'dir';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'other';
}

function stillNames(real: string, st: Stats): boolean {
  const now = statSync(real, { throwIfNoEntry: false });
  return now !== undefined && now.dev === st.dev && now.ino === st.ino;
}

function resolveWithNodeStats(path: string): ResolvedPath | null {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) {
    cache.delete(path);
    return null;
  }
  const hit = cache.get(path);
  if (hit !== undefined && (hit === path || stillNames(hit, st))) return { real: hit, kind: kindOf(st) };
  return resolveFresh(path, kindOf(st));
}

// ----

function resolveFresh(path: string, kind: PathKind): ResolvedPath | null {
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

/** The path resolved, or null when it does not exist or cannot be resolved. */
export function resolvePath(path: string): ResolvedPath | null {
  if (path.includes('\0')) return resolveWithNodeStats(path); // Node's error for it
  const hit = cache.get(path);
  const twice = hit !== undefined && hit !== path;
  const s = loadBinding().statPaths(twice ? [path, hit] : [path]);
  const err = s[StatWord.Errno]!;
  if (err === ENOENT) {
    cache.delete(path);
    return null;
  }
  if (err !== 0) return resolveWithNodeStats(path);
  const kind = kindOfType(s[StatWord.Type]!);
  if (hit === path) return { real: hit, kind };
  if (twice) {
    const realErr = s[STAT_WORDS + StatWord.Errno]!;
    if (realErr === 0 && sameFile(s, 0, STAT_WORDS)) return { real: hit, kind };
    if (realErr !== ENOENT && realErr !== 0) return resolveWithNodeStats(path);
  }
  return resolveFresh(path, kind);
}

/**
 * Whether resolvePath could answer each path as it did: the same real path
 * (still naming the file the path names, by a fresh stat of both) and the
 * same kind, or null again for a path that still does not exist. One batch
 * of stats. False when anything differs or a stat fails otherwise. The
 * paths are ones resolvePath answered (no NUL byte).
 */
export function stillResolves(resolutions: readonly Resolution[]): boolean {
  const paths: string[] = [];
  for (const [path, resolved] of resolutions) {
    paths.push(path);
    if (resolved !== null && resolved.real !== path) paths.push(resolved.real);
  }
  const s = loadBinding().statPaths(paths);
  let at = 0;
  for (const [path, resolved] of resolutions) {
    const err = s[at + StatWord.Errno]!;
    if (resolved === null) {
      if (err !== ENOENT) return false;
      at += STAT_WORDS;
      continue;
    }
    if (err !== 0 || kindOfType(s[at + StatWord.Type]!) !== resolved.kind) return false;
    if (resolved.real !== path) {
      const real = at + STAT_WORDS;
      if (s[real + StatWord.Errno] !== 0 || !sameFile(s, at, real)) return false;
      at = real;
    }
    at += STAT_WORDS;
  }
  return true;
}

/**
 * The path resolved with a realpath(3) walk and a stat, neither read from
 * the cache nor kept in it; null when it does not exist or cannot be
 * resolved.
 */
export function resolveAfresh(path: string): ResolvedPath | null {
  let real: string;
  try {
    real = realpathSync.native(path);
  } catch {
    return null;
  }
  const s = loadBinding().statPaths([real]);
  return s[StatWord.Errno] === 0 ? { real, kind: kindOfType(s[StatWord.Type]!) } : null;
}

/** Whether resolveAfresh answers each path as it did: a walk and a stat each. */
export function stillResolvesAfresh(resolutions: readonly Resolution[]): boolean {
  return resolutions.every(([path, resolved]) => sameResolution(resolveAfresh(path), resolved));
}

/** The same answer: both null, or the same real path and kind. */
export function sameResolution(a: ResolvedPath | null, b: ResolvedPath | null): boolean {
  return a === null || b === null ? a === b : a.real === b.real && a.kind === b.kind;
}

/** Forget everything (tests). */
export function clearPathCache(): void {
  cache.clear();
}
