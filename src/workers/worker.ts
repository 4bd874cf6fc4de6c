/**
 * One warm worker process: `node` running the bootstrap, hatched through the
 * same spawnOn() as run() and spawn() with its channel (one end of a
 * socketpair) as fd 0. It owns the process and the channel's bytes: frames
 * are read whole and checked (src/workers/protocol.ts), a stalled or closed
 * channel retires it. What the messages mean, and which call it serves, is
 * its pool's business (src/workers/pool.ts), told through WorkerHost.
 */
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { HatcheryError } from '../errors.js';
import { loadBinding } from '../native/binding.js';
import type { ExitStatus, ProcessHandle } from '../spawn/process-handle.js';
import { forwardOutput } from '../spawn/forward-output.js';
import { spawnOn } from '../spawn/spawn.js';
import type { Zygote } from '../zygote/zygote.js';
import type { Pairer } from './channel.js';
import { socketFd } from './channel.js';
import type { WorkerInput } from './input.js';
import type { OpenedInput } from './input.js';
import type { NormalizedWorkerPoolOptions } from './options.js';
import {
  FDS_PER_FRAME,
  FD_FRAME,
  FrameReader,
  MAX_FRAME,
  ProtocolViolation,
  deserializeOwned,
  encodeFrame,
  parseWorkerMessage,
  type CallMessage,
  type WorkerMessage,
} from './protocol.js';

const STDERR_TAIL_BYTES = 8192;
/** A frame begun and not continued for this long means the worker is stuck or hostile: it is killed. */
export const STALL_MS = 5000;
/** A worker that closed its channel gets this long to exit by itself (so its exit status is reported) before it is killed. */
export const EOF_GRACE_MS = 2000;
/** How long a finished worker's output pipes may take to deliver the stderr tail. */
const OUTPUT_DRAIN_MS = 200;

/** A worker that died mid-call or failed to boot. */
export class WorkerError extends HatcheryError {
  /** How the worker ended, when it did. */
  readonly exit: ExitStatus | undefined;
  /** The last bytes the worker wrote to stderr. */
  readonly stderr: string;
  constructor(
    code: 'WORKER_CRASHED' | 'WORKER_BOOT_FAILED' | 'TIMEOUT' | 'WORKER_PROTOCOL' | 'REPLY_TOO_LARGE',
    message: string,
    exit: ExitStatus | undefined,
    stderr: string,
    cause?: unknown,
  ) {
    super(code, stderr ? `${message}\n--- worker stderr (tail) ---\n${stderr.trimEnd()}` : message, cause === undefined ? {} : { cause });
    this.exit = exit;
    this.stderr = stderr;
  }
}

/** Why a worker is being retired for what it sent. */
export class Violation extends Error {
  constructor(
    readonly code: 'WORKER_PROTOCOL' | 'REPLY_TOO_LARGE',
    message: string,
  ) {
    super(message);
  }
}

export interface PendingCall {
  name: string;
  /** The serialized arguments (WorkerInput ones as null). */
  args: Buffer;
  /** Which arguments are inputs. */
  indexes: number[];
  inputs: WorkerInput[];
  /** The id the worker's reply must carry, once started. */
  id: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  settled: boolean;
  timer?: NodeJS.Timeout;
}

export type WorkerState = 'booting' | 'idle' | 'busy' | 'retiring' | 'dead';

/** What a Worker asks of, and tells, its pool. */
export interface WorkerHost {
  readonly options: NormalizedWorkerPoolOptions;
  /** The pool's reply budget: add `delta` buffered bytes, get the pool's new total. */
  accountReplyBytes(delta: number): number;
  /** Whether this worker's request keeps the event loop alive now (see Zygote.spawn). */
  holdsLoop(): boolean;
  /** A checked message. Throws ProtocolViolation when the worker's state does not expect it. */
  onMessage(worker: Worker, message: WorkerMessage): void;
  /** The worker broke the protocol or its reply limits. */
  onViolation(worker: Worker, v: Violation): void;
  /** Kill the worker (booting bookkeeping is the pool's). */
  retire(worker: Worker): void;
  /** The worker's process is gone (`exit`), or was lost with its zygote (`cause`); `was` its state before. */
  onExit(worker: Worker, exit: ExitStatus | undefined, cause: Error | undefined, was: WorkerState): void;
}

