/**
 * `sandbox`: the typed policy. Validated here (paths absolute and existing,
 * ports in range, known keys); compiled to plan fields in src/policy/.
 */
import { statSync } from 'node:fs';
import { isAbsolute, posix } from 'node:path';
import { InvalidOptionRangeError, InvalidOptionTypeError } from '../errors.js';
import { MAX_LANDLOCK_PATHS, MAX_LANDLOCK_PORTS } from '../protocol/wire.js';
import { booleanOption, describe, integerOption, isPlainObject, knownKeys, objectOption, oneOf, stringArray } from './checks.js';

export interface FsPolicy {
  /** Extra paths readable (files, or directories and everything beneath). */
  read?: string[];
  /** Extra paths readable and writable (create, delete, rename, truncate beneath). */
  write?: string[];
  /** Extra paths readable and executable. */
  exec?: string[];
}

/** 'none': no sockets but AF_UNIX; 'host': unrestricted; an object: TCP only, to/on the listed ports. */
export type NetPolicy = 'none' | 'host' | { connectTcp?: number[]; bindTcp?: number[] };

export interface NamespaceSet {
  user: boolean;
  pid: boolean;
  net: boolean;
  ipc: boolean;
  uts: boolean;
  mount: boolean;
}

export type SeccompPolicyOption = 'default' | 'strict' | 'off' | { deny?: string[]; allow?: string[] };

export interface SandboxOptions {
  fs?: FsPolicy;
  net?: NetPolicy;
  /** 'auto' (default): every namespace this machine allows, falling back to none. Keys left out take the 'auto' value. */
  namespaces?: 'auto' | Partial<NamespaceSet>;
  seccomp?: SeccompPolicyOption;
  /** 'strict' (default): refuse to run if a requested restriction cannot be enforced. */
  mode?: 'strict' | 'best-effort';
  /**
   * A fresh private temp dir per operation as cwd, HOME and TMPDIR (default
   * true). With a mount namespace it is a tmpfs on /tmp and /dev/shm, capped
   * at `sizeBytes` (default 256 MiB) and `inodes` (default 65536) for the two
   * together: past the cap the program gets ENOSPC and `result.limit` says
   * 'tmpdir'. Without one it is a host directory that cannot be capped (named
   * in `enforcement.fallbacks`; an explicit object makes strict mode refuse).
   */
  tmpdir?: boolean | { sizeBytes?: number; inodes?: number };
  /**
   * Let the program create unix sockets with socket(AF_UNIX) (default false:
   * only socketpair(), so it can reach no listening socket of the host, by
   * path or abstract name). Grant it to talk to a socket you also grant in `fs`.
   */
  unixSockets?: boolean;
}

export interface NormalizedSandbox {
  fs: { read: string[]; write: string[]; exec: string[] };
  net: 'none' | 'host' | { connectTcp: number[]; bindTcp: number[] };
  namespaces: 'auto' | Partial<NamespaceSet>;
  seccomp: SeccompPolicyOption;
  mode: 'strict' | 'best-effort';
  /** false, or the cap; `explicit` when the caller gave one (strict mode then refuses a host dir). */
  tmpdir: false | { sizeBytes: number; inodes: number; explicit: boolean };
  unixSockets: boolean;
  /** Set by a pool for a call that narrowed its fs lists (src/pool/narrow.ts); never by the options. */
  ceiling?: FsCeiling;
}

/**
 * The pool's paths each fs list a call narrowed must stay beneath, as the
 * pool wrote them (a list the call left to the pool has none), and the
 * option name for an error, e.g. 'sandbox' for `sandbox.fs.write[0]`. The
 * compile judges the list again by it (src/policy/ceiling.ts).
 */
export interface FsCeiling {
  option: string;
  read?: string[];
  write?: string[];
  exec?: string[];
}

export const DEFAULT_TMPDIR_BYTES = 256 * 1024 * 1024;
export const DEFAULT_TMPDIR_INODES = 65536;

/**
 * Landlock rules the sandbox adds to the caller's paths: the system paths of
 * src/policy/landlock.ts (DEFAULT_SYSTEM_PATHS, 12), /proc, the temp dir
 * (/tmp and /dev/shm, or a host dir) and the program itself.
 * test/landlock-plan.test.ts keeps this true.
 */
export const SANDBOX_RESERVED_PATHS = 16;
/** Distinct paths a caller may grant across sandbox.fs.read, write and exec: what a ruleset holds, less the sandbox's own. */
export const MAX_SANDBOX_FS_PATHS = MAX_LANDLOCK_PATHS - SANDBOX_RESERVED_PATHS;

/** Refuse more distinct paths than a Landlock ruleset can hold, naming the list that went past. */
function checkPathCount(fs: NormalizedSandbox['fs'], name: string): void {
  const seen = new Set<string>();
  for (const key of ['read', 'write', 'exec'] as const) {
    for (const p of fs[key]) seen.add(posix.normalize(p));
    if (seen.size > MAX_SANDBOX_FS_PATHS) {
      throw new InvalidOptionRangeError(
        `${name}.fs.${key}`,
        `brings the sandbox's distinct paths (read, write and exec together) to ${seen.size}; at most ${MAX_SANDBOX_FS_PATHS} are supported`,
      );
    }
  }
}

const sandboxKeys = ['fs', 'net', 'namespaces', 'seccomp', 'mode', 'tmpdir', 'unixSockets'] as const;
const namespaceKeys = ['user', 'pid', 'net', 'ipc', 'uts', 'mount'] as const;

function paths(value: unknown, name: string): string[] {
  const list = stringArray(value, name) ?? [];
  return list.map((p, i) => {
    if (!isAbsolute(p)) throw new InvalidOptionTypeError(`${name}[${i}]`, `must be an absolute path, got ${JSON.stringify(p)}`);
    try {
      statSync(p);
    } catch {
      throw new InvalidOptionRangeError(`${name}[${i}]`, `does not exist: ${p}`);
    }
    return p;
  });
}

