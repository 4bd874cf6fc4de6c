// errnoName: every errno a child can report has its symbolic name. The factories:
// each makes its code, class and fields; src/ makes HatcheryErrors only through them.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  HatcheryError,
  aborted,
  closed,
  errnoName,
  execFailed,
  isHatcheryError,
  nativeUnavailable,
  noZygote,
  protocolError,
  queueFull,
  queueTimeout,
  requestRefused,
  sandboxUnavailable,
  signalName,
  unknownExport,
  unsupportedPlatform,
  workerBootFailed,
  workerBootTimeout,
  workerRuntimeUnreadable,
  zygoteDied,
  zygoteFull,
  zygoteProtocolError,
  zygoteUnresponsive,
  type HatcheryErrorCode,
} from '../src/errors.js';

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

// ---- The factories: every HatcheryError the library raises is made in src/errors.ts ----

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function check(e: HatcheryError, code: HatcheryErrorCode, message: RegExp, fields: Partial<Record<'stage' | 'errno' | 'errnoName' | 'missing' | 'cause', unknown>> = {}): void {
  assert.ok(e instanceof HatcheryError, `${code}: a HatcheryError`);
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'HatcheryError');
  assert.equal(e.code, code);
  assert.ok(isHatcheryError(e));
  assert.match(e.message, message, code);
  for (const key of ['stage', 'errno', 'errnoName', 'missing', 'cause'] as const) {
    if (key in fields) assert.deepEqual(e[key], fields[key], `${code}: ${key}`);
    else assert.equal(e[key], undefined, `${code}: no ${key}`);
  }
}

test('execFailed fills stage, errno and errnoName, and names the file, the stage and the errno', () => {
  check(execFailed('/no/such', 'exec', 2), 'EXEC_FAILED', /^\/no\/such: child setup failed at stage 'exec': ENOENT$/, { stage: 'exec', errno: 2, errnoName: 'ENOENT' });
  check(execFailed('x', 'landlock', 77), 'EXEC_FAILED', /stage 'landlock': EBADFD/, { stage: 'landlock', errno: 77, errnoName: 'EBADFD' });
});

test('the ZYGOTE_DIED factories name the zygote pid and what happened', () => {
  check(zygoteDied(4242, 'exited'), 'ZYGOTE_DIED', /^zygote 4242 exited$/);
  check(zygoteDied(4242, 'is not ready'), 'ZYGOTE_DIED', /^zygote 4242 is not ready$/);
  check(zygoteUnresponsive(4242, 'answer a heartbeat', 1500), 'ZYGOTE_DIED', /^zygote 4242 did not answer a heartbeat within 1500 ms; it was killed$/);
  check(noZygote(), 'ZYGOTE_DIED', /no zygote could be started/);
});

test('the PROTOCOL factories keep the message, the zygote pid, the request id and the cause', () => {
  const cause = new Error('bad tag');
  check(protocolError('argv is empty'), 'PROTOCOL', /^argv is empty$/);
  check(protocolError('argv is empty', cause), 'PROTOCOL', /^argv is empty$/, { cause });
  check(zygoteProtocolError(7, `sent a malformed message: ${cause.message}`, cause), 'PROTOCOL', /^zygote 7 sent a malformed message: bad tag$/, { cause });
  check(zygoteProtocolError(7, 'spoke before its handshake'), 'PROTOCOL', /^zygote 7 spoke before its handshake$/);
  check(requestRefused(7, 12, 'the args file is not a memfd sealed', 3), 'PROTOCOL', /^zygote 7 refused request 12: the args file is not a memfd sealed \(code 3\)$/);
});

test('sandboxUnavailable lists what is missing in the message and in missing', () => {
  check(sandboxUnavailable(['landlock (ENOSYS)', 'seccomp']), 'SANDBOX_UNAVAILABLE', /^this kernel cannot enforce: landlock \(ENOSYS\); seccomp$/, { missing: ['landlock (ENOSYS)', 'seccomp'] });
  check(sandboxUnavailable(['landlock'], ['HATCHERY_SIMULATE_X']), 'SANDBOX_UNAVAILABLE', /cannot enforce: landlock — simulations in effect: HATCHERY_SIMULATE_X$/, { missing: ['landlock'] });
});

test('aborted keeps the signal reason as its cause and says when', () => {
  const reason = new Error('stop');
  check(aborted(reason), 'ABORTED', /aborted before it started/, { cause: reason });
  check(aborted(reason, 'queued'), 'ABORTED', /aborted while it waited in the queue/, { cause: reason });
  check(aborted(undefined), 'ABORTED', /aborted before it started/);
});

