/**
 * Processes a dead zygote leaves to Node. A zygote reaps everything it
 * started before it exits; a zygote that is killed cannot. Its children
 * (an operation's init or program, its namespace twin) then die of their
 * parent-death signal, and the kernel hands them to whoever reaps orphans
 * there: the host's init as a rule, but Node itself where Node is a pid
 * namespace's init (a container's pid 1, without --init) or a child
 * subreaper. Node's own loop reaps only the children it started, so each of
 * those would stay a zombie for the rest of Node's life.
 *
 * Node holds a pidfd for each such child it knows of: every spawned child
 * (SPAWNED) and the zygote's twin (TWIN). The Zygote hands them here once it
 * has reaped the zygote itself (before that the child is still the
 * zygote's, and a reap from here would fail whatever followed). Node waits
 * (bounded) for each process to exit and then reaps it, which the kernel
 * allows only if it is Node's child now: anyone else's (ECHILD) is left to
 * its reaper. Never throws; the pidfd is closed either way.
 */
import { readFileSync } from 'node:fs';
import { WatchEvent, loadBinding, type FdWatcher } from '../native/binding.js';

/**
 * Whether `pidfd` (received from the zygote) is a pidfd of process `pid`,
 * whose parent is `parent`: what a TWIN must be before Node keeps it to reap
 * one day. False on anything unreadable.
 */
export function isPidfdOfChild(pidfd: number, pid: number, parent: number): boolean {
  try {
    const info = readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8');
    if (Number(/^Pid:\s+(-?\d+)$/m.exec(info)?.[1]) !== pid) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
  } catch {
    return false;
  }
}

/** How long a process the zygote's death killed may take to exit before its pidfd is given up (it was SIGKILLed). */
const ADOPTION_WAIT_MS = 10_000;

/** Settled: reaped here, or not Node's to reap (ECHILD: its reaper is someone else, or it was reaped already). */
function settled(pidfd: number): boolean {
  try {
    return loadBinding().reapPidfd(pidfd) !== null;
  } catch {
    return true;
  }
}

/** Reap the process of `pidfd` if, once it has exited, it is Node's child; close `pidfd` (now this module's) in any case. */
export function reapIfAdopted(pidfd: number): void {
  if (pidfd < 0) return;
  const native = loadBinding();
  const closePidfd = (): void => {
    try {
      native.close(pidfd);
    } catch {
      // closed already: nothing of ours to release
    }
  };
  if (settled(pidfd)) return closePidfd();
  let watcher: FdWatcher | undefined;
  try {
    // Readable once the process has exited; a poll error ends the wait.
    watcher = native.watch(pidfd, (_events, status) => {
      if (status < 0 || settled(pidfd)) finish();
    });
    watcher.start(WatchEvent.Readable);
  } catch {
    watcher?.close();
    return closePidfd();
  }
  const timer = setTimeout(finish, ADOPTION_WAIT_MS);
  timer.unref();
  function finish(): void {
    clearTimeout(timer);
    watcher?.close();
    closePidfd();
  }
}
