/**
 * A root caller without the root path's capabilities (Kubernetes' `runAsUser: 0` with
 * `capabilities: drop: [ALL]`, or a bounding set missing one of them): src/policy/privilege.ts
 * plans it like any other caller, so its programs could only run as uid 0. Without capabilities
 * uid 0 still owns the host (it may chmod root's files, setuid bits included, read root-only
 * files, prlimit root's processes, and RLIMIT_NPROC does not apply to it): strict mode, the
 * default, refuses with SANDBOX_UNAVAILABLE naming what to give it. Best-effort runs it, and
 * then each program must hold no capability at all and the other layers must still hold.
 * Each case runs the library in a Node process started through setpriv with the capabilities
 * taken away, against probes (test/probes/probe.c).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/native/binding.js';
import { detectFeatures } from '../src/policy/features.js';

const SETPRIV = '/usr/bin/setpriv';
const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');
const index = join(packageRoot, 'dist', 'src', 'index.js');
const cli = join(packageRoot, 'bin', 'hatchery.js');
const skip = !detectFeatures().privileged ? 'needs root with its capabilities, to take them away' : !existsSync(SETPRIV) ? 'setpriv (util-linux) is missing' : false;

/** setpriv's arguments for a root with these bounding-set changes and nothing inheritable or ambient. */
function withoutCapabilities(bounding: string): string[] {
  return [`--inh-caps=-all`, `--ambient-caps=-all`, `--bounding-set=${bounding}`, '--'];
}

const fixture = skip ? '' : mkdtempSync(join(tmpdir(), 'hatchery-rootcaps-'));
const rootFile = join(fixture, 'root-owned');
const decoy = skip ? null : spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
if (!skip) {
  writeFileSync(rootFile, 'root owns this\n');
  chmodSync(rootFile, 0o644);
  chmodSync(fixture, 0o755);
}

