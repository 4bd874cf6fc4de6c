/**
 * A pool of zygotes behind one concurrency cap and one FIFO queue.
 *
 * - Placement: the least-loaded live zygote of the current generation. When
 *   every one has `busyThreshold` children in flight, another is started in
 *   the background (the call itself goes to the least-loaded one at once).
 * - Growth never forks Node: Zygote.start() uses the addon's
 *   clone(CLONE_VM|CLONE_VFORK) + exec, whose cost does not depend on Node's
 *   heap (the design brief: posix_spawn stays ~0.5 ms at any caller RSS,
 *   where a fork of a 1 GB Node costs 40 ms). A whole Zygote.start() -
 *   vfork-clone, exec, handshake - measured 1.1 ms p50 / 1.6 ms p90
 *   (bench/pool.ts zygoteStart), paid once per growth and off the call's
 *   path (the call goes to a busy zygote meanwhile). Forking new zygotes
 *   from an existing one could save only part of that millisecond, so it is
 *   not done: it would add a protocol verb and a second way to make zygotes.
 * - Shrink: zygotes above minZygotes close after idleTimeoutMs without
 *   children (unref'd timers); minZygotes are started at once and restarted
 *   when they die (with backoff when starting fails).
 * - Generations: reconfigure() retires every zygote; their running children
 *   finish there, then they close. Nothing new is placed on a retired zygote.
 * - Health: a dead zygote fails exactly its own operations (ZYGOTE_DIED,
 *   from spawnOn). A stopped one is caught by the per-operation deadline in
 *   spawnOn or by the heartbeat (PING with a deadline) and killed.
 */
import { EventEmitter } from 'node:events';
import { HatcheryError, aborted, closed, noZygote, queueFull, queueTimeout, zygoteDied, zygoteUnresponsive } from '../errors.js';
import { integerOption, isPlainObject } from '../options/checks.js';
import { narrowLimits } from '../options/limits.js';
import {
  normalizeSpawnOptions,
  validateCommand,
  validateExecSize,
  type NormalizedSpawnOptions,
  type OptionsNormalizer,
  type SpawnOptions,
} from '../options/spawn-options.js';
import type { ProcessHandle } from '../spawn/process-handle.js';
import { collectRun, prepareRun, type Result, type RunBufferOptions, type RunOptions } from '../spawn/run.js';
import { spawnOn, type InternalSpawn, type SpawnOnExtras } from '../spawn/spawn.js';
import { Zygote, untilReaped } from '../zygote/zygote.js';
import { publishExit, publishQueue, publishSpawn, publishZygote } from './events.js';
import { narrowSandbox } from './narrow.js';
import { normalizePoolOptions, normalizeReconfigure, type NormalizedDefaults, type NormalizedPoolOptions, type PoolDefaults, type PoolOptions } from './options.js';

export interface PoolZygoteStats {
  pid: number;
  generation: number;
  /** Operations placed on it: starting or running children. */
  children: number;
  /** 'retired': an older generation finishing its last children. */
  state: 'ready' | 'retired';
}

export interface PoolStats {
  /** The current generation (bumped by reconfigure()). */
  generation: number;
  zygotes: PoolZygoteStats[];
  /** Zygotes being started. */
  starting: number;
  /** Zygotes with children in flight. */
  busy: number;
  /** Zygotes with none. */
  idle: number;
  /** Calls waiting for a slot. */
  queued: number;
  /** Calls holding a slot (starting or running); never above maxConcurrency. */
  active: number;
  /** Children exec'd and not yet reaped. */
  childrenAlive: number;
  totals: {
    /** Children exec'd. */
    started: number;
    /** Calls that got a slot but no exit status: setup/exec failures, dead zygotes. */
    failed: number;
    /** Children ended by their timeoutMs. */
    timedOut: number;
    /** Calls refused before running: QUEUE_FULL, QUEUE_TIMEOUT, ABORTED in the queue, CLOSED. */
    rejected: number;
  };
}

export interface CloseOptions {
  /** How long running children may take to finish before their trees are killed. Default 5000. */
  graceMs?: number;
}

interface ZygoteEntry {
  zygote: Zygote;
  generation: number;
  /** Operations placed here and not finished. */
  inFlight: number;
  retired: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  pinging: boolean;
}

