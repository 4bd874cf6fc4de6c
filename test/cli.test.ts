// The CLI: `hatchery run` streams, propagates exit codes, and maps each flag to one option.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseRunArgs, parseSize, UsageError } from '../src/cli/run-command.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'hatchery.js');

function cli(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', input, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('hatchery run -- echo hello prints hello', () => {
  const r = cli(['run', '--', 'echo', 'hello']);
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.code, 0);
});

test('exit code and 128+signal are propagated; stderr streams through', () => {
  assert.equal(cli(['run', '--', 'sh', '-c', 'exit 42']).code, 42);
  assert.equal(cli(['run', '--', 'sh', '-c', 'kill -TERM $$']).code, 128 + 15);
  const r = cli(['run', '--', 'sh', '-c', 'echo oops >&2']);
  assert.equal(r.stderr, 'oops\n');
});

// (A string too long for execve cannot reach the CLI either: the shell's own execve of hatchery refuses it.)
test("argv past one datagram: hatchery run -- sh -c 'echo $#' sh $(seq 10000)", () => {
  const r = spawnSync('sh', ['-c', `"$0" "$1" run -- sh -c 'echo $#' sh $(seq 10000)`, process.execPath, bin], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, '10000\n');
  assert.equal(r.status, 0);
});

test('stdin is passed through', () => {
  assert.equal(cli(['run', '--', 'cat'], 'fed').stdout, 'fed');
});

