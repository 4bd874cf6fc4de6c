/**
 * Everything decided before a spawn request is sent: the operation's uid (a
 * root caller's), its temp dir, the compiled sandbox and the final plan.
 * `release()` undoes what was made once the child and its whole tree are
 * gone (or it never started): the host temp dir, if one was needed, is
 * removed (emptied first by a sandboxed zygote child if the program left
 * anything in it), and then the uid is freed for reuse. After a zygote
 * died, an operation that ends by its uid has its uid killed first
 * (kill-operation-uid.ts), and keeps it taken if that cannot be confirmed.
 */
import { constants as fsConstants } from 'node:fs';
import { loadBinding, StatWord } from '../native/binding.js';
import type { NormalizedSpawnOptions } from '../options/spawn-options.js';
import { compileSandbox, unsandboxedEnforcement, type Enforcement } from '../policy/compile.js';
import { detectFeatures } from '../policy/features.js';
import { lookupDirs, unchangedSince, watchedGeneration } from '../policy/path-watch.js';
import { SpawnFlag, type SpawnPlan } from '../protocol/wire.js';
import type { Zygote } from '../zygote/zygote.js';
import { buildPlan } from './plan.js';
import { killOperationUid } from './kill-operation-uid.js';
import { operationUids } from './operation-uid.js';
import { createOperationDir, removeOperationDir, sweepOnce } from './tmpdir.js';

export interface PreparedOperation {
  plan: SpawnPlan;
  enforcement: Enforcement;
  /**
   * Undo what was made. Call once, when the tree is gone; `zygote` empties a
   * host temp dir (without one it stays for the next startup sweep).
   * `zygoteDied`: the zygote died before it could end the tree, so a tree
   * that ends by its uid is ended here first. Resolves when done and never
   * rejects.
   */
  release(zygote?: Zygote, zygoteDied?: boolean): Promise<void>;
}

const done = Promise.resolve();

/** Absolute program paths' last answers, each with the path-watch generation it holds for. */
const programFiles = new Map<string, { regular: boolean; checkedAt: number }>();
const MAX_PROGRAM_FILES = 256;

/**
 * stat(2) says a regular file; any failure (a NUL byte too) says no. The
 * addon's stat: no Stats object, no thrown ENOENT. An absolute path's
 * answer is kept while nothing was reported in the directories it is looked
 * up in, nor in the mount table (path-watch.ts): a file's type changes only
 * with the entry that names it, or a mount.
 */
function isRegularFile(path: string): boolean {
  const kept = programFiles.get(path);
  if (kept !== undefined && unchangedSince(kept.checkedAt)) return kept.regular;
  programFiles.delete(path);
  // Read before the stat, so a change after it starts a newer generation than the one kept.
  const generation = watchedGeneration(path.startsWith('/') && !path.includes('\0') ? lookupDirs([path]) : null);
  let regular: boolean;
  try {
    const s = loadBinding().statPaths([path]);
    regular = s[StatWord.Errno] === 0 && s[StatWord.Type] === fsConstants.S_IFREG;
  } catch {
    regular = false;
  }
  if (generation !== undefined) {
    if (programFiles.size >= MAX_PROGRAM_FILES) programFiles.clear();
    programFiles.set(path, { regular, checkedAt: generation });
  }
  return regular;
}

export function prepareOperation(
  file: string,
  args: readonly string[],
  options: NormalizedSpawnOptions,
  zygote?: Zygote,
): PreparedOperation {
  const sandbox = options.sandbox;
  if (!sandbox) {
    return { plan: buildPlan(file, args, options, options.limits), enforcement: unsandboxedEnforcement(options.limits), release: () => done };
  }
  const features = detectFeatures();
  if (zygote) sweepOnce(zygote);
  const operationUid = features.operationUids ? operationUids.acquire() : null;
  let hostDir: { path: string; owner: { uid: number; gid: number } } | null = null;
  let released = false;
  let endsByUid = false;
  const release = (z?: Zygote, zygoteDied = false): Promise<void> => {
    if (released) return done;
    released = true;
    if (zygoteDied && endsByUid && operationUid !== null) {
      // Whatever the uid holds dies before anything is freed; unconfirmed, the uid stays taken for good.
      return killOperationUid(operationUid).then((killed) => (killed ? removeAndFree(z) : undefined));
    }
    return removeAndFree(z);
  };
  const removeAndFree = (z?: Zygote): Promise<void> => {
    const freeUid = (): void => {
      if (operationUid !== null) operationUids.release(operationUid);
    };
    if (hostDir === null) {
      freeUid();
      return done;
    }
    // Until its dir is gone, the uid stays taken (a dir left for the sweep keeps it for good).
    return removeOperationDir(z ?? zygote, hostDir.path, hostDir.owner).then((removed) => {
      if (removed) freeUid();
    });
  };
  try {
    const ctx: Parameters<typeof compileSandbox>[1] = {
      features,
      limits: options.limits,
      // The program the caller named may always be executed, wherever it lives.
      extraExec: file.includes('/') && isRegularFile(file) ? [file] : [],
      hostTmpdir: (owner) => {
        const path = createOperationDir(owner, zygote);
        hostDir = { path, owner };
        return path;
      },
    };
    if (operationUid !== null) ctx.operationUid = operationUid;
    const compiled = compileSandbox(sandbox, ctx);
    const plan = buildPlan(file, args, options, compiled.appliedLimits);
    plan.flags |= compiled.plan.flags;
    endsByUid = (plan.flags & SpawnFlag.KillUid) !== 0;
    const { flags: _flags, ...fields } = compiled.plan;
    Object.assign(plan, fields);
    if (compiled.tmpdir !== null) {
      const names = new Set(options.env.map((e) => e.slice(0, e.indexOf('='))));
      const env = [...options.env];
      if (!names.has('HOME')) env.push(`HOME=${compiled.tmpdir}`);
      if (!names.has('TMPDIR')) env.push(`TMPDIR=${compiled.tmpdir}`);
      plan.env = env;
      if (options.cwd === undefined) plan.cwd = compiled.tmpdir;
    }
    return { plan, enforcement: compiled.enforcement, release };
  } catch (e) {
    void release();
    throw e;
  }
}
