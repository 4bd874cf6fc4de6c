/**
 * The benchmark chart: a horizontal bar chart of p50 (with a p90 tick) on a
 * log scale, described in Vega-Lite and rendered to SVG headless by Vega (no
 * browser, no canvas). Both are devDependencies, loaded lazily: without them
 * the bench still runs and says why there is no chart.
 */

export interface Bar {
  /** One line of the y axis, e.g. 'hatchery (default profile) @ default heap'. */
  label: string;
  /** Colour group: 'hatchery', 'peer', 'floor'. */
  group: string;
  p50Ms: number;
  p90Ms: number;
}

interface VegaLite {
  compile(spec: unknown): { spec: unknown };
}
interface VegaView {
  toSVG(): Promise<string>;
  finalize(): void;
}
interface Vega {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => VegaView;
}

export async function renderChartSvg(bars: readonly Bar[], title: string, subtitle: string): Promise<string> {
  const vl = (await import('vega-lite')) as unknown as VegaLite;
  const vega = (await import('vega')) as unknown as Vega;
  // A log scale has no zero: bars start at a baseline below the smallest value, a power of ten.
  const smallest = Math.min(...bars.map((b) => b.p50Ms));
  const largest = Math.max(...bars.map((b) => b.p90Ms));
  const base = 10 ** Math.floor(Math.log10(smallest > 0 ? smallest : 0.1));
  const top = 10 ** Math.ceil(Math.log10(largest > 0 ? largest * 1.5 : 1));
  const values = bars.map((b) => ({ ...b, base, p50Label: b.p50Ms < 10 ? b.p50Ms.toFixed(2) : b.p50Ms.toFixed(1) }));
  const y = { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 520 } };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle, anchor: 'start' },
    width: 520,
    background: 'white',
    data: { values },
    encoding: { y },
    layer: [
      {
        mark: { type: 'bar', height: { band: 0.7 } },
        encoding: {
          x: {
            field: 'p50Ms',
            type: 'quantitative',
            scale: { type: 'log', domain: [base, top], nice: false },
            title: 'ms per operation, log scale (bar: p50, tick: p90)',
          },
          x2: { field: 'base' },
          color: {
            field: 'group',
            type: 'nominal',
            title: null,
            scale: { domain: ['hatchery', 'peer', 'floor'], range: ['#2f7d32', '#9e9e9e', '#1f4e79'] },
            legend: { orient: 'bottom' },
          },
        },
      },
      {
        mark: { type: 'tick', color: 'black', thickness: 2 },
        encoding: { x: { field: 'p90Ms', type: 'quantitative' } },
      },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
        encoding: { x: { field: 'p90Ms', type: 'quantitative' }, text: { field: 'p50Label' } },
      },
    ],
  };
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export const CHART_TITLE = 'hatchery and peers: milliseconds per operation (lower is better)';

interface ReportLike {
  machine: { nproc: number; cpuModel: string; kernel: string; node: string };
  settings: { runs: number };
  contenders: Array<{ name: string; heap: 'default' | 'big' | null; summary?: { p50Ms: number; p90Ms: number } }>;
  extras?: Array<{ name: string; rows: Array<Record<string, unknown>> }>;
}

export function chartSubtitle(r: Pick<ReportLike, 'machine' | 'settings'>): string {
  const m = r.machine;
  return `/bin/true round trips (${r.settings.runs} runs each), pool throughput and warm worker calls; ${m.nproc} vCPU ${m.cpuModel.trim()}, Linux ${m.kernel}, node ${m.node}`;
}

function groupOf(name: string): string {
  if (name.startsWith('hatchery')) return 'hatchery';
  return name.startsWith('C posix_spawn floor') ? 'floor' : 'peer';
}

/** The bars: every measured contender, the warm worker rows, and the pool's amortized cost per op at 16 in flight. */
export function chartBars(contenders: ReportLike['contenders'], extras: NonNullable<ReportLike['extras']>): Bar[] {
  const bars: Bar[] = [];
  for (const c of contenders) {
    if (c.summary === undefined) continue;
    bars.push({ label: c.heap === 'big' ? `${c.name} @ big heap` : c.name, group: groupOf(c.name), p50Ms: c.summary.p50Ms, p90Ms: c.summary.p90Ms });
  }
  const num = (row: Record<string, unknown>, key: string): number | undefined => {
    const v = row[key];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
  };
  for (const e of extras) {
    for (const row of e.rows) {
      const p50 = num(row, 'p50Ms');
      const what = typeof row.name === 'string' ? row.name : e.name;
      if (e.name.includes('worker') && p50 !== undefined) {
        bars.push({ label: what, group: groupOf(what), p50Ms: p50, p90Ms: num(row, 'p90Ms') ?? p50 });
      }
      if (e.name.includes('pool') && row.metric === 'throughput' && row.concurrency === 16) {
        // Throughput as amortized time per operation (1/throughput), so it fits the same axis.
        const pool = num(row, 'poolOpsPerSec');
        const floor = num(row, 'floorOpsPerSec');
        const profile = row.sandbox === 'off' ? 'no sandbox' : 'default profile';
        if (pool !== undefined) bars.push({ label: `hatchery pool (${profile}), 16 in flight: 1/throughput`, group: 'hatchery', p50Ms: 1000 / pool, p90Ms: 1000 / pool });
        if (floor !== undefined && row.sandbox !== 'off') bars.push({ label: 'C posix_spawn floor, 16 in flight: 1/throughput', group: 'floor', p50Ms: 1000 / floor, p90Ms: 1000 / floor });
      }
    }
  }
  return bars;
}
