// Shared test helpers: process-tree and fd accounting for "leave no trace" checks.
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { DEFAULT_HIDDEN_DIRS } from '../src/policy/mounts.js';
import { setTimeout as sleep } from 'node:timers/promises';

export function openFds(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd}:${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd}:?`;
    }
  });
}

export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

interface ProcInfo {
  pid: number;
  ppid: number;
  state: string;
  comm: string;
}

export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const rest = stat.slice(close + 2).split(' ');
      out.push({ pid: Number(entry), ppid: Number(rest[1]), state: rest[0] ?? '?', comm });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Every live descendant of `root` (default: this process). */
export function descendants(root = process.pid): ProcInfo[] {
  const all = processes();
  const found: ProcInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const child of all.filter((c) => c.ppid === p)) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

export function zombieChildren(): ProcInfo[] {
  return processes().filter((p) => p.ppid === process.pid && p.state === 'Z');
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * How the default sandbox denies a host path it does not allow: a path under a
 * directory its mount namespace hides (/tmp, /home, ... — where a checkout may
 * well live) does not exist there (ENOENT); anywhere else Landlock refuses it (EACCES).
 */
export function sandboxDenialFor(path: string): 'ENOENT' | 'EACCES' {
  const real = realpathSync(path);
  return DEFAULT_HIDDEN_DIRS.some((dir) => real === dir || real.startsWith(`${dir}/`)) ? 'ENOENT' : 'EACCES';
}
