/**
 * compileSandbox's memo (src/policy/compile.ts): the same policy compiles
 * once and is handed out again only while every path it resolved still
 * resolves the same; each result is a copy of its own.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { closeDefaultZygote, run } from '../src/index.js';
import type { NormalizedSandbox } from '../src/options/sandbox.js';
import { clearPlanMemo, compileSandbox, compileUnkept, PLAN_MEMO_ENTRIES, planMemoStats, type CompileContext, type CompiledSandbox } from '../src/policy/compile.js';
import { detectFeatures, markUsernsRefused, resetFeatureCache } from '../src/policy/features.js';
import { MountOp } from '../src/protocol/wire.js';
import { DEFAULT_HIDDEN_DIRS } from '../src/policy/mounts.js';
import { clearPathCache } from '../src/policy/path-cache.js';
import { lookupDirs, watchDirs } from '../src/policy/path-watch.js';
import { validateSandbox } from '../src/options/sandbox.js';
import { InvalidOptionRangeError } from '../src/errors.js';
import { narrowSandbox } from '../src/pool/narrow.js';

// Under /tmp: a hidden dir, so a granted path there is PRESERVEd by its real path (what the mount plan acts on).
const root = mkdtempSync('/tmp/hatchery-plan-memo-');
// Under no hidden dir: beside the tests, or (a checkout under /tmp or /home) the first such place this user may write to.
const hidden = (p: string): boolean => DEFAULT_HIDDEN_DIRS.some((d) => p === d || p.startsWith(`${d}/`));
function makeOutside(): string {
  for (const parent of [dirname(fileURLToPath(import.meta.url)), '/opt', '/var/lib', '/usr/local']) {
    if (hidden(parent)) continue;
    try {
      return mkdtempSync(join(parent, '.hatchery-plan-memo-'));
    } catch {
      // not writable here
    }
  }
  return '';
}
const outside = makeOutside();
const noOutside = outside ? false : 'no directory outside the hidden ones is writable here for the fixture';
// The sandbox's own uid must be able to pass through them.
chmodSync(root, 0o755);
if (outside) chmodSync(outside, 0o755);
after(async () => {
  rmSync(root, { recursive: true, force: true });
  if (outside) rmSync(outside, { recursive: true, force: true });
  await closeDefaultZygote();
});

const features = detectFeatures();
const mountPlans = features.mountApi && features.namespaces.has('mount');
const noMounts = mountPlans ? false : 'no mount namespace here: nothing is resolved, so nothing can go stale';
const isRoot = process.getuid?.() === 0;

function sandbox(read: string[] = []): NormalizedSandbox {
  const s = validateSandbox({});
  if (s === false) throw new Error('unreachable');
  return { ...s, fs: { ...s.fs, read } };
}

function context(extra: Partial<CompileContext> = {}): CompileContext {
  return {
    features: detectFeatures(),
    limits: {},
    extraExec: [],
    hostTmpdir: () => {
      throw new Error('no host temp dir in this test');
    },
    ...extra,
  };
}

/** Directories NAME-a and NAME-b under the fixture root, and a symlink NAME to the first (to retarget to the second). */
function linkToA(name: string): { link: string; a: string; b: string } {
  const link = join(root, name);
  const a = join(root, `${name}-a`);
  const b = join(root, `${name}-b`);
  mkdirSync(a);
  mkdirSync(b);
  symlinkSync(a, link);
  return { link, a, b };
}

function preserved(c: CompiledSandbox): string[] {
  return (c.plan.mounts ?? []).filter((m) => m.op === MountOp.Preserve).map((m) => m.path);
}

/** What a compile would give with nothing remembered. */
function fresh(s: NormalizedSandbox, ctx: CompileContext): CompiledSandbox {
  clearPlanMemo();
  clearPathCache();
  return compileSandbox(s, ctx);
}

