/**
 * Warm-worker call latency against the two ways Node runs a function in a
 * fresh process without hatchery: a cold `node -e` boot per call
 * (child_process.spawn of process.execPath) and child_process.fork + one IPC
 * round trip per call. Every contender runs the same trivial function.
 *
 * Back-to-back warm samples wait (untimed) until the pool has its warm
 * workers idle, so they measure the call itself: frame out, run, frame back.
 * The replacement boot that follows each reuse-1 call is reported separately
 * (boot to ready). Spaced samples are what a service sees: calls
 * SPACED_GAP_MS apart with no wait for ready(), so a call meets whatever the
 * refill of the one before it still does to the parent and the CPUs.
 */
import { fork, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkerPool } from '../src/index.js';
import { summarize } from './stats.js';

export interface WorkerBenchOptions {
  /** Samples for the warm-worker rows; the cold contenders take min(calls, 40) (each costs a full Node boot). */
  calls: number;
}

export type WorkerBenchRow = Record<string, string | number>;

/** The gap between spaced calls: longer than a worker's boot, so each call finds a warm worker. */
export const SPACED_GAP_MS = 150;
/** Spaced samples per round, at most (each costs SPACED_GAP_MS). */
const SPACED_MAX_SAMPLES = 40;

const MODULE_SOURCE = `
export function noop(x) { return x; }
if (typeof process.send === 'function') {
  process.once('message', (m) => process.send(noop(m), () => process.exit(0)));
}
`;

function now(): bigint {
  return process.hrtime.bigint();
}

function exitOf(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited with ${code}`))));
  });
}

async function coldBoot(samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = now();
    const child = spawn(process.execPath, ['-e', 'process.stdout.write(String(1 + 1))'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d));
    await exitOf(child);
    if (text !== '2') throw new Error(`node -e printed ${JSON.stringify(text)}`);
    out.push(Number(now() - t));
  }
  return out;
}

async function forkIpc(modulePath: string, samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = now();
    const child = fork(modulePath, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const reply = new Promise<unknown>((resolve) => child.once('message', resolve));
    child.send(i);
    const value = await reply;
    await exitOf(child);
    if (value !== i) throw new Error(`fork child answered ${String(value)}`);
    out.push(Number(now() - t));
  }
  return out;
}

/** `calls` timed calls on a warm-1 pool: back-to-back after ready(), or `gapMs` apart without it. */
async function warmCalls(modulePath: string, calls: number, reuse: number, gapMs = 0): Promise<{ call: number[]; bootMs: number }> {
  const pool = createWorkerPool({ module: modulePath, warm: 1, maxWorkers: 1, reuse, output: 'ignore' });
  const out: number[] = [];
  try {
    await pool.ready();
    await pool.call('noop', 0); // first call pays one-time costs in this process
    for (let i = 0; i < calls; i++) {
      if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      else await pool.ready();
      const t = now();
      const value = await pool.call('noop', i);
      out.push(Number(now() - t));
      if (value !== i) throw new Error(`worker answered ${String(value)}`);
    }
    return { call: out, bootMs: pool.stats().bootMs.mean };
  } finally {
    await pool.close();
  }
}

export async function benchWorkers(options: WorkerBenchOptions): Promise<WorkerBenchRow[]> {
  const calls = Math.max(1, Math.floor(options.calls));
  const cold = Math.min(calls, 40);
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-bench-workers-'));
  const modulePath = join(dir, 'noop.mjs');
  writeFileSync(modulePath, MODULE_SOURCE);
  // Run as root, the sandbox drops to uid 65534, which must be able to read the module.
  chmodSync(dir, 0o755);
  chmodSync(modulePath, 0o644);
  const row = (name: string, ns: number[], extra: WorkerBenchRow = {}): WorkerBenchRow => {
    const s = summarize(ns);
    return { name, samples: s.samples, p50Ms: s.p50Ms, p90Ms: s.p90Ms, meanMs: s.meanMs, ...extra };
  };
  try {
    const single = await warmCalls(modulePath, calls, 1);
    const spaced = await warmCalls(modulePath, Math.min(calls, SPACED_MAX_SAMPLES), 1, SPACED_GAP_MS);
    const reused = await warmCalls(modulePath, calls, calls + 1);
    const boot = await coldBoot(cold);
    const forked = await forkIpc(modulePath, cold);
    return [
      row('hatchery warm worker call (reuse 1, fresh sandboxed process per call)', single.call, { reuse: 1, bootToReadyMeanMs: single.bootMs }),
      row(`hatchery warm worker call (reuse 1, calls ${SPACED_GAP_MS} ms apart)`, spaced.call, { reuse: 1, bootToReadyMeanMs: spaced.bootMs }),
      row('hatchery warm worker call (reuse n, same process)', reused.call, { reuse: calls + 1 }),
      row('cold node -e boot per call (child_process.spawn)', boot),
      row('child_process.fork + IPC per call', forked),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
