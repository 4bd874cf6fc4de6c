// Shared test helpers: process-tree and fd accounting for "leave no trace" checks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { DEFAULT_HIDDEN_DIRS } from '../src/policy/mounts.js';
import { packageRoot } from '../src/native/binding.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function listFds(): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return `${fd}:${readlinkSync(`/proc/self/fd/${fd}`)}`;
      } catch {
        return `${fd}:?`;
      }
    })
    .sort();
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));
function pauseSync(ms: number): void {
  Atomics.wait(pauseCell, 0, 0, ms);
}

/**
 * This process's open fds as sorted "fd:target" (the listing's own dir fd shows as "fd:?"), taken
 * when two listings 2 ms apart agree. Other threads of Node open an fd for a moment: glibc reads
 * /proc/sys/vm/overcommit_memory once, from whichever thread first shrinks a malloc arena, and a
 * listing that caught it would make a later comparison fail with no leak.
 */
export function openFds(): string[] {
  let last = listFds();
  for (let tries = 0; tries < 50; tries++) {
    pauseSync(2);
    const now = listFds();
    if (now.join() === last.join()) return now;
    last = now;
  }
  return last;
}

/**
 * Asserts this process's open fds are `before` again. A difference gets half a second to go away,
 * which a moment-long open in another thread does and a leaked fd does not.
 */
export function assertFdsBack(before: readonly string[], message?: string): void {
  let now = listFds();
  for (let waited = 0; now.join() !== before.join() && waited < 500; waited += 5) {
    pauseSync(5);
    now = listFds();
  }
  assert.deepEqual(now, before, message);
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

/** /proc/PID/stat read once: the command name, and the fields after it (state first, then ppid, ...); undefined when there is no such process. */
function statOf(pid: number | string): { comm: string; fields: string[] } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), fields: stat.slice(close + 2).split(' ') };
  } catch {
    return undefined; // exited while we looked
  }
}

export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = statOf(entry);
    if (stat) out.push({ pid: Number(entry), ppid: Number(stat.fields[1]), state: stat.fields[0] ?? '?', comm: stat.comm });
  }
  return out;
}

/**
 * The twin an unprivileged zygote keeps for its namespace stock (native/ns_twin.c): a child of the zygote with its name,
 * in the zygote's pid namespace but a user namespace of its own. It lives as long as the zygote.
 */
export function isZygoteTwin(p: ProcInfo): boolean {
  if (p.comm !== 'hatchery-zygote') return false;
  try {
    const ns = (pid: number, kind: string): string => readlinkSync(`/proc/${pid}/ns/${kind}`);
    return ns(p.pid, 'pid') === ns(p.ppid, 'pid') && ns(p.pid, 'user') !== ns(p.ppid, 'user');
  } catch {
    return false;
  }
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
  const state = statOf(pid)?.fields[0];
  return state !== undefined && state !== 'Z';
}

/** The start time of `pid` (clock ticks since boot, /proc/PID/stat field 22), or undefined when there is no such process. */
export function startTimeOf(pid: number): string | undefined {
  return statOf(pid)?.fields[19];
}

/**
 * Every process of `seen` (pid → start time) that is still there, dead or alive: a zombie counts, since someone
 * must still reap it (the host's init, or Node itself where Node is a container's pid 1). A pid taken by a new
 * process since is gone.
 */
export function leftBehind(seen: ReadonlyMap<number, string | undefined>): ProcInfo[] {
  return processes().filter((p) => seen.has(p.pid) && seen.get(p.pid) !== undefined && startTimeOf(p.pid) === seen.get(p.pid));
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

/**
 * Runs `script` (an ES module body with `m`, hatchery's index, in scope) in a new Node under `wrap` (a command that
 * runs the rest of its arguments: unshare, setpriv, a container tool), then closes the default zygote. The script's
 * last stdout line is JSON, returned parsed. The run must exit 0 and the zygote log nothing.
 */
export function runScriptUnder(wrap: string[], script: string): Record<string, unknown> {
  const index = join(packageRoot, 'dist', 'src', 'index.js');
  const source = `const m = await import(${JSON.stringify(index)});\n${script}\nawait m.closeDefaultZygote();`;
  const r = spawnSync(wrap[0]!, [...wrap.slice(1), process.execPath, '--input-type=module', '-e', source], {
    encoding: 'utf8',
    cwd: '/tmp',
    env: { ...process.env, HOME: '/tmp' },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `exit ${String(r.status ?? r.signal)}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /hatchery-zygote:/, 'the zygote logged something');
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
}
