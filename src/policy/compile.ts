/**
 * The policy compiler: a validated `sandbox` option plus what this kernel
 * supports becomes the plan fields the child applies, and a report of what
 * will actually be enforced. TS makes every decision here; C only applies.
 */
import { judgeNarrowed } from './ceiling.js';
import { ROOT_CAPABILITY_NAMES } from './privilege.js';
import {
  resolveAfresh,
  resolvePath,
  sameResolution,
  stillResolves,
  stillResolvesAfresh,
  type Resolution,
  type ResolvedPath,
} from './path-cache.js';
import { lookupDirs, unchangedSince, watchDirs, watchedGeneration } from './path-watch.js';
import { InvalidOptionRangeError, sandboxUnavailable } from '../errors.js';
import type { NormalizedSandbox } from '../options/sandbox.js';
import type { Limits } from '../options/limits.js';
import { markConstant, SpawnFlag, type SpawnPlan } from '../protocol/wire.js';
import type { KernelFeatures } from './features.js';
import { landlockWirePlan, planLandlock, withSystemPaths } from './landlock.js';
import { planMounts } from './mounts.js';
import { NOBODY_ID, childIds, namespacesWirePlan, planNamespaces, type NamespaceName } from './namespaces.js';
import { compileInitSeccomp, compileSeccomp, type CompiledSeccomp, type SeccompCompileOptions, type SeccompNet } from './seccomp.js';
import { standInOnlyWhereExpected, tmpdirStandIn, withTmpdir } from './tmpdir-stand-in.js';

/** What a Result reports was enforced for its operation. */
export interface Enforcement {
  /** False only with `sandbox: false`. */
  sandboxed: boolean;
  mode: 'strict' | 'best-effort';
  landlock: { abi: number; fs: string[]; net: string[]; scopes: string[]; rules: number } | null;
  seccomp: { mode: 'default' | 'strict' | 'custom'; rules: number; instructions: number } | null;
  namespaces: NamespaceName[];
  /** The uid/gid the child runs as, seen from the host (a root caller's: a uid of the operation's own). */
  uid: number;
  gid: number;
  noNewPrivs: boolean;
  limits: Limits;
  /** The private temp dir (cwd, HOME, TMPDIR) as the program sees it ('/tmp' for a private tmpfs), or null. */
  tmpdir: string | null;
  /** The temp dir's cap, when the kernel enforces one (a private tmpfs). */
  tmpdirLimit: { bytes: number; inodes: number } | null;
  /** How each guarantee of the profile is kept here (see docs/kernel.md). */
  guarantees: Guarantees;
  /** Parts of the requested policy this kernel cannot enforce (best-effort only; strict refuses). */
  missing: string[];
  /**
   * Parts of the default ('auto') profile this environment cannot give, with
   * why; what they guard is kept by the other layers listed in `guarantees`.
   * Strict mode does not refuse for these; ask for one explicitly
   * (e.g. `namespaces: { pid: true }`) to make it refuse without it.
   */
  fallbacks: string[];
  /** Simulated kernel limits in effect (HATCHERY_* variables). */
  simulated: string[];
}

/** The mechanisms that keep each guarantee, or null where none can (then it is in `missing`). */
export interface Guarantees {
  /** The whole tree ends with the operation: 'pid-namespace', 'operation-uid' (killed by uid), 'process-group' (seccomp keeps it in its group). */
  treeEnds: 'pid-namespace' | 'operation-uid' | 'process-group' | null;
  /** No host unix socket is reachable: 'seccomp' (no socket(AF_UNIX)), or 'granted' (unixSockets: true). */
  noHostUnixSockets: 'seccomp' | 'granted' | null;
  /**
   * System V IPC and POSIX message queues are the operation's own and end with it: 'ipc-namespace', or
   * 'seccomp' (refused where there is no IPC namespace).
   */
  noHostIpc: 'ipc-namespace' | 'seccomp' | null;
  /** Concurrent operations cannot reach each other: their own uids, or their own user namespaces. */
  operationsSeparated: 'operation-uid' | 'user-namespace' | 'landlock-only' | null;
  /** Nothing gains privilege: no_new_privs plus an unprivileged uid. */
  noPrivilegeGain: 'no-new-privs+unprivileged-uid' | 'no-new-privs';
}

