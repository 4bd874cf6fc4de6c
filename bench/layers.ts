/**
 * npm run bench -- --layers [--runs N] [--rounds N] [--json]
 *
 * What each layer of the default profile adds to one `run('/bin/true')`,
 * built up one layer at a time: from `sandbox: false`, through Landlock and
 * seccomp alone, then the user, mount and pid namespaces, the private /tmp
 * and the network namespace, to the default profile. The variants take
 * turns, a round each, so a slower minute of the machine lands on all.
 *
 * Per variant: the round trip's median, and what the whole machine spent
 * per run (busy time from /proc/stat over both CPUs: Node, the zygote, the
 * child, its init and program, and the kernel's own threads tearing
 * namespaces down) with the inter-processor interrupts it took (function
 * calls and reschedules, from /proc/interrupts). On a machine of two CPUs
 * the CPU time, not the latency, is what a busy pool runs out of. Other
 * work on the machine counts too: run it on a quiet one.
 *
 * A variant the environment cannot give (no user namespaces, say) is shown
 * as n/a with the reason, the others still run.
 */
import { readFileSync } from 'node:fs';
import { run, closeDefaultZygote, type RunOptions } from '../src/index.js';
import { TRUE_BIN } from './contenders.js';
import { runFloor } from './floor-runner.js';
import { median, splitRuns } from './stats.js';

const NONE = { user: false, mount: false, pid: false, net: false, ipc: false, uts: false };

interface Layer {
  name: string;
  options: RunOptions;
}

/** Each adds one layer to the one before it; the last is the default profile. */
export const LAYERS: readonly Layer[] = [
  { name: 'sandbox: false', options: { sandbox: false } },
  { name: 'Landlock + seccomp, no namespace, no temp dir', options: { sandbox: { namespaces: NONE, tmpdir: false } } },
  { name: '+ user namespace', options: { sandbox: { namespaces: { ...NONE, user: true }, tmpdir: false } } },
  { name: '+ mount namespace (hidden dirs, read-only tree)', options: { sandbox: { namespaces: { ...NONE, user: true, mount: true }, tmpdir: false } } },
  { name: '+ private /tmp (a tmpfs)', options: { sandbox: { namespaces: { ...NONE, user: true, mount: true } } } },
  { name: '+ pid namespace (its /proc, the init)', options: { sandbox: { namespaces: { ...NONE, user: true, mount: true, pid: true } } } },
  { name: '+ network namespace', options: { sandbox: { namespaces: { ...NONE, user: true, mount: true, pid: true, net: true } } } },
  { name: 'default profile (+ IPC and UTS namespaces)', options: {} },
];

export interface LayerRow {
  name: string;
  runs: number;
  p50Us?: number;
  /** Busy CPU time of the whole machine per run. */
  cpuUsPerRun?: number;
  /** Function-call and reschedule interrupts per run, all CPUs. */
  ipisPerRun?: number;
  unavailable?: string;
}

interface Counters {
  busyTicks: number;
  ipis: number;
}

