// Host-boundary escape probes (issue 8): each test tries to break the boundary
// between a sandbox and the host (or between two sandboxes) and asserts that
// the attempt is blocked, with the exact outcome the working sandbox gives.
//
//   1. hostile content in the temp dir (depth, long names, many files, modes
//      000, symlinks out, fifos, a swap racing the cleanup) never hurts the
//      host, in both temp-dir modes, and never blocks the event loop;
//   2. the startup sweep touches only what this library made (root);
//   3. the temp dir's size and inode caps;
//   4. no host unix socket is reachable;
//   5. concurrent operations cannot reach each other, even with a shared grant;
//   6. one sandbox's fork bomb does not stop another from starting;
//   7. the pid-namespace init is confined;
//   8. the caller's own fds; 9. System V IPC; 10. the caller's limits and priority.
//
// Row-agnostic: the same file runs as root, as uid 65534 (test/run.js), with
// HATCHERY_DISABLE_USERNS=1 and inside ../shared/tools/container-sim. Each
// test reads `enforcement` to learn which mode applies, and skips (saying why)
// only what cannot hold in a row.
import assert from 'node:assert/strict';
import { spawn as spawnHost, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statfsSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, afterEach, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeDefaultZygote, InvalidOptionRangeError, run, spawn, type Enforcement, type ProcessHandle, type Result, type RunOptions } from '../src/index.js';
import { loadBinding, packageRoot } from '../src/native/binding.js';
import { detectFeatures, OPERATION_UID_BASE, resetFeatureCache } from '../src/policy/features.js';
import { KILLER_UID_BASE, stageName } from '../src/protocol/wire.js';
import { validateSandbox } from '../src/options/sandbox.js';
import { normalizeSpawnOptions } from '../src/options/spawn-options.js';
import { narrowSandbox } from '../src/pool/narrow.js';
import { prepareOperation, type PreparedOperation } from '../src/spawn/prepare.js';
import { descendants, isAlive, processes, waitFor } from './helpers.js';
import { initSeccompSyscalls } from '../src/policy/seccomp.js';
import { REMOVER_TIMEOUT_MS, removeOperationDir } from '../src/spawn/tmpdir.js';
import { Zygote } from '../src/zygote/zygote.js';

/** Root holding the root path's capabilities (features.privileged): only its operations have uids of their own. */
const isRoot = detectFeatures().privileged;
const euid = process.geteuid?.() ?? 0;
const NOBODY = 65534;
const PYTHON = '/usr/bin/python3';
const PERL = '/usr/bin/perl';
const indexJs = join(packageRoot, 'dist', 'src', 'index.js');
/** Every name a hostile program makes at the top of its temp dir carries this, so a trace on the host can be found. */
const TAG = `eh${randomBytes(4).toString('hex')}`;
const MAX_LAG_MS = 50;

type SandboxOption = Exclude<RunOptions['sandbox'], false | undefined>;
type NamespaceChoice = Exclude<NonNullable<SandboxOption['namespaces']>, 'auto'>;

// ------------------------------------------------------------ guards

/** Anything thrown outside a test's own promise chain (a callback in the library, say) fails the test. */
const uncaught: string[] = [];
const onUncaught = (e: unknown): void => {
  uncaught.push(`uncaughtException: ${(e as Error)?.stack ?? String(e)}`);
};
const onUnhandled = (e: unknown): void => {
  uncaught.push(`unhandledRejection: ${(e as Error)?.stack ?? String(e)}`);
};
process.on('uncaughtException', onUncaught);
process.on('unhandledRejection', onUnhandled);

afterEach(() => {
  const seen = uncaught.splice(0);
  assert.deepEqual(seen, [], 'an exception escaped to the process during the test');
});

/** ms this thread has spent runnable but waiting for a CPU (schedstat's second field); 0 where unavailable. */
function runqueueWaitMs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return 0;
  }
}

/** The machine's CPU pressure (PSI "some" avg10, %), for lag reports; null where unavailable. */
function cpuPressure(): number | null {
  try {
    const m = /^some avg10=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Largest event-loop stall while fn runs (a 10 ms interval, like
 * test/sandbox-escape.test.ts). `maxLagMs` leaves out the time the main
 * thread was runnable but waiting for a CPU (its schedstat run-queue wait):
 * on a loaded 2-core machine that alone can exceed 100 ms, and it is not the
 * event loop being blocked. Time on CPU and time asleep in a synchronous call
 * (a sync fs walk, Atomics.wait, spawnSync) both still count. `rawLagMs` is
 * the plain interval lag.
 */
async function measureLag<T>(fn: () => Promise<T>): Promise<{ value: T; maxLagMs: number; rawLagMs: number }> {
  const interval = 10;
  let last = performance.now();
  let lastWait = runqueueWaitMs();
  let maxLagMs = 0;
  let rawLagMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const wait = runqueueWaitMs();
    const lag = now - last - interval;
    rawLagMs = Math.max(rawLagMs, lag);
    maxLagMs = Math.max(maxLagMs, lag - (wait - lastWait));
    last = now;
    lastWait = wait;
  }, interval);
  try {
    const value = await fn();
    // One more tick, so a stall right at the end is counted too.
    await sleep(interval * 2);
    return { value, maxLagMs, rawLagMs };
  } finally {
    clearInterval(timer);
  }
}

function describeRun(r: Result): string {
  return `exit ${r.exitCode} signal ${r.signal} limit ${r.limit} stdout ${JSON.stringify(r.stdout.slice(0, 2000))} stderr ${JSON.stringify(r.stderr.slice(0, 2000))}`;
}

function sh(script: string, options: RunOptions = {}): Promise<Result> {
  return run('/bin/sh', ['-c', script], { timeoutMs: 120_000, ...options }) as Promise<Result>;
}

/** Run a python3 script in the sandbox; it prints one JSON line. */
async function pythonJson<T>(script: string, args: string[], options: RunOptions = {}): Promise<{ r: Result; out: T }> {
  const r = (await run(PYTHON, ['-I', '-S', '-c', script, ...args], { timeoutMs: 60_000, ...options })) as Result;
  assert.equal(r.exitCode, 0, `python probe did not complete: ${describeRun(r)}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { r, out: JSON.parse(line) as T };
}

const enforcementCache = new Map<string, Enforcement>();
/** What a sandbox option gives in this row, learned from one trivial run. */
/** Runs fn with a HATCHERY_* simulation variable set (features detected afresh), then puts it back. */
async function withSimulated(name: string, value: string, fn: () => Promise<void>): Promise<void> {
  const saved = process.env[name];
  process.env[name] = value;
  resetFeatureCache();
  try {
    await fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
    resetFeatureCache();
  }
}

async function enforcementFor(sandbox: SandboxOption): Promise<Enforcement> {
  const key = JSON.stringify(sandbox) + (process.env.HATCHERY_DISABLE_USERNS ?? '') + (process.env.HATCHERY_LANDLOCK_ABI_MAX ?? '');
  const hit = enforcementCache.get(key);
  if (hit) return hit;
  const r = await run('/bin/true', [], { sandbox, timeoutMs: 30_000 });
  assert.equal(r.exitCode, 0, `the trivial run failed: ${describeRun(r as Result)}`);
  enforcementCache.set(key, r.enforcement);
  return r.enforcement;
}

function merge(sandbox: SandboxOption, ns: NamespaceChoice | undefined): SandboxOption {
  return ns ? { ...sandbox, namespaces: { ...ns } } : sandbox;
}

// ------------------------------------------------------------ host state

/** The library's own parent for host temp dirs in this process (src/spawn/tmpdir.ts). */
const libraryParent = join(tmpdir(), `hatchery-${euid}`);

/** This process's operation dirs that still exist (this file runs in a process of its own). */
function ownOperationDirs(): string[] {
  try {
    return readdirSync(libraryParent).filter((n) => n.startsWith(`hatchery-op-${process.pid}-`));
  } catch {
    return [];
  }
}

/** Operation dirs of this process that were not there before. */
function newOperationDirs(before: ReadonlySet<string>): string[] {
  return ownOperationDirs().filter((n) => !before.has(n));
}

/**
 * Anything on the host that carries this run's tag: in os.tmpdir(), /dev/shm,
 * the library's parent, and one level into this process's operation dirs
 * (except those in `known`, left by an earlier failure and reported there).
 */
function tagTraces(known: ReadonlySet<string> = new Set()): string[] {
  const found: string[] = [];
  const look = (dir: string): void => {
    try {
      for (const name of readdirSync(dir)) if (name.includes(TAG)) found.push(join(dir, name));
    } catch {
      // absent or unreadable: nothing of ours can be there either
    }
  };
  look(tmpdir());
  look('/dev/shm');
  look(libraryParent);
  for (const name of ownOperationDirs()) if (!known.has(name)) look(join(libraryParent, name));
  return found;
}

/** New top-level entries of os.tmpdir() that are this operation's: named by this process or the tag, or (root) owned by its uid. */
function newTmpEntries(before: ReadonlySet<string>, e: Enforcement): string[] {
  return [...tmpTopLevel()].filter((name) => {
    if (before.has(name)) return false;
    if (name.includes(TAG) || name.startsWith(`hatchery-op-${process.pid}-`)) return true;
    if (!isRoot) return false; // other callers run as the same uid
    try {
      return lstatSync(join(tmpdir(), name)).uid === e.uid;
    } catch {
      return false;
    }
  });
}

function tmpTopLevel(): Set<string> {
  return new Set(readdirSync(tmpdir()));
}

interface Entry {
  type: 'dir' | 'file' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  content?: string;
  target?: string;
}

/** Every entry under root, by relative path: type, mode, owner, content or link target. */
function snapshotTree(root: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  const walk = (rel: string): void => {
    const path = rel === '' ? root : join(root, rel);
    const st = lstatSync(path);
    const entry: Entry = {
      type: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other',
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
    };
    if (entry.type === 'file') entry.content = readFileSync(path, 'utf8');
    if (entry.type === 'symlink') entry.target = readlinkSync(path);
    out[rel === '' ? '.' : rel] = entry;
    if (entry.type === 'dir') for (const name of readdirSync(path).sort()) walk(rel === '' ? name : join(rel, name));
  };
  walk('');
  return out;
}

/** Processes whose command line contains marker (a sandboxed helper named by it). */
function processesWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const p of processes()) {
    try {
      if (readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes(marker) && isAlive(p.pid)) pids.push(p.pid);
    } catch {
      // gone while we looked
    }
  }
  return pids;
}

function processesOfUid(uid: number): number[] {
  const pids: number[] = [];
  for (const p of processes()) {
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
      if (m && Number(m[1]) === uid && isAlive(p.pid)) pids.push(p.pid);
    } catch {
      // gone
    }
  }
  return pids;
}

// ------------------------------------------------------------ fixtures

/**
 * The host sentinel, outside any sandbox grant: a dir closed to the sandbox
 * (owned by root when the tests run as root) holding a file, a world-writable
 * dir with a world-writable file (which only the cleanup's refusal to follow
 * links keeps safe) and a closed dir.
 */
let sentinel = '';
let sentinelSnapshot: Record<string, Entry> = {};
const SENTINEL_TEXT = 'host sentinel: must survive every cleanup\n';

function assertSentinelIntact(what: string): void {
  assert.ok(existsSync(sentinel), `${what}: the sentinel dir ${sentinel} is gone`);
  assert.deepEqual(snapshotTree(sentinel), sentinelSnapshot, `${what}: the host sentinel changed`);
}

const madeDirs: string[] = [];

before(async () => {
  for (const tool of [PYTHON, PERL, '/usr/bin/setpriv']) assert.ok(existsSync(tool), `${tool} is missing`);
  sentinel = mkdtempSync(join(tmpdir(), 'hatchery-eh-sentinel-'));
  madeDirs.push(sentinel);
  chmodSync(sentinel, 0o755);
  writeFileSync(join(sentinel, 'secret.txt'), SENTINEL_TEXT, { mode: 0o644 });
  mkdirSync(join(sentinel, 'open'));
  chmodSync(join(sentinel, 'open'), 0o777);
  writeFileSync(join(sentinel, 'open', 'victim.txt'), SENTINEL_TEXT);
  chmodSync(join(sentinel, 'open', 'victim.txt'), 0o666);
  mkdirSync(join(sentinel, 'closed'), { mode: 0o700 });
  writeFileSync(join(sentinel, 'closed', 'inner.txt'), SENTINEL_TEXT, { mode: 0o600 });
  sentinelSnapshot = snapshotTree(sentinel);
  // Warm up: feature detection (a synchronous probe) and the first zygote must not count as lag.
  await enforcementFor({});
});

/** Remove a tree whatever its modes and depth (coreutils walk with openat; Node's rmSync fails past PATH_MAX). */
function forceRemove(path: string): void {
  spawnSync('/bin/chmod', ['-R', 'u+rwX', path], { stdio: 'ignore' });
  spawnSync('/bin/rm', ['-rf', '--', path], { stdio: 'ignore' });
}

after(async () => {
  await closeDefaultZygote();
  // What a failing cleanup left (the failure itself was reported by its test): no trace stays.
  for (const name of ownOperationDirs()) forceRemove(join(libraryParent, name));
  for (const dir of madeDirs) forceRemove(dir);
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);
});

// ================================================================= 0

describe('0. the options these probes use run in every row', () => {
  // SandboxOptions.namespaces: "Keys left out take the 'auto' value", and 'auto' is "every namespace this
  // machine allows, falling back to none". So naming one key must not make strict mode demand namespaces the
  // default profile does without. Every test below that turns one namespace off relies on this.
  for (const ns of [{ mount: false }, { pid: false }, { pid: false, mount: false }] as NamespaceChoice[]) {
    test(`namespaces ${JSON.stringify(ns)}: the keys left out take the auto value`, async () => {
      const auto = await enforcementFor({});
      const e = await enforcementFor({ namespaces: ns });
      for (const [name, off] of Object.entries(ns)) if (off === false) assert.ok(!e.namespaces.includes(name as never), `${name} still created`);
      const expected = auto.namespaces.filter((n) => !(n in ns));
      assert.deepEqual(e.namespaces.filter((n) => !(n in ns)), expected, `the other namespaces differ from the default profile's (${auto.namespaces.join(',') || 'none'})`);
    });
  }
});