/**
 * Processes (threads included) a sandbox may hold when the caller sets no
 * limit: enough for a parallel build or a browser, few enough that a fork bomb
 * stops long before the host's pid space. Counted per user namespace, so it is
 * per operation whenever the sandbox has its own; without one it would count
 * every process of the caller's uid, so it is only applied when the uid is
 * the sandbox's own (a user namespace, or the dropped uid 65534 as root).
 */
export const DEFAULT_SANDBOX_PROCESSES = 1024;

export interface CompiledSandbox {
  plan: Pick<SpawnPlan, 'namespaces' | 'credentials' | 'landlock' | 'seccomp' | 'mounts' | 'privateTmp' | 'initSeccomp'> & { flags: number };
  /** The caller's limits plus the sandbox's defaults, as reported. */
  limits: Limits;
  /** What the rlimits are set to: with a pid namespace the init holds one process slot of its own. */
  appliedLimits: Limits;
  enforcement: Enforcement;
  /** uid/gid that must own a host temp dir. */
  owner: { uid: number; gid: number };
  /** The temp dir as the program sees it, or null: a private tmpfs ('/tmp', or '/var/tmp'), or a host dir (`hostTmpdir`). */
  tmpdir: string | null;
  /** The host dir made for the temp dir (fallback), which must be removed after. */
  hostTmpdir: string | null;
  /** The compiled filter, for explanations. */
  seccomp: CompiledSeccomp | null;
}

const seccompCache = new Map<string, CompiledSeccomp | null>();

function seccompFor(policy: NormalizedSandbox['seccomp'], options: SeccompCompileOptions): CompiledSeccomp | null {
  const key = `${JSON.stringify(policy)}|${JSON.stringify(options)}`;
  if (seccompCache.has(key)) return seccompCache.get(key)!;
  // What only the architecture's syscall table can tell (an unknown name) is an INVALID_OPTION from compileSeccomp.
  const compiled = compileSeccomp(policy, options);
  if (seccompCache.size > 64) seccompCache.clear();
  seccompCache.set(key, compiled);
  return compiled;
}

export interface CompileContext {
  features: KernelFeatures;
  limits: Limits;
  /**
   * Where no private tmpfs can be had, make (or name) the host dir for the
   * temp dir, owned by `owner`. Called at most once; not called when the
   * sandbox has no temp dir or gets a private tmpfs.
   */
  hostTmpdir?: (owner: { uid: number; gid: number }) => string;
  /** A root caller's operation uid (src/spawn/operation-uid.ts); without one, 65534. */
  operationUid?: number;
  /** Extra paths the child needs (e.g. the program itself when hatchery must exec it). */
  extraExec?: readonly string[];
}

export function unsandboxedEnforcement(limits: Limits): Enforcement {
  const uid = process.getuid?.() ?? -1;
  return {
    sandboxed: false,
    mode: 'best-effort',
    landlock: null,
    seccomp: null,
    namespaces: [],
    uid,
    gid: process.getgid?.() ?? -1,
    noNewPrivs: true,
    limits,
    tmpdir: null,
    tmpdirLimit: null,
    guarantees: { treeEnds: 'process-group', noHostUnixSockets: null, noHostIpc: null, operationsSeparated: null, noPrivilegeGain: 'no-new-privs' },
    missing: [],
    fallbacks: [],
    simulated: [],
  };
}

/**
 * Where the private tmpfs may go: the first of these that no grant lies at,
 * under or above. A grant under it would sit beneath the tmpfs and so, in
 * Landlock's eyes, inherit its write right; /var/tmp is the second choice
 * when a program or its input lives under /tmp.
 */
const PRIVATE_TMP_MOUNTS = ['/tmp', '/var/tmp'];

type Resolve = (path: string) => ResolvedPath | null;

/** How a compile looks at the file system: `resolve` (resolvePath), and `afresh` (resolveAfresh) for the paths a pool's call narrowed to. */
interface Lookups {
  resolve: Resolve;
  afresh: Resolve;
}

const HOST: Lookups = { resolve: resolvePath, afresh: resolveAfresh };

/** A grant at, under or above `dir`, as given or once its symlinks are resolved. */
function touches(paths: readonly string[], dir: string, resolve: Resolve): boolean {
  const near = (p: string): boolean => p === dir || p.startsWith(`${dir}/`) || dir.startsWith(`${p === '/' ? '' : p}/`);
  return paths.some((p) => {
    if (near(p)) return true;
    const resolved = resolve(p);
    return resolved !== null && near(resolved.real);
  });
}

/** The init's filter: the same bytes every time for this architecture, made once (like seccompFor's programs, never changed). */
let initSeccompProgram: Uint8Array | undefined;

