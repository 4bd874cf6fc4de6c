/**
 * Namespace planning: which clone3 namespace flags the zygote passes, which
 * ids the child takes inside a new user namespace, and what the child mounts.
 * native/ns.c applies it; the zygote decides only the outside ids of the id
 * maps, from its own euid (see the comment at the top of native/ns.c).
 */
import { NamespaceOption, type SpawnPlan } from '../protocol/wire.js';

export const CLONE_NEWNS = 0x0002_0000;
export const CLONE_NEWUTS = 0x0400_0000;
export const CLONE_NEWIPC = 0x0800_0000;
export const CLONE_NEWUSER = 0x1000_0000;
export const CLONE_NEWPID = 0x2000_0000;
export const CLONE_NEWNET = 0x4000_0000;

/** The unprivileged uid/gid (nobody/nogroup) a root caller's children run as. */
export const NOBODY_ID = 65534;

export type NamespaceName = 'user' | 'pid' | 'net' | 'ipc' | 'uts' | 'mount';

export type NamespaceRequest = Record<NamespaceName, boolean>;

const FLAG_OF: Record<NamespaceName, number> = {
  user: CLONE_NEWUSER,
  pid: CLONE_NEWPID,
  net: CLONE_NEWNET,
  ipc: CLONE_NEWIPC,
  uts: CLONE_NEWUTS,
  mount: CLONE_NEWNS,
};
/** Report order. */
const ORDER: readonly NamespaceName[] = ['user', 'pid', 'net', 'ipc', 'uts', 'mount'];

export interface NamespaceEnvironment {
  callerUid: number;
  callerGid: number;
  /**
   * Root holding the capabilities of the root path (features.privileged): its children run as
   * another uid and it creates namespaces without a user namespace. Any other caller, root
   * without them included, runs its children as itself (nobody inside a user namespace when that is 0).
   */
  privileged: boolean;
  /** Whether this process may create user namespaces (sysctl, AppArmor, container limits). */
  usernsAvailable: boolean;
  /** With 'auto': whether to add a network namespace (the caller decides from the net policy). */
  net?: boolean;
  /** Namespaces the probe could create here (features.namespaces); default: all. */
  creatable?: ReadonlySet<NamespaceName>;
  /** A root caller's operation uid (src/spawn/operation-uid.ts); default 65534. Seen as 65534 inside a user namespace. */
  operationUid?: number;
}

export interface NamespacePlan {
  /** clone3 namespace flags; 0 when none are created. */
  cloneFlags: number;
  /** ids inside the new user namespace (meaningless without one). */
  insideUid: number;
  insideGid: number;
  /** HATCH_NS_* bits. */
  options: number;
  /** What the child gets, in report order. */
  created: NamespaceName[];
  /** What was asked for (explicitly, or by 'auto') but cannot be created here. */
  unavailable: NamespaceName[];
  /** True when 'auto' could create no namespace at all (no user namespaces and not root). */
  fallback: boolean;
  /** The uid/gid the child runs as, as the host sees it. */
  uid: number;
  gid: number;
  /**
   * The host-side ids of a root caller's child (SpawnPlan.credentials):
   * without a user namespace the child drops to them; with one the zygote
   * maps the inside ids to them. native/ns.c relies on this to know it must
   * clear the zygote's supplementary groups inside a user namespace.
   */
  credentials?: { uid: number; gid: number };
}

function checkId(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_fffe) {
    throw new RangeError(`${what} must be an integer from 0 to 4294967294, got ${String(value)}`);
  }
}

function checkRequest(req: NamespaceRequest): void {
  if (typeof req !== 'object' || req === null) throw new TypeError("namespaces must be 'auto' or an object of booleans");
  for (const name of ORDER) {
    if (typeof req[name] !== 'boolean') {
      throw new TypeError(`namespaces.${name} must be a boolean, got ${JSON.stringify(req[name])}`);
    }
  }
}