// ================================================================= 1

interface HostileCase {
  name: string;
  /** Runs in the temp dir (cwd) under /bin/sh; prints `expect` when it made everything. */
  script: string;
  expect: RegExp;
  /** Namespaces this case needs on top of the mode's. */
  ns?: NamespaceChoice;
  /** A marker in the command line of a helper that must be dead when run() resolves. */
  marker?: string;
}

const SWAPPER = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
target = sys.argv[2]
os.makedirs('race-${TAG}/a/sub')
open('race-${TAG}/a/sub/f', 'w').close()
os.symlink(target, 'race-${TAG}/a/link')
os.mkdir('swap-${TAG}')
open('swap-${TAG}/f', 'w').close()
os.symlink(target, 'swap-link-${TAG}')
open('started-${TAG}', 'w').close()
swap = libc.renameat2
AT = -100
while True:
    swap(AT, b'race-${TAG}/a/sub', AT, b'race-${TAG}/a/link', 2)
    swap(AT, b'swap-${TAG}', AT, b'swap-link-${TAG}', 2)
`;

function hostileCases(): HostileCase[] {
  const s = sentinel;
  const swapMarker = `hatchery-eh-swapper-${TAG}`;
  return [
    {
      name: 'depth 2500',
      script: `mkdir deep-${TAG} && cd deep-${TAG} && ${PERL} -e 'for (1..2500) { mkdir "d" or die "mkdir $_: $!"; chdir "d" or die "chdir $_: $!" } open(my $f, ">", "bottom") or die; print "depth 2500\\n"'`,
      expect: /^depth 2500$/m,
    },
    {
      name: '250-char names nested 100 deep',
      script: `mkdir long-${TAG} && cd long-${TAG} && ${PERL} -e 'my $n = "n" x 250; for (1..100) { mkdir $n or die "mkdir $_: $!"; chdir $n or die "chdir $_: $!" } open(my $f, ">", $n) or die; print "long 100\\n"'`,
      expect: /^long 100$/m,
    },
    {
      name: '20,000 files',
      script: `${PERL} -e 'for my $i (1..20000) { open(my $f, ">", "f-${TAG}-$i") or die "$i: $!"; close $f } print "files 20000\\n"'`,
      expect: /^files 20000$/m,
    },
    {
      name: 'modes 000 on nested dirs and files',
      script: [
        `mkdir -p modes-${TAG}/a/b/c modes-${TAG}/empty modes-${TAG}/x/y`,
        `echo x > modes-${TAG}/a/b/c/f && echo y > modes-${TAG}/a/f && echo z > modes-${TAG}/x/y/g && echo t > top-${TAG}`,
        `chmod 000 modes-${TAG}/a/b/c/f modes-${TAG}/a/b/c modes-${TAG}/a/b modes-${TAG}/a/f modes-${TAG}/a modes-${TAG}/empty modes-${TAG}/x/y/g modes-${TAG}/x/y modes-${TAG}/x top-${TAG}`,
        `chmod 000 modes-${TAG}`,
        'echo modes done',
      ].join(' && '),
      expect: /^modes done$/m,
    },
    {
      name: 'read-only nested dirs (0555, as a Go module cache leaves them)',
      script: [
        `mkdir -p ro-${TAG}/mod/pkg/sub`,
        `echo x > ro-${TAG}/mod/pkg/sub/f && echo y > ro-${TAG}/mod/pkg/g`,
        `chmod 0444 ro-${TAG}/mod/pkg/sub/f ro-${TAG}/mod/pkg/g`,
        `chmod 0555 ro-${TAG}/mod/pkg/sub ro-${TAG}/mod/pkg ro-${TAG}/mod`,
        'echo read-only done',
      ].join(' && '),
      expect: /^read-only done$/m,
    },
    {
      // The top-level entry itself read-only: listable, but nothing in it can be unlinked until it is made writable.
      name: 'a read-only dir at the top (0555, 0500 and 0444 beside)',
      script: [
        `mkdir -p rotop-${TAG}/sub/deeper rotop2-${TAG}/x && echo x > rotop-${TAG}/f && echo y > rotop-${TAG}/sub/g && echo z > rotop2-${TAG}/x/h`,
        `chmod 0555 rotop-${TAG}/sub/deeper rotop-${TAG}/sub rotop-${TAG} && chmod 0444 rotop2-${TAG}/x/h && chmod 0500 rotop2-${TAG}/x rotop2-${TAG}`,
        'echo read-only top done',
      ].join(' && '),
      expect: /^read-only top done$/m,
    },
    {
      name: 'mode 000 on the temp dir itself',
      script: `mkdir self-${TAG} && echo x > self-${TAG}/f && chmod 000 self-${TAG}/f self-${TAG} && chmod 000 . && echo self done`,
      expect: /^self done$/m,
    },
    {
      name: 'symlinks to the host sentinel',
      script: [
        `ln -s ${s} link-dir-${TAG}`,
        `ln -s ${s}/secret.txt link-file-${TAG}`,
        `ln -s ${s}/open link-open-${TAG}`,
        `ln -s ${s}/open/victim.txt link-victim-${TAG}`,
        `mkdir -p nest-${TAG}/deeper/deepest`,
        `ln -s ${s}/open nest-${TAG}/deeper/deepest/link`,
        `ln -s ../../.. nest-${TAG}/deeper/up`,
        `ln -s .. parent-${TAG}`,
        `ln -s / root-${TAG}`,
        `ln -s loop-b-${TAG} loop-a-${TAG} && ln -s loop-a-${TAG} loop-b-${TAG}`,
        // The remover's own name for subtrees it moves up: taken already, by links out.
        `ln -s ${s}/open .hatchery-rm-1`,
        `mkdir moved-${TAG} && ln -s ${s}/open moved-${TAG}/.hatchery-rm-2`,
        `mkdir locked-${TAG} && ln -s ${s}/open locked-${TAG}/l && ln -s ${s}/open/victim.txt locked-${TAG}/v && chmod 000 locked-${TAG}`,
        'echo links done',
      ].join(' && '),
      expect: /^links done$/m,
    },
    {
      name: 'fifos and socket inodes',
      script: [
        `mkfifo fifo-${TAG}`,
        `mkdir -p fifos-${TAG}/p/q`,
        `mkfifo fifos-${TAG}/p/q/fifo fifos-${TAG}/p/fifo000`,
        `chmod 000 fifos-${TAG}/p/fifo000`,
        `${PYTHON} -I -S -c "import os, stat; os.mknod('sock-${TAG}', stat.S_IFSOCK | 0o600); os.mknod('fifos-${TAG}/p/q/sock', stat.S_IFSOCK | 0o600)"`,
        `chmod 000 fifos-${TAG}/p/q`,
        'echo fifos done',
      ].join(' && '),
      expect: /^fifos done$/m,
    },
    {
      name: 'a swap racing the cleanup (renameat2 RENAME_EXCHANGE of a subdir and a link out, from a process that outlives the program)',
      ns: { pid: false },
      marker: swapMarker,
      script: [
        `${PYTHON} -I -S -c "$SWAPPER" ${swapMarker} ${s}/open </dev/null >/dev/null 2>&1 &`,
        'pid=$!',
        'i=0',
        `while [ ! -e started-${TAG} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done`,
        `[ -e started-${TAG} ] || { echo "the swapper did not start"; exit 1; }`,
        'sleep 0.3',
        'kill -0 $pid && echo "swapper alive at exit"',
      ].join('\n'),
      expect: /^swapper alive at exit$/m,
    },
    {
      // Empty at the end, but an ext4 directory keeps the blocks of every entry it held, and its rmdir reads them all.
      name: '20,000 files made and unlinked again (an empty dir that kept its size)',
      script: `${PERL} -e 'for my $i (1..20000) { open(my $f, ">", "g-${TAG}-$i") or die "$i: $!"; close $f; unlink "g-${TAG}-$i" or die "$i: $!" } printf "emptied, size %d\n", (stat ".")[7]'`,
      expect: /^emptied, size \d+$/m,
    },
  ];
}

type TmpMode = 'default' | 'host';

async function runHostile(t: TestContext, c: HostileCase, mode: TmpMode): Promise<void> {
  const ns: NamespaceChoice | undefined = mode === 'host' ? { ...c.ns, mount: false } : c.ns;
  const sandbox = merge({}, ns);
  const topBefore = tmpTopLevel();
  const dirsBefore = new Set(ownOperationDirs());
  const env: Record<string, string> = { PATH: '/usr/bin:/bin' };
  if (c.marker) env.SWAPPER = SWAPPER;
  const { value: r, maxLagMs, rawLagMs } = await measureLag(() => sh(c.script, { sandbox, env }));
  const e = r.enforcement;
  t.diagnostic(`temp dir ${e.tmpdir} (namespaces ${e.namespaces.join(',') || 'none'}), run ${r.wallMs.toFixed(0)} ms, event-loop lag ${maxLagMs.toFixed(1)} ms (${rawLagMs.toFixed(1)} ms with run-queue waits)`);

  // The hostile content was really made.
  assert.equal(r.exitCode, 0, `the hostile program failed to make its content: ${describeRun(r)}`);
  assert.match(r.stdout, c.expect, describeRun(r));

  // The temp dir is gone, wherever it was.
  assert.ok(e.tmpdir, 'the sandbox has a temp dir');
  if (mode === 'host') assert.notEqual(e.tmpdir, '/tmp', 'namespaces.mount false gives a host temp dir');
  if (e.tmpdir === '/tmp') {
    assert.deepEqual(e.tmpdirLimit, { bytes: 256 * 1024 * 1024, inodes: 65536 });
  } else {
    assert.ok(e.tmpdir.startsWith(`${libraryParent}/hatchery-op-${process.pid}-`), `host temp dir ${e.tmpdir} is not in the library's parent ${libraryParent}`);
    assert.equal(existsSync(e.tmpdir), false, `host temp dir ${e.tmpdir} is left behind after run() resolved`);
  }
  assert.deepEqual(newOperationDirs(dirsBefore), [], 'operation dirs of this process left in the library parent');
  assert.deepEqual(tagTraces(dirsBefore), [], 'hostile content reached the host');
  assert.deepEqual(newTmpEntries(topBefore, e), [], `new entries of this operation in ${tmpdir()}`);

  // Nothing of the tree outlives the run, and the sentinel is untouched.
  if (c.marker) {
    assert.deepEqual(processesWithMarker(c.marker), [], 'the swapper survived the end of the operation');
    // Had it survived the cleanup, it would still be swapping: give it the chance to show.
    await sleep(200);
    if (e.tmpdir !== '/tmp') assert.equal(existsSync(e.tmpdir), false);
  }
  assertSentinelIntact(`${c.name} (${mode})`);
  assert.ok(maxLagMs < MAX_LAG_MS, `the event loop was blocked ${maxLagMs.toFixed(1)} ms (max ${MAX_LAG_MS}; ${rawLagMs.toFixed(1)} ms with run-queue waits; CPU pressure ${cpuPressure()}%)`);
}

