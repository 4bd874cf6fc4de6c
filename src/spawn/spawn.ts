/** spawn(): ask a zygote for a child and wrap what comes back in a ProcessHandle. */
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { HatcheryError, aborted, execFailed, zygoteUnresponsive } from '../errors.js';
import { loadBinding } from '../native/binding.js';
import type { NormalizedSpawnOptions } from '../options/spawn-options.js';
import type { NormalizedStdio } from '../options/stdio.js';
import { SignalScope, stageName, type ExitInfo } from '../protocol/wire.js';
import type { Zygote } from '../zygote/zygote.js';
import { prepareOperation, type PreparedOperation } from './prepare.js';
import { ProcessHandle, toExitStatus, type ExitStatus } from './process-handle.js';
import { markUsernsRefused } from '../policy/features.js';
import { checkWriteGrants } from './grant-check.js';
import { nodeMemoryLaunch } from './node-memory.js';
import { setLongTimeout, type LongTimeout } from '../long-timeout.js';

/** Extra slack past timeout + grace before a silent zygote is declared unresponsive. */
const UNRESPONSIVE_MARGIN_MS = 2000;

interface StdioFds {
  childFds: [number, number, number];
  /** fds to close once the zygote holds its copies */
  closeAfterSend: number[];
  /** this process's ends, per stream */
  parentEnds: [number, number, number];
}

function openStdio(modes: readonly [NormalizedStdio, NormalizedStdio, NormalizedStdio]): StdioFds {
  const native = loadBinding();
  const childFds: [number, number, number] = [-1, -1, -1];
  const parentEnds: [number, number, number] = [-1, -1, -1];
  const closeAfterSend: number[] = [];
  let devNull = -1;
  try {
    for (let i = 0; i < 3; i++) {
      const mode = modes[i]!;
      if (typeof mode === 'object') {
        childFds[i] = mode.fd; // its owner closes it
      } else if (mode === 'inherit') {
        childFds[i] = i;
      } else if (mode === 'ignore') {
        if (devNull < 0) {
          devNull = native.openDevNull();
          closeAfterSend.push(devNull);
        }
        childFds[i] = devNull;
      } else {
        const [readEnd, writeEnd] = native.pipe();
        const [child, parent] = i === 0 ? [readEnd, writeEnd] : [writeEnd, readEnd];
        childFds[i] = child;
        parentEnds[i] = parent;
        closeAfterSend.push(child);
      }
    }
  } catch (e) {
    for (const fd of [...closeAfterSend, ...parentEnds]) if (fd >= 0) native.close(fd);
    throw e;
  }
  return { childFds, closeAfterSend, parentEnds };
}

function streamFor(fd: number, direction: 'read' | 'write'): Socket {
  return new Socket({ fd, readable: direction === 'read', writable: direction === 'write', allowHalfOpen: true });
}

export interface InternalSpawn {
  enforcement: PreparedOperation['enforcement'];
  handle: ProcessHandle;
  /** True once a kill of the tree was requested because of abort. */
  aborted: () => boolean;
  /**
   * With `rawOutput`: this process's read ends of the stdout and stderr
   * pipes (-1 where the stream is not a pipe), now the caller's to read and
   * close; the handle then has no stdout/stderr streams.
   */
  output: [number, number];
}

const { EACCES, EINVAL, ENOSPC, ENOSYS, EPERM } = osConstants.errno;
const USERNS_REFUSALS = new Set([EPERM, EACCES, ENOSPC, EINVAL, ENOSYS]);

/** A setup failure that means "this kernel will not give us a user namespace" (so 'auto' may fall back). */
function isUsernsRefusal(stage: string | undefined, errno: number | undefined): boolean {
  return (stage === 'clone' || stage === 'userns') && USERNS_REFUSALS.has(errno ?? 0);
}

/** The zygote is gone but its child lingers (a stopped zygote): end the child's tree from here. */
function endOrphanedTree(pid: number, pidfd: number): void {
  const native = loadBinding();
  if (pidfd < 0 || native.pidfdSendSignal(pidfd, 0) !== 0) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
  native.pidfdSendSignal(pidfd, osConstants.signals.SIGKILL);
}

/** What only hatchery's own callers ask of spawnOn. */
export interface SpawnOnExtras {
  /**
   * Whether the child keeps the event loop alive, asked whenever the zygote
   * re-evaluates (default: always, until its exit). Warm workers are children
   * that idle for good: only their pool knows when one must hold the loop.
   */
  holdsLoop?: () => boolean;
  /** Hand stdout/stderr over as fds (InternalSpawn.output) instead of streams: run() reads them itself. */
  rawOutput?: boolean;
}

/**
 * Spawn on a given zygote with options already normalized: the one path by
 * which run(), spawn(), pools and warm workers hatch children. With
 * namespaces 'auto', a kernel that refuses the user namespace at clone time
 * (a confined container, say) is remembered and the spawn retried once
 * without it.
 */
export async function spawnOn(
  zygote: Zygote,
  file: string,
  args: readonly string[],
  options: NormalizedSpawnOptions,
  extras: SpawnOnExtras = {},
): Promise<InternalSpawn> {
  if (options.signal?.aborted) {
    throw aborted(options.signal.reason);
  }
  let prepared = prepareChecked(zygote, file, args, options);
  try {
    return await startChild(zygote, file, prepared, options, extras);
  } catch (e) {
    const autoNs = options.sandbox && options.sandbox.namespaces === 'auto' && prepared.enforcement.namespaces.includes('user');
    const refused =
      e instanceof HatcheryError &&
      e.code === 'EXEC_FAILED' &&
      isUsernsRefusal(e.stage, e.errno);
    if (!autoNs || !refused) throw e;
    markUsernsRefused(`the kernel refused a user namespace at spawn time (${(e as HatcheryError).errnoName})`);
    // An abort that came during the first attempt reached nothing yet (the listener only fires once).
    if (options.signal?.aborted) throw aborted(options.signal.reason);
    prepared = prepareChecked(zygote, file, args, options);
    return startChild(zygote, file, prepared, options, extras);
  }
}

