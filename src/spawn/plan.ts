/** Turn validated options into the plain-data plan the zygote applies. */
import type { NormalizedSpawnOptions } from '../options/spawn-options.js';
import { limitsToRlimits, type Limits } from '../options/limits.js';
import { SpawnFlag, type SpawnPlan } from '../protocol/wire.js';

/**
 * The plan's own fields: argv, env, cwd, timeout and the rlimits. `limits`
 * are the ones to apply: the caller's, or the sandbox's compiled ones
 * (CompiledSandbox.appliedLimits, which add its defaults and the init's
 * process slot); prepareOperation picks.
 */
export function buildPlan(file: string, args: readonly string[], options: NormalizedSpawnOptions, limits: Limits): SpawnPlan {
  const plan: SpawnPlan = {
    file,
    argv: [file, ...args],
    env: options.env,
    rlimits: limitsToRlimits(limits),
    flags: SpawnFlag.NoNewPrivs | (file.includes('/') ? 0 : SpawnFlag.SearchPath),
  };
  if (options.cwd !== undefined) plan.cwd = options.cwd;
  // Always sent: besides the wall timeout (0 = none) it carries the kill signal and grace period
  // that an abort, a pool close or killTree(..., escalate) use too. Without it the zygote falls
  // back to SIGTERM and its own 2 s.
  plan.timeout = { timeoutMs: options.timeoutMs ?? 0, graceMs: options.killGraceMs, termSignal: options.killSignal };
  return plan;
}
