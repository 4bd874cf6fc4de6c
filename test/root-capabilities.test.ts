/**
 * A root caller without the root path's capabilities (Kubernetes' `runAsUser: 0` with
 * `capabilities: drop: [ALL]`, or a bounding set missing one of them): src/policy/privilege.ts
 * plans it like any other caller. Its programs run as uid 0, so each must hold no capability
 * at all, and the other layers must keep it from root's files and processes. Each case runs
 * the library in a Node process started through setpriv with the capabilities taken away,
 * against probes (test/probes/probe.c) that try to use what uid 0 would otherwise have.
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

/** Runs each probe through run() in a Node process whose capabilities setpriv took away; the probes' first lines, by name. */
function probeAs(bounding: string, env: Record<string, string>, probes: Record<string, string[]>): Answers {
  const script = `
    import { run } from ${JSON.stringify(index)};
    const out = {};
    for (const [name, args] of Object.entries(${JSON.stringify(probes)})) {
      const r = await run(${JSON.stringify(probe)}, args, { timeoutMs: 10000 });
      out[name] = (r.stdout.split('\\n')[0] ?? '') + (r.exitCode === 0 ? '' : ' exit=' + r.exitCode + ' ' + r.stderr);
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const r = spawnSync(SETPRIV, [...withoutCapabilities(bounding), process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `the library's process failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Answers;
}

function field(line: string | undefined, name: string): string | undefined {
  return new RegExp(`(?:^| )${name}=(\\S+)`).exec(line ?? '')?.[1];
}

test('capabilities dropped (drop ALL): programs run as uid 0 with no capability, and reach none of root\'s files or processes', { skip }, () => {
  const pid = String(decoy!.pid);
  const a = probeAs('-all', {}, {
    whoami: ['whoami'],
    writeRootFile: ['write-file', rootFile],
    kill: ['kill-pid', pid],
    ptrace: ['ptrace-pid', pid],
    environ: ['proc-environ', pid],
  });
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

test('a root that kept some capabilities but not CAP_SETUID: its programs hold none of them, with or without a user namespace', { skip }, () => {
  // Without a user namespace the program stays uid 0 and would keep, over execve, every capability its zygote had (no_new_privs only stops gains).
  const flat = probeAs('-setuid', { HATCHERY_DISABLE_USERNS: '1' }, { whoami: ['whoami'], writeRootFile: ['write-file', rootFile] });
  assert.equal(field(flat.whoami, 'euid'), '0', flat.whoami);
  assert.equal(field(flat.whoami, 'capeff'), '0000000000000000', flat.whoami);
  assert.equal(field(flat.whoami, 'capprm'), '0000000000000000', flat.whoami);
  assert.match(flat.writeRootFile ?? '', /^denied E[A-Z]+/);
  // With CAP_SETFCAP it may map uid 0 into a user namespace: nobody inside, pid 2 of its own pid namespace.
  const nested = probeAs('-setuid', {}, { whoami: ['whoami'], writeRootFile: ['write-file', rootFile] });
  assert.equal(field(nested.whoami, 'euid'), '65534', nested.whoami);
  assert.equal(field(nested.whoami, 'pid'), '2', nested.whoami);
  assert.equal(field(nested.whoami, 'capeff'), '0000000000000000', nested.whoami);
  assert.match(nested.writeRootFile ?? '', /^denied E[A-Z]+/);
  assert.equal(readFileSync(rootFile, 'utf8'), 'root owns this\n');
});

test('`check --json` as root without its capabilities: says which it lacks and what runs instead; strict mode runs', { skip }, () => {
  const r = spawnSync(SETPRIV, [...withoutCapabilities('-all'), process.execPath, cli, 'check', '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    rootCapabilities: { complete: boolean; reason: string | null } | null;
    operationUids: boolean | null;
    defaultProfile: { uid: number; fallbacks: string[]; guarantees: { noPrivilegeGain: string } };
    strictRefuses: string[];
    advice: string[];
  };
  assert.deepEqual(report.rootCapabilities, { complete: false, reason: 'root without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, CAP_SETGID, CAP_SETUID' });
  assert.equal(report.operationUids, null);
  assert.equal(report.defaultProfile.uid, 0);
  assert.equal(report.defaultProfile.guarantees.noPrivilegeGain, 'no-new-privs');
  assert.ok(report.defaultProfile.fallbacks.some((f) => f.startsWith('an unprivileged uid (root without CAP_CHOWN')), report.defaultProfile.fallbacks.join('; '));
  assert.deepEqual(report.strictRefuses, []);
  assert.ok(report.advice.some((a) => a.startsWith('root capabilities: ')), report.advice.join('\n'));
});
