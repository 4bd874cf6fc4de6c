// Invalid options: each kind is a TypeError/RangeError with code INVALID_OPTION that names the option.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { InvalidOptionRangeError, InvalidOptionTypeError, closeDefaultZygote, run, spawn } from '../src/index.js';

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
