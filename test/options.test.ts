// Invalid options: each kind is a TypeError/RangeError with code INVALID_OPTION that names the option.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { InvalidOptionRangeError, InvalidOptionTypeError, closeDefaultZygote, createPool, run, spawn } from '../src/index.js';
import { MAX_SANDBOX_FS_PATHS } from '../src/options/sandbox.js';
import { EXEC_MAX_TOTAL, checkArgString, checkExecTotal, maxArgStringBytes } from '../src/options/exec-limits.js';

after(() => closeDefaultZygote());

const cases: [string, () => Promise<unknown>, 'TypeError' | 'RangeError', RegExp][] = [
  ['file not a string', () => run(42 as unknown as string), 'TypeError', /options\.file/],
  ['empty file', () => run(''), 'TypeError', /options\.file/],
  ['args not an array', () => run('/bin/true', 'x' as unknown as string[]), 'TypeError', /options\.args/],
  ['arg not a string', () => run('/bin/true', [1 as unknown as string]), 'TypeError', /options\.args\[0\]/],
  ['NUL in an arg', () => run('/bin/true', ['a\0b']), 'TypeError', /options\.args\[0\]/],
  ['unknown option', () => run('/bin/true', [], { timeout: 5 } as never), 'TypeError', /options\.timeout is not a known option/],
  ['timeoutMs not integer', () => run('/bin/true', [], { timeoutMs: 1.5 }), 'TypeError', /options\.timeoutMs/],
  ['timeoutMs negative', () => run('/bin/true', [], { timeoutMs: -1 }), 'RangeError', /options\.timeoutMs/],
  ['killSignal unknown', () => run('/bin/true', [], { killSignal: 'SIGNOPE' as NodeJS.Signals }), 'TypeError', /options\.killSignal/],
  ['signal not AbortSignal', () => run('/bin/true', [], { signal: {} as AbortSignal }), 'TypeError', /options\.signal/],
  ['env not object', () => run('/bin/true', [], { env: 'A=b' as never }), 'TypeError', /options\.env/],
  ['env value not string', () => run('/bin/true', [], { env: { A: 1 as never } }), 'TypeError', /options\.env\.A/],
  ['env name with =', () => run('/bin/true', [], { env: { 'A=B': 'c' } }), 'TypeError', /options\.env/],
  ['cwd not string', () => run('/bin/true', [], { cwd: 5 as never }), 'TypeError', /options\.cwd/],
  ['limits unknown key', () => run('/bin/true', [], { limits: { ram: 5 } as never }), 'TypeError', /options\.limits\.ram/],
  ['limits.memoryBytes too small', () => run('/bin/true', [], { limits: { memoryBytes: 10 } }), 'RangeError', /options\.limits\.memoryBytes/],
  ['limits.cpuSeconds zero', () => run('/bin/true', [], { limits: { cpuSeconds: 0 } }), 'RangeError', /options\.limits\.cpuSeconds/],
  ['limits.processes not integer', () => run('/bin/true', [], { limits: { processes: '5' as never } }), 'TypeError', /options\.limits\.processes/],
  ['maxOutputBytes negative', () => run('/bin/true', [], { maxOutputBytes: -5 }), 'RangeError', /options\.maxOutputBytes/],
  ['encoding unknown', () => run('/bin/true', [], { encoding: 'klingon' as BufferEncoding }), 'TypeError', /options\.encoding/],
  ['input wrong type', () => run('/bin/true', [], { input: 5 as never }), 'TypeError', /options\.input/],
  ['stdio bad mode', () => spawn('/bin/true', [], { stdio: 'tty' as never }), 'TypeError', /options\.stdio/],
  ['stdio bad array', () => spawn('/bin/true', [], { stdio: ['pipe', 'pipe'] as never }), 'TypeError', /options\.stdio/],
  // execve's own limits, where no stack rlimit could help (MAX_ARG_STRLEN; 6 MiB in all):
  ['an arg past MAX_ARG_STRLEN', () => run('/bin/true', ['ok', 'x'.repeat(maxArgStringBytes())]), 'RangeError',
    new RegExp(`options\\.args\\[1\\] is ${maxArgStringBytes() + 1} bytes with its NUL; execve takes at most ${maxArgStringBytes()}`)],
  ['a 200 KiB arg (spawn)', () => spawn('/bin/true', ['y'.repeat(200 * 1024)]), 'RangeError', /options\.args\[0\] is 204801 bytes/],
  ['an env entry past MAX_ARG_STRLEN', () => run('/bin/true', [], { env: { BIG: 'x'.repeat(maxArgStringBytes()) } }), 'RangeError',
    /options\.env\.BIG is \d+ bytes with its NUL/],
  ['args past 6 MiB in all', () => run('/bin/true', Array.from({ length: 64 }, () => 'a'.repeat(100 * 1024))), 'RangeError',
    new RegExp(`options\\.args with env take \\d+ bytes .* at most ${EXEC_MAX_TOTAL}`)],
  ['env past 6 MiB in all', () => run('/bin/true', [], { env: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`V${i}`, 'e'.repeat(100 * 1024)])) }),
    'RangeError', /options\.env with args take/],
];

