/**
 * `hatchery check [--json]`: what this machine supports, what the default
 * profile enforces here, and what --strict would refuse. Everything is read
 * from the running kernel (or the HATCHERY_* simulation variables) through the
 * same detection and compiler that run() uses, so the report cannot drift
 * from what a run would do.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { constants as osConstants, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HatcheryError } from '../errors.js';
import { validateSandbox, type NormalizedSandbox } from '../options/sandbox.js';
import { compileSandbox, type Enforcement } from '../policy/compile.js';
import { OPERATION_UID_BASE, detectFeatures } from '../policy/features.js';
import { ROOT_CAPABILITY_NAMES } from '../policy/privilege.js';
import { exampleOperationDir } from '../spawn/tmpdir.js';
import { fsRightNames, fsRightsForAbi, netRightNames, netRightsForAbi, scopeNames, scopesForAbi } from '../policy/landlock.js';

export const checkHelp = `Usage: hatchery check [--json]

Reports what this machine supports and what hatchery's default profile
enforces here: kernel version, Landlock ABI and the rights it handles,
seccomp, unprivileged user namespaces (and why not), pidfd features,
cgroup v2 and delegation, and what --strict would refuse.

Simulate an older kernel with HATCHERY_LANDLOCK_ABI_MAX=N,
HATCHERY_DISABLE_USERNS=1 or HATCHERY_DISABLE_SECCOMP=1.

Options:
  --json      print the report as JSON
  -h, --help  show this help

Exit codes: 0; 125 when hatchery itself fails (bad flags, a missing native
build, ...), with one line \`hatchery: CODE: reason\` on stderr.
`;


export interface CheckReport {
  kernel: { release: string; version: [number, number, number] | null };
  landlock: {
    abi: number;
    available: boolean;
    reason: string | null;
    fsRights: string[];
    netRights: string[];
    scopes: string[];
  };
  seccomp: { available: boolean; actions: string[] | null };
  userNamespaces: {
    available: boolean;
    reason: string | null;
    maxUserNamespaces: number | null;
    unprivilegedUsernsClone: string | null;
    apparmorRestrictUnprivilegedUserns: string | null;
  };
  pidfd: {
    /** Each from the kernel version: the addon has no probe for these ioctls. */
    inferredFromKernelVersion: true;
    pidfdOpen: boolean;
    clonePidfd: boolean;
    pidfdGetInfo: boolean;
    pidfdInfoExit: boolean;
  };
  cgroup: {
    /** 'unified': cgroup v2 only; 'hybrid': v1 controllers plus a v2 mount; 'v1': no v2. */
    hierarchy: 'unified' | 'hybrid' | 'v1';
    /** Where cgroup2 is mounted, if anywhere. */
    mount: string | null;
    v1Controllers: string[];
    v2: boolean;
    path: string | null;
    controllers: string[];
    subtreeControl: string[];
    canMoveProcesses: boolean;
    canDelegate: boolean;
    note: string;
  };
  simulated: string[];
  /** What this process seems to run in: 'host', or 'container (...)' with the signs seen. */
  environment: string;
  /** The probe's answers (native/probe.c): 0 works, else the errno the attempt met. */
  probe: Record<string, number>;
  /** clone3 works; without it the zygote uses clone(CLONE_PIDFD). */
  clone3: boolean;
  /** Root only: whether operations get uids of their own. */
  operationUids: boolean | null;
  /** Root only: whether it holds the capabilities of the root path, and if not, which it lacks (src/policy/privilege.ts). */
  rootCapabilities: { complete: boolean; reason: string | null } | null;
  /** What the user can do to get what this environment lacks. */
  advice: string[];
  defaultProfile: Enforcement | null;
  defaultProfileError: string | null;
  strictRefuses: string[];
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function parseVersion(text: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

function atLeast(v: [number, number, number] | null, major: number, minor: number): boolean {
  if (v === null) return false;
  return v[0] > major || (v[0] === major && v[1] >= minor);
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function cgroupReport(): CheckReport['cgroup'] {
  const mounts = (read('/proc/self/mounts') ?? '').split('\n').map((l) => l.split(' '));
  const v2Mount = mounts.find((m) => m[2] === 'cgroup2')?.[1] ?? null;
  const v1Controllers = mounts.filter((m) => m[2] === 'cgroup').map((m) => (m[1] ?? '').split('/').pop() ?? '');
  const hierarchy: CheckReport['cgroup']['hierarchy'] = v2Mount === null ? 'v1' : v1Controllers.length > 0 ? 'hybrid' : 'unified';
  const own = (read('/proc/self/cgroup') ?? '').split('\n').find((l) => l.startsWith('0::'));
  const rel = own === undefined ? null : own.slice(3);
  const base = { hierarchy, mount: v2Mount, v1Controllers };
  if (v2Mount === null || rel === null) {
    return {
      ...base,
      v2: false,
      path: null,
      controllers: [],
      subtreeControl: [],
      canMoveProcesses: false,
      canDelegate: false,
      note: v2Mount === null ? 'no cgroup2 file system is mounted (cgroup v1 only)' : 'no cgroup v2 entry in /proc/self/cgroup',
    };
  }
  const dir = join(v2Mount, rel);
  const controllers = (read(join(dir, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
  const subtreeControl = (read(join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/).filter(Boolean);
  const canMoveProcesses = writable(join(dir, 'cgroup.procs'));
  const canDelegate = canMoveProcesses && writable(join(dir, 'cgroup.subtree_control')) && writable(dir);
  let note = canDelegate
    ? `this process may create child cgroups under ${dir} and move processes into them`
    : `${dir} is not writable by this process: cgroup limits need a delegated cgroup (e.g. systemd Delegate=yes)`;
  if (hierarchy === 'hybrid') {
    note += `; hybrid hierarchy: the v1 hierarchies (${v1Controllers.join(', ')}) hold the controllers, so v2 has ${controllers.length > 0 ? controllers.join(', ') : 'none'}`;
  }
  return { ...base, v2: true, path: dir, controllers, subtreeControl, canMoveProcesses, canDelegate, note };
}

function sandboxOf(value: unknown): NormalizedSandbox {
  const s = validateSandbox(value);
  if (s === false) throw new Error('unreachable: sandbox false');
  return s;
}

export function buildCheckReport(): CheckReport {
  const features = detectFeatures();
  const kernelRelease = features.kernelRelease || release();
  const version = parseVersion(kernelRelease);
  const abi = features.landlockAbi;

  // As run() compiles it, but nothing is made: a host temp dir is only named, an operation uid only the range's first.
  const ctx: Parameters<typeof compileSandbox>[1] = { features, limits: {}, hostTmpdir: exampleOperationDir };
  if (features.operationUids) ctx.operationUid = OPERATION_UID_BASE;
  let defaultProfile: Enforcement | null = null;
  let defaultProfileError: string | null = null;
  let strictRefuses: string[] = [];
  try {
    defaultProfile = compileSandbox(sandboxOf({ mode: 'best-effort' }), ctx).enforcement;
  } catch (e) {
    defaultProfileError = (e as Error).message;
  }
  try {
    compileSandbox(sandboxOf({ mode: 'strict' }), ctx);
  } catch (e) {
    if (e instanceof HatcheryError && e.code === 'SANDBOX_UNAVAILABLE') strictRefuses = e.missing ?? [e.message];
    else strictRefuses = [(e as Error).message];
  }

  const maxUserns = read('/proc/sys/user/max_user_namespaces');
  return {
    kernel: { release: kernelRelease, version },
    landlock: {
      abi,
      available: abi >= 1,
      reason: features.landlockReason,
      fsRights: fsRightNames(fsRightsForAbi(abi)),
      netRights: netRightNames(netRightsForAbi(abi)),
      scopes: scopeNames(scopesForAbi(abi)),
    },
    seccomp: {
      available: features.seccomp,
      actions: features.seccomp ? (read('/proc/sys/kernel/seccomp/actions_avail')?.split(/\s+/).filter(Boolean) ?? null) : null,
    },
    userNamespaces: {
      available: features.userns,
      reason: features.usernsReason,
      maxUserNamespaces: maxUserns === null ? null : Number(maxUserns),
      unprivilegedUsernsClone: read('/proc/sys/kernel/unprivileged_userns_clone'),
      apparmorRestrictUnprivilegedUserns: read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
    },
    pidfd: {
      inferredFromKernelVersion: true,
      pidfdOpen: atLeast(version, 5, 3),
      clonePidfd: atLeast(version, 5, 2),
      pidfdGetInfo: atLeast(version, 6, 13),
      pidfdInfoExit: atLeast(version, 6, 15),
    },
    cgroup: cgroupReport(),
    simulated: [...features.simulated],
    environment: features.environment,
    probe: { ...features.probe },
    clone3: features.clone3,
    operationUids: features.privileged ? features.operationUids : null,
    rootCapabilities: process.geteuid?.() === 0 ? { complete: features.privileged, reason: features.privilegeReason } : null,
    advice: adviceFor(features, defaultProfile),
    defaultProfile,
    defaultProfileError,
    strictRefuses,
  };
}

/** What an operator can change to get the layers this environment lacks. */
function adviceFor(features: ReturnType<typeof detectFeatures>, e: Enforcement | null): string[] {
  const advice: string[] = [];
  const root = features.privileged;
  const container = features.environment.startsWith('container');
  if (!features.userns && features.simulated.length === 0 && features.privilegeReason === null) {
    if (container) {
      advice.push(
        'namespaces: the container runtime refuses them. In Kubernetes, a pod with `securityContext.seccompProfile: {type: Unconfined}` ' +
          'or a profile that allows clone/unshare with CLONE_NEW*, or user namespaces for pods (hostUsers: false), gives hatchery its namespaces; ' +
          'with Docker, `--security-opt seccomp=<profile allowing them>`. Without them hatchery keeps its guarantees with a uid per operation (root), seccomp and Landlock.',
      );
    } else if (!root && features.privilegeReason === null) {
      advice.push(
        'user namespaces: allow them for this user (Debian: sysctl kernel.unprivileged_userns_clone=1; Ubuntu 23.10+: an AppArmor profile granting userns for node, ' +
          'or sysctl kernel.apparmor_restrict_unprivileged_userns=0; everywhere: user.max_user_namespaces > 0), or run the service as root, which gets a uid per operation.',
      );
    }
  }
  if (features.privilegeReason !== null) {
    advice.push(
      `root capabilities: ${features.privilegeReason}, so its operations could only run as uid 0, which owns the host: strict mode refuses them (best-effort runs them as uid 0 without capabilities). ` +
        `Give the process ${ROOT_CAPABILITY_NAMES} (Kubernetes: \`securityContext.capabilities.add\`; ` +
        "all are in Docker's default set; with them it needs no map of uid 0, which takes CAP_SETFCAP, for a user namespace), or run it as a user other than root.",
    );
  }
  if (root && !features.operationUids) {
    advice.push(`uids per operation: this process may not take uid ${0x7000_0000} (a user namespace that does not map it); map a larger range, or operations share uid 65534.`);
  }
  if (features.landlockAbi === 0 && features.probe.landlock_abi === -osConstants.errno.EPERM && !features.landlockReason?.startsWith('simulated')) {
    // The kernel answers the version query itself with an ABI, ENOSYS or EOPNOTSUPP; EPERM is a seccomp filter's answer.
    advice.push(
      'Landlock: landlock_create_ruleset answered EPERM, which the kernel itself never does: a seccomp profile older than Landlock refuses it ' +
        '(a container runtime\'s default profile before Landlock was added to it); allow landlock_create_ruleset, landlock_add_rule and landlock_restrict_self ' +
        '(or update the runtime); without it strict mode refuses.',
    );
  } else if (features.landlockAbi === 0) advice.push('Landlock: boot with lsm=...,landlock (Linux 5.13+); without it strict mode refuses.');
  if (!features.seccomp) advice.push('seccomp: a kernel with CONFIG_SECCOMP_FILTER; without it strict mode refuses.');
  if (e && e.tmpdirLimit === null && e.tmpdir !== null) advice.push('temp dir cap: needs a mount namespace; meanwhile limits.fileSizeBytes bounds each file.');
  return advice;
}

const yes = (b: boolean): string => (b ? 'yes' : 'no');
const list = (items: readonly string[]): string => (items.length === 0 ? 'none' : items.join(', '));

export function formatCheckReport(r: CheckReport): string {
  const out: string[] = [];
  const row = (label: string, value: string): void => {
    out.push(`${label.padEnd(24)}${value}`);
  };
  row('kernel', r.kernel.release);
  row('environment', r.environment);
  if (r.simulated.length > 0) row('simulated', r.simulated.join('; '));
  row('landlock', r.landlock.available ? `ABI ${r.landlock.abi}` : `unavailable (${r.landlock.reason ?? 'unknown'})`);
  if (r.landlock.available) {
    row('  fs rights handled', list(r.landlock.fsRights));
    row('  net rights handled', r.landlock.netRights.length > 0 ? list(r.landlock.netRights) : 'none (TCP rules need ABI 4)');
    row('  scopes', r.landlock.scopes.length > 0 ? list(r.landlock.scopes) : 'none (signal and abstract-socket scopes need ABI 6)');
  }
  row('seccomp', r.seccomp.available ? `yes${r.seccomp.actions ? ` (actions: ${r.seccomp.actions.join(' ')})` : ''}` : 'no');
  row('user namespaces', r.userNamespaces.available ? 'yes' : `no (${r.userNamespaces.reason ?? 'unknown'})`);
  row('clone3', r.clone3 ? 'yes' : `no (${r.probe.clone3 === undefined ? 'no answer' : `errno ${r.probe.clone3}`}): clone(CLONE_PIDFD) is used`);
  if (r.rootCapabilities !== null) row('root capabilities', r.rootCapabilities.complete ? 'yes' : `no: ${r.rootCapabilities.reason ?? 'unknown'}`);
  if (r.operationUids !== null) row('uid per operation', r.operationUids ? `yes (from ${0x7000_0000})` : 'no: operations share uid 65534');
  row(
    'pidfd',
    `pidfd_open ${yes(r.pidfd.pidfdOpen)}, CLONE_PIDFD ${yes(r.pidfd.clonePidfd)}, PIDFD_GET_INFO ${yes(r.pidfd.pidfdGetInfo)}, ` +
      `PIDFD_INFO_EXIT ${yes(r.pidfd.pidfdInfoExit)} (inferred from the kernel version)`,
  );
  if (r.cgroup.v2) {
    row('cgroup v2', `yes (${r.cgroup.hierarchy}), own cgroup ${r.cgroup.path ?? '?'}`);
    row('  controllers', list(r.cgroup.controllers));
    row('  delegation', `${r.cgroup.canDelegate ? 'yes' : 'no'}: ${r.cgroup.note}`);
  } else {
    row('cgroup v2', `no (${r.cgroup.note})`);
  }
  out.push('');
  out.push('default profile on this machine:');
  const e = r.defaultProfile;
  if (e === null) {
    out.push(`  cannot be compiled: ${r.defaultProfileError ?? 'unknown error'}`);
  } else {
    row('  landlock', e.landlock ? `ABI ${e.landlock.abi}, ${e.landlock.rules} rules; fs: ${e.landlock.fs.length} rights; net: ${list(e.landlock.net)}; scopes: ${list(e.landlock.scopes)}` : 'off');
    row('  seccomp', e.seccomp ? `${e.seccomp.mode}, ${e.seccomp.rules} rules, ${e.seccomp.instructions} BPF instructions` : 'off');
    row('  namespaces', list(e.namespaces));
    row('  runs as', `uid ${e.uid}, gid ${e.gid}${e.noNewPrivs ? ', no_new_privs' : ''}`);
    row(
      '  private temp dir',
      e.tmpdir === null ? 'no' : e.tmpdirLimit ? `a tmpfs on /tmp and /dev/shm, capped at ${e.tmpdirLimit.bytes} bytes and ${e.tmpdirLimit.inodes} inodes` : 'a host directory (no cap)',
    );
    const g = e.guarantees;
    row('  tree ends by', g.treeEnds ?? 'NOTHING (refused in strict mode)');
    row('  host unix sockets', g.noHostUnixSockets === 'seccomp' ? 'unreachable (seccomp: no socket(AF_UNIX))' : g.noHostUnixSockets ?? 'REACHABLE');
    row('  host IPC objects', g.noHostIpc === 'seccomp' ? 'refused (seccomp: no IPC namespace)' : g.noHostIpc === 'ipc-namespace' ? "the operation's own (IPC namespace)" : 'SHARED WITH THE HOST');
    row('  operations separated', g.operationsSeparated ?? 'no');
    const limits = Object.entries(e.limits).map(([k, v]) => `${k} ${String(v)}`);
    row('  limits', limits.length > 0 ? limits.join(', ') : 'none but core dumps off');
    row('  not enforced', list(e.missing));
    if (e.fallbacks.length > 0) {
      out.push('  not available here (kept by the other layers):');
      for (const f of e.fallbacks) out.push(`    - ${f}`);
    }
  }
  if (r.advice.length > 0) {
    out.push('');
    out.push('to get more here:');
    for (const a of r.advice) out.push(`  - ${a}`);
  }
  out.push('');
  out.push(`--strict (the default mode) would refuse: ${r.strictRefuses.length === 0 ? 'nothing' : ''}`);
  for (const m of r.strictRefuses) out.push(`  - ${m}`);
  return `${out.join('\n')}\n`;
}

export function checkCommand(argv: readonly string[]): number {
  const { values } = parseArgs({ args: [...argv], strict: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(checkHelp);
    return 0;
  }
  const report = buildCheckReport();
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatCheckReport(report));
  return 0;
}
