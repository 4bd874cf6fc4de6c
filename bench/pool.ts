/**
 * Pool benchmarks (issue 4), run by bench/main.ts:
 *
 * - throughput of /bin/true through a pool at each concurrency, against the
 *   C floor (bench/floor.c: posix_spawn + waitpid, C children in flight) at
 *   the same concurrency, interleaved per level so machine noise hits both;
 *   pool runs use stdio 'ignore' like the floor, once with the default
 *   sandbox and once with sandbox: false (the floor sandboxes nothing);
 * - idle zygote RSS and thread count from /proc/<pid>/status;
 * - zygote start time (what growing the pool costs);
 * - what "busy" costs one zygote: spawn latency with N children in flight;
 * - the heartbeat: PING round trip and CPU per ping, Node side and zygote side.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPool, type Pool } from '../src/index.js';
import { buildDir } from '../src/native/binding.js';
import { normalizeSpawnOptions } from '../src/options/spawn-options.js';
import { spawnOn, type InternalSpawn } from '../src/spawn/spawn.js';
import { Zygote } from '../src/zygote/zygote.js';
import { runFloor } from './floor-runner.js';

const TRUE_BIN = '/bin/true';

export interface PoolBenchOptions {
  concurrencies: number[];
  opsPerLevel: number;
  /** Children in flight on one zygote for the busy-cost rows. Default [0, 4, 16, 64]. */
  busyLevels?: number[];
  /** Pings for the heartbeat row. Default 20000 (the zygote's CPU is read in 10 ms ticks). */
  pings?: number;
}

export interface ThroughputRow {
  metric: 'throughput';
  concurrency: number;
  ops: number;
  /** sandbox 'default': the default profile; 'off': sandbox: false. */
  sandbox: 'default' | 'off';
  poolOpsPerSec: number;
  floorOpsPerSec: number;
  ratioToFloor: number;
}

export interface IdleZygoteRow {
  metric: 'idleZygoteRss';
  pid: number;
  rssBytes: number;
  threads: number;
}

export interface ZygoteStartRow {
  metric: 'zygoteStart';
  samples: number;
  p50Ms: number;
  p90Ms: number;
}

export interface BusyRow {
  metric: 'busy';
  /** Children already in flight (sleeping) on the zygote. */
  inFlight: number;
  samples: number;
  /** Request to exec'd. */
  spawnP50Us: number;
  spawnP90Us: number;
  /** Request to reaped. */
  runP50Us: number;
}

export interface HeartbeatRow {
  metric: 'heartbeat';
  pings: number;
  roundTripP50Us: number;
  roundTripP90Us: number;
  /** Node CPU (user + sys) per ping. */
  nodeCpuUsPerPing: number;
  /** Zygote CPU per ping, from /proc/<pid>/stat (10 ms ticks, so averaged over all pings). */
  zygoteCpuUsPerPing: number;
}

export type PoolBenchRow = ThroughputRow | IdleZygoteRow | ZygoteStartRow | BusyRow | HeartbeatRow;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

async function drive(concurrency: number, ops: number, op: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ops) {
        next++;
        await op();
      }
    }),
  );
  return ops / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function trueThroughPool(pool: Pool): Promise<void> {
  const handle = await pool.spawn(TRUE_BIN, [], { stdio: 'ignore' });
  const status = await handle.exited;
  if (status.exitCode !== 0) throw new Error(`${TRUE_BIN} exited with ${String(status.exitCode)}`);
}

async function poolThroughput(concurrency: number, ops: number, sandboxed: boolean): Promise<number> {
  const pool = createPool({ minZygotes: 1, maxZygotes: 2, maxConcurrency: concurrency, ...(sandboxed ? {} : { sandbox: false }) });
  try {
    await drive(concurrency, Math.min(200, ops), () => trueThroughPool(pool));
    return await drive(concurrency, ops, () => trueThroughPool(pool));
  } finally {
    await pool.close({ graceMs: 0 });
  }
}