function ports(value: unknown, name: string): number[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidOptionTypeError(name, `must be an array of port numbers, got ${describe(value)}`);
  return value.map((p, i) => {
    if (typeof p !== 'number' || !Number.isInteger(p)) throw new InvalidOptionTypeError(`${name}[${i}]`, `must be an integer port, got ${describe(p)}`);
    if (p < 1 || p > 65535) throw new InvalidOptionRangeError(`${name}[${i}]`, `must be a port between 1 and 65535, got ${p}`);
    return p;
  });
}

function syscallNames(value: unknown, name: string): string[] | undefined {
  const list = stringArray(value, name);
  list?.forEach((s, i) => {
    if (!/^[a-z0-9_]+$/.test(s)) throw new InvalidOptionTypeError(`${name}[${i}]`, `is not a syscall name: ${JSON.stringify(s)}`);
  });
  return list;
}

export function validateSandbox(value: unknown, name = 'sandbox'): NormalizedSandbox | false {
  if (value === false) return false;
  const o = objectOption(value, name) ?? {};
  knownKeys(o, sandboxKeys, name);

  const fsObj = objectOption(o.fs, `${name}.fs`) ?? {};
  knownKeys(fsObj, ['read', 'write', 'exec'], `${name}.fs`);
  const fs = {
    read: paths(fsObj.read, `${name}.fs.read`),
    write: paths(fsObj.write, `${name}.fs.write`),
    exec: paths(fsObj.exec, `${name}.fs.exec`),
  };
  checkPathCount(fs, name);

  let net: NormalizedSandbox['net'] = 'none';
  if (typeof o.net === 'string' || o.net === undefined) {
    net = oneOf(o.net, `${name}.net`, ['none', 'host'] as const) ?? 'none';
  } else if (isPlainObject(o.net)) {
    knownKeys(o.net, ['connectTcp', 'bindTcp'], `${name}.net`);
    net = { connectTcp: ports(o.net.connectTcp, `${name}.net.connectTcp`), bindTcp: ports(o.net.bindTcp, `${name}.net.bindTcp`) };
    const distinct = new Set([...net.connectTcp, ...net.bindTcp]).size;
    if (distinct > MAX_LANDLOCK_PORTS) {
      throw new InvalidOptionRangeError(`${name}.net`, `lists ${distinct} distinct ports (connectTcp and bindTcp together); at most ${MAX_LANDLOCK_PORTS} are supported`);
    }
  } else {
    throw new InvalidOptionTypeError(`${name}.net`, `must be 'none', 'host' or { connectTcp, bindTcp }, got ${describe(o.net)}`);
  }

  let namespaces: NormalizedSandbox['namespaces'] = 'auto';
  if (o.namespaces !== undefined && o.namespaces !== 'auto') {
    const ns = objectOption(o.namespaces, `${name}.namespaces`);
    if (!ns) throw new InvalidOptionTypeError(`${name}.namespaces`, "must be 'auto' or an object");
    knownKeys(ns, namespaceKeys, `${name}.namespaces`);
    const picked: Partial<NamespaceSet> = {};
    for (const key of namespaceKeys) {
      const v = booleanOption(ns[key], `${name}.namespaces.${key}`);
      if (v !== undefined) picked[key] = v;
    }
    namespaces = picked;
  }

  let seccomp: SeccompPolicyOption = 'default';
  if (typeof o.seccomp === 'string' || o.seccomp === undefined) {
    seccomp = oneOf(o.seccomp, `${name}.seccomp`, ['default', 'strict', 'off'] as const) ?? 'default';
  } else if (isPlainObject(o.seccomp)) {
    knownKeys(o.seccomp, ['deny', 'allow'], `${name}.seccomp`);
    const custom: { deny?: string[]; allow?: string[] } = {};
    const deny = syscallNames(o.seccomp.deny, `${name}.seccomp.deny`);
    const allow = syscallNames(o.seccomp.allow, `${name}.seccomp.allow`);
    if (deny) custom.deny = deny;
    if (allow) custom.allow = allow;
    seccomp = custom;
  } else {
    throw new InvalidOptionTypeError(`${name}.seccomp`, `must be 'default', 'strict', 'off' or { deny, allow }, got ${describe(o.seccomp)}`);
  }

  return {
    fs,
    net,
    namespaces,
    seccomp,
    mode: oneOf(o.mode, `${name}.mode`, ['strict', 'best-effort'] as const) ?? 'strict',
    tmpdir: tmpdirOption(o.tmpdir, `${name}.tmpdir`),
    unixSockets: booleanOption(o.unixSockets, `${name}.unixSockets`) ?? false,
  };
}

function tmpdirOption(value: unknown, name: string): NormalizedSandbox['tmpdir'] {
  if (value === undefined || value === true) return { sizeBytes: DEFAULT_TMPDIR_BYTES, inodes: DEFAULT_TMPDIR_INODES, explicit: false };
  if (value === false) return false;
  if (!isPlainObject(value)) throw new InvalidOptionTypeError(name, `must be a boolean or { sizeBytes, inodes }, got ${describe(value)}`);
  knownKeys(value, ['sizeBytes', 'inodes'], name);
  return {
    sizeBytes: integerOption(value.sizeBytes, `${name}.sizeBytes`, { min: 4096 }) ?? DEFAULT_TMPDIR_BYTES,
    inodes: integerOption(value.inodes, `${name}.inodes`, { min: 16, max: 0xffff_ffff }) ?? DEFAULT_TMPDIR_INODES,
    explicit: true,
  };
}