for (const [name, call, kind, message] of cases) {
  test(`invalid option: ${name}`, async () => {
    await assert.rejects(call(), (e: unknown) => {
      const cls = kind === 'TypeError' ? InvalidOptionTypeError : InvalidOptionRangeError;
      assert.ok(e instanceof cls, `expected ${kind}, got ${String(e)}`);
      assert.ok(e instanceof (kind === 'TypeError' ? TypeError : RangeError));
      assert.equal((e as InvalidOptionTypeError).code, 'INVALID_OPTION');
      assert.match((e as Error).message, message);
      return true;
    });
  });
}

test('execve limits: the boundaries are the kernel\'s, in bytes (UTF-8, NUL included)', () => {
  const max = maxArgStringBytes();
  assert.ok(max >= 131072 && max % 32 === 0, `MAX_ARG_STRLEN ${max}`);
  checkArgString('x'.repeat(max - 1), 'args[0]'); // max bytes with the NUL: taken
  assert.throws(() => checkArgString('x'.repeat(max), 'args[0]'), InvalidOptionRangeError);
  checkArgString('\u00e9'.repeat((max - 2) / 2), 'args[0]'); // 2 bytes each: max - 1 with the NUL
  assert.throws(() => checkArgString('\u00e9'.repeat(max / 2), 'args[0]'), /is \d+ bytes/);
  // 6 MiB of strings and pointers in all is the most any stack rlimit allows.
  const n = 1024;
  const each = Math.floor(EXEC_MAX_TOTAL / n) - 8 - 1;
  const argv = Array.from({ length: n }, () => 'a'.repeat(each));
  checkExecTotal(argv, []);
  assert.throws(() => checkExecTotal([...argv, 'b'.repeat(1024)], []), { name: 'RangeError', option: 'args' });
  assert.throws(() => checkExecTotal(['x'], [...argv, 'B='.repeat(1024)]), { name: 'RangeError', option: 'env' });
  // A million empty arguments: 9 MB of stack (1 byte and a pointer each), past it.
  assert.throws(() => checkExecTotal(Array.from({ length: 1_000_000 }, () => ''), []), /1000000 arguments/);
});

test('execve limits hold on a pool too, before a slot or a zygote is taken', async () => {
  const pool = createPool({ minZygotes: 0 });
  try {
    await assert.rejects(pool.run('/bin/true', ['z'.repeat(200 * 1024)]), { code: 'INVALID_OPTION', option: 'args[0]' });
    assert.equal(pool.stats().zygotes.length, 0);
  } finally {
    await pool.close();
  }
});

test('sandbox limits a caller can reach are INVALID_OPTION naming the option, before any zygote is involved', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-paths-'));
  chmodSync(dir, 0o755);
  try {
    const files = Array.from({ length: 300 }, (_, i) => {
      const f = join(dir, `f${i}`);
      writeFileSync(f, '', { mode: 0o644 });
      return f;
    });
    await assert.rejects(run('/bin/true', [], { sandbox: { fs: { read: files } } }), (e: unknown) => {
      assert.ok(e instanceof InvalidOptionRangeError, String(e));
      assert.equal(e.code, 'INVALID_OPTION');
      assert.equal(e.option, 'sandbox.fs.read');
      assert.match(e.message, new RegExp(`to 300; at most ${MAX_SANDBOX_FS_PATHS} are supported`));
      return true;
    });
    // read, write and exec count together; one path written two ways is one rule.
    const half = files.slice(0, 150);
    const again = half.map((f) => f.replace(dir, `${dir}/.`));
    await assert.rejects(run('/bin/true', [], { sandbox: { fs: { read: half, exec: [...again, ...files.slice(150)] } } }), {
      code: 'INVALID_OPTION',
      option: 'sandbox.fs.exec',
    });
    const connectTcp = Array.from({ length: 40 }, (_, i) => 1000 + i);
    const bindTcp = Array.from({ length: 40 }, (_, i) => 2000 + i);
    await assert.rejects(run('/bin/true', [], { sandbox: { net: { connectTcp, bindTcp } } }), { code: 'INVALID_OPTION', option: 'sandbox.net', name: 'RangeError' });
    await assert.rejects(run('/bin/true', [], { sandbox: { seccomp: { deny: ['no_such_syscall'] } } }), {
      code: 'INVALID_OPTION',
      option: 'sandbox.seccomp.deny[0]',
      name: 'TypeError',
    });
    // Up to the limit the sandbox runs.
    const r = await run('/bin/true', [], { sandbox: { fs: { read: half, exec: again } } });
    assert.equal(r.exitCode, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
