/**
 * src/policy/path-watch.ts: which directories a path's lookup reads, and
 * which of them can be watched. compile.ts's use of it (a kept plan
 * reused without a stat check until a change is reported) is tested in
 * plan-memo.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lookupDirs, pathGeneration, watchDirs } from '../src/policy/path-watch.js';

const root = realpathSync(mkdtempSync('/tmp/hatchery-path-watch-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The ancestors of `dir`, itself included, from "/" down. */
function chain(dir: string): string[] {
  const out = ['/'];
  let at = '';
  for (const part of dir.split('/').filter(Boolean)) out.push((at = `${at}/${part}`));
  return out;
}

test('a plain path: every directory from / down to its parent', () => {
  mkdirSync(join(root, 'plain/deeper'), { recursive: true });
  writeFileSync(join(root, 'plain/deeper/file'), '');
  assert.deepEqual(lookupDirs([join(root, 'plain/deeper/file')]), chain(join(root, 'plain/deeper')));
});

test('a missing component ends the walk at the directory it would be made in', () => {
  assert.deepEqual(lookupDirs([join(root, 'absent/below/file')]), chain(root));
});

test('a file in the middle: nothing below it is looked up', () => {
  writeFileSync(join(root, 'a-file'), '');
  assert.deepEqual(lookupDirs([join(root, 'a-file/below')]), chain(root));
});

test('symlinks, absolute and relative with "..", are followed where the kernel follows them', () => {
  mkdirSync(join(root, 'links/target/inner'), { recursive: true });
  mkdirSync(join(root, 'links/hops'), { recursive: true });
  symlinkSync('../target', join(root, 'links/hops/relative'));
  symlinkSync(join(root, 'links/hops/relative'), join(root, 'links/absolute'));
  const dirs = lookupDirs([join(root, 'links/absolute/inner/x')]);
  assert.ok(dirs);
  for (const d of [root, join(root, 'links'), join(root, 'links/hops'), join(root, 'links/target'), join(root, 'links/target/inner')]) {
    assert.ok(dirs.includes(d), `${d} is looked up in`);
  }
});

test('a symlink loop cannot be followed: null (such a plan is checked by stat)', () => {
  symlinkSync(join(root, 'loop-b'), join(root, 'loop-a'));
  symlinkSync(join(root, 'loop-a'), join(root, 'loop-b'));
  assert.equal(lookupDirs([join(root, 'loop-a/x')]), null);
});

test('local directories can be watched and a change in one starts a new generation; procfs cannot be watched', () => {
  const dir = join(root, 'watched');
  mkdirSync(dir);
  assert.equal(watchDirs([dir]), true);
  const before = pathGeneration();
  assert.notEqual(before, undefined);
  assert.equal(pathGeneration(), before, 'nothing changed');
  writeFileSync(join(dir, 'new'), '');
  const after = pathGeneration();
  assert.ok(after !== undefined && before !== undefined && after > before);
  assert.equal(watchDirs(['/proc']), false);
  assert.equal(watchDirs([join(root, 'no-such-dir')]), false);
});

test('signals arriving all the time (a CPU profiler) do not switch the watch off', () => {
  // The profiler's SIGPROF interrupts the mount table's poll (EINTR); that must not read as a failed fd.
  const profiles = join(root, 'profiles');
  const script = join(root, 'profiled.mjs');
  const module = (path: string): string => JSON.stringify(new URL(path, import.meta.url).href);
  writeFileSync(
    script,
    `import { compileSandbox, planMemoStats } from ${module('../src/policy/compile.js')};
import { validateSandbox } from ${module('../src/options/sandbox.js')};
import { detectFeatures } from ${module('../src/policy/features.js')};
const s = validateSandbox({});
const ctx = { features: detectFeatures(), limits: {}, extraExec: ['/bin/true'], hostTmpdir: () => { throw new Error('none'); } };
for (let i = 0; i < 3000; i++) compileSandbox(s, ctx);
process.stdout.write(JSON.stringify(planMemoStats()));
`,
  );
  const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '20', '--cpu-prof-dir', profiles, script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const stats = JSON.parse(r.stdout) as { hits: number; statChecks: number };
  assert.equal(stats.hits, 2999);
  assert.ok(stats.statChecks <= 2, `${stats.statChecks} full checks in ${stats.hits} reuses`);
});
