/**
 * npm run bench:queue [-- --quick] [-- --json] [-- --jobs N] [-- --concurrency C]
 *
 * Jobs per second through one BullMQ queue on a real Redis (a redis-server
 * this script starts on 127.0.0.1 and a free port, and stops), against
 * direct pool.run() in one process; and what the queue adds to one job.
 *
 * - direct: N runs of /bin/true (default sandbox) through createPool() with C
 *   calls in flight, in this process;
 * - queue, 1 worker / 2 workers: `hatchery worker --concurrency C` processes;
 *   the producer adds N jobs in one addBulk and the clock runs until
 *   QueueEvents has seen N 'completed' events;
 * - latency: one job at a time (a worker with --concurrency 1), add to
 *   'completed' as a producer sees it (job.waitUntilFinished) against one
 *   direct pool.run(); the difference is the Redis round trip per job.
 *
 * Every scenario runs `--rounds` times, interleaved; medians are reported.
 * Bounded: rounds and samples stop at a 90 s budget (a loaded machine gets
 * fewer of them, as the report says); leaves no process.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents } from 'bullmq';
import { createPool } from '../src/index.js';
import { addRun, DEFAULT_RUN_JOB_OPTIONS, type RunJobData } from '../src/bullmq/index.js';
import { findRedisServer, startRedis, type RedisServer } from '../test/redis-server.js';
import { startWorkerProcess, type WorkerProcess } from '../test/worker-process.js';

const TRUE_BIN = '/bin/true';
const MIN_LATENCY_SAMPLES = 10;

interface Settings {
  /** Past it no new round or latency sample starts. */
  budgetMs: number;
  jobs: number;
  concurrency: number;
  rounds: number;
  latencySamples: number;
  json: boolean;
}

export interface QueueBenchReport {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryBytes: number; kernel: string; node: string; loadAverage: { before: number; after: number } };
  settings: Settings;
  throughput: Array<{ scenario: string; workers: number; jobsPerSec: number; rounds: number[] }>;
  latency: { directP50Ms: number; queueP50Ms: number; queueP90Ms: number; redisOverheadP50Ms: number; samples: number };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : (sorted[Math.floor(sorted.length / 2)] as number);
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

async function directJobsPerSec(jobs: number, concurrency: number): Promise<number> {
  const pool = createPool({ maxConcurrency: concurrency, maxQueue: 0 });
  try {
    await pool.run(TRUE_BIN); // warm: a zygote up
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < jobs) {
          next++;
          await pool.run(TRUE_BIN);
        }
      }),
    );
    return jobs / ((performance.now() - t0) / 1000);
  } finally {
    await pool.close({ graceMs: 0 });
  }
}

/** Wait for `count` 'completed' events; resolves with the time the last one arrived. */
function completions(events: QueueEvents, count: number): Promise<number> {
  return new Promise((resolve) => {
    let seen = 0;
    const onCompleted = (): void => {
      if (++seen < count) return;
      events.off('completed', onCompleted);
      resolve(performance.now());
    };
    events.on('completed', onCompleted);
  });
}

