// run(): results, output, limits, timeouts, errors - end to end against the real kernel.
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { HatcheryError, InvalidOptionRangeError, closeDefaultZygote, run, spawn, type ExitStatus } from '../src/index.js';
import { descendants, isAlive, waitFor } from './helpers.js';

after(() => closeDefaultZygote());

const { MAX_LENGTH, MAX_STRING_LENGTH } = bufferConstants;

describe('run', () => {
  test('echo: exit code, stdout, timings and rusage', async () => {
    const r = await run('/bin/echo', ['hello']);
    assert.equal(r.exitCode, 0);
    assert.equal(r.signal, null);
    assert.equal(r.stdout, 'hello\n');
    assert.equal(r.stderr, '');
    assert.equal(r.timedOut, false);
    assert.equal(r.aborted, false);
    assert.deepEqual(r.truncated, { stdout: false, stderr: false });
    assert.equal(r.limit, null);
    assert.ok(r.wallMs > 0 && r.wallMs < 5000, `wallMs ${r.wallMs}`);
    assert.ok(r.maxRssBytes > 0, 'maxRssBytes from rusage');
    assert.ok(r.userCpuMs >= 0 && r.sysCpuMs >= 0);
    assert.ok(r.pid > 0);
  });

  test('a bare program name is looked up on PATH', async () => {
    const r = await run('echo', ['via', 'path']);
    assert.equal(r.stdout, 'via path\n');
  });

  test('non-zero exit resolves, and stderr is collected separately', async () => {
    const r = await run('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('death by signal is reported by name', async () => {
    const r = await run('/bin/sh', ['-c', 'kill -SEGV $$']);
    assert.equal(r.exitCode, null);
    assert.equal(r.signal, 'SIGSEGV');
  });

  test('input goes to stdin; encoding buffer returns Buffers', async () => {
    const r = await run('/bin/cat', [], { input: 'piped in' });
    assert.equal(r.stdout, 'piped in');
    const b = await run('/bin/cat', [], { input: Buffer.from([0, 1, 2, 255]), encoding: 'buffer' });
    assert.ok(Buffer.isBuffer(b.stdout));
    assert.deepEqual([...b.stdout], [0, 1, 2, 255]);
  });

  test('large input to a program that does not read it does not hang', async () => {
    const r = await run('/bin/true', [], { input: 'x'.repeat(4 << 20) });
    assert.equal(r.exitCode, 0);
  });

  test('the environment is only what the caller passed, plus PATH (and the sandbox temp dir)', async () => {
    process.env.HATCHERY_SECRET_TEST = 'leak';
    try {
      const bare = await run('/usr/bin/env', [], { env: { ONLY: 'this' }, sandbox: false });
      assert.deepEqual(bare.stdout.trim().split('\n').sort(), ['ONLY=this', 'PATH=/usr/local/bin:/usr/bin:/bin']);
      const custom = await run('/usr/bin/env', [], { env: { PATH: '/bin' }, sandbox: false });
      assert.equal(custom.stdout, 'PATH=/bin\n');
      const boxed = await run('/usr/bin/env', [], { env: { ONLY: 'this' } });
      const dir = boxed.enforcement.tmpdir;
      assert.ok(dir, 'the default profile has a private temp dir');
      assert.deepEqual(boxed.stdout.trim().split('\n').sort(), [`HOME=${dir}`, 'ONLY=this', 'PATH=/usr/local/bin:/usr/bin:/bin', `TMPDIR=${dir}`]);
    } finally {
      delete process.env.HATCHERY_SECRET_TEST;
    }
  });

  test('the parent\'s fds are not visible in the child', async () => {
    // fstat of every fd number: needs no /proc, which a sandbox without its own pid namespace is not granted.
    const probe = 'import os\nfor fd in range(4096):\n  try:\n    os.fstat(fd); print(fd)\n  except OSError: pass';
    const r = existsSync('/usr/bin/python3') ? await run('/usr/bin/python3', ['-c', probe]) : await run('/bin/ls', ['/proc/self/fd']);
    // 0, 1, 2 and at most one fd the program itself opened
    const fds = r.stdout.trim().split('\n').map(Number).sort((a, b) => a - b);
    assert.deepEqual(fds.slice(0, 3), [0, 1, 2], r.stderr);
    assert.ok(fds.length <= 4, `unexpected fds in child: ${fds.join(',')}`);
  });

  test('cwd is applied; a missing cwd fails at stage cwd with ENOENT', async () => {
    const r = await run('/bin/pwd', [], { cwd: '/usr' });
    assert.equal(r.stdout, '/usr\n');
    await assert.rejects(run('/bin/pwd', [], { cwd: '/nonexistent/dir' }), (e: unknown) => {
      assert.ok(e instanceof HatcheryError);
      assert.equal(e.code, 'EXEC_FAILED');
      assert.equal(e.stage, 'cwd');
      assert.equal(e.errnoName, 'ENOENT');
      return true;
    });
  });

  test('output past maxOutputBytes is truncated and the child killed (100 MB vs 1 MB)', async () => {
    const r = await run('/bin/sh', ['-c', 'head -c 104857600 /dev/zero'], { maxOutputBytes: 1 << 20 });
    assert.equal(r.stdout.length, 1 << 20);
    assert.equal(r.truncated.stdout, true);
    assert.equal(r.truncated.stderr, false);
    assert.equal(r.limit, 'output');
    assert.equal(r.signal, 'SIGKILL');
  });

  test('timeout: SIGTERM, then SIGKILL of the whole tree, including a grandchild ignoring SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatchery-test-'));
    try {
      const pidFile = join(dir, 'grandchild.pid');
      const r = await run('/bin/sh', ['-c', `trap '' TERM; (trap '' TERM; sleep 60) & echo $! > ${pidFile}; wait`], {
        timeoutMs: 300,
        killGraceMs: 300,
        sandbox: false,
      });
      assert.equal(r.timedOut, true);
      assert.equal(r.limit, 'timeout');
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(r.escalated, true);
      assert.ok(r.wallMs >= 550 && r.wallMs < 5000, `wallMs ${r.wallMs}`);
      const { readFileSync } = await import('node:fs');
      const grandchild = Number(readFileSync(pidFile, 'utf8'));
      await waitFor(() => !isAlive(grandchild), 2000, `grandchild ${grandchild} to die`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('timeout in the default sandbox: the whole pid namespace dies', async () => {
    const r = await run('/bin/sh', ['-c', "trap '' TERM; (trap '' TERM; sleep 60) & wait"], { timeoutMs: 300, killGraceMs: 200 });
    assert.equal(r.timedOut, true);
    assert.equal(r.escalated, true);
    assert.equal(r.signal, 'SIGKILL');
    await waitFor(() => descendants().every((p) => p.comm === 'hatchery-zygote'), 2000, 'every sandboxed process to die');
  });

  test('a child that exits on SIGTERM ends with SIGTERM and is not escalated', async () => {
    const r = await run('/bin/sleep', ['30'], { timeoutMs: 200 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(r.escalated, false);
  });

  test('killSignal chooses the first signal', async () => {
    const r = await run('/bin/sleep', ['30'], { timeoutMs: 100, killSignal: 'SIGINT' });
    assert.equal(r.signal, 'SIGINT');
  });

  test('AbortSignal kills the tree and sets aborted', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await run('/bin/sleep', ['30'], { signal: ac.signal });
    assert.equal(r.aborted, true);
    assert.equal(r.signal, 'SIGTERM');
    await assert.rejects(run('/bin/true', [], { signal: ac.signal }), { code: 'ABORTED' });
  });

  test('an abort honours killGraceMs: a program that traps SIGTERM is SIGKILLed after the grace, not after 2 s', async () => {
    const trapper = "trap '' TERM; (trap '' TERM; sleep 60) & echo ready; wait";
    const abortAfter = async (killGraceMs: number): Promise<{ r: ExitStatus; ms: number }> => {
      const ac = new AbortController();
      const child = await spawn('/bin/sh', ['-c', trapper], { signal: ac.signal, killGraceMs, stdio: ['ignore', 'pipe', 'ignore'] });
      // Abort once both traps are set, so the grace is all that is measured.
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      child.stdout!.resume();
      const start = performance.now();
      ac.abort();
      const r = await child.exited;
      return { r, ms: performance.now() - start };
    };
    const short = await abortAfter(100);
    assert.equal(short.r.killRequested, true);
    assert.equal(short.r.escalated, true, 'the trapped SIGTERM did not end it; SIGKILL did');
    assert.equal(short.r.signal, 'SIGKILL');
    assert.ok(short.ms < 1500, `killGraceMs 100: ended ${short.ms.toFixed(0)} ms after the abort`);
    const long = await abortAfter(2600);
    assert.equal(long.r.escalated, true);
    assert.ok(long.ms >= 2500, `killGraceMs 2600: ended ${long.ms.toFixed(0)} ms after the abort`);
    const none = await abortAfter(0);
    assert.equal(none.r.signal, 'SIGKILL');
    assert.ok(none.ms < 1000, `killGraceMs 0: ended ${none.ms.toFixed(0)} ms after the abort`);
  });

  test('an abort uses killSignal first', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await run('/bin/sleep', ['30'], { signal: ac.signal, killSignal: 'SIGINT' });
    assert.equal(r.aborted, true);
    assert.equal(r.signal, 'SIGINT');
    assert.equal(r.escalated, false);
  });

  test('maxOutputBytes above what the encoding can return is a RangeError naming it, before anything runs', async () => {
    const refused = (e: unknown): boolean => e instanceof InvalidOptionRangeError && e.option === 'maxOutputBytes' && /hex/.test(e.message);
    // 280 MB as hex is 560 M characters, past V8's longest string: the program's output would have made the Result throw.
    await assert.rejects(
      run('/bin/sh', ['-c', 'head -c 280000000 /dev/zero'], { maxOutputBytes: 300_000_000, encoding: 'hex', sandbox: false }),
      refused,
    );
    const most = Math.floor(MAX_STRING_LENGTH / 2);
    await assert.rejects(run('/bin/true', [], { maxOutputBytes: most + 1, encoding: 'hex' }), refused);
    assert.equal((await run('/bin/echo', ['ok'], { maxOutputBytes: most, encoding: 'hex' })).stdout, Buffer.from('ok\n').toString('hex'));
    await assert.rejects(run('/bin/true', [], { maxOutputBytes: MAX_STRING_LENGTH + 1 }), (e: unknown) => e instanceof InvalidOptionRangeError && e.option === 'maxOutputBytes');
    await assert.rejects(
      run('/bin/true', [], { maxOutputBytes: MAX_LENGTH + 1, encoding: 'buffer' }),
      (e: unknown) => e instanceof InvalidOptionRangeError && e.option === 'maxOutputBytes',
    );
    assert.equal((await run('/bin/echo', ['ok'], { maxOutputBytes: MAX_STRING_LENGTH })).stdout, 'ok\n');
  });

  test('timeoutMs at its maximum (timeout + grace + margin past the longest Node timer) neither kills the zygote nor another run', async () => {
    const other = run('/bin/sleep', ['0.5']);
    const r = await run('/bin/sleep', ['0.2'], { timeoutMs: 2 ** 31 - 1 });
    assert.equal(r.exitCode, 0);
    assert.equal((await other).exitCode, 0);
  });

  test('a background grandchild does not outlive its parent', async () => {
    const r = await run('/bin/sh', ['-c', 'sleep 60 & echo $!'], { sandbox: false });
    const pid = Number(r.stdout.trim());
    await waitFor(() => !isAlive(pid), 2000, `background child ${pid} to die`);
  });

  test('a setsid double-forked grandchild is killed once orphaned', async () => {
    const r = await run('/bin/sh', ['-c', '(setsid sh -c "sleep 60 & echo \\$!" &) ; sleep 0.2'], { sandbox: false });
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 0, `got pid: ${r.stdout}`);
    await waitFor(() => !isAlive(pid), 3000, `escaped grandchild ${pid} to die`);
  });

  test('rlimits: cpuSeconds, fileSizeBytes, openFiles, memoryBytes, processes, core', async () => {
    const cpu = await run('/bin/sh', ['-c', 'while :; do :; done'], { limits: { cpuSeconds: 1 }, timeoutMs: 10_000 });
    assert.equal(cpu.limit, 'cpu');
    assert.ok(cpu.signal === 'SIGXCPU' || cpu.signal === 'SIGKILL', String(cpu.signal));

    const limits = await run('/bin/cat', ['/proc/self/limits'], {
      limits: { fileSizeBytes: 1 << 20, openFiles: 64, memoryBytes: 512 << 20, processes: 100 },
    });
    const row = (name: string): string[] => {
      const line = limits.stdout.split('\n').find((l) => l.startsWith(name));
      assert.ok(line, `${name} in /proc/self/limits`);
      return line.slice(name.length).trim().split(/\s+/);
    };
    assert.deepEqual(row('Max file size').slice(0, 2), [String(1 << 20), String(1 << 20)]);
    assert.deepEqual(row('Max open files').slice(0, 2), ['64', '64']);
    assert.deepEqual(row('Max address space').slice(0, 2), [String(512 << 20), String(512 << 20)]);
    // the pid namespace's init holds one slot of its own, so the program keeps all 100
    assert.deepEqual(row('Max processes').slice(0, 2), ['101', '101']);
    assert.equal(limits.enforcement.limits.processes, 100);
    assert.deepEqual(row('Max core file size').slice(0, 2), ['0', '0']);

    // dd writes into the private temp dir (its cwd) and meets the file-size limit
    const big = await run('/bin/dd', ['if=/dev/zero', 'of=big', 'bs=1M', 'count=4'], { limits: { fileSizeBytes: 1 << 20 } });
    assert.equal(big.signal, 'SIGXFSZ');
    assert.equal(big.limit, 'fileSize');
  });

  test('missing, non-executable and directory files fail at stage exec with errno', async () => {
    const expectExec = (errnoName: string) => (e: unknown) => {
      assert.ok(e instanceof HatcheryError, String(e));
      assert.equal(e.code, 'EXEC_FAILED');
      assert.equal(e.stage, 'exec');
      assert.equal(e.errnoName, errnoName);
      return true;
    };
    await assert.rejects(run('/nonexistent/program'), expectExec('ENOENT'));
    await assert.rejects(run('no-such-program-on-path'), expectExec('ENOENT'));
    await assert.rejects(run('/tmp'), expectExec('EACCES'));
    const dir = mkdtempSync(join(tmpdir(), 'hatchery-test-'));
    try {
      const f = join(dir, 'not-executable');
      writeFileSync(f, '#!/bin/sh\necho hi\n');
      chmodSync(f, 0o644);
      await assert.rejects(run(f), expectExec('EACCES'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('no process is left behind after these runs', async () => {
    await waitFor(() => descendants().every((p) => p.comm === 'hatchery-zygote'), 3000, 'children to be gone');
  });
});
