/**
 * The README's benchmark section, generated from a bench JSON so the numbers
 * there are exactly the numbers measured:
 *
 *   node dist/bench/readme.js docs/bench.json            print the section
 *   node dist/bench/readme.js docs/bench.json README.md  replace it between
 *                                                        <!-- bench:start --> and <!-- bench:end -->
 *   node dist/bench/readme.js docs/bench.json README.md docs/bench.svg
 *                                                        ... and redraw the chart from the same JSON
 *
 * test/readme.test.ts regenerates the section from docs/bench.json and
 * checks that the README holds it unchanged.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chartBars, chartSubtitle, CHART_TITLE, renderChartSvg } from './chart.js';
import { extraTargets, groupByMetric } from './extras.js';

interface Summary {
  samples: number;
  p50Ms: number;
  p90Ms: number;
}

interface Contender {
  name: string;
  heap: 'default' | 'big' | null;
  status: 'ok' | 'n/a';
  reason?: string;
  note?: string;
  summary?: Summary;
  ratioToFloor?: number;
}

interface ExtraResult {
  name: string;
  status: 'ok' | 'n/a';
  reason?: string;
  rows: Array<Record<string, unknown>>;
}

export interface BenchReport {
  startedAt: string;
  durationSec: number;
  machine: { cpuModel: string; nproc: number; kernel: string; node: string; totalMemBytes: number; loadAvg1m: number };
  settings: { quick: boolean; runs: number; rounds: number; warmup: number; busyMachine: boolean };
  heaps: { default: { rssBytes: number | null }; big: { rssBytes: number | null } };
  contenders: Contender[];
  extras?: ExtraResult[];
  targets?: Array<{ issue: number; target: string; verdict: string; detail: string }>;
  findings: string[];
}

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

const ms = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(1));
const gb = (b: number | null): string => (b === null ? '?' : b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : `${Math.round(b / 1e6)} MB`);

function cell(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  if (v === null || v === undefined) return '-';
  return String(v).replace(/\|/g, '\\|');
}

export function benchSection(r: BenchReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `Measured with \`npm run bench -- --svg docs/bench.svg\` (results: [docs/bench.json](docs/bench.json)) on ${m.nproc} vCPU ` +
      `(${m.cpuModel.trim()}), ${gb(m.totalMemBytes)} RAM, Linux ${m.kernel}, Node ${m.node}, ${r.startedAt.slice(0, 10)}. ` +
      `Each row is a spawn-and-exit round trip of \`/bin/true\`: ${r.settings.runs} runs per contender in ${r.settings.rounds} ` +
      `interleaved rounds after ${r.settings.warmup} warm-up${r.settings.busyMachine ? ' (the machine was busy with other work at the start: expect noise)' : ''}. ` +
      `"big heap" is the same call from a Node process holding ${gb(r.heaps.big.rssBytes)} RSS (default: ${gb(r.heaps.default.rssBytes)}).`,
  );
  out.push('');
  out.push('![benchmark chart: p50 per contender, log scale](docs/bench.svg)');
  out.push('');
  out.push('| contender | caller heap | p50 ms | p90 ms | × C floor |');
  out.push('| --- | --- | ---: | ---: | ---: |');
  for (const c of r.contenders) {
    const heap = c.heap === null ? '—' : c.heap;
    if (c.status !== 'ok' || c.summary === undefined) {
      out.push(`| ${c.name} | ${heap} | n/a | | ${cell(c.reason)} |`);
      continue;
    }
    out.push(`| ${c.name} | ${heap} | ${ms(c.summary.p50Ms)} | ${ms(c.summary.p90Ms)} | ${c.ratioToFloor === undefined ? '-' : `${c.ratioToFloor.toFixed(2)}×`} |`);
  }
  const notes = r.contenders.filter((c) => c.note !== undefined && c.heap !== 'big');
  if (notes.length > 0) {
    out.push('');
    for (const c of notes) out.push(`- ${c.name}: ${c.note ?? ''}.`);
  }
  for (const e of r.extras ?? []) {
    out.push('');
    out.push(`**${e.name}**${e.status === 'ok' ? ' (median over rounds):' : `: n/a (${e.reason ?? 'no rounds'})`}`);
    if (e.status !== 'ok' || e.rows.length === 0) continue;
    for (const group of groupByMetric(e.rows)) {
      const columns: string[] = [];
      for (const row of group.rows) for (const k of Object.keys(row)) if (!columns.includes(k)) columns.push(k);
      out.push('');
      if (group.metric !== undefined) out.push(`*${group.metric}*`, '');
      out.push(`| ${columns.join(' | ')} |`);
      out.push(`| ${columns.map(() => '---').join(' | ')} |`);
      for (const row of group.rows) out.push(`| ${columns.map((c) => cell(row[c])).join(' | ')} |`);
    }
  }
  // Issue 4's targets come from the extras' rows; older JSON files did not list them.
  const targets = [...(r.targets ?? [])];
  for (const t of extraTargets(r.extras ?? [])) if (!targets.some((x) => x.target === t.target)) targets.push(t);
  if (targets.length > 0) {
    out.push('');
    out.push('Targets of the issues (reported, not asserted):');
    out.push('');
    for (const t of targets) out.push(`- **${t.verdict}** [issue ${t.issue}] ${t.target}: ${t.detail}`);
  }
  if (r.findings.length > 0) {
    out.push('');
    out.push('Findings of this run:');
    out.push('');
    for (const f of r.findings) out.push(`- ${f}`);
  }
  return out.join('\n');
}

/** The README with its benchmark section replaced. */
export function replaceSection(readme: string, section: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`the README has no ${START} ... ${END} markers`);
  return `${readme.slice(0, start + START.length)}\n${section}\n${readme.slice(end)}`;
}

/** The section currently in the README. */
export function currentSection(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`the README has no ${START} ... ${END} markers`);
  return readme.slice(start + START.length, end).trim();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [json, readmePath, svgPath] = process.argv.slice(2);
  if (json === undefined) {
    process.stderr.write('usage: node dist/bench/readme.js BENCH.json [README.md [CHART.svg]]\n');
    process.exitCode = 2;
  } else {
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    const section = benchSection(report);
    if (readmePath === undefined) process.stdout.write(`${section}\n`);
    else writeFileSync(readmePath, replaceSection(readFileSync(readmePath, 'utf8'), section));
    // The chart again from the same JSON (bench/main.ts draws the same one at the end of a run).
    if (svgPath !== undefined) writeFileSync(svgPath, await renderChartSvg(chartBars(report.contenders, report.extras ?? []), CHART_TITLE, chartSubtitle(report)));
  }
}
