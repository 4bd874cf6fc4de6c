/**
 * What a worker's `node` reads before the module: the bootstrap, protocol.js
 * and the addon. When the workers run as the caller's own uid they read them
 * where the package is installed. When they run as another uid (a root
 * caller's workers drop to an unprivileged one), the install path may well be
 * closed to that uid (a clone under a 0700 /root), so they get a copy the
 * library owns: a fresh mkdtemp dir made 0755, files 0644, checked with lstat
 * (owner, mode, size) before use, under a base every ancestor of which is
 * reachable by that uid and writable by no one else without the sticky bit.
 * One copy per process, removed when the last pool using it has closed, and
 * at exit; a later process sweeps the copies of one that was SIGKILLed (its
 * live lock inside the copy tells, not its pid).
 *
 * accessProblem() is the DAC check the kernel makes for that uid (owner, then
 * group, then other bits, along every directory of the path), done from
 * lstat so it needs no process of that uid.
 */
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { workerRuntimeUnreadable } from '../errors.js';
import { buildDir, loadBinding } from '../native/binding.js';
import { lockIsFree, processExists } from '../spawn/stale-entries.js';

/** Who a worker's process is, as the kernel's permission checks see it. */
export interface Identity {
  uid: number;
  gid: number;
  /** Supplementary groups (a dropped uid has none). */
  groups: readonly number[];
}

export interface AccessProblem {
  /** The path component that refuses access. */
  path: string;
  /** What was needed there: 'search' (x on a directory) or 'read' (r on the file). */
  need: 'search' | 'read';
  mode: number;
  owner: number;
  /** The permission class that applies to the identity: u, g or o. */
  who: 'u' | 'g' | 'o';
}

function permClass(st: { uid: number; gid: number }, id: Identity): 'u' | 'g' | 'o' {
  if (st.uid === id.uid) return 'u';
  if (st.gid === id.gid || id.groups.includes(st.gid)) return 'g';
  return 'o';
}

function allows(mode: number, who: 'u' | 'g' | 'o', bit: 4 | 1): boolean {
  const shift = who === 'u' ? 6 : who === 'g' ? 3 : 0;
  return ((mode >> shift) & bit) !== 0;
}

/**
 * Why `id` cannot reach `path` (searching every directory down to it, and
 * reading it when want is 'read'); undefined when it can. `path` must be real
 * (no symlinks): pass a realpath. uid 0 passes every check, as for the kernel.
 * ACLs are not consulted: the mode bits stand for them.
 */
export function accessProblem(path: string, id: Identity, want: 'read' | 'search'): AccessProblem | undefined {
  if (id.uid === 0) return undefined;
  const parts = path.split('/').filter((p) => p !== '');
  const dirs = ['/'];
  for (let i = 1; i <= parts.length; i++) dirs.push(`/${parts.slice(0, i).join('/')}`);
  const last = dirs.length - 1;
  for (let i = 0; i <= last; i++) {
    const p = dirs[i]!;
    const st = lstatSync(p);
    const who = permClass(st, id);
    if (i < last || want === 'search') {
      if (!allows(st.mode, who, 1)) return { path: p, need: 'search', mode: st.mode & 0o7777, owner: st.uid, who };
    }
    if (i === last && want === 'read' && !allows(st.mode, who, 4)) return { path: p, need: 'read', mode: st.mode & 0o7777, owner: st.uid, who };
  }
  return undefined;
}

/** "<path> (mode 0700, owner uid 0) does not let uid N enter it" */
export function describeProblem(p: AccessProblem, id: Identity): string {
  return `${p.path} (mode ${p.mode.toString(8).padStart(4, '0')}, owner uid ${p.owner}) does not let uid ${id.uid} ${p.need === 'search' ? 'enter' : 'read'} it`;
}

/** The chmod that lifts the problem, e.g. "chmod o+x /root". */
export function fixFor(p: AccessProblem): string {
  return `chmod ${p.who}+${p.need === 'search' ? 'x' : 'r'} ${p.path}`;
}

// --- the library-owned copy ---------------------------------------------------

const here = realpathSync(dirname(fileURLToPath(import.meta.url)));
export const installedBootstrap = join(here, 'bootstrap.js');
/** The addon as installed; resolved on first use, after loadBinding() has checked the build exists (importing hatchery must not need it). */
export const installedAddon = (): string => (loadBinding(), realpathSync(join(buildDir, 'hatchery_addon.node')));

export const RUNTIME_PREFIX = 'hatchery-workers-';
const ownPrefix = `${RUNTIME_PREFIX}${process.pid}-`;
const namePattern = /^hatchery-workers-(\d+)-/;

/** What a worker is started with: `node <bootstrap> <addon> <module-url>`, and the paths its sandbox must let it read. */
export interface WorkerRuntime {
  bootstrap: string;
  addon: string;
  reads: string[];
  /** The library-owned copy, or null when the installed files are used. */
  copy: string | null;
  release(): void;
}