/** USER_HZ: /proc/stat counts in these ticks (100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

function readCounters(): Counters {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait
  const busyTicks = (cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0) + (cpu[7] ?? 0);
  let ipis = 0;
  for (const line of readFileSync('/proc/interrupts', 'utf8').split('\n')) {
    const m = /^\s*(CAL|RES):((?:\s+\d+)+)/.exec(line);
    if (m) for (const n of m[2]!.trim().split(/\s+/)) ipis += Number(n);
  }
  return { busyTicks, ipis };
}

export interface LayersSettings {
  runs: number;
  rounds: number;
  warmup: number;
  floorPath: string;
  json: boolean;
}

export async function measureLayers(settings: LayersSettings): Promise<{ floorP50Us?: number; floorCpuUsPerRun?: number; rows: LayerRow[] }> {
  let floorP50Us: number | undefined;
  let floorCpuUsPerRun: number | undefined;
  try {
    const before = readCounters();
    const floor = await runFloor(settings.floorPath, TRUE_BIN, [], { runs: settings.runs, warmup: settings.warmup, timeoutMs: 120_000 });
    const after = readCounters();
    floorP50Us = median(floor.durationsNs) / 1e3;
    floorCpuUsPerRun = ((after.busyTicks - before.busyTicks) * 1e6) / TICKS_PER_SECOND / (settings.runs + settings.warmup);
  } catch (e) {
    process.stderr.write(`bench: the C floor is n/a: ${(e as Error).message}\n`);
  }
  const samples = LAYERS.map(() => [] as number[]);
  const busy = LAYERS.map(() => 0);
  const ipis = LAYERS.map(() => 0);
  const unavailable: (string | undefined)[] = LAYERS.map(() => undefined);
  try {
    for (const [i, layer] of LAYERS.entries()) {
      try {
        for (let w = 0; w < settings.warmup; w++) await run(TRUE_BIN, [], layer.options);
      } catch (e) {
        unavailable[i] = (e as Error).message.split('\n', 1)[0];
      }
    }
    for (const perRound of splitRuns(settings.runs, settings.rounds)) {
      for (const [i, layer] of LAYERS.entries()) {
        if (unavailable[i] !== undefined) continue;
        const before = readCounters();
        for (let n = 0; n < perRound; n++) {
          const t = process.hrtime.bigint();
          const result = await run(TRUE_BIN, [], layer.options);
          samples[i]!.push(Number(process.hrtime.bigint() - t) / 1e3);
          if (result.exitCode !== 0) throw new Error(`${layer.name}: /bin/true ended with ${String(result.exitCode)}`);
        }
        const after = readCounters();
        busy[i]! += after.busyTicks - before.busyTicks;
        ipis[i]! += after.ipis - before.ipis;
      }
    }
  } finally {
    await closeDefaultZygote();
  }
  const rows = LAYERS.map((layer, i): LayerRow => {
    const s = samples[i]!;
    if (unavailable[i] !== undefined || s.length === 0) return { name: layer.name, runs: 0, unavailable: unavailable[i] ?? 'no runs' };
    return {
      name: layer.name,
      runs: s.length,
      p50Us: median(s),
      cpuUsPerRun: (busy[i]! * 1e6) / TICKS_PER_SECOND / s.length,
      ipisPerRun: ipis[i]! / s.length,
    };
  });
  const result: { floorP50Us?: number; floorCpuUsPerRun?: number; rows: LayerRow[] } = { rows };
  if (floorP50Us !== undefined) result.floorP50Us = floorP50Us;
  if (floorCpuUsPerRun !== undefined) result.floorCpuUsPerRun = floorCpuUsPerRun;
  return result;
}

export function renderLayers(m: { floorP50Us?: number; floorCpuUsPerRun?: number; rows: readonly LayerRow[] }): string {
  const ms = (us: number | undefined): string => (us === undefined ? 'n/a' : (us / 1000).toFixed(3));
  const delta = (a: number | undefined, b: number | undefined): string =>
    a === undefined || b === undefined ? '' : `${a >= b ? '+' : '-'}${(Math.abs(a - b) / 1000).toFixed(3)}`;
  const lines = [
    `C posix_spawn floor (bench/floor.c, same run): p50 ${ms(m.floorP50Us)} ms, machine CPU ${ms(m.floorCpuUsPerRun)} ms a run`,
    '',
    '| layers | runs | run() p50 ms | × floor | p50 step | CPU ms a run | CPU step | IPIs a run |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  let previous: LayerRow | undefined;
  for (const r of m.rows) {
    if (r.unavailable !== undefined) {
      lines.push(`| ${r.name} | 0 | n/a: ${r.unavailable} | | | | | |`);
      continue;
    }
    const ratio = m.floorP50Us === undefined || r.p50Us === undefined ? '' : `${(r.p50Us / m.floorP50Us).toFixed(2)}×`;
    lines.push(
      `| ${r.name} | ${r.runs} | ${ms(r.p50Us)} | ${ratio} | ${delta(r.p50Us, previous?.p50Us)} | ${ms(r.cpuUsPerRun)} | ${delta(r.cpuUsPerRun, previous?.cpuUsPerRun)} | ${r.ipisPerRun?.toFixed(1) ?? ''} |`,
    );
    previous = r;
  }
  return lines.join('\n');
}

/** The --layers mode of bench/main.ts. */
export async function runLayers(settings: LayersSettings): Promise<void> {
  const m = await measureLayers(settings);
  process.stdout.write(settings.json ? `${JSON.stringify(m, null, 2)}\n` : `${renderLayers(m)}\n`);
}