/** compileSandbox, whether it reused a kept plan, and whether it stat'ed the kept plan's paths to do so. */
function compile(s: NormalizedSandbox, ctx: CompileContext): { c: CompiledSandbox; reused: boolean; statChecked: boolean } {
  const before = planMemoStats();
  const c = compileSandbox(s, ctx);
  const after = planMemoStats();
  assert.equal(after.hits + after.compiles, before.hits + before.compiles + 1);
  return { c, reused: after.hits === before.hits + 1, statChecked: after.statChecks > before.statChecks };
}

// Whether the fixture's directories can be watched here (a local filesystem, inotify available).
const rootDirs = lookupDirs([join(root, 'x')]);
const noWatch = rootDirs !== null && watchDirs(rootDirs) ? false : `${root} cannot be watched here (not a local filesystem, or no inotify)`;

test('the same policy compiles once; the reused result equals a fresh compile', () => {
  clearPlanMemo();
  const s = sandbox();
  const first = compile(s, context({ extraExec: ['/bin/true'] }));
  assert.equal(first.reused, false);
  const second = compile(sandbox(), context({ extraExec: ['/bin/true'] }));
  assert.equal(second.reused, true, 'an equal policy in a new object is the same key');
  assert.deepEqual(second.c, first.c);
  assert.deepEqual(second.c, fresh(s, context({ extraExec: ['/bin/true'] })));
  // Anything compile reads is part of the key.
  assert.equal(compile(s, context({ extraExec: ['/bin/sh'] })).reused, false);
  assert.equal(compile(s, context({ extraExec: ['/bin/true'], limits: { cpuSeconds: 5 } })).reused, false);
  assert.equal(compile({ ...s, unixSockets: true }, context({ extraExec: ['/bin/true'] })).reused, false);
  assert.equal(compile(s, context({ extraExec: ['/bin/true'], features: { ...detectFeatures() } })).reused, false, 'another features object');
  assert.equal(compile(s, context({ extraExec: ['/bin/true'] })).reused, true);
});

test('a granted symlink retargeted, or replaced by a directory, between two compiles is seen by the second', { skip: noMounts }, () => {
  clearPlanMemo();
  const { link, a, b } = linkToA('swap');
  const s = sandbox([link]);
  assert.deepEqual(preserved(compile(s, context()).c), [a]);
  assert.equal(compile(s, context()).reused, true);
  unlinkSync(link);
  symlinkSync(b, link);
  const retargeted = compile(s, context());
  assert.equal(retargeted.reused, false);
  assert.deepEqual(preserved(retargeted.c), [b]);
  assert.deepEqual(retargeted.c, fresh(s, context()));
  assert.equal(compile(s, context()).reused, true);
  unlinkSync(link);
  mkdirSync(link);
  const replaced = compile(s, context());
  assert.equal(replaced.reused, false);
  assert.deepEqual(preserved(replaced.c), [link]);
});

test('a granted directory swapped for a symlink: the plan is what path-cache.ts answers without the memo', { skip: noMounts }, () => {
  clearPlanMemo();
  clearPathCache();
  const dir = join(root, 'was-a-dir');
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(dir);
  mkdirSync(elsewhere);
  const s = sandbox([dir]);
  compileSandbox(s, context());
  rmSync(dir, { recursive: true });
  symlinkSync(elsewhere, dir);
  const memoized = compileSandbox(s, context());
  clearPlanMemo(); // the path cache is kept: the answer the policy code gave before the memo
  assert.deepEqual(memoized, compileSandbox(s, context()));
});

