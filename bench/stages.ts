/**
 * npm run bench -- --stages [--runs N] [--json]
 *
 * Where the time of one `run('/bin/true')` goes. Every spawn is traced
 * (src/zygote/trace.ts): Node, the zygote and the child each note when a
 * step ended, on the one CLOCK_MONOTONIC clock, and this prints, per
 * profile, the median time from the previous step to each step and the
 * median time since run() was called. Steps run on two cores at once (the
 * zygote goes on while the child sets up), so a step that ends before its
 * predecessor shows a negative step time; the column still adds up to the
 * median total, near enough.
 *
 * Tracing adds a write(2) per child stage (~1 µs each), so the totals here
 * are slightly above the plain round trip `npm run bench` reports.
 */
import { run, closeDefaultZygote } from '../src/index.js';
import { Stage, TRACE_STAGE_BASE, TraceEvent } from '../src/protocol/wire.js';
import { setSpawnTracer, type NodeTraceEvent, type SpawnTrace } from '../src/zygote/trace.js';
import { runFloor } from './floor-runner.js';
import { median } from './stats.js';

const TRUE_BIN = '/bin/true';

type StepKey = `node:${NodeTraceEvent | 'start' | 'end'}` | `zygote:${number}`;

interface Step {
  key: StepKey;
  who: 'node' | 'zygote' | 'child' | 'init' | 'program';
  what: string;
}

const child = (stage: number, who: Step['who'], what: string): Step => ({ key: `zygote:${TRACE_STAGE_BASE + stage}`, who, what });
const zygote = (event: number, what: string, who: Step['who'] = 'zygote'): Step => ({ key: `zygote:${event}`, who, what });

/** In the order a spawn goes through them; a step's time is measured from the previous step present. */
export const STEPS: readonly Step[] = [
  { key: 'node:start', who: 'node', what: 'run() called' },
  { key: 'node:request', who: 'node', what: 'options checked, policy compiled, temp dir and pipes made (prepare)' },
  { key: 'node:sent', who: 'node', what: 'SPAWN encoded and sent' },
  zygote(TraceEvent.Received, 'zygote woke and read the SPAWN'),
  zygote(TraceEvent.Parsed, 'plan parsed and checked'),
  child(Stage.Clone, 'child', 'clone: the child runs (in the zygote\'s memory)'),
  zygote(TraceEvent.Cloned, 'clone returned in the zygote'),
  zygote(TraceEvent.IdMaps, 'user-namespace id maps written by the zygote'),
  child(Stage.Signals, 'child', 'signal dispositions reset'),
  child(Stage.Setsid, 'child', 'new session'),
  child(Stage.Pdeathsig, 'child', 'parent-death signal'),
  child(Stage.Stdio, 'child', 'stdio installed'),
  child(Stage.CloseFds, 'child', 'other fds closed'),
  child(Stage.Userns, 'child', 'inside ids taken (the id maps were awaited first)'),
  child(Stage.Mount, 'child', 'mounts: /proc, hidden dirs, read-only tree, private /tmp, lo up'),
  child(Stage.Cwd, 'child', 'working directory'),
  child(Stage.Rlimits, 'child', 'rlimits'),
  child(Stage.Credentials, 'child', 'credentials dropped'),
  zygote(TraceEvent.Rearmed, 'parent-death signal re-armed', 'child'),
  child(Stage.NoNewPrivs, 'child', 'no_new_privs'),
  child(Stage.Landlock, 'child', 'Landlock ruleset built and applied'),
  zygote(TraceEvent.InitReady, 'init ready to start the program', 'init'),
  child(Stage.Seccomp, 'program', 'seccomp filter installed'),
  child(Stage.Exec, 'init', 'execve done (the init resumes)'),
  zygote(TraceEvent.Released, 'the zygote goes on (exec, or the init confined)'),
  zygote(TraceEvent.ExecSeen, 'zygote learned of the exec'),
  zygote(TraceEvent.SpawnedSent, 'SPAWNED sent'),
  { key: 'node:spawned', who: 'node', what: 'SPAWNED received' },
  zygote(TraceEvent.ProgramReaped, 'program exited, init reaped it', 'init'),
  zygote(TraceEvent.ExitSeen, "zygote saw the child's pidfd readable"),
  zygote(TraceEvent.Reaped, 'zygote reaped the child'),
  { key: 'node:exit', who: 'node', what: 'EXIT received' },
  { key: 'node:end', who: 'node', what: 'run() resolved (temp dir released, streams ended)' },
];

export interface StageRow {
  key: StepKey;
  who: Step['who'];
  what: string;
  /** Samples that had this step. */
  samples: number;
  /** Median of (this step − the previous step present), µs. */
  stepUs: number;
  /** Median of (this step − run() called), µs. */
  atUs: number;
}