test('127 for a missing program, 126 for a non-executable one, 125 for bad flags', () => {
  const missing = cli(['run', '--', '/no/such/program']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /EXEC_FAILED.*ENOENT/);
  assert.equal(cli(['run', '--', '/etc/hostname']).code, 126);
  const bad = cli(['run', '--timeout', 'soon', '--', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /--timeout/);
  assert.equal(cli(['run', '--bogus', '--', 'true']).code, 125);
});

test('--json prints the Result', () => {
  const r = cli(['run', '--json', '--', 'sh', '-c', 'echo out; exit 3']);
  assert.equal(r.code, 3);
  const result = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(result.exitCode, 3);
  assert.equal(result.stdout, 'out\n');
  for (const key of ['signal', 'stderr', 'timedOut', 'aborted', 'truncated', 'wallMs', 'userCpuMs', 'sysCpuMs', 'maxRssBytes', 'limit']) {
    assert.ok(key in result, `Result has ${key}`);
  }
});

test('each flag maps to its option', () => {
  const json = (args: string[]): Record<string, unknown> => JSON.parse(cli(['run', '--json', ...args]).stdout) as Record<string, unknown>;
  const t = json(['--timeout', '0.2', '--', 'sleep', '5']);
  assert.equal(t.timedOut, true);
  const o = json(['--max-output', '10', '--', 'sh', '-c', 'yes']);
  assert.deepEqual(o.truncated, { stdout: true, stderr: false });
  assert.equal((o.stdout as string).length, 10);
  const m = json(['--memory', String(64 << 20), '--', 'sh', '-c', 'ulimit -v']);
  assert.equal(m.stdout, `${64 * 1024}\n`);
  const c = json(['--cpu', '7', '--', 'sh', '-c', 'ulimit -t']);
  assert.equal(c.stdout, '7\n');
  const d = json(['--cwd', '/usr/lib', '--', 'pwd']);
  assert.equal(d.stdout, '/usr/lib\n');
  const e = json(['--env', 'A=1', '--env', 'B=x=y', '--', 'env']);
  // HOME and TMPDIR point at the private temp dir of the default profile; nothing else is added.
  const vars = (e.stdout as string).trim().split('\n').sort();
  assert.deepEqual(vars.filter((v) => !/^(HOME|TMPDIR)=\/(var\/)?tmp$/.test(v)), ['A=1', 'B=x=y', 'PATH=/usr/local/bin:/usr/bin:/bin']);
});

test('--max-output in streaming mode cuts the stream and kills the child', () => {
  const r = cli(['run', '--max-output', '5', '--', 'sh', '-c', 'yes']);
  assert.equal(r.stdout.length, 5);
  assert.equal(r.code, 128 + 9);
});

const ALL_RUN_FLAGS = [
  '--ro', '--exec', '--read', '--rw', '--net', '--no-pid-ns', '--net-ns', '--seccomp', '--strict', '--best-effort',
  '--tmpdir', '--no-tmpdir', '--no-sandbox', '--timeout', '--memory', '--cpu', '--processes', '--open-files',
  '--file-size', '--max-output', '--cwd', '--env', '--pass-env', '--json',
];

test('--help documents every flag', () => {
  const r = cli(['run', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ALL_RUN_FLAGS) {
    assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  }
  assert.equal(cli(['--help']).code, 0);
});

// ---- flag -> option mapping: one assertion per flag, on the exact options object ----

function optionsOf(...flags: string[]): unknown {
  const parsed = parseRunArgs([...flags, '--', 'true'], { FROM_SHELL: 'shell value' });
  assert.notEqual(parsed, 'help');
  return (parsed as Exclude<typeof parsed, 'help'>).options;
}

test('no flags: no options (the default profile)', () => {
  assert.deepEqual(optionsOf(), {});
  const parsed = parseRunArgs(['--json', '--', 'ls', '-l', '/']);
  assert.deepEqual(parsed, { options: {}, json: true, file: 'ls', args: ['-l', '/'] });
});

const mapping: Array<[string[], unknown]> = [
  [['--ro', '/opt'], { sandbox: { fs: { read: ['/opt'] } } }],
  [['--ro', '/opt', '--read', '/etc/hosts'], { sandbox: { fs: { read: ['/opt', '/etc/hosts'] } } }],
  [['--exec', '/srv/bin'], { sandbox: { fs: { exec: ['/srv/bin'] } } }],
  [['--read', '/etc/hosts'], { sandbox: { fs: { read: ['/etc/hosts'] } } }],
  [['--rw', '/var/tmp', '--rw', '/srv'], { sandbox: { fs: { write: ['/var/tmp', '/srv'] } } }],
  [['--net', 'none'], { sandbox: { net: 'none' } }],
  [['--net', 'host'], { sandbox: { net: 'host' } }],
  [['--net', 'tcp-connect:443,80'], { sandbox: { net: { connectTcp: [443, 80] } } }],
  [['--net', 'tcp-bind:8080'], { sandbox: { net: { bindTcp: [8080] } } }],
  [['--net', 'tcp-connect:443', '--net', 'tcp-bind:8080', '--net', 'tcp-connect:5432'], { sandbox: { net: { connectTcp: [443, 5432], bindTcp: [8080] } } }],
  [['--no-pid-ns'], { sandbox: { namespaces: { pid: false } } }],
  [['--net-ns'], { sandbox: { namespaces: { net: true } } }],
  [['--no-pid-ns', '--net-ns'], { sandbox: { namespaces: { pid: false, net: true } } }],
  [['--seccomp', 'default'], { sandbox: { seccomp: 'default' } }],
  [['--seccomp', 'strict'], { sandbox: { seccomp: 'strict' } }],
  [['--seccomp', 'off'], { sandbox: { seccomp: 'off' } }],
  [['--strict'], { sandbox: { mode: 'strict' } }],
  [['--best-effort'], { sandbox: { mode: 'best-effort' } }],
  [['--tmpdir'], { sandbox: { tmpdir: true } }],
  [['--no-tmpdir'], { sandbox: { tmpdir: false } }],
  [['--no-sandbox'], { sandbox: false }],
  [['--timeout', '1.5'], { timeoutMs: 1500 }],
  [['--memory', '64M'], { limits: { memoryBytes: 64 * 1024 * 1024 } }],
  [['--memory', '1048576'], { limits: { memoryBytes: 1048576 } }],
  [['--cpu', '3'], { limits: { cpuSeconds: 3 } }],
  [['--processes', '32'], { limits: { processes: 32 } }],
  [['--open-files', '64'], { limits: { openFiles: 64 } }],
  [['--file-size', '1K'], { limits: { fileSizeBytes: 1024 } }],
  [['--max-output', '2M'], { maxOutputBytes: 2 * 1024 * 1024 }],
  [['--cwd', '/usr'], { cwd: '/usr' }],
  [['--env', 'A=1', '--env', 'B=x=y'], { env: { A: '1', B: 'x=y' } }],
  [['--pass-env', 'FROM_SHELL'], { env: { FROM_SHELL: 'shell value' } }],
  [['--pass-env', 'UNSET_HERE'], { env: {} }],
  [['--pass-env', 'FROM_SHELL', '--env', 'FROM_SHELL=override'], { env: { FROM_SHELL: 'override' } }],
];

for (const [flags, expected] of mapping) {
  test(`flag ${flags.join(' ')} -> ${JSON.stringify(expected)}`, () => {
    assert.deepEqual(optionsOf(...flags), expected);
  });
}

test('--json maps to JSON output, not to an option', () => {
  const parsed = parseRunArgs(['--json', '--', 'true']);
  assert.deepEqual(parsed, { options: {}, json: true, file: 'true', args: [] });
});

test('every documented flag has a mapping test', () => {
  const tested = new Set(mapping.flatMap(([flags]) => flags.filter((f) => f.startsWith('--'))));
  tested.add('--json');
  for (const flag of ALL_RUN_FLAGS) assert.ok(tested.has(flag), `${flag} is tested`);
});

test('conflicting or malformed flags are usage errors', () => {
  const bad: string[][] = [
    ['--net', 'none', '--net', 'host'],
    ['--net', 'none', '--net', 'tcp-connect:80'],
    ['--net', 'udp:53'],
    ['--net', 'tcp-connect:0'],
    ['--net', 'tcp-bind:70000'],
    ['--seccomp', 'lax'],
    ['--strict', '--best-effort'],
    ['--tmpdir', '--no-tmpdir'],
    ['--no-sandbox', '--ro', '/opt'],
    ['--memory', 'lots'],
    ['--cpu', '1.5'],
    ['--env', 'NOVALUE'],
    ['--timeout=-1'],
  ];
  for (const flags of bad) assert.throws(() => parseRunArgs([...flags, '--', 'true']), UsageError, flags.join(' '));
  assert.equal(parseSize('x', '2G'), 2 * 1024 ** 3);
  assert.equal(parseSize('x', '1.5K'), 1536);
});

// ---- end to end: the options reach the child ----

test('end to end: --no-pid-ns, --net-ns, --no-sandbox change what the child sees', () => {
  const json = (args: string[]): Record<string, unknown> => JSON.parse(cli(['run', '--json', ...args]).stdout) as Record<string, unknown>;
  const ns = (r: Record<string, unknown>): string[] => (r.enforcement as { namespaces: string[] }).namespaces;
  const base = json(['--', 'true']);
  assert.ok(ns(base).includes('pid'));
  assert.ok(!ns(json(['--no-pid-ns', '--', 'true'])).includes('pid'));
  assert.ok(ns(json(['--net-ns', '--', 'true'])).includes('net'));
  const off = json(['--no-sandbox', '--', 'true']);
  assert.equal((off.enforcement as { sandboxed: boolean }).sandboxed, false);
  const sec = json(['--seccomp', 'off', '--', 'true']);
  assert.equal((sec.enforcement as { seccomp: unknown }).seccomp, null);
  const strictSec = json(['--seccomp', 'strict', '--', 'true']);
  assert.equal((strictSec.enforcement as { seccomp: { mode: string } }).seccomp.mode, 'strict');
  const be = json(['--best-effort', '--', 'true']);
  assert.equal((be.enforcement as { mode: string }).mode, 'best-effort');
  const nt = json(['--no-tmpdir', '--', 'true']);
  assert.equal((nt.enforcement as { tmpdir: unknown }).tmpdir, null);
});

test('end to end: --rw grants a write the default profile denies; --read/--ro grant reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-cli-'));
  try {
    chmodSync(dir, 0o777);
    const target = join(dir, 'out.txt');
    const denied = cli(['run', '--', 'sh', '-c', `echo x > ${target}`]);
    assert.notEqual(denied.code, 0);
    assert.equal(existsSync(target), false);
    const allowed = cli(['run', '--rw', dir, '--', 'sh', '-c', `echo x > ${target}`]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(readFileSync(target, 'utf8'), 'x\n');
    chmodSync(target, 0o644);
    assert.notEqual(cli(['run', '--', 'cat', target]).code, 0);
    assert.equal(cli(['run', '--read', dir, '--', 'cat', target]).stdout, 'x\n');
    assert.equal(cli(['run', '--ro', dir, '--', 'cat', target]).stdout, 'x\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('end to end: --ro is read-only (no execute, no write); only --exec lets a program under it run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-cli-ro-'));
  try {
    chmodSync(dir, 0o755);
    const tool = join(dir, 'tool');
    copyFileSync('/bin/true', tool);
    chmodSync(tool, 0o755);
    // Through sh: the program hatchery is asked to run is always executable, so the grant is tested on what it starts.
    const script = `${tool}; echo "tool exit $?"; echo y > ${join(dir, 'new')}; echo "write exit $?"`;
    const ro = cli(['run', '--ro', dir, '--', 'sh', '-c', script]);
    assert.match(ro.stdout, /^tool exit 126$/m, ro.stdout + ro.stderr);
    assert.match(ro.stdout, /^write exit [1-9]\d*$/m, ro.stdout + ro.stderr);
    assert.equal(existsSync(join(dir, 'new')), false);
    const exec = cli(['run', '--exec', dir, '--', 'sh', '-c', script]);
    assert.match(exec.stdout, /^tool exit 0$/m, exec.stdout + exec.stderr);
    assert.match(exec.stdout, /^write exit [1-9]\d*$/m, 'exec does not grant writes');
    assert.equal(existsSync(join(dir, 'new')), false);
    const explained = cli(['policy', '--explain', '--ro', dir]).stdout;
    const rule = explained.split('\n').find((line) => line.includes(dir)) ?? '';
    assert.match(rule, /read/, explained);
    assert.doesNotMatch(rule, /exec/, rule);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('end to end: --pass-env copies one variable, --processes and --file-size set rlimits', () => {
  const r = spawnSync(process.execPath, [bin, 'run', '--pass-env', 'H10_VISIBLE', '--', 'sh', '-c', 'echo "$H10_VISIBLE:$H10_HIDDEN"'], {
    encoding: 'utf8',
    env: { ...process.env, H10_VISIBLE: 'seen', H10_HIDDEN: 'leak' },
  });
  assert.equal(r.stdout, 'seen:\n');
  const limits = JSON.parse(cli(['run', '--json', '--processes', '17', '--file-size', '2K', '--', 'sh', '-c', 'ulimit -p; ulimit -f']).stdout) as {
    stdout: string;
    enforcement: { limits: { processes: number } };
  };
  // 17 for the program plus the slot of the pid namespace's init; ulimit -f counts 512-byte blocks
  assert.equal(limits.stdout, '18\n4\n');
  assert.equal(limits.enforcement.limits.processes, 17);
});

test('end to end: --net tcp-connect is enforced by Landlock (other ports denied)', () => {
  const r = JSON.parse(cli(['run', '--json', '--net', 'tcp-connect:9', '--', 'true']).stdout) as { enforcement: { landlock: { net: string[] } } };
  assert.deepEqual(r.enforcement.landlock.net, ['bind_tcp', 'connect_tcp']);
});

test('hatchery errors exit 125 with the code and a one-line reason', () => {
  const r = cli(['run', '--ro', '/no/such/dir', '--', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^hatchery: INVALID_OPTION: options\.sandbox\.fs\.read\[0\] does not exist: \/no\/such\/dir\n$/);
  const relative = cli(['run', '--rw', 'relative/path', '--', 'true']);
  assert.equal(relative.code, 125);
  assert.match(relative.stderr, /INVALID_OPTION/);
  assert.equal(relative.stderr.trim().split('\n').length, 1);
});

test('every CLI exit code is one docs/errors.md lists: 125 for usage errors, with one line on stderr', () => {
  const usage = (args: string[], pattern: RegExp): void => {
    const r = cli(args);
    assert.equal(r.code, 125, `hatchery ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  };
  usage([], /^hatchery: USAGE: missing command: one of run, check, policy, worker, bench/);
  usage(['bogus'], /^hatchery: USAGE: unknown command 'bogus'/);
  usage(['help', 'bogus'], /^hatchery: USAGE: no help for unknown command 'bogus'/);
  usage(['run'], /^hatchery: USAGE: missing FILE/);
  usage(['check', '--bogus'], /^hatchery: USAGE: .*--bogus/);
  usage(['policy'], /^hatchery: USAGE: nothing to do/);
  for (const args of [['--help'], ['-h'], ['help'], ['help', 'run'], ['help', 'check'], ['help', 'policy'], ['--version'], ['check', '--help']]) {
    const r = cli(args);
    assert.equal(r.code, 0, `hatchery ${args.join(' ')}: ${r.stderr}`);
    assert.notEqual(r.stdout, '');
  }
  const docs = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  assert.match(docs, /\| 125 \| hatchery itself failed/);
});

test('a signal Node has no name for still exits 128 + N (SIG40 -> 168)', () => {
  assert.equal(cli(['run', '--', 'sh', '-c', 'kill -40 $$']).code, 128 + 40);
});

test('--timeout exits 124 even when the program ends itself with 0 on SIGTERM; --json too', () => {
  const prog = ['sh', '-c', 'trap "exit 0" TERM; sleep 5 & wait'];
  const r = cli(['run', '--timeout', '0.3', '--', ...prog]);
  assert.equal(r.code, 124, r.stderr);
  assert.match(r.stderr, /timed out after 300 ms/);
  const j = cli(['run', '--json', '--timeout', '0.3', '--', ...prog]);
  assert.equal(j.code, 124);
  assert.equal((JSON.parse(j.stdout) as { timedOut: boolean; exitCode: number }).timedOut, true);
});

test('a reader that goes away (EPIPE) ends the tree with SIGPIPE: exit 141, no crash', () => {
  const r = spawnSync('bash', ['-c', `"$0" "$1" run -- /usr/bin/yes | head -c 4; echo "rc=\${PIPESTATUS[0]}"`, process.execPath, bin], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.stdout, `y\ny\nrc=${128 + 13}\n`);
  assert.equal(r.stderr, '', 'the CLI wrote something of its own (a crash?)');
});

test('a reader slower than the program holds the program back, not this process (stdout backpressure)', () => {
  // `yes` writes as fast as it can into a reader that takes nothing for a second: the CLI must not buffer it all.
  const r = spawnSync(
    'bash',
    ['-c', `"$0" "$1" run --timeout 1.5 -- /usr/bin/yes | { sleep 1; ps -o rss= -p $(pgrep -n -f "hatchery.js run --timeout 1.5"); cat >/dev/null; }`, process.execPath, bin],
    { encoding: 'utf8', timeout: 30_000 },
  );
  const rssKb = Number(r.stdout.trim().split('\n')[0]);
  assert.ok(rssKb > 0 && rssKb < 120 * 1024, `the CLI's RSS after 1 s of an unread stream: ${rssKb} kB`);
});

test('SIGINT, SIGTERM and SIGHUP end the tree and exit 128+N', async () => {
  const { spawn: spawnChild } = await import('node:child_process');
  for (const [name, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    const child = spawnChild(process.execPath, [bin, 'run', '--', 'sh', '-c', 'echo up; exec sleep 30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const started = Date.now();
    child.kill(name);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 128 + n, name);
    assert.ok(Date.now() - started < 10_000, `${name}: the CLI took ${Date.now() - started} ms to end`);
  }
});
