/**
 * Entries a process of this library left in a directory it owns, named
 * `<prefix><pid>-...`, whose creating process no longer exists (it was
 * SIGKILLed before it could clean up). Used by the temp-dir and the worker
 * runtime sweeps; each checks owner and type itself before removing anything.
 */
import { readdirSync } from 'node:fs';

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Names in `dir` matching `pattern` (its first group the creator's pid) whose creator is gone; [] if unreadable. */
export function staleEntries(dir: string, pattern: RegExp): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((name) => {
    const m = pattern.exec(name);
    return m !== null && Number(m[1]) !== process.pid && !processExists(Number(m[1]));
  });
}
