/**
 * npm run bench [-- --quick] [-- --json] [-- --svg FILE] [-- --runs N] [-- --stages] [-- --layers]
 * (also: npx hatchery bench [--quick] [--json] [--svg FILE])
 *
 * Measures a spawn-and-exit round trip of /bin/true (p50/p90) for hatchery,
 * child_process.spawn, the C posix_spawn floor and bwrap, with the Node-side
 * contenders at two caller sizes (this process, and a child Node process
 * holding >= 1.5 GB RSS). All contenders run in interleaved rounds so that
 * machine noise hits them alike. Prints a table and the targets (reported,
 * not asserted) and writes JSON to bench/results/.
 *
 * Beside the round trip: execa and @anthropic-ai/sandbox-runtime (peers,
 * bench/peers.ts), and the pool throughput and warm worker benchmarks
 * (bench/pool.ts, bench/workers.ts) when they exist, one share per round.
 * An SVG bar chart (log scale) goes to --svg FILE (default
 * bench/results/latest.svg), rendered with Vega-Lite (bench/chart.ts).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BigHeapChild, runBigHeapPhase, type ReadyMessage } from './big-heap.js';
import { HATCHERY_CONTENDERS, NAMES, NODE_CONTENDERS, TRUE_BIN, measureRound, prepareNodeContenders, warmUp } from './contenders.js';
import { runFloor } from './floor-runner.js';
import { chartBars, chartSubtitle, CHART_TITLE, renderChartSvg } from './chart.js';
import { extraTargets, mergeRounds, prepareExtras, renderRows, runExtrasRound, type Extra } from './extras.js';
import { splitRuns, summarize, type Summary } from './stats.js';
import { runStages } from './stages.js';
import { runLayers } from './layers.js';

const BWRAP = '/usr/bin/bwrap';
const BWRAP_ARGS = ['--unshare-all', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', TRUE_BIN];

type Heap = 'default' | 'big';

interface Settings {
  quick: boolean;
  json: boolean;
  runs: number;
  rounds: number;
  warmup: number;
  heapBytes: number;
  bigHeap: boolean;
  opTimeoutMs: number;
  floorPath: string;
  resultsDir: string;
  svgPath: string;
}

interface ContenderResult {
  name: string;
  /** The caller's heap for Node-side contenders; null for programs timed inside the floor. */
  heap: Heap | null;
  status: 'ok' | 'n/a';
  reason?: string;
  note?: string;
  summary?: Summary;
  ratioToFloor?: number;
  ratioToChildProcess?: number;
  /** hatchery: p50 of the wall time the zygote reported (clone to reap); the rest is Node, protocol and wake-ups. */
  zygoteWallP50Ms?: number;
  /** hatchery: the namespaces its enforcement report listed. */
  namespaces?: string[];
  samplesNs?: number[];
}

interface TargetResult {
  issue: number;
  target: string;
  verdict: 'PASS' | 'FAIL' | 'N/A';
  detail: string;
}

const mainPath = fileURLToPath(import.meta.url);

function packageRoot(): string {
  // dist/bench/main.js -> ../.. ; bench/main.ts run directly -> ..
  let dir = dirname(mainPath);
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  return join(dirname(mainPath), '..', '..');
}

const USAGE = `usage: npm run bench -- [--quick] [--json] [--svg FILE] [--runs N] [--rounds N] [--warmup N]
                          [--heap-mb MB] [--no-big-heap] [--floor PATH] [--results-dir DIR]
       npx hatchery bench [the same options]
  --quick         100 runs in 10 rounds, 20 warm-up (default: 500 runs in 20 rounds, 50 warm-up)
  --json          print only the JSON result on stdout
  --svg FILE      write the chart there (default: <results-dir>/latest.svg)
  --runs N        measured runs per contender (>= 1)
  --heap-mb MB    RSS of the big-heap caller (default 1600)
  --no-big-heap   skip the big-heap caller
  --floor PATH    the posix-spawn-floor program (default build/Release/posix-spawn-floor)
  --results-dir   where to write <timestamp>.json and latest.json (default bench/results)
  --stages        only trace run('/bin/true') (default profile and sandbox: false) and print
                  where its time goes, step by step, beside the C floor (bench/stages.ts)
  --layers        only run('/bin/true') with the default profile's layers added one at a time:
                  the round trip and the machine's CPU time per run for each (bench/layers.ts)`;

