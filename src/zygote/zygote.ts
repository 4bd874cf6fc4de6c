/**
 * Node's side of one zygote: start it, handshake, frame requests, dispatch
 * replies, notice its death. One Zygote serves many concurrent children.
 */
import { constants as osConstants } from 'node:os';
import { HatcheryError, protocolError, requestRefused, zygoteDied, zygoteFull, zygoteProtocolError, zygoteUnresponsive } from '../errors.js';
import { spawnTracer, type SpawnTrace } from './trace.js';
import { EAGAIN, WatchEvent, loadBinding, zygotePath, type FdWatcher, type NativeBinding } from '../native/binding.js';
import { isPidfdOfChild, reapIfAdopted } from './adopted.js';
import {
  ErrorCode,
  MAX_CHILDREN,
  MAX_MESSAGE,
  MessageType,
  PROTOCOL_VERSION,
  SpawnFlag,
  ProtocolError,
  decodeMessage,
  encodeHello,
  encodePing,
  encodeSignal,
  encodeSpawn,
  type EncodedSpawn,
  type ExitInfo,
  type IncomingMessage,
  type SignalScope,
  type SpawnPlan,
} from '../protocol/wire.js';

/**
 * The smallest maxMessage a HELLO_OK may report. argv and env go to an args
 * file when they do not fit, but every other record is inline (a default
 * profile's SPAWN is ~2 KiB without them; the seccomp programs alone may reach
 * 2 x 32 KiB): a zygote reporting less is refused at the handshake instead of
 * failing requests one by one.
 */
const MIN_MAX_MESSAGE = 64 * 1024;

const { SIGKILL } = osConstants.signals;
/**
 * How long a closed zygote has to end its children's trees, reap them and its
 * namespace twin, and exit, before it is killed. Killed at once, its children
 * would die by their parent-death signal and be left for the host's init (or
 * Node itself, where Node is a container's pid 1) to reap.
 */
export const CLOSE_GRACE_MS = 1000;
const READABLE = WatchEvent.Readable;
const WRITABLE = WatchEvent.Writable;

/** What a spawn request hears back. Exactly one of failed/died, or spawned then exit/died. */
export interface SpawnCallbacks {
  spawned(pid: number, pidfd: number): void;
  failed(stage: number, errno: number): void;
  exit(info: ExitInfo): void;
  /** The zygote died or broke before this request finished. */
  died(error: HatcheryError): void;
}

interface Pending {
  id: number;
  callbacks: SpawnCallbacks;
  /** Whether it keeps the event loop alive now; without one, always. */
  holdsLoop: (() => boolean) | undefined;
  pid?: number;
  pidfd?: number;
  /** Set while a spawn tracer is (see trace.ts). */
  trace?: SpawnTrace;
}

interface OutgoingMessage {
  data: Buffer;
  fds: number[];
  /** fds to close once sent (or once the zygote is gone). */
  closeAfter: number[];
}

export interface ZygoteOptions {
  /** The zygote exits after this long with no children; 0 = never. */
  idleTimeoutMs: number;
  /** How long the handshake may take. */
  startTimeoutMs: number;
  /** Test aid: run this instead of the zygote executable (a stand-in speaking the protocol on fd 3). */
  command?: { path: string; argv: string[] };
}

export type ZygoteState = 'starting' | 'ready' | 'dead';

