// The bench's reporting: merging rounds of self-timed benchmarks, the SVG chart, the README section.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderChartSvg } from '../bench/chart.js';
import { extraTargets, mergeRounds, renderRows } from '../bench/extras.js';
import { benchSection, currentSection, replaceSection, type BenchReport } from '../bench/readme.js';
import { LAYERS, renderLayers } from '../bench/layers.js';

test('mergeRounds: key fields group rows, numbers become the median over rounds, pids are dropped', () => {
  const merged = mergeRounds([
    [{ metric: 'throughput', concurrency: 16, poolOpsPerSec: 100 }, { metric: 'busy', inFlight: 4, spawnP50Us: 10 }, { metric: 'idle', pid: 1, rssBytes: 5 }],
    [{ metric: 'throughput', concurrency: 16, poolOpsPerSec: 300 }, { metric: 'busy', inFlight: 4, spawnP50Us: 30 }, { metric: 'idle', pid: 2, rssBytes: 7 }],
    [{ metric: 'throughput', concurrency: 16, poolOpsPerSec: 200 }, { metric: 'busy', inFlight: 64, spawnP50Us: 99 }],
  ]);
  assert.deepEqual(merged, [
    { metric: 'throughput', concurrency: 16, poolOpsPerSec: 200, rounds: 3 },
    { metric: 'busy', inFlight: 4, spawnP50Us: 20, rounds: 2 },
    { metric: 'idle', rssBytes: 6, rounds: 2 },
    { metric: 'busy', inFlight: 64, spawnP50Us: 99, rounds: 1 },
  ]);
  assert.match(renderRows(merged), /^throughput:\nconcurrency +poolOpsPerSec +rounds\n/);
  assert.match(renderRows(merged), /\n\nbusy:\ninFlight +spawnP50Us +rounds\n/);
});

test('the chart is an SVG with a log axis and one bar label per contender', async () => {
  const svg = await renderChartSvg(
    [
      { label: 'C posix_spawn floor', group: 'floor', p50Ms: 0.8, p90Ms: 1 },
      { label: 'hatchery (default profile)', group: 'hatchery', p50Ms: 2.9, p90Ms: 5 },
      { label: 'child_process.spawn @ big heap', group: 'peer', p50Ms: 35, p90Ms: 39 },
    ],
    'title',
    'subtitle',
  );
  assert.match(svg, /^<svg /);
  for (const label of ['C posix_spawn floor', 'hatchery (default profile)', 'child_process.spawn @ big heap', 'log scale']) {
    assert.ok(svg.includes(label), label);
  }
});

test('the README section lists every contender with its numbers, or n/a with the reason', () => {
  const report: BenchReport = {
    startedAt: '2026-01-01T00:00:00.000Z',
    durationSec: 1,
    machine: { cpuModel: 'CPU', nproc: 2, kernel: '6.18', node: 'v20', totalMemBytes: 2e9, loadAvg1m: 0 },
    settings: { quick: false, runs: 500, rounds: 20, warmup: 50, busyMachine: false },
    heaps: { default: { rssBytes: 8e7 }, big: { rssBytes: 1.7e9 } },
    contenders: [
      { name: 'hatchery (default profile)', heap: 'default', status: 'ok', summary: { samples: 500, p50Ms: 2.5, p90Ms: 4 }, ratioToFloor: 3.1 },
      { name: 'bwrap', heap: null, status: 'n/a', reason: 'bubblewrap not installed' },
    ],
    extras: [{ name: 'hatchery warm worker call', status: 'n/a', reason: 'not available', rows: [] }],
    findings: ['a finding'],
  };
  const section = benchSection(report);
  assert.match(section, /\| hatchery \(default profile\) \| default \| 2\.50 \| 4\.00 \| 3\.10× \|/);
  assert.match(section, /\| bwrap \| — \| n\/a \| \| bubblewrap not installed \|/);
  assert.match(section, /2 vCPU/);
  assert.match(section, /hatchery warm worker call\*\*: n\/a \(not available\)/);
  const readme = replaceSection('# x\n<!-- bench:start -->\nold\n<!-- bench:end -->\nrest\n', section);
  assert.equal(currentSection(readme), section);
  assert.ok(readme.endsWith('<!-- bench:end -->\nrest\n'));
});

test('the warm-call target judges back-to-back and, where measured, spaced calls; older results keep their line', () => {
  const rows = (spacedP50?: number): Array<{ name: string; rows: Array<Record<string, unknown>> }> => [
    {
      name: 'hatchery warm worker call',
      rows: [
        { name: 'hatchery warm worker call (reuse 1, fresh sandboxed process per call)', p50Ms: 1.2, reuse: 1 },
        ...(spacedP50 === undefined ? [] : [{ name: 'hatchery warm worker call (reuse 1, calls 150 ms apart)', p50Ms: spacedP50, reuse: 1 }]),
        { name: 'hatchery warm worker call (reuse n, same process)', p50Ms: 0.2, reuse: 41 },
      ],
    },
  ];
  const warm = (spacedP50?: number) => extraTargets(rows(spacedP50)).find((t) => t.target === 'warm worker call p50 <= 2 ms');
  assert.deepEqual(warm(), { issue: 4, target: 'warm worker call p50 <= 2 ms', verdict: 'PASS', detail: '1.200 ms (reuse 1)' });
  assert.equal(warm(1.7)?.detail, '1.200 ms (reuse 1); 1.700 ms with the calls 150 ms apart');
  assert.equal(warm(1.7)?.verdict, 'PASS');
  assert.equal(warm(3.5)?.verdict, 'FAIL', 'both must pass');
});

test('the layers table: each layer with its step from the one before, a layer the environment lacks as n/a with why', () => {
  const table = renderLayers({
    floorP50Us: 2000,
    floorCpuUsPerRun: 2300,
    rows: [
      { name: 'sandbox: false', runs: 10, p50Us: 2500, cpuUsPerRun: 3000, ipisPerRun: 2 },
      { name: '+ user namespace', runs: 0, unavailable: 'SANDBOX_UNAVAILABLE: no user namespaces' },
      { name: 'default profile', runs: 10, p50Us: 4000, cpuUsPerRun: 6000, ipisPerRun: 9.04 },
    ],
  });
  const lines = table.split('\n');
  assert.match(lines[0]!, /floor .*p50 2\.000 ms, machine CPU 2\.300 ms a run/);
  assert.equal(lines.find((l) => l.startsWith('| sandbox: false')), '| sandbox: false | 10 | 2.500 | 1.25× |  | 3.000 |  | 2.0 |');
  assert.equal(lines.find((l) => l.startsWith('| + user')), '| + user namespace | 0 | n/a: SANDBOX_UNAVAILABLE: no user namespaces | | | | | |');
  // The step skips the missing layer: it is measured from the last layer that ran.
  assert.equal(lines.find((l) => l.startsWith('| default')), '| default profile | 10 | 4.000 | 2.00× | +1.500 | 6.000 | +3.000 | 9.0 |');
  assert.deepEqual(
    LAYERS.map((l) => l.name),
    ['sandbox: false', 'Landlock + seccomp, no namespace, no temp dir', '+ user namespace', '+ mount namespace (hidden dirs, read-only tree)', '+ private /tmp (a tmpfs)', '+ pid namespace (its /proc, the init)', '+ network namespace', 'default profile (+ IPC and UTS namespaces)'],
  );
  assert.deepEqual(LAYERS.at(-1)!.options, {}, 'the last layer is the default profile itself');
});