test("a path a pool's call narrowed to is judged at every compile on a fresh resolution, and granted exactly as judged", () => {
  clearPlanMemo();
  clearPathCache();
  const uploads = join(root, 'ceiling');
  const job = join(uploads, 'job');
  const other = join(uploads, 'other');
  const away = join(root, 'ceiling-away');
  for (const d of [uploads, job, other, away]) mkdirSync(d);
  const pool: NormalizedSandbox = { ...sandbox(), fs: { read: [], write: [uploads], exec: [] } };
  const raw = { fs: { write: [job] } };
  const s = narrowSandbox(pool, raw, validateSandbox(raw)) as NormalizedSandbox;
  assert.deepEqual(s.ceiling, { option: 'sandbox', write: [uploads] });
  // Each rule and op that opens the path is exact; the pool's own paths are not.
  const opening = (c: CompiledSandbox): string[] => [
    ...(c.plan.landlock?.paths ?? []).filter((p) => p.exact).map((p) => `landlock ${p.path}`),
    ...(c.plan.mounts ?? []).filter((m) => m.exact).map((m) => `${m.op === MountOp.Preserve ? 'preserve' : 'bind'} ${m.path}`),
  ];
  const expect = (path: string): string[] => [
    ...(features.landlockAbi >= 1 ? [`landlock ${path}`] : []),
    ...(mountPlans ? [`preserve ${path}`, `bind ${path}`] : []),
  ];
  assert.deepEqual(opening(compile(s, context()).c), expect(job));
  assert.equal(compile(s, context()).reused, true);
  assert.deepEqual(opening(compileSandbox(pool, context())), [], 'the pool as it is: nothing exact');
  // The directory swapped for a symlink to another beneath the pool's (the path cache alone would keep the old name).
  rmSync(job, { recursive: true });
  symlinkSync(other, job);
  const moved = compile(s, context());
  assert.equal(moved.reused, false);
  assert.deepEqual(opening(moved.c), expect(other));
  // To one outside the pool's: refused, naming the call's option, whether a plan was kept or not.
  unlinkSync(job);
  symlinkSync(away, job);
  const outsideRefused = (e: unknown): boolean =>
    e instanceof InvalidOptionRangeError && e.option === 'sandbox.fs.write[0]' && e.message.includes(`it resolves to ${away}`);
  assert.throws(() => compileSandbox(s, context()), outsideRefused);
  assert.throws(() => compileUnkept(s, context()), outsideRefused);
  // Gone: it grants nothing.
  unlinkSync(job);
  assert.deepEqual(opening(compileSandbox(s, context())), []);
});

test('a granted directory deleted, or made, between two compiles is seen by the second', { skip: noMounts }, () => {
  clearPlanMemo();
  const dir = join(root, 'comes-and-goes');
  const s = sandbox([dir]);
  assert.deepEqual(preserved(compile(s, context()).c), [], 'a path that does not exist is left out');
  assert.equal(compile(s, context()).reused, true, 'and stays out while it does not');
  mkdirSync(dir);
  const made = compile(s, context());
  assert.equal(made.reused, false);
  assert.deepEqual(preserved(made.c), [dir]);
  rmSync(dir, { recursive: true });
  const gone = compile(s, context());
  assert.equal(gone.reused, false);
  assert.deepEqual(preserved(gone.c), []);
  // A directory replaced by a file of the same name: what it is comes from a fresh stat.
  mkdirSync(dir);
  compile(s, context());
  rmSync(dir, { recursive: true });
  writeFileSync(dir, 'x');
  assert.equal(compile(s, context()).reused, false);
});

test('where the private tmpfs goes follows a symlink retargeted between compiles', { skip: noMounts || noOutside }, () => {
  clearPlanMemo();
  const link = join(outside, 'tmp-link');
  symlinkSync('/usr', link);
  const s = sandbox([link]);
  assert.equal(compile(s, context()).c.plan.privateTmp?.path, '/tmp', 'the grant resolves outside /tmp');
  assert.equal(compile(s, context()).reused, true);
  unlinkSync(link);
  symlinkSync(root, link);
  const after = compile(s, context());
  assert.equal(after.reused, false);
  assert.equal(after.c.plan.privateTmp?.path, '/var/tmp', 'a grant under /tmp moves the tmpfs to /var/tmp');
});

/** Every object reachable from a value (typed arrays and frozen ones skipped: nothing can change them). */
function objectsOf(value: unknown, out = new Set<object>()): Set<object> {
  if (typeof value !== 'object' || value === null || out.has(value) || ArrayBuffer.isView(value) || Object.isFrozen(value)) return out;
  out.add(value);
  for (const v of Object.values(value)) objectsOf(v, out);
  return out;
}