function positiveInt(text: string | undefined, fallback: number, flag: string, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${flag} must be an integer >= ${min}, got ${text}`);
  return value;
}

function parseSettings(argv: string[]): Settings & { phase: string | undefined; help: boolean; stages: boolean; layers: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      runs: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      'heap-mb': { type: 'string' },
      'heap-bytes': { type: 'string' },
      'no-big-heap': { type: 'boolean', default: false },
      'op-timeout-ms': { type: 'string' },
      floor: { type: 'string' },
      'results-dir': { type: 'string' },
      svg: { type: 'string' },
      phase: { type: 'string' },
      stages: { type: 'boolean', default: false },
      layers: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const quick = values.quick === true;
  const root = packageRoot();
  const heapMb = positiveInt(values['heap-mb'], 1600, '--heap-mb');
  const runs = positiveInt(values.runs, quick ? 100 : 500, '--runs');
  const rounds = Math.min(runs, positiveInt(values.rounds, quick ? 10 : 20, '--rounds'));
  return {
    quick,
    json: values.json === true,
    help: values.help === true,
    phase: values.phase,
    stages: values.stages === true,
    layers: values.layers === true,
    runs,
    rounds,
    warmup: positiveInt(values.warmup, quick ? 20 : 50, '--warmup', 0),
    heapBytes: positiveInt(values['heap-bytes'], heapMb * 1e6, '--heap-bytes'),
    bigHeap: values['no-big-heap'] !== true,
    opTimeoutMs: positiveInt(values['op-timeout-ms'], 10_000, '--op-timeout-ms'),
    floorPath: values.floor ?? join(root, 'build', 'Release', 'posix-spawn-floor'),
    resultsDir: values['results-dir'] ?? join(root, 'bench', 'results'),
    svgPath: values.svg ?? join(values['results-dir'] ?? join(root, 'bench', 'results'), 'latest.svg'),
  };
}

function machineInfo(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    nproc: os.availableParallelism(),
    kernel: os.release(),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    totalMemBytes: os.totalmem(),
    loadAvg1m: Number((os.loadavg()[0] ?? 0).toFixed(2)),
  };
}

/** Entries of the temp dir that hatchery (or this bench) could have created. */
function hatcheryTempEntries(): string[] {
  try {
    return readdirSync(os.tmpdir()).filter((e) => e.startsWith('hatchery'));
  } catch {
    return [];
  }
}

class Log {
  constructor(private readonly quiet: boolean) {}
  info(text: string): void {
    if (!this.quiet) process.stderr.write(`bench: ${text}\n`);
  }
}

/** Samples of one (contender, heap) pair, or why it has none. */
class Collector {
  private readonly samples = new Map<string, number[]>();
  private readonly reasons = new Map<string, string>();
  private readonly notes = new Map<string, string>();
  private readonly inner = new Map<string, number[]>();

  private static key(name: string, heap: Heap | null): string {
    return `${name}\u0000${heap ?? ''}`;
  }
  add(name: string, heap: Heap | null, ns: readonly number[]): void {
    const key = Collector.key(name, heap);
    const list = this.samples.get(key) ?? [];
    list.push(...ns);
    this.samples.set(key, list);
  }
  addInner(name: string, heap: Heap | null, ms: readonly number[]): void {
    const key = Collector.key(name, heap);
    this.inner.set(key, [...(this.inner.get(key) ?? []), ...ms]);
  }
  fail(name: string, heap: Heap | null, reason: string): void {
    const key = Collector.key(name, heap);
    if (!this.reasons.has(key)) this.reasons.set(key, reason);
  }
  note(name: string, heap: Heap | null, note: string): void {
    this.notes.set(Collector.key(name, heap), note);
  }
  available(name: string, heap: Heap | null): boolean {
    return !this.reasons.has(Collector.key(name, heap));
  }
  result(name: string, heap: Heap | null): ContenderResult {
    const key = Collector.key(name, heap);
    const reason = this.reasons.get(key);
    const samples = this.samples.get(key) ?? [];
    const note = this.notes.get(key);
    const base: ContenderResult = { name, heap, status: 'n/a' };
    if (note !== undefined) base.note = note;
    if (reason !== undefined) return { ...base, reason };
    if (samples.length === 0) return { ...base, reason: 'no samples' };
    const result: ContenderResult = { ...base, status: 'ok', summary: summarize(samples), samplesNs: samples };
    const inner = this.inner.get(key);
    // summarize() takes ns; the zygote reports ms.
    if (inner !== undefined && inner.length > 0) result.zygoteWallP50Ms = summarize(inner.map((ms) => ms * 1e6)).p50Ms;
    return result;
  }
}

function fmtMs(ms: number | undefined): string {
  return ms === undefined ? '-' : ms < 10 ? ms.toFixed(3) : ms.toFixed(2);
}

function fmtRatio(r: number | undefined): string {
  return r === undefined ? '-' : `${r.toFixed(2)}x`;
}

function fmtBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${Math.round(bytes / 1e6)} MB`;
}