/** Every file system lookup goes through `lookups` (HOST, or the memo's recorder of it). */
function compileFresh(sandbox: NormalizedSandbox, ctx: CompileContext, lookups: Lookups): CompiledSandbox {
  const { features } = ctx;
  const { resolve } = lookups;
  // The paths a pool's call narrowed to, judged against the pool's again, by what will be granted: their real paths, opened exactly.
  const narrowed = judgeNarrowed(sandbox, resolve, lookups.afresh);
  const paths = narrowed?.fs ?? sandbox.fs;
  const missing: string[] = [];
  const fallbacks: string[] = [];
  const abi = features.landlockAbi;
  const netIsolatedByLandlock = abi >= 4;
  const scopesAvailable = abi >= 6;
  const root = features.privileged;

  // Namespaces. With net 'none' the sandbox needs nothing of the host's network, so 'auto' gives it an
  // empty network namespace: /proc/net then lists none of the host's unix socket paths and TCP listeners,
  // and it is a wall behind seccomp and the Landlock scope (the only one on ABI < 6) for abstract sockets.
  const wantNetNs = sandbox.net === 'none';
  const nsEnv: Parameters<typeof planNamespaces>[1] = {
    callerUid: process.getuid?.() ?? 0,
    callerGid: process.getgid?.() ?? 0,
    privileged: features.privileged,
    usernsAvailable: features.userns,
    net: wantNetNs,
    creatable: features.namespaces,
  };
  if (ctx.operationUid !== undefined) nsEnv.operationUid = ctx.operationUid;
  let request: Parameters<typeof planNamespaces>[0] = 'auto';
  if (sandbox.namespaces !== 'auto') {
    const n = sandbox.namespaces;
    // Keys left out take the value 'auto' would give them here: what this environment can create.
    const auto = planNamespaces('auto', nsEnv).created;
    request = {
      user: n.user ?? auto.includes('user'),
      pid: n.pid ?? auto.includes('pid'),
      net: n.net ?? auto.includes('net'),
      ipc: n.ipc ?? auto.includes('ipc'),
      uts: n.uts ?? auto.includes('uts'),
      mount: n.mount ?? auto.includes('mount'),
    };
    if (request.net && sandbox.net !== 'none') {
      throw new InvalidOptionRangeError('sandbox.namespaces.net', `cannot be true with sandbox.net ${JSON.stringify(sandbox.net)}: a new network namespace has no route to the host`);
    }
  }
  const ns = planNamespaces(request, nsEnv);
  const why = features.usernsReason ?? (root ? 'refused here' : 'user namespaces are unavailable');
  if (request !== 'auto') {
    for (const name of ns.unavailable) missing.push(`namespace.${name} (${why})`);
  } else if (ns.unavailable.length > 0 || ns.created.length === 0) {
    const absent = ns.created.length === 0 ? 'all namespaces' : `namespaces ${ns.unavailable.join(', ')}`;
    fallbacks.push(`${absent} (${why})`);
  }
  if (root && ctx.operationUid === undefined) {
    fallbacks.push(`a uid per operation (${features.operationUids ? 'none free' : 'this process may not take uids of the range'}): every operation runs as uid ${NOBODY_ID}`);
  }
  if (ns.uid === 0) {
    // Root without the root path's capabilities (privilege.ts): no other uid can be taken, and without capabilities
    // uid 0 still owns the host. Landlock has no right for metadata, so it could set setuid bits on root's files; modes
    // do not close root-only files (/etc/shadow) in its read grants to it; prlimit64, setpriority and the sched_* calls
    // reach every capability-less uid-0 process (the caller and the zygote included) past the signal scope; and the
    // kernel never applies RLIMIT_NPROC to uid 0. Strict mode refuses; best-effort runs it without capabilities.
    missing.push(
      `a uid other than 0 for the program (${features.privilegeReason ?? 'root without the root capabilities'}: no other uid can be taken; ` +
        "as uid 0 it could chmod root's files, setuid bits included, read root-only files in its read grants, change the limits and priority " +
        `of root's processes, and is exempt from limits.processes; give the process ${ROOT_CAPABILITY_NAMES}, or run it as another user)`,
    );
  }

  // The temp dir: a capped tmpfs inside the sandbox where a mount namespace allows, else a host dir.
  const mountNs = ns.created.includes('mount') && features.mountApi;
  let privateTmp: SpawnPlan['privateTmp'];
  let hostTmpdir: string | null = null;
  if (sandbox.tmpdir) {
    const granted = [...paths.read, ...paths.write, ...paths.exec, ...(ctx.extraExec ?? [])];
    const mountPoint = mountNs ? PRIVATE_TMP_MOUNTS.find((dir) => !touches(granted, dir, resolve)) : undefined;
    if (mountPoint !== undefined) {
      const shm = !touches(granted, '/dev/shm', resolve);
      privateTmp = { sizeBytes: sandbox.tmpdir.sizeBytes, inodes: sandbox.tmpdir.inodes, path: mountPoint, shm };
    } else {
      const reason = mountNs ? 'the policy grants paths under both /tmp and /var/tmp' : 'no mount namespace here';
      const what = `a size cap on the temp dir (${reason}: it is a host directory)`;
      if (sandbox.tmpdir.explicit) missing.push(what);
      else fallbacks.push(what);
      hostTmpdir = makeHostTmpdir(ctx, { uid: ns.uid, gid: ns.gid });
    }
  }
  const tmpPaths = privateTmp ? [privateTmp.path, ...(privateTmp.shm ? ['/dev/shm'] : [])] : hostTmpdir ? [hostTmpdir] : [];

  const privateProc = ns.created.includes('pid') && ns.created.includes('mount');
  const granted = { read: paths.read, write: paths.write, exec: [...paths.exec, ...(ctx.extraExec ?? [])] };
  const fs = withSystemPaths(
    { read: granted.read, write: [...granted.write, ...tmpPaths], exec: [...granted.exec, ...tmpPaths] },
    { net: sandbox.net, privateProc },
  );

  // Mounts: hide host socket/home dirs, read-only everything else (see mounts.ts). The private tmpfs is mounted after them.
  let mounts: SpawnPlan['mounts'];
  if (ns.created.includes('mount')) {
    if (features.mountApi) {
      const mountFs = privateTmp ? withSystemPaths(granted, { net: sandbox.net, privateProc }) : fs;
      const exact = narrowed?.exact;
      mounts = planMounts({ tmpdir: hostTmpdir, ...mountFs, write: mountFs.write.filter((p) => p !== hostTmpdir), ...(exact && { exact }) }, { resolve });
    } else {
      missing.push(`read-only host filesystem and hidden /tmp, /run, /home (the mount API is refused here or needs Linux 5.12, have ${features.kernelRelease})`);
    }
  }

  // Landlock.
  let landlock: ReturnType<typeof planLandlock> | null = null;
  if (abi >= 1) {
    landlock = planLandlock({ abi, ...fs, net: sandbox.net, scopes: true, ...(narrowed && { exact: narrowed.exact }) });
  } else {
    missing.push(`landlock (${features.landlockReason ?? 'unavailable'})`);
  }

  // Seccomp. Without a pid namespace or a uid of its own, the tree's process group is what a kill reaches: keep it there.
  const ownUid = ns.created.includes('user') || ns.credentials !== undefined;
  const operationUid = root && ctx.operationUid !== undefined;
  const lockProcessGroup = !ns.created.includes('pid') && !operationUid;
  // Without an IPC namespace, System V IPC and message queues are the host's: refused, or they would outlive the operation.
  const denyHostIpc = !ns.created.includes('ipc');
  const seccompNet: SeccompNet = sandbox.net === 'host' ? 'host' : sandbox.net === 'none' ? 'none' : 'tcp';
  let seccomp: CompiledSeccomp | null = null;
  if (sandbox.seccomp !== 'off') {
    // Without a pid namespace the host's processes are in sight: the calls that change another's limits or priority act on the caller only.
    const lockOtherProcesses = !ns.created.includes('pid');
    const compiled = seccompFor(sandbox.seccomp, { net: seccompNet, unixSockets: sandbox.unixSockets, lockProcessGroup, denyHostIpc, lockOtherProcesses });
    if (features.seccomp) seccomp = compiled;
    else missing.push(`seccomp (${features.seccompReason ?? 'the kernel has no seccomp filter support'})`);
  }
  const initSeccomp = ns.created.includes('pid') && features.seccomp ? (initSeccompProgram ??= compileInitSeccomp().program) : undefined;

  // What the network policy needs, by whichever layer can carry it.
  if (typeof sandbox.net === 'object' && !netIsolatedByLandlock) {
    missing.push(`TCP port rules (Landlock ABI 4 needed, have ${abi})`);
  }
  if (sandbox.net === 'none' && !netIsolatedByLandlock && !seccomp && !ns.created.includes('net')) {
    missing.push('network isolation (needs Landlock ABI 4, seccomp or a network namespace)');
  }
  if (sandbox.net !== 'host' && !sandbox.unixSockets && !scopesAvailable && !ns.created.includes('net') && !seccomp) {
    missing.push(`abstract unix socket isolation (Landlock ABI 6, seccomp or a network namespace needed, have ABI ${abi})`);
  }
  if (!scopesAvailable && !ns.created.includes('pid') && !operationUid) {
    missing.push(`signal isolation (Landlock ABI 6, a pid namespace or a uid per operation needed, have ABI ${abi})`);
  }

  // The guarantees, and which layer keeps each here.
  const guarantees: Guarantees = {
    treeEnds: ns.created.includes('pid') ? 'pid-namespace' : operationUid ? 'operation-uid' : seccomp ? 'process-group' : null,
    noHostUnixSockets: sandbox.unixSockets ? 'granted' : seccomp ? 'seccomp' : null,
    noHostIpc: ns.created.includes('ipc') ? 'ipc-namespace' : seccomp ? 'seccomp' : null,
    operationsSeparated: operationUid ? 'operation-uid' : ns.created.includes('user') ? 'user-namespace' : landlock ? 'landlock-only' : null,
    noPrivilegeGain: ns.uid !== 0 ? 'no-new-privs+unprivileged-uid' : 'no-new-privs',
  };
  if (guarantees.noHostIpc === null) missing.push('host IPC isolation (System V IPC and message queues: needs an IPC namespace or seccomp)');
  if (guarantees.treeEnds === null) missing.push('ending the whole process tree (needs a pid namespace, a uid per operation or seccomp)');
  if (!operationUid && paths.write.length > 0) {
    // Without a uid per operation, every operation is the same uid on the host: a directory granted to two is theirs to share.
    fallbacks.push(`separation of operations that share a write grant (they run as the same uid ${ns.uid}: no uid per operation ${root ? 'here' : 'for a caller that is not root'})`);
  }
  if (!operationUid && !ns.created.includes('mount')) {
    // Landlock has no right for metadata; a mount namespace's read-only tree (mounts.ts) is what covers it.
    const tmp = hostTmpdir !== null ? ", other operations' temp dirs included" : '';
    fallbacks.push(`chmod, utimes and xattrs of files uid ${ns.uid} owns${tmp} (Landlock has no right for them, and no mount namespace makes the host tree read-only)`);
  }

  if (sandbox.mode === 'strict' && missing.length > 0) {
    throw sandboxUnavailable(missing, features.simulated);
  }

  const limits: Limits = { ...ctx.limits };
  if (limits.processes === undefined && ownUid) limits.processes = DEFAULT_SANDBOX_PROCESSES;

  let flags = 0;
  if (operationUid) flags |= SpawnFlag.PrivateUmask;
  if (operationUid && !ns.created.includes('pid')) flags |= SpawnFlag.KillUid;
  // A zygote (a root one itself, any other through its twin) may give a later operation the stocked network namespace
  // this one ran in, if this one can leave nothing in it: no socket but a pair, every process gone with the init, and
  // not the host's uid 0, which needs no capability to write the namespace's sysctls (root's files, mode 0644, even
  // from a user namespace of its own).
  if (seccomp?.socketPairsOnly && ns.created.includes('net') && ns.created.includes('pid') && ns.uid !== 0) flags |= SpawnFlag.ReusableNet;
  const plan: CompiledSandbox['plan'] = { flags };
  const nsWire = namespacesWirePlan(ns);
  if (nsWire) plan.namespaces = nsWire;
  if (ns.credentials) plan.credentials = ns.credentials;
  if (landlock) plan.landlock = landlockWirePlan(landlock);
  if (seccomp) plan.seccomp = seccomp.program;
  if (initSeccomp) plan.initSeccomp = initSeccomp;
  if (mounts) plan.mounts = mounts;
  if (privateTmp) plan.privateTmp = privateTmp;

  const appliedLimits =
    ns.created.includes('pid') && limits.processes !== undefined ? { ...limits, processes: limits.processes + 1 } : limits;
  const tmpdir = privateTmp ? privateTmp.path : hostTmpdir;

  return {
    plan,
    limits,
    appliedLimits,
    owner: { uid: ns.uid, gid: ns.gid },
    tmpdir,
    hostTmpdir,
    seccomp,
    enforcement: {
      sandboxed: true,
      mode: sandbox.mode,
      landlock: landlock
        ? {
            abi: landlock.report.abi,
            fs: landlock.report.fsRightsHandled,
            net: landlock.report.netRightsHandled,
            scopes: landlock.report.scopes,
            rules: landlock.paths.length + landlock.ports.length,
          }
        : null,
      seccomp: seccomp ? { mode: seccomp.mode, rules: seccomp.ruleCount, instructions: seccomp.instructionCount } : null,
      namespaces: ns.created,
      uid: ns.uid,
      gid: ns.gid,
      noNewPrivs: true,
      limits,
      tmpdir,
      tmpdirLimit: privateTmp ? { bytes: privateTmp.sizeBytes, inodes: privateTmp.inodes } : null,
      guarantees,
      missing,
      fallbacks,
      simulated: [...features.simulated],
    },
  };
}

