/**
 * A private handle to one child: its pidfd, its stdio streams and its exit.
 * Signals go through pidfd_send_signal, so they can never reach a recycled pid.
 */
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { InvalidOptionTypeError, protocolError, signalName, signalNumber } from '../errors.js';
import { loadBinding } from '../native/binding.js';
import { ExitReason, SignalScope, type ExitInfo } from '../protocol/wire.js';
import type { Zygote } from '../zygote/zygote.js';
import type { Enforcement } from '../policy/compile.js';

/** How a child ended, as reported by the zygote's wait4(). */

/** A signal name or number as the kernel knows it; anything else is INVALID_OPTION naming `signal`. */
function checkedSignal(signal: NodeJS.Signals | number): number {
  const signo = signalNumber(signal);
  if (signo === undefined) throw new InvalidOptionTypeError('signal', `must be a signal name or number, got ${JSON.stringify(signal)}`);
  return signo;
}

export interface ExitStatus {
  /** Exit code, or null when a signal ended it. */
  exitCode: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | `SIG${number}` | null;
  /** The wall timeout fired. */
  timedOut: boolean;
  /** The tree was killed on request (abort, output cap, killTree()). */
  killRequested: boolean;
  /** SIGKILL followed the kill signal after the grace period. */
  escalated: boolean;
  /** The private temp dir (tmpfs) had no space or inodes left when the program ended. */
  tmpdirFull: boolean;
  /** From exec to reaping, in ms. */
  wallMs: number;
  userCpuMs: number;
  sysCpuMs: number;
  maxRssBytes: number;
}

export function toExitStatus(info: ExitInfo): ExitStatus {
  return {
    exitCode: info.exitCode,
    signal: info.signal === null ? null : signalName(info.signal),
    timedOut: (info.reasons & ExitReason.TimedOut) !== 0,
    killRequested: (info.reasons & ExitReason.KillRequested) !== 0,
    escalated: (info.reasons & ExitReason.Escalated) !== 0,
    tmpdirFull: (info.reasons & ExitReason.TmpFull) !== 0,
    wallMs: Number(info.wallUs) / 1000,
    userCpuMs: Number(info.userCpuUs) / 1000,
    sysCpuMs: Number(info.sysCpuUs) / 1000,
    maxRssBytes: Number(info.maxRssBytes),
  };
}

export interface ProcessHandleInit {
  zygote: Zygote;
  requestId: number;
  pid: number;
  pidfd: number;
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  exited: Promise<ExitStatus>;
  enforcement: Enforcement;
}

export class ProcessHandle {
  /** The child's pid (as seen from this process's pid namespace). */
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /**
   * Resolves once the program and every process it started are gone (with a
   * pid namespace its init may still be tearing the namespaces down, and is
   * reaped by the zygote a moment later); rejects with ZYGOTE_DIED if its
   * zygote died first.
   */
  readonly exited: Promise<ExitStatus>;
  /** What the sandbox actually enforces for this child. */
  readonly enforcement: Enforcement;
  private readonly zygote: Zygote;
  private readonly requestId: number;
  private fd: number;

  constructor(init: ProcessHandleInit) {
    this.pid = init.pid;
    this.fd = init.pidfd;
    this.stdin = init.stdin;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
    this.zygote = init.zygote;
    this.requestId = init.requestId;
    this.enforcement = init.enforcement;
    const release = (): void => this.releasePidfd();
    this.exited = init.exited.then(
      (status) => {
        release();
        return status;
      },
      (error: unknown) => {
        // Only its zygote's death rejects: once that zygote is reaped, the child may be Node's to reap (src/zygote/adopted.ts).
        this.zygote.adoptWhenReaped(this.fd);
        this.fd = -1;
        throw error;
      },
    );
    // An unobserved rejection (the caller only uses streams) must not crash the process.
    this.exited.catch(() => {});
  }

  /** The pidfd, or -1 once the child has been reaped and the pidfd closed. */
  get pidfd(): number {
    return this.fd;
  }

  /** Same promise as `exited`. */
  wait(): Promise<ExitStatus> {
    return this.exited;
  }

  /**
   * Send a signal to the child itself through its pidfd. Returns false when it
   * has already exited (a no-op: the signal can never reach a recycled pid).
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const signo = checkedSignal(signal);
    if (this.fd < 0) return false;
    const rc = loadBinding().pidfdSendSignal(this.fd, signo);
    if (rc === 0) return true;
    if (rc === -osConstants.errno.ESRCH) return false; // exited, not yet reaped
    throw protocolError(`pidfd_send_signal failed with errno ${-rc}`);
  }

  /** Signal the child's whole process tree through the zygote (process group / pid namespace). */
  killTree(signal: NodeJS.Signals | number = 'SIGKILL', escalate = false): void {
    const signo = checkedSignal(signal);
    this.zygote.signal(this.requestId, signo, escalate ? SignalScope.TreeEscalate : SignalScope.Tree);
  }

  private releasePidfd(): void {
    if (this.fd >= 0) {
      loadBinding().close(this.fd);
      this.fd = -1;
    }
  }
}
