/**
 * createWorkerPool(): warm, sandboxed, single-use Node processes that call an
 * exported function of one module. Workers are hatched by a zygote of the
 * pool's own (never a fork of Node), through the same spawnOn() as run() and
 * spawn(): the sandbox is applied by the zygote child before it execs `node`,
 * so every Node thread is confined from its first instruction. A fresh
 * process per call (reuse: 1) gives fork-per-op isolation with the boot paid
 * ahead of time.
 *
 * The pool schedules (a FIFO queue, `warm` spares, `maxWorkers` busy at
 * once) and decides what each message means; one worker process and its
 * channel are a Worker (src/workers/worker.ts); the options are checked in
 * src/workers/options.ts.
 */
import { HatcheryError, InvalidOptionRangeError, InvalidOptionTypeError, closed, unknownExport, workerBootFailed, workerBootTimeout } from '../errors.js';
import { describe } from '../options/checks.js';
import type { ExitStatus } from '../spawn/process-handle.js';
import { CLOSE_GRACE_MS, Zygote, untilReaped } from '../zygote/zygote.js';
import { Pairer } from './channel.js';
import { WorkerInput } from './input.js';
import { normalizeWorkerPoolOptions, type NormalizedWorkerPoolOptions, type WorkerPoolOptions } from './options.js';
import { MAX_FRAME, MAX_INPUTS, ProtocolViolation, deserializeError, serializeValue, type WorkerMessage } from './protocol.js';
import { ChannelClosed, SendFailed, Worker, WorkerError, type PendingCall, type Violation, type WorkerHost, type WorkerState } from './worker.js';

export { MIN_WORKER_MEMORY_BYTES, MIN_WORKER_PROCESSES, DEFAULT_MAX_REPLY_BYTES, DEFAULT_REPLY_BUDGET_BYTES, type WorkerPoolOptions } from './options.js';
export { STALL_MS, EOF_GRACE_MS, WorkerError } from './worker.js';

const BOOT_FAILURE_STREAK = 3;
/**
 * How long a boot that only refills `warm` waits for the calls in flight to
 * reply, at most, counted from when the pool fell short. Preparing a boot
 * costs the parent a few ms of synchronous work (the sandbox plan, the spawn
 * request) and the new node's boot takes a CPU; started beside a call, it
 * lands where the call's reply arrives and delays it. While calls are queued
 * nothing waits: they need the workers now.
 */
export const REFILL_DEFER_MS = 20;
/** The frame adds the name and a few dozen bytes of framing to a call's arguments; this much is kept free for them. */
const CALL_FRAME_OVERHEAD = 4096;

export interface WorkerPoolStats {
  warm: number;
  maxWorkers: number;
  idle: number;
  booting: number;
  busy: number;
  queued: number;
  /** Worker processes alive (including ones being retired). */
  live: number;
  totals: {
    calls: number;
    succeeded: number;
    /** The function threw or rejected. */
    threw: number;
    crashed: number;
    timedOut: number;
    /** A worker broke the channel protocol (WORKER_PROTOCOL) or sent too much (REPLY_TOO_LARGE), and was killed. */
    protocolErrors: number;
    booted: number;
    bootFailed: number;
  };
  /** Boot to ready (spawn request to the 'ready' frame), ms: the last one and the mean. */
  bootMs: { last: number; mean: number };
}

export class WorkerPool implements WorkerHost {
  /** @internal */
  readonly options: NormalizedWorkerPoolOptions;
  /** Bytes the workers have written that the pool holds (all workers together). */
  private bufferedReplyBytes = 0;
  private readonly workers = new Set<Worker>();
  private readonly queue: PendingCall[] = [];
  private readonly pairer = new Pairer();
  private zygote: Zygote | undefined;
  private zygoteStarting: Promise<Zygote> | undefined;
  private booting = 0;
  private bootFailures = 0;
  private knownExports: Set<string> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly totals = { calls: 0, succeeded: 0, threw: 0, crashed: 0, timedOut: 0, protocolErrors: 0, booted: 0, bootFailed: 0 };
  private bootMsLast = 0;
  private lastBootError: Error | undefined;
  private bootMsSum = 0;
  /** Since when (performance.now()) the pool has been short of spare workers; a refill waits at most REFILL_DEFER_MS from then. */
  private shortSince: number | undefined;
  /** Runs ensureWarm() when a deferred refill may wait no longer (unref'd: it never holds the process). */
  private refillTimer: NodeJS.Timeout | undefined;
  /** A refill asked for after a reply (refillSoon()). */
  private refillImmediate: NodeJS.Immediate | undefined;

