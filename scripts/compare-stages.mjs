// Before/after stage tables for docs/performance.md: runs `--stages --json` alternately from two
// built checkouts (each with its own dist/ and build/), CHUNKS times RUNS traced runs per profile,
// and prints per profile the median of the chunk medians as a markdown table.
//
//   node scripts/compare-stages.mjs BEFORE_ROOT AFTER_ROOT [CHUNKS=6] [RUNS=150] > table.md
import { execFileSync } from 'node:child_process';
const [before, after, chunks = '6', runs = '150'] = process.argv.slice(2);
const sides = { before, after };
const acc = { before: [], after: [] };
for (let c = 0; c < Number(chunks); c++) {
  for (const [name, root] of Object.entries(sides)) {
    const out = execFileSync(process.execPath, ['--expose-gc', `${root}/dist/bench/main.js`, '--stages', '--json', '--runs', runs], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
    acc[name].push(JSON.parse(out.slice(out.indexOf('{'))));
    process.stderr.write(`chunk ${c} ${name} done\n`);
  }
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : NaN; };
const profiles = acc.after[0].profiles.map((p) => p.profile);
for (const profile of profiles) {
  const get = (side) => acc[side].map((r) => r.profiles.find((p) => p.profile === profile));
  const floor = (side) => med(acc[side].map((r) => r.floorP50Us));
  const total = (side) => med(get(side).map((p) => p.runP50Us ?? p.p50Us ?? p.totalP50Us));
  const keys = [];
  for (const side of ['after', 'before']) for (const p of get(side)) for (const r of p.rows) if (!keys.some((k) => k.key === r.key)) keys.push({ key: r.key, who: r.who, what: r.what });
  const cell = (side, key, field) => { const v = med(get(side).map((p) => p.rows.find((r) => r.key === key)?.[field]).filter((x) => x !== undefined)); return Number.isNaN(v) ? '' : Math.round(v); };
  console.log(`\n**${profile}** — run() p50: before ${(total('before') / 1000).toFixed(2)} ms (${(total('before') / floor('before')).toFixed(2)}× its floor of ${(floor('before') / 1000).toFixed(2)} ms), after ${(total('after') / 1000).toFixed(2)} ms (${(total('after') / floor('after')).toFixed(2)}× its floor of ${(floor('after') / 1000).toFixed(2)} ms)\n`);
  console.log('| who | step | before: step µs | after: step µs | before: at µs | after: at µs |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const k of keys) console.log(`| ${k.who} | ${k.what} | ${cell('before', k.key, 'stepUs')} | ${cell('after', k.key, 'stepUs')} | ${cell('before', k.key, 'atUs')} | ${cell('after', k.key, 'atUs')} |`);
}
