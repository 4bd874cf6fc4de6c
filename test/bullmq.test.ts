// hatchery/bullmq against a real Redis (Debian's redis-server, started here on
// 127.0.0.1 and a free port): in-process workers for the semantics, and
// `hatchery worker` processes for sharing a queue, SIGKILL, cancel and drain.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createPool, type Pool } from '../src/index.js';
import {
  addRun,
  cancelRun,
  createQueueWorker,
  failureCodeOf,
  QUEUE_JOB_CHANNEL,
  type QueueJobEvent,
  type QueueRunResult,
  type QueueWorker,
  type RunJobData,
} from '../src/bullmq/index.js';
import { cutToJsonBytes, MAX_STREAM_JSON_BYTES } from '../src/bullmq/result.js';
import { TMPDIR_PREFIX } from '../src/spawn/tmpdir.js';
import { descendants, isAlive, waitFor } from './helpers.js';
import { findRedisServer, startRedis, type RedisServer } from './redis-server.js';
import { startWorkerProcess, type LogEvent, type WorkerProcess } from './worker-process.js';

const redisBinary = findRedisServer();
const skip = redisBinary === null ? 'redis-server is not installed (apt-get install redis-server; .ci/run installs it)' : false;
if (skip) process.stdout.write(`# skip hatchery/bullmq integration tests: ${skip}\n`);

/** Retries come quickly in tests. */
const FAST_RETRY = { attempts: 3, backoff: { type: 'fixed', delay: 100 } };

