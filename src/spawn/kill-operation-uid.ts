/**
 * The end of an operation whose zygote died first. Without a pid namespace a
 * root caller's operation ends by its uid: the zygote kills every process of
 * it when the child is gone (native/child_table.c hatch_kill_uid). A zygote
 * that dies before then (a missed heartbeat, a deadline, the OOM killer)
 * leaves that undone, and whatever left the process group (setsid) would
 * live on, with the uid free for the next operation. So before such a uid
 * is freed, `hatchery-zygote --kill-uid UID` (a vfork-started root process,
 * never a fork of Node) does it here.
 */
import { constants as osConstants } from 'node:os';
import { WatchEvent, loadBinding, zygotePath } from '../native/binding.js';

const KILL_TIMEOUT_MS = 5000;

/** Resolves true once every process of uid is gone, false when that could not be confirmed (keep the uid taken). */
export function killOperationUid(uid: number, timeoutMs = KILL_TIMEOUT_MS): Promise<boolean> {
  const native = loadBinding();
  let proc: ReturnType<typeof native.spawnZygote>;
  try {
    proc = native.spawnZygote(zygotePath, ['hatchery-zygote', '--kill-uid', String(uid)], []);
  } catch {
    return Promise.resolve(false);
  }
  native.close(proc.socket);
  return new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher.close();
      native.close(proc.pidfd);
      resolve(ok);
    };
    const reap = (): boolean => {
      try {
        const status = native.reapPidfd(proc.pidfd);
        if (status === null) return false;
        finish(status.exitCode === 0);
      } catch {
        finish(false);
      }
      return true;
    };
    const watcher = native.watch(proc.pidfd, () => void reap());
    const timer = setTimeout(() => {
      native.pidfdSendSignal(proc.pidfd, osConstants.signals.SIGKILL);
      // A killed process is reaped once the kernel lets it go; the watcher sees it.
      setTimeout(() => {
        if (!reap()) finish(false);
      }, 1000).unref();
    }, timeoutMs);
    watcher.start(WatchEvent.Readable);
    watcher.ref();
    reap();
  });
}
