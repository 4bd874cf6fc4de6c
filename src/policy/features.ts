/**
 * What this kernel and process can enforce, found by trying: the zygote
 * binary's probe mode (native/probe.c) attempts clone3, clone with each
 * namespace flag, a user namespace with id maps, the mount API, a seccomp
 * filter, Landlock and (as root) a uid of the per-operation range, once per
 * process. A container's seccomp profile, AppArmor or a sysctl can refuse
 * what the kernel version promises; only an attempt tells.
 *
 * Tests and users can simulate weaker environments on top of what was found:
 *   HATCHERY_LANDLOCK_ABI_MAX=N   cap the Landlock ABI (0 = no Landlock)
 *   HATCHERY_DISABLE_USERNS=1     behave as if user namespaces were refused
 *   HATCHERY_DISABLE_SECCOMP=1    behave as if seccomp filters were missing
 */
import { constants as osConstants } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { errnoName, InvalidEnvironmentVariableError } from '../errors.js';
import { loadBinding, zygotePath } from '../native/binding.js';
import { OPERATION_UID_BASE } from '../protocol/wire.js';
import { NOBODY_ID } from './namespaces.js';
import { missingRootCapabilities } from './privilege.js';

export type ProbedNamespace = 'user' | 'pid' | 'net' | 'ipc' | 'uts' | 'mount';

export interface KernelFeatures {
  kernelRelease: string;
  /** Negotiated Landlock ABI, 0 when unavailable. */
  landlockAbi: number;
  /** Why Landlock is unavailable, when it is. */
  landlockReason: string | null;
  seccomp: boolean;
  /** Why seccomp filters are unavailable, when they are. */
  seccompReason: string | null;
  /** A user namespace with id maps works for this process. */
  userns: boolean;
  /** Why user namespaces are unavailable, when they are. */
  usernsReason: string | null;
  /** Namespaces this process can create for a child (an unprivileged one together with a user namespace). */
  namespaces: ReadonlySet<ProbedNamespace>;
  /** Private tmpfs, open_tree and mount_setattr work in a new mount namespace. */
  mountApi: boolean;
  /** clone3 works (else the zygote falls back to clone with CLONE_PIDFD). */
  clone3: boolean;
  /**
   * Root holding the capabilities of the root path (src/policy/privilege.ts), in Node and in the
   * zygote: its operations run as uids of their own. False for any other caller, root without them included.
   */
  privileged: boolean;
  /** Why a root caller is not privileged (the capabilities it lacks); null otherwise. */
  privilegeReason: string | null;
  /** Privileged only: children may take uids of the per-operation range. */
  operationUids: boolean;
  /** Where this process seems to run, for reports: 'host', 'container (...)'. */
  environment: string;
  simulated: string[];
  /** The probe's raw answers (name → 0 or errno), for `hatchery check --json`. */
  probe: Record<string, number>;
}

/** First uid of the per-operation range (see src/spawn/operation-uid.ts): above systemd's container ranges. */
export { OPERATION_UID_BASE };

const PROBE_TIMEOUT_MS = 5000;

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Runs `hatchery-zygote --probe` synchronously (a vfork-started process, never a fork of Node). */
function runProbe(): Record<string, number> {
  const native = loadBinding();
  const uidArg = process.getuid?.() === 0 ? [String(OPERATION_UID_BASE)] : [];
  const proc = native.spawnZygote(zygotePath, ['hatchery-zygote', '--probe', ...uidArg], []);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + PROBE_TIMEOUT_MS;
  try {
    while (native.reapPidfd(proc.pidfd) === null) {
      if (Date.now() > deadline) {
        native.pidfdSendSignal(proc.pidfd, osConstants.signals.SIGKILL);
        while (native.reapPidfd(proc.pidfd) === null) Atomics.wait(sleeper, 0, 0, 1);
        return {};
      }
      Atomics.wait(sleeper, 0, 0, 1);
    }
    const buf = Buffer.alloc(4096);
    const got = native.receiveMessage(proc.socket, buf);
    const answers: Record<string, number> = {};
    if (!got || got.truncated) return answers;
    for (const fd of got.fds) native.close(fd);
    for (const line of buf.subarray(0, got.length).toString('utf8').split('\n')) {
      const m = /^([a-z0-9_]{1,32})=(-?\d{1,10})$/.exec(line);
      if (m) answers[m[1]!] = Number(m[2]);
    }
    return answers;
  } finally {
    native.close(proc.socket);
    native.close(proc.pidfd);
  }
}