function evaluateTargets(find: (name: string, heap: Heap | null) => ContenderResult | undefined): TargetResult[] {
  const targets: TargetResult[] = [];
  const p50 = (name: string, heap: Heap | null): number | undefined => find(name, heap)?.summary?.p50Ms;
  const missing = (...pairs: Array<[string, Heap | null]>): string => {
    const gone = pairs.filter(([n, h]) => p50(n, h) === undefined).map(([n, h]) => (h === null ? n : `${n} @ ${h} heap`));
    return `not measured: ${gone.join(', ')}`;
  };
  const check = (issue: number, target: string, pairs: Array<[string, Heap | null]>, test: (v: number[]) => [boolean, string]): void => {
    const values = pairs.map(([n, h]) => p50(n, h));
    if (values.some((v) => v === undefined)) {
      targets.push({ issue, target, verdict: 'N/A', detail: missing(...pairs) });
      return;
    }
    const [ok, detail] = test(values as number[]);
    targets.push({ issue, target, verdict: ok ? 'PASS' : 'FAIL', detail });
  };
  const ms = (v: number): string => `${fmtMs(v)} ms`;

  for (const name of [NAMES.hatcheryNoSandbox, NAMES.hatcheryDefault]) {
    const issue = name === NAMES.hatcheryNoSandbox ? 2 : 3;
    check(issue, `${name} p50 <= 1.3x C floor`, [[name, 'default'], [NAMES.floor, null]], ([h, f]) => [
      h! <= 1.3 * f!,
      `${ms(h!)} vs ${ms(f!)} (${fmtRatio(h! / f!)})`,
    ]);
    for (const heap of ['default', 'big'] as const) {
      check(issue === 2 ? 2 : 3, `${name} faster than child_process.spawn @ ${heap} heap`, [[name, heap], [NAMES.childProcess, heap]], ([h, c]) => [
        h! < c!,
        `${ms(h!)} vs ${ms(c!)} (${fmtRatio(c! / h!)} faster)`,
      ]);
    }
    check(issue, `${name} @ big heap p50 <= 1.1x @ default heap`, [[name, 'big'], [name, 'default']], ([b, d]) => [
      b! <= 1.1 * d!,
      `${ms(b!)} vs ${ms(d!)} (${fmtRatio(b! / d!)})`,
    ]);
  }
  check(12, `${NAMES.hatcheryDefault} p50 <= 1.6x C floor`, [[NAMES.hatcheryDefault, 'default'], [NAMES.floor, null]], ([h, f]) => [
    h! <= 1.6 * f!,
    `${ms(h!)} vs ${ms(f!)} (${fmtRatio(h! / f!)})`,
  ]);
  check(12, `${NAMES.hatcheryDefault} >= 3x faster than bwrap (p50)`, [[NAMES.hatcheryDefault, 'default'], [NAMES.bwrap, null]], ([h, b]) => [
    b! >= 3 * h!,
    `${ms(h!)} vs ${ms(b!)} (${fmtRatio(b! / h!)} faster)`,
  ]);
  check(3, `${NAMES.hatcheryDefault} >= 5x faster than bwrap (p50)`, [[NAMES.hatcheryDefault, 'default'], [NAMES.bwrap, null]], ([h, b]) => [
    b! >= 5 * h!,
    `${ms(h!)} vs ${ms(b!)} (${fmtRatio(b! / h!)} faster)`,
  ]);
  return targets;
}

