#!/usr/bin/env node
// Runs every test: the C golden-bytes test, then node:test over dist/test,
// then (when root) the sandbox probes again as an unprivileged user.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const distTest = join(root, 'dist', 'test');
const only = process.argv.slice(2);
let failed = 0;
let passed = 0;

function step(name, cmd, args, opts = {}) {
  process.stdout.write(`\n# ${name}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status === 0) passed++;
  else {
    failed++;
    process.stdout.write(`# FAILED: ${name} (exit ${r.status}, signal ${r.signal})\n`);
  }
}

const golden = join(root, 'build', 'Release', 'protocol-golden');
if (only.length === 0) step('C protocol golden bytes', golden, []);

const files = readdirSync(distTest)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => join(distTest, f));
// The probes run a binary of this checkout as the sandbox's uid (65534 for a root caller).
// If that uid cannot reach the checkout (a 0700 home, say), they run from a world-readable copy.
const unprivileged = files.filter((f) => /sandbox|escape|probe/.test(f));
const asNobody = ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
const nobodyPass = process.getuid?.() === 0 && unprivileged.length > 0 && existsSync(asNobody[0]);
let base = root;
let copy = null;
if (nobodyPass) {
  const reachable = spawnSync(asNobody[0], [...asNobody.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(join(root, 'build', 'Release', 'hatchery-zygote'))}, 1)`]).status === 0;
  if (!reachable) {
    copy = mkdtempSync(join(tmpdir(), 'hatchery-tests-'));
    chmodSync(copy, 0o755);
    for (const part of ['dist', 'build', 'bin', 'package.json', 'binding.gyp', 'test']) {
      cpSync(join(root, part), join(copy, part), { recursive: true });
    }
    spawnSync('chmod', ['-R', 'a+rX', copy]);
    base = copy;
  }
}
const probeFiles = unprivileged.map((f) => join(base, 'dist', 'test', basename(f)));

step('node:test (as ' + (process.getuid?.() === 0 ? 'root' : `uid ${process.getuid?.()}`) + ')', process.execPath, [
  '--test',
  '--test-concurrency=1',
  '--test-reporter=spec',
  ...files.map((f) => (unprivileged.includes(f) ? join(base, 'dist', 'test', basename(f)) : f)),
]);

// The sandbox must hold for unprivileged callers too: rerun the probes as nobody.
if (nobodyPass) {
  step('sandbox probes as uid 65534', asNobody[0], [
    ...asNobody.slice(1),
    process.execPath,
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    ...probeFiles,
  ], { env: { ...process.env, HOME: '/tmp' }, cwd: '/' });
}
if (copy) rmSync(copy, { recursive: true, force: true });

process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed === 0 ? 0 : 1;