  /** @internal use createWorkerPool() */
  constructor(options: WorkerPoolOptions) {
    this.options = normalizeWorkerPoolOptions(options);
    this.ensureWarm();
  }

  private get modulePath(): string {
    return this.options.modulePath;
  }

  /**
   * Call `exportName(...args)` in a warm worker. Arguments and the result are
   * structured-cloned (v8.serialize). A WorkerInput argument (top level only)
   * reaches the worker as an fs.ReadStream over a passed fd.
   */
  call(exportName: string, ...args: unknown[]): Promise<unknown> {
    if (typeof exportName !== 'string' || exportName === '') {
      return Promise.reject(new InvalidOptionTypeError('exportName', `must be a non-empty string, got ${describe(exportName)}`));
    }
    if (this.closed) return Promise.reject(closed('the worker pool'));
    if (this.knownExports && !this.knownExports.has(exportName)) {
      return Promise.reject(unknownExport(this.modulePath, exportName));
    }
    const inputs: WorkerInput[] = [];
    const indexes: number[] = [];
    const plain = args.map((a, i) => {
      if (a instanceof WorkerInput) {
        inputs.push(a);
        indexes.push(i);
        return null;
      }
      return a;
    });
    if (inputs.length > MAX_INPUTS) {
      return Promise.reject(new InvalidOptionRangeError('args', `may hold at most ${MAX_INPUTS} WorkerInput values, got ${inputs.length}`));
    }
    // Nothing queued: dispatch() below hands this call to the idle worker it picks; that worker wakes now.
    if (this.queue.length === 0 && this.busyCount() < this.options.maxWorkers) this.nextIdle()?.wake();
    let serialized: Buffer;
    try {
      serialized = serializeValue(plain);
    } catch (e) {
      return Promise.reject(e);
    }
    // The frame adds the name and a few dozen bytes of framing to the arguments.
    if (serialized.length + Buffer.byteLength(exportName) + CALL_FRAME_OVERHEAD > MAX_FRAME) {
      return Promise.reject(new InvalidOptionRangeError('args', `take ${serialized.length} bytes serialized, more than the ${MAX_FRAME}-byte frame limit allows`));
    }
    this.totals.calls++;
    return new Promise<unknown>((resolve, reject) => {
      this.queue.push({ name: exportName, args: serialized, indexes, inputs, id: 0, resolve, reject, settled: false });
      if (this.bootFailures >= BOOT_FAILURE_STREAK) this.bootFailures = BOOT_FAILURE_STREAK - 1; // one more try
      this.dispatch();
    });
  }

  stats(): WorkerPoolStats {
    let idle = 0;
    let busy = 0;
    for (const w of this.workers) {
      if (w.state === 'idle') idle++;
      else if (w.state === 'busy') busy++;
    }
    return {
      warm: this.options.warm,
      maxWorkers: this.options.maxWorkers,
      idle,
      booting: this.booting,
      busy,
      queued: this.queue.length,
      live: this.workers.size,
      totals: { ...this.totals },
      bootMs: { last: this.bootMsLast, mean: this.totals.booted ? this.bootMsSum / this.totals.booted : 0 },
    };
  }

