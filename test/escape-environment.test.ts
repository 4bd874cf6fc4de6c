// The environment matrix (docs/kernel.md): whatever row this process runs in
// (root or not, user namespaces or not, a container's seccomp profile and
// capabilities or not), the default options work, each guarantee of the
// default profile holds by some layer or is refused by name, and
// `hatchery check --json` says exactly what a real run reports.
//
// test/run.js runs this file in every row; each assertion reads the row from
// what detection found, so nothing here is skipped for a row silently.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { closeDefaultZygote, createPool, createWorkerPool, run } from '../src/index.js';
import { packageRoot } from '../src/native/binding.js';
import { detectFeatures } from '../src/policy/features.js';
import type { Enforcement } from '../src/policy/compile.js';
import { descendants, waitFor } from './helpers.js';

const cli = join(packageRoot, 'bin', 'hatchery.js');
const features = detectFeatures();
/** Root holding the root path's capabilities; a root without them is planned as any other caller (src/policy/privilege.ts). */
const isRoot = features.privileged;
const row = `${features.environment}, ${isRoot ? 'root' : `uid ${process.getuid?.()}`}${features.simulated.length > 0 ? `, simulated: ${features.simulated.join('; ')}` : ''}`;

after(async () => {
  await closeDefaultZygote();
});

function hatchery(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, cwd: tmpdir() });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What must agree between `check --json` and a real run: everything but the per-run uid and temp dir path. */
function comparable(e: Enforcement): object {
  return {
    landlock: e.landlock,
    seccomp: e.seccomp,
    namespaces: e.namespaces,
    noNewPrivs: e.noNewPrivs,
    limits: e.limits,
    tmpdirLimit: e.tmpdirLimit,
    privateTmp: e.tmpdir === '/tmp',
    guarantees: e.guarantees,
    missing: e.missing,
    fallbacks: e.fallbacks,
    simulated: e.simulated,
    operationUid: e.uid >= 0x7000_0000,
  };
}

interface TmpdirRun {
  ok: boolean;
  stdout?: string;
  tmpdir?: string;
  tmpdirLeft?: boolean;
  code?: string;
  stage?: string;
  errnoName?: string;
  message?: string;
}