/** Pids of processes whose argv is exactly `args` (sandboxed children are visible from here). */
function processesRunning(args: readonly string[]): number[] {
  const want = `${args.join('\0')}\0`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1') === want) found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

function operationDirs(): Set<string> {
  return new Set(readdirSync(tmpdir()).filter((f) => f.startsWith(TMPDIR_PREFIX)));
}

async function waitForState(queue: Queue, jobId: string, states: readonly string[], ms: number): Promise<Job> {
  const deadline = Date.now() + ms;
  for (;;) {
    const job = await queue.getJob(jobId);
    const state = job ? await job.getState() : 'missing';
    // Read it again: the copy fetched before the state may predate the move.
    if (job && states.includes(state)) return (await queue.getJob(jobId)) as Job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${state}, not ${states.join('/')}, after ${ms} ms`);
    await sleep(25);
  }
}

async function waitForCounts(queue: Queue, want: { completed?: number; failed?: number }, ms: number): Promise<Record<string, number>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed');
    if ((want.completed === undefined || counts.completed === want.completed) && (want.failed === undefined || counts.failed === want.failed)) return counts;
    if (Date.now() > deadline) throw new Error(`job counts ${JSON.stringify(counts)} after ${ms} ms, wanted ${JSON.stringify(want)}`);
    await sleep(50);
  }
}

/**
 * The timers created while `body` runs that are still pending once it has
 * settled (armed, unref'd or not), each as the stack that created it; only
 * those that hatchery's own code (dist/src) created.
 */
async function timersLeftBy(body: () => Promise<unknown>): Promise<string[]> {
  const pending = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (type !== 'Timeout') return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 50;
      pending.set(asyncId, new Error('created').stack ?? '');
      Error.stackTraceLimit = limit;
    },
    destroy(asyncId) {
      pending.delete(asyncId);
    },
  });
  hook.enable();
  try {
    await body();
    // A cleared timer's destroy hook runs asynchronously.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    hook.disable();
  }
  return [...pending.values()].filter((stack) => stack.includes('/dist/src/'));
}

/** A unique `sleep` argument, so the test can find exactly its own processes. */
let marker = 3000 + (process.pid % 1000) * 10;
function uniqueSleep(): string {
  return String(++marker);
}

describe('hatchery/bullmq on a real Redis', { skip }, () => {
  let redis: RedisServer | undefined;
  let connection: { host: string; port: number };
  const queues: Queue[] = [];
  const workers: QueueWorker[] = [];
  const processes: WorkerProcess[] = [];
  const pools: Pool[] = [];
  let dirsBefore: Set<string>;
  let dumpBefore = false;
  let queueCount = 0;

  function newQueue(): Queue<RunJobData, QueueRunResult> {
    const queue = new Queue<RunJobData, QueueRunResult>(`t${process.pid}-${++queueCount}`, { connection });
    queues.push(queue);
    return queue;
  }

  function newWorker(queue: Queue, options: Omit<Parameters<typeof createQueueWorker>[1], 'connection'> = {}): QueueWorker {
    const worker = createQueueWorker(queue.name, { connection, lockDuration: 2000, stalledInterval: 1000, ...options });
    workers.push(worker);
    return worker;
  }

  function workerProcess(queue: Queue, args: readonly string[] = []): WorkerProcess {
    const w = startWorkerProcess(['--redis', redis!.url, '--queue', queue.name, '--lock-ms', '1500', '--stalled-interval-ms', '500', ...args]);
    processes.push(w);
    return w;
  }

  /** Every queue-job event published while `body` runs. */
  async function recordEvents<T>(body: (events: QueueJobEvent[]) => Promise<T>): Promise<T> {
    const events: QueueJobEvent[] = [];
    const onEvent = (e: unknown): void => {
      events.push(e as QueueJobEvent);
    };
    subscribe(QUEUE_JOB_CHANNEL, onEvent);
    try {
      return await body(events);
    } finally {
      unsubscribe(QUEUE_JOB_CHANNEL, onEvent);
    }
  }

  before(async () => {
    dirsBefore = operationDirs();
    dumpBefore = readdirSync(tmpdir()).includes('dump.rdb');
    redis = await startRedis(redisBinary);
    connection = { host: '127.0.0.1', port: redis.port };
  });

  after(async () => {
    // Safety net; the last test stops everything itself and checks it.
    for (const w of processes) w.kill('SIGKILL');
    await Promise.all(processes.map((w) => w.exited));
    await Promise.all(workers.map((w) => w.close(true)));
    await Promise.all(pools.map((p) => p.close({ graceMs: 0 })));
    await Promise.all(queues.map((q) => q.close()));
    await redis?.stop();
  });

  test('a job runs under the profile and completes with its Result, whatever its exit code', async () => {
    const queue = newQueue();
    const worker = newWorker(queue, { concurrency: 2, policy: { timeoutMs: 2000, maxOutputBytes: 1000, limits: { cpuSeconds: 5 } } });
    await worker.ready;
    const echo = await addRun(queue, 'cat', [], { input: 'through the queue' });
    const failing = await addRun(queue, 'sh', ['-c', 'echo out; echo err >&2; exit 3']);
    const slow = await addRun(queue, 'sleep', ['10'], { timeoutMs: 200 });
    const loud = await addRun(queue, 'yes');
    await waitForCounts(queue, { completed: 4 }, 15_000);

    const r = (await queue.getJob(echo.id!))!.returnvalue as QueueRunResult;
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'through the queue');
    assert.equal(r.profile, 'default');
    assert.equal(r.enforcement.sandboxed, true);
    assert.deepEqual(r.enforcement.limits.cpuSeconds, 5);
    for (const key of ['queuedMs', 'runMs', 'wallMs', 'userCpuMs', 'sysCpuMs'] as const) assert.equal(typeof r.timings[key], 'number', key);
    for (const key of ['exitCode', 'signal', 'stdout', 'stderr', 'timedOut', 'truncated', 'limit', 'enforcement']) assert.ok(key in r, key);

    const f = (await queue.getJob(failing.id!))!.returnvalue as QueueRunResult;
    assert.deepEqual([f.exitCode, f.stdout, f.stderr], [3, 'out\n', 'err\n']);
    const s = (await queue.getJob(slow.id!))!.returnvalue as QueueRunResult;
    assert.deepEqual([s.timedOut, s.limit], [true, 'timeout']);
    const l = (await queue.getJob(loud.id!))!.returnvalue as QueueRunResult;
    assert.deepEqual([l.truncated.stdout, l.stdout.length, l.limit], [true, 1000, 'output']);
    assert.deepEqual(worker.stats().exits, { zero: 1, nonZero: 1, signaled: 2, timedOut: 1, truncated: 1 });
    await worker.close();
  });

  test('a job asking for sandbox: false, other policy keys, pollution keys, bad types or sizes is refused once, never retried, never started', async () => {
    const queue = newQueue();
    const worker = newWorker(queue, {
      concurrency: 2,
      policy: {
        defaultProfile: 'default',
        profiles: { default: { timeoutMs: 5000, maxInputBytes: 100, maxArgs: 3 }, tools: { commands: ['/bin/echo'] } },
      },
    });
    await worker.ready;
    const hostile: Array<[string, unknown]> = [
      ['sandbox false', { command: 'true', sandbox: false }],
      ['net host', { command: 'true', sandbox: { net: 'host' } }],
      ['raised limits', { command: 'true', limits: { cpuSeconds: 1e6 } }],
      ['env', { command: 'true', env: { LD_PRELOAD: '/tmp/x.so' } }],
      ['output cap', { command: 'true', maxOutputBytes: 1e9 }],
      ['__proto__', JSON.parse('{"command":"true","__proto__":{"sandbox":false}}')],
      ['constructor', { command: 'true', constructor: { prototype: { sandbox: false } } }],
      ['args type', { command: 'true', args: ['ok', 7] }],
      ['NUL', { command: 'true\u0000' }],
      ['not an object', ['true']],
      ['too many args', { command: 'true', args: ['1', '2', '3', '4'] }],
      ['big input', { command: 'cat', input: 'x'.repeat(101) }],
      ['timeout above ceiling', { command: 'true', timeoutMs: 5001 }],
      ['unknown profile', { command: 'true', profile: 'root' }],
      ['command not allowed', { command: '/bin/sh', profile: 'tools' }],
    ];
    const started = worker.pool.stats().totals.started;
    const jobs = await Promise.all(hostile.map(([name, data]) => queue.add(name, data as RunJobData, FAST_RETRY)));
    await waitForCounts(queue, { failed: hostile.length }, 15_000);
    for (const job of jobs) {
      const failed = (await queue.getJob(job.id!))!;
      assert.equal(failed.attemptsMade, 1, `${job.name}: not retried`);
      assert.equal(failureCodeOf(failed.failedReason), 'JOB_REFUSED', `${job.name}: ${failed.failedReason}`);
    }
    const reasons = await Promise.all(jobs.map(async (j) => (await queue.getJob(j.id!))!.failedReason));
    assert.match(reasons[0]!, /"sandbox", which is not allowed \(the sandbox, limits, environment and output caps are set by the operator's profile/);
    assert.match(reasons[5]!, /"__proto__", which is refused \(prototype pollution\)/);
    assert.match(reasons[12]!, /timeoutMs \(5001\) may not exceed the profile's timeoutMs \(5000\)/);
    assert.match(reasons[13]!, /"root", which this worker does not have \(profiles: default, tools\)/);
    assert.equal(worker.pool.stats().totals.started, started, 'no refused job started a process');
    assert.equal(worker.stats().failuresByCode.JOB_REFUSED, hostile.length);
    // The allowed ones do run.
    const fine = await addRun(queue, '/bin/echo', ['ok'], { profile: 'tools' });
    assert.equal((await waitForState(queue, fine.id!, ['completed'], 10_000)).returnvalue.stdout, 'ok\n');
    await worker.close();
  });

  test('permanent errors fail at once (EXEC_FAILED ENOENT); a dead zygote and a full pool are retried with backoff and complete', async () => {
    await recordEvents(async (events) => {
      const queue = newQueue();
      const worker = newWorker(queue, { concurrency: 1 });
      await worker.ready;
      const missing = await addRun(queue, '/no/such/program', [], { job: FAST_RETRY });
      const failed = await waitForState(queue, missing.id!, ['failed'], 10_000);
      assert.equal(failed.attemptsMade, 1);
      assert.match(failed.failedReason, /^EXEC_FAILED: .*ENOENT/);

      // ZYGOTE_DIED: kill the zygote under a running job.
      const job = await addRun(queue, 'sh', ['-c', 'sleep 1; echo survived'], { job: FAST_RETRY });
      await waitFor(() => worker.pool.stats().childrenAlive === 1, 10_000, 'the job to run');
      for (const z of worker.pool.stats().zygotes) process.kill(z.pid, 'SIGKILL');
      const done = await waitForState(queue, job.id!, ['completed'], 15_000);
      assert.equal(done.returnvalue.stdout, 'survived\n');
      assert.equal(done.attemptsMade, 2, 'one failed attempt, then the one that completed');
      assert.ok(events.some((e) => e.jobId === job.id && e.outcome === 'retrying' && e.code === 'ZYGOTE_DIED'));
      await worker.close();

      // QUEUE_FULL: a caller's pool smaller than the worker's concurrency.
      const small = createPool({ maxConcurrency: 1, maxQueue: 0 });
      pools.push(small);
      const queue2 = newQueue();
      const worker2 = newWorker(queue2, { concurrency: 2, pool: small });
      await worker2.ready;
      // The second job finds the pool's only slot taken and is retried until the first is done.
      const retryLater = { attempts: 5, backoff: { type: 'fixed', delay: 250 } };
      const both = await Promise.all([0, 1].map((i) => addRun(queue2, 'sh', ['-c', `sleep 0.2; echo ${i}`], { job: retryLater })));
      await waitForCounts(queue2, { completed: 2 }, 15_000);
      assert.ok(events.some((e) => both.some((j) => j.id === e.jobId) && e.outcome === 'retrying' && e.code === 'QUEUE_FULL'));
      await worker2.close();
      assert.equal(small.closed, false, 'a caller\'s pool is left open');
      await small.close();
    });
  });

  test('backpressure: BullMQ concurrency = pool slots, and no local queue builds up', async () => {
    const queue = newQueue();
    const worker = newWorker(queue, { concurrency: 3 });
    await worker.ready;
    let maxActive = 0;
    let maxQueued = 0;
    const sampler = setInterval(() => {
      const s = worker.pool.stats();
      maxActive = Math.max(maxActive, s.active);
      maxQueued = Math.max(maxQueued, s.queued);
    }, 5);
    try {
      await Promise.all(Array.from({ length: 12 }, () => addRun(queue, 'sleep', ['0.2'])));
      await waitForCounts(queue, { completed: 12 }, 20_000);
    } finally {
      clearInterval(sampler);
    }
    assert.equal(maxQueued, 0, 'no call ever waited in the pool');
    assert.equal(maxActive, 3);
    assert.equal(worker.stats().failuresByCode.QUEUE_FULL, undefined);
    await worker.close();
  });

  test('two worker processes share one queue: 60 jobs all complete with the right results', async () => {
    const queue = newQueue();
    const a = workerProcess(queue, ['--concurrency', '2']);
    const b = workerProcess(queue, ['--concurrency', '2']);
    await Promise.all([a.waitFor((e) => e.event === 'ready', 20_000, 'ready'), b.waitFor((e) => e.event === 'ready', 20_000, 'ready')]);
    const jobs = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0 ? addRun(queue, 'sh', ['-c', `echo $((${i} * ${i}))`]) : addRun(queue, 'cat', [], { input: `job ${i}` }),
      ),
    );
    await waitForCounts(queue, { completed: 60, failed: 0 }, 60_000);
    for (const [i, job] of jobs.entries()) {
      const r = (await queue.getJob(job.id!))!.returnvalue as QueueRunResult;
      assert.equal(r.stdout, i % 2 === 0 ? `${i * i}\n` : `job ${i}`);
      assert.equal(r.exitCode, 0);
    }
    const done = (w: WorkerProcess): LogEvent[] => w.events.filter((e) => e.event === 'job' && e.outcome === 'completed');
    assert.equal(done(a).length + done(b).length, 60);
    assert.ok(done(a).length > 0 && done(b).length > 0, `both took jobs: ${done(a).length} + ${done(b).length}`);
    const line = done(a)[0]!;
    for (const key of ['jobId', 'exitCode', 'runMs', 'queuedMs', 'profile', 'totals']) assert.ok(key in line, `a job line has ${key}`);
    a.kill('SIGTERM');
    b.kill('SIGTERM');
    assert.deepEqual(await a.exited, { code: 0, signal: null });
    assert.deepEqual(await b.exited, { code: 0, signal: null });
  });

  test('a worker SIGKILLed mid-run loses no job: stalled-job recovery reruns its jobs on the other worker', async () => {
    const queue = newQueue();
    const victim = workerProcess(queue, ['--concurrency', '2']);
    const survivor = workerProcess(queue, ['--concurrency', '2']);
    await Promise.all([victim, survivor].map((w) => w.waitFor((e) => e.event === 'ready', 30_000, 'ready')));
    const jobs = await Promise.all(Array.from({ length: 16 }, (_, i) => addRun(queue, 'sh', ['-c', `sleep 1; echo ${i}`])));
    // Kill it once it has finished a job and holds another.
    await victim.waitFor((e) => e.event === 'job', 30_000, 'a first job');
    await waitFor(() => descendants(victim.pid).some((p) => p.comm === 'sleep'), 30_000, 'the victim to be running a job');
    const tree = descendants(victim.pid).map((p) => p.pid);
    victim.kill('SIGKILL');
    assert.equal((await victim.exited).signal, 'SIGKILL');
    await waitForCounts(queue, { completed: 16, failed: 0 }, 90_000);
    for (const [i, job] of jobs.entries()) assert.equal((await queue.getJob(job.id!))!.returnvalue.stdout, `${i}\n`);
    const rerun = await Promise.all(jobs.map(async (j) => (await queue.getJob(j.id!))!));
    assert.ok(rerun.some((j) => j.attemptsStarted >= 2), 'a job the victim held was started again');
    // The victim's zygotes and children died with it.
    await waitFor(() => tree.every((pid) => !isAlive(pid)), 10_000, "the victim's zygotes and children to exit");
    survivor.kill('SIGTERM');
    assert.equal((await survivor.exited).code, 0);
  });

  test('a hatchery worker refuses widening jobs with its profile file, and a job may choose a named profile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatchery-profile-'));
    try {
      const file = join(dir, 'profiles.json');
      writeFileSync(
        file,
        JSON.stringify({
          defaultProfile: 'default',
          profiles: { default: { timeoutMs: 5000, limits: { cpuSeconds: 5 } }, tiny: { timeoutMs: 1000, maxOutputBytes: 10, limits: { cpuSeconds: 1 } } },
        }),
      );
      const queue = newQueue();
      const w = workerProcess(queue, ['--profile', file]);
      await w.waitFor((e) => e.event === 'ready', 20_000, 'ready');
      const widening = await Promise.all([
        queue.add('run', { command: 'true', sandbox: false } as unknown as RunJobData, FAST_RETRY),
        queue.add('run', { command: 'true', sandbox: { seccomp: 'off' } } as unknown as RunJobData, FAST_RETRY),
        queue.add('run', { command: 'true', timeoutMs: 1001, profile: 'tiny' }, FAST_RETRY),
      ]);
      const tiny = await addRun(queue, 'sh', ['-c', 'echo 0123456789abcdef'], { profile: 'tiny' });
      await waitForCounts(queue, { failed: 3, completed: 1 }, 20_000);
      for (const job of widening) {
        const failed = (await queue.getJob(job.id!))!;
        assert.equal(failed.attemptsMade, 1);
        assert.equal(failureCodeOf(failed.failedReason), 'JOB_REFUSED');
      }
      const r = (await queue.getJob(tiny.id!))!.returnvalue as QueueRunResult;
      assert.deepEqual([r.profile, r.stdout, r.truncated.stdout, r.enforcement.limits.cpuSeconds], ['tiny', '0123456789', true, 1]);
      const refusedLine = w.events.find((e) => e.event === 'job' && e.code === 'JOB_REFUSED');
      assert.ok(refusedLine, 'the refusal is logged');
      w.kill('SIGINT');
      assert.equal((await w.exited).code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a cancelled job's process tree dies, and the job fails with CANCELLED without a retry", async () => {
    const queue = newQueue();
    const w = workerProcess(queue);
    await w.waitFor((e) => e.event === 'ready', 20_000, 'ready');
    const n = uniqueSleep();
    const job = await addRun(queue, 'sh', ['-c', `sleep ${n} & sleep ${n}; wait`]);
    await waitFor(() => processesRunning(['sleep', n]).length === 2, 10_000, 'both sleeps of the job');
    assert.equal(await cancelRun(queue, job.id!, 'the user gave up'), 'signalled');
    const failed = await waitForState(queue, job.id!, ['failed'], 10_000);
    assert.equal(failed.failedReason, 'CANCELLED: the user gave up');
    assert.equal(failed.attemptsMade, 1);
    await waitFor(() => processesRunning(['sleep', n]).length === 0, 5000, 'the whole tree to die');
    // A job that has not started is simply removed; a finished one is left alone.
    const waiting = await addRun(queue, 'true', [], { job: { delay: 60_000 } });
    assert.equal(await cancelRun(queue, waiting.id!), 'removed');
    assert.equal(await queue.getJob(waiting.id!), undefined);
    assert.equal(await cancelRun(queue, job.id!), 'finished');
    assert.equal(await cancelRun(queue, 'no-such-job'), 'not-found');
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });

  test("worker.cancelJob() and a job removed while running (its lock lost) kill the tree too", async () => {
    await recordEvents(async (events) => {
      const queue = newQueue();
      const worker = newWorker(queue, { lockDuration: 1000 });
      await worker.ready;
      const n = uniqueSleep();
      const job = await addRun(queue, 'sh', ['-c', `sleep ${n} & sleep ${n}; wait`]);
      await waitFor(() => processesRunning(['sleep', n]).length === 2, 10_000, 'the job to run');
      assert.equal(worker.cancelJob(job.id!, 'operator'), true);
      assert.equal((await waitForState(queue, job.id!, ['failed'], 10_000)).failedReason, 'CANCELLED: operator');
      await waitFor(() => processesRunning(['sleep', n]).length === 0, 5000, 'the tree to die after cancelJob');

      const m = uniqueSleep();
      await addRun(queue, 'sh', ['-c', `sleep ${m} & sleep ${m}; wait`]);
      await waitFor(() => processesRunning(['sleep', m]).length === 2, 10_000, 'the second job to run');
      await queue.obliterate({ force: true });
      await waitFor(() => processesRunning(['sleep', m]).length === 0, 10_000, 'the tree of the removed job to die');
      await waitFor(() => events.some((e) => e.code === 'LOCK_LOST'), 5000, 'a LOCK_LOST event');
      await worker.close();
    });
  });

  test("the completed event follows BullMQ's own completion: a listener that reads the job on it finds it completed, its Result stored, even while Redis is slow", async () => {
    const queue = newQueue();
    const raw = new Redis({ host: connection.host, port: connection.port });
    try {
      const worker = newWorker(queue, { concurrency: 1, lockDuration: 10_000 });
      await worker.ready;
      const seen: Array<{ state: string; stdout: string | undefined; finishedOn: number | undefined }> = [];
      const reads: Array<Promise<void>> = [];
      await recordEvents(async (events) => {
        const onEvent = (message: unknown): void => {
          const e = message as QueueJobEvent;
          if (e.outcome !== 'completed') return;
          // What a listener sees when it reacts at once (plain reads: Redis serves them while it holds back writes).
          reads.push(
            (async () => {
              const [stored, completedAt] = await Promise.all([Job.fromId<RunJobData, QueueRunResult>(queue, e.jobId), raw.zscore(queue.keys.completed!, e.jobId)]);
              seen.push({ state: completedAt === null ? 'not completed' : 'completed', stdout: stored?.returnvalue?.stdout, finishedOn: stored?.finishedOn });
            })(),
          );
        };
        subscribe(QUEUE_JOB_CHANNEL, onEvent);
        try {
          const job = await addRun(queue, 'sh', ['-c', 'sleep 1; echo stored']);
          await waitForState(queue, job.id!, ['active'], 10_000);
          // A slow Redis: writes (BullMQ's move to completed among them) wait 2.5 s; the program ends meanwhile.
          await raw.call('CLIENT', 'PAUSE', '2500', 'WRITE');
          await waitFor(() => events.some((e) => e.jobId === job.id), 15_000, 'the job event');
          await Promise.all(reads);
        } finally {
          unsubscribe(QUEUE_JOB_CHANNEL, onEvent);
        }
        assert.deepEqual(events.map((e) => e.outcome), ['completed']);
      });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.state, 'completed', 'the job was still active when the event said completed');
      assert.equal(seen[0]!.stdout, 'stored\n', 'the Result was not stored yet');
      assert.equal(typeof seen[0]!.finishedOn, 'number');
      await worker.close();
    } finally {
      await raw.call('CLIENT', 'UNPAUSE');
      await raw.quit();
    }
  });

  test('a Result BullMQ cannot store is never published as completed: the lock taken over while the program ran ends LOCK_LOST', async () => {
    const queue = newQueue();
    const raw = new Redis({ host: connection.host, port: connection.port });
    try {
      await recordEvents(async (events) => {
        // A lock this long is not renewed during the run: only the takeover below touches it.
        const worker = newWorker(queue, { concurrency: 1, lockDuration: 30_000, stalledInterval: 30_000 });
        await worker.ready;
        const job = await addRun(queue, 'sh', ['-c', 'sleep 1; echo done']);
        await waitForState(queue, job.id!, ['active'], 10_000);
        // Another worker takes the job over (as after a stall): the lock holds its token now.
        await raw.set(`${queue.keys['']}${job.id}:lock`, 'another-worker', 'PX', 30_000);
        await waitFor(() => events.some((e) => e.jobId === job.id), 15_000, 'the job event');
        await sleep(200);
        const mine = events.filter((e) => e.jobId === job.id);
        assert.deepEqual(
          mine.map((e) => [e.outcome, e.code]),
          [['failed', 'LOCK_LOST']],
        );
        assert.match(mine[0]!.reason!, /Lock mismatch/);
        assert.equal(mine[0]!.exitCode, null);
        assert.equal(worker.stats().jobs.completed, 0);
        assert.equal(worker.stats().failuresByCode.LOCK_LOST, 1);
        assert.notEqual(await (await queue.getJob(job.id!))!.getState(), 'completed');
        await worker.close();
        await raw.del(`${queue.keys['']}${job.id}:lock`);
        await queue.obliterate({ force: true });
      });
    } finally {
      await raw.quit();
    }
  });

  test('a Result that Redis refuses to store (read-only, as after a failover) is not published as completed: RESULT_NOT_STORED; the job stays unfinished, and a stall check hands it out again', async () => {
    const queue = newQueue();
    const raw = new Redis({ host: connection.host, port: connection.port });
    try {
      await recordEvents(async (events) => {
        const worker = newWorker(queue, { concurrency: 1 });
        await worker.ready;
        const job = await addRun(queue, 'sh', ['-c', 'sleep 1; echo done']);
        await waitForState(queue, job.id!, ['active'], 10_000);
        // Redis turns into a replica (of a master that is not there): it refuses every write while the program ends.
        await raw.call('REPLICAOF', '127.0.0.1', '1');
        try {
          await waitFor(() => events.some((e) => e.jobId === job.id), 15_000, 'the first attempt to be published');
        } finally {
          await raw.call('REPLICAOF', 'NO', 'ONE');
        }
        const first = events.find((e) => e.jobId === job.id)!;
        assert.deepEqual([first.outcome, first.code, first.exitCode], ['retrying', 'RESULT_NOT_STORED', null]);
        assert.match(first.reason!, /^READONLY /);
        assert.equal(worker.stats().jobs.completed, 0);
        // Nothing was stored: its lock lapses, a stall check puts it back, and it runs again.
        const done = await waitForState(queue, job.id!, ['completed'], 30_000);
        assert.deepEqual([done.returnvalue.stdout, done.stalledCounter], ['done\n', 1]);
        await waitFor(() => events.filter((e) => e.jobId === job.id).length === 2, 5000, 'the second attempt to be published');
        assert.deepEqual(
          events.filter((e) => e.jobId === job.id).map((e) => e.outcome),
          ['retrying', 'completed'],
        );
        assert.deepEqual([worker.stats().jobs.completed, worker.stats().failuresByCode.RESULT_NOT_STORED], [1, 1]);
        await worker.close();
      });
    } finally {
      await raw.call('REPLICAOF', 'NO', 'ONE');
      await raw.quit();
    }
  });

  test('a job taken again after a stall while its first attempt still runs: each attempt is tracked, the first is killed, the second keeps the lock until drain() requeues it', async () => {
    await recordEvents(async (events) => {
      const queue = newQueue();
      // The job's tree ignores SIGTERM, so an aborted attempt lives on for killGraceMs: the second attempt starts beside the first.
      const worker = newWorker(queue, { concurrency: 2, lockDuration: 1500, stalledInterval: 300, policy: { timeoutMs: 120_000, killGraceMs: 3000 } });
      await worker.ready;
      const n = uniqueSleep();
      const job = await addRun(queue, 'sh', ['-c', `trap '' TERM; sleep ${n}`], { job: { attempts: 1 } });
      await waitFor(() => processesRunning(['sleep', n]).length === 1, 10_000, 'the job to run');
      const [first] = processesRunning(['sleep', n]);
      // A stall for real: the event loop is blocked past the lock's expiry, so nothing renews it, and the stall check puts the job back.
      const until = Date.now() + 2000;
      while (Date.now() < until);
      await waitFor(() => processesRunning(['sleep', n]).length === 2, 10_000, 'the job to start again beside its first attempt');
      assert.equal(worker.stats().running, 2, 'both attempts are counted');
      // The first attempt lost its lock: it is killed (SIGKILL, past killGraceMs) and ends LOCK_LOST; the second runs on.
      await waitFor(() => events.some((e) => e.jobId === job.id && e.code === 'LOCK_LOST'), 10_000, 'the first attempt to end LOCK_LOST');
      assert.equal(isAlive(first!), false, 'the first attempt was killed');
      const [second] = processesRunning(['sleep', n]);
      assert.ok(second !== undefined && second !== first, 'the second attempt runs on');
      assert.equal(worker.stats().running, 1, "the first attempt's end did not take the second's record with it");
      // The second attempt still holds the job: its lock is renewed past lockDuration, and no stall check takes the job again.
      await sleep(3000);
      assert.deepEqual(processesRunning(['sleep', n]), [second]);
      assert.equal(await (await queue.getJob(job.id!))!.getState(), 'active');
      // drain() finds it: its tree is killed (past killGraceMs) and the job goes back to the queue, attempts untouched.
      const t0 = Date.now();
      await worker.drain({ graceMs: 0 });
      assert.ok(Date.now() - t0 < 8000, `drain() took ${Date.now() - t0} ms`);
      assert.deepEqual(processesRunning(['sleep', n]), []);
      const requeued = (await queue.getJob(job.id!))!;
      assert.deepEqual([await requeued.getState(), requeued.attemptsMade], ['waiting', 0]);
      assert.ok(events.some((e) => e.jobId === job.id && e.outcome === 'requeued'));
      assert.equal(events.filter((e) => e.jobId === job.id && e.outcome === 'completed').length, 0);
      await queue.remove(job.id!);
    });
  });

  test('graceful shutdown loses nothing: running jobs finish, waiting ones stay queued, and past the grace period jobs are requeued untouched', async () => {
    const queue = newQueue();
    const first = workerProcess(queue, ['--concurrency', '2', '--grace-ms', '20000']);
    await first.waitFor((e) => e.event === 'ready', 20_000, 'ready');
    const jobs = await Promise.all(Array.from({ length: 6 }, (_, i) => addRun(queue, 'sh', ['-c', `sleep 0.5; echo ${i}`])));
    await waitFor(() => descendants(first.pid).filter((p) => p.comm === 'sleep').length === 2, 10_000, 'two running jobs');
    first.kill('SIGTERM');
    assert.deepEqual(await first.exited, { code: 0, signal: null });
    const drained = first.events.find((e) => e.event === 'draining');
    assert.equal(drained?.running, 2);
    const stopped = first.events.find((e) => e.event === 'stopped') as LogEvent & { jobs: Record<string, number> };
    assert.deepEqual([stopped.jobs.completed, stopped.jobs.failed, stopped.jobs.requeued], [2, 0, 0]);
    const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active');
    assert.deepEqual(counts, { completed: 2, failed: 0, waiting: 4, active: 0 });

    const second = workerProcess(queue, ['--concurrency', '2']);
    await waitForCounts(queue, { completed: 6, failed: 0 }, 20_000);
    for (const [i, job] of jobs.entries()) assert.equal((await queue.getJob(job.id!))!.returnvalue.stdout, `${i}\n`);

    // Past the grace period: the tree is killed and the job goes back to the queue, attempts untouched.
    const n = uniqueSleep();
    const long = await addRun(queue, 'sh', ['-c', `sleep ${n} & sleep ${n}; wait`]);
    await waitFor(() => processesRunning(['sleep', n]).length === 2, 10_000, 'the long job to run');
    second.kill('SIGTERM');
    const t0 = Date.now();
    // The worker was started with the default grace (30 s); a second signal ends it at once.
    await second.waitFor((e) => e.event === 'draining', 5000, 'draining');
    second.kill('SIGTERM');
    assert.deepEqual(await second.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 10_000, 'the second signal cut the grace period short');
    await waitFor(() => processesRunning(['sleep', n]).length === 0, 5000, 'the long job tree to die');
    const requeued = (await queue.getJob(long.id!))!;
    assert.equal(await requeued.getState(), 'waiting');
    assert.equal(requeued.attemptsMade, 0);
    assert.ok(second.events.some((e) => e.event === 'job' && e.outcome === 'requeued' && e.jobId === long.id));

    const third = workerProcess(queue, ['--grace-ms', '300']);
    await waitFor(() => processesRunning(['sleep', n]).length === 2, 20_000, 'the requeued job to run again');
    third.kill('SIGTERM');
    assert.deepEqual(await third.exited, { code: 0, signal: null });
    assert.equal(await (await queue.getJob(long.id!))!.getState(), 'waiting');
    await waitFor(() => processesRunning(['sleep', n]).length === 0, 5000, 'the tree to die again');
    await queue.remove(long.id!);
  });

  test('with Redis unreachable a worker still shuts down: drain() gives up on the connections, kills the pool and rejects', async () => {
    const refused = await startRedis(redisBinary);
    await refused.stop(); // a port where nothing listens any more
    const worker = createQueueWorker('unreachable', { connection: { host: '127.0.0.1', port: refused.port, retryStrategy: () => 200 }, concurrency: 1 });
    const errors: string[] = [];
    worker.on('error', (e) => errors.push(e.message));
    await waitFor(() => errors.some((m) => /ECONNREFUSED/.test(m)), 10_000, 'a connection error');
    const t0 = Date.now();
    await assert.rejects(worker.drain({ graceMs: 0 }), /did not close within 10000 ms: BullMQ could not close its Redis connections/);
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal(worker.pool.closed, true);
    await worker.ready;
  });

  test('close() and drain() leave no timer of ours behind, not even an unref\'d one', async () => {
    const queue = newQueue();
    const worker = newWorker(queue, { concurrency: 1 });
    await worker.ready;
    const job = await addRun(queue, 'true');
    await waitForState(queue, job.id!, ['completed'], 10_000);
    assert.deepEqual(await timersLeftBy(() => worker.close()), [], 'close() left a timer armed');
    const quiet = newWorker(queue, { concurrency: 1, cancelEvents: false });
    await quiet.ready;
    assert.deepEqual(await timersLeftBy(() => quiet.drain({ graceMs: 1000 })), [], 'drain() left a timer armed');
  });

  test('drain() again once the worker has closed resolves at once and leaves no timer holding the process', async () => {
    const queue = newQueue();
    const worker = newWorker(queue, { concurrency: 1 });
    await worker.ready;
    await worker.drain({ graceMs: 0 });
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    await worker.drain({ graceMs: 600_000 });
    assert.equal(timers(), before, 'a requeue timer of 600 s was left armed');
  });

  test('drain() with the longest graceMs lets a running job finish (its bound past the longest Node timer is not 1 ms)', async () => {
    const queue = newQueue();
    const worker = newWorker(queue, { concurrency: 1 });
    await worker.ready;
    const job = await addRun(queue, 'sh', ['-c', 'sleep 1; echo done']);
    await waitForState(queue, job.id!, ['active'], 10_000);
    await worker.drain({ graceMs: 2 ** 31 - 1 });
    const done = await waitForState(queue, job.id!, ['completed', 'failed', 'waiting'], 10_000);
    assert.equal((done.returnvalue as QueueRunResult | null)?.stdout, 'done\n', `the job is ${await done.getState()}`);
  });

  test("output that JSON's escapes blow up (64 MiB of control bytes per stream) is cut to fit the stored result; the job completes, no retry", async () => {
    const queue = newQueue();
    const cap = 64 * 1024 * 1024;
    // Storing a few hundred MB takes Redis (single-threaded) a while: the default lock, not the tests' 2 s one.
    const worker = newWorker(queue, { concurrency: 1, lockDuration: 30_000, stalledInterval: 30_000, policy: { timeoutMs: 60_000, maxOutputBytes: cap } });
    await worker.ready;
    // Each byte is 6 in JSON (\u0001): 2 × 384 MiB, past V8's longest string, as one result.
    const flood = `tr '\\0' '\\1' < /dev/zero | head -c ${cap}`;
    const job = await addRun(queue, 'sh', ['-c', `${flood}; ${flood} >&2`], { job: { attempts: 2, backoff: { type: 'fixed', delay: 100 } } });
    // Counts, not the job: each read of it would carry its few hundred MB.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      if ((counts.completed ?? 0) + (counts.failed ?? 0) > 0 || Date.now() > deadline) break;
      await sleep(100);
    }
    const done = (await queue.getJob(job.id!))!;
    assert.equal(done.failedReason, undefined, `failed: ${done.failedReason}`);
    assert.equal(done.attemptsMade, 1);
    const r = done.returnvalue as QueueRunResult;
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.truncated, { stdout: true, stderr: true });
    for (const text of [r.stdout, r.stderr]) {
      assert.equal(text.length, Math.floor(MAX_STREAM_JSON_BYTES / 6));
      assert.equal(text, '\x01'.repeat(text.length), 'only what the program printed');
    }
    await worker.close();
  });

  test('cutToJsonBytes measures what JSON.stringify stores and never splits a surrogate pair', () => {
    const bytes = (t: string): number => Buffer.byteLength(JSON.stringify(t)) - 2;
    const text = 'a"\\\n\x01\x7fé€😀\ud800x\udc00\u2028';
    for (let budget = 0; budget <= bytes(text) + 1; budget++) {
      const cut = cutToJsonBytes(text, budget);
      assert.ok(text.startsWith(cut));
      assert.ok(bytes(cut) <= budget, `budget ${budget}: ${bytes(cut)}`);
      const longer = text.slice(0, cut.length + (text.codePointAt(cut.length)! > 0xffff ? 2 : 1));
      if (cut.length < text.length) assert.ok(bytes(longer) > budget, `budget ${budget}: ${JSON.stringify(cut)} could be longer`);
      assert.ok(!/[\ud800-\udbff]$/.test(cut) || cut === text.slice(0, text.indexOf('\ud800') + 1), 'a pair is never split');
    }
  });

  test('nothing is left: no worker, zygote, sandboxed process, Redis or temp dir', async () => {
    assert.ok(!readdirSync(tmpdir()).includes('dump.rdb') || dumpBefore, 'Redis saved nothing');
    for (const w of processes) w.kill('SIGKILL');
    await Promise.all(processes.map((w) => w.exited));
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(pools.map((p) => p.close({ graceMs: 0 })));
    await Promise.all(queues.map((q) => q.close()));
    const redisPid = redis!.pid;
    await redis!.stop();
    redis = undefined;
    assert.equal(isAlive(redisPid), false, 'redis-server stopped');
    await waitFor(() => descendants().length === 0, 10_000, `no child processes (left: ${JSON.stringify(descendants())})`);
    // Only our own: other hatchery processes on this machine make theirs. A SIGKILLed worker's private
    // tmpfs died with its namespace; a host temp dir it could not remove is swept by the next process.
    const ours = new Set([process.pid, ...processes.map((w) => w.pid)]);
    const leftover = (): string[] => [...operationDirs()].filter((d) => !dirsBefore.has(d) && ours.has(Number(/^hatchery-op-(\d+)-/.exec(d)?.[1])));
    await waitFor(() => leftover().length === 0, 5000, `every operation temp dir to be removed (left: ${leftover().join(', ')})`);
  });
});
