/**
 * Entries a process of this library left in a directory it owns, whose
 * creating process no longer exists (it was SIGKILLed before it could clean
 * up). Used by the temp-dir sweep, which checks owner and type itself
 * before removing anything. (The worker runtime's copies, made in the shared
 * /tmp itself, hold their live lock inside each copy instead:
 * src/workers/runtime.ts.)
 *
 * Who is alive is not decided by pid alone: one directory may be shared by
 * processes in different pid namespaces (containers sharing a /tmp volume,
 * a Kubernetes emptyDir), where a live creator's pid is invisible or names
 * another process. So a process names its entries
 * `<prefix><pid>-<token>-...` and holds, for as long as it lives, an flock
 * on `<dir>/.hatchery-live-<pid>-<token>` (the kernel drops it however the
 * process dies). An entry with a token is stale only when that lock can be
 * taken. Entries without one (an earlier version's, or made where the lock
 * file could not be) fall back to the pid: stale when no such process is
 * visible here.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { loadBinding } from '../native/binding.js';

const LOCK_PREFIX = '.hatchery-live-';
const lockPattern = /^\.hatchery-live-(\d+)-([0-9a-f]{8})$/;
/** This process's token: 8 hex digits, never the 6 characters of a mkdtemp suffix. */
const ownToken = randomBytes(4).toString('hex');
/** Directories in which this process holds its live lock: dir -> the lock's fd. */
const ownLocks = new Map<string, number>();

/** Whether a process of this pid is visible here (EPERM: it is, and not ours). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockPath(dir: string, pid: number | string, token: string): string {
  return join(dir, `${LOCK_PREFIX}${pid}-${token}`);
}

/**
 * The name prefix for an entry this process makes in `dir`:
 * `<prefix><pid>-<token>-` with the live lock held, or `<prefix><pid>-`
 * when the lock file cannot be made (the entry then falls back to the pid rule).
 */
export function ownEntryPrefix(dir: string, prefix: string): string {
  if (!ownLocks.has(dir)) {
    const fd = loadBinding().lockFile(lockPath(dir, process.pid, ownToken));
    if (fd < 0) return `${prefix}${process.pid}-`;
    if (ownLocks.size === 0) process.once('exit', removeOwnLocks);
    ownLocks.set(dir, fd);
  }
  return `${prefix}${process.pid}-${ownToken}-`;
}

/** At a normal exit: this process's lock files go (one that is killed leaves them to the next sweep). */
function removeOwnLocks(): void {
  for (const dir of ownLocks.keys()) {
    try {
      unlinkSync(lockPath(dir, process.pid, ownToken));
    } catch {
      // gone already
    }
  }
}

/**
 * Whether the process that holds (or held) `<dir>/.hatchery-live-<pid>-<token>`
 * is gone: its lock can be taken. The lock file is then removed (nobody uses
 * that token again), and the lock with it.
 */
function creatorGone(dir: string, pid: string, token: string): boolean {
  if (token === ownToken) return false;
  const path = lockPath(dir, pid, token);
  return lockIsFree(path, () => {
    try {
      unlinkSync(path);
    } catch {
      // gone already
    }
  });
}

/**
 * Whether nobody holds the live lock at `path`: it can be taken (and is let
 * go again, after `whileHeld`). Held (EWOULDBLOCK), or not ours to tell: no.
 */
export function lockIsFree(path: string, whileHeld?: () => void): boolean {
  const native = loadBinding();
  const fd = native.lockFile(path);
  if (fd < 0) return false;
  whileHeld?.();
  native.close(fd);
  return true;
}

/**
 * Names in `dir` matching `pattern` (group 1 the creator's pid, group 2 its
 * token if any) whose creator is gone; [] if unreadable. Lock files of
 * creators that are gone are removed on the way.
 */
export function staleEntries(dir: string, pattern: RegExp): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const gone = new Map<string, boolean>();
  const isGone = (pid: string, token: string): boolean => {
    const key = `${pid}-${token}`;
    let answer = gone.get(key);
    if (answer === undefined) gone.set(key, (answer = creatorGone(dir, pid, token)));
    return answer;
  };
  const stale = names.filter((name) => {
    const m = pattern.exec(name);
    if (m === null) return false;
    const token = m[2];
    if (token !== undefined) return isGone(m[1]!, token);
    return Number(m[1]) !== process.pid && !processExists(Number(m[1]));
  });
  // Lock files whose creator left no entry here (it removed its own before it died, or never made one).
  for (const name of names) {
    const m = lockPattern.exec(name);
    if (m !== null) isGone(m[1]!, m[2]!);
  }
  return stale;
}
