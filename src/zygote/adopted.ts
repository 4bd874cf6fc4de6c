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
 * (SPAWNED) and the zygote's twin (TWIN). Handed one here, Node waits
 * (bounded) for that process to exit and then reaps it, which the kernel
 * allows only if it is Node's child now: anyone else's (ECHILD) is left to
 * its reaper. Never throws; the pidfd is closed either way.
 */
import { WatchEvent, loadBinding, type FdWatcher } from '../native/binding.js';

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
  let watcher: FdWatcher;
  try {
    // Readable once the process has exited; a poll error ends the wait.
    watcher = native.watch(pidfd, (_events, status) => {
      if (status < 0 || settled(pidfd)) finish();
    });
    watcher.start(WatchEvent.Readable);
  } catch {
    return closePidfd();
  }
  const timer = setTimeout(finish, ADOPTION_WAIT_MS);
  timer.unref();
  function finish(): void {
    clearTimeout(timer);
    watcher.close();
    closePidfd();
  }
}