/**
 * prepareOperation plus what needs the program or the final plan: Node's
 * memory flags under limits.memoryBytes (see node-memory.ts), then the checks
 * that the request fits and its write grants are usable. Releases what it
 * made when a check fails.
 */
function prepareChecked(zygote: Zygote, file: string, args: readonly string[], options: NormalizedSpawnOptions): PreparedOperation {
  const node = nodeMemoryLaunch(file, args, options.env, options.limits.memoryBytes);
  const launchArgs = node ? node.args : args;
  const launchOptions = node && node.env.length > 0 ? { ...options, env: [...options.env, ...node.env] } : options;
  const prepared = prepareOperation(file, launchArgs, launchOptions, zygote);
  try {
    if (options.sandbox) checkWriteGrants(options.sandbox.fs.write, prepared.enforcement);
  } catch (e) {
    void prepared.release(zygote);
    throw e;
  }
  return prepared;
}

function startChild(
  zygote: Zygote,
  file: string,
  prepared: PreparedOperation,
  options: NormalizedSpawnOptions,
  extras: SpawnOnExtras,
): Promise<InternalSpawn> {
  const native = loadBinding();
  const { plan } = prepared;
  let stdio: StdioFds;
  try {
    stdio = openStdio(options.stdio);
  } catch (e) {
    void prepared.release(zygote);
    throw e;
  }
  const closeParentEnds = (): void => {
    for (const fd of stdio.parentEnds) if (fd >= 0) native.close(fd);
  };

  return new Promise<InternalSpawn>((resolveSpawn, rejectSpawn) => {
    let settledSpawn = false;
    let resolveExit!: (s: ExitStatus) => void;
    let rejectExit!: (e: unknown) => void;
    const exited = new Promise<ExitStatus>((res, rej) => {
      resolveExit = res;
      rejectExit = rej;
    });
    let requestId = -1;
    let childPid = -1;
    let childPidfd = -1;
    let aborted = false;
    let deadline: LongTimeout | undefined;

    // timeout + grace + margin can pass Node's longest timer: setLongTimeout goes in steps.
    const armDeadline = (ms: number, what: string): void => {
      deadline?.clear();
      deadline = setLongTimeout(() => zygote.kill(zygoteUnresponsive(zygote.pid, what, ms)), ms, true);
    };
    const cleanup = (zygoteDied = false): Promise<void> => {
      deadline?.clear();
      options.signal?.removeEventListener('abort', onAbort);
      return prepared.release(zygote, zygoteDied);
    };
    const onAbort = (): void => {
      if (aborted) return;
      aborted = true;
      if (childPid < 0) return; // killed as soon as it is spawned
      zygote.signal(requestId, options.killSignal, SignalScope.TreeEscalate);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    try {
      requestId = zygote.spawn(plan, stdio.childFds, stdio.closeAfterSend, {
        spawned(pid, pidfd) {
          childPid = pid;
          childPidfd = pidfd;
          if (options.timeoutMs !== undefined) {
            armDeadline(options.timeoutMs + options.killGraceMs + UNRESPONSIVE_MARGIN_MS, 'report the exit after the timeout');
          } else if (deadline) {
            deadline.clear();
            deadline = undefined;
          }
          const [inFd, outFd, errFd] = stdio.parentEnds;
          const raw = extras.rawOutput === true;
          const handle = new ProcessHandle({
            zygote,
            requestId,
            pid,
            pidfd,
            stdin: inFd >= 0 ? (streamFor(inFd, 'write') as Writable) : null,
            stdout: outFd >= 0 && !raw ? (streamFor(outFd, 'read') as Readable) : null,
            stderr: errFd >= 0 && !raw ? (streamFor(errFd, 'read') as Readable) : null,
            exited,
            enforcement: prepared.enforcement,
          });
          settledSpawn = true;
          if (aborted) zygote.signal(requestId, options.killSignal, SignalScope.TreeEscalate);
          resolveSpawn({ handle, aborted: () => aborted, enforcement: prepared.enforcement, output: raw ? [outFd, errFd] : [-1, -1] });
        },
        failed(stage, errno) {
          void cleanup();
          closeParentEnds();
          settledSpawn = true;
          rejectSpawn(execFailed(file, stageName(stage), errno));
        },
        exit(info: ExitInfo) {
          // The exit is reported once a host temp dir is gone too: nothing is left when `exited` resolves.
          void cleanup().then(() => resolveExit(toExitStatus(info)));
        },
        died(error) {
          endOrphanedTree(childPid, childPidfd);
          void cleanup(true);
          if (!settledSpawn) {
            settledSpawn = true;
            closeParentEnds();
            rejectSpawn(error);
          } else {
            rejectExit(error);
          }
        },
      }, extras.holdsLoop);
    } catch (e) {
      void cleanup();
      closeParentEnds();
      rejectSpawn(e);
      return;
    }
    // Not when the spawn already ended on the spot (a channel found dead while sending): nothing to bound then.
    if (!settledSpawn) armDeadline(options.spawnTimeoutMs, 'start the program');
  });
}
