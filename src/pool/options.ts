/** createPool() options: checked once, with errors that name the option. */
import { InvalidOptionRangeError, InvalidOptionTypeError } from '../errors.js';
import { integerOption, isPlainObject, knownKeys } from '../options/checks.js';
import { validateLimits, type Limits } from '../options/limits.js';
import { validateSandbox, type NormalizedSandbox, type SandboxOptions } from '../options/sandbox.js';
import { MAX_CHILDREN } from '../protocol/wire.js';
import { MAX_TIMER_MS } from '../long-timeout.js';

export interface PoolOptions {
  /** Zygotes kept started (warm) and restarted when they die. Default 1. */
  minZygotes?: number;
  /** Upper bound on live zygotes of the current generation. Default 4. */
  maxZygotes?: number;
  /** A zygote above minZygotes exits after this long with no children. 0 = as soon as it is idle. Default 30000. */
  idleTimeoutMs?: number;
  /** Live children across the pool; further calls wait in the queue. Default 256. */
  maxConcurrency?: number;
  /** Calls allowed to wait; past it calls reject at once with QUEUE_FULL. 0 = no queue. Default 10000. */
  maxQueue?: number;
  /** A queued call rejects with QUEUE_TIMEOUT after this long. Default: no limit. */
  queueTimeoutMs?: number;
  /** The sandbox ceiling; each call may narrow it. Default: the default profile. `false`: unsandboxed unless a call asks. */
  sandbox?: SandboxOptions | false;
  /** rlimit ceilings; each call may lower them. */
  limits?: Limits;
  /** How long a zygote may take to boot and answer its handshake. Default 10000. */
  spawnTimeoutMs?: number;
  /**
   * While a zygote has children, ping it this often; one that has not
   * answered a ping within this long is killed and replaced. 0 = off (the
   * per-operation deadline alone then catches a stopped zygote). Default 5000.
   * Cost measured (bench/pool.ts heartbeat, 20,000 pings): round trip
   * 8 µs p50 / 10 µs p90, 10 µs of Node CPU and 2.5 µs of zygote CPU per
   * ping; at 5 s that is a few millionths of a core per busy zygote.
   */
  heartbeatMs?: number;
  /**
   * Children in flight on every zygote before the pool grows another one.
   * Default 64; see BUSY_THRESHOLD in pool.ts for the measurements.
   */
  busyThreshold?: number;
}

/** The defaults a pool hands to every call; reconfigure() replaces them. */
export interface PoolDefaults {
  sandbox?: SandboxOptions | false;
  limits?: Limits;
}

export interface NormalizedDefaults {
  sandbox: NormalizedSandbox | false;
  limits: Limits;
}

export interface NormalizedPoolOptions {
  minZygotes: number;
  maxZygotes: number;
  idleTimeoutMs: number;
  maxConcurrency: number;
  maxQueue: number;
  queueTimeoutMs: number | undefined;
  spawnTimeoutMs: number;
  heartbeatMs: number;
  busyThreshold: number;
  defaults: NormalizedDefaults;
}

/**
 * Children in flight on every live zygote before another is started.
 * Measured on this 2-core box (one zygote, N `sleep 60` children already in
 * flight, 300 sequential /bin/true runs, default sandbox; unsandboxed in
 * brackets):
 *
 *   N in flight      0          4          16         64
 *   spawn p50 µs     832 [325]  783 [303]  868 [337]  786 [336]
 *   run p50 µs       1656[1028] 1598[1041] 1719[1032] 1615[1055]
 *   16-way ops/s     1144[1877] 1139[1895] 1192[1909] 1203[1856]
 *
 * A second run under load from other jobs (bench/pool.ts busy rows, spawn
 * p50 µs): 1969 / 1838 / 1905 / 2013 for N = 0 / 4 / 16 / 64 - flat again.
 *
 * Children that merely exist cost a zygote nothing measurable (one pidfd in
 * its poll set each), and 16 concurrent spawns spread over two zygotes gave
 * 1259 ops/s against 1230 on one: the work per spawn is clone + child setup
 * in the kernel and Node's side, not the zygote's loop. So growth buys
 * headroom under the zygote's hard cap of 256 children and a smaller blast
 * radius when one dies, not speed; 64 keeps every zygote at a quarter of the
 * cap before the next is started.
 */
