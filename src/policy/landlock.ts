/**
 * Landlock planning: typed filesystem / network policy in, the exact ruleset
 * the child applies (SpawnPlan['landlock']) out, plus a report of what the
 * negotiated ABI lets us enforce. native/landlock.c applies it verbatim; every
 * decision about rights is made here.
 */
import { posix } from 'node:path';
import { MAX_LANDLOCK_PATHS, MAX_LANDLOCK_PORTS, type SpawnPlan } from '../protocol/wire.js';

/** Filesystem access rights (uapi LANDLOCK_ACCESS_FS_*). The comment is the ABI that introduced it. */
export const AccessFs = {
  Execute: 1n << 0n,
  WriteFile: 1n << 1n,
  ReadFile: 1n << 2n,
  ReadDir: 1n << 3n,
  RemoveDir: 1n << 4n,
  RemoveFile: 1n << 5n,
  MakeChar: 1n << 6n,
  MakeDir: 1n << 7n,
  MakeReg: 1n << 8n,
  MakeSock: 1n << 9n,
  MakeFifo: 1n << 10n,
  MakeBlock: 1n << 11n,
  MakeSym: 1n << 12n,
  Refer: 1n << 13n, // ABI 2
  Truncate: 1n << 14n, // ABI 3
  IoctlDev: 1n << 15n, // ABI 5
} as const;

/** Network access rights (uapi LANDLOCK_ACCESS_NET_*), ABI 4. */
export const AccessNet = {
  BindTcp: 1n << 0n,
  ConnectTcp: 1n << 1n,
} as const;

/** IPC scopes (uapi LANDLOCK_SCOPE_*), ABI 6. */
export const Scope = {
  AbstractUnixSocket: 1n << 0n,
  Signal: 1n << 1n,
} as const;

/**
 * The newest ABI whose rights this module knows. ABI 7 added only logging
 * flags for landlock_restrict_self and ABI 8 a thread-sync flag: no new
 * rights, so any ABI >= 5 handles every filesystem right and >= 6 every scope.
 */
export const NEWEST_KNOWN_ABI = 7;

const FS_NAMES: readonly (readonly [bigint, string])[] = [
  [AccessFs.Execute, 'execute'],
  [AccessFs.WriteFile, 'write_file'],
  [AccessFs.ReadFile, 'read_file'],
  [AccessFs.ReadDir, 'read_dir'],
  [AccessFs.RemoveDir, 'remove_dir'],
  [AccessFs.RemoveFile, 'remove_file'],
  [AccessFs.MakeChar, 'make_char'],
  [AccessFs.MakeDir, 'make_dir'],
  [AccessFs.MakeReg, 'make_reg'],
  [AccessFs.MakeSock, 'make_sock'],
  [AccessFs.MakeFifo, 'make_fifo'],
  [AccessFs.MakeBlock, 'make_block'],
  [AccessFs.MakeSym, 'make_sym'],
  [AccessFs.Refer, 'refer'],
  [AccessFs.Truncate, 'truncate'],
  [AccessFs.IoctlDev, 'ioctl_dev'],
];
const NET_NAMES: readonly (readonly [bigint, string])[] = [
  [AccessNet.BindTcp, 'bind_tcp'],
  [AccessNet.ConnectTcp, 'connect_tcp'],
];
const SCOPE_NAMES: readonly (readonly [bigint, string])[] = [
  [Scope.AbstractUnixSocket, 'abstract_unix_socket'],
  [Scope.Signal, 'signal'],
];

function names(mask: bigint, table: readonly (readonly [bigint, string])[]): string[] {
  return table.filter(([bit]) => (mask & bit) !== 0n).map(([, name]) => name);
}

/** Names of the filesystem rights in mask, in bit order ('read_file', 'refer', ...). */
export function fsRightNames(mask: bigint): string[] {
  return names(mask, FS_NAMES);
}
export function netRightNames(mask: bigint): string[] {
  return names(mask, NET_NAMES);
}
export function scopeNames(mask: bigint): string[] {
  return names(mask, SCOPE_NAMES);
}

const ABI1_FS = (1n << 13n) - 1n; // EXECUTE .. MAKE_SYM

/** Every filesystem right a kernel with this ABI can handle (0n below ABI 1). */
export function fsRightsForAbi(abi: number): bigint {
  if (abi < 1) return 0n;
  let rights = ABI1_FS;
  if (abi >= 2) rights |= AccessFs.Refer;
  if (abi >= 3) rights |= AccessFs.Truncate;
  if (abi >= 5) rights |= AccessFs.IoctlDev;
  return rights;
}

