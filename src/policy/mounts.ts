/**
 * Mount planning: what the child's mount namespace looks like. Landlock has
 * no right for chmod, utimes or xattrs, and does not cover connect() to a
 * pathname unix socket (before LANDLOCK_ACCESS_FS_RESOLVE_UNIX), so:
 *
 *   - the directories where hosts keep sockets and personal files (/tmp,
 *     /run, /home, ...) are hidden under empty read-only tmpfs mounts, with
 *     only the paths the policy allows put back (cloned before hiding);
 *   - the whole tree is then made read-only, so chmod / utimes / setxattr of a
 *     file the sandbox's uid happens to own fail with EROFS;
 *   - the private temp dir and the write paths are made writable again.
 *
 * native/ns.c applies the ops in order (SpawnPlan['mounts']); every decision
 * is made here. /proc is neither hidden nor restored: it stays as mounted.
 */
import { InvalidOptionRangeError } from '../errors.js';
import { resolvePath, type PathKind, type ResolvedPath } from './path-cache.js';
import { posix } from 'node:path';
import { MAX_MOUNT_OPS, MountOp } from '../protocol/wire.js';

export interface MountStep {
  op: MountOp;
  path: string;
  /** PRESERVE and BIND_RW of a path in MountRequest.exact: the child opens it with no symlink on it. */
  exact?: boolean;
}

/** Where hosts keep sockets (X11, docker, dbus, ssh-agent) and personal files. */
export const DEFAULT_HIDDEN_DIRS: readonly string[] = [
  '/tmp',
  '/var/tmp',
  '/run',
  '/dev/shm',
  '/home',
  '/root',
  '/mnt',
  '/media',
  '/srv',
];

export interface MountRequest {
  /** The operation's private temp dir (made writable), or null. */
  tmpdir: string | null;
  write: readonly string[];
  read: readonly string[];
  exec: readonly string[];
  /** Directories to hide; default DEFAULT_HIDDEN_DIRS. Missing ones are skipped. */
  hide?: readonly string[];
  /**
   * Real paths a pool's call narrowed to (ceiling.ts), with what each is:
   * taken as their own resolution (never looked up again), and the ops
   * that open them are `exact`.
   */
  exact?: ReadonlyMap<string, PathKind>;
}

/** Filesystem lookups the planner needs; tests replace them. */
export interface MountFs {
  /** The path with every symlink resolved, and what it is; null when it does not exist or cannot be resolved. */
  resolve(path: string): ResolvedPath | null;
}

/** The host's file system, through the validated resolution cache (path-cache.ts). */
export const hostFs: MountFs = { resolve: resolvePath };

/** open_tree (5.2) and mount_setattr (5.12). */
export function mountOpsSupported(kernelRelease: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 5 || (major === 5 && minor >= 12);
}

function isBeneath(path: string, dir: string): boolean {
  return dir === '/' ? path !== '/' : path.startsWith(`${dir}/`);
}

function covers(path: string, dir: string): boolean {
  return path === dir || isBeneath(path, dir);
}

/** Drops paths that lie at or beneath an earlier-kept one; order of the survivors is kept. */
function outermost(paths: readonly string[]): string[] {
  const kept: string[] = [];
  for (const p of paths) {
    if (kept.some((k) => covers(p, k))) continue;
    for (let i = kept.length - 1; i >= 0; i--) if (isBeneath(kept[i]!, p)) kept.splice(i, 1);
    kept.push(p);
  }
  return kept;
}

function absolute(path: string, what: string): string {
  if (typeof path !== 'string' || !posix.isAbsolute(path)) {
    throw new TypeError(`${what} must be an absolute path, got ${JSON.stringify(path)}`);
  }
  if (path.includes('\0')) throw new TypeError(`${what} contains a NUL byte`);
  return posix.normalize(path);
}

/**
 * The ordered mount ops: PRESERVE every allowed path under a hidden dir,
 * HIDE the dirs, RESTORE the preserved, READONLY_ALL, BIND_RW the temp dir
 * and the write paths.
 *
 * Paths are compared after symlinks are resolved (/etc/resolv.conf may point
 * into /run; /var/run is /run). Allowed paths that do not exist are left out:
 * the child could not reach them either. A hidden dir that an allowed path
 * equals or contains (write: ['/tmp'], read: ['/']) is not hidden: the
 * caller asked for it.
 */
export function planMounts(req: MountRequest, fs: MountFs = hostFs): MountStep[] {
  // One lookup per path per plan: every real path's kind comes with its resolution.
  const kinds = new Map<string, PathKind>();
  const resolve = (list: readonly string[], what: string): string[] => {
    if (!Array.isArray(list)) throw new TypeError(`${what} must be an array of paths`);
    const out: string[] = [];
    for (const raw of list) {
      const path = absolute(raw, `a ${what} path`);
      const kind = req.exact?.get(path);
      const resolved = kind !== undefined ? { real: path, kind } : fs.resolve(path);
      if (resolved === null) continue;
      kinds.set(resolved.real, resolved.kind);
      if (!out.includes(resolved.real)) out.push(resolved.real);
    }
    return out;
  };
  const kindOf = (real: string): PathKind | undefined => kinds.get(real);
  const writable = resolve(req.tmpdir === null ? req.write : [req.tmpdir, ...req.write], 'write');
  const allowed = [...writable];
  for (const p of [...resolve(req.read, 'read'), ...resolve(req.exec, 'exec')]) if (!allowed.includes(p)) allowed.push(p);

  const hide = outermost(
    resolve(req.hide ?? DEFAULT_HIDDEN_DIRS, 'hide').filter(
      (dir) => kindOf(dir) === 'dir' && !allowed.some((p) => covers(dir, p)),
    ),
  );
  const preserved = outermost(allowed.filter((p) => hide.some((dir) => isBeneath(p, dir))));
  // Device nodes stay writable on a read-only mount; binding them would only cost time.
  const rw = outermost(writable.filter((p) => kindOf(p) !== 'device'));

  const opening = (op: MountOp, path: string): MountStep => (req.exact?.has(path) ? { op, path, exact: true } : { op, path });
  const ops: MountStep[] = [
    ...preserved.map((path) => opening(MountOp.Preserve, path)),
    ...hide.map((path) => ({ op: MountOp.Hide, path })),
    ...preserved.map((path) => ({ op: MountOp.Restore, path })),
    { op: MountOp.ReadonlyAll, path: '/' },
    ...rw.map((path) => opening(MountOp.BindRw, path)),
  ];
  if (ops.length > MAX_MOUNT_OPS) {
    // How many depends on where the granted paths lie on this host (under a hidden dir, each costs two), so it is known only here.
    throw new InvalidOptionRangeError(
      'sandbox.fs',
      `needs ${ops.length} mount operations; at most ${MAX_MOUNT_OPS} are supported (too many granted paths under ${hide.join(', ')})`,
    );
  }
  return ops;
}