export const BUSY_THRESHOLD = 64;

export const MAX_ZYGOTES = 64;

const poolKeys = [
  'minZygotes',
  'maxZygotes',
  'idleTimeoutMs',
  'maxConcurrency',
  'maxQueue',
  'queueTimeoutMs',
  'sandbox',
  'limits',
  'spawnTimeoutMs',
  'heartbeatMs',
  'busyThreshold',
] as const;

export function validateDefaults(value: unknown, name = ''): NormalizedDefaults {
  const o = value as { sandbox?: unknown; limits?: unknown };
  const prefix = name === '' ? '' : `${name}.`;
  return {
    sandbox: validateSandbox(o.sandbox, `${prefix}sandbox`),
    limits: validateLimits(o.limits, `${prefix}limits`),
  };
}

export function normalizePoolOptions(value: unknown): NormalizedPoolOptions {
  if (value !== undefined && !isPlainObject(value)) throw new InvalidOptionTypeError('options', 'must be an object');
  const o = (value ?? {}) as Record<string, unknown>;
  knownKeys(o, poolKeys, '');
  const maxZygotes = integerOption(o.maxZygotes, 'maxZygotes', { min: 1, max: MAX_ZYGOTES }) ?? Math.max(4, integerOrZero(o.minZygotes));
  const minZygotes = integerOption(o.minZygotes, 'minZygotes', { min: 0, max: MAX_ZYGOTES }) ?? Math.min(1, maxZygotes);
  if (minZygotes > maxZygotes) {
    throw new InvalidOptionRangeError('minZygotes', `(${minZygotes}) must not exceed options.maxZygotes (${maxZygotes})`);
  }
  const capacity = maxZygotes * MAX_CHILDREN;
  const maxConcurrency = integerOption(o.maxConcurrency, 'maxConcurrency', { min: 1 }) ?? Math.min(256, capacity);
  if (maxConcurrency > capacity) {
    throw new InvalidOptionRangeError(
      'maxConcurrency',
      `(${maxConcurrency}) must not exceed options.maxZygotes (${maxZygotes}) × ${MAX_CHILDREN} children per zygote = ${capacity}`,
    );
  }
  return {
    minZygotes,
    maxZygotes,
    idleTimeoutMs: integerOption(o.idleTimeoutMs, 'idleTimeoutMs', { min: 0, max: MAX_TIMER_MS }) ?? 30_000,
    maxConcurrency,
    maxQueue: integerOption(o.maxQueue, 'maxQueue', { min: 0 }) ?? 10_000,
    queueTimeoutMs: integerOption(o.queueTimeoutMs, 'queueTimeoutMs', { min: 1, max: MAX_TIMER_MS }),
    spawnTimeoutMs: integerOption(o.spawnTimeoutMs, 'spawnTimeoutMs', { min: 1, max: MAX_TIMER_MS }) ?? 10_000,
    heartbeatMs: integerOption(o.heartbeatMs, 'heartbeatMs', { min: 0, max: MAX_TIMER_MS }) ?? 5000,
    busyThreshold: integerOption(o.busyThreshold, 'busyThreshold', { min: 1, max: MAX_CHILDREN }) ?? BUSY_THRESHOLD,
    defaults: validateDefaults(o),
  };
}

/** The minimum's raw value for picking maxZygotes' default; validated properly right after. */
function integerOrZero(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= MAX_ZYGOTES ? v : 0;
}

export function normalizeReconfigure(value: unknown): NormalizedDefaults {
  if (!isPlainObject(value)) throw new InvalidOptionTypeError('defaults', 'must be an object');
  knownKeys(value, ['sandbox', 'limits'], 'defaults');
  return validateDefaults(value);
}