export function netRightsForAbi(abi: number): bigint {
  return abi >= 4 ? AccessNet.BindTcp | AccessNet.ConnectTcp : 0n;
}

export function scopesForAbi(abi: number): bigint {
  return abi >= 6 ? Scope.AbstractUnixSocket | Scope.Signal : 0n;
}

/** List the contents and read files. */
export const READ = AccessFs.ReadFile | AccessFs.ReadDir;
/** READ plus executing files (also needed for the ELF interpreter in /lib*). */
export const EXEC = READ | AccessFs.Execute;
/**
 * READ plus everything that changes the tree beneath. MAKE_CHAR and
 * MAKE_BLOCK are left out: device nodes need CAP_MKNOD anyway, and a sandbox
 * never needs them in its temp dir. REFER lets files move within and between
 * writable trees; it is what denies linking or renaming a file in from a
 * read-only tree.
 */
export const WRITE =
  READ |
  AccessFs.WriteFile |
  AccessFs.RemoveDir |
  AccessFs.RemoveFile |
  AccessFs.MakeDir |
  AccessFs.MakeReg |
  AccessFs.MakeSock |
  AccessFs.MakeFifo |
  AccessFs.MakeSym |
  AccessFs.Refer |
  AccessFs.Truncate;

/**
 * The system allowlist of the default profile. Absent paths are skipped by
 * the child (ENOENT), so distribution-specific entries cost nothing
 * elsewhere. Symlinked entries (/bin -> usr/bin on merged-/usr systems,
 * /etc/localtime -> ../usr/share/zoneinfo/...) are resolved when the child
 * opens them, so listing both sides is harmless.
 */
export const DEFAULT_SYSTEM_PATHS = {
  /** Programs and shared libraries, including the ELF interpreter. */
  exec: ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'],
  read: [
    // System configuration, all of it and read-only: dynamic linking, time
    // zones, locales, passwd/group, TLS trust, fonts, mime types, and the
    // programs' own safety settings (ImageMagick's policy.xml, git's
    // gitconfig, ...). Secrets there (shadow, ssl/private, sudoers) are
    // closed to the sandbox's uid by their modes; see docs/policy.md.
    '/etc',
    // entropy
    '/dev/random',
    '/dev/urandom',
  ],
  /** Sinks and sources every shell expects to write to. */
  write: ['/dev/null', '/dev/zero'],
} as const;

export type NetPolicy = 'none' | 'host' | { connectTcp?: readonly number[]; bindTcp?: readonly number[] };

export interface FsPolicy {
  read: readonly string[];
  write: readonly string[];
  exec: readonly string[];
}

/**
 * The user's paths plus the default system allowlist, and /proc when the
 * child gets its own (a remounted
 * /proc in a new pid namespace shows only the sandbox's own processes; many
 * programs read /proc/self, /proc/cpuinfo or /proc/meminfo).
 */
export function withSystemPaths(fs: FsPolicy, opts: { net: NetPolicy; privateProc: boolean }): FsPolicy {
  const read: string[] = [...DEFAULT_SYSTEM_PATHS.read];
  if (opts.privateProc) read.push('/proc');
  return {
    read: [...read, ...fs.read],
    write: [...DEFAULT_SYSTEM_PATHS.write, ...fs.write],
    exec: [...DEFAULT_SYSTEM_PATHS.exec, ...fs.exec],
  };
}

export interface LandlockRequest extends FsPolicy {
  /** The ABI negotiated with the running kernel (or capped for tests); >= 1. */
  abi: number;
  net: NetPolicy;
  /** Apply the abstract-unix-socket and signal scopes (ABI >= 6). */
  scopes: boolean;
  /**
   * Paths (real, normalized) the child must open with no symlink anywhere
   * on them: those a pool's call narrowed to (ceiling.ts). A rule for such a
   * path is `exact`, whichever list named it.
   */
  exact?: { has(path: string): boolean };
}

export interface LandlockReport {
  abi: number;
  fsRightsHandled: string[];
  netRightsHandled: string[];
  scopes: string[];
}

export type LandlockWirePlan = NonNullable<SpawnPlan['landlock']>;

export interface LandlockPlan extends LandlockWirePlan {
  report: LandlockReport;
}

