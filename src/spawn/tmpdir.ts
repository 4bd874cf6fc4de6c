/**
 * The per-operation private temp dir, where no mount namespace can give one.
 *
 * With a mount namespace the temp dir is a capped tmpfs on /tmp and /dev/shm
 * inside the sandbox (SpawnPlan.privateTmp): nothing exists on the host and
 * the kernel frees it with the namespace. This file is the fallback for
 * containers and hosts without user namespaces: a host directory.
 *
 * What a sandboxed program leaves in that directory is hostile: any depth,
 * any name length, modes 000, symlinks, fifos, sockets, and swaps racing the
 * cleanup. So:
 *   - operation dirs live in a parent of the library's own,
 *     `${os.tmpdir()}/hatchery-<euid>` (owner and type checked, never
 *     trusted by name): no one else can plant or swap anything in it. Its
 *     mode is 0711 for a root caller, whose operations' uids pass through
 *     it, and 0700 otherwise: operations that share the caller's uid can
 *     chmod each other's dirs (Landlock has no right for it), and no other
 *     user can then pass through to what they opened up;
 *   - a dir the program left empty (the common case) is just rmdir'd here:
 *     rmdir never follows a link, and refuses a dir that holds anything;
 *   - any other dir is emptied by a zygote child that runs as the dir's owner
 *     under a Landlock ruleset granting that dir alone where Landlock has ABI
 *     2 (removalPlan says why not 1), fd-relative, O_NOFOLLOW and without
 *     recursion (native/remove.c), off Node's thread; only the empty dir is
 *     then rmdir'd here;
 *   - the startup sweep looks only inside the library's own parents (the
 *     shared one, and private ones `hatchery-<euid>-XXXXXX` that processes
 *     made when someone else held the shared name, each with its creator's
 *     live lock inside), and removes only directories owned by this
 *     process's uid or by an operation uid, whose creator (named in the
 *     dir's name) is gone; a private parent goes at its creator's normal
 *     exit, or once a sweep has left it empty.
 */
import { accessSync, chmodSync, chownSync, constants as fsConstants, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { loadBinding } from '../native/binding.js';
import { detectFeatures } from '../policy/features.js';
import { landlockWirePlan, planLandlock } from '../policy/landlock.js';
import { NOBODY_ID } from '../policy/namespaces.js';
import { SignalScope, SpawnFlag, type SpawnPlan } from '../protocol/wire.js';
import { hostTmpdirFailed } from '../errors.js';
import type { Zygote } from '../zygote/zygote.js';
import { isOperationUid } from './operation-uid.js';
import { ownEntryPrefix, staleEntries } from './stale-entries.js';

export const TMPDIR_PREFIX = 'hatchery-op-';

/** `hatchery-op-<pid>-<token>-XXXXXX` (stale-entries.ts), or without the token as earlier versions named them. */
const namePattern = /^hatchery-op-(\d+)-(?:([0-9a-f]{8})-)?[A-Za-z0-9]{6}$/;
let parentChecked: string | null = null;
let swept = false;

function euid(): number {
  return process.geteuid?.() ?? 0;
}

/** The mode of a directory of our uid's that no one else may write into, or null for anything else. */
function ownPrivateDirMode(path: string): number | null {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && st.uid === euid() && (st.mode & 0o022) === 0 ? st.mode & 0o7777 : null;
  } catch {
    return null;
  }
}

/** A directory of our uid's that no one else may write into: made here, or checked if it exists. */
function isOwnPrivateDir(path: string): boolean {
  return ownPrivateDirMode(path) !== null;
}

/**
 * Where parents may go, in order: $TMPDIR (os.tmpdir()) when it is an
 * absolute path, then the usual places. A relative TMPDIR would be relative
 * to whatever the program's working directory is; one that is missing,
 * unwritable or read-only (a Kubernetes read-only root without an emptyDir)
 * gives way to the next.
 */
function tmpBases(): string[] {
  const fromEnv = tmpdir();
  return [...new Set([...(isAbsolute(fromEnv) ? [resolve(fromEnv)] : []), '/tmp', '/var/tmp', '/dev/shm'])];
}

/**
 * The library's own parent for operation dirs in `base`. If someone else
 * holds the shared name (a local user can make /tmp/hatchery-0 first), this
 * process uses a private one of its own instead: nothing in it is shared, and
 * no one can plant anything there.
 */