export class Zygote {
  readonly pid: number;
  private readonly native: NativeBinding;
  private readonly socket: number;
  private pidfd: number;
  private readonly socketWatcher: FdWatcher;
  private readonly pidfdWatcher: FdWatcher;
  private readonly pending = new Map<number, Pending>();
  private readonly outbox: OutgoingMessage[] = [];
  private readonly pings = new Map<bigint, { resolve: () => void; reject: (e: Error) => void }>();
  private readonly deathListeners = new Set<(error: HatcheryError) => void>();
  private readonly receiveBuffer = Buffer.allocUnsafe(MAX_MESSAGE + 1);
  private nextId = 1;
  private nextPing = 1n;
  private watchingWritable = false;
  /** Armed by close(): the kill of a zygote that did not exit in CLOSE_GRACE_MS. */
  private closeKillTimer: NodeJS.Timeout | undefined;
  /** Its namespace twin's pidfd (TWIN), handed to reapIfAdopted once the zygote has been reaped. */
  private twinPidfd = -1;
  /** Pidfds of children whose operations ended with this zygote's death, for reapIfAdopted once it has been reaped. */
  private readonly orphanPidfds: number[] = [];
  private markReaped: () => void = () => {};
  /** Resolves once this zygote has exited and Node has reaped it. */
  readonly reaped = new Promise<void>((resolve) => (this.markReaped = resolve));
  private ready: Promise<void>;
  state: ZygoteState = 'starting';
  deathReason: HatcheryError | undefined;
  /** The largest datagram this zygote takes, from its HELLO_OK (never more than MAX_MESSAGE). */
  maxMessage = MAX_MESSAGE;
  /** How many children this zygote holds at once, from its HELLO_OK: spawn() never asks for more. */
  maxChildren = MAX_CHILDREN;