export interface StageProfile {
  profile: string;
  runs: number;
  totalP50Us: number;
  rows: StageRow[];
}

type Sample = Map<StepKey, bigint>;

function toSample(start: bigint, end: bigint, trace: SpawnTrace): Sample {
  const s: Sample = new Map();
  s.set('node:start', start);
  for (const [event, ns] of trace.node) s.set(`node:${event}`, ns);
  for (const [event, ns] of trace.zygote) s.set(`zygote:${event}`, ns);
  s.set('node:end', end);
  return s;
}

function tabulate(profile: string, samples: Sample[]): StageProfile {
  const rows: StageRow[] = [];
  for (const step of STEPS) {
    const deltas: number[] = [];
    const since: number[] = [];
    for (const s of samples) {
      const at = s.get(step.key);
      if (at === undefined) continue;
      let previous: bigint | undefined;
      for (const earlier of STEPS) {
        if (earlier.key === step.key) break;
        previous = s.get(earlier.key) ?? previous;
      }
      deltas.push(previous === undefined ? 0 : Number(at - previous) / 1e3);
      since.push(Number(at - s.get('node:start')!) / 1e3);
    }
    if (deltas.length === 0) continue;
    rows.push({ key: step.key, who: step.who, what: step.what, samples: deltas.length, stepUs: median(deltas), atUs: median(since) });
  }
  const totals = samples.map((s) => Number(s.get('node:end')! - s.get('node:start')!) / 1e3);
  return { profile, runs: samples.length, totalP50Us: median(totals), rows };
}

async function traceProfile(profile: string, options: Record<string, unknown>, runs: number, warmup: number): Promise<StageProfile> {
  let last: SpawnTrace | undefined;
  setSpawnTracer((t) => {
    last = t;
  });
  const samples: Sample[] = [];
  try {
    for (let i = -warmup; i < runs; i++) {
      last = undefined;
      const start = process.hrtime.bigint();
      const result = await run(TRUE_BIN, [], options);
      const end = process.hrtime.bigint();
      if (result.exitCode !== 0) throw new Error(`${profile}: /bin/true ended with ${String(result.exitCode)}`);
      if (i >= 0 && last !== undefined) samples.push(toSample(start, end, last));
    }
  } finally {
    setSpawnTracer(undefined);
  }
  if (samples.length === 0) throw new Error(`${profile}: no traced spawn came back`);
  return tabulate(profile, samples);
}

export function renderStages(floorP50Us: number | undefined, profiles: readonly StageProfile[]): string {
  const lines: string[] = [];
  const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const num = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : 'n/a').padStart(8);
  if (floorP50Us !== undefined) lines.push(`C posix_spawn floor (bench/floor.c, same run): p50 ${floorP50Us.toFixed(1)} µs`);
  for (const p of profiles) {
    const ratio = floorP50Us ? ` = ${(p.totalP50Us / floorP50Us).toFixed(2)}× the floor` : '';
    lines.push('', `${p.profile}: ${p.runs} traced runs, run() p50 ${p.totalP50Us.toFixed(1)} µs${ratio}`);
    lines.push(`${pad('who', 8)} ${'step µs'.padStart(8)} ${'at µs'.padStart(8)}  what`);
    for (const r of p.rows) lines.push(`${pad(r.who, 8)} ${num(r.stepUs)} ${num(r.atUs)}  ${r.what}`);
  }
  return lines.join('\n');
}

export interface StagesSettings {
  runs: number;
  warmup: number;
  floorPath: string;
  json: boolean;
}

/** The --stages mode of bench/main.ts. */
export async function runStages(settings: StagesSettings): Promise<void> {
  let floorP50Us: number | undefined;
  try {
    const floor = await runFloor(settings.floorPath, TRUE_BIN, [], { runs: settings.runs, warmup: settings.warmup, timeoutMs: 120_000 });
    floorP50Us = median(floor.durationsNs) / 1e3;
  } catch (e) {
    process.stderr.write(`bench: the C floor is n/a: ${(e as Error).message}\n`);
  }
  const profiles: StageProfile[] = [];
  try {
    profiles.push(await traceProfile('default profile', {}, settings.runs, settings.warmup));
    profiles.push(await traceProfile('sandbox: false', { sandbox: false }, settings.runs, settings.warmup));
  } finally {
    await closeDefaultZygote();
  }
  if (settings.json) process.stdout.write(`${JSON.stringify({ floorP50Us, profiles }, null, 2)}\n`);
  else process.stdout.write(`${renderStages(floorP50Us, profiles)}\n`);
}