function isDevicePath(path: string): boolean {
  return path === '/dev' || path.startsWith('/dev/');
}

function normalizeAbsolute(path: string, what: string): string {
  if (typeof path !== 'string' || !posix.isAbsolute(path)) {
    throw new TypeError(`${what} must be an absolute path, got ${JSON.stringify(path)}`);
  }
  if (path.includes('\0')) throw new TypeError(`${what} contains a NUL byte`);
  const normalized = posix.normalize(path);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

function checkPorts(ports: readonly number[] | undefined, what: string): readonly number[] {
  if (ports === undefined) return [];
  if (!Array.isArray(ports)) throw new TypeError(`${what} must be an array of port numbers`);
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`${what} must hold integers from 0 to 65535, got ${String(port)}`);
    }
  }
  return ports;
}

/**
 * Decide the ruleset. Rights the ABI does not know are dropped (the report
 * says what is handled, so strict mode can refuse), duplicate paths are
 * merged by OR-ing their rights, and device paths get IOCTL_DEV.
 */
export function planLandlock(req: LandlockRequest): LandlockPlan {
  if (!Number.isInteger(req.abi) || req.abi < 1) {
    throw new RangeError(`Landlock ABI must be an integer >= 1, got ${String(req.abi)}`);
  }
  const abi = req.abi;
  const handledAccessFs = fsRightsForAbi(abi);
  const netHandled = req.net === 'host' ? 0n : netRightsForAbi(abi);
  const scoped = req.scopes ? scopesForAbi(abi) : 0n;

  const byPath = new Map<string, bigint>();
  const add = (list: readonly string[], rights: bigint, what: string): void => {
    if (!Array.isArray(list)) throw new TypeError(`${what} must be an array of paths`);
    for (const raw of list) {
      const path = normalizeAbsolute(raw, `a ${what} path`);
      const extra = isDevicePath(path) ? AccessFs.IoctlDev : 0n;
      byPath.set(path, (byPath.get(path) ?? 0n) | ((rights | extra) & handledAccessFs));
    }
  };
  add(req.read, READ, 'read');
  add(req.exec, EXEC, 'exec');
  add(req.write, WRITE, 'write');
  const paths = [...byPath]
    .filter(([, allowedAccess]) => allowedAccess !== 0n)
    .map(([path, allowedAccess]) => (req.exact?.has(path) ? { allowedAccess, path, exact: true } : { allowedAccess, path }));
  if (paths.length > MAX_LANDLOCK_PATHS) {
    throw new RangeError(`the Landlock policy has ${paths.length} distinct paths; at most ${MAX_LANDLOCK_PATHS} are supported`);
  }

  const byPort = new Map<number, bigint>();
  if (typeof req.net === 'object' && req.net !== null) {
    for (const port of checkPorts(req.net.connectTcp, 'net.connectTcp')) {
      byPort.set(port, (byPort.get(port) ?? 0n) | AccessNet.ConnectTcp);
    }
    for (const port of checkPorts(req.net.bindTcp, 'net.bindTcp')) {
      byPort.set(port, (byPort.get(port) ?? 0n) | AccessNet.BindTcp);
    }
  } else if (req.net !== 'none' && req.net !== 'host') {
    throw new TypeError(`net must be 'none', 'host' or { connectTcp, bindTcp }, got ${JSON.stringify(req.net)}`);
  }
  // Below ABI 4 nothing is handled, so port rules would be refused by the kernel.
  const ports =
    netHandled === 0n
      ? []
      : [...byPort].sort(([a], [b]) => a - b).map(([port, allowedAccess]) => ({ allowedAccess, port: BigInt(port) }));
  if (ports.length > MAX_LANDLOCK_PORTS) {
    throw new RangeError(`the Landlock policy has ${ports.length} distinct ports; at most ${MAX_LANDLOCK_PORTS} are supported`);
  }

  return {
    ruleset: { abi, handledAccessFs, handledAccessNet: netHandled, scoped },
    paths,
    ports,
    report: {
      abi,
      fsRightsHandled: fsRightNames(handledAccessFs),
      netRightsHandled: netRightNames(netHandled),
      scopes: scopeNames(scoped),
    },
  };
}

/** The part of a LandlockPlan that goes on the wire (drops the report). */
export function landlockWirePlan(plan: LandlockPlan): LandlockWirePlan {
  return { ruleset: plan.ruleset, paths: plan.paths, ports: plan.ports };
}