test('each result is its own: no writable object is shared between two, and the kept plan fields are frozen', () => {
  clearPlanMemo();
  const s = sandbox();
  const a = compileSandbox(s, context({ limits: { memoryBytes: 1 << 30 } }));
  const b = compileSandbox(s, context({ limits: { memoryBytes: 1 << 30 } }));
  assert.ok(planMemoStats().hits > 0);
  // (CompiledSandbox.seccomp, the compiled filter for explanations, is seccompFor's shared object, as it always was.)
  const mine = (c: CompiledSandbox): unknown => [c.plan, c.limits, c.appliedLimits, c.enforcement, c.owner];
  const shared = [...objectsOf(mine(a))].filter((o) => objectsOf(mine(b)).has(o));
  assert.deepEqual(shared, []);
  const before = structuredClone(b.enforcement);
  a.enforcement.missing.push('x');
  a.enforcement.fallbacks.length = 0;
  a.enforcement.namespaces.pop();
  a.enforcement.limits.memoryBytes = 1;
  a.enforcement.guarantees.treeEnds = null;
  a.enforcement.simulated.push('x');
  if (a.enforcement.landlock) a.enforcement.landlock.fs[0] = 'x';
  if (a.enforcement.seccomp) a.enforcement.seccomp.rules = -1;
  if (a.enforcement.tmpdirLimit) a.enforcement.tmpdirLimit.bytes = 1;
  a.limits.cpuSeconds = 1;
  a.owner.uid = 1;
  assert.deepEqual(b.enforcement, before);
  assert.deepEqual(compileSandbox(s, context({ limits: { memoryBytes: 1 << 30 } })).enforcement, before);
  assert.deepEqual(detectFeatures().simulated, features.simulated);
  // The plan fields run after run share are frozen: a write throws instead of reaching the next run.
  if (a.plan.mounts) assert.throws(() => (a.plan.mounts as { op: number; path: string }[]).push({ op: MountOp.Hide, path: '/' }), TypeError);
  if (a.plan.landlock) assert.throws(() => (a.plan.landlock!.paths as { allowedAccess: bigint; path: string }[])[0]!.path = '/', TypeError);
  if (a.plan.namespaces) assert.throws(() => (a.plan.namespaces!.cloneFlags = 0), TypeError);
});

test("a root caller's operation uids differ run to run: one kept plan serves them, each with its own uid", { skip: isRoot ? false : 'root only' }, () => {
  clearPlanMemo();
  const s = sandbox();
  const A = 0x7000_0005;
  const B = 0x7000_0006;
  compileSandbox(s, context({ operationUid: A }));
  const reused = compile(s, context({ operationUid: B }));
  assert.equal(reused.reused, true);
  assert.equal(reused.c.enforcement.uid, B);
  assert.deepEqual(reused.c.owner, { uid: B, gid: B });
  assert.deepEqual(reused.c.plan.credentials, { uid: B, gid: B });
  assert.deepEqual(reused.c, fresh(s, context({ operationUid: B })));
  // Without one (every operation is nobody) it is another plan; uid 0 for a program is never planned.
  assert.equal(compile(s, context()).reused, false);
  assert.throws(() => compileSandbox(s, context({ operationUid: 0 })), { code: 'SANDBOX_UNAVAILABLE', message: /a uid other than 0 for the program/ });
  assert.throws(() => compileSandbox(s, context({ operationUid: -1 })), RangeError);
});

/** Every string in `value` that holds `text`. */
function mentionsOf(value: unknown, text: string): string[] {
  if (typeof value === 'string') return value.includes(text) ? [value] : [];
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return [];
  return Object.values(value).flatMap((field) => mentionsOf(field, text));
}

