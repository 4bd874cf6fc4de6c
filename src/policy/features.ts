/**
 * What this kernel and process can enforce, detected at run time. Tests and
 * users can simulate older kernels:
 *   HATCHERY_LANDLOCK_ABI_MAX=N   cap the Landlock ABI (0 = no Landlock)
 *   HATCHERY_DISABLE_USERNS=1     behave as if user namespaces were refused
 *   HATCHERY_DISABLE_SECCOMP=1    behave as if seccomp filters were missing
 */
import { readFileSync } from 'node:fs';
import { errnoName } from '../errors.js';
import { loadBinding } from '../native/binding.js';

export interface KernelFeatures {
  kernelRelease: string;
  /** Negotiated Landlock ABI, 0 when unavailable. */
  landlockAbi: number;
  /** Why Landlock is unavailable, when it is. */
  landlockReason: string | null;
  seccomp: boolean;
  /** Why seccomp filters are unavailable, when they are. */
  seccompReason?: string | null;
  userns: boolean;
  /** Why user namespaces are unavailable, when they are. */
  usernsReason: string | null;
  /** The HATCHERY_* simulations in effect, each naming its variable. */
  simulated: string[];
}

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function detectUserns(): { ok: boolean; reason: string | null } {
  const max = readTrimmed('/proc/sys/user/max_user_namespaces');
  if (max === '0') return { ok: false, reason: 'user.max_user_namespaces is 0' };
  if (process.getuid?.() !== 0) {
    if (readTrimmed('/proc/sys/kernel/unprivileged_userns_clone') === '0') {
      return { ok: false, reason: 'kernel.unprivileged_userns_clone is 0' };
    }
    if (readTrimmed('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1') {
      return { ok: false, reason: 'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)' };
    }
  }
  if (!readTrimmed('/proc/self/ns/user') && readTrimmed('/proc/self/status') === null) {
    return { ok: false, reason: '/proc is not mounted' };
  }
  return { ok: true, reason: null };
}

let cached: KernelFeatures | undefined;
/** Set when a spawn proved user namespaces unusable although the sysctls allowed them (e.g. a seccomp-confined container). */
let usernsRefusedAtRuntime: string | null = null;

export function detectFeatures(): KernelFeatures {
  if (cached) return withRuntimeFindings(cached);
  const native = loadBinding();
  const simulated: string[] = [];
  const rawAbi = native.landlockAbi();
  let landlockAbi = rawAbi > 0 ? rawAbi : 0;
  let landlockReason: string | null =
    rawAbi > 0 ? null : rawAbi === -38 ? 'the kernel has no Landlock (ENOSYS)' : rawAbi === -95 ? 'Landlock is disabled at boot (EOPNOTSUPP)' : `landlock_create_ruleset failed (${errnoName(rawAbi)})`;
  const cap = process.env.HATCHERY_LANDLOCK_ABI_MAX;
  if (cap !== undefined && cap !== '' && /^\d+$/.test(cap) && Number(cap) < landlockAbi) {
    landlockAbi = Number(cap);
    simulated.push(`Landlock ABI capped at ${cap} (HATCHERY_LANDLOCK_ABI_MAX=${cap})`);
    if (landlockAbi === 0) landlockReason = 'simulated: HATCHERY_LANDLOCK_ABI_MAX=0';
  }
  const status = readTrimmed('/proc/self/status') ?? '';
  let seccomp = /^Seccomp:/m.test(status);
  let seccompReason: string | null = seccomp ? null : 'the kernel has no seccomp filter support';
  if (process.env.HATCHERY_DISABLE_SECCOMP === '1') {
    seccomp = false;
    seccompReason = 'simulated: HATCHERY_DISABLE_SECCOMP=1';
    simulated.push('seccomp disabled (HATCHERY_DISABLE_SECCOMP=1)');
  }
  let { ok: userns, reason: usernsReason } = detectUserns();
  if (process.env.HATCHERY_DISABLE_USERNS === '1') {
    userns = false;
    usernsReason = 'simulated: HATCHERY_DISABLE_USERNS=1';
    simulated.push('user namespaces disabled (HATCHERY_DISABLE_USERNS=1)');
  }
  cached = { kernelRelease: native.kernelRelease(), landlockAbi, landlockReason, seccomp, seccompReason, userns, usernsReason, simulated };
  return withRuntimeFindings(cached);
}

function withRuntimeFindings(f: KernelFeatures): KernelFeatures {
  if (usernsRefusedAtRuntime === null || !f.userns) return f;
  return { ...f, userns: false, usernsReason: usernsRefusedAtRuntime };
}

/** Remember that the kernel refused a user namespace although detection said yes. */
export function markUsernsRefused(reason: string): void {
  usernsRefusedAtRuntime = reason;
}

/** Forget cached detection (tests that change the simulation variables). */
export function resetFeatureCache(): void {
  cached = undefined;
  usernsRefusedAtRuntime = null;
}