/** /bin/true through a pool vs the C floor, per concurrency level, plus idle zygote RSS. */
export async function benchPoolThroughput(options: PoolBenchOptions): Promise<PoolBenchRow[]> {
  const floorPath = join(buildDir, 'posix-spawn-floor');
  const rows: PoolBenchRow[] = [];
  for (const concurrency of options.concurrencies) {
    const floor = await runFloor(floorPath, TRUE_BIN, [], {
      runs: options.opsPerLevel,
      warmup: 50,
      concurrency,
      timeoutMs: 120_000,
    });
    for (const sandboxed of [true, false]) {
      const poolOpsPerSec = await poolThroughput(concurrency, options.opsPerLevel, sandboxed);
      rows.push({
        metric: 'throughput',
        concurrency,
        ops: options.opsPerLevel,
        sandbox: sandboxed ? 'default' : 'off',
        poolOpsPerSec,
        floorOpsPerSec: floor.opsPerSec,
        ratioToFloor: poolOpsPerSec / floor.opsPerSec,
      });
    }
  }
  rows.push(await idleZygoteRss());
  rows.push(await zygoteStart(20));
  rows.push(...(await busyCost(options.busyLevels ?? [0, 4, 16, 64], 200)));
  rows.push(await heartbeatCost(options.pings ?? 20_000));
  return rows;
}

function procStatus(pid: number): { rssBytes: number; threads: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    rssBytes: Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN) * 1024,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
  };
}

/** A warm zygote that has served one operation and sits idle. */
export async function idleZygoteRss(): Promise<IdleZygoteRow> {
  const pool = createPool({ minZygotes: 1, maxZygotes: 1 });
  try {
    await trueThroughPool(pool);
    await sleep(100);
    const pid = pool.stats().zygotes[0]!.pid;
    return { metric: 'idleZygoteRss', pid, ...procStatus(pid) };
  } finally {
    await pool.close({ graceMs: 0 });
  }
}

/** Zygote.start(): clone(CLONE_VM|CLONE_VFORK) + exec + handshake; what one step of growth costs. */
export async function zygoteStart(samples: number): Promise<ZygoteStartRow> {
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 10_000 });
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    z.close();
  }
  return { metric: 'zygoteStart', samples, p50Ms: percentile(ms, 0.5), p90Ms: percentile(ms, 0.9) };
}

/** Spawn latency of /bin/true (default sandbox) on one zygote that already has N children in flight. */
export async function busyCost(levels: number[], samples: number): Promise<BusyRow[]> {
  const rows: BusyRow[] = [];
  const options = () => normalizeSpawnOptions({}, [], ['ignore', 'ignore', 'ignore']);
  for (const inFlight of levels) {
    const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 10_000 });
    const sleepers: InternalSpawn[] = [];
    try {
      for (let i = 0; i < inFlight; i++) sleepers.push(await spawnOn(z, '/bin/sleep', ['600'], options()));
      const spawnUs: number[] = [];
      const runUs: number[] = [];
      for (let i = 0; i < samples + 20; i++) {
        const t = process.hrtime.bigint();
        const s = await spawnOn(z, TRUE_BIN, [], options());
        const execd = process.hrtime.bigint();
        await s.handle.exited;
        if (i < 20) continue; // warm-up
        spawnUs.push(Number(execd - t) / 1e3);
        runUs.push(Number(process.hrtime.bigint() - t) / 1e3);
      }
      rows.push({
        metric: 'busy',
        inFlight,
        samples,
        spawnP50Us: percentile(spawnUs, 0.5),
        spawnP90Us: percentile(spawnUs, 0.9),
        runP50Us: percentile(runUs, 0.5),
      });
    } finally {
      for (const s of sleepers) s.handle.kill('SIGKILL');
      await Promise.all(sleepers.map((s) => s.handle.exited.catch(() => undefined)));
      z.close();
    }
  }
  return rows;
}

function zygoteCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** What the pool heartbeat costs: one PING round trip per zygote with children, every heartbeatMs. */
export async function heartbeatCost(pings: number): Promise<HeartbeatRow> {
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 10_000 });
  try {
    for (let i = 0; i < 100; i++) await z.ping();
    const rtt: number[] = [];
    const ticksBefore = zygoteCpuTicks(z.pid);
    const cpuBefore = process.cpuUsage();
    for (let i = 0; i < pings; i++) rtt.push((await z.ping()) * 1000);
    const cpu = process.cpuUsage(cpuBefore);
    const ticks = zygoteCpuTicks(z.pid) - ticksBefore;
    return {
      metric: 'heartbeat',
      pings,
      roundTripP50Us: percentile(rtt, 0.5),
      roundTripP90Us: percentile(rtt, 0.9),
      nodeCpuUsPerPing: (cpu.user + cpu.system) / pings,
      zygoteCpuUsPerPing: (ticks * 10_000) / pings,
    };
  } finally {
    z.close();
  }
}