// ---------------------------------------------------------------------------
// The memo. A compile reads its arguments, the caller's uid/gid, the features
// object and the file system, through resolvePath only; for the same key and
// the same answers from resolvePath it makes the same result. So a result is
// kept with every path it resolved and what came back, and handed out again
// only while stillResolves (path-cache.ts) finds each answer still true, by
// fresh stats, by the same rule as resolvePath's own cache: a path swapped
// for a symlink, a granted directory removed or made, a reused inode all
// make the next call compile afresh. Never kept: a compile that threw, one
// that got two answers for one path, one whose host temp dir (one per
// operation) cannot be a stand-in swapped per call (tmpdir-stand-in.ts).
//
// A root caller's operation uid is one of a rotating range, different nearly
// every run: the key holds only whether one is given (and whether it is 0),
// and the uid lands where the compile puts it (plan.credentials, owner,
// enforcement.uid/gid: the child's ids, namespaces.ts childIds), nowhere else.

/** Compiled plans kept; least recently used dropped first. */
export const PLAN_MEMO_ENTRIES = 64;
/** A compile that resolved more paths is not kept (its check would be one batch of up to twice as many stats). */
const MEMO_MAX_PATHS = 1024;

interface MemoEntry {
  resolutions: readonly Resolution[];
  /** What resolveAfresh answered for the paths a pool's call narrowed to (ceiling.ts): checked by a walk each. */
  afresh: readonly Resolution[];
  /**
   * The directories those resolutions were looked up in (path-watch.ts),
   * null when a lookup could not be followed.
   */
  lookupDirs: string[] | null;
  /** The path-watch generation of the last full check, taken with lookupDirs watched; undefined: check by stat. */
  checkedAt?: number;
  /** Never handed out: each call gets a copy (instantiate). Its plan fields are frozen and shared. */
  compiled: CompiledSandbox;
  /** The path that stands for each call's own host temp dir in `compiled` (tmpdir-stand-in.ts), or null. */
  standIn: string | null;
}

