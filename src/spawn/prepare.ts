/**
 * Everything decided before a spawn request is sent: the private temp dir,
 * the compiled sandbox and the final plan. `release()` undoes what was made
 * (the temp dir) once the child is gone or never started.
 */
import { chownSync, statSync } from 'node:fs';
import type { NormalizedSpawnOptions } from '../options/spawn-options.js';
import { compileSandbox, unsandboxedEnforcement, type Enforcement } from '../policy/compile.js';
import { detectFeatures } from '../policy/features.js';
import type { SpawnPlan } from '../protocol/wire.js';
import { buildPlan } from './plan.js';
import { limitsToRlimits } from '../options/limits.js';
import { createOperationDir, removeOperationDir } from './tmpdir.js';

export interface PreparedOperation {
  plan: SpawnPlan;
  enforcement: Enforcement;
  release(): void;
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function prepareOperation(file: string, args: readonly string[], options: NormalizedSpawnOptions): PreparedOperation {
  const plan = buildPlan(file, args, options);
  const sandbox = options.sandbox;
  if (!sandbox) {
    return { plan, enforcement: unsandboxedEnforcement(options.limits), release: () => {} };
  }
  const features = detectFeatures();
  // The owner is only known after planning, but planning needs the dir's path: make it, then fix ownership.
  const dir = sandbox.tmpdir ? createOperationDir() : null;
  let released = false;
  const release = (): void => {
    if (released || dir === null) return;
    released = true;
    removeOperationDir(dir);
  };
  try {
    const compiled = compileSandbox(sandbox, {
      features,
      limits: options.limits,
      tmpdir: dir,
      // The program the caller named may always be executed, wherever it lives.
      extraExec: file.includes('/') && isRegularFile(file) ? [file] : [],
    });
    Object.assign(plan, compiled.plan);
    plan.rlimits = limitsToRlimits(compiled.appliedLimits);
    if (dir !== null) {
      if (process.getuid?.() === 0 && compiled.owner.uid !== 0) chownSync(dir, compiled.owner.uid, compiled.owner.gid);
      const names = new Set(options.env.map((e) => e.slice(0, e.indexOf('='))));
      const env = [...options.env];
      if (!names.has('HOME')) env.push(`HOME=${dir}`);
      if (!names.has('TMPDIR')) env.push(`TMPDIR=${dir}`);
      plan.env = env;
      if (options.cwd === undefined) plan.cwd = dir;
    }
    return { plan, enforcement: compiled.enforcement, release };
  } catch (e) {
    release();
    throw e;
  }
}
