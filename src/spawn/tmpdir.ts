/** The per-operation private temp dir: created before spawn, removed after the child is reaped. */
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TMPDIR_PREFIX = 'hatchery-op-';

export function createOperationDir(): string {
  return mkdtempSync(join(tmpdir(), TMPDIR_PREFIX));
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
