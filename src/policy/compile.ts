/**
 * The policy compiler: a validated `sandbox` option plus what this kernel
 * supports becomes the plan fields the child applies, and a report of what
 * will actually be enforced. TS makes every decision here; C only applies.
 */
import { HatcheryError, InvalidOptionRangeError, InvalidOptionTypeError } from '../errors.js';
import type { NormalizedSandbox } from '../options/sandbox.js';
import type { Limits } from '../options/limits.js';
import type { SpawnPlan } from '../protocol/wire.js';
import type { KernelFeatures } from './features.js';
import { landlockWirePlan, planLandlock, withSystemPaths } from './landlock.js';
import { mountOpsSupported, planMounts } from './mounts.js';
import { namespacesWirePlan, planNamespaces, type NamespaceName } from './namespaces.js';
import { compileSeccomp, type CompiledSeccomp, type SeccompNet } from './seccomp.js';

/** What a Result reports was enforced for its operation. */
export interface Enforcement {
  /** False only with `sandbox: false`. */
  sandboxed: boolean;
  mode: 'strict' | 'best-effort';
  landlock: { abi: number; fs: string[]; net: string[]; scopes: string[]; rules: number } | null;
  seccomp: { mode: 'default' | 'strict' | 'custom'; rules: number; instructions: number } | null;
  namespaces: NamespaceName[];
  /** The uid/gid the child runs as, seen from the host. */
  uid: number;
  gid: number;
  noNewPrivs: boolean;
  limits: Limits;
  /** The private temp dir (cwd, HOME, TMPDIR), or null. */
  tmpdir: string | null;
  /** Parts of the requested policy this kernel cannot enforce (best-effort only; strict refuses). */
  missing: string[];
  /** Simulated kernel limits in effect (HATCHERY_* variables). */
  simulated: string[];
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
  plan: Pick<SpawnPlan, 'namespaces' | 'credentials' | 'landlock' | 'seccomp' | 'mounts'>;
  /** The caller's limits plus the sandbox's defaults, as reported. */
  limits: Limits;
  /** What the rlimits are set to: with a pid namespace the init holds one process slot of its own. */
  appliedLimits: Limits;
  enforcement: Enforcement;
  /** uid/gid that must own the private temp dir. */
  owner: { uid: number; gid: number };
}

const seccompCache = new Map<string, CompiledSeccomp | null>();

function seccompFor(policy: NormalizedSandbox['seccomp'], net: SeccompNet): CompiledSeccomp | null {
  const key = `${JSON.stringify(policy)}|${net}`;
  if (seccompCache.has(key)) return seccompCache.get(key)!;
  let compiled: CompiledSeccomp | null;
  try {
    compiled = compileSeccomp(policy, { net });
  } catch (e) {
    const message = (e as Error).message.replace(/^sandbox\.seccomp[.:]?\s*/, '');
    if (e instanceof RangeError) throw new InvalidOptionRangeError('sandbox.seccomp', message);
    throw new InvalidOptionTypeError('sandbox.seccomp', message);
  }
  if (seccompCache.size > 64) seccompCache.clear();
  seccompCache.set(key, compiled);
  return compiled;
}

export interface CompileContext {
  features: KernelFeatures;
  limits: Limits;
  /** The operation's private temp dir, when sandbox.tmpdir. */
  tmpdir: string | null;
  /** Extra paths the child needs (e.g. the program itself when hatchery must exec it). */
  extraExec?: readonly string[];
}

export function unsandboxedEnforcement(limits: Limits): Enforcement {
  return {
    sandboxed: false,
    mode: 'best-effort',
    landlock: null,
    seccomp: null,
    namespaces: [],
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    noNewPrivs: true,
    limits,
    tmpdir: null,
    missing: [],
    simulated: [],
  };
}