const memo = new Map<string, MemoEntry>();
/** Keys whose compile put a host temp dir where a stand-in cannot be swapped for it: compiled with the real dir every time. */
const realTmpdirKeys = new Set<string>();
const featureIds = new WeakMap<KernelFeatures, number>();
let nextFeatureId = 0;
const memoCounts = { hits: 0, compiles: 0, statChecks: 0 };

/**
 * How often compileSandbox reused a compiled plan, how often it compiled one,
 * and how often a kept plan's paths were checked by stat (the rest of the
 * reuses skipped it: path-watch.ts). Tests, benchmarks.
 */
export function planMemoStats(): { hits: number; compiles: number; statChecks: number; entries: number } {
  return { ...memoCounts, entries: memo.size };
}

/** What compileSandbox gives for these arguments with nothing kept or reused (tests). */
export function compileUnkept(sandbox: NormalizedSandbox, ctx: CompileContext): CompiledSandbox {
  return compileFresh(sandbox, ctx, HOST);
}

/** Forget every compiled plan (tests). */
export function clearPlanMemo(): void {
  memo.clear();
}

function memoKey(sandbox: NormalizedSandbox, ctx: CompileContext, callerUid: number, callerGid: number): string | null {
  const op = ctx.operationUid;
  let opClass: string;
  if (op === undefined) opClass = '-';
  else if (!Number.isInteger(op) || op < 0 || op > 0xffff_fffe) return null; // planNamespaces throws for it
  else opClass = op === 0 ? '0' : '+';
  let fid = featureIds.get(ctx.features);
  if (fid === undefined) featureIds.set(ctx.features, (fid = nextFeatureId++));
  return `${fid}|${callerUid}|${callerGid}|${opClass}|${JSON.stringify([sandbox, ctx.limits, ctx.extraExec ?? []])}`;
}

