/**
 * The per-operation private temp dir: created before spawn, removed after the
 * child is reaped. Its name carries the creating process's pid, so a later
 * process can sweep the dirs of one that was SIGKILLed before it could clean up.
 */
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TMPDIR_PREFIX = 'hatchery-op-';
const ownPrefix = `${TMPDIR_PREFIX}${process.pid}-`;
const namePattern = /^hatchery-op-(\d+)-/;
let swept = false;

export function createOperationDir(): string {
  if (!swept) {
    swept = true;
    setImmediate(sweepStaleOperationDirs).unref();
  }
  return mkdtempSync(join(tmpdir(), ownPrefix));
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove operation dirs left by processes that no longer exist. */
export function sweepStaleOperationDirs(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = namePattern.exec(name);
    if (!m || Number(m[1]) === process.pid || processExists(Number(m[1]))) continue;
    try {
      removeOperationDir(join(tmpdir(), name));
    } catch {
      // not ours to remove (another user's), or already gone
    }
  }
}

/** Make every directory below `dir` writable again (a child may have chmod'ed them away). */
function restoreAccess(dir: string): void {
  try {
    chmodSync(dir, 0o700);
    for (const entry of readdirSync(dir)) {
      const p = join(dir, entry);
      if (lstatSync(p).isDirectory()) restoreAccess(p);
    }
  } catch {
    // best effort; rmSync reports what is left
  }
}

export function removeOperationDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    restoreAccess(dir);
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  }
}
