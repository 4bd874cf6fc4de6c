#!/usr/bin/env node
// Runs every test: the C golden-bytes test, then node:test over dist/test as
// this user, then (when root) the environment matrix of docs/kernel.md: the
// escape suites and the end-to-end run/spawn/pool/worker tests again in every
// row this machine can reproduce. A row that cannot be reproduced here is
// skipped with its reason printed; no test is weakened for a row.
//
//   node test/run.js [WORD...]     only dist/test files whose names contain a WORD (no matrix)
//   node test/run.js --matrix      only the matrix rows
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const distTest = join(root, 'dist', 'test');
const args = process.argv.slice(2);
const matrixOnly = args.includes('--matrix');
const only = args.filter((a) => a !== '--matrix');
const isRoot = process.getuid?.() === 0;
let failed = 0;
let passed = 0;
const skippedRows = [];

function step(name, cmd, cmdArgs, opts = {}) {
  process.stdout.write(`\n# ${name}\n`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status === 0) passed++;
  else {
    failed++;
    process.stdout.write(`# FAILED: ${name} (exit ${r.status}, signal ${r.signal})\n`);
  }
}

const testArgs = ['--test', '--test-concurrency=1', '--test-reporter=spec'];
const files = readdirSync(distTest)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

// ---- the environment matrix ------------------------------------------------

/** The escape suites, the end-to-end tests of run/spawn/pool/workers/args and the network namespace stock: what must hold in every row. */
const MATRIX_FILES = files.filter((f) => /escape|^run\.test|^spawn\.test|^pool\.test|^workers\.test|^args\.test|^netns-reuse/.test(f));
/**
 * Rows without namespaces run the row-agnostic suites: escape-environment (each guarantee, and run, spawn,
 * createPool and createWorkerPool with default options) and escape-host-boundary read `enforcement` to
 * know the row. sandbox-escape and the detailed run/spawn/pool/workers tests assert the namespaced
 * profile's own layers (hidden dirs, pid 2, a private /proc) and are not written per row yet.
 */
const ROW_AGNOSTIC = MATRIX_FILES.filter((f) => /^escape-environment|^escape-host-boundary|^args\.test/.test(f));
const NOT_PER_ROW = 'sandbox-escape and the run/spawn/pool/workers tests assert the namespaced profile (hidden dirs, pid 2, a private /proc); this row has no namespaces';
/** As uid 65534 only the sandbox probes ran before; the row list keeps that set for the unprivileged host row too. */
const containerSim = join(root, '..', 'shared', 'tools', 'container-sim');
const setpriv = '/usr/bin/setpriv';
const asUser = (uid) => [setpriv, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];

function hasPythonSeccomp() {
  return spawnSync('/usr/bin/python3', ['-c', 'import seccomp'], { stdio: 'ignore' }).status === 0;
}

/** A copy of what the tests need, owned by the row's uid: an unprivileged row may not reach this checkout, and tests write fixtures beside them. */
function copyFor(uid) {
  const copy = mkdtempSync(join(tmpdir(), 'hatchery-tests-'));
  chmodSync(copy, 0o755);
  for (const part of ['dist', 'build', 'bin', 'package.json', 'binding.gyp', 'test']) {
    if (existsSync(join(root, part))) cpSync(join(root, part), join(copy, part), { recursive: true });
  }
  spawnSync('chmod', ['-R', 'a+rX', copy]);
  spawnSync('chown', ['-R', `${uid}:${uid}`, copy]);
  return copy;
}

/** A copy under a directory no other uid may enter: the package installed where the sandbox's uid cannot read it. */
function unreadableInstall() {
  const outer = mkdtempSync(join(tmpdir(), 'hatchery-private-'));
  chmodSync(outer, 0o700);
  const copy = join(outer, 'hatchery');
  mkdirSync(copy);
  for (const part of ['dist', 'build', 'bin', 'package.json', 'binding.gyp', 'test']) {
    if (existsSync(join(root, part))) cpSync(join(root, part), join(copy, part), { recursive: true });
  }
  return { copy, cleanup: () => rmSync(outer, { recursive: true, force: true }) };
}