/** Freeze the kept plan's fields, and tell the encoder (wire.ts) their records may be encoded once. */
function freezePlan(plan: CompiledSandbox['plan']): void {
  // The Uint8Array programs cannot be frozen; like seccompFor's, they are never written to.
  for (const field of [plan.landlock, plan.seccomp, plan.initSeccomp, plan.mounts]) if (field) markConstant(field);
  if (plan.namespaces) Object.freeze(plan.namespaces);
  if (plan.credentials) Object.freeze(plan.credentials);
  if (plan.privateTmp) Object.freeze(plan.privateTmp);
  if (plan.landlock) {
    Object.freeze(plan.landlock.ruleset);
    for (const p of plan.landlock.paths) Object.freeze(p);
    for (const p of plan.landlock.ports) Object.freeze(p);
    Object.freeze(plan.landlock.paths);
    Object.freeze(plan.landlock.ports);
    Object.freeze(plan.landlock);
  }
  if (plan.mounts) {
    for (const m of plan.mounts) Object.freeze(m);
    Object.freeze(plan.mounts);
  }
}

/** A copy sharing nothing with `e`, with the child's ids. */
function copyEnforcement(e: Enforcement, limits: Limits, ids: { uid: number; gid: number }): Enforcement {
  return {
    ...e,
    landlock: e.landlock && { ...e.landlock, fs: [...e.landlock.fs], net: [...e.landlock.net], scopes: [...e.landlock.scopes] },
    seccomp: e.seccomp && { ...e.seccomp },
    namespaces: [...e.namespaces],
    uid: ids.uid,
    gid: ids.gid,
    limits,
    tmpdirLimit: e.tmpdirLimit && { ...e.tmpdirLimit },
    guarantees: { ...e.guarantees },
    missing: [...e.missing],
    fallbacks: [...e.fallbacks],
    simulated: [...e.simulated],
  };
}