describe('1. hostile content in the temp dir never hurts the host', () => {
  for (const mode of ['default', 'host'] as const) {
    const label = mode === 'default' ? 'default profile (private tmpfs where a mount namespace exists)' : 'host temp dir (namespaces.mount false)';
    describe(label, () => {
      // Built lazily: the sentinel path exists only once before() ran.
      for (const [i, name] of [
        'depth 2500',
        '250-char names nested 100 deep',
        '20,000 files',
        'modes 000 on nested dirs and files',
        'read-only nested dirs (0555, as a Go module cache leaves them)',
        'a read-only dir at the top',
        'mode 000 on the temp dir itself',
        'symlinks to the host sentinel',
        'fifos and socket inodes',
        'a swap racing the cleanup',
        '20,000 files made and unlinked again',
      ].entries()) {
        test(name, async (t) => {
          const c = hostileCases()[i]!;
          assert.ok(c.name.startsWith(name));
          await runHostile(t, c, mode);
        });
      }
    });
  }
});

// ================================================================= 2

interface SweepChild {
  ok: boolean;
  exitCode?: number;
  stdout?: string;
  tmpdir?: string;
  tmpdirExists?: boolean;
  error?: string;
  code?: string;
}

/** A fresh Node process with TMPDIR set, doing one host-temp-dir run (which starts the startup sweep). */
function sweepChild(tmp: string, waitGone?: string, wrap: string[] = []): SweepChild {
  const program = `
    import { existsSync } from 'node:fs';
    import { run, closeDefaultZygote } from ${JSON.stringify(indexJs)};
    const out = {};
    try {
      // A host temp dir: the default profile's where there is no mount namespace, else namespaces.mount false.
      let r = await run('/bin/sh', ['-c', 'echo sweep-child-ok'], { sandbox: {}, timeoutMs: 20000 });
      if (r.enforcement.tmpdir === '/tmp') r = await run('/bin/sh', ['-c', 'echo sweep-child-ok'], { sandbox: { namespaces: { mount: false } }, timeoutMs: 20000 });
      Object.assign(out, { ok: true, exitCode: r.exitCode, stdout: r.stdout, tmpdir: r.enforcement.tmpdir, tmpdirExists: existsSync(r.enforcement.tmpdir) });
    } catch (e) {
      Object.assign(out, { ok: false, error: String(e && e.message || e), code: e && e.code });
    }
    // The sweep runs after the first host temp dir is made: give it time to act (or to do harm).
    const gone = process.env.SWEEP_WAIT_GONE;
    const deadline = Date.now() + (gone ? 5000 : 1500);
    while (Date.now() < deadline && (!gone || existsSync(gone))) await new Promise((r) => setTimeout(r, 50));
    await closeDefaultZygote();
    console.log(JSON.stringify(out));
  `;
  const env: Record<string, string | undefined> = { ...process.env, TMPDIR: tmp };
  if (waitGone) env.SWEEP_WAIT_GONE = waitGone;
  const argv = [...wrap, process.execPath, '--input-type=module', '-e', program];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(r.status, 0, `sweep child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as SweepChild;
}

function asNobody(script: string, env: Record<string, string>): void {
  const r = spawnSync('/usr/bin/setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', '/bin/sh', '-ec', script], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', ...env },
  });
  assert.equal(r.status, 0, `planting as uid ${NOBODY} failed: ${r.stdout}${r.stderr}`);
}

describe('2. the startup sweep touches only what this library made', () => {
  const skip = !isRoot ? 'needs root: the attacker (uid 65534) must differ from the library\'s uid, and the sweep only acts on dirs of its own uid or of operation uids' : false;
  let victimDir = '';
  let victimSnapshot: Record<string, Entry> = {};

  before(() => {
    if (skip) return;
    // Root's, but writable by all (no sticky bit): a removal that followed a link would show.
    victimDir = mkdtempSync(join(tmpdir(), 'hatchery-eh-sweep-sentinel-'));
    madeDirs.push(victimDir);
    chmodSync(victimDir, 0o777);
    writeFileSync(join(victimDir, 'victim.txt'), SENTINEL_TEXT, { mode: 0o644 });
    victimSnapshot = snapshotTree(victimDir);
  });

  function freshTmp(): string {
    const dir = mkdtempSync(join(tmpdir(), 'hatchery-eh-tmpdir-'));
    madeDirs.push(dir);
    chmodSync(dir, 0o1777);
    return dir;
  }

  /** The library's own parent for root's operation dirs in `tmp`, made as the library makes it (0711). */
  function libraryParentIn(tmp: string): string {
    const parent = join(tmp, 'hatchery-0');
    mkdirSync(parent, { mode: 0o711 });
    chmodSync(parent, 0o711);
    return parent;
  }

  /** An operation dir named `name` in `parent`, holding one file a run left. */
  function operationDirWith(parent: string, name: string, file: string, text: string): string {
    const dir = join(parent, name);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, file), text);
    return dir;
  }

  test('control: a stale dir of a dead library process in its own parent is removed, its links not followed', { skip }, () => {
    assert.equal(existsSync('/proc/99999'), false, 'pid 99999 exists: the stale name would name a live process');
    const tmp = freshTmp();
    const stale = operationDirWith(libraryParentIn(tmp), 'hatchery-op-99999-abcdef', 'left.txt', 'left by a SIGKILLed run');
    symlinkSync(victimDir, join(stale, 'link'));
    symlinkSync(join(victimDir, 'victim.txt'), join(stale, 'link-file'));
    const out = sweepChild(tmp, stale);
    assert.ok(out.ok, `the child's run failed: ${JSON.stringify(out)}`);
    assert.equal(out.stdout, 'sweep-child-ok\n');
    assert.equal(out.tmpdirExists, false, `the child's temp dir ${out.tmpdir} was left behind`);
    assert.equal(existsSync(stale), false, 'the stale dir was not swept');
    assert.deepEqual(snapshotTree(victimDir), victimSnapshot, 'the sweep followed a link out of the stale dir');
  });

  test('a dir named with a creator token is swept only when its live lock is free: the lock, not the pid, tells (pid namespaces may share the dir)', { skip }, () => {
    assert.equal(existsSync('/proc/99999'), false, 'pid 99999 exists');
    const tmp = freshTmp();
    const parent = libraryParentIn(tmp);
    // A creator in another pid namespace: its pid means nothing here, but it holds its lock.
    const live = operationDirWith(parent, 'hatchery-op-99999-0a1b2c3d-abcdef', 'in-use.txt', 'a live run in another pid namespace');
    const heldLock = loadBinding().lockFile(join(parent, '.hatchery-live-99999-0a1b2c3d'));
    assert.ok(heldLock >= 0, `could not take the stand-in creator's lock (${heldLock})`);
    // A creator that is gone: its lock file is left, unlocked.
    const stale = operationDirWith(parent, 'hatchery-op-99998-9f8e7d6c-ghijkl', 'left.txt', 'left by a SIGKILLed run');
    writeFileSync(join(parent, '.hatchery-live-99998-9f8e7d6c'), '', { mode: 0o600 });
    try {
      const out = sweepChild(tmp, stale);
      assert.ok(out.ok, `the child's run failed: ${JSON.stringify(out)}`);
      assert.equal(existsSync(stale), false, 'the dir whose lock was free was not swept');
      assert.equal(existsSync(join(parent, '.hatchery-live-99998-9f8e7d6c')), false, 'the free lock file was left');
      assert.ok(existsSync(join(live, 'in-use.txt')), 'a dir whose creator holds its lock was swept');
      assert.ok(existsSync(join(parent, '.hatchery-live-99999-0a1b2c3d')), 'a held lock file was removed');
      assert.deepEqual(
        readdirSync(parent).filter((n) => n.startsWith('.hatchery-live-') && !n.endsWith('0a1b2c3d')),
        [],
        'the sweeping child left its own lock file behind at its exit',
      );
    } finally {
      loadBinding().close(heldLock);
    }
  });

  const unsharePid = (): boolean => spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
  test('a live run in another pid namespace keeps its temp dir while a new process sweeps there', { skip: skip || (unsharePid() ? false : 'unshare --pid is refused here') }, async () => {
    const tmp = freshTmp();
    const runner = `
      import { run, closeDefaultZygote } from ${JSON.stringify(indexJs)};
      const r = await run('/bin/sh', ['-c', 'echo kept > f; sleep 2; cat f'], { sandbox: { namespaces: { mount: false } }, timeoutMs: 20000 });
      await closeDefaultZygote();
      console.log(JSON.stringify({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }));
    `;
    const child = spawnHost(process.execPath, ['--input-type=module', '-e', runner], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const parent = join(tmp, 'hatchery-0');
    await waitFor(() => existsSync(parent) && readdirSync(parent).some((n) => n.startsWith('hatchery-op-')), 15_000, 'the runner\'s temp dir');
    // The sweeper cannot see the runner's pid: a pid namespace of its own.
    const out = sweepChild(tmp, undefined, ['unshare', '--pid', '--fork', '--mount-proc']);
    assert.ok(out.ok, `the sweeping child's run failed: ${JSON.stringify(out)}`);
    assert.equal(await exited, 0);
    const r = JSON.parse(text.trim().split('\n').pop()!) as { exitCode: number; stdout: string; stderr: string };
    assert.deepEqual(r, { exitCode: 0, stdout: 'kept\n', stderr: '' }, 'the live run lost its temp dir to the sweep');
  });

  test('dirs planted by uid 65534 (top-level look-alike, fake hatchery-0 parent) are neither followed nor deleted, and the run still works', { skip }, () => {
    assert.equal(existsSync('/proc/99999'), false, 'pid 99999 exists');
    const tmp = freshTmp();
    asNobody(
      [
        'mkdir -m 0755 "$T/hatchery-op-99999-abcdef"',
        'ln -s "$S" "$T/hatchery-op-99999-abcdef/link"',
        'ln -s "$S/victim.txt" "$T/hatchery-op-99999-abcdef/link-file"',
        'mkdir -m 0711 "$T/hatchery-0"',
        'mkdir -m 0755 "$T/hatchery-0/hatchery-op-99999-abcdef"',
        'ln -s "$S" "$T/hatchery-0/hatchery-op-99999-abcdef/link"',
        'ln -s "$S/victim.txt" "$T/hatchery-0/hatchery-op-99999-abcdef/link-file"',
      ].join('\n'),
      { T: tmp, S: victimDir },
    );
    const planted = snapshotTree(tmp);
    assert.equal(planted['hatchery-0']?.uid, NOBODY);
    const out = sweepChild(tmp);
    // Checked first, whatever the run did: nothing planted was followed or deleted.
    assert.deepEqual(snapshotTree(victimDir), victimSnapshot, 'the sentinel changed: a planted link was followed');
    const now = snapshotTree(tmp);
    for (const [rel, entry] of Object.entries(planted)) {
      assert.deepEqual(now[rel], entry, `planted ${rel} was changed or deleted`);
    }
    // The library must not take a parent someone else made (the lead's intent: fall back to a private mkdtemp parent).
    assert.ok(out.ok, `the run failed because of the planted parent: ${JSON.stringify(out)}`);
    assert.equal(out.exitCode, 0);
    assert.equal(out.stdout, 'sweep-child-ok\n');
    assert.ok(out.tmpdir && !out.tmpdir.startsWith(`${join(tmp, 'hatchery-0')}/`), `the run used the planted parent: ${out.tmpdir}`);
    assert.equal(out.tmpdirExists, false, `the child's temp dir ${out.tmpdir} was left behind`);
    // Its private parent instead of the planted one went with its normal exit.
    assert.deepEqual(readdirSync(tmp).filter((n) => /^hatchery-0-/.test(n)), [], 'the private parent was left behind');
  });

  test("a private parent a SIGKILLed process left is swept once its creator's lock is free; a live or fresh one stays", { skip }, () => {
    const tmp = freshTmp();
    /** A private parent as the library makes one, holding a creator's op dir and lock file, last changed `ageMs` ago. */
    const privateParent = (suffix: string, token: string, ageMs: number): { parent: string; op: string; lock: string } => {
      const parent = join(tmp, `hatchery-0-${suffix}`);
      mkdirSync(parent, { mode: 0o711 });
      chmodSync(parent, 0o711);
      const op = operationDirWith(parent, `hatchery-op-99998-${token}-abcdef`, 'left.txt', 'left by a run');
      const lock = join(parent, `.hatchery-live-99998-${token}`);
      writeFileSync(lock, '', { mode: 0o600 });
      const when = (Date.now() - ageMs) / 1000;
      utimesSync(parent, when, when);
      return { parent, op, lock };
    };
    const stale = privateParent('st4le1', '9f8e7d6c', 5 * 60_000);
    const live = privateParent('l1ve22', '0a1b2c3d', 5 * 60_000);
    const heldLock = loadBinding().lockFile(live.lock);
    assert.ok(heldLock >= 0, `could not take the stand-in creator's lock (${heldLock})`);
    // Made a moment ago, its creator's lock not taken yet: an empty dir the sweep must leave alone.
    const fresh = join(tmp, 'hatchery-0-fr3sh3');
    mkdirSync(fresh, { mode: 0o711 });
    try {
      const out = sweepChild(tmp, stale.parent);
      assert.ok(out.ok, `the child's run failed: ${JSON.stringify(out)}`);
      assert.equal(existsSync(stale.parent), false, `the stale private parent is left: ${existsSync(stale.parent) ? readdirSync(stale.parent).join(', ') : ''}`);
      assert.ok(existsSync(join(live.op, 'left.txt')), 'an op dir whose creator holds its lock was swept');
      assert.ok(existsSync(live.lock), 'a held lock file was removed');
      assert.ok(existsSync(fresh), 'a private parent made a moment ago was taken');
    } finally {
      loadBinding().close(heldLock);
    }
  });
});