export function compileSandbox(sandbox: NormalizedSandbox, ctx: CompileContext): CompiledSandbox {
  const { features } = ctx;
  const missing: string[] = [];
  const abi = features.landlockAbi;
  const netIsolatedByLandlock = abi >= 4;
  const scopesAvailable = abi >= 6;

  // Namespaces. With 'auto' and no Landlock scopes, an empty network namespace
  // is what keeps abstract unix sockets of the host out of reach.
  const wantNetNs = sandbox.net === 'none' && !scopesAvailable;
  let request: Parameters<typeof planNamespaces>[0] = 'auto';
  if (sandbox.namespaces !== 'auto') {
    const n = sandbox.namespaces;
    const auto = features.userns || process.getuid?.() === 0;
    request = {
      user: n.user ?? features.userns,
      pid: n.pid ?? auto,
      net: n.net ?? (auto && wantNetNs),
      ipc: n.ipc ?? auto,
      uts: n.uts ?? auto,
      mount: n.mount ?? auto,
    };
    if (request.net && sandbox.net !== 'none') {
      throw new InvalidOptionRangeError('sandbox.namespaces.net', `cannot be true with sandbox.net ${JSON.stringify(sandbox.net)}: a new network namespace has no route to the host`);
    }
  }
  const ns = planNamespaces(request, {
    callerUid: process.getuid?.() ?? 0,
    callerGid: process.getgid?.() ?? 0,
    usernsAvailable: features.userns,
    net: wantNetNs,
  });
  // 'auto' falls back by design (Landlock, seccomp and rlimits carry the sandbox); only an explicit request can be missing.
  if (request !== 'auto') {
    for (const name of ns.unavailable) missing.push(`namespace.${name} (${features.usernsReason ?? 'not permitted'})`);
  }

  const privateProc = ns.created.includes('pid') && ns.created.includes('mount');
  const fs = withSystemPaths(
    {
      read: sandbox.fs.read,
      write: ctx.tmpdir ? [...sandbox.fs.write, ctx.tmpdir] : sandbox.fs.write,
      exec: [...sandbox.fs.exec, ...(ctx.tmpdir ? [ctx.tmpdir] : []), ...(ctx.extraExec ?? [])],
    },
    { net: sandbox.net, privateProc },
  );

  // Mounts: hide host socket/home dirs, read-only everything else (see mounts.ts).
  let mounts: SpawnPlan['mounts'];
  if (ns.created.includes('mount')) {
    if (mountOpsSupported(features.kernelRelease)) mounts = planMounts({ tmpdir: ctx.tmpdir, ...fs });
    else missing.push(`read-only host filesystem and hidden /tmp, /run, /home (Linux 5.12 needed, have ${features.kernelRelease})`);
  }

  // Landlock.
  let landlock: ReturnType<typeof planLandlock> | null = null;
  if (abi >= 1) {
    landlock = planLandlock({ abi, ...fs, net: sandbox.net, scopes: true });
  } else {
    missing.push(`landlock (${features.landlockReason ?? 'unavailable'})`);
  }

  // Seccomp.
  const seccompNet: SeccompNet = sandbox.net === 'host' ? 'host' : sandbox.net === 'none' ? 'none' : 'tcp';
  let seccomp: CompiledSeccomp | null = null;
  if (sandbox.seccomp !== 'off') {
    const compiled = seccompFor(sandbox.seccomp, seccompNet);
    if (features.seccomp) seccomp = compiled;
    else missing.push(`seccomp (${features.seccompReason ?? 'the kernel has no seccomp filter support'})`);
  }

  // What the network policy needs, by whichever layer can carry it.
  if (typeof sandbox.net === 'object' && !netIsolatedByLandlock) {
    missing.push(`TCP port rules (Landlock ABI 4 needed, have ${abi})`);
  }
  if (sandbox.net === 'none' && !netIsolatedByLandlock && !seccomp && !ns.created.includes('net')) {
    missing.push('network isolation (needs Landlock ABI 4, seccomp or a network namespace)');
  }
  if (sandbox.net !== 'host' && !scopesAvailable && !ns.created.includes('net')) {
    missing.push(`abstract unix socket isolation (Landlock ABI 6 or a network namespace needed, have ABI ${abi})`);
  }
  if (!scopesAvailable && !ns.created.includes('pid')) {
    missing.push(`signal isolation (Landlock ABI 6 or a pid namespace needed, have ABI ${abi})`);
  }

  if (sandbox.mode === 'strict' && missing.length > 0) {
    throw new HatcheryError('SANDBOX_UNAVAILABLE', `this kernel cannot enforce: ${missing.join('; ')}${features.simulated.length > 0 ? ` — simulations in effect: ${features.simulated.join('; ')}` : ''}`, { missing });
  }

  const limits: Limits = { ...ctx.limits };
  const ownUid = ns.created.includes('user') || ns.credentials !== undefined;
  if (limits.processes === undefined && ownUid) limits.processes = DEFAULT_SANDBOX_PROCESSES;

  const plan: CompiledSandbox['plan'] = {};
  const nsWire = namespacesWirePlan(ns);
  if (nsWire) plan.namespaces = nsWire;
  if (ns.credentials) plan.credentials = ns.credentials;
  if (landlock) plan.landlock = landlockWirePlan(landlock);
  if (seccomp) plan.seccomp = seccomp.program;
  if (mounts) plan.mounts = mounts;

  const appliedLimits =
    ns.created.includes('pid') && limits.processes !== undefined ? { ...limits, processes: limits.processes + 1 } : limits;

  return {
    plan,
    limits,
    appliedLimits,
    owner: { uid: ns.uid, gid: ns.gid },
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
      tmpdir: ctx.tmpdir,
      missing,
      simulated: features.simulated,
    },
  };
}