export class Worker {
  state: WorkerState = 'booting';
  pid = -1;
  exports = new Set<string>();
  /** Calls served. */
  served = 0;
  call: PendingCall | undefined;
  /** Why it failed to boot, once known. */
  bootError: Error | undefined;
  /** Sent its 'ready' frame: a death before that is a boot failure. */
  ready = false;
  /** Counted in its pool's booting workers (until ready, retired or failed). */
  countedBooting = true;
  /** Why its channel broke, when the parent ended it for that (a stalled frame, a closed channel). */
  lost: string | undefined;
  stderrTail = '';
  readonly bootStarted: number;
  private handle: ProcessHandle | undefined;
  private channel: Socket | undefined;
  private channelFd = -1;
  /** What the worker has written and the parent not yet taken. */
  private readonly reader = new FrameReader();
  /** reader.buffered as last counted into the pool's reply budget. */
  private accounted = 0;
  /** The id of the last call sent to it. */
  private lastId = 0;
  /** The call in flight has had its empty frame (protocol.ts): a second one is a violation. */
  private callAcknowledged = false;
  private stallTimer: NodeJS.Timeout | undefined;
  private eofTimer: NodeJS.Timeout | undefined;
  private bootTimer: NodeJS.Timeout | undefined;
  private output: Socket[] = [];

  constructor(
    private readonly host: WorkerHost,
    bootStarted: number,
  ) {
    this.bootStarted = bootStarted;
  }

  /** Retiring or dead. */
  get gone(): boolean {
    return this.state === 'retiring' || this.state === 'dead';
  }

  /**
   * Pair a channel and hatch the process on `zygote` through spawnOn.
   * Resolves once it runs; rejects (having undone everything) if it never
   * started. Its exit is reported to the host.
   */
  async start(zygote: Zygote, pairer: Pairer): Promise<void> {
    const { options } = this.host;
    const pair = await pairer.pair();
    const channel = pair.parent;
    this.channel = channel;
    this.channelFd = socketFd(channel);
    // An empty frame (no fds: the worker skips it) is waiting when the worker rehearses its read path, so its
    // first recvmsg with bytes, and the result the addon builds for it, is not part of the first call.
    channel.write(FD_FRAME);
    channel.unref();
    channel.on('error', () => {});
    channel.on('data', (chunk: Buffer) => this.onChannelData(chunk));
    // EOF, or a reset (the worker closed with our call frame unread): either way it cannot reply.
    channel.on('end', () => this.onChannelEnd());
    channel.on('close', () => this.onChannelEnd());
    this.bootTimer = setTimeout(() => {
      this.bootTimer = undefined;
      if (this.state === 'booting') {
        this.bootError = new Error(`did not become ready within ${options.bootTimeoutMs} ms`);
        this.host.retire(this);
      }
    }, options.bootTimeoutMs);
    this.bootTimer.unref();

    const args = [...options.nodeArgs, options.runtime.bootstrap, options.runtime.addon, pathToFileURL(options.modulePath).href];
    let handle: ProcessHandle;
    try {
      const spawned = await spawnOn(
        zygote,
        process.execPath,
        args,
        { ...options.spawnOptions, stdio: [{ fd: pair.childFd }, options.output === 'ignore' ? 'ignore' : 'pipe', 'pipe'] },
        { holdsLoop: () => this.host.holdsLoop() },
      );
      handle = spawned.handle;
    } catch (e) {
      // It never started: undo everything made for it.
      this.state = 'dead';
      this.clearTimers();
      this.dropBuffered();
      channel.destroy();
      throw e;
    } finally {
      // The zygote holds its copy (or never will).
      pair.child.destroy();
    }
    this.handle = handle;
    this.pid = handle.pid;
    this.watchOutput(handle);
    // Retired while it was being hatched (boot timeout, a closed pool): kill it now.
    if (this.state === 'retiring') handle.killTree('SIGKILL');
    handle.exited.then(
      (exit) => void this.finish(exit, undefined),
      (e: unknown) => void this.finish(undefined, e instanceof Error ? e : new Error(String(e))),
    );
  }

  private watchOutput(handle: ProcessHandle): void {
    const streams: Readable[] = [];
    if (handle.stdout) {
      const out = handle.stdout;
      out.on('data', (chunk: Buffer) => forwardOutput(out, chunk, process.stdout));
      streams.push(out);
    }
    if (handle.stderr) {
      const err = handle.stderr;
      err.on('data', (chunk: Buffer) => {
        if (this.host.options.output === 'inherit') forwardOutput(err, chunk, process.stderr);
        this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
      });
      streams.push(err);
    }
    for (const s of streams) {
      s.on('error', () => {});
      // The workers' output never keeps the process alive.
      if (s instanceof Socket) {
        s.unref();
        this.output.push(s);
      }
    }
  }

  /** Kill the worker's whole tree; its exit report cleans up. It is retiring at once; `soon` sends the kill from setImmediate. */
  kill(soon = false): void {
    this.state = 'retiring';
    if (soon) setImmediate(() => this.handle?.killTree('SIGKILL'));
    else this.handle?.killTree('SIGKILL');
  }