/** What a caller gets: fresh objects wherever it could write, the kept plan fields (frozen) shared. */
function instantiate(c: CompiledSandbox, ids: { uid: number; gid: number }): CompiledSandbox {
  const limits = { ...c.limits };
  const plan = { ...c.plan };
  if (plan.credentials) plan.credentials = { uid: ids.uid, gid: ids.gid };
  return {
    plan,
    limits,
    appliedLimits: c.appliedLimits === c.limits ? limits : { ...c.appliedLimits },
    enforcement: copyEnforcement(c.enforcement, limits, ids),
    owner: { uid: ids.uid, gid: ids.gid },
    tmpdir: c.tmpdir,
    hostTmpdir: c.hostTmpdir,
    seccomp: c.seccomp,
  };
}

/** Whether every place the child's ids land holds exactly `ids` (what instantiate replaces). */
function idsOnlyWhereExpected(c: CompiledSandbox, ids: { uid: number; gid: number }): boolean {
  const same = (x: { uid: number; gid: number }): boolean => x.uid === ids.uid && x.gid === ids.gid;
  return same(c.owner) && same(c.enforcement) && (c.plan.credentials === undefined || same(c.plan.credentials));
}

/**
 * Compile a sandbox policy: see compileFresh. Memoized per policy (above):
 * the same policy, limits, operation-uid presence, extra paths, caller ids
 * and features object give a copy of the kept result while every path it
 * resolved still resolves the same: checked by a stat of each, or, while
 * nothing was reported in the directories they were looked up in nor in
 * the mount table since the last such check, not at all (path-watch.ts).
 */
