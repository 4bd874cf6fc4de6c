/**
 * When may a kept plan skip its path check? compile.ts keeps a compiled plan
 * per policy and, before reusing it, checks that every path it resolved
 * still resolves the same (path-cache.ts stillResolves: a stat(2) of each,
 * about 30 for the default profile, the largest part of Node's prepare).
 * This module lets a plan skip that check while nothing it depends on can
 * have changed:
 *
 * - What a path resolves to is decided by the entries of the directories
 *   its lookup reads (each component, each symlink followed) and by the
 *   mount table. `lookupDirs` walks a path component by component, by
 *   lstat and readlink, and names those directories.
 * - An inotify instance watches each of them for entries made, removed or
 *   renamed and for its own removal or rename, and the mount table's poll
 *   notice tells of every mount and unmount in Node's mount namespace. Any
 *   report starts a new generation.
 * - A plan records the generation of its last full check, taken after its
 *   directories were watched and before the stats. While the generation is
 *   the same, nothing it depends on has moved since that check.
 *
 * A directory that cannot be watched (not on a local filesystem, the
 * user's inotify limits, a lookup that loops) leaves its plans checked by
 * stat every time, as before. So does any failure of the two fds, for the
 * rest of the process's life. The two fds are opened at the first plan
 * that asks and kept for the process's life; they are close-on-exec.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { loadBinding } from '../native/binding.js';

/** Symlinks followed in one path's walk, at most (the kernel's own limit is 40). */
const MAX_SYMLINKS = 40;
/** Directories watched at once, at most: past it the instance starts again empty. */
const MAX_WATCHED_DIRS = 4096;

interface Watch {
  inotifyFd: number;
  mountsFd: number;
}

/** undefined: not opened yet; null: unavailable for the rest of the process's life. */
let watch: Watch | null | undefined;
let generation = 0;
/** Directories added since the last change (a change may have swapped what a path names). */
const armed = new Set<string>();

function open(): Watch | null {
  if (watch !== undefined) return watch;
  try {
    const [inotifyFd, mountsFd] = loadBinding().pathWatchOpen();
    watch = { inotifyFd, mountsFd };
  } catch {
    watch = null;
  }
  return watch;
}

/** Close both fds; `forGood`: never open them again. */
function close(forGood: boolean): void {
  if (watch) {
    const native = loadBinding();
    for (const fd of [watch.inotifyFd, watch.mountsFd]) {
      try {
        native.close(fd);
      } catch {
        // nothing of ours to release
      }
    }
  }
  watch = forGood ? null : undefined;
  armed.clear();
  generation++;
}

/**
 * The current generation, after taking in every change reported so far.
 * undefined when changes cannot be watched at all.
 */
export function pathGeneration(): number | undefined {
  const w = open();
  if (!w) return undefined;
  const changed = loadBinding().pathWatchChanged(w.inotifyFd, w.mountsFd);
  if (changed < 0) {
    close(true);
    return undefined;
  }
  if (changed > 0) {
    generation++;
    armed.clear();
  }
  return generation;
}

/**
 * Watch every directory of `dirs` (idempotent while nothing changed).
 * False if one cannot be watched: then the plan must be checked by stat.
 */
export function watchDirs(dirs: readonly string[]): boolean {
  const w = open();
  if (!w) return false;
  const native = loadBinding();
  for (const dir of dirs) {
    if (armed.has(dir)) continue;
    if (armed.size >= MAX_WATCHED_DIRS) {
      // Start afresh rather than grow without bound: every plan checks by stat once more.
      close(false);
      return false;
    }
    if (native.pathWatchAdd(w.inotifyFd, dir) < 0) return false;
    armed.add(dir);
  }
  return true;
}

/**
 * The generation a check made from now on holds for: `dirs` (lookupDirs'
 * answer) are watched first and the generation read after, so a change
 * after the check is a newer one. undefined when they cannot all be
 * watched (null: a lookup that could not be followed): check every time.
 */
export function watchedGeneration(dirs: readonly string[] | null): number | undefined {
  return dirs !== null && watchDirs(dirs) ? pathGeneration() : undefined;
}

/** Whether nothing was reported since a check that holds for `checkedAt` (watchedGeneration's). */
export function unchangedSince(checkedAt: number | undefined): boolean {
  return checkedAt !== undefined && pathGeneration() === checkedAt;
}

/**
 * The directories whose entries decide what each of `paths` (absolute)
 * resolves to: for every component looked up, the real directory it was
 * looked up in, symlinks followed as the kernel follows them. A component
 * that does not exist ends its walk (its directory is named: making it
 * changes the answer). null when a walk cannot be followed (too many
 * symlinks, a component that cannot be read): such paths are never watched.
 */
export function lookupDirs(paths: readonly string[]): string[] | null {
  const dirs = new Set<string>();
  for (const path of paths) {
    if (!walk(path, dirs)) return null;
  }
  return [...dirs];
}

/** A path's components, without the empty and "." ones (which a lookup skips). */
function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function walk(path: string, dirs: Set<string>): boolean {
  let pending = components(path);
  let dir = '/';
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '..') {
      dir = posix.dirname(dir);
      continue;
    }
    dirs.add(dir);
    const next = dir === '/' ? `/${name}` : `${dir}/${name}`;
    let st;
    try {
      st = lstatSync(next, { throwIfNoEntry: false });
    } catch {
      return false;
    }
    if (st === undefined) return true; // absent: its directory is watched for it
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) return false;
      let target: string;
      try {
        target = readlinkSync(next);
      } catch {
        return false;
      }
      if (target.startsWith('/')) dir = '/';
      pending = [...components(target), ...pending];
      continue;
    }
    if (!st.isDirectory()) return true; // a file: anything below it does not exist
    dir = next;
  }
  return true;
}
