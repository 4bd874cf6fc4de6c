/**
 * The default profile where the environment takes layers away (issue 12:
 * "where an environment cannot use a prepared namespace, it falls back to
 * today's per-child path, and it is measured too"). Each environment is a
 * separate Node process (bench/fallback-child.ts) that sees it:
 *
 * - user namespaces allowed, a caller that is not root (a service under its
 *   own uid on a host): uid 65534 (setpriv) when the bench runs as root;
 *   every namespace, its network, IPC and UTS ones stocked by the zygote's
 *   twin (native/ns_twin.c) where a root zygote stocks its own;
 * - no user namespaces, a caller that is not root (Kubernetes' usual pod):
 *   HATCHERY_DISABLE_USERNS=1, and as uid 65534 (setpriv) when the bench
 *   runs as root. No namespace at all: a host temp dir, the tree ended by
 *   its process group under seccomp;
 * - no user namespaces, a root caller: HATCHERY_DISABLE_USERNS=1. Root still
 *   makes every other namespace, with an operation uid;
 * - a Docker container's default seccomp profile and capabilities, root
 *   (../shared/tools/container-sim, where it and python3-seccomp exist): no
 *   namespace can be made; an operation uid and a host temp dir.
 *
 * Each row's p50 is set against the C floor measured right after it, in the
 * same round. An environment this machine cannot give is a row that says why.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDir, packageRoot } from '../src/native/binding.js';
import { runFloor } from './floor-runner.js';
import { summarize } from './stats.js';

export interface FallbackBenchOptions {
  /** Timed runs per environment per round. */
  runs: number;
}

export type FallbackRow = Record<string, string | number | null>;

const SETPRIV = '/usr/bin/setpriv';
const NOBODY = 65534;
const WARMUP = 20;
const CHILD_TIMEOUT_MS = 120_000;

interface Environment {
  name: string;
  /** The command that runs the child, or why this machine cannot. */
  launch: { prefix: string[]; env: NodeJS.ProcessEnv } | { reason: string };
}

interface ChildReport {
  samplesNs: number[];
  uid: number;
  namespaces: string[];
  tmpdir: string | null;
  treeEnds: string | null;
}

function environments(): Environment[] {
  const root = process.getuid?.() === 0;
  const noUserns = { ...process.env, HATCHERY_DISABLE_USERNS: '1' };
  const asNobody = [SETPRIV, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--'];
  const notRoot = (env: NodeJS.ProcessEnv): Environment['launch'] =>
    !root ? { prefix: [], env } : existsSync(SETPRIV) ? { prefix: asNobody, env } : { reason: `${SETPRIV} (util-linux) is missing` };
  const containerSim = join(packageRoot, '..', 'shared', 'tools', 'container-sim');
  const docker: Environment['launch'] = !root
    ? { reason: 'needs root (a container root without CAP_SYS_ADMIN is what it simulates)' }
    : existsSync(containerSim)
      ? { prefix: [containerSim, '--'], env: { ...process.env } }
      : { reason: `${containerSim} not found` };
  return [
    { name: 'user namespaces, caller not root', launch: notRoot({ ...process.env }) },
    { name: 'no user namespaces, caller not root', launch: notRoot(noUserns) },
    { name: 'no user namespaces, root caller', launch: root ? { prefix: [], env: noUserns } : { reason: 'needs root' } },
    { name: 'Docker default seccomp profile, root (container-sim)', launch: docker },
  ];
}

function runChild(prefix: string[], env: NodeJS.ProcessEnv, runs: number): Promise<ChildReport> {
  const child = join(dirname(fileURLToPath(import.meta.url)), 'fallback-child.js');
  const argv = [...prefix, process.execPath, child, String(runs), String(WARMUP)];
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${signal ?? String(code)}`);
        const report = JSON.parse(line) as ChildReport;
        if (!Array.isArray(report.samplesNs) || report.samplesNs.length === 0) throw new Error('no samples');
        resolve(report);
      } catch (e) {
        const why = err.trim().split('\n').slice(-2).join(' ') || (e as Error).message;
        reject(new Error(why.slice(0, 300)));
      }
    });
  });
}

/** One round: every environment this machine can give, each followed by the floor. */
export async function benchFallback(options: FallbackBenchOptions): Promise<FallbackRow[]> {
  const runs = Math.max(1, Math.floor(options.runs));
  const floorPath = join(buildDir, 'posix-spawn-floor');
  const rows: FallbackRow[] = [];
  for (const e of environments()) {
    if ('reason' in e.launch) {
      rows.push({ metric: 'fallback', environment: e.name, status: `n/a: ${e.launch.reason}` });
      continue;
    }
    let report: ChildReport;
    try {
      report = await runChild(e.launch.prefix, e.launch.env, runs);
    } catch (error) {
      rows.push({ metric: 'fallback', environment: e.name, status: `n/a: ${(error as Error).message}` });
      continue;
    }
    const floor = await runFloor(floorPath, '/bin/true', [], { runs, warmup: 5, timeoutMs: 60_000 + runs * 200 });
    const p50Ms = summarize(report.samplesNs).p50Ms;
    const floorP50Ms = summarize(floor.durationsNs).p50Ms;
    rows.push({
      metric: 'fallback',
      environment: e.name,
      status: 'ok',
      namespaces: report.namespaces.join(',') || 'none',
      // A private tmpfs is mounted on /tmp inside the sandbox; anything else is a host directory.
      tmpdir: report.tmpdir === null ? 'none' : report.tmpdir === '/tmp' ? 'private tmpfs' : 'host dir',
      treeEnds: report.treeEnds,
      uid: report.uid,
      p50Ms,
      floorP50Ms,
      ratioToFloor: p50Ms / floorP50Ms,
    });
  }
  return rows;
}
