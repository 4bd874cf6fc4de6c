/**
 * The N-API addon (native/addon.c), typed. Every function is synchronous and
 * non-blocking; errors from the kernel come back as negative errno numbers
 * where the caller must branch on them, and as thrown Errors (with .code =
 * 'EBADF' etc. and .errno) where they are bugs.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeUnavailable, unsupportedPlatform } from '../errors.js';

export interface ZygoteProcess {
  /** pid of the zygote (a CLONE_VFORK child of this process, exit signal 0: no SIGCHLD). */
  pid: number;
  /** pidfd of the zygote, close-on-exec. Readable once it has exited. */
  pidfd: number;
  /** Node's end of the SOCK_SEQPACKET control socketpair, non-blocking, close-on-exec. */
  socket: number;
}

export interface ReceivedDatagram {
  /** bytes received; 0 with eof=true means the peer closed. */
  length: number;
  /** fds passed with SCM_RIGHTS, already close-on-exec. */
  fds: number[];
  /** MSG_TRUNC or MSG_CTRUNC was set: the datagram or its fds did not fit. */
  truncated: boolean;
  eof: boolean;
}

/** Event bits of FdWatcher.start() and of the watch() callback. */
export const WatchEvent = { Readable: 1, Writable: 2 } as const;
/** sendMessage()'s result when the socket buffer is full: -EAGAIN. */
export const EAGAIN = osConstants.errno.EAGAIN;