/** A parent of the test's own for operation dirs (removed after the file), and this process's ids as their owner. */
function operationDirParent(prefix: string): { parent: string; owner: { uid: number; gid: number } } {
  const parent = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.push(parent);
  return { parent, owner: { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 } };
}

test('2b. an operation dir the program left empty goes with one rmdir; one that holds anything only through the sandboxed remover', async () => {
  const { parent, owner } = operationDirParent('hatchery-eh-rmdir-');
  const empty = join(parent, 'hatchery-op-1-aaaaaa');
  mkdirSync(empty, { mode: 0o700 });
  // No zygote: only the rmdir can remove it.
  assert.equal(await removeOperationDir(undefined, empty, owner), true);
  assert.equal(existsSync(empty), false);
  const full = join(parent, 'hatchery-op-1-bbbbbb');
  mkdirSync(full, { mode: 0o700 });
  writeFileSync(join(full, 'left.txt'), 'left by the program');
  symlinkSync(parent, join(full, 'link'));
  assert.equal(await removeOperationDir(undefined, full, owner), false, 'a dir with content was removed without the remover');
  assert.deepEqual(readdirSync(full).sort(), ['left.txt', 'link'], 'the rmdir attempt touched what the program left');
});

test('2b2. the remover empties nested and read-only dirs with every Landlock ABI, 1 (no REFER right) included', async (t) => {
  for (const abi of ['1', '2', String(detectFeatures().landlockAbi)]) {
    await withSimulated('HATCHERY_LANDLOCK_ABI_MAX', abi, async () => {
      const { parent, owner } = operationDirParent('hatchery-eh-abi-');
      const dir = join(parent, 'hatchery-op-1-dddddd');
      mkdirSync(join(dir, 'a', 'b', 'c'), { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'a', 'b', 'c', 'f'), 'x');
      writeFileSync(join(dir, 'a', 'g'), 'y');
      symlinkSync(parent, join(dir, 'a', 'b', 'up'));
      chmodSync(join(dir, 'a', 'b'), 0o555);
      chmodSync(join(dir, 'a'), 0o555);
      const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
      try {
        assert.equal(await removeOperationDir(z, dir, owner), true, `Landlock ABI ${abi}: the remover failed`);
        assert.equal(existsSync(dir), false, `Landlock ABI ${abi}: ${dir} is left`);
        assert.ok(existsSync(parent), 'the link out was followed');
      } finally {
        z.close();
      }
      t.diagnostic(`Landlock ABI ${abi}: removed`);
    });
  }
});

test('2c. a tree that is slow to empty (a directory chain 80,000 deep) holds the removal up to REMOVER_TIMEOUT_MS, then stays for the sweep', async () => {
  const { parent, owner } = operationDirParent('hatchery-eh-deep-');
  const dir = join(parent, 'hatchery-op-1-cccccc');
  mkdirSync(dir, { mode: 0o700 });
  // Built top-down as a program can: mkdir a fresh top, move the chain into it, give the top the chain's name.
  mkdirSync(join(dir, 'd'));
  for (let i = 0; i < 80_000; i++) {
    mkdirSync(join(dir, 'n'));
    renameSync(join(dir, 'd'), join(dir, 'n', 'd'));
    renameSync(join(dir, 'n'), join(dir, 'd'));
  }
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
  try {
    const started = Date.now();
    const removed = await removeOperationDir(z, dir, owner);
    const took = Date.now() - started;
    assert.ok(took < REMOVER_TIMEOUT_MS + 5000, `the removal took ${took} ms`);
    // On a fast disk the remover may finish in time; either way the caller waited at most the bound.
    assert.equal(existsSync(dir), !removed);
  } finally {
    z.close();
  }
  // What the remover left, removed the test's way (rm walks a deep tree without a path per level).
  spawnSync('rm', ['-rf', '--one-file-system', dir]);
});

// ================================================================= 3

describe('3. the temp dir cap', () => {
  async function needTmpfs(t: TestContext, sandbox: SandboxOption = {}): Promise<boolean> {
    const e = await enforcementFor(sandbox);
    if (e.tmpdir === '/tmp') return true;
    t.skip(`no private tmpfs in this row (namespaces: ${e.namespaces.join(',') || 'none'}; fallbacks: ${e.fallbacks.join('; ')})`);
    return false;
  }

  function freeBytes(): number {
    const st = statfsSync(tmpdir());
    return st.bavail * st.bsize;
  }

  test('default profile: writing 300 MiB to /tmp stops at 256 MiB with ENOSPC, limit tmpdir, the host disk untouched', async (t) => {
    if (!(await needTmpfs(t))) return;
    const before = freeBytes();
    const file = `/tmp/fill-${TAG}`;
    const r = await sh(`head -c 300M /dev/zero > ${file}; rc=$?; stat -c %s ${file}; exit $rc`, { sandbox: {} });
    const after = freeBytes();
    assert.equal(r.exitCode, 1, describeRun(r));
    assert.match(r.stderr, /No space left on device/, describeRun(r));
    assert.equal(r.limit, 'tmpdir', describeRun(r));
    assert.equal(r.tmpdirFull, true);
    const size = Number(r.stdout.trim());
    assert.ok(size <= 256 * 1024 * 1024 && size > 255 * 1024 * 1024, `file size ${size}`);
    assert.equal(existsSync(file), false, `${file} exists on the host`);
    assert.ok(before - after < 128 * 1024 * 1024, `host ${tmpdir()} lost ${((before - after) / 2 ** 20).toFixed(0)} MiB during the run`);
    assert.deepEqual(tagTraces(new Set(ownOperationDirs())), []);
  });

  test('tmpdir.sizeBytes 1 MiB: the write stops at 1 MiB', async (t) => {
    if (!(await needTmpfs(t))) return;
    const r = await sh('head -c 8M /dev/zero > /tmp/f; rc=$?; stat -c %s /tmp/f; exit $rc', { sandbox: { tmpdir: { sizeBytes: 1 << 20 } } });
    assert.deepEqual(r.enforcement.tmpdirLimit, { bytes: 1 << 20, inodes: 65536 });
    assert.equal(r.exitCode, 1, describeRun(r));
    assert.match(r.stderr, /No space left on device/);
    assert.equal(r.limit, 'tmpdir', describeRun(r));
    const size = Number(r.stdout.trim());
    assert.ok(size <= 1 << 20 && size >= (1 << 20) - 64 * 1024, `file size ${size}`);
  });

  test('the inode cap: 70,000 empty files stop with ENOSPC at 65,536 inodes', async (t) => {
    if (!(await needTmpfs(t))) return;
    const r = await sh(
      `${PERL} -e 'my $n = 0; for (1..70000) { open(my $f, ">", "/tmp/i$_") or do { print "stopped $n $!\\n"; exit 1 }; close $f; $n++ } print "all $n\\n"'`,
      { sandbox: {} },
    );
    const m = /^stopped (\d+) No space left on device$/m.exec(r.stdout);
    assert.ok(m, describeRun(r));
    const made = Number(m[1]);
    // The tmpfs root, /tmp/tmp and /tmp/shm take three of the 65,536.
    assert.ok(made <= 65536 && made >= 65536 - 8, `made ${made} files`);
    assert.equal(r.exitCode, 1);
    assert.equal(r.limit, 'tmpdir', describeRun(r));
  });

  test('/dev/shm shares the quota of /tmp: bytes and inodes', async (t) => {
    if (!(await needTmpfs(t))) return;
    const bytes = await sh(
      'head -c 700K /dev/zero > /dev/shm/a || exit 9; head -c 700K /dev/zero > /tmp/b; rc=$?; echo "$(stat -c %s /dev/shm/a) $(stat -c %s /tmp/b)"; exit $rc',
      { sandbox: { tmpdir: { sizeBytes: 1 << 20 } } },
    );
    assert.equal(bytes.exitCode, 1, describeRun(bytes));
    assert.match(bytes.stderr, /No space left on device/);
    const [a, b] = bytes.stdout.trim().split(' ').map(Number) as [number, number];
    assert.equal(a, 700 * 1024);
    assert.ok(a + b <= 1 << 20, `shm ${a} + tmp ${b} bytes exceed the 1 MiB cap`);
    assert.equal(bytes.limit, 'tmpdir', describeRun(bytes));

    const inodes = await sh(
      'i=0; while [ $i -lt 40 ]; do : > /dev/shm/s$i || exit 9; i=$((i+1)); done; j=0; while [ $j -lt 40 ]; do touch /tmp/t$j 2>/dev/null || { echo "stopped $j"; exit 1; }; j=$((j+1)); done; echo "all $j"',
      { sandbox: { tmpdir: { sizeBytes: 1 << 20, inodes: 64 } } },
    );
    const m = /^stopped (\d+)$/m.exec(inodes.stdout);
    assert.ok(m, describeRun(inodes));
    assert.ok(40 + Number(m[1]) <= 64, `${40 + Number(m[1])} files under a 64-inode cap`);
    assert.equal(inodes.limit, 'tmpdir', describeRun(inodes));
  });

  test('without a pid namespace (no init to report it) a full tmpfs is still reported as limit tmpdir', async (t) => {
    if (!(await needTmpfs(t, { namespaces: { pid: false } }))) return;
    const r = await sh('head -c 8M /dev/zero > /tmp/f', { sandbox: { namespaces: { pid: false }, tmpdir: { sizeBytes: 1 << 20 } } });
    assert.equal(r.exitCode, 1, describeRun(r));
    assert.match(r.stderr, /No space left on device/);
    assert.equal(r.limit, 'tmpdir', `a full private tmpfs without a pid namespace: ${describeRun(r)} tmpdirFull ${r.tmpdirFull}`);
  });

  test('a host temp dir cannot be capped: strict refuses an explicit cap by name; the default cap is a reported fallback', async () => {
    const dirsBefore = new Set(ownOperationDirs());
    await assert.rejects(
      run('/bin/true', [], { sandbox: { namespaces: { mount: false }, tmpdir: { sizeBytes: 1 << 20 } } }),
      (e: Error & { code?: string; missing?: string[] }) => {
        assert.equal(e.code, 'SANDBOX_UNAVAILABLE', String(e));
        assert.match(e.message, /a size cap on the temp dir/);
        assert.ok(e.missing?.some((m) => /^a size cap on the temp dir \(.*it is a host directory\)$/.test(m)), JSON.stringify(e.missing));
        return true;
      },
    );
    // The refused operation's host dir (made while compiling) does not stay.
    await waitFor(() => newOperationDirs(dirsBefore).length === 0, 5000, 'the refused operation\'s host temp dir to be removed');
    const r = await run('/bin/true', [], { sandbox: { namespaces: { mount: false } } });
    assert.equal(r.exitCode, 0);
    assert.equal(r.enforcement.tmpdirLimit, null);
    assert.ok(r.enforcement.fallbacks.some((f) => /^a size cap on the temp dir \(.*it is a host directory\)$/.test(f)), JSON.stringify(r.enforcement.fallbacks));
    assert.deepEqual(r.enforcement.missing, []);
  });
});