function refusal(what: string, errno: number | undefined): string {
  if (errno === undefined) return `${what}: the probe gave no answer`;
  return `${what} refused (${errnoName(errno)})`;
}

function recogniseEnvironment(probe: Record<string, number>): string {
  const hints: string[] = [];
  if (process.env.KUBERNETES_SERVICE_HOST) hints.push('Kubernetes');
  if (existsSync('/.dockerenv')) hints.push('Docker');
  if (existsSync('/run/.containerenv')) hints.push('Podman');
  const cgroup = readTrimmed('/proc/1/cgroup') ?? '';
  if (hints.length === 0 && /docker|containerd|kubepods|libpod/.test(cgroup)) hints.push('container runtime');
  if (probe.clone3 === osConstants.errno.ENOSYS) hints.push("clone3 answered ENOSYS, as a container runtime's seccomp profile does");
  if (hints.length > 0) return `container (${hints.join('; ')})`;
  return 'host';
}

/**
 * A simulation variable's value, undefined when unset or empty. Any other value than the ones it
 * takes is refused: a misspelt simulation ("true") would otherwise test the real environment
 * while the caller believes it tests a weaker one.
 */
function simulationVariable(name: string, valid: RegExp, what: string): string | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (!valid.test(value)) throw new InvalidEnvironmentVariableError(name, `must be ${what} (or unset), got ${JSON.stringify(value.slice(0, 40))}`);
  return value;
}

/** Root with the root path's capabilities in Node and (the probe's answer) in the zygote; else why not. */
function privilegeOf(probe: Record<string, number>): { privileged: boolean; privilegeReason: string | null } {
  if (process.geteuid?.() !== 0) return { privileged: false, privilegeReason: null };
  const missing = missingRootCapabilities();
  if (missing.length > 0) return { privileged: false, privilegeReason: `root without ${missing.join(', ')}` };
  if (probe.privileged !== 0) {
    return { privileged: false, privilegeReason: probe.privileged === undefined ? 'the probe gave no answer' : 'the zygote, execed, does not hold the root capabilities (a bounding set without them)' };
  }
  // Root in a user namespace that maps only itself holds the capabilities there, but has no uid to give an operation.
  if (probe.nobody_ids !== 0) {
    const why = probe.nobody_ids === undefined ? 'no answer' : errnoName(probe.nobody_ids);
    return { privileged: false, privilegeReason: `root that may not take uid and gid ${NOBODY_ID} (${why}): a user namespace that does not map them` };
  }
  return { privileged: true, privilegeReason: null };
}

let cached: KernelFeatures | undefined;
/** Set when a spawn proved user namespaces unusable although the probe said yes. */
let usernsRefusedAtRuntime: string | null = null;

const NAMESPACE_PROBES: readonly [ProbedNamespace, string][] = [
  ['user', 'userns_maps'],
  ['pid', 'pidns'],
  ['net', 'netns'],
  ['ipc', 'ipcns'],
  ['uts', 'utsns'],
  ['mount', 'mountns'],
];