export function compileSandbox(sandbox: NormalizedSandbox, ctx: CompileContext): CompiledSandbox {
  const callerUid = process.getuid?.() ?? 0;
  const callerGid = process.getgid?.() ?? 0;
  const key = memoKey(sandbox, ctx, callerUid, callerGid);
  if (key !== null) {
    const entry = memo.get(key);
    if (entry !== undefined) {
      if (unchangedSince(entry.checkedAt) || checkAgain(entry)) {
        memo.delete(key);
        memo.set(key, entry);
        memoCounts.hits++;
        const ids = childIds(ctx.features.privileged, callerUid, callerGid, ctx.operationUid);
        return handOut(entry, ids, () => makeHostTmpdir(ctx, ids));
      }
      memo.delete(key);
    }
  }
  memoCounts.compiles++;
  if (key === null) return compileFresh(sandbox, ctx, HOST);

  const answers = new Map<string, ResolvedPath | null>();
  const afreshAnswers = new Map<string, ResolvedPath | null>();
  let consistent = true;
  const recorder =
    (lookup: Resolve, kept: Map<string, ResolvedPath | null>): Resolve =>
    (path) => {
      const resolved = lookup(path);
      if (!kept.has(path)) kept.set(path, resolved);
      else if (!sameResolution(kept.get(path)!, resolved)) consistent = false;
      return resolved;
    };
  const record: Lookups = { resolve: recorder(resolvePath, answers), afresh: recorder(resolveAfresh, afreshAnswers) };
  let madeHostDir = false;
  let standIn: string | null = null;
  const recordingCtx: CompileContext = { ...ctx };
  const { hostTmpdir } = ctx;
  if (hostTmpdir) {
    recordingCtx.hostTmpdir = (owner) => {
      if (realTmpdirKeys.has(key)) {
        madeHostDir = true;
        return hostTmpdir(owner);
      }
      return (standIn = tmpdirStandIn());
    };
  }
  const fresh = compileFresh(sandbox, recordingCtx, record);
  const ids = childIds(ctx.features.privileged, callerUid, callerGid, ctx.operationUid);
  let dir: string | null = null;
  if (standIn !== null) {
    const placed = standIn;
    const touched = [...answers.keys(), ...afreshAnswers.keys()].some((path) => path === placed || path.startsWith(`${placed}/`));
    if (touched || !standInOnlyWhereExpected(fresh, placed)) {
      // Compiled again with a real dir, this once and for every later call with this key.
      if (realTmpdirKeys.size >= PLAN_MEMO_ENTRIES) realTmpdirKeys.clear();
      realTmpdirKeys.add(key);
      return compileFresh(sandbox, ctx, HOST);
    }
    // For the owner compileFresh asked it for (its `owner`).
    dir = makeHostTmpdir(ctx, fresh.owner);
  }
  if (!consistent || answers.size + afreshAnswers.size > MEMO_MAX_PATHS || madeHostDir || !idsOnlyWhereExpected(fresh, ids)) {
    return standIn === null ? fresh : withTmpdir(fresh, standIn, dir!);
  }
  freezePlan(fresh.plan);
  const resolutions = [...answers];
  const afresh = [...afreshAnswers];
  // Watched from now on (the fds open with the first kept plan), but trusted only from the first full check.
  const dirs = lookupDirs([...resolutions, ...afresh].map(([path]) => path));
  if (dirs !== null) watchDirs(dirs);
  const entry: MemoEntry = { resolutions, afresh, compiled: fresh, lookupDirs: dirs, standIn };
  memo.set(key, entry);
  if (memo.size > PLAN_MEMO_ENTRIES) memo.delete(memo.keys().next().value!);
  return handOut(entry, ids, () => dir!);
}

/** A caller's copy of a kept plan (instantiate), with its own host temp dir, from `makeDir`, where the stand-in was. */
function handOut(entry: MemoEntry, ids: { uid: number; gid: number }, makeDir: () => string): CompiledSandbox {
  const copy = instantiate(entry.compiled, ids);
  return entry.standIn === null ? copy : withTmpdir(copy, entry.standIn, makeDir());
}

/** The host dir for the temp dir, owned by `ids` (the child's). */
function makeHostTmpdir(ctx: CompileContext, ids: { uid: number; gid: number }): string {
  if (!ctx.hostTmpdir) throw new TypeError('compileSandbox: a host temp dir is needed but no hostTmpdir maker was given');
  return ctx.hostTmpdir(ids);
}

/**
 * The full check: every path stat'ed again (stillResolves), and each path a
 * pool's call narrowed to resolved afresh again (stillResolvesAfresh: a
 * realpath walk, since the path cache cannot tell that a path which was its
 * own resolution became a symlink). Its directories are watched first and
 * the generation read before the stats, so a change after this check's
 * stats starts a newer generation than the one recorded.
 */
function checkAgain(entry: MemoEntry): boolean {
  memoCounts.statChecks++;
  entry.checkedAt = undefined;
  const generation = watchedGeneration(entry.lookupDirs);
  if (!stillResolves(entry.resolutions) || !stillResolvesAfresh(entry.afresh)) return false;
  entry.checkedAt = generation;
  return true;
}