// ================================================================= 4

/** A host listener (python3, unsandboxed): stream and datagram pathname and abstract sockets; one line per event. */
const LISTENER = `
import array, json, os, selectors, socket, sys
specs = json.loads(sys.argv[1])
sel = selectors.DefaultSelector()
def fds_in(anc):
    n = 0
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            a = array.array('i')
            a.frombytes(data[:len(data) - len(data) % a.itemsize])
            for fd in a:
                os.close(fd)
                n += 1
    return n
KINDS = {'stream': socket.SOCK_STREAM, 'seqpacket': socket.SOCK_SEQPACKET, 'dgram': socket.SOCK_DGRAM}
for spec in specs:
    s = socket.socket(socket.AF_UNIX, KINDS[spec['kind']])
    s.bind(spec['addr'])
    if not spec['addr'].startswith('\\0'):
        os.chmod(spec['addr'], 0o777)
    if spec['kind'] != 'dgram':
        s.listen(16)
    sel.register(s, selectors.EVENT_READ, spec)
sel.register(sys.stdin, selectors.EVENT_READ, None)
print('ready', flush=True)
while True:
    for key, _ in sel.select():
        spec = key.data
        if spec is None:
            if not sys.stdin.readline():
                sys.exit(0)
            continue
        if spec['kind'] != 'dgram':
            conn, _ = key.fileobj.accept()
            conn.settimeout(2)
            n = 0
            try:
                _, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(16 * 4))
                n = fds_in(anc)
            except OSError:
                pass
            conn.close()
            print('accept %s fds=%d' % (spec['name'], n), flush=True)
        else:
            _, anc, _, _ = key.fileobj.recvmsg(64, socket.CMSG_SPACE(16 * 4))
            print('dgram %s fds=%d' % (spec['name'], fds_in(anc)), flush=True)
`;

/** In the sandbox: every way to a host unix socket that needs no socket(AF_UNIX) of its own, and the ones that do. */
const SOCKET_ATTEMPTS = `
import array, errno, json, socket, sys
targets = json.loads(sys.argv[1])
paths = json.loads(sys.argv[2])
KINDS = {'stream': socket.SOCK_STREAM, 'seqpacket': socket.SOCK_SEQPACKET, 'dgram': socket.SOCK_DGRAM}
def en(e):
    return errno.errorcode.get(e.errno, str(e.errno))
fd_msg = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [0]))]
out = {}
for t in targets:
    try:
        s = socket.socket(socket.AF_UNIX, KINDS[t['kind']])
    except OSError as e:
        out[t['name']] = 'socket ' + en(e)
        continue
    try:
        if t['kind'] != 'dgram':
            s.connect(t['addr'])
            s.sendmsg([b'x'], fd_msg)
        else:
            s.sendmsg([b'x'], fd_msg, 0, t['addr'])
        out[t['name']] = 'sent-fd'
    except OSError as e:
        out[t['name']] = 'connect ' + en(e)
    s.close()
# A socketpair needs no socket(AF_UNIX): try to point one at the host (sendmsg to the datagram socket's path, connect to a listener of its own type).
for name in ('stream', 'seqpacket', 'dgram'):
    kind = KINDS[name]
    key = 'socketpair-' + name
    try:
        a, b = socket.socketpair(socket.AF_UNIX, kind)
    except OSError as e:
        out[key] = 'socketpair ' + en(e)
        continue
    results = []
    try:
        a.sendmsg([b'x'], fd_msg, 0, paths['dgram'])
        b.settimeout(1)
        try:
            _, anc, _, _ = b.recvmsg(64, socket.CMSG_SPACE(16))
            results.append('sendto-host-path delivered-to-own-peer')
        except OSError:
            results.append('sendto-host-path sent')
    except OSError as e:
        results.append('sendto-host-path ' + en(e))
    try:
        a.connect(paths[name])
        results.append('connect connected')
    except OSError as e:
        results.append('connect ' + en(e))
    out[key] = ', '.join(results)
print(json.dumps(out))
`;

interface SocketTarget {
  name: string;
  kind: 'stream' | 'seqpacket' | 'dgram';
  addr: string;
}

