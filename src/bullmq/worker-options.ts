/** createQueueWorker() options: checked once, with errors that name the option. */
import { availableParallelism } from 'node:os';
import type { ConnectionOptions } from 'bullmq';
import { InvalidOptionTypeError } from '../errors.js';
import { booleanOption, describe, integerOption, isPlainObject, knownKeys, stringOption } from '../options/checks.js';
import { Pool } from '../pool/pool.js';
import { MAX_CHILDREN } from '../protocol/wire.js';
import { MAX_ZYGOTES } from '../pool/options.js';
import { resolvePolicy, type QueuePolicy, type QueueProfile, type ResolvedPolicy } from './profiles.js';
import { MAX_TIMER_MS } from '../long-timeout.js';

export interface QueueWorkerOptions {
  /** BullMQ's connection: Redis options (`{ host, port }`, `{ url }`; needs the ioredis package) or a client instance. */
  connection: ConnectionOptions;
  /**
   * Jobs run at once. The worker's own pool gets the same maxConcurrency and
   * no queue (maxQueue 0), so jobs wait in Redis - where any machine can take
   * them - and never in this process. Default os.availableParallelism().
   */
  concurrency?: number;
  /**
   * Run jobs on this pool instead of a pool of the worker's own. Its sandbox
   * and limits are a second ceiling over the profiles (a profile wider than
   * it fails its jobs with INVALID_OPTION), and its maxConcurrency and
   * maxQueue should cover `concurrency`: a job that finds it full fails with
   * QUEUE_FULL and is retried with backoff. close() leaves it open.
   */
  pool?: Pool;
  /** The operator's profiles (or one bare profile). Default: one profile with every default. */
  policy?: QueuePolicy | QueueProfile;
  /** BullMQ key prefix. Default 'bull'. */
  prefix?: string;
  /** How long a job's lock lasts without renewal; renewed every half of it. Default 30000. */
  lockDuration?: number;
  /** How often this worker looks for stalled jobs (locks that expired). Default 30000. */
  stalledInterval?: number;
  /** Stalls a job survives before BullMQ fails it. Default 1. */
  maxStalledCount?: number;
  /** Listen for cancelRun() events on the queue (one more Redis connection). Default true. */
  cancelEvents?: boolean;
  /** The worker's name in Redis (CLIENT LIST, queue.getWorkers()). Default 'hatchery'. */
  name?: string;
}

export interface NormalizedQueueWorkerOptions {
  queueName: string;
  connection: ConnectionOptions;
  concurrency: number;
  pool: Pool | undefined;
  policy: ResolvedPolicy;
  prefix: string | undefined;
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
  cancelEvents: boolean;
  name: string;
}

export const DEFAULT_LOCK_DURATION_MS = 30_000;
export const DEFAULT_STALLED_INTERVAL_MS = 30_000;
export const DEFAULT_MAX_STALLED_COUNT = 1;
/** The most jobs one worker may run at once: every zygote a pool may have, full. */
export const MAX_QUEUE_CONCURRENCY = MAX_ZYGOTES * MAX_CHILDREN;

const keys = ['connection', 'concurrency', 'pool', 'policy', 'prefix', 'lockDuration', 'stalledInterval', 'maxStalledCount', 'cancelEvents', 'name'] as const;

export function normalizeQueueWorkerOptions(queueName: unknown, value: unknown): NormalizedQueueWorkerOptions {
  if (typeof queueName !== 'string' || queueName === '') throw new InvalidOptionTypeError('queueName', `must be a non-empty string, got ${describe(queueName)}`);
  if (!isPlainObject(value)) throw new InvalidOptionTypeError('options', `must be an object, got ${describe(value)}`);
  knownKeys(value, keys, '');
  if (typeof value.connection !== 'object' || value.connection === null) {
    throw new InvalidOptionTypeError('connection', `must be BullMQ connection options or a Redis client, got ${describe(value.connection)}`);
  }
  if (value.pool !== undefined && !(value.pool instanceof Pool)) throw new InvalidOptionTypeError('pool', `must be a Pool from createPool(), got ${describe(value.pool)}`);
  return {
    queueName,
    connection: value.connection as ConnectionOptions,
    concurrency: integerOption(value.concurrency, 'concurrency', { min: 1, max: MAX_QUEUE_CONCURRENCY }) ?? Math.max(1, availableParallelism()),
    pool: value.pool,
    policy: resolvePolicy(value.policy as QueuePolicy | QueueProfile | undefined),
    prefix: stringOption(value.prefix, 'prefix'),
    lockDuration: integerOption(value.lockDuration, 'lockDuration', { min: 100, max: MAX_TIMER_MS }) ?? DEFAULT_LOCK_DURATION_MS,
    stalledInterval: integerOption(value.stalledInterval, 'stalledInterval', { min: 100, max: MAX_TIMER_MS }) ?? DEFAULT_STALLED_INTERVAL_MS,
    maxStalledCount: integerOption(value.maxStalledCount, 'maxStalledCount', { min: 0, max: 1000 }) ?? DEFAULT_MAX_STALLED_COUNT,
    cancelEvents: booleanOption(value.cancelEvents, 'cancelEvents') ?? true,
    name: stringOption(value.name, 'name') ?? 'hatchery',
  };
}
