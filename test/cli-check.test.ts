// `hatchery check` and `hatchery policy --explain`: reports that follow the kernel (and its simulations).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'hatchery.js');

function cli(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const base = { ...process.env };
  delete base.HATCHERY_LANDLOCK_ABI_MAX;
  delete base.HATCHERY_DISABLE_USERNS;
  delete base.HATCHERY_DISABLE_SECCOMP;
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...base, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Report {
  kernel: { release: string };
  landlock: { abi: number; available: boolean; fsRights: string[]; netRights: string[]; scopes: string[] };
  seccomp: { available: boolean };
  userNamespaces: { available: boolean; reason: string | null };
  pidfd: { inferredFromKernelVersion: boolean; pidfdGetInfo: boolean; pidfdInfoExit: boolean };
  cgroup: { hierarchy: string; v2: boolean; canDelegate: boolean; note: string };
  simulated: string[];
  defaultProfile: { landlock: { abi: number; net: string[]; scopes: string[] } | null; namespaces: string[]; seccomp: unknown; missing: string[] } | null;
  strictRefuses: string[];
}

function check(env: Record<string, string> = {}): Report {
  const r = cli(['check', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

const real = check();

test('check --json reports the kernel, Landlock, seccomp, userns, pidfd and cgroups', () => {
  assert.match(real.kernel.release, /^\d+\.\d+/);
  assert.equal(typeof real.landlock.abi, 'number');
  assert.equal(typeof real.seccomp.available, 'boolean');
  assert.equal(typeof real.userNamespaces.available, 'boolean');
  assert.equal(real.pidfd.inferredFromKernelVersion, true);
  assert.ok(['unified', 'hybrid', 'v1'].includes(real.cgroup.hierarchy));
  assert.ok(real.cgroup.note.length > 0);
  assert.deepEqual(real.simulated, []);
  assert.ok(real.defaultProfile !== null);
  if (real.landlock.abi >= 6) assert.deepEqual(real.landlock.scopes, ['abstract_unix_socket', 'signal']);
  if (real.landlock.abi >= 5) assert.ok(real.landlock.fsRights.includes('ioctl_dev'));
});

test('check (text) names each section and what --strict would refuse', () => {
  const r = cli(['check']);
  assert.equal(r.code, 0);
  for (const label of ['kernel', 'landlock', 'seccomp', 'user namespaces', 'pidfd', 'cgroup v2', 'default profile on this machine', '--strict']) {
    assert.ok(r.stdout.includes(label), `mentions ${label}`);
  }
});

test('HATCHERY_LANDLOCK_ABI_MAX=3 drops net rights and scopes, and strict names what is missing', (t) => {
  if (real.landlock.abi < 4) return t.skip(`this kernel has Landlock ABI ${real.landlock.abi}`);
  const r = check({ HATCHERY_LANDLOCK_ABI_MAX: '3' });
  assert.equal(r.landlock.abi, 3);
  assert.deepEqual(r.landlock.netRights, []);
  assert.deepEqual(r.landlock.scopes, []);
  assert.ok(!r.landlock.fsRights.includes('ioctl_dev'));
  assert.ok(r.landlock.fsRights.includes('truncate'));
  assert.ok(r.simulated.some((s) => s.includes('Landlock ABI capped at 3')));
  assert.equal(r.defaultProfile?.landlock?.abi, 3);
  assert.deepEqual(r.defaultProfile?.landlock?.net, []);
  // Without scopes, the default profile adds a network namespace to keep abstract sockets out of reach.
  if (real.userNamespaces.available) assert.ok(r.defaultProfile?.namespaces.includes('net'));
  const text = cli(['check'], { HATCHERY_LANDLOCK_ABI_MAX: '3' }).stdout;
  assert.match(text, /landlock\s+ABI 3/);
});

test('HATCHERY_LANDLOCK_ABI_MAX=0 makes strict refuse Landlock', () => {
  const r = check({ HATCHERY_LANDLOCK_ABI_MAX: '0' });
  assert.equal(r.landlock.available, false);
  assert.equal(r.defaultProfile?.landlock, null);
  assert.ok(r.strictRefuses.some((m) => m.startsWith('landlock')), r.strictRefuses.join('; '));
});

test('Landlock refused with EPERM (a container profile older than Landlock): check names the seccomp profile, not the boot flags', (t) => {
  const python = '/usr/bin/python3';
  if (spawnSync(python, ['-c', 'import seccomp'], { stdio: 'ignore' }).status !== 0) {
    t.skip("Debian's python3-seccomp is needed to refuse landlock_create_ruleset");
    return;
  }
  // As Docker's default profile did before Landlock was added to it: the three calls answer EPERM.
  const filter = [
    'import errno, os, sys, seccomp',
    'f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)',
    'for n in ["landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"]: f.add_rule(seccomp.ERRNO(errno.EPERM), n)',
    'f.load()',
    'os.execv(sys.argv[1], sys.argv[1:])',
  ].join('\n');
  const r = spawnSync(python, ['-c', filter, process.execPath, bin, 'check', '--json'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report & { advice: string[] };
  assert.equal(report.landlock.available, false);
  assert.ok(report.strictRefuses.some((m) => /^landlock .*EPERM/.test(m)), report.strictRefuses.join('; '));
  const advice = report.advice.filter((a) => a.startsWith('Landlock'));
  assert.equal(advice.length, 1, report.advice.join('\n'));
  assert.match(advice[0]!, /seccomp profile/);
  assert.doesNotMatch(advice[0]!, /lsm=/);
});

test('HATCHERY_DISABLE_USERNS=1 reports why and drops the user namespace', () => {
  const r = check({ HATCHERY_DISABLE_USERNS: '1' });
  assert.equal(r.userNamespaces.available, false);
  assert.match(r.userNamespaces.reason ?? '', /HATCHERY_DISABLE_USERNS/);
  assert.ok(!r.defaultProfile?.namespaces.includes('user'));
  assert.ok(r.simulated.includes('user namespaces disabled (HATCHERY_DISABLE_USERNS=1)'), r.simulated.join('; '));
  const text = cli(['check'], { HATCHERY_DISABLE_USERNS: '1' }).stdout;
  assert.match(text, /user namespaces\s+no \(simulated: HATCHERY_DISABLE_USERNS=1\)/);
});

test('HATCHERY_DISABLE_SECCOMP=1: no seccomp, and strict refuses it', () => {
  const r = check({ HATCHERY_DISABLE_SECCOMP: '1' });
  assert.equal(r.seccomp.available, false);
  assert.equal(r.defaultProfile?.seccomp, null);
  assert.ok(r.strictRefuses.some((m) => m.startsWith('seccomp')));
});

test('policy --explain prints namespaces, Landlock rules and the seccomp filter', () => {
  const r = cli(['policy', '--explain']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^mode: strict$/m);
  assert.match(r.stdout, /^namespaces: .*pid/m);
  assert.match(r.stdout, /^ {4}\/usr +read\+exec/m);
  // The private temp dir: a capped tmpfs on /tmp and /dev/shm inside the sandbox; nothing is made on the host to explain it.
  assert.match(r.stdout, /^ {4}\/tmp +read\+exec\+write/m);
  assert.match(r.stdout, /^ {4}\/dev\/shm +read\+exec\+write/m);
  assert.match(r.stdout, /^temp dir: a private tmpfs on \/tmp and \/dev\/shm \(mounted last\), 268435456 bytes and 65536 inodes for both$/m);
  if (/^mounts \(/m.test(r.stdout)) assert.match(r.stdout, /^ {2}hide under an empty read-only tmpfs \/home$/m);
  assert.match(r.stdout, /^seccomp default profile for \w+, net none: \d+ rules/m);
  assert.match(r.stdout, /^deny ptrace -> EPERM$/m);
  assert.match(r.stdout, /^default: allow$/m);
});

test('policy --explain follows the run flags', () => {
  const r = cli(['policy', '--explain', '--rw', '/var/tmp', '--net', 'tcp-connect:443', '--seccomp', 'strict', '--no-pid-ns']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ {4}\/var\/tmp +read\+exec\+write|^ {4}\/var\/tmp +read\+write/m);
  if (real.landlock.abi >= 4) assert.match(r.stdout, /^ {4}tcp 443: connect_tcp$/m);
  assert.match(r.stdout, /^seccomp strict profile for \w+, net tcp/m);
  assert.match(r.stdout, /^default: (EPERM|ENOSYS|kill process)$/m);
  assert.doesNotMatch(r.stdout, /^namespaces: .*pid/m);
  const off = cli(['policy', '--explain', '--seccomp', 'off']);
  assert.match(off.stdout, /^seccomp: off$/m);
  const none = cli(['policy', '--explain', '--no-sandbox']);
  assert.match(none.stdout, /sandbox: off/);
  const json = JSON.parse(cli(['policy', '--explain', '--json', '--read', '/etc/hosts']).stdout) as {
    landlock: { paths: Array<{ path: string; rights: string[] }> };
  };
  assert.deepEqual(json.landlock.paths.find((p) => p.path === '/etc/hosts')?.rights, ['read_file', 'read_dir']);
});

test('policy --explain in strict mode on a kernel that cannot enforce: 125 and the missing list', () => {
  const r = cli(['policy', '--explain'], { HATCHERY_LANDLOCK_ABI_MAX: '0' });
  assert.equal(r.code, 125);
  assert.match(r.stdout, /strict mode refuses on this kernel: landlock/);
  assert.match(r.stdout, /^landlock: off$/m);
  const be = cli(['policy', '--explain', '--best-effort'], { HATCHERY_LANDLOCK_ABI_MAX: '0' });
  assert.equal(be.code, 0);
  assert.match(be.stdout, /not enforced on this kernel: landlock/);
});

test('policy without --explain, and bad flags, are usage errors (125)', () => {
  assert.equal(cli(['policy']).code, 125);
  const bad = cli(['policy', '--explain', '--net', 'bogus']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /^hatchery: USAGE: --net expects/);
  assert.equal(cli(['policy', '--help']).code, 0);
  assert.equal(cli(['check', '--help']).code, 0);
});

test('hatchery --help lists every command; bench --help reaches the benchmark', () => {
  const help = cli(['--help']);
  assert.equal(help.code, 0);
  for (const command of ['run', 'check', 'policy', 'bench']) assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'));
  const bench = cli(['bench', '--help']);
  assert.equal(bench.code, 0, bench.stderr);
  for (const flag of ['--quick', '--json', '--svg']) assert.ok(bench.stdout.includes(flag), flag);
  assert.equal(cli(['frobnicate']).code, 125, 'an unknown command is a usage error (docs/errors.md)');
});