/**
 * Plan the namespaces.
 *
 * 'auto': user, pid, ipc, uts and mount (with /proc remounted for the pid
 * namespace) when user namespaces are available; net when env.net says so.
 * Root without user namespaces still gets the others (it holds the
 * capabilities itself; env.privileged). Anyone else without user namespaces gets none:
 * `fallback` is set and Landlock + seccomp + rlimits must carry the sandbox.
 *
 * An explicit request is honoured as far as this process can: an unprivileged
 * caller needs a user namespace to create any other, so one is added when
 * user namespaces are available; otherwise the names go to `unavailable`.
 */
export function planNamespaces(request: NamespaceRequest | 'auto', env: NamespaceEnvironment): NamespacePlan {
  checkId(env.callerUid, 'callerUid');
  checkId(env.callerGid, 'callerGid');
  if (env.privileged && env.callerUid !== 0) throw new RangeError(`privileged needs callerUid 0, got ${env.callerUid}`);
  const root = env.privileged;

  let wanted: NamespaceRequest;
  if (request === 'auto') {
    wanted = { user: true, pid: true, net: env.net === true, ipc: true, uts: true, mount: true };
  } else {
    checkRequest(request);
    wanted = { ...request };
  }

  const others = ORDER.filter((name) => name !== 'user' && wanted[name]);
  const created = new Set<NamespaceName>();
  const unavailable: NamespaceName[] = [];
  const creatable = (name: NamespaceName): boolean => env.creatable === undefined || env.creatable.has(name);
  if (wanted.user) {
    if (env.usernsAvailable && creatable('user')) created.add('user');
    else unavailable.push('user');
  }
  if (others.length > 0) {
    if (!root && !created.has('user') && env.usernsAvailable && creatable('user')) created.add('user');
    const canCreateOthers = root || created.has('user');
    for (const name of others) {
      if (canCreateOthers && creatable(name)) created.add(name);
      else if (request !== 'auto' || name !== 'net' || env.net === true) unavailable.push(name);
    }
  }

  const names = ORDER.filter((name) => created.has(name));
  const cloneFlags = names.reduce((flags, name) => flags | FLAG_OF[name], 0) >>> 0;
  let options = 0;
  // A new pid namespace shows the host's processes in /proc until /proc is remounted, which needs a mount namespace.
  if (created.has('pid') && created.has('mount')) options |= NamespaceOption.MountProc;

  if (env.operationUid !== undefined) checkId(env.operationUid, 'operationUid');
  const { uid, gid } = childIds(env.privileged, env.callerUid, env.callerGid, env.operationUid);
  // Inside uid 0 would keep its capabilities over execve.
  const nobodyInside = root || uid === 0;
  const plan: NamespacePlan = {
    cloneFlags,
    // Inside its own user namespace a root caller's child is nobody, whatever its uid outside; so is an unprivileged root's.
    insideUid: nobodyInside ? NOBODY_ID : uid,
    insideGid: nobodyInside ? NOBODY_ID : gid,
    options,
    created: names,
    unavailable: ORDER.filter((name) => unavailable.includes(name)),
    fallback: request === 'auto' && names.length === 0,
    uid,
    gid,
  };
  if (root) plan.credentials = { uid, gid };
  return plan;
}

/** The uid/gid the child runs as, as the host sees them (NamespacePlan.uid/gid): a privileged caller's operation uid (else 65534), or the caller's own. */
export function childIds(privileged: boolean, callerUid: number, callerGid: number, operationUid: number | undefined): { uid: number; gid: number } {
  const uid = privileged ? (operationUid ?? NOBODY_ID) : callerUid;
  return { uid, gid: uid === callerUid ? callerGid : uid };
}

/** SpawnPlan.namespaces for this plan; undefined when no namespace is created. */
export function namespacesWirePlan(plan: NamespacePlan): SpawnPlan['namespaces'] {
  if (plan.cloneFlags === 0) return undefined;
  return { cloneFlags: plan.cloneFlags, insideUid: plan.insideUid, insideGid: plan.insideGid, options: plan.options };
}