interface Starting {
  generation: number;
  promise: Promise<ZygoteEntry>;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Operation {
  /** Where it was placed; undefined while it waits for a zygote. */
  entry: ZygoteEntry | undefined;
  handle: ProcessHandle | undefined;
  done: Promise<void>;
  finish(): void;
}

interface Launchable {
  cmd: { file: string; args: string[] };
  normalized: NormalizedSpawnOptions;
}

const ZYGOTE_GONE_WAIT_MS = 5000;
const KILL_SETTLE_MS = 2000;
const MAX_RESTART_BACKOFF_MS = 5000;

export class Pool extends EventEmitter {
  readonly #options: NormalizedPoolOptions;
  /** The default pool takes each call's sandbox and limits as given (no ceiling). */
  readonly #unconstrained: boolean;
  #defaults: NormalizedDefaults;
  #generation = 0;
  readonly #entries = new Set<ZygoteEntry>();
  readonly #starting = new Set<Starting>();
  readonly #queue = new Set<Waiter>();
  readonly #ops = new Set<Operation>();
  /** Every zygote this pool started that has not been reaped yet (close() waits for them). */
  readonly #unreaped = new Set<Zygote>();
  #active = 0;
  #children = 0;
  readonly #totals = { started: 0, failed: 0, timedOut: 0, rejected: 0 };
  #closing: Promise<void> | undefined;
  #killing = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #startFailures = 0;
  #restartTimer: NodeJS.Timeout | undefined;