test('the queue factories carry their numbers', () => {
  check(queueFull({ queued: 3, maxQueue: 3, running: 2, maxConcurrency: 2 }), 'QUEUE_FULL', /^the pool's queue is full \(3 waiting, maxQueue 3; 2 running, maxConcurrency 2\)$/);
  check(zygoteFull(9, 1), 'QUEUE_FULL', /^zygote 9 already has the 1 children it said it can hold$/);
  check(queueTimeout(250), 'QUEUE_TIMEOUT', /waited 250 ms in the pool's queue/);
});

test('closed names the pool', () => {
  check(closed('the pool'), 'CLOSED', /^the pool is closed$/);
  check(closed('the worker pool'), 'CLOSED', /^the worker pool is closed$/);
  check(closed('the worker pool', 'was'), 'CLOSED', /^the worker pool was closed$/);
});

test('the worker factories name the module, the uid and the timeout, and keep the cause', () => {
  const last = new Error('SyntaxError: nope');
  check(workerBootFailed('/m.js', last), 'WORKER_BOOT_FAILED', /^workers of \/m\.js keep failing to boot: SyntaxError: nope$/, { cause: last });
  check(workerBootFailed('/m.js', undefined), 'WORKER_BOOT_FAILED', /keep failing to boot: unknown$/);
  check(workerBootTimeout('/m.js', 5000), 'WORKER_BOOT_FAILED', /^workers of \/m\.js did not boot within 5000 ms$/);
  const copy = new Error('no place for a copy');
  check(workerRuntimeUnreadable(65534, '/x is mode 0700', copy), 'WORKER_BOOT_FAILED', /uid 65534 can read neither the installed worker runtime \(\/x is mode 0700\) nor a copy: no place for a copy$/, { cause: copy });
  check(unknownExport('/m.js', 'nope'), 'UNKNOWN_EXPORT', /^\/m\.js has no exported function "nope"$/);
});

test('the NATIVE_UNAVAILABLE factories say what is wrong and (for a missing build) how to rebuild', () => {
  const cause = new Error('invalid ELF header');
  check(nativeUnavailable('did not load (invalid ELF header)', cause), 'NATIVE_UNAVAILABLE', /native build did not load \(invalid ELF header\)\..*npm rebuild hatchery/, { cause });
  check(nativeUnavailable('is missing (/x does not exist)'), 'NATIVE_UNAVAILABLE', /is missing \(\/x does not exist\)/);
  // dlopen on a noexec mount: no rebuild helps, so none is advised.
  const noexec = new Error('/opt/app/node_modules/hatchery/build/Release/hatchery_addon.node: failed to map segment from shared object');
  const onNoexec = nativeUnavailable('did not load (failed to map segment from shared object)', noexec);
  check(onNoexec, 'NATIVE_UNAVAILABLE', /forbids executing files \(noexec\)/, { cause: noexec });
  assert.doesNotMatch(onNoexec.message, /npm rebuild/);
  check(unsupportedPlatform('darwin'), 'NATIVE_UNAVAILABLE', /Linux only \(this is darwin\)/);
});

test('src/ builds every HatcheryError through the factories of src/errors.ts', () => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && path !== join(root, 'src', 'errors.ts')) {
        readFileSync(path, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (/\bnew\s+HatcheryError\s*\(/.test(line)) offenders.push(`${relative(root, path)}:${i + 1}: ${line.trim()}`);
          });
      }
    }
  };
  walk(join(root, 'src'));
  assert.deepEqual(offenders, [], 'use (or add) a factory in src/errors.ts');
});

test('every HatcheryErrorCode is documented in docs/errors.md', () => {
  const source = readFileSync(join(root, 'src', 'errors.ts'), 'utf8');
  const union = /export type HatcheryErrorCode =([\s\S]*?');\n/.exec(source);
  assert.ok(union, 'HatcheryErrorCode found');
  const codes = [...union[1]!.matchAll(/\|\s*'([A-Z_]+)'/g)].map((m) => m[1]!);
  assert.ok(codes.length >= 16, `${codes.length} codes`);
  const docs = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  const documented = new Set([...docs.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!));
  assert.deepEqual(codes.filter((c) => !documented.has(c)), [], 'codes without a row in the table of docs/errors.md');
  assert.deepEqual([...documented].filter((c) => !codes.includes(c)), [], 'rows for codes HatcheryErrorCode does not have');
});