/** One run with a host temp dir (no mount namespace), in a fresh Node process whose TMPDIR is `value`, wrapped in `wrap`. */
function runWithTmpdir(value: string, wrap: string[] = []): TmpdirRun {
  const program = `
    import { existsSync } from 'node:fs';
    import { run, closeDefaultZygote } from ${JSON.stringify(join(packageRoot, 'dist', 'src', 'index.js'))};
    let out;
    try {
      const r = await run('/bin/sh', ['-c', 'echo "$TMPDIR"; echo x > "$TMPDIR/f" && echo wrote'], { sandbox: { namespaces: { mount: false } }, timeoutMs: 20000 });
      out = { ok: r.exitCode === 0, stdout: r.stdout + r.stderr, tmpdir: r.enforcement.tmpdir, tmpdirLeft: existsSync(r.enforcement.tmpdir) };
    } catch (e) {
      out = { ok: false, code: e.code, stage: e.stage, errnoName: e.errnoName, message: String(e.message) };
    }
    await closeDefaultZygote();
    console.log(JSON.stringify(out));
  `;
  const argv = [...wrap, process.execPath, '--input-type=module', '-e', program];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, TMPDIR: value }, timeout: 60_000, cwd: tmpdir() });
  assert.equal(r.status, 0, `the run's process failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as TmpdirRun;
}

describe(`environment row: ${row}`, () => {
  test('`hatchery run -- echo hello` prints hello', () => {
    const r = hatchery(['run', '--', 'echo', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');
  });

  test('`check --json` reports the default profile a real run enforces', async () => {
    const r = hatchery(['check', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { defaultProfile: Enforcement; environment: string; strictRefuses: string[] };
    const real = await run('true', [], {});
    assert.deepEqual(comparable(report.defaultProfile), comparable(real.enforcement));
    assert.equal(report.environment, features.environment);
    assert.deepEqual(report.strictRefuses, [], 'strict mode runs the default profile in every row');
  });

  test('every guarantee of the default profile is kept by some layer', async () => {
    const r = await run('true', [], {});
    const g = r.enforcement.guarantees;
    assert.notEqual(g.treeEnds, null);
    assert.equal(g.noHostUnixSockets, 'seccomp');
    assert.equal(g.noHostIpc, r.enforcement.namespaces.includes('ipc') ? 'ipc-namespace' : 'seccomp');
    assert.notEqual(g.operationsSeparated, null);
    assert.equal(g.noPrivilegeGain, 'no-new-privs+unprivileged-uid');
    assert.deepEqual(r.enforcement.missing, []);
    if (isRoot) assert.ok(r.enforcement.uid !== 0, 'a root caller never runs its children as root');
  });

  test('the whole tree ends at the timeout, even a new session ignoring SIGTERM that double-forked', async () => {
    const marker = `hatchery-env-${process.pid}-${Date.now()}`;
    // dash has no `exec -a`: the marker is the escaped shell's $0, and it stays a shell (`; :`) so the marker stays.
    const script = `(setsid sh -c 'trap "" TERM; echo escaped; sleep 300; :' ${marker} &) ; trap "" TERM; sleep 300`;
    const started = Date.now();
    const r = await run('sh', ['-c', script], { timeoutMs: 500, killGraceMs: 300 });
    const took = Date.now() - started;
    assert.equal(r.timedOut, true);
    assert.ok(took < 500 + 300 + 3000, `run() settled ${took} ms after it started`);
    // The escape really ran, wherever setsid is not refused (the process-group rows refuse it: that is their lock).
    if (r.enforcement.guarantees.treeEnds !== 'process-group') assert.match(r.stdout, /escaped/, `the escaped session never started: ${r.stderr}`);
    // Nothing of the tree is left: no process carries the marker.
    await waitFor(() => !spawnSync('pgrep', ['-f', marker]).stdout.toString().trim(), 3000, 'the escaped session to be gone');
  });

  test('the tree ends when the program exits, too', async () => {
    const marker = `hatchery-env-exit-${process.pid}-${Date.now()}`;
    const r = await run('sh', ['-c', `sh -c 'echo background; sleep 300; :' ${marker} & sleep 0.3; echo started`], {});
    assert.equal(r.stdout, 'background\nstarted\n');
    await waitFor(() => !spawnSync('pgrep', ['-f', marker]).stdout.toString().trim(), 3000, 'the background sleep to be gone');
  });

  test('no host unix socket can be reached: socket(AF_UNIX) is refused, socketpair works', async () => {
    const py = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : null;
    if (py === null) {
      // sh has no socket call; the seccomp rule itself is tested in test/seccomp.test.ts and the escape suite.
      return;
    }
    const code = 'import socket\ntry:\n  socket.socket(socket.AF_UNIX)\n  print("made")\nexcept OSError as e:\n  print("refused", e.errno)\na, b = socket.socketpair()\nprint("pair")';
    const r = await run(py, ['-c', code], {});
    assert.equal(r.stdout, 'refused 97\npair\n', r.stderr);
  });

  test('createPool works with default options', async () => {
    const pool = createPool({ maxConcurrency: 4 });
    try {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.run('sh', ['-c', `echo ${i}`])));
      assert.deepEqual(results.map((r) => r.stdout.trim()), ['0', '1', '2', '3', '4', '5', '6', '7']);
    } finally {
      await pool.close();
    }
  });

  test('createWorkerPool works with default options, from a module in a readable dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatchery-env-worker-'));
    chmodSync(dir, 0o755);
    const module = join(dir, 'double.mjs');
    writeFileSync(module, 'export function double(n) { return n * 2; }\n');
    chmodSync(module, 0o644);
    const workers = createWorkerPool({ module, warm: 1 });
    try {
      assert.equal(await workers.call('double', 21), 42);
    } finally {
      await workers.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a host temp dir is made whatever TMPDIR says: missing or relative, the next base takes it', () => {
    for (const value of [join(tmpdir(), 'hatchery-env-missing', 'below'), 'relative-tmp']) {
      const o = runWithTmpdir(value);
      assert.ok(o.ok, `TMPDIR=${value}: ${JSON.stringify(o)}`);
      const [seen, wrote] = o.stdout!.split('\n');
      assert.ok(seen!.startsWith('/') && !seen!.includes('hatchery-env-missing'), `TMPDIR=${value}: the program got ${seen}`);
      assert.equal(wrote, 'wrote', `TMPDIR=${value}: the program could not write its temp dir: ${o.stdout}`);
      assert.equal(o.tmpdirLeft, false, `TMPDIR=${value}: ${o.tmpdir} was left`);
    }
  });

  const privateMounts = isRoot && spawnSync('unshare', ['-m', 'true']).status === 0;
  test('no base takes a host temp dir (every one read-only): EXEC_FAILED at stage tmpdir, typed, with the errno', { skip: privateMounts ? false : 'needs root and a mount namespace of its own (unshare -m)' }, () => {
    // Each base bound read-only onto itself: what lies below stays readable (a checkout under /tmp, as in CI).
    const ro = 'for d in /tmp /var/tmp /dev/shm; do mount --bind "$d" "$d" && mount -o remount,bind,ro "$d"; done; exec "$@"';
    const o = runWithTmpdir('/tmp', ['unshare', '-m', '/bin/sh', '-ec', ro, 'sh']);
    assert.equal(o.ok, false, JSON.stringify(o));
    assert.equal(o.code, 'EXEC_FAILED', JSON.stringify(o));
    assert.equal(o.stage, 'tmpdir');
    assert.equal(o.errnoName, 'EROFS');
    assert.match(o.message!, /\/tmp\/hatchery-\d+: EROFS.*\/dev\/shm\/hatchery-\d+: EROFS/);
  });

  test('nothing of these runs is left: no descendant process, no temp dir of this process', async () => {
    await closeDefaultZygote();
    await waitFor(() => descendants().length === 0, 3000, 'every descendant (zygotes, sandboxes) to be gone');
    const parent = join(tmpdir(), `hatchery-${process.geteuid?.() ?? 0}`);
    if (existsSync(parent)) {
      const mine = readdirSync(parent).filter((name) => name.startsWith(`hatchery-op-${process.pid}-`));
      assert.deepEqual(mine, [], `temp dirs of this process left in ${parent}`);
    }
  });
});
