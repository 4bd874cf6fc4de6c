// The CLI: `hatchery run` streams, propagates exit codes, and maps each flag to one option.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

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
  assert.deepEqual((e.stdout as string).trim().split('\n').sort(), ['A=1', 'B=x=y', 'PATH=/usr/local/bin:/usr/bin:/bin']);
});

test('--max-output in streaming mode cuts the stream and kills the child', () => {
  const r = cli(['run', '--max-output', '5', '--', 'sh', '-c', 'yes']);
  assert.equal(r.stdout.length, 5);
  assert.equal(r.code, 128 + 9);
});

test('--help documents every flag', () => {
  const r = cli(['run', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--timeout', '--max-output', '--memory', '--cpu', '--cwd', '--env', '--json']) {
    assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  }
  assert.equal(cli(['--help']).code, 0);
});