interface Copy {
  dir: string;
  files: Map<string, Buffer>;
  refs: number;
  /** The live lock's fd, or -1 (none could be taken: the copy falls back to the pid rule). */
  lockFd: number;
}

let shared: Copy | undefined;
/** Every copy not yet removed (a replaced one lives on until its pools close). */
const live = new Set<Copy>();
let exitHookInstalled = false;

/** The nearest package.json above `dir`: Node reads it to decide whether a .js file is ESM. */
export function nearestPackageJson(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(d) === d) return undefined;
  }
}

/** The files of the copy: what the bootstrap imports and loads, and a package.json that makes them ES modules. */
function runtimeFiles(): Map<string, Buffer> {
  return new Map([
    ['bootstrap.js', readFileSync(installedBootstrap)],
    ['protocol.js', readFileSync(join(here, 'protocol.js'))],
    ['hatchery_addon.node', readFileSync(installedAddon())],
    ['package.json', Buffer.from('{ "type": "module" }\n')],
  ]);
}

/** Whether the mount `path` is on says noexec (the addon could not be mapped from there): the last-listed mount whose mount point covers it decides. */
function onNoexecMount(path: string): boolean {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  let best: { len: number; noexec: boolean } | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    const point = unescape(f[4]!);
    if (!(point === '/' || path === point || path.startsWith(`${point}/`))) continue;
    if (!best || point.length >= best.len) best = { len: point.length, noexec: f[5]!.split(',').includes('noexec') };
  }
  return best?.noexec ?? false;
}

/**
 * Why `base` cannot hold the copy, or undefined. Every directory from / down
 * must be owned by root or this process's uid and writable by no one else
 * unless sticky (so nobody can swap a component or our entry), reachable by
 * `id`, and the mount must allow mapping code.
 */
function baseProblem(base: string, id: Identity): string | undefined {
  const me = process.geteuid?.() ?? 0;
  const parts = base.split('/').filter((p) => p !== '');
  for (let i = 0; i <= parts.length; i++) {
    const p = i === 0 ? '/' : `/${parts.slice(0, i).join('/')}`;
    const st = lstatSync(p);
    if (!st.isDirectory()) return `${p} is not a directory`;
    if (st.uid !== 0 && st.uid !== me) return `${p} is owned by uid ${st.uid}`;
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) return `${p} is writable by others and not sticky`;
  }
  const denied = accessProblem(base, id, 'search');
  if (denied) return describeProblem(denied, id);
  if (onNoexecMount(base)) return `${base} is on a noexec mount`;
  return undefined;
}

/**
 * The live lock inside a copy: an flock its creator holds for as long as it
 * lives (the kernel drops it however the process dies), 0600 so the
 * workers' uid cannot open it. A /tmp shared across pid namespaces
 * (containers sharing a volume, a Kubernetes emptyDir) shows a live
 * creator's pid as missing, or as someone else's: the lock, not the pid,
 * tells a live copy from a stale one.
 */
const LIVE_LOCK = '.hatchery-live';
/** A copy changed this recently is left alone: its creator may not hold its lock yet (mkdtemp, then the lock). */
const COPY_QUIET_MS = 60_000;

/** Remove copies of this uid whose creator is gone: its lock is free, or (a copy without one) its pid is not here. */
function sweep(base: string): void {
  const me = process.geteuid?.() ?? 0;
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    const m = namePattern.exec(name);
    const p = join(base, name);
    if (m === null || [...live].some((c) => c.dir === p)) continue;
    try {
      const st = lstatSync(p);
      if (!st.isDirectory() || st.uid !== me || Date.now() - st.mtimeMs < COPY_QUIET_MS) continue;
      if (creatorGone(p, Number(m[1]))) rmSync(p, { recursive: true, force: true });
    } catch {
      // gone already, or not ours
    }
  }
}

function creatorGone(dir: string, pid: number): boolean {
  const lock = join(dir, LIVE_LOCK);
  const st = lstatSync(lock, { throwIfNoEntry: false });
  // An earlier version's copy, or one whose lock could not be made: the pid rule.
  if (st === undefined) return pid !== process.pid && !processExists(pid);
  return st.isFile() && lockIsFree(lock);
}