/** A context whose host temp dirs are named /host/tmp/0, /host/tmp/1, ... (never made), with the owners asked for. */
function hostTmpdirContext(features: CompileContext['features']): { ctx: CompileContext; made: string[]; owners: { uid: number; gid: number }[] } {
  const made: string[] = [];
  const owners: { uid: number; gid: number }[] = [];
  const ctx = context({
    features,
    hostTmpdir: (owner) => {
      owners.push(owner);
      made.push(`/host/tmp/${made.length}`);
      return made.at(-1)!;
    },
  });
  return { ctx, made, owners };
}

test('a plan with a host temp dir is kept: each operation gets its own dir, wherever a compile without the memo puts it', () => {
  clearPlanMemo();
  const f = { ...detectFeatures(), mountApi: false };
  const { ctx, made, owners } = hostTmpdirContext(f);
  const loose = { ...sandbox(), mode: 'best-effort' as const };
  const a = compile(loose, ctx);
  const b = compile(loose, ctx);
  const c = compile(loose, ctx);
  assert.deepEqual([a.reused, b.reused, c.reused], [false, true, true]);
  assert.deepEqual(made, ['/host/tmp/0', '/host/tmp/1', '/host/tmp/2'], 'one dir per compile, none for the stand-in');
  for (const [i, { c: result }] of [a, b, c].entries()) {
    const dir = `/host/tmp/${i}`;
    assert.equal(result.tmpdir, dir);
    assert.equal(result.hostTmpdir, dir);
    assert.equal(result.enforcement.tmpdir, dir);
    assert.deepEqual(owners[i], result.owner, 'the dir is made for the child\'s ids');
    assert.deepEqual(mentionsOf(result, '/host/tmp/').filter((m) => m !== dir), [], 'no other operation\'s dir');
    assert.deepEqual(mentionsOf(result, 'stand-in'), []);
    // Exactly what a compile that made this dir itself gives.
    assert.deepEqual(result, compileUnkept(loose, { ...ctx, hostTmpdir: () => dir }));
  }
  assert.ok(a.c.plan.landlock?.paths.some((rule) => rule.path === '/host/tmp/0'), 'the dir has its Landlock rule');
  assert.equal(b.c.plan.landlock?.paths.some((rule) => rule.path === '/host/tmp/0'), false, "the next operation has no rule for the first one's dir");
  assert.equal(planMemoStats().entries, 1);
});

test('a host temp dir that the mount plan uses too is compiled with the real dir every time', { skip: noMounts }, () => {
  clearPlanMemo();
  const { ctx, made } = hostTmpdirContext(detectFeatures());
  // Grants under both /tmp and /var/tmp: no private tmpfs, so a host dir, which the mount plan binds.
  const both = { ...sandbox(['/tmp', '/var/tmp']), mode: 'best-effort' as const };
  const a = compile(both, ctx);
  const b = compile(both, ctx);
  assert.deepEqual([a.reused, b.reused], [false, false]);
  assert.deepEqual(made, ['/host/tmp/0', '/host/tmp/1']);
  assert.equal(b.c.tmpdir, '/host/tmp/1');
  assert.deepEqual(mentionsOf(b.c, 'stand-in'), []);
  assert.deepEqual(b.c, compileUnkept(both, { ...ctx, hostTmpdir: () => '/host/tmp/1' }));
});

test('features learnt at run time (markUsernsRefused) are a new features object: the next compile sees them', { skip: features.userns ? false : 'user namespaces are unavailable already' }, () => {
  clearPlanMemo();
  try {
    const before = compileSandbox(sandbox(), context());
    assert.ok(before.enforcement.namespaces.includes('user'));
    assert.equal(detectFeatures(), detectFeatures(), 'the same object while nothing changes');
    markUsernsRefused('refused in a test');
    const refused = detectFeatures();
    assert.equal(refused.userns, false);
    assert.equal(detectFeatures(), refused);
    const after = compile(sandbox(), context());
    assert.equal(after.reused, false);
    assert.ok(!after.c.enforcement.namespaces.includes('user'));
  } finally {
    resetFeatureCache();
  }
});