  /** @internal Use createPool(). */
  constructor(options: NormalizedPoolOptions, unconstrained = false) {
    super();
    this.#options = options;
    this.#defaults = options.defaults;
    this.#unconstrained = unconstrained;
    this.#ensureMin();
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Like the top-level spawn(), on this pool, within its sandbox and limits. */
  async spawn(file: string, args: readonly string[] = [], options: SpawnOptions = {}): Promise<ProcessHandle> {
    const { spawned } = await this.#launch((normalize) => ({
      cmd: validateCommand(file, args),
      normalized: normalize(options, [], ['pipe', 'pipe', 'pipe']),
    }));
    return spawned.handle;
  }

  run(file: string, args?: readonly string[], options?: RunOptions): Promise<Result<string>>;
  run(file: string, args: readonly string[] | undefined, options: RunBufferOptions): Promise<Result<Buffer>>;
  run(file: string, args?: readonly string[], options?: RunOptions | RunBufferOptions): Promise<Result<string | Buffer>>;
  /** Like the top-level run(), on this pool, within its sandbox and limits. */
  async run(file: string, args: readonly string[] = [], options: RunOptions | RunBufferOptions = {}): Promise<Result<string | Buffer>> {
    const { prepared, spawned } = await this.#launch((normalize) => prepareRun(file, args, options, normalize), { rawOutput: true });
    return collectRun(spawned, prepared);
  }

  /**
   * Replace the sandbox/limits defaults and retire the current generation of
   * zygotes: running children finish on them, then they exit; every later
   * operation (including calls already queued) runs on a new generation
   * under the new defaults.
   */
  reconfigure(defaults: PoolDefaults): void {
    const next = normalizeReconfigure(defaults);
    if (this.#closing) throw closed('the pool');
    this.#defaults = next;
    this.#generation++;
    for (const entry of [...this.#entries]) {
      if (entry.retired) continue;
      entry.retired = true;
      this.#clearIdle(entry);
      publishZygote(() => ({ event: 'retire', pid: entry.zygote.pid, generation: entry.generation }));
      if (entry.inFlight === 0) entry.zygote.close();
    }
    this.#startFailures = 0;
    this.#ensureMin();
  }

  /**
   * Stop accepting work (later calls reject with CLOSED, queued ones at
   * once), give running children graceMs to finish, then SIGKILL their
   * trees. Resolves when every child and zygote process of the pool is gone.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (!isPlainObject(options)) return Promise.reject(new TypeError('options must be an object'));
    let graceMs: number;
    try {
      graceMs = integerOption(options.graceMs, 'graceMs', { min: 0, max: 2 ** 31 - 1 }) ?? 5000;
    } catch (e) {
      return Promise.reject(e);
    }
    this.#closing ??= this.#shutdown(graceMs);
    return this.#closing;
  }

  stats(): PoolStats {
    const zygotes = [...this.#entries].map((e) => ({
      pid: e.zygote.pid,
      generation: e.generation,
      children: e.inFlight,
      state: e.retired ? ('retired' as const) : ('ready' as const),
    }));
    const busy = zygotes.filter((z) => z.children > 0).length;
    return {
      generation: this.#generation,
      zygotes,
      starting: this.#starting.size,
      busy,
      idle: zygotes.length - busy,
      queued: this.#queue.size,
      active: this.#active,
      childrenAlive: this.#children,
      totals: { ...this.#totals },
    };
  }

  // ---- calls -------------------------------------------------------------

  readonly #normalize: OptionsNormalizer = (options, extraKeys, stdioDefault) => {
    const normalized = normalizeSpawnOptions(options, extraKeys, stdioDefault);
    if (this.#unconstrained) return normalized;
    const raw = isPlainObject(options) ? options.sandbox : undefined;
    normalized.limits = narrowLimits(this.#defaults.limits, normalized.limits);
    normalized.sandbox = narrowSandbox(this.#defaults.sandbox, raw, normalized.sandbox);
    return normalized;
  };

  async #launch<T extends Launchable>(
    prepare: (normalize: OptionsNormalizer) => T,
    extras: SpawnOnExtras = {},
  ): Promise<{ prepared: T; spawned: InternalSpawn }> {
    if (this.#closing) {
      this.#totals.rejected++;
      throw closed('the pool');
    }
    let generation = this.#generation;
    let prepared = prepare(this.#normalize);
    validateExecSize(prepared.cmd, prepared.normalized);
    // No await on the fast path: a call that got a slot is in #ops before close() can look.
    const queued = this.#acquireSlot(prepared.normalized.signal);
    if (queued) await queued;
    // From here the call is accepted: close() lets it run within its grace period.
    let resolveDone!: () => void;
    const op: Operation = {
      entry: undefined,
      handle: undefined,
      done: new Promise<void>((resolve) => (resolveDone = resolve)),
      finish: () => {
        if (!this.#ops.delete(op)) return;
        if (op.entry) this.#placeDone(op.entry);
        this.#releaseSlot();
        resolveDone();
      },
    };
    this.#ops.add(op);
    let entry: ZygoteEntry;
    try {
      entry = await this.#zygoteFor();
    } catch (e) {
      op.finish();
      throw e;
    }
    op.entry = entry;
    let spawned: InternalSpawn;
    try {
      // The defaults may have changed while this call waited; it runs under the new ones.
      if (generation !== this.#generation) {
        generation = this.#generation;
        prepared = prepare(this.#normalize);
      }
      spawned = await spawnOn(entry.zygote, prepared.cmd.file, prepared.cmd.args, prepared.normalized, extras);
    } catch (e) {
      this.#totals.failed++;
      op.finish();
      throw e;
    }
    const { handle } = spawned;
    op.handle = handle;
    this.#totals.started++;
    this.#children++;
    publishSpawn(() => ({
      pid: handle.pid,
      command: [prepared.cmd.file, ...prepared.cmd.args],
      zygotePid: entry.zygote.pid,
      generation: entry.generation,
    }));
    if (this.#killing) handle.killTree('SIGKILL');
    handle.exited.then(
      (status) => {
        this.#children--;
        if (status.timedOut) this.#totals.timedOut++;
        publishExit(() => ({
          pid: handle.pid,
          exitCode: status.exitCode,
          signal: status.signal,
          timedOut: status.timedOut,
          wallMs: status.wallMs,
          zygotePid: entry.zygote.pid,
        }));
        op.finish();
      },
      () => {
        this.#children--;
        this.#totals.failed++;
        op.finish();
      },
    );
    return { prepared, spawned };
  }

  // ---- slots and the queue -------------------------------------------------

  #acquireSlot(signal: AbortSignal | undefined): Promise<void> | void {
    const { maxConcurrency, maxQueue, queueTimeoutMs } = this.#options;
    if (this.#active < maxConcurrency && this.#queue.size === 0) {
      this.#active++;
      this.#updateHeartbeat();
      return;
    }
    if (signal?.aborted) {
      this.#totals.rejected++;
      throw aborted(signal.reason);
    }
    if (this.#queue.size >= maxQueue) {
      this.#totals.rejected++;
      publishQueue(() => ({ event: 'reject', queued: this.#queue.size }));
      throw queueFull({ queued: this.#queue.size, maxQueue, running: this.#active, maxConcurrency });
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined, signal, onAbort: undefined };
      if (queueTimeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.#leaveQueue(waiter, 'timeout');
          this.#totals.rejected++;
          reject(queueTimeout(queueTimeoutMs));
        }, queueTimeoutMs);
        // Only running children put calls in the queue, and their watchers keep the process alive.
        waiter.timer.unref();
      }
      if (signal) {
        waiter.onAbort = () => {
          this.#leaveQueue(waiter, 'abort');
          this.#totals.rejected++;
          reject(aborted(signal.reason, 'queued'));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#queue.add(waiter);
      publishQueue(() => ({ event: 'enqueue', queued: this.#queue.size }));
    });
  }

  #leaveQueue(waiter: Waiter, why: 'dequeue' | 'abort' | 'timeout' | 'closed'): void {
    if (!this.#queue.delete(waiter)) return;
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    publishQueue(() => ({ event: why, queued: this.#queue.size }));
    if (this.#queue.size === 0) {
      // After the caller's own continuation, so a listener sees the state the queue left behind.
      queueMicrotask(() => this.emit('drain'));
    }
  }

  #releaseSlot(): void {
    this.#active--;
    while (this.#active < this.#options.maxConcurrency && this.#queue.size > 0 && !this.#closing) {
      const next = this.#queue.values().next().value as Waiter;
      this.#active++;
      this.#leaveQueue(next, 'dequeue');
      next.resolve();
    }
    this.#updateHeartbeat();
  }

  // ---- placement, growth, shrink ---------------------------------------------

  #isCurrent(entry: ZygoteEntry): boolean {
    return !entry.retired && entry.generation === this.#generation && entry.zygote.state === 'ready';
  }

  /** Live and starting zygotes of the current generation. */
  #currentCount(): number {
    let n = 0;
    for (const e of this.#entries) if (this.#isCurrent(e)) n++;
    for (const s of this.#starting) if (s.generation === this.#generation) n++;
    return n;
  }

  #leastLoaded(): ZygoteEntry | undefined {
    let best: ZygoteEntry | undefined;
    for (const e of this.#entries) {
      if (!this.#isCurrent(e) || e.inFlight >= e.zygote.maxChildren) continue;
      if (!best || e.inFlight < best.inFlight) best = e;
    }
    return best;
  }

  async #zygoteFor(): Promise<ZygoteEntry> {
    for (;;) {
      if (this.#killing) throw closed('the pool');
      const best = this.#leastLoaded();
      const booting = [...this.#starting].find((s) => s.generation === this.#generation);
      // One zygote boots at a time: a burst past the threshold must not start maxZygotes at once.
      if (!booting && (!best || best.inFlight >= this.#options.busyThreshold)) this.#grow();
      if (best) {
        best.inFlight++;
        this.#clearIdle(best);
        return best;
      }
      const waitFor = booting ?? [...this.#starting].find((s) => s.generation === this.#generation);
      if (!waitFor) throw noZygote();
      // A failed start rejects here and fails the call with the reason.
      await waitFor.promise;
    }
  }

  #grow(): Starting | undefined {
    if (this.#killing || this.#currentCount() >= this.#options.maxZygotes) return undefined;
    return this.#startZygote();
  }

  #startZygote(): Starting {
    const generation = this.#generation;
    const starting: Starting = {
      generation,
      promise: Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: this.#options.spawnTimeoutMs }).then(
        (zygote) => {
          this.#starting.delete(starting);
          this.#startFailures = 0;
          this.#unreaped.add(zygote);
          void zygote.reaped.then(() => this.#unreaped.delete(zygote));
          const entry: ZygoteEntry = { zygote, generation, inFlight: 0, retired: false, idleTimer: undefined, pinging: false };
          publishZygote(() => ({ event: 'start', pid: zygote.pid, generation }));
          if (!zygote.alive) {
            // Died between its handshake and now: its death listeners have already run.
            this.#onDeath(entry, zygote.deathReason ?? zygoteDied(zygote.pid, 'exited'));
            return entry;
          }
          this.#entries.add(entry);
          zygote.onDeath((error) => this.#onDeath(entry, error));
          if (this.#killing || generation !== this.#generation) {
            // Started for a generation that is gone, or for a pool past its grace period.
            entry.retired = true;
            zygote.close();
          } else {
            this.#onIdle(entry);
          }
          return entry;
        },
        (error: unknown) => {
          this.#starting.delete(starting);
          this.#startFailures++;
          this.#ensureMin();
          throw error;
        },
      ),
    };
    starting.promise.catch(() => {}); // the failure is handled above; waiters see it too
    this.#starting.add(starting);
    return starting;
  }

  /** Keep minZygotes started; after failed starts, back off exponentially. */
  #ensureMin(): void {
    if (this.#closing || this.#restartTimer) return;
    if (this.#currentCount() >= this.#options.minZygotes) return;
    if (this.#startFailures > 0) {
      const delay = Math.min(100 * 2 ** (this.#startFailures - 1), MAX_RESTART_BACKOFF_MS);
      this.#restartTimer = setTimeout(() => {
        this.#restartTimer = undefined;
        this.#fillMin();
      }, delay);
      this.#restartTimer.unref();
      return;
    }
    this.#fillMin();
  }

  #fillMin(): void {
    if (this.#closing) return;
    for (let n = this.#currentCount(); n < this.#options.minZygotes; n++) this.#startZygote();
  }

  /** An operation placed on `entry` is over. */
  #placeDone(entry: ZygoteEntry): void {
    entry.inFlight--;
    if (entry.inFlight === 0) this.#onIdle(entry);
  }

  #onIdle(entry: ZygoteEntry): void {
    if (!entry.zygote.alive) return;
    if (entry.retired) {
      entry.zygote.close();
      return;
    }
    if (this.#closing || entry.idleTimer) return;
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined;
      if (entry.inFlight === 0 && this.#isCurrent(entry) && this.#currentCount() > this.#options.minZygotes) {
        entry.zygote.close();
      }
    }, this.#options.idleTimeoutMs);
    entry.idleTimer.unref();
  }

  #clearIdle(entry: ZygoteEntry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
  }

  #onDeath(entry: ZygoteEntry, error: HatcheryError): void {
    this.#entries.delete(entry);
    this.#clearIdle(entry);
    publishZygote(() => ({ event: 'exit', pid: entry.zygote.pid, generation: entry.generation, reason: error.message }));
    // Its operations fail through spawnOn (ZYGOTE_DIED) and release their slots there.
    this.#ensureMin();
  }

  // ---- heartbeat ---------------------------------------------------------

  #updateHeartbeat(): void {
    const want = this.#options.heartbeatMs > 0 && this.#active > 0;
    if (want && !this.#heartbeat) {
      this.#heartbeat = setInterval(() => this.#beat(), this.#options.heartbeatMs);
      this.#heartbeat.unref();
    } else if (!want && this.#heartbeat) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }

  /** Ping each zygote with children; one that has not answered by the next beat is killed. */
  #beat(): void {
    const deadlineMs = this.#options.heartbeatMs;
    for (const entry of this.#entries) {
      const { zygote } = entry;
      if (entry.inFlight === 0 || entry.pinging || zygote.state !== 'ready') continue;
      entry.pinging = true;
      const timer = setTimeout(() => {
        // After a long block of this event loop, timers run before I/O: let a PONG already
        // waiting in the socket be read (poll phase) before judging (check phase).
        setImmediate(() => {
          if (!entry.pinging || !zygote.alive) return;
          publishZygote(() => ({ event: 'unresponsive', pid: zygote.pid, generation: entry.generation }));
          zygote.kill(zygoteUnresponsive(zygote.pid, 'answer a heartbeat', deadlineMs));
        });
      }, deadlineMs);
      timer.unref();
      const settle = (): void => {
        entry.pinging = false;
        clearTimeout(timer);
      };
      zygote.ping().then(settle, settle);
    }
  }

  // ---- close ---------------------------------------------------------------

  /** Until every accepted operation is over, or `ms` have passed. */
  async #waitForOps(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.#ops.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.#ops].map((op) => op.done)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, left))),
      ]);
      clearTimeout(timer);
    }
  }

  async #shutdown(graceMs: number): Promise<void> {
    for (const waiter of [...this.#queue]) {
      this.#leaveQueue(waiter, 'closed');
      this.#totals.rejected++;
      waiter.reject(closed('the pool'));
    }
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    for (const entry of this.#entries) this.#clearIdle(entry);
    await this.#waitForOps(graceMs);
    // Past the grace period: nothing new is placed or started from here on.
    this.#killing = true;
    if (this.#ops.size > 0) {
      // Children still starting are killed as soon as they are spawned (#launch checks #killing).
      for (const op of this.#ops) op.handle?.killTree('SIGKILL');
      await this.#waitForOps(KILL_SETTLE_MS);
    }
    // Zygotes still booting close themselves when they arrive.
    await Promise.all([...this.#starting].map((s) => s.promise.catch(() => undefined)));
    // Closing a zygote fails whatever it still holds (a stuck child is then killed by pidfd).
    for (const entry of [...this.#entries]) entry.zygote.close();
    await this.#waitForOps(KILL_SETTLE_MS);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await untilReaped(this.#unreaped, ZYGOTE_GONE_WAIT_MS);
    this.#unreaped.clear();
  }
}

/**
 * A pool of zygotes with its own concurrency cap, queue, sandbox and limits
 * ceilings. Options are checked here: a wrong type is a TypeError, an
 * impossible value or combination a RangeError, both naming the option.
 */
export function createPool(options: PoolOptions = {}): Pool {
  return new Pool(normalizePoolOptions(options));
}