function findings(find: (name: string, heap: Heap | null) => ContenderResult | undefined): string[] {
  const lines: string[] = [];
  const p50 = (name: string, heap: Heap | null): number | undefined => find(name, heap)?.summary?.p50Ms;
  const full = p50(NAMES.hatcheryDefault, 'default');
  const bare = p50(NAMES.hatcheryNoSandbox, 'default');
  const withNet = p50(NAMES.hatcheryNetNs, 'default');
  const withoutNet = p50(NAMES.hatcheryNoNetNs, 'default');
  const defaultNs = find(NAMES.hatcheryDefault, 'default')?.namespaces;
  if (full !== undefined && bare !== undefined) {
    lines.push(`sandbox cost: default profile ${fmtMs(full)} ms vs no sandbox ${fmtMs(bare)} ms = +${fmtMs(full - bare)} ms p50`);
  }
  if (withNet !== undefined && withoutNet !== undefined) {
    const netCost = withNet - withoutNet;
    const inDefault =
      defaultNs === undefined ? '' : defaultNs.includes('net') ? '; the default profile creates one' : '; the default profile does not create one';
    lines.push(
      `net namespace: ${fmtMs(withNet)} ms with vs ${fmtMs(withoutNet)} ms without = ${netCost >= 0 ? '+' : ''}${fmtMs(netCost)} ms p50` +
        (full !== undefined && bare !== undefined && full - bare > 0
          ? ` (${fmtRatio(netCost / (full - bare))} the whole default-profile sandbox cost)`
          : '') +
        inDefault,
    );
  }
  if (defaultNs !== undefined) lines.push(`default profile namespaces: ${defaultNs.join(', ') || 'none'}`);
  for (const name of HATCHERY_CONTENDERS) {
    const r = find(name, 'default');
    if (r?.summary === undefined || r.zygoteWallP50Ms === undefined) continue;
    const rest = r.summary.p50Ms - r.zygoteWallP50Ms;
    lines.push(
      `${name}: the zygote saw ${fmtMs(r.zygoteWallP50Ms)} ms (clone to reap, p50) of the ${fmtMs(r.summary.p50Ms)} ms round trip; ` +
        `~${fmtMs(rest)} ms is Node, the protocol and wake-ups`,
    );
  }
  const cpDefault = p50(NAMES.childProcess, 'default');
  const cpBig = p50(NAMES.childProcess, 'big');
  if (cpDefault !== undefined && cpBig !== undefined) {
    lines.push(`child_process.spawn grows ${fmtRatio(cpBig / cpDefault)} from the default to the big caller heap (fork copies page tables)`);
  }
  return lines;
}

