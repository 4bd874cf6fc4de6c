/**
 * A pool's sandbox is a ceiling: each call may ask for less, never for more.
 * narrowSandbox() merges a call's sandbox option into the pool's and refuses,
 * with an InvalidOptionRangeError naming the option, anything that widens it.
 * The fs paths a call narrowed to are judged again where its plan is
 * compiled, and granted as judged (src/policy/ceiling.ts): the merged
 * sandbox carries the pool's paths for that (`ceiling`).
 */
import { realpathSync } from 'node:fs';
import { InvalidOptionRangeError } from '../errors.js';
import { isPlainObject } from '../options/checks.js';
import type { FsCeiling, NamespaceSet, NormalizedSandbox, SeccompPolicyOption } from '../options/sandbox.js';
import { beneath, grantsOf, outsideCeiling, type FsRight } from '../policy/ceiling.js';
import { detectFeatures } from '../policy/features.js';
import { planNamespaces } from '../policy/namespaces.js';

type NamespaceName = keyof NamespaceSet;
const NAMESPACES: readonly NamespaceName[] = ['user', 'pid', 'net', 'ipc', 'uts', 'mount'];

/**
 * Landlock resolves symlinks when it opens a rule's path, so containment is
 * judged on real paths: a link beneath a pool path may point anywhere.
 */
function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The call's early answer; the compile judges again, on what it grants (ceiling.ts). */
function checkFs(pool: NormalizedSandbox['fs'], call: string[], right: FsRight, name: string): void {
  const allowed = grantsOf(pool, right);
  const roots = allowed.map(real);
  call.forEach((path, i) => {
    const p = real(path);
    if (!roots.some((root) => beneath(p, root))) throw outsideCeiling(`${name}.fs.${right}[${i}]`, right, path, allowed);
  });
}

function describeNet(net: NormalizedSandbox['net']): string {
  return typeof net === 'string' ? `'${net}'` : JSON.stringify(net);
}

function checkNet(pool: NormalizedSandbox['net'], call: NormalizedSandbox['net'], name: string): void {
  if (pool === 'host' || call === 'none') return;
  const refuse = (why: string): never => {
    throw new InvalidOptionRangeError(`${name}.net`, `(${describeNet(call)}) is wider than the pool's ${describeNet(pool)}: ${why}`);
  };
  if (pool === 'none') refuse('the pool allows no network');
  if (call === 'host') refuse("'host' allows every socket");
  const p = pool as { connectTcp: number[]; bindTcp: number[] };
  const c = call as { connectTcp: number[]; bindTcp: number[] };
  const extraConnect = c.connectTcp.filter((port) => !p.connectTcp.includes(port));
  if (extraConnect.length > 0) refuse(`connectTcp ports ${extraConnect.join(', ')} are not in the pool's`);
  const extraBind = c.bindTcp.filter((port) => !p.bindTcp.includes(port));
  if (extraBind.length > 0) refuse(`bindTcp ports ${extraBind.join(', ')} are not in the pool's`);
}

function seccompName(s: SeccompPolicyOption): string {
  return typeof s === 'string' ? `'${s}'` : JSON.stringify(s);
}

/**
 * 'strict' is an allowlist; 'default' and custom profiles are a denylist
 * (custom = default + deny - allow); 'off' filters nothing. Whether 'strict'
 * happens to block a pool's custom deny list is not worked out here, so that
 * case is refused rather than guessed.
 */
function checkSeccomp(pool: SeccompPolicyOption, call: SeccompPolicyOption, name: string): void {
  if (pool === 'off') return;
  const refuse = (why: string): never => {
    throw new InvalidOptionRangeError(`${name}.seccomp`, `(${seccompName(call)}) is wider than the pool's ${seccompName(pool)}: ${why}`);
  };
  if (call === 'off') refuse('the pool filters system calls');
  if (pool === 'strict') {
    if (call !== 'strict') refuse("the pool's profile is an allowlist");
    return;
  }
  const poolDeny = typeof pool === 'string' ? [] : (pool.deny ?? []);
  const poolAllow = typeof pool === 'string' ? [] : (pool.allow ?? []);
  if (call === 'strict') {
    if (poolDeny.length > 0) refuse(`the pool also denies ${poolDeny.join(', ')}, which 'strict' does not promise to`);
    return;
  }
  const callDeny = typeof call === 'string' ? [] : (call.deny ?? []);
  const callAllow = typeof call === 'string' ? [] : (call.allow ?? []);
  const lostDeny = poolDeny.filter((s) => !callDeny.includes(s));
  if (lostDeny.length > 0) refuse(`it does not deny ${lostDeny.join(', ')}`);
  const extraAllow = callAllow.filter((s) => !poolAllow.includes(s));
  if (extraAllow.length > 0) refuse(`it allows ${extraAllow.join(', ')}`);
}

/**
 * The temp dir is a place to write and, as a tmpfs, memory: a call may do
 * without one or cap it lower, never get one the pool has not, or a bigger one.
 */