export function detectFeatures(): KernelFeatures {
  if (cached) return withRuntimeFindings(cached);
  const native = loadBinding();
  const probe = runProbe();
  const simulated: string[] = [];
  const { privileged, privilegeReason } = privilegeOf(probe);

  const rawAbi = probe.landlock_abi ?? native.landlockAbi();
  let landlockAbi = rawAbi > 0 ? rawAbi : 0;
  let landlockReason: string | null =
    rawAbi > 0 ? null : rawAbi === -38 ? 'the kernel has no Landlock (ENOSYS)' : rawAbi === -95 ? 'Landlock is disabled at boot (EOPNOTSUPP)' : refusal('landlock_create_ruleset', -rawAbi);
  const cap = simulationVariable('HATCHERY_LANDLOCK_ABI_MAX', /^\d{1,3}$/, 'a Landlock ABI number, 0 for none');
  if (cap !== undefined && Number(cap) < landlockAbi) {
    landlockAbi = Number(cap);
    simulated.push(`Landlock ABI capped at ${cap} (HATCHERY_LANDLOCK_ABI_MAX=${cap})`);
    if (landlockAbi === 0) landlockReason = 'simulated: HATCHERY_LANDLOCK_ABI_MAX=0';
  }

  let seccomp = probe.seccomp === 0;
  let seccompReason = seccomp ? null : refusal('installing a seccomp filter', probe.seccomp);
  if (simulationVariable('HATCHERY_DISABLE_SECCOMP', /^[01]$/, '1 or 0') === '1') {
    seccomp = false;
    seccompReason = 'simulated: HATCHERY_DISABLE_SECCOMP=1';
    simulated.push('seccomp disabled (HATCHERY_DISABLE_SECCOMP=1)');
  }

  let userns = probe.userns_maps === 0;
  let usernsReason = userns ? null : probe.userns !== 0 ? refusal('a user namespace', probe.userns) : refusal('writing user namespace id maps', probe.userns_maps);
  // Since Linux 5.12 a map of uid 0 needs CAP_SETFCAP: an unprivileged root can make a user namespace but not map itself into it.
  if (!userns && probe.userns === 0 && privilegeReason !== null && probe.userns_maps === osConstants.errno.EPERM) usernsReason += ': mapping uid 0 needs CAP_SETFCAP';
  const namespaces = new Set<ProbedNamespace>();
  for (const [name, key] of NAMESPACE_PROBES) if (probe[key] === 0) namespaces.add(name);
  if (simulationVariable('HATCHERY_DISABLE_USERNS', /^[01]$/, '1 or 0') === '1') {
    userns = false;
    usernsReason = 'simulated: HATCHERY_DISABLE_USERNS=1';
    simulated.push('user namespaces disabled (HATCHERY_DISABLE_USERNS=1)');
    namespaces.delete('user');
    // Without a user namespace only root (holding the capabilities itself) can create the others.
    if (!privileged) namespaces.clear();
  }
  let mountApi = probe.mounts === 0 && namespaces.has('mount');
  if (!userns && !privileged) mountApi = false;

  // Frozen: compile.ts memoizes per features object, so none may change in place.
  cached = Object.freeze({
    kernelRelease: native.kernelRelease(),
    landlockAbi,
    landlockReason,
    seccomp,
    seccompReason,
    userns,
    usernsReason,
    namespaces,
    mountApi,
    clone3: probe.clone3 === 0,
    privileged,
    privilegeReason,
    operationUids: privileged && probe.setuid_range === 0,
    environment: recogniseEnvironment(probe),
    simulated: Object.freeze(simulated) as string[],
    probe: Object.freeze(probe),
  });
  return withRuntimeFindings(cached);
}

/** The last object withRuntimeFindings made, and from what: one object per state, so compile.ts's memo can key on it. */
let adjusted: { from: KernelFeatures; reason: string; features: KernelFeatures } | undefined;

/**
 * The detected features with what was learnt since. The same object while
 * nothing changes (compile.ts memoizes compiled plans per features object);
 * a new one once markUsernsRefused or resetFeatureCache changes them.
 */
function withRuntimeFindings(f: KernelFeatures): KernelFeatures {
  if (usernsRefusedAtRuntime === null || !f.userns) return f;
  if (adjusted?.from === f && adjusted.reason === usernsRefusedAtRuntime) return adjusted.features;
  const namespaces = new Set(f.namespaces);
  namespaces.delete('user');
  if (!f.privileged) namespaces.clear();
  const features = Object.freeze({
    ...f,
    userns: false,
    usernsReason: usernsRefusedAtRuntime,
    namespaces,
    mountApi: f.mountApi && namespaces.has('mount'),
  });
  adjusted = { from: f, reason: usernsRefusedAtRuntime, features };
  return features;
}

/** Remember that the kernel refused a user namespace although the probe said yes. */
export function markUsernsRefused(reason: string): void {
  usernsRefusedAtRuntime = reason;
}

/** Forget cached detection (tests that change the simulation variables). */
export function resetFeatureCache(): void {
  cached = undefined;
  usernsRefusedAtRuntime = null;
  adjusted = undefined;
}