function renderTable(results: ContenderResult[], heapRss: Record<Heap, number | undefined>): string {
  const header = ['contender', 'heap', 'p50 ms', 'p90 ms', 'x floor', 'x cp.spawn'];
  const rows = results.map((r) => {
    const heap = r.heap === null ? '-' : `${r.heap} (${fmtBytes(heapRss[r.heap])})`;
    if (r.status !== 'ok') return [r.name, heap, 'n/a', '', '', ''];
    return [r.name, heap, fmtMs(r.summary?.p50Ms), fmtMs(r.summary?.p90Ms), fmtRatio(r.ratioToFloor), fmtRatio(r.ratioToChildProcess)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const unavailable = results.filter((r) => r.status !== 'ok');
  if (unavailable.length > 0) {
    // One line per distinct reason: a missing build makes every hatchery row n/a for the same cause.
    const byReason = new Map<string, Map<string, string[]>>();
    for (const r of unavailable) {
      const reason = r.reason ?? 'unknown';
      const names = byReason.get(reason) ?? new Map<string, string[]>();
      names.set(r.name, [...(names.get(r.name) ?? []), ...(r.heap === null ? [] : [r.heap])]);
      byReason.set(reason, names);
    }
    out.push('');
    for (const [reason, names] of byReason) {
      const who = [...names].map(([name, heaps]) => (heaps.length === 0 ? name : `${name} @ ${heaps.join('+')} heap`));
      out.push(`n/a: ${who.join(', ')}: ${reason}`);
    }
  }
  const noted = results.filter((r) => r.note !== undefined);
  for (const r of noted) out.push(`note: ${r.name}${r.heap === null ? '' : ` @ ${r.heap} heap`}: ${r.note ?? ''}`);
  return out.join('\n');
}

async function main(argv: string[]): Promise<void> {
  let settings: ReturnType<typeof parseSettings>;
  try {
    settings = parseSettings(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (settings.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (settings.phase === 'big-heap') {
    await runBigHeapPhase({ heapBytes: settings.heapBytes, warmup: settings.warmup, opTimeoutMs: settings.opTimeoutMs });
    return;
  }
  if (settings.phase !== undefined) throw new RangeError(`unknown --phase ${settings.phase}`);
  if (settings.stages) {
    await runStages({ runs: settings.runs, warmup: settings.warmup, floorPath: settings.floorPath, json: settings.json });
    return;
  }
  if (settings.layers) {
    await runLayers({ runs: settings.runs, rounds: settings.rounds, warmup: settings.warmup, floorPath: settings.floorPath, json: settings.json });
    return;
  }

  const log = new Log(settings.json);
  const startedAt = new Date();
  const tmpBefore = new Set(hatcheryTempEntries());
  const machine = machineInfo();
  // Other work on the machine lands in some rounds more than others; say so rather than hide it.
  const busy = Number(machine.loadAvg1m) > 0.5 * Number(machine.nproc);
  const collect = new Collector();
  const perRound = splitRuns(settings.runs, settings.rounds);
  const floorTimeoutMs = (runs: number): number => 60_000 + runs * 200;
  log.info(
    `/bin/true round trip: ${settings.runs} runs per contender in ${settings.rounds} interleaved rounds after ${settings.warmup} warm-up; ` +
      `${machine.cpuModel}, ${machine.nproc} cpus, Linux ${machine.kernel}, node ${machine.node}`,
  );

  // Programs timed inside the floor: probe each once so a broken one is n/a, not a crash.
  const floorOk = existsSync(settings.floorPath);
  if (!floorOk) {
    const why = `${settings.floorPath} not found (build it: npm run build)`;
    collect.fail(NAMES.floor, null, why);
    collect.fail(NAMES.bwrap, null, `needs the floor program: ${why}`);
  } else {
    try {
      await runFloor(settings.floorPath, TRUE_BIN, [], { runs: 1, warmup: 0, timeoutMs: floorTimeoutMs(1) });
    } catch (error) {
      collect.fail(NAMES.floor, null, (error as Error).message);
    }
    if (!existsSync(BWRAP)) {
      collect.fail(NAMES.bwrap, null, 'bubblewrap not installed');
    } else {
      try {
        await runFloor(settings.floorPath, BWRAP, BWRAP_ARGS, { runs: 1, warmup: 0, timeoutMs: floorTimeoutMs(1) });
      } catch (error) {
        collect.fail(NAMES.bwrap, null, (error as Error).message);
      }
    }
  }

  const local = await prepareNodeContenders(settings.opTimeoutMs);
  const namespacesByName = new Map<string, string[]>();
  for (const c of local.ready) if (c.namespaces !== undefined) namespacesByName.set(c.name, c.namespaces);
  for (const u of local.unavailable) collect.fail(u.name, 'default', u.reason);
  for (const c of local.ready) if (c.note !== undefined) collect.note(c.name, 'default', c.note);
  log.info(`default heap: ${local.ready.map((c) => c.name).join(', ') || 'no Node-side contender available'}; warming up`);
  await warmUp(local, settings.warmup);
  for (const u of local.unavailable) collect.fail(u.name, 'default', u.reason);
  const heapRss: Record<Heap, number | undefined> = { default: process.memoryUsage().rss, big: undefined };

  let big: BigHeapChild | null = null;
  let bigReady: ReadyMessage | null = null;
  const failBig = (reason: string): void => {
    for (const name of NODE_CONTENDERS) collect.fail(name, 'big', reason);
  };
  const stopBig = (): void => big?.kill();
  process.once('exit', stopBig);
  if (settings.bigHeap) {
    log.info(`starting the big-heap caller (${fmtBytes(settings.heapBytes)} RSS)`);
    big = new BigHeapChild(mainPath, { heapBytes: settings.heapBytes, warmup: settings.warmup, opTimeoutMs: settings.opTimeoutMs });
    try {
      bigReady = await big.ready();
      heapRss.big = bigReady.rssBytes;
      for (const u of bigReady.unavailable) collect.fail(u.name, 'big', u.reason);
      for (const [name, note] of Object.entries(bigReady.notes)) collect.note(name, 'big', note);
      log.info(`big-heap caller ready: RSS ${fmtBytes(bigReady.rssBytes)}`);
    } catch (error) {
      failBig(`big-heap caller failed: ${(error as Error).message}`);
      await big.close(1000);
      big = null;
    }
  } else {
    failBig('skipped (--no-big-heap)');
  }

  const extras: Extra[] = await prepareExtras({ quick: settings.quick, rounds: settings.rounds });
  for (const e of extras) log.info(e.reason === undefined ? `${e.name}: measured in every round` : `${e.name}: n/a (${e.reason})`);

  for (let round = 0; round < settings.rounds; round++) {
    const runs = perRound[round] as number;
    const floorWarmup = round === 0 ? settings.warmup : Math.min(5, settings.warmup);
    const units: Array<() => Promise<void>> = [
      async () => {
        const r = await measureRound(local, runs, round);
        for (const [name, ns] of Object.entries(r.samples)) collect.add(name, 'default', ns);
        for (const [name, ms] of Object.entries(r.zygoteWallMs)) collect.addInner(name, 'default', ms);
        for (const [name, reason] of Object.entries(r.failures)) collect.fail(name, 'default', reason);
      },
      async () => {
        if (big === null) return;
        try {
          const r = await big.round(runs, round);
          if (r.rssBytes < settings.heapBytes) failBig(`big-heap caller RSS fell to ${fmtBytes(r.rssBytes)}`);
          for (const [name, ns] of Object.entries(r.samples)) collect.add(name, 'big', ns);
          for (const [name, ms] of Object.entries(r.zygoteWallMs)) collect.addInner(name, 'big', ms);
          for (const [name, reason] of Object.entries(r.failures)) collect.fail(name, 'big', reason);
        } catch (error) {
          failBig(`big-heap caller failed: ${(error as Error).message}`);
          big.kill();
          big = null;
        }
      },
      async () => {
        if (!floorOk || !collect.available(NAMES.floor, null)) return;
        try {
          const r = await runFloor(settings.floorPath, TRUE_BIN, [], { runs, warmup: floorWarmup, timeoutMs: floorTimeoutMs(runs) });
          collect.add(NAMES.floor, null, r.durationsNs);
        } catch (error) {
          collect.fail(NAMES.floor, null, (error as Error).message);
        }
      },
      async () => {
        await runExtrasRound(extras, round, { quick: settings.quick, rounds: settings.rounds });
      },
      async () => {
        if (!floorOk || !collect.available(NAMES.bwrap, null)) return;
        try {
          const r = await runFloor(settings.floorPath, BWRAP, BWRAP_ARGS, { runs, warmup: floorWarmup, timeoutMs: floorTimeoutMs(runs) });
          collect.add(NAMES.bwrap, null, r.durationsNs);
        } catch (error) {
          collect.fail(NAMES.bwrap, null, (error as Error).message);
        }
      },
    ];
    for (let k = 0; k < units.length; k++) await (units[(k + round) % units.length] as () => Promise<void>)();
    log.info(`round ${round + 1}/${settings.rounds} done`);
  }
  if (big !== null) await (big as BigHeapChild).close();
  process.removeListener('exit', stopBig);
  await local.close();

  // Results, in table order.
  const results: ContenderResult[] = [];
  for (const name of NODE_CONTENDERS) for (const heap of ['default', 'big'] as const) results.push(collect.result(name, heap));
  for (const r of results) {
    const ns = namespacesByName.get(r.name);
    if (ns !== undefined) r.namespaces = ns;
  }
  results.push(collect.result(NAMES.floor, null), collect.result(NAMES.bwrap, null));
  const find = (name: string, heap: Heap | null): ContenderResult | undefined =>
    results.find((r) => r.name === name && r.heap === heap);
  const floorP50 = find(NAMES.floor, null)?.summary?.p50Ms;
  for (const r of results) {
    if (r.summary === undefined) continue;
    if (floorP50 !== undefined) r.ratioToFloor = r.summary.p50Ms / floorP50;
    const cp = find(NAMES.childProcess, r.heap ?? 'default')?.summary?.p50Ms;
    if (cp !== undefined) r.ratioToChildProcess = r.summary.p50Ms / cp;
  }
  const targets = evaluateTargets(find);
  const notes = findings(find);
  const extraResults = extras.map((e) => ({
    name: e.name,
    status: e.reason === undefined && e.rounds.length > 0 ? ('ok' as const) : ('n/a' as const),
    ...(e.reason === undefined ? {} : { reason: e.reason }),
    rows: mergeRounds(e.rounds),
  }));
  targets.push(...extraTargets(extraResults));
  const hatch = find(NAMES.hatcheryDefault, 'default')?.summary?.p50Ms;
  for (const peer of [NAMES.sandboxRuntime, NAMES.execa, NAMES.bwrap] as const) {
    const r = find(peer, peer === NAMES.bwrap ? null : 'default')?.summary?.p50Ms;
    if (hatch !== undefined && r !== undefined) notes.push(`${peer}: ${fmtMs(r)} ms p50, ${fmtRatio(r / hatch)} the default-profile hatchery round trip`);
  }
  const leftovers = hatcheryTempEntries().filter((e) => !tmpBefore.has(e));
  if (leftovers.length > 0) notes.push(`warning: new hatchery* entries in ${os.tmpdir()} after the run (left by this bench, or by something running beside it): ${leftovers.slice(0, 5).join(', ')}${leftovers.length > 5 ? ', ...' : ''}`);
  const finishedAt = new Date();

  const report = {
    schema: 'hatchery-bench/1',
    benchmark: 'spawn-and-exit round trip of /bin/true',
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSec: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine,
    settings: {
      busyMachine: busy,
      quick: settings.quick,
      runs: settings.runs,
      rounds: settings.rounds,
      warmup: settings.warmup,
      bigHeapTargetBytes: settings.bigHeap ? settings.heapBytes : null,
    },
    heaps: {
      default: { rssBytes: heapRss.default ?? null },
      big: { rssBytes: heapRss.big ?? null, heldBufferBytes: bigReady?.heldBytes ?? null },
    },
    contenders: results,
    extras: extraResults,
    targets,
    findings: notes,
    leftoverTempEntries: leftovers,
  };

  mkdirSync(settings.resultsDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const body = `${JSON.stringify(report, null, 2)}\n`;
  const file = join(settings.resultsDir, `${stamp}.json`);
  writeFileSync(file, body);
  writeFileSync(join(settings.resultsDir, 'latest.json'), body);
  let svgNote: string;
  try {
    const svg = await renderChartSvg(chartBars(results, extraResults), CHART_TITLE, chartSubtitle({
      machine: { nproc: Number(machine.nproc), cpuModel: String(machine.cpuModel), kernel: String(machine.kernel), node: String(machine.node) },
      settings: { runs: settings.runs },
    }));
    mkdirSync(dirname(settings.svgPath), { recursive: true });
    writeFileSync(settings.svgPath, svg);
    svgNote = `chart: ${relative(process.cwd(), settings.svgPath) || settings.svgPath}`;
  } catch (error) {
    svgNote = `chart: not written (${(error as Error).message.split('\n')[0]})`;
  }

  if (settings.json) {
    process.stdout.write(body);
    return;
  }
  const out: string[] = [
    '',
    `hatchery bench: spawn-and-exit round trip of /bin/true, ${settings.runs} runs per contender in ${settings.rounds} interleaved rounds, ${settings.warmup} warm-up`,
    `machine: ${machine.cpuModel}, ${machine.nproc} cpus, ${fmtBytes(Number(machine.totalMemBytes))} RAM, Linux ${machine.kernel}, node ${machine.node}`,
    `caller heaps: default ${fmtBytes(heapRss.default)} RSS, big ${fmtBytes(heapRss.big)} RSS`,
    ...(busy ? [`warning: the machine was busy (1-min load ${machine.loadAvg1m} on ${machine.nproc} cpus at the start): expect noisy numbers`] : []),
    '',
    renderTable(results, heapRss),
    '',
    'targets (reported, not asserted):',
    ...targets.map((t) => `${t.verdict.padEnd(4)} [issue ${t.issue}] ${t.target}: ${t.detail}`),
  ];
  for (const e of extraResults) {
    out.push('', `${e.name}:`);
    if (e.status !== 'ok') out.push(`n/a: ${e.reason ?? 'no rounds'}`);
    else out.push(renderRows(e.rows));
  }
  if (notes.length > 0) out.push('', ...notes.map((n) => `finding: ${n}`));
  out.push('', `results: ${relative(process.cwd(), file) || file} (and latest.json)`, svgNote, '');
  process.stdout.write(out.join('\n'));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