function parentIn(base: string): string {
  const shared = join(base, `hatchery-${euid()}`);
  const mode = euid() === 0 ? 0o711 : 0o700;
  try {
    mkdirSync(shared, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const sharedMode = ownPrivateDirMode(shared);
  if (sharedMode !== null) {
    // One an earlier version made 0711 for a caller that is not root: closed now.
    if (mode === 0o700 && (sharedMode & 0o077) !== 0) chmodSync(shared, mode);
    return shared;
  }
  const own = mkdtempSync(`${shared}-`);
  chmodSync(own, mode);
  // Its live lock at once (a sweep takes an empty private parent whose creator is gone), and it goes at a normal exit.
  ownEntryPrefix(own, TMPDIR_PREFIX);
  process.once('exit', () => removeEmptyDirSync(own));
  return own;
}

/** `hatchery-<euid>-XXXXXX`: a process's private parent, made when someone else held the shared one. */
function privateParentPattern(): RegExp {
  return new RegExp(`^hatchery-${euid()}-[A-Za-z0-9]{6}$`);
}

/** How recently a private parent must not have changed for an empty one to be taken: its creator takes its lock right after making it. */
const PRIVATE_PARENT_QUIET_MS = 60_000;

function removeEmptyDirSync(dir: string): void {
  try {
    rmdirSync(dir); // only if empty: an operation still running at exit leaves its dir for a later sweep
  } catch {
    // not empty, or gone
  }
}

/**
 * A fresh operation dir, mode 0700, owned by `owner` (the sandbox's uid
 * when the caller is root): in the parent used last while it is still ours
 * and takes one, else in the first base that takes one. Throws a typed
 * EXEC_FAILED at stage 'tmpdir' when none does.
 */
export function createOperationDir(owner: { uid: number; gid: number }, zygote: Zygote | undefined): string {
  const failures: string[] = [];
  let firstError: NodeJS.ErrnoException | undefined;
  const makeIn = (parentOf: () => string): string | undefined => {
    try {
      const parent = parentOf();
      const made = mkdtempSync(join(parent, ownEntryPrefix(parent, TMPDIR_PREFIX)));
      parentChecked = parent;
      return made;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      firstError ??= err;
      failures.push(`${typeof err.path === 'string' ? err.path : '?'}: ${err.code ?? err.message}`);
      return undefined;
    }
  };
  const last = parentChecked;
  let dir = last !== null && isOwnPrivateDir(last) ? makeIn(() => last) : undefined;
  for (const base of dir === undefined ? tmpBases() : []) {
    dir = makeIn(() => parentIn(base));
    if (dir !== undefined) break;
  }
  if (dir === undefined) throw hostTmpdirFailed(`no directory took one (${failures.join('; ')}); set TMPDIR to a writable directory`, firstError);
  if (zygote) sweepOnce(zygote);
  if (owner.uid !== euid()) {
    try {
      chownSync(dir, owner.uid, owner.gid);
    } catch (e) {
      removeEmptyDirSync(dir);
      throw hostTmpdirFailed(`${dir} could not be given to uid ${owner.uid}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, e);
    }
  }
  return dir;
}

/** Once per process, soon after its first operation: remove what SIGKILLed processes left in the shared parent. */
export function sweepOnce(zygote: Zygote): void {
  if (swept) return;
  swept = true;
  setImmediate(() => sweepStaleOperationDirs(zygote)).unref();
}

/** The name an operation dir would get, not made: for reports (`hatchery check`, `policy --explain`). In the first base this process could write in. */
export function exampleOperationDir(): string {
  const bases = tmpBases();
  const base = bases.find((b) => {
    try {
      accessSync(b, fsConstants.W_OK | fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return join(base ?? bases[0]!, `hatchery-${euid()}`, `${TMPDIR_PREFIX}${process.pid}-XXXXXXXX-XXXXXX`);
}

/**
 * How long the remover may take. A program can leave a tree that is slow to
 * empty (a directory chain tens of thousands deep), and `exited` waits for
 * the removal: past this the remover is killed and what is left stays for
 * the next startup sweep (its uid stays taken). A Node timer, not the plan's
 * timeout: the zygote arms that at the exec, which a remover never does.
 */
export const REMOVER_TIMEOUT_MS = 10_000;

/** The plan of a zygote child that empties `dir` as `owner`, confined to it by Landlock. */
function removalPlan(dir: string, owner: { uid: number; gid: number }): SpawnPlan {
  const plan: SpawnPlan = {
    file: dir,
    argv: [dir],
    env: [],
    rlimits: [],
    flags: SpawnFlag.NoNewPrivs | SpawnFlag.RemoveTree,
  };
  if (detectFeatures().privileged) plan.credentials = owner;
  // The remover moves subtrees up into the top (remove.c), a rename to another parent: Landlock ABI 1 has no
  // REFER right and refuses every such rename (EXDEV), so there the remover is confined by its uid and its
  // fd-relative, O_NOFOLLOW steps alone (and nothing of the operation still runs to race it).
  const abi = detectFeatures().landlockAbi;
  if (abi >= 2) {
    plan.landlock = landlockWirePlan(planLandlock({ abi, read: [], exec: [], write: [dir], net: 'host', scopes: false }));
  }
  return plan;
}

/**
 * Remove `dir`: an rmdir if the program left it empty, else emptied in a
 * sandboxed zygote child (when a live `zygote` is given) and then rmdir'd.
 * Never throws: what cannot be removed now stays for the next startup sweep.
 * Call only once every process that could write into `dir` is gone.
 */
export async function removeOperationDir(zygote: Zygote | undefined, dir: string, owner: { uid: number; gid: number }): Promise<boolean> {
  try {
    // The dir's parent is ours alone, so `dir` is the dir we made; an rmdir of it takes it only if it is empty.
    // On the pool, never on Node's thread: an rmdir may wait for the disk (a discard, a journal, NFS).
    await rmdir(dir);
    return true;
  } catch {
    // not empty (or already gone, which the remover's rmdir tells apart): the sandboxed remover's turn
  }
  if (!zygote?.alive) return false;
  return emptyThenRemove(zygote, dir, owner);
}

/** Empty `dir` in a sandboxed zygote child, then rmdir it. Never throws. */
function emptyThenRemove(zygote: Zygote, dir: string, owner: { uid: number; gid: number }): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const native = loadBinding();
    let devNull = -1;
    // The emptied dir is removed on libuv's pool: an ext4 directory that held many entries keeps its size,
    // and its rmdir can take a while. rmdir never follows a link.
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (emptied: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!emptied) {
        resolve(false);
        return;
      }
      rmdir(dir).then(
        () => resolve(true),
        () => resolve(false),
      );
    };
    try {
      devNull = native.openDevNull();
      const id = zygote.spawn(removalPlan(dir, owner), [devNull, devNull, devNull], [devNull], {
        // The remover's pidfd is ours to close: its exit comes as a message anyway.
        spawned: (_pid, pidfd) => native.close(pidfd),
        failed: () => finish(false),
        exit: (info) => finish(info.exitCode === 0),
        died: () => finish(false),
      });
      // Not when the spawn already failed on the spot (a dead channel): there is nothing to bound then.
      if (!settled) timer = setTimeout(() => zygote.signal(id, osConstants.signals.SIGKILL, SignalScope.Process), REMOVER_TIMEOUT_MS);
    } catch {
      resolve(false);
    }
  });
}

/**
 * Remove operation dirs whose creating process is gone (it was SIGKILLed
 * before it could clean up): in the shared parent, and in the private
 * parents of processes that found the shared one held by someone else; a
 * private parent goes too once nothing is left in it.
 */
export function sweepStaleOperationDirs(zygote: Zygote): void {
  for (const base of tmpBases()) sweepBase(zygote, base);
}

function sweepBase(zygote: Zygote, base: string): void {
  // Only parents that are ours: never made just to be swept.
  const shared = join(base, `hatchery-${euid()}`);
  if (isOwnPrivateDir(shared)) void removeStaleIn(zygote, shared);
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  const pattern = privateParentPattern();
  for (const name of names) {
    const parent = join(base, name);
    if (!pattern.test(name) || parent === parentChecked || !isOwnPrivateDir(parent)) continue;
    // A parent that changed lately may belong to a process that has just made it and is about to take its lock.
    // (Read before the sweep: its own removals change the parent.)
    const quiet = quietFor(parent, PRIVATE_PARENT_QUIET_MS);
    void removeStaleIn(zygote, parent).then((allRemoved) =>
      // Only if empty, which means its creator's live lock is gone too (staleEntries removed it).
      allRemoved && quiet ? rmdir(parent).catch(() => undefined) : undefined,
    );
  }
}

/** Remove the stale operation dirs in `parent`; true when every one of them went. */
async function removeStaleIn(zygote: Zygote, parent: string): Promise<boolean> {
  const removals: Promise<boolean>[] = [];
  for (const name of staleEntries(parent, namePattern)) {
    const path = join(parent, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || !(st.uid === euid() || st.uid === NOBODY_ID || isOperationUid(st.uid))) continue;
      removals.push(removeOperationDir(zygote, path, { uid: st.uid, gid: st.gid }));
    } catch {
      // gone already
    }
  }
  return (await Promise.all(removals)).every(Boolean);
}

function quietFor(path: string, ms: number): boolean {
  try {
    return Date.now() - lstatSync(path).mtimeMs >= ms;
  } catch {
    return false;
  }
}