test('a kept plan is reused without a stat check until its directories or the mount table report a change', { skip: noMounts || noWatch }, () => {
  clearPlanMemo();
  const { link, b } = linkToA('watched');
  const s = sandbox([link]);
  assert.equal(compile(s, context()).reused, false);
  assert.deepEqual(
    [compile(s, context()), compile(s, context()), compile(s, context())].map((r) => [r.reused, r.statChecked]),
    [[true, true], [true, false], [true, false]],
    'one full check (its directories watched from then on), then none',
  );
  // Any entry made in a directory the paths were looked up in starts a new generation: one full check.
  writeFileSync(join(root, 'unrelated'), '');
  assert.deepEqual(Object.values(pick(compile(s, context()))), [true, true]);
  assert.deepEqual(Object.values(pick(compile(s, context()))), [true, false]);
  // The watched state is what sees the symlink retargeted.
  unlinkSync(link);
  symlinkSync(b, link);
  const retargeted = compile(s, context());
  assert.equal(retargeted.reused, false);
  assert.deepEqual(preserved(retargeted.c), [b]);
});

test('a symlink halfway along a chain, in a directory neither the path nor its real path is in, is watched too', { skip: noMounts || noWatch }, () => {
  clearPlanMemo();
  const hops = join(root, 'chain-hops');
  mkdirSync(hops);
  const a = join(root, 'chain-a');
  const b = join(root, 'chain-b');
  mkdirSync(a);
  mkdirSync(b);
  symlinkSync(a, join(hops, 'hop'));
  const link = join(root, 'chain-link');
  symlinkSync(join(hops, 'hop'), link);
  const s = sandbox([link]);
  compile(s, context());
  compile(s, context());
  assert.equal(compile(s, context()).statChecked, false, 'watched');
  unlinkSync(join(hops, 'hop'));
  symlinkSync(b, join(hops, 'hop'));
  const retargeted = compile(s, context());
  assert.equal(retargeted.reused, false, 'the change in chain-hops/ was seen');
  assert.deepEqual(preserved(retargeted.c), [b]);
});

test('a plan with a path looked up on a filesystem that cannot be watched (procfs) is checked by stat every time', { skip: noMounts }, () => {
  clearPlanMemo();
  assert.equal(watchDirs(['/proc']), false);
  const s = sandbox(['/proc/cpuinfo']);
  compile(s, context());
  for (let i = 0; i < 3; i++) assert.deepEqual(Object.values(pick(compile(s, context()))), [true, true]);
});

