// errnoName: every errno a child can report has its symbolic name.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { test } from 'node:test';
import { errnoName, signalName } from '../src/errors.js';

test('errnoName names every Linux errno, including the ones Node does not list (EBADFD = 77)', () => {
  assert.equal(errnoName(77), 'EBADFD');
  assert.equal(errnoName(-77), 'EBADFD');
  assert.equal(errnoName(2), 'ENOENT');
  assert.equal(errnoName(129), 'EKEYREJECTED');
  assert.equal(errnoName(133), 'EHWPOISON');
  assert.equal(errnoName(512), 'ERESTARTSYS');
  for (let n = 1; n <= 133; n++) {
    if (n === 41 || n === 58) continue; // unused by Linux
    assert.match(errnoName(n), /^E[A-Z0-9_]+$/, `errno ${n}`);
    assert.notEqual(errnoName(n), 'EUNKNOWN', `errno ${n}`);
  }
});

test('errnoName prefers the canonical name over the aliases Node also lists', () => {
  assert.equal(errnoName(11), 'EAGAIN');
  assert.equal(errnoName(95), 'EOPNOTSUPP');
  assert.equal(errnoName(35), 'EDEADLK');
  for (const [name, value] of Object.entries(constants.errno)) {
    if (name === 'EWOULDBLOCK' || name === 'ENOTSUP' || name === 'EDEADLOCK') continue;
    assert.equal(errnoName(value), name);
  }
});

test('errnoName is always a name, never "errno N"', () => {
  for (const n of [0, 41, 58, 520, 999, 4095, 123456]) {
    const name = errnoName(n);
    assert.match(name, /^E[A-Z0-9_]+$/, `errno ${n} -> ${name}`);
  }
  assert.equal(errnoName(999), 'EUNKNOWN');
});

test("errnoName agrees with this machine's kernel headers, where installed", (t) => {
  const headers = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'].filter((p) => existsSync(p));
  if (headers.length < 2) {
    t.skip('no asm-generic errno headers here');
    return;
  }
  let checked = 0;
  for (const header of headers) {
    for (const m of readFileSync(header, 'utf8').matchAll(/^#define\s+(E[A-Z0-9]+)\s+(\d+)\b/gm)) {
      assert.equal(errnoName(Number(m[2])), m[1], `${m[1]} = ${m[2]}`);
      checked++;
    }
  }
  assert.ok(checked >= 130, `${checked} errnos checked`);
});

test('signalName gives the canonical name of a signal Node lists twice (an abort is SIGABRT, not SIGIOT)', () => {
  assert.equal(signalName(6), 'SIGABRT');
  assert.equal(signalName(29), 'SIGIO');
  assert.equal(signalName(9), 'SIGKILL');
  assert.equal(signalName(40), 'SIG40');
});