describe('4. no host unix socket is reachable', () => {
  let listener: ChildProcess | undefined;
  const events: string[] = [];
  let grantedDir = '';
  let varLibDir = '';
  const targets: SocketTarget[] = [];

  before(async () => {
    grantedDir = mkdtempSync(join(tmpdir(), 'hatchery-eh-sockets-'));
    madeDirs.push(grantedDir);
    chmodSync(grantedDir, 0o755);
    targets.push(
      { name: 'granted-stream', kind: 'stream', addr: join(grantedDir, 'stream.sock') },
      { name: 'granted-seqpacket', kind: 'seqpacket', addr: join(grantedDir, 'seqpacket.sock') },
      { name: 'granted-dgram', kind: 'dgram', addr: join(grantedDir, 'dgram.sock') },
      { name: 'abstract-stream', kind: 'stream', addr: `\0hatchery-eh-${TAG}-stream` },
      { name: 'abstract-dgram', kind: 'dgram', addr: `\0hatchery-eh-${TAG}-dgram` },
    );
    if (isRoot) {
      // Outside every hidden dir: visible (read-only) in the sandbox's mount namespace.
      varLibDir = join('/var/lib', `hatchery-test-${randomBytes(6).toString('hex')}`);
      mkdirSync(varLibDir, { mode: 0o755 });
      madeDirs.push(varLibDir);
      targets.push(
        { name: 'varlib-stream', kind: 'stream', addr: join(varLibDir, 'stream.sock') },
        { name: 'varlib-dgram', kind: 'dgram', addr: join(varLibDir, 'dgram.sock') },
      );
    }
    listener = spawnHost(PYTHON, ['-I', '-S', '-c', LISTENER, JSON.stringify(targets)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buffered = '';
    listener.stdout!.setEncoding('utf8');
    listener.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        events.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
    await waitFor(() => events.includes('ready'), 10_000, 'the host unix listener');
    events.length = 0;
  });

  after(async () => {
    if (listener && listener.exitCode === null) {
      listener.stdin!.end();
      const exited = new Promise((resolve) => listener!.once('exit', resolve));
      const timer = setTimeout(() => listener!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  });

  function grants(): string[] {
    return isRoot ? [grantedDir, varLibDir] : [grantedDir];
  }

  function pairTargets(): string {
    return JSON.stringify({ stream: join(grantedDir, 'stream.sock'), seqpacket: join(grantedDir, 'seqpacket.sock'), dgram: join(grantedDir, 'dgram.sock') });
  }

  const profiles: [string, SandboxOption][] = [
    ['the default profile', {}],
    ['no mount namespace', { namespaces: { mount: false } }],
    ['net host', { net: 'host' }],
  ];

  for (const [label, base] of profiles) {
    test(`${label}: socket(AF_UNIX) is EAFNOSUPPORT, a datagram pair is refused, a stream pair cannot be pointed at the host; nothing arrives`, async () => {
      const devLog = existsSync('/dev/log') ? [{ name: 'dev-log', kind: 'dgram' as const, addr: '/dev/log' }] : [];
      const all = [...targets, ...devLog];
      const sandbox: SandboxOption = { ...base, fs: { read: grants() } };
      const { r, out } = await pythonJson<Record<string, string>>(SOCKET_ATTEMPTS, [JSON.stringify(all), pairTargets()], { sandbox });
      assert.equal(r.enforcement.guarantees.noHostUnixSockets, 'seccomp', JSON.stringify(r.enforcement.guarantees));
      const expected: Record<string, string> = {};
      for (const t of all) expected[t.name] = 'socket EAFNOSUPPORT';
      // A stream pair is connected already: no address can be given to it, and it cannot connect again.
      expected['socketpair-stream'] = 'sendto-host-path EISCONN, connect EISCONN';
      // seqpacket ignores the address: the message goes to its own peer.
      expected['socketpair-seqpacket'] = 'sendto-host-path delivered-to-own-peer, connect EISCONN';
      expected['socketpair-dgram'] = 'socketpair EACCES';
      assert.deepEqual(out, expected);
      await sleep(200);
      assert.deepEqual(events, [], 'the host listener saw traffic from the sandbox');
    });
  }

  test('control: with unixSockets true and the path granted, connect and SCM_RIGHTS reach the host listener', async () => {
    const sandbox: SandboxOption = { unixSockets: true, fs: { read: grants() } };
    const { r, out } = await pythonJson<Record<string, string>>(SOCKET_ATTEMPTS, [JSON.stringify(targets), pairTargets()], { sandbox });
    const e = r.enforcement;
    assert.equal(e.guarantees.noHostUnixSockets, 'granted');
    assert.equal(out['granted-stream'], 'sent-fd', JSON.stringify(out));
    assert.equal(out['granted-seqpacket'], 'sent-fd', JSON.stringify(out));
    assert.equal(out['granted-dgram'], 'sent-fd', JSON.stringify(out));
    // Granted, a datagram pair is allowed too, and reaches the host path it is pointed at.
    assert.equal(out['socketpair-dgram'], 'sendto-host-path sent, connect connected', JSON.stringify(out));
    if (isRoot) {
      assert.equal(out['varlib-stream'], 'sent-fd', JSON.stringify(out));
      assert.equal(out['varlib-dgram'], 'sent-fd', JSON.stringify(out));
    }
    // Abstract names stay out of reach: the Landlock scope (EPERM) or an empty network namespace (ECONNREFUSED).
    const abstractDenial = e.namespaces.includes('net') ? 'connect ECONNREFUSED' : 'connect EPERM';
    assert.equal(out['abstract-stream'], abstractDenial, JSON.stringify(out));
    assert.equal(out['abstract-dgram'], abstractDenial, JSON.stringify(out));
    const want = ['accept granted-stream fds=1', 'accept granted-seqpacket fds=1', 'dgram granted-dgram fds=1', 'dgram granted-dgram fds=1'];
    if (isRoot) want.push('accept varlib-stream fds=1', 'dgram varlib-dgram fds=1');
    await waitFor(() => events.length >= want.length, 5000, 'the host listener to see the control traffic');
    assert.deepEqual([...events].sort(), [...want].sort());
    events.length = 0;
  });
});

// ================================================================= 5

/** In the sandbox: one attempt per [op, arg]; each answers 'allowed' or the errno name. */
const ATTEMPTS = `
import ctypes, errno, json, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
PTRACE = 101 if os.uname().machine == 'x86_64' else 117
def ptrace(req, pid):
    return libc.syscall(ctypes.c_long(PTRACE), ctypes.c_long(req), ctypes.c_long(pid), ctypes.c_long(0), ctypes.c_long(0))
out = []
for op, arg in json.loads(sys.argv[1]):
    try:
        if op == 'read':
            with open(arg, 'rb') as f:
                f.read()
        elif op == 'append':
            with open(arg, 'ab') as f:
                f.write(b'written by the other operation\\n')
        elif op == 'create':
            os.close(os.open(arg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        elif op == 'chmod':
            os.chmod(arg, 0o666)
        elif op == 'rename':
            os.rename(arg, arg + '.moved')
        elif op == 'unlink':
            os.unlink(arg)
        elif op == 'list':
            os.listdir(arg)
        elif op == 'kill':
            os.kill(int(arg), signal.SIGKILL)
        elif op == 'ptrace':
            if ptrace(0x4206, int(arg)) != 0:
                raise OSError(ctypes.get_errno(), 'ptrace')
            ptrace(17, int(arg))
        else:
            raise SystemExit('unknown op ' + op)
        out.append('allowed')
    except OSError as e:
        out.append(errno.errorcode.get(e.errno, str(e.errno)))
print(json.dumps(out))
`;

type Attempt = [op: string, arg: string];

async function attempts(list: Attempt[], sandbox: SandboxOption): Promise<{ r: Result; results: Record<string, string> }> {
  const { r, out } = await pythonJson<string[]>(ATTEMPTS, [JSON.stringify(list)], { sandbox });
  const results: Record<string, string> = {};
  list.forEach(([op, arg], i) => (results[`${op} ${arg}`] = out[i] ?? 'missing'));
  return { r, results };
}

/** Collects a handle's stdout into lines. */
function lines(handle: ProcessHandle): string[] {
  const got: string[] = [];
  let buffered = '';
  handle.stdout?.setEncoding('utf8');
  handle.stdout?.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      got.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
  return got;
}

/** The handle's process and its live descendants, as host pids; transient `sleep`s of a polling loop left out. */
function hostPidsOf(handle: ProcessHandle, withSleeps = true): number[] {
  const tree = descendants(handle.pid).filter((p) => withSleeps || p.comm !== 'sleep');
  return [handle.pid, ...tree.map((p) => p.pid)].filter((pid) => isAlive(pid));
}

/** Exponential: every child forks too; a failed fork backs off 50 ms, so a bomb at its budget does not also eat the CPU. */
const FORK_BOMB = 'while (1) { my $p = fork; select(undef, undef, undef, 0.05) unless defined $p; }';

function startForkBomb(sandbox: SandboxOption, timeoutMs: number): Promise<ProcessHandle> {
  return spawn(PERL, ['-e', FORK_BOMB], { sandbox, stdio: ['ignore', 'ignore', 'ignore'], timeoutMs, killGraceMs: 200 });
}

/** An operation's live processes: by its uid where it has one of its own, else its tree. */
function operationProcesses(h: ProcessHandle): number[] {
  return h.enforcement.guarantees.operationsSeparated === 'operation-uid' ? processesOfUid(h.enforcement.uid) : hostPidsOf(h);
}

/** Wait until a fork bomb holds (nearly) its whole budget; polls every 500 ms, as /proc then lists a thousand more processes. */
async function waitForBudget(h: ProcessHandle, timeoutMs = 90_000): Promise<number> {
  const budget = h.enforcement.limits.processes;
  assert.ok(budget !== undefined, 'the operation has no process budget');
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  while (Date.now() < deadline) {
    n = operationProcesses(h).length;
    if (n >= budget - 8) return n;
    await sleep(500);
  }
  throw new Error(`the fork bomb reached only ${n} processes of its budget ${budget} in ${timeoutMs} ms`);
}

describe('5. concurrent operations cannot reach each other, even with a shared grant', () => {
  // Under /var/tmp (not /tmp): the sandbox keeps its private tmpfs. Under os.tmpdir(): a grant under /tmp gives host temp dirs.
  const placements: [string, () => string][] = [
    ['shared dir under /var/tmp (private tmpfs temp dirs)', () => '/var/tmp'],
    ['shared dir under the host temp dir (host temp dirs)', () => tmpdir()],
  ];

  for (const [label, base] of placements) {
    test(label, async (t) => {
      const dirsBefore = new Set(ownOperationDirs());
      const shared = mkdtempSync(join(base(), 'hatchery-eh-shared-'));
      madeDirs.push(shared);
      chmodSync(shared, 0o1777);
      const sandbox: SandboxOption = { fs: { write: [shared] } };
      const aFile = join(shared, 'a-file');
      const go = join(shared, 'go');
      const a = await spawn(
        '/bin/sh',
        [
          '-c',
          `echo a-secret > ${aFile} && echo a-tmp-secret > a-tmp && echo ready && while [ ! -e ${go} ]; do sleep 0.05; done; n=0; while [ $n -lt 20 ]; do /bin/true || { echo "fork failed at $n"; exit 3; }; n=$((n+1)); done; echo "forked $n"; exec sleep 60`,
        ],
        { sandbox, stdio: ['ignore', 'pipe', 'inherit'], timeoutMs: 300_000 },
      );
      let bomb: ProcessHandle | undefined;
      let unreported: string | null = null;
      try {
        const aOut = lines(a);
        await waitFor(() => aOut.includes('ready'), 10_000, 'op A to write its files');
        const ea = a.enforcement;
        const aTmp = ea.tmpdir!;
        t.diagnostic(`A: uid ${ea.uid}, namespaces ${ea.namespaces.join(',') || 'none'}, temp dir ${aTmp}, separated by ${ea.guarantees.operationsSeparated}`);
        const aPids = hostPidsOf(a, false);
        assert.ok(aPids.length >= 1);

        // --- B, the default profile and without a pid namespace: A's files, A's temp dir, A's processes.
        const fileAttempts: Attempt[] = [
          ['read', aFile],
          ['append', aFile],
          ['chmod', aFile],
          ['rename', aFile],
          ['unlink', aFile],
        ];
        // A private tmpfs (/tmp, or /var/tmp when /tmp is granted) is A's alone: B's own path of that name is B's
        // own tmpfs, so B reaches for A's through /proc instead.
        const tmpAttempts: Attempt[] =
          aTmp === '/tmp' || aTmp === '/var/tmp'
            ? aPids.flatMap((pid): Attempt[] => [
                ['read', `/proc/${pid}/root${aTmp}/a-tmp`],
                ['read', `/proc/${pid}/cwd/a-tmp`],
                ['list', `/proc/${pid}/root${aTmp}`],
              ])
            : [
                ['read', join(aTmp, 'a-tmp')],
                ['list', aTmp],
                ['create', join(aTmp, 'planted-by-b')],
                ['chmod', aTmp],
              ];
        for (const bNs of [undefined, { pid: false }] as (NamespaceChoice | undefined)[]) {
          const bSandbox = merge({ fs: { write: [shared] } }, bNs);
          const procAttempts: Attempt[] = aPids.flatMap((pid): Attempt[] => [
            ['kill', String(pid)],
            ['ptrace', String(pid)],
          ]);
          const { r, results } = await attempts([['create', join(shared, `b-file-${bNs ? 'nopid' : 'default'}`)], ...(bNs ? [] : fileAttempts), ...tmpAttempts, ['read', '/tmp/a-tmp'], ...procAttempts], bSandbox);
          const eb = r.enforcement;
          t.diagnostic(`B (${bNs ? 'pid false' : 'default'}): uid ${eb.uid}, namespaces ${eb.namespaces.join(',') || 'none'}, temp dir ${eb.tmpdir}: ${JSON.stringify(results)}`);
          const expected: Record<string, string> = {};
          // Control: B may write the shared dir.
          expected[`create ${join(shared, `b-file-${bNs ? 'nopid' : 'default'}`)}`] = 'allowed';
          if (!bNs) {
            if (ea.guarantees.operationsSeparated === 'operation-uid') {
              assert.notEqual(ea.uid, eb.uid, 'two concurrent operations got the same uid');
              // DAC: another uid, and A's umask 077 made its file 0600.
              Object.assign(expected, {
                [`read ${aFile}`]: 'EACCES',
                [`append ${aFile}`]: 'EACCES',
                [`chmod ${aFile}`]: 'EPERM',
                [`rename ${aFile}`]: 'EPERM',
                [`unlink ${aFile}`]: 'EPERM',
              });
            } else {
              // Same host uid: the shared grant is shared. That must be reported, not silently given.
              const reachable = fileAttempts.filter(([op, arg]) => results[`${op} ${arg}`] === 'allowed').map(([op]) => op);
              // Checked at the end, so the rest of the separation is still probed in this row.
              if (reachable.length > 0 && !eb.fallbacks.some((f) => /separation of operations that share a write grant/.test(f))) {
                unreported = `B could ${reachable.join(', ')} A's file in the shared dir (operationsSeparated: ${eb.guarantees.operationsSeparated}, host uids ${ea.uid}/${eb.uid}) but enforcement.fallbacks does not say so: ${JSON.stringify(eb.fallbacks)}`;
              }
              for (const [op, arg] of fileAttempts) expected[`${op} ${arg}`] = results[`${op} ${arg}`]!;
            }
          }
          // A's temp dir: hidden by B's mount namespace (or its pid namespace's /proc), else refused by Landlock.
          for (const [op, arg] of tmpAttempts) {
            const viaProc = arg.startsWith('/proc/');
            const hidden = viaProc ? eb.namespaces.includes('pid') && eb.namespaces.includes('mount') : eb.namespaces.includes('mount');
            expected[`${op} ${arg}`] = hidden ? 'ENOENT' : 'EACCES';
            if (op !== 'chmod' || hidden) continue;
            // Landlock has no right for chmod: another uid's dir is refused by DAC; the same uid's is reachable, and must be reported.
            if (ea.guarantees.operationsSeparated === 'operation-uid') {
              expected[`${op} ${arg}`] = 'EPERM';
            } else {
              expected[`${op} ${arg}`] = results[`${op} ${arg}`]!;
              if (results[`${op} ${arg}`] === 'allowed' && !eb.fallbacks.some((f) => /^chmod, utimes and xattrs of files uid \d+ owns, other operations' temp dirs included/.test(f))) {
                unreported = `B could chmod A's temp dir (operationsSeparated: ${eb.guarantees.operationsSeparated}, host uids ${ea.uid}/${eb.uid}) but enforcement.fallbacks does not say so: ${JSON.stringify(eb.fallbacks)}`;
              }
            }
          }
          // B's own /tmp (its tmpfs, or the host's, where A's file never was).
          expected['read /tmp/a-tmp'] = 'ENOENT';
          for (const pid of aPids) {
            expected[`kill ${pid}`] = eb.namespaces.includes('pid') ? 'ESRCH' : 'EPERM';
            // seccomp refuses ptrace before the kernel looks the pid up.
            expected[`ptrace ${pid}`] = 'EPERM';
          }
          assert.deepEqual(results, expected, `B (${bNs ? 'pid false' : 'default'}) reached op A`);
          for (const pid of aPids) assert.ok(isAlive(pid), `A's process ${pid} died`);
        }
        if (ea.guarantees.operationsSeparated === 'operation-uid') {
          assert.equal(readFileSync(aFile, 'utf8'), 'a-secret\n');
          assert.equal(lstatSync(aFile).mode & 0o777, 0o600);
        }
        if (aTmp !== '/tmp' && aTmp !== '/var/tmp') assert.equal(existsSync(join(aTmp, 'planted-by-b')), false);

        // --- B exhausts its process budget; A can still fork.
        if (ea.limits.processes === undefined) {
          t.diagnostic(`SKIPPED the process-budget part: no budget of its own here (operationsSeparated ${ea.guarantees.operationsSeparated}); an unbounded fork bomb would take the caller's whole uid`);
        } else {
          bomb = await startForkBomb({}, 180_000);
          const held = await waitForBudget(bomb);
          t.diagnostic(`B holds ${held} processes (budget ${bomb.enforcement.limits.processes}, uid ${bomb.enforcement.uid})`);
          writeFileSync(go, '');
          chmodSync(go, 0o644);
          await waitFor(() => aOut.some((l) => l.startsWith('forked') || l.startsWith('fork failed')), 30_000, 'A to fork while B holds its budget');
          assert.equal(bomb.pidfd >= 0, true, 'B ended before A forked: the budget was not held while A ran');
          assert.deepEqual(aOut.filter((l) => l.startsWith('fork')), ['forked 20'], 'A could not fork while B held its budget');
        }
      } finally {
        bomb?.killTree('SIGKILL');
        a.killTree('SIGKILL');
        await Promise.allSettled([a.exited, bomb?.exited]);
      }
      assert.deepEqual(newOperationDirs(dirsBefore), []);
      assert.equal(unreported, null, unreported ?? '');
    });
  }
});

// ================================================================= 6

describe('6. one sandbox\'s fork bomb does not stop another from starting', () => {
  async function forkBombScenario(t: TestContext): Promise<void> {
    const sandbox: SandboxOption = {};
    const e = await enforcementFor(sandbox);
    if (e.limits.processes === undefined) {
      t.skip(`no process budget of its own in this row (namespaces ${e.namespaces.join(',') || 'none'}, operationsSeparated ${e.guarantees.operationsSeparated}): an unbounded fork bomb would take the caller's whole uid`);
      return;
    }
    const a = await startForkBomb(sandbox, 180_000);
    let aDone = false;
    const aExit = a.exited.finally(() => (aDone = true));
    let aTree: number[] = [];
    try {
      const held = await waitForBudget(a);
      t.diagnostic(`A holds ${held} processes (budget ${a.enforcement.limits.processes}, uid ${a.enforcement.uid}, namespaces ${a.enforcement.namespaces.join(',') || 'none'})`);
      const { value: b, maxLagMs, rawLagMs } = await measureLag(() => run('/bin/echo', ['b-ok'], { sandbox, timeoutMs: 30_000 }));
      assert.equal(aDone, false, 'A ended before B was done: B did not run during the bomb');
      assert.equal(b.exitCode, 0, describeRun(b as Result));
      assert.equal(b.stdout, 'b-ok\n');
      t.diagnostic(`B finished in ${b.wallMs.toFixed(0)} ms, event-loop lag ${maxLagMs.toFixed(1)} ms (${rawLagMs.toFixed(1)} ms raw)`);
      aTree = hostPidsOf(a);
    } finally {
      a.killTree('SIGKILL');
      await aExit;
    }
    if (a.enforcement.guarantees.operationsSeparated === 'operation-uid') {
      await waitFor(() => processesOfUid(a.enforcement.uid).length === 0, 10_000, 'every process of A\'s uid to be gone');
    }
    await waitFor(() => aTree.every((pid) => !isAlive(pid)), 10_000, 'every process of A\'s tree to be gone');
  }

  test('op B starts and completes while op A fork-bombs', async (t) => {
    await forkBombScenario(t);
  });

  test('the same with HATCHERY_DISABLE_USERNS=1 as root (B used to fail at stage init with EWOULDBLOCK)', { skip: !isRoot && 'root only: as non-root without user namespaces there is no process budget per operation' }, async (t) => {
    await withSimulated('HATCHERY_DISABLE_USERNS', '1', async () => {
      const e = await enforcementFor({});
      assert.ok(!e.namespaces.includes('user'), `namespaces ${e.namespaces.join(',')}`);
      assert.ok(e.simulated.some((s) => /HATCHERY_DISABLE_USERNS/.test(s)));
      await forkBombScenario(t);
    });
  });
});

// ================================================================= 6b

describe('6b. the helper that ends an operation uid can be neither stopped nor killed by that uid', () => {
  // Without a pid namespace a root caller's operation ends by its uid: the zygote forks a helper that
  // kill(-1)s as that uid. The probe's grandchild (a session of its own) ends the operation at once and then
  // sends the signal to everything it may signal, to reach the helper before the helper reaches it. The
  // Landlock signal scope (ABI 6) alone refuses it too, so the race is also run without the scope.
  const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');
  const noPidNs: SandboxOption = { namespaces: { pid: false }, fs: { exec: [probe] } };
  const SIGKILL = 9;
  const SIGSTOP = 19;

  async function race(t: TestContext, signal: number, rounds: number): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      // A stalled zygote would make this reject (ZYGOTE_DIED) instead of resolving.
      const r = await run(probe, ['stop-killer', String(signal), '20'], { sandbox: noPidNs, timeoutMs: 5000, killGraceMs: 200 });
      if (round === 0) {
        if (r.enforcement.guarantees.treeEnds !== 'operation-uid') {
          t.skip(`the tree ends by ${r.enforcement.guarantees.treeEnds} in this row, not by a uid of its own`);
          return;
        }
        t.diagnostic(`uid ${r.enforcement.uid}, Landlock scopes ${r.enforcement.landlock?.scopes.join(',') || 'none'}`);
      }
      assert.equal(r.timedOut, false, describeRun(r));
      assert.equal(r.signal, 'SIGKILL', describeRun(r));
      // The grandchild would spin on for 20 s had it won: nothing of the uid may be left a moment later.
      await waitFor(() => processesOfUid(r.enforcement.uid).length === 0, 3000, `every process of uid ${r.enforcement.uid} to be gone (round ${round})`);
    }
  }

  const withoutSignalScope = (fn: () => Promise<void>): Promise<void> => withSimulated('HATCHERY_LANDLOCK_ABI_MAX', '5', fn);

  const skip = !isRoot && 'root only: only a root caller\'s operations have a uid of their own';

  // The helper makes two kill(-1) passes, not a loop until nothing is left: one pass reaches every process, as
  // the kernel signals them all under the lock a fork needs to complete. Here every process of the uid forks
  // without pause (no back-off at the budget), so forks are in flight at every moment the helper passes, and
  // every child starts a session of its own, so that nothing but the uid (not the process group) ends them.
  const SESSION_BOMB = 'use POSIX (); while (1) { my $p = fork; POSIX::setsid() if defined $p && $p == 0 }';
  test('a fork bomb of new sessions forking without pause is ended whole by its uid, round after round', { skip }, async (t) => {
    const sandbox: SandboxOption = { namespaces: { pid: false } };
    for (let round = 0; round < 4; round++) {
      const started = Date.now();
      const r = await run(PERL, ['-e', SESSION_BOMB], { sandbox, limits: { processes: 96 }, timeoutMs: 1200, killGraceMs: 0 });
      const took = Date.now() - started;
      if (round === 0) {
        if (r.enforcement.guarantees.treeEnds !== 'operation-uid') {
          t.skip(`the tree ends by ${r.enforcement.guarantees.treeEnds} in this row, not by a uid of its own`);
          return;
        }
        t.diagnostic(`uid ${r.enforcement.uid}, budget ${r.enforcement.limits.processes}`);
      }
      assert.equal(r.timedOut, true, describeRun(r));
      // Promptly: the zygote's subreaper would end the sessions too, but one orphaned generation at a time
      // (tens of seconds for this bomb), which is what a helper that missed them would leave.
      assert.ok(took < 1200 + 3500, `run() settled ${took} ms after it started (round ${round})`);
      // Killed processes finish dying on their own CPU time; none may still run user code or fork.
      await waitFor(() => processesOfUid(r.enforcement.uid).length === 0, 3000, `every process of uid ${r.enforcement.uid} to be gone (round ${round})`);
    }
  });

  for (const [name, signal] of [['SIGSTOP', SIGSTOP], ['SIGKILL', SIGKILL]] as const) {
    test(`${name} at every process it may signal: the operation still ends whole and the zygote goes on`, { skip }, async (t) => {
      await race(t, signal, 3);
    });
    test(`${name}, without the Landlock signal scope (HATCHERY_LANDLOCK_ABI_MAX=5)`, { skip }, async (t) => {
      await withoutSignalScope(async () => {
        const e = await enforcementFor(noPidNs);
        assert.ok(!(e.landlock?.scopes ?? []).includes('signal'), `scopes ${e.landlock?.scopes.join(',')}`);
        await race(t, signal, 8);
      });
    });
  }
});

// ================================================================= 6c

describe('6c. a zygote killed in the middle of an operation that ends by its uid', () => {
  test('the processes that left the group still die, before the uid is freed, and the next run works', { skip: !isRoot && 'root only: only a root caller\'s operations have a uid of their own' }, async (t) => {
    const marker = `hatchery-6c-${process.pid}-${Date.now()}`;
    const sandbox: SandboxOption = { namespaces: { pid: false } };
    // A session of its own, out of the process group the zygote's death takes with it.
    const h = await spawn('/bin/sh', ['-c', `(setsid sh -c 'sleep 300; :' ${marker} &) ; echo started; exec sleep 300`], { sandbox, stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = h.exited.then(() => null, (e: unknown) => e);
    if (h.enforcement.guarantees.treeEnds !== 'operation-uid') {
      h.killTree('SIGKILL');
      await exited;
      t.skip(`the tree ends by ${h.enforcement.guarantees.treeEnds} in this row`);
      return;
    }
    const uid = h.enforcement.uid;
    // processesWithMarker skips a process that exits while it looks (the subshell that starts the session does).
    await waitFor(() => processesWithMarker(marker).some((pid) => processesOfUid(uid).includes(pid)), 5000, 'the escaped session to start');
    const zygotePid = Number(readFileSync(`/proc/${h.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    assert.equal(readFileSync(`/proc/${zygotePid}/comm`, 'utf8').trim(), 'hatchery-zygote');
    process.kill(zygotePid, 'SIGKILL');
    const error = await exited;
    assert.ok(error instanceof Error && /zygote/i.test(error.message), `exited settled with ${String(error)}`);
    await waitFor(() => processesOfUid(uid).length === 0, 10_000, `every process of uid ${uid} (the escaped session included) to be gone`);
    const next = await run('/bin/echo', ['next'], { sandbox });
    assert.equal(next.stdout, 'next\n', describeRun(next));
  });
});

// ================================================================= 7

describe('7. the pid-namespace init is confined', () => {
  function field(status: string, name: string): string | undefined {
    return new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1];
  }

  test('its /proc/1/status, read from inside and from the host: no capabilities, no_new_privs, a seccomp filter', async (t) => {
    const e = await enforcementFor({});
    if (!e.namespaces.includes('pid')) {
      t.skip(`no pid namespace in this row (namespaces: ${e.namespaces.join(',') || 'none'}): there is no init`);
      return;
    }
    const inside = await sh('cat /proc/1/status', { sandbox: {} });
    assert.equal(inside.exitCode, 0, `/proc/1/status is unreadable in the sandbox: ${describeRun(inside)}`);
    const fromHost = await spawn('/bin/sleep', ['5'], { sandbox: {}, stdio: ['ignore', 'ignore', 'ignore'] });
    let hostStatus: string;
    try {
      hostStatus = readFileSync(`/proc/${fromHost.pid}/status`, 'utf8');
    } finally {
      fromHost.killTree('SIGKILL');
      await fromHost.exited;
    }
    for (const [where, status] of [
      ['inside', inside.stdout],
      ['host', hostStatus],
    ] as const) {
      assert.equal(field(status, 'Name'), 'hatchery-zygote', `${where}: /proc/1 is not the init`);
      for (const cap of ['CapInh', 'CapEff', 'CapAmb']) assert.equal(field(status, cap), '0000000000000000', `${where}: ${cap}\n${status}`);
      // An init in the zygote's memory keeps CAP_WAKE_ALARM permitted and never effective (its filter kills capset):
      // the kernel then refuses the program, which holds none, every ptrace-like access to it (native/child.c).
      assert.ok(['0000000000000000', '0000000800000000'].includes(field(status, 'CapPrm') ?? ''), `${where}: CapPrm\n${status}`);
      assert.equal(field(status, 'NoNewPrivs'), '1', `${where}: NoNewPrivs`);
      assert.equal(field(status, 'Seccomp'), '2', `${where}: Seccomp`);
      assert.ok(Number(field(status, 'Seccomp_filters')) >= 1, `${where}: Seccomp_filters`);
    }
    assert.ok(!initSeccompSyscalls().some(([name]) => name === 'capset'), 'the init may not raise its kept capability');
    // Not dumpable, or set apart by that capability: the program cannot read the init's environment or memory.
    const environ = await sh('cat /proc/1/environ >/dev/null 2>&1 && echo readable || echo unreadable', { sandbox: {} });
    assert.equal(environ.stdout, 'unreadable\n');
  });

  test('without a user namespace (root caller, HATCHERY_DISABLE_USERNS=1) the init is set apart by its ids: the program can neither reach its memory nor signal it', { skip: !isRoot && 'root only: a non-root caller without user namespaces has no pid namespace' }, async (t) => {
    await withSimulated('HATCHERY_DISABLE_USERNS', '1', async () => {
      const row = await enforcementFor({});
      if (!row.namespaces.includes('pid')) {
        t.skip(`no pid namespace in this row even for root (namespaces: ${row.namespaces.join(',') || 'none'}): there is no init`);
        return;
      }
      const status = await sh('grep -E "^(Uid|Gid|CapPrm|CapEff)" /proc/1/status; grep -E "^(Uid|Gid)" /proc/self/status', { sandbox: {} });
      assert.equal(status.exitCode, 0, describeRun(status));
      const e = status.enforcement;
      assert.ok(e.namespaces.includes('pid') && !e.namespaces.includes('user'), `namespaces ${e.namespaces.join(',')}`);
      const op = e.uid;
      const killer = op - OPERATION_UID_BASE + KILLER_UID_BASE;
      // Real, effective, saved, filesystem: the init keeps the killer ids but for the effective ones; the program has the operation's alone.
      assert.equal(status.stdout, [
        `Uid:\t${killer}\t${op}\t${killer}\t${op}`, `Gid:\t${killer}\t${op}\t${killer}\t${op}`,
        'CapPrm:\t0000000000000000', 'CapEff:\t0000000000000000',
        `Uid:\t${op}\t${op}\t${op}\t${op}`, `Gid:\t${op}\t${op}\t${op}\t${op}`, '',
      ].join('\n'));
      // The kernel's own checks, with the program's seccomp filter off (it refuses ptrace and process_vm_writev first).
      const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');
      const sandbox: SandboxOption = { seccomp: 'off', fs: { exec: [probe] } };
      const mem = await run(probe, ['write-memory', '1'], { sandbox });
      assert.equal(mem.stdout, 'mem:EACCES vm:EPERM ptrace:EPERM\n', describeRun(mem));
      const signal = await run(probe, ['kill-pid', '1'], { sandbox });
      assert.equal(signal.stdout, 'denied EPERM\n', describeRun(signal));
      const environ = await run(probe, ['proc-environ', '1'], { sandbox });
      assert.equal(environ.stdout, 'denied EACCES\n', describeRun(environ));
    });
  });
});

// ================================================================= 8

describe('8. the caller\'s own fds are the caller\'s', () => {
  // stdio 'inherit' hands the program this process's own fds. A root caller's pipes are root's, mode 0600: the
  // program's uid must not be able to reopen them through /proc/self/fd (a write end of the caller's stdin, a
  // read end of its stdout), and nothing may change their mode.
  test('stdio inherit: the caller\'s stdin and stdout pipes keep mode 0600 and cannot be reopened by the program', { skip: !isRoot && 'root only: a non-root caller\'s operation runs as the pipes\' owner' }, () => {
    const script = [
      `import { run, closeDefaultZygote } from ${JSON.stringify(indexJs)};`,
      "import { fstatSync } from 'node:fs';",
      'const mode = (fd) => (fstatSync(fd).mode & 0o777).toString(8);',
      'const before = [mode(0), mode(1)];',
      "const r = await run('/bin/sh', ['-c', 'echo INJECTED > /proc/self/fd/0 && echo reopened-stdin >&2; (exec 3</proc/self/fd/1) && echo reopened-stdout >&2; exit 0'], { stdio: 'inherit' });",
      'await closeDefaultZygote();',
      "process.stdout.write(JSON.stringify({ before, after: [mode(0), mode(1)], exitCode: r.exitCode }) + '\\n');",
    ].join('\n');
    // A shell's pipeline gives the caller real pipes (Node's own child stdio would be socketpairs).
    const r = spawnSync('/bin/sh', ['-c', '(sleep 1; echo caller-input) | "$NODE" --input-type=module -e "$SCRIPT" | cat'], {
      env: { ...process.env, NODE: process.execPath, SCRIPT: script },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: string[]; after: string[]; exitCode: number };
    assert.deepEqual(out.before, ['600', '600'], r.stdout);
    assert.deepEqual(out.after, ['600', '600'], 'the pipes\' modes changed');
    assert.equal(out.exitCode, 0);
    assert.doesNotMatch(r.stderr, /reopened/, r.stderr);
    assert.match(r.stderr, /Permission denied/, r.stderr);
    assert.doesNotMatch(r.stdout, /INJECTED/);
  });
});

// ================================================================= 9

describe('9. System V IPC and message queues are the operation\'s own, or refused', () => {
  // Without an IPC namespace these objects would be the host's: they outlive the operation (a shared memory
  // segment stays pinned, for good), and a later operation of the same uid could read them back.
  const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');
  const sandbox: SandboxOption = { fs: { exec: [probe] } };

  /** The keys of the host's System V objects of one kind, in hex as /proc/sysvipc lists them (decimal there). */
  function hostKeys(kind: 'shm' | 'sem' | 'msg'): number[] {
    const lines = readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n').slice(1);
    return lines.map((l) => Number(l.trim().split(/\s+/)[0]));
  }

  for (const kind of ['shm', 'sem', 'msg', 'mq'] as const) {
    test(`${kind}: made in the operation's own IPC namespace and gone with it, or refused (EPERM) without one`, async () => {
      const key = 0x4854_0000 + (randomBytes(2).readUInt16LE(0) | 1);
      const r = await run(probe, ['host-ipc', kind, String(key)], { sandbox, timeoutMs: 30_000 });
      assert.equal(r.exitCode, 0, describeRun(r));
      const e = r.enforcement;
      if (e.namespaces.includes('ipc')) {
        assert.equal(e.guarantees.noHostIpc, 'ipc-namespace');
        // A message queue is a file in the namespace's own mqueue root, which belongs to the namespace's owner:
        // the kernel may refuse the program's create itself (EACCES). Either way nothing is the host's.
        if (kind === 'mq') assert.match(r.stdout, /^(allowed|denied EACCES)\n$/, describeRun(r));
        else assert.equal(r.stdout, 'allowed\n', describeRun(r));
      } else {
        assert.equal(e.guarantees.noHostIpc, 'seccomp');
        assert.equal(r.stdout, 'denied EPERM\n', describeRun(r));
      }
      if (kind !== 'mq') assert.ok(!hostKeys(kind).includes(key), `a ${kind} object with key ${key} outlived the operation on the host`);
    });
  }
});

describe('10. the caller\'s own processes keep their limits and priority', () => {
  // The kernel lets a process change the rlimits, nice value, scheduling and I/O priority of any process of its
  // uid (prlimit64 RLIMIT_CPU=1 kills it), and Landlock's scopes do not cover these calls. Without a pid namespace
  // the program sees the caller's processes, and where it runs as the caller's uid (no user namespaces, a
  // container's non-root user) it could do all of it to the caller: seccomp keeps these calls on the program
  // itself. The probe sets each to the value it already has, so a success would harm nothing.
  const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');
  const WAYS = ['prlimit', 'nice', 'nice-user', 'sched', 'ioprio'];

  for (const pidNs of [true, false]) {
    test(`prlimit64, setpriority (the process and PRIO_USER), sched_setscheduler and ioprio_set on the caller are refused; the program's own still work (${pidNs ? 'default profile' : 'no pid namespace'})`, async () => {
      const sandbox: SandboxOption = pidNs ? { fs: { exec: [probe] } } : { fs: { exec: [probe] }, namespaces: { pid: false } };
      const r = await run(probe, ['reach-process', String(process.pid)], { sandbox, timeoutMs: 30_000 });
      assert.equal(r.exitCode, 0, describeRun(r));
      const answers = new Map(r.stdout.trim().split(' ').map((w) => w.split(':') as [string, string]));
      for (const way of WAYS) assert.match(answers.get(way) ?? '', /^E[A-Z]+$/, `${way}: ${r.stdout}`);
      assert.equal(answers.get('self'), 'ok', r.stdout);
      if (!r.enforcement.namespaces.includes('pid') && r.enforcement.seccomp) {
        // The host's processes are in sight here: what refuses is the filter, not a missing pid.
        for (const way of WAYS) assert.equal(answers.get(way), 'EPERM', `${way}: ${r.stdout}`);
      }
    });
  }
});

// ================================================================= 11

describe("11. a path a pool's call narrowed to is granted as it was judged, whatever it became since", () => {
  // A pool lets a call narrow its fs paths to ones beneath the pool's; a program of an earlier run, which may
  // write there, can swap such a path for a symlink out of them. The compile judges the path by its real path
  // and names that in the plan, and the child opens it with no symlink on it (hatch_open_exact): swapped after
  // the compile, the spawn fails with ELOOP at the stage that opens it (the mount ops, or Landlock), and the
  // next compile refuses the call, naming the option. test/pool.test.ts has the swap while the call is queued.

  /** Spawn a prepared plan on `z` and wait for its end: how it failed, or its exit. */
  function spawnPlan(z: Zygote, plan: Parameters<Zygote['spawn']>[0]): Promise<{ failed: { stage: string; errno: number } | null }> {
    const native = loadBinding();
    return new Promise((resolve, reject) => {
      const devNull = native.openDevNull();
      z.spawn(plan, [devNull, devNull, devNull], [devNull], {
        spawned: (_pid, pidfd) => native.close(pidfd),
        failed: (stage, errno) => resolve({ failed: { stage: stageName(stage), errno } }),
        exit: () => resolve({ failed: null }),
        died: reject,
      });
    });
  }

  for (const namespaces of [undefined, { mount: false }]) {
    test(`swapped after the compile, before the child opens it: ELOOP, nothing outside granted${namespaces ? ' (no mount namespace)' : ''}`, async (t) => {
      const base = mkdtempSync(join(tmpdir(), `${TAG}-ceiling-`));
      const uploads = join(base, 'uploads');
      const job = join(uploads, 'job');
      const outside = join(base, 'outside');
      mkdirSync(job, { recursive: true });
      mkdirSync(outside);
      writeFileSync(join(outside, 'secret'), 'outside-secret\n');
      for (const dir of [base, uploads, job, outside]) chmodSync(dir, 0o777);
      const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
      try {
        const pool = validateSandbox({ fs: { write: [uploads] }, ...(namespaces && { namespaces }) });
        const raw = { fs: { write: [job] } };
        const options = normalizeSpawnOptions({ timeoutMs: 30_000 }, [], ['ignore', 'ignore', 'ignore']);
        options.sandbox = narrowSandbox(pool, raw, validateSandbox(raw));
        const script = ['-c', 'echo in > "$1/probe"; cat "$1/secret" > "$1/copy"; true', 'sh', job];
        const prepare = (): PreparedOperation => prepareOperation('/bin/sh', script, options, z);
        const ok = prepare();
        const e = ok.enforcement;
        const opens = e.namespaces.includes('mount') ? 'mount' : e.landlock !== null ? 'landlock' : null;
        assert.deepEqual(await spawnPlan(z, ok.plan), { failed: null });
        await ok.release(z);
        assert.equal(readFileSync(join(job, 'probe'), 'utf8'), 'in\n', 'the path as judged is granted');
        if (opens === null) {
          t.skip('neither Landlock nor a mount namespace here: nothing confines the file system, nothing opens the path');
          return;
        }
        const late = prepare();
        rmSync(job, { recursive: true });
        symlinkSync(outside, job);
        const got = await spawnPlan(z, late.plan);
        await late.release(z);
        assert.deepEqual(got, { failed: { stage: opens, errno: osConstants.errno.ELOOP } });
        assert.deepEqual(readdirSync(outside), ['secret'], 'the program wrote outside the pool\'s paths');
        assert.throws(prepare, (err: unknown) => err instanceof InvalidOptionRangeError && err.option === 'sandbox.fs.write[0]');
        t.diagnostic(`refused at ${opens} (namespaces: ${e.namespaces.join(', ') || 'none'})`);
      } finally {
        z.close();
        rmSync(base, { recursive: true, force: true });
      }
    });
  }
});