test('a directory mounted over, on the way to a granted symlink, between two compiles is seen by the second', { skip: noMounts || noWatch }, () => {
  // A mount makes no inotify event: the mount table's notice must be what sees it. Its own mount namespace.
  const script = join(root, 'mount-probe.mjs');
  const module = (path: string): string => JSON.stringify(new URL(path, import.meta.url).href);
  const a = join(root, 'mount-a');
  const b = join(root, 'mount-b');
  const under = join(root, 'mount-under'); // holds link -> a; mounted over by `over`, whose link -> b
  const over = join(root, 'mount-over');
  for (const d of [a, b, under, over]) mkdirSync(d);
  symlinkSync(a, join(under, 'link'));
  symlinkSync(b, join(over, 'link'));
  writeFileSync(
    script,
    `import { execFileSync } from 'node:child_process';
import { compileSandbox, planMemoStats } from ${module('../src/policy/compile.js')};
import { validateSandbox } from ${module('../src/options/sandbox.js')};
import { detectFeatures } from ${module('../src/policy/features.js')};
import { MountOp } from ${module('../src/protocol/wire.js')};
const s = validateSandbox({ fs: { read: [${JSON.stringify(join(under, 'link'))}] } });
const ctx = { features: detectFeatures(), limits: {}, extraExec: [], hostTmpdir: () => { throw new Error('none'); } };
const step = () => {
  const before = planMemoStats();
  const c = compileSandbox(s, ctx);
  const after = planMemoStats();
  return [after.hits - before.hits, after.statChecks - before.statChecks, c.plan.mounts.filter((m) => m.op === MountOp.Preserve).map((m) => m.path)];
};
const steps = [step(), step(), step()];
execFileSync('mount', ['--bind', ${JSON.stringify(over)}, ${JSON.stringify(under)}]);
steps.push(step(), step());
process.stdout.write(JSON.stringify(steps));
`,
  );
  const unshare = isRoot ? ['--mount', '--propagation', 'private'] : ['--map-root-user', '--mount', '--propagation', 'private'];
  let out: string;
  try {
    out = execFileSync('unshare', [...unshare, process.execPath, script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '');
    if ((e as { code?: string }).code === 'ENOENT' || /unshare failed/.test(stderr)) return; // no mount namespace for a test process here
    throw e;
  }
  assert.deepEqual(JSON.parse(out), [
    [0, 0, [a]], // compiled
    [1, 1, [a]], // reused after a full check, its directories watched from then on
    [1, 0, [a]], // reused, unchecked
    [0, 1, [b]], // after the mount: checked, found changed, compiled anew
    [1, 1, [b]], // the new plan's first reuse: a full check
  ]);
});

function pick(r: { reused: boolean; statChecked: boolean }): { reused: boolean; statChecked: boolean } {
  return { reused: r.reused, statChecked: r.statChecked };
}

test(`at most ${PLAN_MEMO_ENTRIES} plans are kept, the least recently used dropped first`, () => {
  clearPlanMemo();
  const s = sandbox();
  const ctx = (n: number): CompileContext => context({ limits: { cpuSeconds: n + 1 } });
  compileSandbox(s, ctx(0));
  for (let n = 1; n < PLAN_MEMO_ENTRIES + 10; n++) {
    compileSandbox(s, ctx(n));
    compileSandbox(s, ctx(0)); // kept in use
  }
  assert.equal(planMemoStats().entries, PLAN_MEMO_ENTRIES);
  assert.equal(compile(s, ctx(0)).reused, true);
  assert.equal(compile(s, ctx(1)).reused, false);
});

test('run(): a granted symlink retargeted between two runs is followed by the second', { skip: noMounts || noOutside }, async () => {
  // Under /tmp (hidden) only the grant's real path is put back: the target of the moment.
  const a = join(root, 'run-a');
  const b = join(root, 'run-b');
  mkdirSync(a);
  mkdirSync(b);
  writeFileSync(join(a, 'f'), 'from a');
  writeFileSync(join(b, 'f'), 'from b');
  const link = join(outside, 'run-link');
  symlinkSync(a, link);
  const options = { sandbox: { fs: { read: [link] } } };
  const cat = async (file: string): Promise<string> => {
    const r = await run('/bin/cat', [file], options);
    return r.exitCode === 0 ? r.stdout : 'unreadable';
  };
  for (let i = 0; i < 2; i++) {
    assert.equal(await cat(join(link, 'f')), 'from a');
    assert.equal(await cat(join(b, 'f')), 'unreadable');
  }
  unlinkSync(link);
  symlinkSync(b, link);
  for (let i = 0; i < 2; i++) {
    assert.equal(await cat(join(link, 'f')), 'from b');
    assert.equal(await cat(join(a, 'f')), 'unreadable');
  }
});

test('run(): a program made after a run that could not find it is found by the next run', async () => {
  // The program's own path is granted (extraExec) only when it is a regular file: a kept "no" must not outlive its creation.
  const dir = join(root, 'later');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  const program = join(dir, 'prog');
  for (let i = 0; i < 2; i++) {
    const missing = await run(program, [], {}).then(
      () => 'ran',
      (e: unknown) => (e as { code?: string }).code,
    );
    assert.equal(missing, 'EXEC_FAILED');
  }
  writeFileSync(program, '#!/bin/sh\necho made\n');
  chmodSync(program, 0o755);
  for (let i = 0; i < 2; i++) assert.equal((await run(program, [], {})).stdout, 'made\n');
  rmSync(program);
  mkdirSync(program);
  assert.equal(await run(program, [], {}).then(() => 'ran', (e: unknown) => (e as { code?: string }).code), 'EXEC_FAILED');
});