  private constructor(options: ZygoteOptions) {
    this.native = loadBinding();
    const command = options.command ?? { path: zygotePath, argv: ['hatchery-zygote'] };
    const proc = this.native.spawnZygote(command.path, command.argv, []);
    this.pid = proc.pid;
    this.pidfd = proc.pidfd;
    this.socket = proc.socket;
    this.socketWatcher = this.native.watch(this.socket, (events, status) => this.onSocketEvent(events, status));
    this.pidfdWatcher = this.native.watch(this.pidfd, () => this.onPidfdReadable());
    this.pidfdWatcher.start(READABLE);
    this.socketWatcher.start(READABLE);
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(zygoteUnresponsive(this.pid, 'answer the handshake', options.startTimeoutMs));
      }, options.startTimeoutMs);
      timer.unref();
      this.onHandshake = (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
    });
    this.updateRef();
    this.enqueue({ data: encodeHello(options.idleTimeoutMs), fds: [], closeAfter: [] });
  }

  private onHandshake: (error?: HatcheryError) => void = () => {};

  /** Start a zygote and wait for its handshake. */
  static async start(options: ZygoteOptions): Promise<Zygote> {
    const z = new Zygote(options);
    await z.ready;
    return z;
  }

  get alive(): boolean {
    return this.state !== 'dead';
  }

  onDeath(listener: (error: HatcheryError) => void): () => void {
    this.deathListeners.add(listener);
    return () => this.deathListeners.delete(listener);
  }

  /**
   * Ask for a child. stdio: the three fds the child gets as 0, 1, 2; they are
   * closed here once the zygote has them (their copies live on in the child).
   * While in flight a request keeps the event loop alive, or, with
   * `holdsLoop`, while that says so (asked at every updateRef()).
   * Returns the request id for signal().
   */
  spawn(
    plan: SpawnPlan,
    stdio: [number, number, number],
    closeAfterSend: number[],
    callbacks: SpawnCallbacks,
    holdsLoop?: () => boolean,
  ): number {
    const refuse = (error: unknown): never => {
      for (const fd of closeAfterSend) this.native.close(fd);
      throw error;
    };
    if (this.state !== 'ready') {
      refuse(this.deathReason ?? zygoteDied(this.pid, 'is not ready'));
    }
    if (this.pending.size >= this.maxChildren) {
      refuse(zygoteFull(this.pid, this.maxChildren));
    }
    const id = this.nextId;
    const tracer = spawnTracer();
    const trace: SpawnTrace | undefined = tracer
      ? { zygotePid: this.pid, requestId: id, node: new Map([['request', process.hrtime.bigint()]]), zygote: new Map() }
      : undefined;
    let encoded: EncodedSpawn;
    try {
      encoded = encodeSpawn(id, trace ? { ...plan, flags: plan.flags | SpawnFlag.Trace } : plan, { maxMessage: this.maxMessage });
    } catch (e) {
      return refuse(e instanceof ProtocolError ? protocolError(e.message, e) : e);
    }
    const fds: number[] = [...stdio];
    let closeAfter = closeAfterSend;
    if (encoded.argsFile) {
      // argv/env past one datagram: a sealed memfd, the SPAWN's 4th fd (protocol.h, HATCH_TAG_ARGS_FD).
      let memfd: number;
      try {
        memfd = this.native.memfdFromBuffer('hatchery-args', encoded.argsFile);
      } catch (e) {
        return refuse(e);
      }
      fds.push(memfd);
      closeAfter = [...closeAfterSend, memfd];
    }
    this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
    this.pending.set(id, trace ? { id, callbacks, holdsLoop, trace } : { id, callbacks, holdsLoop });
    this.updateRef();
    this.enqueue({ data: encoded.message, fds, closeAfter });
    trace?.node.set('sent', process.hrtime.bigint());
    return id;
  }

  private endTrace(p: Pending): void {
    if (!p.trace) return;
    p.trace.node.set('exit', process.hrtime.bigint());
    try {
      spawnTracer()?.(p.trace);
    } catch {
      // a tracer's fault is not the spawn's
    }
  }

  /** Signal a child by request id; the zygote resolves the pid and process group. */
  signal(id: number, signo: number, scope: SignalScope): void {
    if (this.state !== 'ready' || !this.pending.has(id)) return;
    this.enqueue({ data: encodeSignal(id, signo, scope), fds: [], closeAfter: [] });
  }

  /** Round trip a PING; resolves with the latency in ms. */
  ping(): Promise<number> {
    const token = this.nextPing++;
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      if (this.state !== 'ready') {
        reject(this.deathReason ?? zygoteDied(this.pid, 'is not ready'));
        return;
      }
      this.pings.set(token, { resolve: () => resolve(Number(process.hrtime.bigint() - started) / 1e6), reject });
      this.updateRef();
      this.enqueue({ data: encodePing(token), fds: [], closeAfter: [] });
    });
  }

  /**
   * The pidfd of a child whose operation ended with this zygote's death (the
   * caller's copy, now this zygote's to close). Until the zygote has been
   * reaped the child is still its own, and a reap from here would fail
   * (ECHILD) however things end: so it waits for that, then goes to
   * reapIfAdopted.
   */
  adoptWhenReaped(pidfd: number): void {
    if (pidfd < 0) return;
    if (this.pidfd < 0) reapIfAdopted(pidfd);
    else this.orphanPidfds.push(pidfd);
  }

  /** SIGKILL the zygote (its children die by PDEATHSIG) and fail everything in flight. */
  kill(reason: HatcheryError = zygoteDied(this.pid, 'was killed')): void {
    if (this.pidfd >= 0) this.native.pidfdSendSignal(this.pidfd, SIGKILL);
    this.fail(reason);
  }

  /**
   * Close the control socket: the zygote kills its children's trees, reaps
   * them and exits (its end of file). Killed only if it has not exited
   * CLOSE_GRACE_MS later; its exit is reaped when it lands, as any other.
   */
  close(): void {
    this.fail(zygoteDied(this.pid, 'was closed'), 'let it exit');
  }

  /** A request in flight keeps the loop alive unless its holdsLoop says otherwise (at most maxChildren to ask). */
  private holding(): boolean {
    for (const p of this.pending.values()) if (!p.holdsLoop || p.holdsLoop()) return true;
    return false;
  }

  /** Re-evaluate whether this zygote keeps the event loop alive. */
  updateRef(): void {
    const busy = this.pending.size > 0 && this.holding();
    if (this.state !== 'dead' && (this.state === 'starting' || busy || this.pings.size > 0)) {
      this.socketWatcher.ref();
    } else {
      this.socketWatcher.unref();
    }
  }

  private enqueue(message: OutgoingMessage): void {
    this.outbox.push(message);
    this.flush();
  }

  private flush(): void {
    while (this.outbox.length > 0 && this.state !== 'dead') {
      const message = this.outbox[0]!;
      const sent = this.native.sendMessage(this.socket, message.data, message.fds);
      if (sent === -EAGAIN) {
        if (!this.watchingWritable) {
          this.watchingWritable = true;
          this.socketWatcher.start(READABLE | WRITABLE);
        }
        return;
      }
      this.outbox.shift();
      for (const fd of message.closeAfter) this.native.close(fd);
      if (sent < 0) {
        this.fail(zygoteDied(this.pid, `control socket failed (errno ${-sent})`));
        return;
      }
    }
    if (this.watchingWritable && this.state !== 'dead') {
      this.watchingWritable = false;
      this.socketWatcher.start(READABLE);
    }
  }

  private onSocketEvent(events: number, status: number): void {
    if (status < 0) {
      // What the zygote sent before the error is still queued: EXITs of finished operations are delivered first.
      this.drainSocket();
      this.fail(zygoteDied(this.pid, `control socket error (uv status ${status})`));
      return;
    }
    if (events & WRITABLE) this.flush();
    if (events & READABLE) this.drainSocket();
  }

  /**
   * Every queued message, dispatched in order. A zygote that died with
   * requests unread leaves the socket reset: the kernel reports that once
   * (recvmsg throws ECONNRESET), and the messages it sent before are still
   * queued behind the error, then end of file. Never throws.
   */
  private drainSocket(): void {
    let failedReads = 0;
    while (this.state !== 'dead') {
      let got: ReturnType<typeof this.native.receiveMessage>;
      try {
        got = this.native.receiveMessage(this.socket, this.receiveBuffer);
      } catch (e) {
        if (++failedReads < 2) continue;
        this.fail(zygoteDied(this.pid, `control socket failed (${(e as Error).message})`));
        return;
      }
      failedReads = 0;
      if (got === null) return;
      if (got.eof) {
        this.fail(zygoteDied(this.pid, 'exited'));
        return;
      }
      let message: IncomingMessage;
      try {
        if (got.truncated) throw new ProtocolError(`datagram of ${got.length} bytes was truncated`);
        message = decodeMessage(this.receiveBuffer.subarray(0, got.length), got.fds.length);
      } catch (e) {
        for (const fd of got.fds) this.native.close(fd);
        const error = zygoteProtocolError(this.pid, `sent a malformed message: ${(e as Error).message}`, e);
        this.kill(error);
        return;
      }
      this.dispatch(message, got.fds);
    }
  }

  private dispatch(message: IncomingMessage, fds: number[]): void {
    if (message.type === MessageType.HelloOk) {
      if (this.state !== 'starting' || message.version !== PROTOCOL_VERSION) {
        this.kill(zygoteProtocolError(this.pid, `sent an unexpected handshake (version ${message.version})`));
        return;
      }
      if (message.maxMessage < MIN_MAX_MESSAGE || message.maxChildren < 1) {
        this.kill(zygoteProtocolError(this.pid, `reported unusable limits (maxMessage ${message.maxMessage}, maxChildren ${message.maxChildren})`));
        return;
      }
      // Its limits, never past this side's own: requests are framed and counted against them.
      this.maxMessage = Math.min(message.maxMessage, MAX_MESSAGE);
      this.maxChildren = Math.min(message.maxChildren, MAX_CHILDREN);
      this.state = 'ready';
      this.updateRef();
      this.onHandshake();
      return;
    }
    if (this.state === 'starting') {
      for (const fd of fds) this.native.close(fd);
      this.kill(zygoteProtocolError(this.pid, 'spoke before its handshake'));
      return;
    }
    if (message.type === MessageType.Twin) {
      if (this.twinPidfd >= 0 || !isPidfdOfChild(fds[0]!, message.pid, this.pid)) {
        this.native.close(fds[0]!);
        const what = this.twinPidfd >= 0 ? 'a second namespace twin' : `a namespace twin (pid ${message.pid}) whose pidfd is not of its child`;
        this.kill(zygoteProtocolError(this.pid, `reported ${what}`));
        return;
      }
      this.twinPidfd = fds[0]!;
      return;
    }
    if (message.type === MessageType.Pong) {
      const done = this.pings.get(message.token);
      this.pings.delete(message.token);
      this.updateRef();
      done?.resolve();
      return;
    }
    if (message.type === MessageType.Error) {
      // A refused SIGNAL for a child that already finished is harmless.
      if (message.code === ErrorCode.NoSuchChild) return;
      const error = requestRefused(this.pid, message.id, message.message, message.code);
      const p = this.pending.get(message.id);
      if (p && p.pid === undefined) {
        this.pending.delete(message.id);
        this.updateRef();
        p.callbacks.died(error);
      }
      // A refusal of nothing we are waiting for changes nothing: the zygote kept serving.
      return;
    }
    const p = this.pending.get(message.id);
    if (!p) {
      for (const fd of fds) this.native.close(fd);
      this.kill(zygoteProtocolError(this.pid, `answered unknown request ${message.id}`));
      return;
    }
    switch (message.type) {
      case MessageType.Spawned:
        if (p.pid !== undefined) {
          for (const fd of fds) this.native.close(fd);
          this.kill(zygoteProtocolError(this.pid, `reported request ${p.id} spawned twice`));
          return;
        }
        p.pid = message.pid;
        p.pidfd = fds[0]!;
        p.trace?.node.set('spawned', process.hrtime.bigint());
        p.callbacks.spawned(message.pid, fds[0]!);
        return;
      case MessageType.Trace:
        if (p.trace) p.trace.zygote = message.events;
        return;
      case MessageType.SpawnFailed:
        this.pending.delete(p.id);
        this.updateRef();
        this.endTrace(p);
        p.callbacks.failed(message.stage, message.errno);
        return;
      case MessageType.Exit:
        this.pending.delete(p.id);
        this.updateRef();
        this.endTrace(p);
        p.callbacks.exit(message.exit);
        return;
    }
  }

  /** The zygote has exited: reap it (no zombie), release its pidfd, fail what is left. */
  private onPidfdReadable(): void {
    let reaped = true;
    try {
      reaped = this.native.reapPidfd(this.pidfd) !== null;
    } catch {
      // ECHILD: already reaped
    }
    if (!reaped) return;
    clearTimeout(this.closeKillTimer);
    this.pidfdWatcher.close();
    this.native.close(this.pidfd);
    this.pidfd = -1;
    // Replies it sent before it died are still queued on the socket: they are delivered, not lost.
    this.drainSocket();
    this.fail(zygoteDied(this.pid, 'exited'));
    // Only now are its children no longer its own: those it had not reaped may be Node's (src/zygote/adopted.ts).
    reapIfAdopted(this.twinPidfd);
    this.twinPidfd = -1;
    for (const fd of this.orphanPidfds.splice(0)) reapIfAdopted(fd);
    this.markReaped();
  }

  /** Mark dead once: release OS resources and tell everyone still waiting. The zygote is killed now, or after CLOSE_GRACE_MS if asked to exit. */
  private fail(error: HatcheryError, exit: 'kill now' | 'let it exit' = 'kill now'): void {
    if (this.state === 'dead') return;
    const wasStarting = this.state === 'starting';
    this.state = 'dead';
    this.deathReason = error;
    this.socketWatcher.close();
    this.native.close(this.socket);
    for (const m of this.outbox.splice(0)) for (const fd of m.closeAfter) this.native.close(fd);
    // Make sure it is gone; the pidfd watcher reaps it when the exit lands.
    if (this.pidfd >= 0 && exit === 'kill now') this.native.pidfdSendSignal(this.pidfd, SIGKILL);
    if (this.pidfd >= 0 && exit === 'let it exit') {
      this.closeKillTimer = setTimeout(() => {
        if (this.pidfd >= 0) this.native.pidfdSendSignal(this.pidfd, SIGKILL);
      }, CLOSE_GRACE_MS);
      this.closeKillTimer.unref();
    }
    if (wasStarting) this.onHandshake(error);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.callbacks.died(error);
    for (const done of this.pings.values()) done.reject(error);
    this.pings.clear();
    for (const l of this.deathListeners) l(error);
    this.deathListeners.clear();
  }
}

/**
 * Until every one of `zygotes` has been reaped (Zygote.reaped), or `ms` have
 * passed. A timer holds the event loop meanwhile: a zygote's own watchers
 * never do.
 */
export async function untilReaped(zygotes: Iterable<Zygote>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all([...zygotes].map((z) => z.reaped)), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
