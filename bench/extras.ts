/**
 * Benchmarks that measure themselves (bench/pool.ts: pool throughput;
 * bench/workers.ts: warm worker calls; bench/fallback.ts: the default
 * profile where the environment takes layers away). They are loaded with a dynamic import
 * so this bench works (reporting n/a) while they do not exist yet. They are
 * called in a few of the rounds (spread over the run: 4, or 1 with --quick),
 * each time with a share of the operations, so they interleave with the
 * latency contenders; the rows of those rounds are merged at the end
 * (numeric fields: the median over rounds; strings, concurrency and
 * in-flight levels: the key).
 */

export type Row = Record<string, unknown>;

export interface Extra {
  name: string;
  /** What one round does; resolves with that round's rows. */
  round?: (share: number) => Promise<Row[]>;
  reason?: string;
  rounds: Row[][];
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message.split('\n')[0]}` : (error.message.split('\n')[0] ?? '');
  }
  return String(error);
}

async function load(file: string, exportName: string): Promise<((options: Record<string, unknown>) => Promise<unknown>) | string> {
  const url = new URL(file, import.meta.url);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url.href)) as Record<string, unknown>;
  } catch (error) {
    return `not available (${file}): ${describe(error)}`;
  }
  const fn = mod[exportName];
  if (typeof fn !== 'function') return `${file} does not export ${exportName}()`;
  return fn as (options: Record<string, unknown>) => Promise<unknown>;
}

function rowsOf(value: unknown, what: string): Row[] {
  if (Array.isArray(value)) return value.filter((r): r is Row => typeof r === 'object' && r !== null);
  if (typeof value === 'object' && value !== null && Array.isArray((value as { rows?: unknown }).rows)) {
    return rowsOf((value as { rows: unknown }).rows, what);
  }
  throw new Error(`${what} did not return rows`);
}

export interface ExtraSettings {
  quick: boolean;
  rounds: number;
}

/** In how many rounds the extras run. */
export function extraRounds(settings: ExtraSettings): number {
  return Math.min(settings.rounds, settings.quick ? 1 : 4);
}

export const POOL_CONCURRENCIES = [1, 4, 16];

/** One extra: `exportName` of `file` called with `options` each round, or n/a with why it could not be loaded. */
async function extra(name: string, file: string, exportName: string, options: Record<string, unknown>): Promise<Extra> {
  const fn = await load(file, exportName);
  if (typeof fn === 'string') return { name, reason: fn, rounds: [] };
  return { name, round: async () => rowsOf(await fn(options), exportName), rounds: [] };
}

/** The pool, worker and fallback benchmarks, probed once each (a failing probe is n/a with its reason). */
export async function prepareExtras(settings: ExtraSettings): Promise<Extra[]> {
  const k = extraRounds(settings);
  const poolOps = Math.max(50, Math.round((settings.quick ? 200 : 2000) / k));
  const workerCalls = Math.max(10, Math.round((settings.quick ? 40 : 400) / k));
  const fallbackRuns = Math.max(20, Math.round((settings.quick ? 60 : 400) / k));
  return [
    await extra('hatchery pool throughput', './pool.js', 'benchPoolThroughput', { concurrencies: POOL_CONCURRENCIES, opsPerLevel: poolOps }),
    await extra('hatchery warm worker call', './workers.js', 'benchWorkers', { calls: workerCalls }),
    await extra('hatchery where the environment takes layers away', './fallback.js', 'benchFallback', { runs: fallbackRuns }),
  ];
}

/** Round `round` of `settings.rounds`: runs every available extra if this is one of its rounds. A failure makes it n/a from then on. */
export async function runExtrasRound(extras: Extra[], round: number, settings: ExtraSettings): Promise<void> {
  const step = Math.ceil(settings.rounds / extraRounds(settings));
  if (round % step !== 0) return;
  for (const extra of extras) {
    if (extra.round === undefined || extra.reason !== undefined) continue;
    try {
      extra.rounds.push(await extra.round(1));
    } catch (error) {
      extra.reason = `failed while measuring: ${describe(error)}`;
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Numeric fields that identify a row rather than measure something. */
const KEY_FIELDS = new Set(['concurrency', 'level', 'inFlight', 'reuse', 'warm']);
/** Fields that differ per round and mean nothing merged (a zygote's pid). */
const DROPPED_FIELDS = new Set(['pid']);

/** Merges the rows of every round: rows with the same non-numeric fields (and concurrency) are one row. */
export function mergeRounds(rounds: Row[][]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const rows of rounds) {
    for (const row of rows) {
      const key = JSON.stringify(
        Object.entries(row)
          .filter(([k, v]) => typeof v !== 'number' || KEY_FIELDS.has(k))
          .sort(([a], [b]) => a.localeCompare(b)),
      );
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
  }
  return [...groups.values()].map((rows) => {
    const first = rows[0] as Row;
    const merged: Row = {};
    for (const [k, v] of Object.entries(first)) {
      if (DROPPED_FIELDS.has(k)) continue;
      if (typeof v === 'number' && !KEY_FIELDS.has(k)) {
        const values = rows.map((r) => r[k]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
        merged[k] = values.length > 0 ? median(values) : v;
      } else {
        merged[k] = v;
      }
    }
    merged.rounds = rows.length;
    return merged;
  });
}

function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v === null || v === undefined) return '-';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Rows split by their `metric` field (rows without one form one group), in first-seen order. */
export function groupByMetric(rows: Row[]): Array<{ metric: string | undefined; rows: Row[] }> {
  const groups: Array<{ metric: string | undefined; rows: Row[] }> = [];
  for (const row of rows) {
    const metric = typeof row.metric === 'string' ? row.metric : undefined;
    let group = groups.find((g) => g.metric === metric);
    if (group === undefined) {
      group = { metric, rows: [] };
      groups.push(group);
    }
    const { metric: _metric, ...rest } = row;
    group.rows.push(metric === undefined ? row : rest);
  }
  return groups;
}

/** Plain tables of rows with whatever columns they have, one per metric. */
export function renderRows(rows: Row[]): string {
  return groupByMetric(rows)
    .map((g) => (g.metric === undefined ? renderTable(g.rows) : `${g.metric}:\n${renderTable(g.rows)}`))
    .join('\n\n');
}

function renderTable(rows: Row[]): string {
  const columns: string[] = [];
  for (const row of rows) for (const k of Object.keys(row)) if (!columns.includes(k)) columns.push(k);
  const cells = rows.map((row) => columns.map((c) => fmt(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

export interface ExtraTarget {
  issue: number;
  target: string;
  verdict: 'PASS' | 'FAIL' | 'N/A';
  detail: string;
}

/** Issues 4 and 12's targets, judged from the merged rows of the pool and worker benchmarks. */
export function extraTargets(extras: ReadonlyArray<{ name: string; rows: Row[] }>): ExtraTarget[] {
  const rows = extras.flatMap((e) => e.rows);
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const out: ExtraTarget[] = [];
  const throughput = rows.filter((r) => r.metric === 'throughput' && r.concurrency === 16);
  for (const sandbox of ['default', 'off']) {
    const row = throughput.find((r) => r.sandbox === sandbox);
    const ratio = num(row?.ratioToFloor);
    const target = `pool throughput at concurrency 16 (${sandbox === 'off' ? 'no sandbox' : 'default profile'}) >= 80% of the C floor's`;
    out.push(
      ratio === undefined || row === undefined
        ? { issue: 4, target, verdict: 'N/A', detail: 'not measured' }
        : {
            issue: 4,
            target,
            verdict: ratio >= 0.8 ? 'PASS' : 'FAIL',
            detail: `${Math.round(num(row.poolOpsPerSec) ?? 0)} vs ${Math.round(num(row.floorOpsPerSec) ?? 0)} ops/s (${(ratio * 100).toFixed(0)}%)`,
          },
    );
  }
  // Back-to-back, and (where measured: older results have no such row) with the calls spaced apart.
  const warmRows = rows.filter((r) => typeof r.name === 'string' && r.name.startsWith('hatchery warm worker call') && r.reuse === 1);
  const warmP50 = num(warmRows.find((r) => !String(r.name).includes(' apart'))?.p50Ms);
  const spacedRow = warmRows.find((r) => String(r.name).includes(' apart'));
  const spacedP50 = num(spacedRow?.p50Ms);
  const spacing = /calls (\d+ ms) apart/.exec(String(spacedRow?.name))?.[1] ?? 'spaced';
  const worst = Math.max(warmP50 ?? 0, spacedP50 ?? 0);
  out.push(
    warmP50 === undefined
      ? { issue: 4, target: 'warm worker call p50 <= 2 ms', verdict: 'N/A', detail: 'not measured' }
      : {
          issue: 4,
          target: 'warm worker call p50 <= 2 ms',
          verdict: worst <= 2 ? 'PASS' : 'FAIL',
          detail: `${warmP50.toFixed(3)} ms (reuse 1)${spacedP50 === undefined ? '' : `; ${spacedP50.toFixed(3)} ms with the calls ${spacing} apart`}`,
        },
  );
  // Issue 12 asks more: the pool at 80% (sandboxed) and 95% (unsandboxed) of the floor, warm calls <= 1 ms both ways.
  for (const [sandbox, share] of [['default', 0.8], ['off', 0.95]] as const) {
    const ratio = num(throughput.find((r) => r.sandbox === sandbox)?.ratioToFloor);
    const target = `pool throughput at concurrency 16 (${sandbox === 'off' ? 'no sandbox' : 'default profile'}) >= ${share * 100}% of the C floor's`;
    out.push(
      ratio === undefined
        ? { issue: 12, target, verdict: 'N/A', detail: 'not measured' }
        : { issue: 12, target, verdict: ratio >= share ? 'PASS' : 'FAIL', detail: `${(ratio * 100).toFixed(0)}%` },
    );
  }
  out.push(
    warmP50 === undefined || spacedP50 === undefined
      ? { issue: 12, target: 'warm worker call p50 <= 1 ms, back-to-back and spaced', verdict: 'N/A', detail: 'not measured' }
      : {
          issue: 12,
          target: 'warm worker call p50 <= 1 ms, back-to-back and spaced',
          verdict: worst <= 1 ? 'PASS' : 'FAIL',
          detail: `${warmP50.toFixed(3)} ms back-to-back; ${spacedP50.toFixed(3)} ms with the calls ${spacing} apart`,
        },
  );
  const rss = num(rows.find((r) => r.metric === 'idleZygoteRss')?.rssBytes);
  out.push(
    rss === undefined
      ? { issue: 4, target: 'idle zygote RSS <= 2 MB', verdict: 'N/A', detail: 'not measured' }
      : { issue: 4, target: 'idle zygote RSS <= 2 MB', verdict: rss <= 2 * 1024 * 1024 ? 'PASS' : 'FAIL', detail: `${(rss / 1024 / 1024).toFixed(2)} MiB` },
  );
  return out;
}