  /** Wait until `warm` workers are booted and idle (or a boot failed). */
  async ready(timeoutMs = this.options.bootTimeoutMs * 2): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const hold = setInterval(() => {}, 1000);
    try {
      while (this.stats().idle < this.options.warm) {
        if (this.closed) throw closed('the worker pool');
        if (this.bootFailures >= BOOT_FAILURE_STREAK) {
          throw workerBootFailed(this.modulePath, this.lastBootError);
        }
        if (Date.now() > deadline) throw workerBootTimeout(this.modulePath, timeoutMs);
        await new Promise((r) => setTimeout(r, 2));
      }
    } finally {
      clearInterval(hold);
    }
  }

  /** Reject queued calls, kill every worker and the pool's zygote; resolves when all are gone. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.clearRefillTimer();
    if (this.refillImmediate) clearImmediate(this.refillImmediate);
    this.refillImmediate = undefined;
    const error = closed('the worker pool', 'was');
    for (const c of this.queue.splice(0)) this.settle(c, error);
    this.closing = (async () => {
      const hold = setInterval(() => {}, 1000);
      try {
        for (const w of this.workers) {
          if (w.call) this.settle(w.call, error);
          this.retire(w);
        }
        const deadline = Date.now() + 5000;
        while ((this.workers.size > 0 || this.booting > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        await this.zygoteStarting?.catch(() => undefined);
        // A worker is gone once spawnOn has released what was made for it: a host temp dir (where there is
        // no private tmpfs) is emptied through the zygote before its exit is reported.
        const z = this.zygote;
        this.zygote = undefined;
        if (z) {
          z.close();
          // Resolve only once the zygote itself is reaped: its own exit, or its kill CLOSE_GRACE_MS later.
          await untilReaped([z], CLOSE_GRACE_MS + 3000);
        }
        this.pairer.close();
        // Its workers are gone: the runtime copy they read can go too (when no other pool uses it).
        this.options.runtime.release();
      } finally {
        clearInterval(hold);
      }
    })();
    return this.closing;
  }

  // --- internals -----------------------------------------------------------

  /** Reject the call (once). `error` may be any value a worker threw, undefined included. */
  private settle(call: PendingCall, error: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (call.timer) clearTimeout(call.timer);
    call.reject(error);
  }

  private fulfill(call: PendingCall, value: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (call.timer) clearTimeout(call.timer);
    call.resolve(value);
  }

  private busyCount(): number {
    let n = 0;
    for (const w of this.workers) if (w.state === 'busy') n++;
    return n;
  }

  /** The idle worker the next call goes to: one part-way through its `reuse` calls first, so each serves its n calls before a fresh one starts. */
  private nextIdle(): Worker | undefined {
    let worker: Worker | undefined;
    for (const w of this.workers) {
      if (w.state === 'idle' && (!worker || w.served > worker.served)) worker = w;
    }
    return worker;
  }

  private dispatch(): void {
    let busy = this.busyCount();
    while (this.queue.length > 0 && busy < this.options.maxWorkers) {
      const worker = this.nextIdle();
      if (!worker) break;
      const call = this.queue.shift()!;
      if (!worker.exports.has(call.name)) {
        this.settle(call, unknownExport(this.modulePath, call.name));
        continue;
      }
      this.start(worker, call);
      busy++;
    }
    this.updateRefs();
    this.ensureWarm();
  }

  private ensureWarm(): void {
    if (this.closed || this.bootFailures >= BOOT_FAILURE_STREAK) return;
    let idle = 0;
    let busy = 0;
    let live = 0;
    for (const w of this.workers) {
      if (w.state === 'idle') idle++;
      else if (w.state === 'busy') busy++;
      if (!w.gone) live++;
    }
    const waiting = Math.min(this.queue.length, Math.max(0, this.options.maxWorkers - busy));
    let spare = idle + this.booting;
    const want = (this.deferRefill(spare < this.options.warm + waiting, busy) ? 0 : this.options.warm) + waiting;
    live += this.booting - [...this.workers].filter((w) => w.state === 'booting').length;
    while (spare < want && live < this.options.maxWorkers + this.options.warm) {
      spare++;
      live++;
      this.boot();
    }
  }

  /**
   * Whether refilling `warm` waits now: only while calls are in flight and
   * none is queued, and at most REFILL_DEFER_MS from when the pool fell short
   * (a timer then calls ensureWarm() again). Once no call is in flight any
   * more, the refill starts at once.
   */
  private deferRefill(short: boolean, busy: number): boolean {
    if (!short) this.shortSince = undefined;
    else this.shortSince ??= performance.now();
    const wait = short && busy > 0 && this.queue.length === 0 ? this.shortSince! + REFILL_DEFER_MS - performance.now() : 0;
    if (wait <= 0) {
      this.clearRefillTimer();
      return false;
    }
    if (!this.refillTimer) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = undefined;
        this.ensureWarm();
      }, Math.ceil(wait));
      this.refillTimer.unref();
    }
    return true;
  }

  /** ensureWarm() from setImmediate (once, however often asked before it runs). */
  private refillSoon(): void {
    if (this.refillImmediate) return;
    this.refillImmediate = setImmediate(() => {
      this.refillImmediate = undefined;
      this.ensureWarm();
    });
  }

  private clearRefillTimer(): void {
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.refillTimer = undefined;
  }

  private start(worker: Worker, call: PendingCall): void {
    worker.state = 'busy';
    worker.call = call;
    try {
      worker.send(call);
    } catch (e) {
      const failed = e instanceof SendFailed ? e : new SendFailed(e, false);
      worker.call = undefined;
      if (failed.reason instanceof ChannelClosed) {
        // Nothing left: the worker goes, the call waits for another (dispatch's loop or the next one).
        this.retire(worker);
        this.queue.unshift(call);
        return;
      }
      // Fds may sit queued in the worker without their call: it cannot serve another.
      if (failed.fdsSent) this.retire(worker);
      else worker.state = 'idle';
      this.settle(call, failed.reason);
      return;
    }
    const { timeoutMs } = this.options;
    if (timeoutMs !== undefined) {
      call.timer = setTimeout(() => {
        this.totals.timedOut++;
        this.settle(call, new WorkerError('TIMEOUT', `call ${JSON.stringify(call.name)} timed out after ${timeoutMs} ms; the worker's process tree was killed`, undefined, worker.stderrTail));
        this.retire(worker);
      }, timeoutMs);
    }
  }

  // --- what workers tell the pool (WorkerHost) -------------------------------

  /** @internal */
  accountReplyBytes(delta: number): number {
    this.bufferedReplyBytes += delta;
    return this.bufferedReplyBytes;
  }

  /** @internal A worker broke the protocol or its reply limits: reject its call now, kill its tree. */
  onViolation(worker: Worker, v: Violation): void {
    if (worker.gone) return;
    this.totals.protocolErrors++;
    const call = worker.call;
    const doing = call ? `running ${JSON.stringify(call.name)}` : worker.ready ? 'while idle' : 'while booting';
    const error = new WorkerError(v.code, `a worker for ${this.modulePath} ${doing} was killed: ${v.message}`, undefined, worker.stderrTail);
    if (call) this.settle(call, error);
    else if (!worker.ready) worker.bootError = error;
    worker.stopReading();
    this.retire(worker);
  }

  /** @internal A checked message. A message the worker's state does not expect is a violation too. */
  onMessage(worker: Worker, message: WorkerMessage): void {
    switch (message.t) {
      case 'ready': {
        if (worker.state !== 'booting') throw new ProtocolViolation(`a ready frame from a worker that is ${worker.state === 'busy' ? 'running a call' : 'already ready'}`);
        this.uncountBooting(worker);
        this.bootFailures = 0;
        this.totals.booted++;
        this.bootMsLast = performance.now() - worker.bootStarted;
        this.bootMsSum += this.bootMsLast;
        worker.markReady(message.exports);
        this.knownExports = worker.exports;
        this.dispatch();
        return;
      }
      case 'boot-error':
        if (worker.ready) throw new ProtocolViolation('a boot-error frame from a worker that is ready');
        worker.bootError = deserializeError(message.error);
        this.retire(worker);
        return;
      case 'ok':
      case 'err':
      case 'throw': {
        const call = worker.call;
        if (!call || worker.state !== 'busy') throw new ProtocolViolation(`a reply (${message.t}) with no call in flight`);
        if (message.id !== call.id) throw new ProtocolViolation(`a reply for call ${message.id}, not for the call in flight (${call.id})`);
        worker.call = undefined;
        worker.served++;
        if (message.t === 'ok') {
          this.totals.succeeded++;
          this.fulfill(call, message.value);
        } else {
          this.totals.threw++;
          this.settle(call, message.t === 'err' ? deserializeError(message.error) : message.value);
        }
        // A worker that has served its calls takes no more from now on; its tree is killed once the caller's
        // continuation has run (the SIGNAL to the zygote and the wake-up it causes need not come before it).
        if (worker.served >= this.options.reuse || this.closed) this.retire(worker, true);
        else worker.idle();
        // A queued call starts now; a refill alone waits for setImmediate, after the caller's continuation.
        if (this.queue.length > 0) this.dispatch();
        else {
          this.updateRefs();
          this.refillSoon();
        }
        return;
      }
    }
  }

  /**
   * @internal Kill the worker's tree; its exit report cleans up. It is gone at
   * once (no call can reach it); with `afterReply` the kill itself is sent
   * from setImmediate, after the microtasks of the reply just settled.
   */
  retire(worker: Worker, afterReply = false): void {
    if (worker.gone) return;
    this.uncountBooting(worker);
    worker.kill(afterReply);
    this.updateRefs();
  }

  /** A worker counted as booting no longer is (ready, retired, or never started). */
  private uncountBooting(worker: Worker): void {
    if (!worker.countedBooting) return;
    worker.countedBooting = false;
    this.booting--;
  }

  /** Queued calls and calls not yet settled hold the loop, also while their worker is being killed (its exit report settles them). */
  /** @internal */
  holdsLoop(): boolean {
    if (this.closing || this.queue.length > 0) return true;
    for (const w of this.workers) if (w.state === 'busy' || (w.call && !w.call.settled)) return true;
    return false;
  }

  private updateRefs(): void {
    this.zygote?.updateRef();
  }

  private getZygote(): Promise<Zygote> {
    if (this.zygote?.alive) return Promise.resolve(this.zygote);
    if (this.zygoteStarting) return this.zygoteStarting;
    this.zygoteStarting = Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: this.options.bootTimeoutMs }).then(
      (z) => {
        this.zygoteStarting = undefined;
        // Warm idle workers are children in flight for the zygote; each asks holdsLoop() (Worker.start).
        z.onDeath(() => {
          if (this.zygote === z) this.zygote = undefined;
        });
        if (this.closed) {
          z.close();
          throw closed('the worker pool', 'was');
        }
        this.zygote = z;
        return z;
      },
      (e: unknown) => {
        this.zygoteStarting = undefined;
        throw e;
      },
    );
    return this.zygoteStarting;
  }

  private boot(): void {
    this.booting++;
    const started = performance.now();
    let worker: Worker | undefined;
    void (async () => {
      const zygote = await this.getZygote();
      if (this.closed) throw closed('the worker pool', 'was');
      worker = new Worker(this, started);
      this.workers.add(worker);
      await worker.start(zygote, this.pairer);
    })().catch((e: unknown) => {
      if (worker) {
        this.workers.delete(worker);
        this.uncountBooting(worker);
      } else {
        this.booting--;
      }
      this.onBootFailure(e instanceof Error ? e : new Error(String(e)), undefined, '');
    });
  }

  private onBootFailure(cause: Error, exit: ExitStatus | undefined, stderr: string): void {
    this.totals.bootFailed++;
    this.bootFailures++;
    // CLOSED, and what a booting worker sent that broke the protocol, are reported as they are.
    const error =
      cause instanceof HatcheryError && (cause.code === 'CLOSED' || cause.code === 'WORKER_PROTOCOL' || cause.code === 'REPLY_TOO_LARGE')
        ? cause
        : new WorkerError('WORKER_BOOT_FAILED', `a worker for ${this.modulePath} failed to boot: ${cause.message}`, exit, stderr, cause);
    this.lastBootError = error;
    if (this.closed) return;
    // A module that cannot load fails every boot: fail the calls waiting for one rather than spin.
    if (this.bootFailures >= BOOT_FAILURE_STREAK) for (const c of this.queue.splice(0)) this.settle(c, error);
    else {
      const first = this.queue.shift();
      if (first) this.settle(first, error);
    }
    this.ensureWarm();
  }

  /** @internal */
  onExit(worker: Worker, exit: ExitStatus | undefined, cause: Error | undefined, was: WorkerState): void {
    this.workers.delete(worker);
    const ended = exit ? (exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`) : `was lost (${cause?.message ?? 'unknown'})`;
    const how = worker.lost ? `${worker.lost}, so it ${ended}` : ended;
    if (was === 'booting') this.uncountBooting(worker);
    if (!worker.ready) {
      this.onBootFailure(worker.bootError ?? cause ?? new Error(`the worker ${how} before it was ready`), exit, worker.stderrTail);
    } else if (worker.call) {
      const call = worker.call;
      worker.call = undefined;
      if (!call.settled) {
        this.totals.crashed++;
        this.settle(call, new WorkerError('WORKER_CRASHED', `the worker running ${JSON.stringify(call.name)} ${how}`, exit, worker.stderrTail, cause));
      }
    }
    this.updateRefs();
    this.dispatch();
  }
}

export function createWorkerPool(options: WorkerPoolOptions): WorkerPool {
  return new WorkerPool(options);
}

export { WorkerInput };