  /** Send `call` (its input fds first). Throws when it could not be sent; `fdsSent` says whether fds may sit queued in the worker. */
  send(call: PendingCall): void {
    const native = loadBinding();
    if (!this.channelOpen()) throw new SendFailed(new ChannelClosed(), false);
    call.id = ++this.lastId;
    this.callAcknowledged = false;
    const opened: OpenedInput[] = [];
    let frame: Buffer;
    try {
      frame = encodeFrame({ t: 'call', id: call.id, name: call.name, args: call.args, inputs: call.indexes } satisfies CallMessage);
      for (const input of call.inputs) opened.push(input.open());
      for (let i = 0; i < opened.length; i += FDS_PER_FRAME) {
        const fds = opened.slice(i, i + FDS_PER_FRAME).map((o) => o.fd);
        // The channel is idle (the worker has read all earlier frames), so a 4-byte sendmsg goes through whole.
        const sent = native.sendMessage(this.channelFd, FD_FRAME, fds);
        if (sent !== FD_FRAME.length) {
          throw new WorkerError('WORKER_CRASHED', `passing input fds to the worker failed (${sent < 0 ? `errno ${-sent}` : `${sent} bytes`})`, undefined, this.stderrTail);
        }
      }
    } catch (e) {
      for (const o of opened) o.release();
      throw new SendFailed(e, opened.length > 0);
    }
    for (const o of opened) o.release();
    const channel = this.channel;
    if (!channel) return;
    channel.ref();
    // With nothing queued on the stream, the frame goes out with one sendmsg here (a call frame is small:
    // usually all of it), skipping the stream's write machinery; what did not fit, or any error, takes the
    // stream's path, which reports errors as before.
    let sent = 0;
    if (channel.writableLength === 0 && !channel.destroyed) sent = Math.max(0, native.sendMessage(this.channelFd, frame, []));
    if (sent < frame.length) channel.write(sent > 0 ? frame.subarray(sent) : frame);
  }

  /**
   * A call is about to be sent (its arguments not yet encoded): an empty
   * frame goes ahead of it, which the worker reads and skips as it skips the
   * one it rehearses with. Called 150 ms after its last call, a worker's CPU
   * is idle and the first wake-up costs most (docs/performance.md, §22): this
   * one now runs while the parent encodes the call. Only on an idle channel
   * with nothing queued, so it can never split a frame; nothing is thrown.
   */
  wake(): void {
    if (this.state !== 'idle' || !this.channelOpen() || this.channel!.writableLength !== 0) return;
    loadBinding().sendMessage(this.channelFd, FD_FRAME, []);
  }

  /** Whether anything may be written on the channel: a closed channel's fd number may already be someone else's socket. */
  private channelOpen(): boolean {
    return this.channelFd >= 0 && this.channel !== undefined && !this.channel.destroyed;
  }

  /** Idle: its channel no longer keeps the process alive. */
  idle(): void {
    this.state = 'idle';
    this.channel?.unref();
  }

  /** Stop reading what it sends (it is being killed for it). */
  stopReading(): void {
    this.dropBuffered();
    this.channel?.pause();
  }

  /**
   * Bytes from a worker: hostile until checked. Frames are taken whole, sizes
   * checked from the header before the body is buffered, every message
   * checked field by field; anything wrong retires the worker and rejects its
   * call with a typed error. Nothing here may throw into the event loop.
   */
  private onChannelData(chunk: Buffer): void {
    if (this.gone) return; // being killed: its bytes no longer matter
    if (this.state === 'idle') {
      // Nothing is asked of an idle worker: whatever it sends is out of turn (and would sit in the reply budget).
      this.host.onViolation(this, new Violation('WORKER_PROTOCOL', `sent ${chunk.length} bytes while idle`));
      return;
    }
    const { maxReplyBytes, replyBudgetBytes } = this.host.options;
    const reader = this.reader;
    reader.push(chunk);
    try {
      for (;;) {
        const size = reader.peekSize();
        if (size === undefined) break;
        if (size > MAX_FRAME) throw new Violation('WORKER_PROTOCOL', `a frame header announced ${size} bytes (the protocol allows ${MAX_FRAME})`);
        if (size > maxReplyBytes) {
          throw new Violation('REPLY_TOO_LARGE', `the worker's reply is ${size} bytes, more than maxReplyBytes (${maxReplyBytes})`);
        }
        const payload = reader.nextPayload();
        if (payload === undefined) break;
        if (payload === null) {
          // The one empty frame a call may get, ahead of its reply (protocol.ts); any other is out of turn.
          if (this.state !== 'busy' || this.call === undefined || this.callAcknowledged) {
            throw new Violation('WORKER_PROTOCOL', 'an empty frame out of turn (a worker sends one per call, before its reply, and never fds)');
          }
          this.callAcknowledged = true;
          continue;
        }
        let decoded: unknown;
        try {
          decoded = deserializeOwned(payload);
        } catch (e) {
          throw new Violation('WORKER_PROTOCOL', `a frame of ${size} bytes that does not deserialize (${e instanceof Error ? e.message : 'unknown error'})`);
        }
        this.account();
        this.host.onMessage(this, parseWorkerMessage(decoded));
        if (this.gone) {
          this.dropBuffered();
          return;
        }
      }
      const buffered = this.account();
      if (buffered > replyBudgetBytes) {
        throw new Violation(
          'REPLY_TOO_LARGE',
          `replies buffered across the pool's workers reached ${buffered} bytes, more than replyBudgetBytes (${replyBudgetBytes}); this worker's ${reader.buffered} were dropped`,
        );
      }
      this.watchStall();
    } catch (e) {
      const v =
        e instanceof Violation ? e : e instanceof ProtocolViolation ? new Violation('WORKER_PROTOCOL', e.message) : new Violation('WORKER_PROTOCOL', `its frame could not be handled (${String(e)})`);
      if (!this.gone) this.host.onViolation(this, v);
    }
  }