async function queueJobsPerSec(redis: RedisServer, workers: number, settings: Settings, round: number): Promise<number> {
  const connection = { host: '127.0.0.1', port: redis.port };
  const name = `bench-${process.pid}-${workers}w-${round}`;
  const queue = new Queue<RunJobData>(name, { connection });
  const events = new QueueEvents(name, { connection });
  const procs: WorkerProcess[] = [];
  try {
    await events.waitUntilReady();
    for (let i = 0; i < workers; i++) procs.push(startWorkerProcess(['--redis', redis.url, '--queue', name, '--concurrency', String(settings.concurrency)]));
    await Promise.all(procs.map((p) => p.waitFor((e) => e.event === 'ready', 60_000, 'ready')));
    // Warm each worker's zygote with one job per worker before the clock starts.
    const warm = completions(events, workers * settings.concurrency);
    await Promise.all(Array.from({ length: workers * settings.concurrency }, () => addRun(queue, TRUE_BIN)));
    await warm;
    const done = completions(events, settings.jobs);
    const t0 = performance.now();
    await queue.addBulk(Array.from({ length: settings.jobs }, () => ({ name: 'run', data: { command: TRUE_BIN }, opts: { ...DEFAULT_RUN_JOB_OPTIONS, removeOnComplete: true } })));
    const t1 = await done;
    return settings.jobs / ((t1 - t0) / 1000);
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await events.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

async function latency(redis: RedisServer, samples: number, deadline: number): Promise<QueueBenchReport['latency']> {
  const connection = { host: '127.0.0.1', port: redis.port };
  const name = `bench-${process.pid}-latency`;
  const queue = new Queue<RunJobData>(name, { connection });
  const events = new QueueEvents(name, { connection });
  const worker = startWorkerProcess(['--redis', redis.url, '--queue', name, '--concurrency', '1']);
  const pool = createPool({ maxConcurrency: 1, maxQueue: 0 });
  const direct: number[] = [];
  const queued: number[] = [];
  try {
    await Promise.all([events.waitUntilReady(), worker.waitFor((e) => e.event === 'ready', 60_000, 'ready')]);
    for (let i = 0; i < 3; i++) {
      await pool.run(TRUE_BIN);
      await (await addRun(queue, TRUE_BIN)).waitUntilFinished(events);
    }
    // Interleaved, so machine noise hits both alike.
    // At least MIN_LATENCY_SAMPLES even past the budget: fewer would not be a measurement.
    for (let i = 0; i < samples && (i < MIN_LATENCY_SAMPLES || performance.now() < deadline); i++) {
      let t = performance.now();
      await pool.run(TRUE_BIN);
      direct.push(performance.now() - t);
      t = performance.now();
      const job = await addRun(queue, TRUE_BIN, [], { job: { removeOnComplete: true } });
      await job.waitUntilFinished(events);
      queued.push(performance.now() - t);
    }
  } finally {
    worker.kill('SIGTERM');
    await worker.exited;
    await pool.close({ graceMs: 0 });
    await events.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
  const directP50Ms = percentile(direct, 0.5);
  const queueP50Ms = percentile(queued, 0.5);
  return {
    directP50Ms: round2(directP50Ms),
    queueP50Ms: round2(queueP50Ms),
    queueP90Ms: round2(percentile(queued, 0.9)),
    redisOverheadP50Ms: round2(queueP50Ms - directP50Ms),
    samples: queued.length,
  };
}

export async function benchQueue(settings: Settings, log: (line: string) => void): Promise<QueueBenchReport> {
  const deadline = performance.now() + settings.budgetMs;
  // Other work on the machine slows every scenario alike; the report says how busy it was.
  const loadBefore = os.loadavg()[0] ?? 0;
  const redis = await startRedis();
  try {
    const rounds = { direct: [] as number[], one: [] as number[], two: [] as number[] };
    // The latency phase gets the last sixth of the budget.
    const roundsUntil = deadline - settings.budgetMs / 6;
    for (let r = 0; r < settings.rounds && (r === 0 || performance.now() < roundsUntil); r++) {
      rounds.direct.push(await directJobsPerSec(settings.jobs, settings.concurrency));
      rounds.one.push(await queueJobsPerSec(redis, 1, settings, r));
      rounds.two.push(await queueJobsPerSec(redis, 2, settings, r));
      log(`round ${r + 1}/${settings.rounds}: direct ${rounds.direct.at(-1)!.toFixed(0)}, 1 worker ${rounds.one.at(-1)!.toFixed(0)}, 2 workers ${rounds.two.at(-1)!.toFixed(0)} jobs/s`);
    }
    const lat = await latency(redis, settings.latencySamples, Math.max(deadline, performance.now() + 5000));
    return {
      date: new Date().toISOString(),
      machine: {
        cpus: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memoryBytes: os.totalmem(),
        kernel: os.release(),
        node: process.version,
        loadAverage: { before: round2(loadBefore), after: round2(os.loadavg()[0] ?? 0) },
      },
      settings,
      throughput: [
        { scenario: `direct pool.run(), ${settings.concurrency} in flight, one process`, workers: 0, jobsPerSec: round2(median(rounds.direct)), rounds: rounds.direct.map(round2) },
        { scenario: `queue, 1 worker process × concurrency ${settings.concurrency}`, workers: 1, jobsPerSec: round2(median(rounds.one)), rounds: rounds.one.map(round2) },
        { scenario: `queue, 2 worker processes × concurrency ${settings.concurrency}`, workers: 2, jobsPerSec: round2(median(rounds.two)), rounds: rounds.two.map(round2) },
      ],
      latency: lat,
    };
  } finally {
    await redis.stop();
  }
}

function render(report: QueueBenchReport): string {
  const lines = [
    `hatchery queue benchmark: /bin/true with the default sandbox, ${report.settings.jobs} jobs per run, median of ${report.throughput[0]?.rounds.length ?? 0} rounds`,
    `${report.machine.cpus} CPUs (${report.machine.cpuModel}), Linux ${report.machine.kernel}, Node ${report.machine.node}; Redis on loopback; 1-min load average ${report.machine.loadAverage.before} before, ${report.machine.loadAverage.after} after`,
    '',
    '| scenario | jobs/s |',
    '| --- | ---: |',
    ...report.throughput.map((t) => `| ${t.scenario} | ${t.jobsPerSec.toFixed(0)} |`),
    '',
    `One job at a time (${report.latency.samples} samples): direct pool.run() p50 ${report.latency.directP50Ms} ms; through the queue p50 ${report.latency.queueP50Ms} ms (p90 ${report.latency.queueP90Ms} ms): the Redis round trip adds ${report.latency.redisOverheadP50Ms} ms per job.`,
  ];
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      jobs: { type: 'string' },
      concurrency: { type: 'string' },
      rounds: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const settings: Settings = {
    budgetMs: 90_000,
    jobs: Number(values.jobs ?? (quick ? 100 : 400)),
    concurrency: Number(values.concurrency ?? 4),
    rounds: Number(values.rounds ?? (quick ? 1 : 3)),
    latencySamples: quick ? 30 : 100,
    json: values.json === true,
  };
  for (const [k, v] of Object.entries(settings)) {
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 1)) throw new Error(`--${k} must be a positive integer`);
  }
  if (findRedisServer() === null) {
    process.stderr.write('bench:queue: redis-server is not installed (apt-get install redis-server)\n');
    process.exitCode = 2;
    return;
  }
  const report = await benchQueue(settings, (line) => process.stderr.write(`${line}\n`));
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'queue-latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(settings.json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench:queue: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