function checkTmpdir(pool: NormalizedSandbox['tmpdir'], call: NormalizedSandbox['tmpdir'], name: string): void {
  if (call === false) return;
  if (pool === false) throw new InvalidOptionRangeError(`${name}.tmpdir`, "would give a temp dir the pool's sandbox does not have (tmpdir: false)");
  for (const key of ['sizeBytes', 'inodes'] as const) {
    if (call[key] > pool[key]) {
      throw new InvalidOptionRangeError(`${name}.tmpdir.${key}`, `(${call[key]}) is above the pool's ${pool[key]}`);
    }
  }
}

/** What the pool's namespace setting creates for `key` on this machine: compileSandbox's 'auto', from the same planner. */
function poolHasNamespace(pool: NormalizedSandbox, key: NamespaceName): boolean {
  const explicit = pool.namespaces === 'auto' ? undefined : pool.namespaces[key];
  if (explicit !== undefined) return explicit;
  const features = detectFeatures();
  const auto = planNamespaces('auto', {
    callerUid: process.getuid?.() ?? 0,
    callerGid: process.getgid?.() ?? 0,
    privileged: features.privileged,
    usernsAvailable: features.userns,
    net: pool.net === 'none',
    creatable: features.namespaces,
  });
  return auto.created.includes(key);
}

function mergeNamespaces(pool: NormalizedSandbox, call: NormalizedSandbox['namespaces'], name: string): NormalizedSandbox['namespaces'] {
  const callSet = call === 'auto' ? {} : call;
  for (const key of NAMESPACES) {
    if (callSet[key] === false && poolHasNamespace(pool, key)) {
      throw new InvalidOptionRangeError(`${name}.namespaces.${key}`, `(false) would turn off a namespace the pool's sandbox creates`);
    }
  }
  if (pool.namespaces === 'auto' && call === 'auto') return 'auto';
  return { ...(pool.namespaces === 'auto' ? {} : pool.namespaces), ...callSet };
}

function copy(s: NormalizedSandbox): NormalizedSandbox {
  return {
    ...s,
    fs: { read: [...s.fs.read], write: [...s.fs.write], exec: [...s.fs.exec] },
    net: typeof s.net === 'string' ? s.net : { connectTcp: [...s.net.connectTcp], bindTcp: [...s.net.bindTcp] },
    namespaces: s.namespaces === 'auto' ? 'auto' : { ...s.namespaces },
  };
}

/**
 * Merge a call's sandbox into the pool's. `raw` is the option as the caller
 * wrote it (to tell which keys it set); `call` is its validated form. Keys
 * the call leaves out keep the pool's value; keys it sets replace the pool's
 * after the check that they are no wider.
 */
export function narrowSandbox(
  pool: NormalizedSandbox | false,
  raw: unknown,
  call: NormalizedSandbox | false,
  name = 'sandbox',
): NormalizedSandbox | false {
  if (raw === undefined) return pool === false ? false : copy(pool);
  if (pool === false) return call;
  if (call === false) {
    throw new InvalidOptionRangeError(name, '(false) may not turn off the pool\'s sandbox');
  }
  const given = isPlainObject(raw) ? raw : {};
  const merged = copy(pool);
  if (given.fs !== undefined) {
    const fsGiven = isPlainObject(given.fs) ? given.fs : {};
    const ceiling: FsCeiling = { option: name };
    for (const right of ['read', 'write', 'exec'] as const) {
      if (fsGiven[right] === undefined) continue;
      checkFs(pool.fs, call.fs[right], right, name);
      merged.fs[right] = [...call.fs[right]];
      ceiling[right] = [...grantsOf(pool.fs, right)];
    }
    if (ceiling.read || ceiling.write || ceiling.exec) merged.ceiling = ceiling;
  }
  if (given.net !== undefined) {
    checkNet(pool.net, call.net, name);
    merged.net = call.net;
  }
  if (given.seccomp !== undefined) {
    checkSeccomp(pool.seccomp, call.seccomp, name);
    merged.seccomp = call.seccomp;
  }
  if (given.mode !== undefined) {
    if (pool.mode === 'strict' && call.mode === 'best-effort') {
      throw new InvalidOptionRangeError(`${name}.mode`, "('best-effort') may not relax the pool's 'strict' mode");
    }
    merged.mode = call.mode;
  }
  if (given.namespaces !== undefined) merged.namespaces = mergeNamespaces(pool, call.namespaces, name);
  if (given.tmpdir !== undefined) {
    // `true` asks for a temp dir, not for the default caps, and a cap the call leaves out is the pool's.
    let asked = call.tmpdir;
    if (asked !== false && pool.tmpdir !== false) {
      const caps = isPlainObject(given.tmpdir) ? given.tmpdir : {};
      asked = {
        sizeBytes: caps.sizeBytes === undefined ? pool.tmpdir.sizeBytes : asked.sizeBytes,
        inodes: caps.inodes === undefined ? pool.tmpdir.inodes : asked.inodes,
        explicit: asked.explicit || pool.tmpdir.explicit,
      };
    }
    checkTmpdir(pool.tmpdir, asked, name);
    merged.tmpdir = asked === false ? false : { ...asked };
  }
  if (given.unixSockets !== undefined) {
    if (call.unixSockets && !pool.unixSockets) {
      throw new InvalidOptionRangeError(`${name}.unixSockets`, "(true) is wider than the pool's sandbox, which allows no unix sockets");
    }
    merged.unixSockets = call.unixSockets;
  }
  return merged;
}