after(() => {
  decoy?.kill('SIGKILL');
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

type Answers = Record<string, string>;

/**
 * Runs each probe through run() (best-effort: strict mode refuses this caller) in a Node process whose
 * capabilities setpriv took away; the probes' first lines by name, and what strict mode said.
 */
function probeAs(bounding: string, env: Record<string, string>, probes: Record<string, string[]>): { answers: Answers; strict: string; missing: string[] } {
  const script = `
    import { run } from ${JSON.stringify(index)};
    const answers = {};
    let missing = [];
    for (const [name, args] of Object.entries(${JSON.stringify(probes)})) {
      const r = await run(${JSON.stringify(probe)}, args, { timeoutMs: 10000, sandbox: { mode: 'best-effort' } });
      answers[name] = (r.stdout.split('\\n')[0] ?? '') + (r.exitCode === 0 ? '' : ' exit=' + r.exitCode + ' ' + r.stderr);
      missing = r.enforcement.missing;
    }
    const strict = await run('true', []).then(() => 'ran', (e) => e.code + ': ' + e.message);
    process.stdout.write(JSON.stringify({ answers, strict, missing }));
  `;
  const r = spawnSync(SETPRIV, [...withoutCapabilities(bounding), process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `the library's process failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { answers: Answers; strict: string; missing: string[] };
}

const REFUSAL = /^SANDBOX_UNAVAILABLE: .*a uid other than 0 for the program \(root without (?:CAP_[A-Z_]+, )*CAP_SETUID: no other uid can be taken; as uid 0 it could chmod root's files, setuid bits included/;
const MISSING_UID = (missing: string[]): boolean => missing.some((m) => m.startsWith('a uid other than 0 for the program (root without '));

function field(line: string | undefined, name: string): string | undefined {
  return new RegExp(`(?:^| )${name}=(\\S+)`).exec(line ?? '')?.[1];
}

test('capabilities dropped (drop ALL): strict mode refuses, naming what to give; best-effort programs are uid 0 with no capability and reach none of root\'s files or processes', { skip }, () => {
  const pid = String(decoy!.pid);
  const { answers: a, strict, missing } = probeAs('-all', {}, {
    whoami: ['whoami'],
    writeRootFile: ['write-file', rootFile],
    kill: ['kill-pid', pid],
    ptrace: ['ptrace-pid', pid],
    environ: ['proc-environ', pid],
  });
  assert.match(strict, REFUSAL);
  assert.ok(MISSING_UID(missing), missing.join('; '));
  assert.equal(field(a.whoami, 'euid'), '0', a.whoami);
  assert.equal(field(a.whoami, 'capeff'), '0000000000000000', a.whoami);
  assert.equal(field(a.whoami, 'capprm'), '0000000000000000', a.whoami);
  assert.equal(field(a.whoami, 'nnp'), '1', a.whoami);
  assert.equal(field(a.whoami, 'seccomp'), '2', a.whoami);
  for (const name of ['writeRootFile', 'kill', 'ptrace', 'environ']) assert.match(a[name] ?? '', /^denied E[A-Z]+/, `${name}: ${a[name]}`);
  assert.equal(readFileSync(rootFile, 'utf8'), 'root owns this\n');
  assert.equal(decoy!.exitCode, null, 'the decoy lives');
  assert.equal(decoy!.signalCode, null);
});

test('a root that kept some capabilities but not CAP_SETUID: refused too; best-effort programs hold none of them, with or without a user namespace', { skip }, () => {
  // Without a user namespace the program stays uid 0 and would keep, over execve, every capability its zygote had (no_new_privs only stops gains).
  const flat = probeAs('-setuid', { HATCHERY_DISABLE_USERNS: '1' }, { whoami: ['whoami'], writeRootFile: ['write-file', rootFile] });
  assert.match(flat.strict, REFUSAL);
  assert.equal(field(flat.answers.whoami, 'euid'), '0', flat.answers.whoami);
  assert.equal(field(flat.answers.whoami, 'capeff'), '0000000000000000', flat.answers.whoami);
  assert.equal(field(flat.answers.whoami, 'capprm'), '0000000000000000', flat.answers.whoami);
  assert.match(flat.answers.writeRootFile ?? '', /^denied E[A-Z]+/);
  // With CAP_SETFCAP it may map uid 0 into a user namespace: nobody inside, but still uid 0 to the host, so refused as well.
  const nested = probeAs('-setuid', {}, { whoami: ['whoami'], writeRootFile: ['write-file', rootFile] });
  assert.match(nested.strict, REFUSAL);
  assert.equal(field(nested.answers.whoami, 'euid'), '65534', nested.answers.whoami);
  assert.equal(field(nested.answers.whoami, 'pid'), '2', nested.answers.whoami);
  assert.equal(field(nested.answers.whoami, 'capeff'), '0000000000000000', nested.answers.whoami);
  assert.match(nested.answers.writeRootFile ?? '', /^denied E[A-Z]+/);
  assert.equal(readFileSync(rootFile, 'utf8'), 'root owns this\n');
});

test('`check --json` and `hatchery run` as root without its capabilities: which it lacks, that strict refuses, and the advice', { skip }, () => {
  const r = spawnSync(SETPRIV, [...withoutCapabilities('-all'), process.execPath, cli, 'check', '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    rootCapabilities: { complete: boolean; reason: string | null } | null;
    operationUids: boolean | null;
    defaultProfile: { uid: number; missing: string[]; guarantees: { noPrivilegeGain: string } };
    strictRefuses: string[];
    advice: string[];
  };
  assert.deepEqual(report.rootCapabilities, { complete: false, reason: 'root without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, CAP_SETGID, CAP_SETUID' });
  assert.equal(report.operationUids, null);
  assert.equal(report.defaultProfile.uid, 0);
  assert.equal(report.defaultProfile.guarantees.noPrivilegeGain, 'no-new-privs');
  assert.ok(MISSING_UID(report.defaultProfile.missing), report.defaultProfile.missing.join('; '));
  assert.ok(MISSING_UID(report.strictRefuses), report.strictRefuses.join('; '));
  assert.ok(report.advice.some((a) => a.startsWith('root capabilities: ')), report.advice.join('\n'));
  // The CLI: one line, exit 125, before anything runs.
  const run = spawnSync(SETPRIV, [...withoutCapabilities('-all'), process.execPath, cli, 'run', '--', 'true'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 125, run.stderr);
  assert.match(run.stderr, /^hatchery: SANDBOX_UNAVAILABLE: .*a uid other than 0 for the program \(root without CAP_CHOWN/);
});
