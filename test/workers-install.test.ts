// Warm workers wherever the package is installed: a root caller's workers run
// as another uid, which may not be able to enter the install path (a clone
// under a 0700 /root) or the module's directory (a mkdtemp dir is 0700).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { createWorkerPool, type WorkerPool } from '../src/index.js';
import { accessProblem, installedAddon, installedBootstrap, type Identity } from '../src/workers/runtime.js';
import { descendants } from './helpers.js';
import { loadBinding } from '../src/native/binding.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const isRoot = process.getuid?.() === 0;
const asRootOnly = isRoot ? {} : { skip: 'only a root caller runs its workers as another uid' };
const setpriv = '/usr/bin/setpriv';

const dirs: string[] = [];
after(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(mode: number, prefix = 'hatchery-install-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, mode);
  dirs.push(dir);
  return dir;
}

function writeModule(dir: string, mode = 0o644): string {
  const file = join(dir, 'mod.mjs');
  writeFileSync(file, 'export function add(a, b) { return a + b; }\n');
  chmodSync(file, mode);
  return file;
}

test('a module in a 0700 mkdtemp dir is refused at once, naming the path, the uid and the fix', asRootOnly, () => {
  const closed = tempDir(0o700);
  const module = writeModule(closed);
  assert.throws(
    () => createWorkerPool({ module, warm: 1, output: 'ignore' }),
    (e: Error & { code?: string; option?: string }) => {
      assert.equal(e.code, 'INVALID_OPTION');
      assert.equal(e.option, 'module');
      assert.ok(e instanceof RangeError);
      assert.ok(e.message.includes(module), e.message);
      // A root caller's workers run as an operation uid (65534 where the range cannot be had).
      const uid = /run as uid (\d+)/.exec(e.message)?.[1];
      assert.ok(uid === '65534' || Number(uid) >= 0x7000_0000, e.message);
      assert.ok(e.message.includes(`${closed} (mode 0700, owner uid 0) does not let uid ${uid} enter it`), e.message);
      assert.ok(e.message.includes(`chmod o+x ${closed}`), e.message);
      return true;
    },
  );
  // A module file the uid may not read, in a directory it may enter.
  const open = tempDir(0o755);
  const unreadable = writeModule(open, 0o600);
  assert.throws(() => createWorkerPool({ module: unreadable, output: 'ignore' }), (e: Error) => e.message.includes(`chmod o+r ${unreadable}`));
  // Nothing was booted for either.
  assert.deepEqual(descendants(), []);
  // Unsandboxed workers run as root, who may read it: no refusal.
  const p = createWorkerPool({ module, sandbox: false, warm: 0, output: 'ignore' });
  void p.close();
});

test('accessProblem() agrees with the kernel, for uid 65534 and for a uid from a per-operation range', asRootOnly, () => {
  assert.ok(existsSync(setpriv), 'setpriv is needed to ask the kernel');
  const base = tempDir(0o755);
  // [dir mode, dir owner, file mode, file owner]
  const cases: Array<[number, number, number, number]> = [
    [0o700, 0, 0o644, 0],
    [0o711, 0, 0o644, 0],
    [0o755, 0, 0o600, 0],
    [0o755, 0, 0o640, 0],
    [0o750, 0, 0o644, 0],
    [0o705, 65534, 0o644, 0],
    [0o075, 65534, 0o644, 0], // the owner class decides, even when "other" would allow
    [0o755, 0, 0o064, 65534],
  ];
  for (const uid of [65534, 0x7000_0001]) {
    const id: Identity = { uid, gid: uid, groups: [] };
    cases.forEach(([dirMode, dirOwner, fileMode, fileOwner], i) => {
      const dir = join(base, `${uid}-${i}`);
      mkdirSync(dir);
      const file = join(dir, 'f');
      writeFileSync(file, 'x');
      chownSync(file, fileOwner === 0 ? 0 : uid, 0);
      chmodSync(file, fileMode);
      chownSync(dir, dirOwner === 0 ? 0 : uid, 0);
      chmodSync(dir, dirMode);
      const kernel = spawnSync(setpriv, [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', 'test', '-r', file]).status === 0;
      const ours = accessProblem(file, id, 'read') === undefined;
      assert.equal(ours, kernel, `uid ${uid}, dir ${dirMode.toString(8)} owned by ${dirOwner ? uid : 0}, file ${fileMode.toString(8)} owned by ${fileOwner ? uid : 0}`);
    });
  }
});

test('workers run when the package is installed where their uid cannot go', { timeout: 120_000 }, () => {
  // The package as installed under a 0700 directory (a clone in /root, say): only what a worker needs.
  const install = tempDir(0o700, 'hatchery-closed-install-');
  for (const part of ['package.json', 'binding.gyp', 'dist/src', 'build/Release/hatchery_addon.node', 'build/Release/hatchery-zygote']) {
    cpSync(join(root, part), join(install, part), { recursive: true });
  }
  const moduleDir = tempDir(0o755);
  const module = writeModule(moduleDir);
  const inside = writeModule(join(install, 'dist'));
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { createWorkerPool } from ${JSON.stringify(join(install, 'dist', 'src', 'index.js'))};
    const out = {};
    const p = createWorkerPool({ module: ${JSON.stringify(module)}, warm: 1, output: 'inherit' });
    out.sum = await p.call('add', 40, 2);
    await p.ready();
    // The warm worker's command line: what node was asked to run.
    out.cmdlines = [];
    for (const pid of readdirSync('/proc').filter((e) => /^\\d+$/.test(e))) {
      try {
        const cmd = readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0');
        if (cmd.some((a) => a.includes(${JSON.stringify(moduleDir)}))) out.cmdlines.push(cmd);
      } catch {}
    }
    await p.close();
    try {
      createWorkerPool({ module: ${JSON.stringify(inside)}, warm: 0 });
      out.inside = 'accepted';
    } catch (e) {
      out.inside = e.code;
    }
    console.log(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 100_000, cwd: '/' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sum: number; cmdlines: string[][]; inside: string };
  assert.equal(out.sum, 42);
  assert.ok(out.cmdlines.length >= 1, 'the warm worker was found');
  // A root caller's workers run as another uid and get the library's copy; the caller's own uid reads the install in place.
  if (isRoot) {
    for (const cmd of out.cmdlines) {
      assert.ok(!cmd.some((a) => a.startsWith(install)), `nothing the worker runs lies in the closed install: ${cmd.join(' ')}`);
    }
  }
  // A module inside the closed install itself is refused (as root); the caller's own uid reads it in place.
  assert.equal(out.inside, isRoot ? 'INVALID_OPTION' : 'accepted');
});

test('a TMPDIR on a read-only mount: the runtime copy goes to the next base that takes it', { skip: !isRoot && 'only a root caller runs its workers as another uid', timeout: 120_000 }, () => {
  assert.ok(existsSync('/usr/bin/unshare'), 'unshare is needed for a mount namespace of its own');
  // The package under a 0700 dir, so the workers' uid needs the copy; TMPDIR a dir made read-only below.
  const install = tempDir(0o700, 'hatchery-closed-install-');
  for (const part of ['package.json', 'binding.gyp', 'dist/src', 'build/Release/hatchery_addon.node', 'build/Release/hatchery-zygote']) {
    cpSync(join(root, part), join(install, part), { recursive: true });
  }
  const readOnly = tempDir(0o755, 'hatchery-ro-tmpdir-');
  const module = writeModule(tempDir(0o755));
  const script = `
    import { readdirSync } from 'node:fs';
    import { createWorkerPool } from ${JSON.stringify(join(install, 'dist', 'src', 'index.js'))};
    const out = {};
    const p = createWorkerPool({ module: ${JSON.stringify(module)}, warm: 1, output: 'inherit' });
    try {
      out.sum = await p.call('add', 40, 2);
    } catch (e) {
      out.error = e.code + ': ' + e.message;
    }
    out.copies = readdirSync('/tmp').filter((n) => n.startsWith('hatchery-workers-' + process.pid + '-'));
    await p.close();
    console.log(JSON.stringify(out));
  `;
  // Read-only in a mount namespace of its own: for root, DAC alone would not refuse it.
  const setup = `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"`;
  const r = spawnSync('/usr/bin/unshare', ['-m', '--propagation', 'private', 'sh', '-c', setup, 'sh', readOnly, process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 100_000,
    cwd: '/',
    env: { ...process.env, TMPDIR: readOnly },
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sum?: number; error?: string; copies: string[] };
  assert.equal(out.error, undefined);
  assert.equal(out.sum, 42);
  assert.equal(out.copies.length, 1, 'the copy was made in /tmp, the next base');
});

test('the runtime copy is the library\'s own (0755 dir, 0644 files, verified content) and goes with the last pool', asRootOnly, async () => {
  const mine = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith(`hatchery-workers-${process.pid}-`));
  assert.deepEqual(mine(), []);
  const module = writeModule(tempDir(0o755));
  const pools: WorkerPool[] = [createWorkerPool({ module, warm: 1, output: 'ignore' }), createWorkerPool({ module, warm: 1, output: 'ignore' })];
  try {
    assert.equal(await pools[0]!.call('add', 1, 2), 3);
    assert.equal(await pools[1]!.call('add', 2, 2), 4);
    const copies = mine();
    assert.equal(copies.length, 1, 'one copy per process, shared by its pools');
    const dir = join(tmpdir(), copies[0]!);
    const st = lstatSync(dir);
    assert.ok(st.isDirectory());
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o7777, 0o755);
    for (const [name, source] of [['bootstrap.js', installedBootstrap], ['hatchery_addon.node', installedAddon()]] as const) {
      const f = lstatSync(join(dir, name));
      assert.ok(f.isFile());
      assert.equal(f.mode & 0o7777, 0o644);
      assert.deepEqual(readFileSync(join(dir, name)), readFileSync(source));
    }
    await pools[0]!.close();
    assert.equal(mine().length, 1, 'kept while another pool uses it');
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  assert.deepEqual(mine(), [], 'removed with the last pool');
});

test("a new copy's sweep removes only copies whose creator's live lock is free: a live one in another pid namespace stays", asRootOnly, () => {
  const base = tempDir(0o755, 'hatchery-copies-base-');
  const native = loadBinding();
  const old = (Date.now() - 5 * 60_000) / 1000;
  /** A copy as the library makes it: a 0755 dir of root's with a file and, if `lock`, the live lock file. */
  const plant = (name: string, lock: boolean, ageOld = true): string => {
    const dir = join(base, name);
    mkdirSync(dir, { mode: 0o755 });
    writeFileSync(join(dir, 'bootstrap.js'), '// planted', { mode: 0o644 });
    if (lock) writeFileSync(join(dir, '.hatchery-live'), '', { mode: 0o600 });
    if (ageOld) utimesSync(dir, old, old);
    return dir;
  };
  for (const pid of [99999, 99998, 99997, 99996]) assert.equal(existsSync(`/proc/${pid}`), false, `pid ${pid} exists here`);
  // Its creator lives in another pid namespace: pid 99999 means nothing here, but it holds its lock.
  const live = plant('hatchery-workers-99999-l1ve00', true);
  const held = native.lockFile(join(live, '.hatchery-live'));
  assert.ok(held >= 0, `could not take the stand-in creator's lock (${held})`);
  const dead = plant('hatchery-workers-99998-d3ad00', true);
  const unlocked = plant('hatchery-workers-99997-n0lock', false); // an earlier version's: the pid rule
  const fresh = plant('hatchery-workers-99996-fr3sh0', true, false); // made a moment ago, lock not taken yet
  try {
    const module = writeModule(tempDir(0o755));
    const script = `
      import { readdirSync } from 'node:fs';
      import { createWorkerPool } from ${JSON.stringify(join(root, 'dist', 'src', 'index.js'))};
      const p = createWorkerPool({ module: ${JSON.stringify(module)}, warm: 1, output: 'ignore' });
      const out = {};
      try {
        out.sum = await p.call('add', 40, 2);
        out.own = readdirSync(${JSON.stringify(base)}).filter((n) => n.startsWith('hatchery-workers-' + process.pid + '-'));
        out.ownFiles = readdirSync(${JSON.stringify(base)} + '/' + out.own[0]).sort();
      } catch (e) {
        out.error = e.code + ': ' + e.message;
      }
      await p.close();
      console.log(JSON.stringify(out));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TMPDIR: base } });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sum?: number; own?: string[]; ownFiles?: string[]; error?: string };
    assert.equal(out.error, undefined);
    assert.equal(out.sum, 42);
    assert.equal(out.own?.length, 1, 'the new copy was not made in TMPDIR');
    assert.ok(out.ownFiles?.includes('.hatchery-live'), `the new copy holds no live lock: ${out.ownFiles?.join(', ')}`);
    assert.ok(existsSync(join(live, 'bootstrap.js')), 'a copy whose creator holds its lock was swept');
    assert.equal(existsSync(dead), false, 'a copy whose lock was free was left');
    assert.equal(existsSync(unlocked), false, 'a lockless copy of a missing pid was left');
    assert.ok(existsSync(fresh), 'a copy made a moment ago was swept');
    assert.deepEqual(readdirSync(base).filter((n) => !n.includes('-9999')), [], 'the new copy was left after its pool closed');
  } finally {
    native.close(held);
  }
});