/** lstat says `dir` and its files are exactly what this process wrote: owner, type, mode and size (and its live lock, if it took one). */
function verifyCopy(dir: string, files: Map<string, Buffer>, locked: boolean): string | undefined {
  const me = process.geteuid?.() ?? 0;
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st || !st.isDirectory()) return `${dir} is not a directory`;
  if (st.uid !== me || (st.mode & 0o7777) !== 0o755) return `${dir} has owner ${st.uid} and mode ${(st.mode & 0o7777).toString(8)}`;
  const names = readdirSync(dir).sort();
  const want = [...files.keys(), ...(locked ? [LIVE_LOCK] : [])].sort();
  if (names.join('/') !== want.join('/')) return `${dir} holds ${names.join(', ')}`;
  if (locked) {
    const l = lstatSync(join(dir, LIVE_LOCK));
    if (!l.isFile() || l.uid !== me || (l.mode & 0o7777) !== 0o600 || l.nlink !== 1) return `${join(dir, LIVE_LOCK)} is not the lock made`;
  }
  for (const [name, data] of files) {
    const f = lstatSync(join(dir, name));
    if (!f.isFile() || f.uid !== me || (f.mode & 0o7777) !== 0o644 || f.size !== data.length || f.nlink !== 1) {
      return `${join(dir, name)} is not the file written`;
    }
  }
  return undefined;
}

function removeCopy(copy: Copy): void {
  live.delete(copy);
  try {
    rmSync(copy.dir, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    // best effort: a later process sweeps it (once the lock is free)
  }
  if (copy.lockFd >= 0) loadBinding().close(copy.lockFd);
  copy.lockFd = -1;
}

function makeCopy(id: Identity): Copy {
  const bases = [...new Set([tmpdir(), '/tmp', '/var/tmp', '/dev/shm'])];
  const refused: string[] = [];
  for (const candidate of bases) {
    let base: string;
    try {
      base = realpathSync(candidate);
      const problem = baseProblem(base, id);
      if (problem) {
        refused.push(problem);
        continue;
      }
    } catch (e) {
      refused.push(`${candidate}: ${(e as Error).message}`);
      continue;
    }
    sweep(base);
    const files = runtimeFiles();
    // mkdtemp: a new name, made by this call (O_EXCL semantics), 0700 until filled.
    let dir: string;
    try {
      dir = mkdtempSync(join(base, ownPrefix));
    } catch (e) {
      // A base this process cannot write (a read-only mount, ENOSPC): the next may do.
      refused.push(`${base}: ${(e as Error).message}`);
      continue;
    }
    // The lock first, before anything of worth is in the dir (a sweep also leaves a dir this new alone).
    const lockFd = loadBinding().lockFile(join(dir, LIVE_LOCK));
    const locked = lockFd >= 0;
    try {
      for (const [name, data] of files) {
        const p = join(dir, name);
        writeFileSync(p, data, { flag: 'wx', mode: 0o600 });
        chmodSync(p, 0o644);
      }
      chmodSync(dir, 0o755);
      const bad = verifyCopy(dir, files, locked);
      if (bad) throw new Error(`the copy of the worker runtime did not verify: ${bad}`);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      if (locked) loadBinding().close(lockFd);
      throw e;
    }
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const c of [...live]) removeCopy(c);
      });
    }
    const copy = { dir, files, refs: 0, lockFd };
    live.add(copy);
    return copy;
  }
  throw new Error(`no directory can hold a copy of the worker runtime readable by uid ${id.uid}: ${refused.join('; ')}`);
}

/**
 * The runtime for workers running as `id`. The caller's own uid (or root)
 * reads the installed files; any other uid gets the shared copy.
 */
export function acquireRuntime(id: Identity): WorkerRuntime {
  const me = process.geteuid?.() ?? 0;
  const addon = installedAddon();
  const reads = [here, addon];
  const pj = nearestPackageJson(here);
  if (pj) reads.push(pj);
  const installed: WorkerRuntime = { bootstrap: installedBootstrap, addon, reads, copy: null, release: () => {} };
  if (id.uid === me || id.uid === 0) return installed;
  if (shared && (verifyCopy(shared.dir, shared.files, shared.lockFd >= 0) !== undefined || accessProblem(shared.dir, id, 'search') !== undefined)) {
    // Removed under us (a tmp cleaner) or not reachable by this uid: let its users keep it, make another.
    if (shared.refs === 0) removeCopy(shared);
    shared = undefined;
  }
  let copy: Copy;
  try {
    copy = shared ?? makeCopy(id);
  } catch (e) {
    // No place for a copy (every candidate noexec, say): the installed files do if that uid can read them.
    const problem =
      accessProblem(here, id, 'search') ??
      accessProblem(installedBootstrap, id, 'read') ??
      accessProblem(join(here, 'protocol.js'), id, 'read') ??
      accessProblem(addon, id, 'read') ??
      (pj ? accessProblem(realpathSync(pj), id, 'read') : undefined);
    if (!problem) return installed;
    throw workerRuntimeUnreadable(id.uid, describeProblem(problem, id), e);
  }
  shared = copy;
  copy.refs++;
  let released = false;
  return {
    bootstrap: join(copy.dir, 'bootstrap.js'),
    addon: join(copy.dir, 'hatchery_addon.node'),
    reads: [copy.dir],
    copy: copy.dir,
    release: () => {
      if (released) return;
      released = true;
      copy.refs--;
      if (copy.refs > 0) return;
      removeCopy(copy);
      if (shared === copy) shared = undefined;
    },
  };
}