export interface FdWatcher {
  /** events: 1 = readable, 2 = writable (bitmask). */
  start(events: number): void;
  stop(): void;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface WaitStatus {
  /** exit code when it exited, else null */
  exitCode: number | null;
  signal: number | null;
}

export interface NativeBinding {
  /**
   * Start the zygote executable with clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD),
   * exit signal 0, all signals (ignored ones too) reset to default and
   * unblocked in the child. The child gets the zygote's end of the control
   * socketpair as fd 3, and /dev/null on 0/1; fd 2 is inherited (diagnostics).
   * Nothing else. Exec failure throws (code 'ENOENT', 'EACCES', ...) after the
   * failed child has been reaped.
   *
   * Note: execve() resets the exit signal to SIGCHLD (kernel de_thread), so
   * exit signal 0 only covers the window before exec. Once the zygote has
   * exec'd, its exit does raise SIGCHLD in Node and is visible to
   * waitpid(-1); libuv only waits for its own pids, so in practice the
   * pidfd (reapPidfd) still gets the status.
   */
  spawnZygote(path: string, argv: readonly string[], env: readonly string[]): ZygoteProcess;
  /** sendmsg(MSG_DONTWAIT|MSG_NOSIGNAL). Returns bytes sent, or -errno (e.g. -EAGAIN, -EPIPE). */
  sendMessage(fd: number, data: Uint8Array, fds: readonly number[]): number;
  /**
   * recvmsg(MSG_DONTWAIT|MSG_CMSG_CLOEXEC) into buf. Returns null on EAGAIN;
   * other errors throw. At most MAX_FDS_PER_MESSAGE (4) fds are kept: extras are closed and
   * `truncated` is set. Received fds are returned even when truncated (the
   * caller owns and must close them).
   */
  receiveMessage(fd: number, buf: Buffer): ReceivedDatagram | null;
  /**
   * A uv_poll watcher on fd, created unref'd and stopped. callback(events,
   * status): status < 0 is a libuv error (e.g. -EBADF) and the poll has then
   * stopped. Sets fd O_NONBLOCK. At most one watcher per fd (libuv rule).
   * close() releases the callback; call it before closing fd. A watcher is
   * never garbage-collected before close(): an unclosed one leaks.
   */
  watch(fd: number, callback: (events: number, status: number) => void): FdWatcher;
  /** pidfd_send_signal(pidfd, signo, NULL, 0). 0 or -errno (-ESRCH once it has exited). */
  pidfdSendSignal(pidfd: number, signo: number): number;
  /**
   * waitid(P_PIDFD, pidfd, WEXITED|WNOHANG|__WALL). null while still running;
   * throws (code 'ECHILD' once reaped or when not our child, 'EBADF').
   */
  reapPidfd(pidfd: number): WaitStatus | null;
  /** pipe2(O_CLOEXEC). [readEnd, writeEnd]. */
  pipe(): [number, number];
  /**
   * read(2) into buf[offset..]: bytes read, 0 at end of file, or -errno
   * (-EAGAIN when nothing is there yet; a watched fd is O_NONBLOCK).
   */
  readInto(fd: number, buf: Uint8Array, offset: number): number;
  /** open("/dev/null", O_RDWR|O_CLOEXEC). */
  openDevNull(): number;
  close(fd: number): void;
  /** Test aid: waitpid(-1, &st, WNOHANG) once. Returns pid (0 if none, -errno on error). */
  waitAnyNoHang(): number;
  /** landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI, or -errno (-ENOSYS, -EOPNOTSUPP). */
  landlockAbi(): number;
  /** uname().release, e.g. '6.18.0'. */
  kernelRelease(): string;
  /**
   * open(path, O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC, 0600) + flock(LOCK_EX|LOCK_NB):
   * the fd (hold it for as long as the lease should last), or -errno
   * (-EWOULDBLOCK when another process holds the lock).
   */
  lockFile(path: string): number;
  /**
   * memfd_create(name, MFD_CLOEXEC|MFD_ALLOW_SEALING|MFD_NOEXEC_SEAL where
   * known), holding exactly `data`, then sealed F_SEAL_SHRINK|F_SEAL_GROW|
   * F_SEAL_WRITE|F_SEAL_SEAL: its size and bytes never change again. The fd;
   * throws on failure (code 'EMFILE', 'ENOMEM', ...). For SPAWN args files.
   */
  memfdFromBuffer(name: string, data: Uint8Array): number;
  /** sysconf(_SC_PAGESIZE): execve's per-string limit is 32 pages (MAX_ARG_STRLEN). */
  pageSize(): number;
  /**
   * stat(2) (following symlinks) of each path, in one call: STAT_WORDS
   * Uint32 words per path, at STAT_WORDS * i: errno (0 on success),
   * st_mode & S_IFMT, st_dev high and low words, st_ino high and low words
   * (exact: both are 64-bit). The words after a non-zero errno are 0. At most
   * 4096 paths (RangeError); a path that is not a string or contains a NUL
   * is a TypeError.
   */
  statPaths(paths: readonly string[]): Uint32Array;
  /**
   * inotify_init1(IN_NONBLOCK|IN_CLOEXEC) and open("/proc/self/mountinfo",
   * O_RDONLY|O_CLOEXEC): [inotifyFd, mountsFd]. Throws on failure.
   */
  pathWatchOpen(): [number, number];
  /**
   * Watch a directory for entries made, removed or renamed, and for its own
   * removal or rename: the watch descriptor, or -errno (-EREMOTE when it is
   * not on a local filesystem, whose changes this kernel would not all see).
   */
  pathWatchAdd(inotifyFd: number, dir: string): number;
  /**
   * 1 if anything was reported since the last call (an inotify event, a
   * queue overflow, the mount table changing), 0 if not, -errno when an fd
   * failed. Drains the inotify queue.
   */
  pathWatchChanged(inotifyFd: number, mountsFd: number): number;
}

/** Words per path in statPaths()'s result, and what each holds. */
export const STAT_WORDS = 6;
export const StatWord = { Errno: 0, Type: 1, DevHi: 2, DevLo: 3, InoHi: 4, InoLo: 5 } as const;

const here = dirname(fileURLToPath(import.meta.url));
/** The package root: dist/src/native -> ../../.. ; src/native (ts-node) -> ../.. */
export const packageRoot = [join(here, '..', '..', '..'), join(here, '..', '..')].find((p) =>
  existsSync(join(p, 'binding.gyp')),
) ?? join(here, '..', '..', '..');

export const buildDir = join(packageRoot, 'build', 'Release');
export const addonPath = join(buildDir, 'hatchery_addon.node');
export const zygotePath = join(buildDir, 'hatchery-zygote');

let cached: NativeBinding | undefined;

/**
 * The addon, loaded on first use (importing hatchery never needs it). A
 * missing or unloadable build is a HatcheryError 'NATIVE_UNAVAILABLE' that
 * says how to build it, not a raw ENOENT.
 */
export function loadBinding(): NativeBinding {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw unsupportedPlatform(process.platform);
  }
  for (const file of [addonPath, zygotePath]) {
    if (!existsSync(file)) throw nativeUnavailable(`is missing (${file} does not exist)`);
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(addonPath) as NativeBinding;
  } catch (e) {
    throw nativeUnavailable(`did not load (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`, e);
  }
  return cached;
}