  /** Count the buffered bytes into the pool's reply budget; returns the pool's total. */
  private account(): number {
    const now = this.reader.buffered;
    const total = this.host.accountReplyBytes(now - this.accounted);
    this.accounted = now;
    return total;
  }

  private dropBuffered(): void {
    this.reader.clear();
    this.account();
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  /** A frame begun must keep coming: no progress for STALL_MS and the worker is killed. */
  private watchStall(): void {
    if (this.reader.buffered === 0) {
      if (this.stallTimer) clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
      return;
    }
    if (this.stallTimer) {
      this.stallTimer.refresh();
      return;
    }
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (this.gone) return;
      const size = this.reader.peekSize();
      this.lost = `sent ${this.reader.buffered} bytes of a ${size === undefined ? 'frame' : `${size}-byte frame`} and then nothing for ${STALL_MS} ms`;
      if (!this.ready) this.bootError ??= new Error(`the worker ${this.lost}`);
      this.dropBuffered();
      this.host.retire(this);
    }, STALL_MS);
    this.stallTimer.unref();
  }

  /** The worker's end of the channel closed: it can never reply. Give it a moment to exit on its own (a crash), then kill it. */
  private onChannelEnd(): void {
    // The fd number is free for reuse from here: never send on it again.
    this.channelFd = -1;
    if (this.gone || this.eofTimer) return;
    const partial = this.reader.buffered > 0;
    this.dropBuffered();
    if (this.state === 'idle') {
      // No call to report to: out of rotation at once, so no call is handed to a worker that cannot take it.
      this.lost = 'closed its channel while idle';
      this.host.retire(this);
      return;
    }
    this.eofTimer = setTimeout(() => {
      if (this.gone) return;
      this.lost = `closed its channel${partial ? ' in the middle of a frame' : ''} without exiting`;
      if (!this.ready) this.bootError ??= new Error(`the worker ${this.lost}`);
      this.host.retire(this);
    }, EOF_GRACE_MS);
    this.eofTimer.unref();
  }

  private clearTimers(): void {
    if (this.bootTimer) clearTimeout(this.bootTimer);
    if (this.eofTimer) clearTimeout(this.eofTimer);
    this.bootTimer = undefined;
    this.eofTimer = undefined;
  }

  /** Ready: it sent its exports. */
  markReady(exports: readonly string[]): void {
    this.ready = true;
    this.exports = new Set(exports);
    this.idle();
  }

  /** The process is gone (spawnOn released what was made for it): close what is left, then tell the host. */
  private async finish(exit: ExitStatus | undefined, cause: Error | undefined): Promise<void> {
    this.clearTimers();
    const was = this.state;
    this.state = 'dead';
    this.dropBuffered();
    // The pipes hit EOF when the tree is gone; wait briefly for the stderr tail.
    const closed = this.output.map((s) => (s.closed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r()))));
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, OUTPUT_DRAIN_MS).unref())]);
    for (const s of this.output) s.destroy();
    this.channel?.destroy();
    this.host.onExit(this, exit, cause, was);
  }
}

/** Worker.send() found the channel closed: the call never left, and may go to another worker. */
export class ChannelClosed extends Error {
  constructor() {
    super("the worker's channel is closed");
  }
}

/** Worker.send() could not send its call. */
export class SendFailed extends Error {
  constructor(
    readonly reason: unknown,
    /** Input fds went out before the failure: they may sit queued in the worker, which cannot serve another call. */
    readonly fdsSent: boolean,
  ) {
    super(reason instanceof Error ? reason.message : String(reason));
  }
}