function rows() {
  const list = [];
  const unprivileged = existsSync(setpriv) ? null : 'setpriv (util-linux) is missing';
  const sim = !existsSync(containerSim) ? `${containerSim} is missing` : !hasPythonSeccomp() ? "Debian's python3-seccomp is not installed" : null;
  list.push({ name: 'host, unprivileged, user namespaces allowed (uid 65534)', wrap: asUser(65534), env: {}, uid: 65534, skip: unprivileged });
  list.push({ name: 'host, unprivileged, no user namespaces (uid 65534, HATCHERY_DISABLE_USERNS=1)', wrap: asUser(65534), env: { HATCHERY_DISABLE_USERNS: '1' }, uid: 65534, skip: unprivileged, files: ROW_AGNOSTIC, partly: NOT_PER_ROW });
  list.push({ name: 'container, root (Docker/Kubernetes default seccomp profile and capabilities)', wrap: [containerSim, '--'], env: {}, skip: sim, files: ROW_AGNOSTIC, partly: NOT_PER_ROW });
  list.push({ name: 'container, non-root (docker run --user 1000)', wrap: [containerSim, '--user', '1000', '--'], env: {}, uid: 1000, skip: sim, files: ROW_AGNOSTIC, partly: NOT_PER_ROW });
  // The probe binary cannot run from there either (that is the point): this row runs what a user of the package runs.
  list.push({ name: 'package installed where the sandbox uid cannot read it (a 0700 dir)', wrap: [], env: {}, unreadable: true, skip: null, files: MATRIX_FILES.filter((f) => !/sandbox-escape|escape-host-boundary|netns-reuse/.test(f)) });
  return list;
}

/** Probe tests exec a binary of this checkout as the sandbox's uid, which may not reach it (a 0700 home, say). */
const PROBE_FILES = /sandbox|escape|probe/;

/** Whether a uid other than root can reach this checkout's build. */
function checkoutReachable() {
  if (!isRoot || !existsSync(setpriv)) return true;
  const zygote = join(root, 'build', 'Release', 'hatchery-zygote');
  return spawnSync(setpriv, [...asUser(65534).slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(zygote)}, 1)`]).status === 0;
}

if (!matrixOnly) {
  const golden = join(root, 'build', 'Release', 'protocol-golden');
  if (only.length === 0) step('C protocol golden bytes', golden, []);
  // Unreachable checkout: the probe tests run from a world-readable copy; the rest from here.
  const copy = files.some((f) => PROBE_FILES.test(f)) && !checkoutReachable() ? copyFor(0) : null;
  const path = (f) => (copy && PROBE_FILES.test(f) ? join(copy, 'dist', 'test', f) : join(distTest, f));
  step(`node:test (as ${isRoot ? 'root' : `uid ${process.getuid?.()}`})`, process.execPath, [...testArgs, ...files.map(path)]);
  if (copy) rmSync(copy, { recursive: true, force: true });
}

if (isRoot && (matrixOnly || only.length === 0) && MATRIX_FILES.length > 0) {
  for (const row of rows()) {
    if (row.skip) {
      skippedRows.push(`${row.name}: ${row.skip}`);
      process.stdout.write(`\n# SKIPPED row: ${row.name} (${row.skip})\n`);
      continue;
    }
    let base = root;
    let cleanup = () => {};
    if (row.uid !== undefined) {
      const copy = copyFor(row.uid);
      base = copy;
      cleanup = () => rmSync(copy, { recursive: true, force: true });
    } else if (row.unreadable) {
      const install = unreadableInstall();
      base = install.copy;
      cleanup = install.cleanup;
    }
    if (row.partly) skippedRows.push(`${row.name}: runs ${(row.files ?? []).join(', ')} only (${row.partly})`);
    const [cmd, ...pre] = row.wrap.length > 0 ? row.wrap : [process.execPath];
    const nodeArgs = [...testArgs, ...(row.files ?? MATRIX_FILES).map((f) => join(base, 'dist', 'test', basename(f)))];
    step(
      `environment row: ${row.name}`,
      cmd,
      row.wrap.length > 0 ? [...pre, process.execPath, ...nodeArgs] : nodeArgs,
      // HATCHERY_TEST_ROW: long soaks run once, in the host row, not in every row.
      { env: { ...process.env, ...row.env, HOME: '/tmp', HATCHERY_TEST_ROW: row.name }, cwd: '/tmp' },
    );
    cleanup();
  }
} else if (!isRoot && (matrixOnly || only.length === 0)) {
  process.stdout.write('\n# environment matrix: needs root to reproduce the rows (setpriv, container-sim); this run is one row itself\n');
}

if (skippedRows.length > 0) process.stdout.write(`\n# rows skipped:\n${skippedRows.map((r) => `#   ${r}`).join('\n')}\n`);
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed === 0 ? 0 : 1;
