/**
 * The N-API addon (native/addon.c) against the contract in src/native/binding.ts.
 * The zygote stand-in is a python3 script, so these tests do not depend on
 * native/zygote.c.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants as fsConstants,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { constants, tmpdir } from 'node:os';

import { assertFdsBack, openFds } from './helpers.js';
import { buildDir, loadBinding, STAT_WORDS, StatWord, type NativeBinding, type ZygoteProcess } from '../src/native/binding.js';

const native: NativeBinding = loadBinding();
const PYTHON = '/usr/bin/python3';
const hasPython = existsSync(PYTHON);
const READABLE = 1;
const { errno: E, signals: S } = constants;

/** Commands are one byte; replies are JSON or raw bytes. */
const ECHO_SCRIPT = String.raw`
import json, os, socket, stat, sys
s = socket.socket(fileno=3)
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
while True:
    msg, fds, flags, addr = socket.recv_fds(s, 65536, 16)
    if not msg:
        sys.exit(0)
    cmd, body = msg[:1], msg[1:]
    if cmd == b'I':
        status = dict(l.split(':\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\t' in l)
        info = {
            'open': [fd for fd in range(1024) if is_open(fd)],
            'fd0': os.readlink('/proc/self/fd/0'),
            'fd1': os.readlink('/proc/self/fd/1'),
            'fd3_inheritable': os.get_inheritable(3),
            'fd3_seqpacket': stat.S_ISSOCK(os.fstat(3).st_mode) and s.type == socket.SOCK_SEQPACKET,
            'sigblk': status['SigBlk'],
        }
        socket.send_fds(s, [json.dumps(info).encode()], [])
    elif cmd == b'E':
        socket.send_fds(s, [body], fds)
    elif cmd == b'4':
        socket.send_fds(s, [b'four'], [0, 0, 1, 1, 2])
    elif cmd == b'B':
        s.send(b'x' * 100)
    elif cmd == b'X':
        sys.exit(int(body))
    for fd in fds:
        os.close(fd)
`;

function fdFlags(fd: number): number {
  const match = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(match?.[1], `no flags for fd ${fd}`);
  return Number.parseInt(match[1], 8);
}
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;

function childPids(): string[] {
  return readdirSync('/proc/self/task')
    .flatMap((tid) => readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(' '))
    .filter((pid) => pid !== '');
}

/** Resolves with the events once fd polls readable; keeps the loop alive meanwhile. */
function readable(fd: number, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const watcher = native.watch(fd, (events, status) => {
      clearTimeout(timer);
      watcher.close();
      if (status < 0) reject(new Error(`poll status ${status}`));
      else resolve(events);
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`fd ${fd} not readable after ${timeoutMs} ms`));
    }, timeoutMs);
    watcher.start(READABLE);
    watcher.ref();
  });
}

async function receive(fd: number, buf = Buffer.alloc(65536)) {
  for (;;) {
    const message = native.receiveMessage(fd, buf);
    if (message) return { ...message, data: buf.subarray(0, message.length) };
    await readable(fd);
  }
}

async function reap(zygote: ZygoteProcess) {
  await readable(zygote.pidfd);
  const status = native.reapPidfd(zygote.pidfd);
  assert.notEqual(status, null);
  return status;
}

function spawnEcho(): ZygoteProcess {
  return native.spawnZygote(PYTHON, ['python3', '-I', '-c', ECHO_SCRIPT], []);
}

function send(zygote: ZygoteProcess, text: string, fds: number[] = []): void {
  assert.equal(native.sendMessage(zygote.socket, Buffer.from(text), fds), Buffer.byteLength(text));
}

test('kernelRelease and landlockAbi', () => {
  assert.match(native.kernelRelease(), /^\d+\.\d+/);
  const abi = native.landlockAbi();
  assert.ok(Number.isInteger(abi) && abi !== 0, `landlockAbi() = ${abi}`);
  if (abi < 0) assert.ok([-E.ENOSYS, -E.EOPNOTSUPP].includes(abi));
});

test('arguments are validated with TypeError/RangeError, never a crash', () => {
  const bad = { name: 'TypeError' };
  assert.throws(() => native.close(-1), { name: 'RangeError' });
  assert.throws(() => native.close(1.5), bad);
  assert.throws(() => (native.close as (fd: unknown) => void)('3'), bad);
  assert.throws(() => (native.close as () => void)(), bad);
  assert.throws(() => native.sendMessage(0, Buffer.alloc(1), [0, 0, 0, 0, 0]), bad); // MAX_FDS_PER_MESSAGE is 4
  assert.throws(() => native.sendMessage(0, Buffer.alloc(1), [-1]), bad);
  assert.throws(() => native.sendMessage(0, Buffer.alloc(1), [0.5]), bad);
  assert.throws(() => (native.sendMessage as (...a: unknown[]) => number)(0, 'abc', []), bad);
  assert.throws(() => (native.sendMessage as (...a: unknown[]) => number)(0, new Uint16Array(1), []), bad);
  assert.throws(() => (native.receiveMessage as (...a: unknown[]) => unknown)(0, {}), bad);
  assert.throws(() => (native.watch as (...a: unknown[]) => unknown)(0, null), bad);
  assert.throws(() => native.pidfdSendSignal(0, 65), { name: 'RangeError' });
  assert.throws(() => (native.spawnZygote as (...a: unknown[]) => unknown)(1, [], []), bad);
  assert.throws(() => (native.spawnZygote as (...a: unknown[]) => unknown)('/bin/true', 'x', []), bad);
  assert.throws(() => (native.spawnZygote as (...a: unknown[]) => unknown)('/bin/true', [1], []), bad);
  assert.throws(() => native.spawnZygote('/bin/true', ['a\0b'], []), bad);
  assert.throws(() => native.spawnZygote('/bin/\0true', [], []), bad);
  assert.throws(() => (native.memfdFromBuffer as (...a: unknown[]) => number)('x', 'abc'), bad);
  assert.throws(() => (native.memfdFromBuffer as (...a: unknown[]) => number)(1, Buffer.alloc(1)), bad);
});

test('memfdFromBuffer: exactly the bytes, sealed against any change, close-on-exec', () => {
  const before = openFds();
  const data = Buffer.from('argv and env\0'.repeat(1000));
  const fd = native.memfdFromBuffer('hatchery-args', data);
  assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^\/memfd:hatchery-args/);
  assert.equal(fdFlags(fd) & O_CLOEXEC, O_CLOEXEC);
  assert.equal(fstatSync(fd).size, data.length);
  const back = Buffer.alloc(data.length + 10);
  assert.equal(readSync(fd, back, 0, back.length, 0), data.length);
  assert.deepEqual(back.subarray(0, data.length), data);
  // F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK: no write, append or truncate gets through.
  assert.throws(() => writeSync(fd, 'x', 0), { code: 'EPERM' });
  assert.throws(() => writeSync(fd, 'x', data.length), { code: 'EPERM' });
  assert.throws(() => ftruncateSync(fd, 1), { code: 'EPERM' });
  assert.throws(() => ftruncateSync(fd, data.length * 2), { code: 'EPERM' });
  // Reopened through /proc for writing it is the same sealed file.
  const again = openSync(`/proc/self/fd/${fd}`, 'r+');
  assert.throws(() => writeSync(again, 'x', 0), { code: 'EPERM' });
  closeSync(again);
  assert.equal(fstatSync(fd).size, data.length);
  native.close(fd);
  const empty = native.memfdFromBuffer('e', Buffer.alloc(0));
  assert.equal(fstatSync(empty).size, 0);
  native.close(empty);
  assertFdsBack(before);
});

test('statPaths: device, inode and type of each path exactly as stat(2) says, or its errno', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-stat-'));
  try {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    mkdirSync(join(dir, 'sub'));
    symlinkSync(file, join(dir, 'link'));
    symlinkSync(join(dir, 'gone'), join(dir, 'dangling'));
    const paths = [dir, file, join(dir, 'link'), '/dev/null', join(dir, 'missing'), join(dir, 'dangling'), join(file, 'below'), `/${'a'.repeat(5000)}`];
    const s = native.statPaths(paths);
    assert.ok(s instanceof Uint32Array);
    assert.equal(s.length, paths.length * STAT_WORDS);
    const at = (i: number, word: number): number => s[i * STAT_WORDS + word]!;
    const big = (i: number, hi: number, lo: number): bigint => (BigInt(at(i, hi)) << 32n) | BigInt(at(i, lo));
    const expectFile = (i: number, path: string, type: number): void => {
      const st = statSync(path, { bigint: true }); // exact 64-bit dev and ino
      assert.equal(at(i, StatWord.Errno), 0, path);
      assert.equal(at(i, StatWord.Type), type, path);
      assert.equal(big(i, StatWord.DevHi, StatWord.DevLo), st.dev, path);
      assert.equal(big(i, StatWord.InoHi, StatWord.InoLo), st.ino, path);
    };
    expectFile(0, dir, fsConstants.S_IFDIR);
    expectFile(1, file, fsConstants.S_IFREG);
    expectFile(2, file, fsConstants.S_IFREG); // a symlink is followed: the file's own device and inode
    expectFile(3, '/dev/null', fsConstants.S_IFCHR);
    const failed = (i: number, errno: number): void => {
      assert.deepEqual([...s.subarray(i * STAT_WORDS, (i + 1) * STAT_WORDS)], [errno, 0, 0, 0, 0, 0], paths[i]);
    };
    failed(4, E.ENOENT);
    failed(5, E.ENOENT); // a dangling symlink
    failed(6, E.ENOTDIR);
    failed(7, E.ENAMETOOLONG);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(native.statPaths([]), new Uint32Array(0));
  const bad = { name: 'TypeError' };
  assert.throws(() => native.statPaths(['/tmp', '/t\0mp']), { name: 'TypeError', message: /paths\[1\] must not contain NUL/ });
  assert.throws(() => native.statPaths([`/${'a'.repeat(5000)}\0`]), { name: 'TypeError', message: /NUL/ });
  assert.throws(() => (native.statPaths as (p: unknown) => unknown)('/tmp'), bad);
  assert.throws(() => (native.statPaths as (p: unknown) => unknown)(['/tmp', 1]), bad);
  assert.throws(() => native.statPaths(new Array<string>(4097).fill('/')), { name: 'RangeError' });
  assert.equal(native.statPaths(new Array<string>(4096).fill('/')).length, 4096 * STAT_WORDS);
});

test('pageSize is the kernel page size', () => {
  const size = native.pageSize();
  assert.ok([4096, 16384, 65536].includes(size), `page size ${size}`);
});

test('pipe, openDevNull and close; errors carry code/errno/syscall', () => {
  const before = openFds();
  const [r, w] = native.pipe();
  assert.equal(writeSync(w, 'hi'), 2);
  const buf = Buffer.alloc(2);
  assert.equal(readSync(r, buf), 2);
  assert.equal(buf.toString(), 'hi');
  const devnull = native.openDevNull();
  assert.equal(readlinkSync(`/proc/self/fd/${devnull}`), '/dev/null');
  for (const fd of [r, w, devnull]) {
    assert.equal(fdFlags(fd) & O_CLOEXEC, O_CLOEXEC);
    native.close(fd);
  }
  assert.throws(() => native.close(r), { code: 'EBADF', errno: -E.EBADF, syscall: 'close', message: /^close: / });
  assertFdsBack(before);
});

test('spawnZygote: exec failure throws ENOENT, leaves no child and raises no SIGCHLD', async () => {
  const before = openFds();
  let sigchld = 0;
  const onSigchld = () => void sigchld++;
  process.on('SIGCHLD', onSigchld);
  try {
    assert.throws(() => native.spawnZygote('/nonexistent/hatchery-zygote', ['x'], []), {
      code: 'ENOENT',
      errno: -E.ENOENT,
      syscall: 'execve',
    });
    assert.throws(() => native.spawnZygote('/dev/null', ['x'], []), { code: 'EACCES' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(sigchld, 0);
  } finally {
    process.off('SIGCHLD', onSigchld);
  }
  assert.deepEqual(childPids(), []);
  assertFdsBack(before);
});

test('spawnZygote: the child sees exactly fds 0,1,2,3 and no blocked signals', { skip: !hasPython }, async () => {
  const before = openFds();
  const zygote = spawnEcho();
  assert.ok(zygote.pid > 0 && zygote.pidfd >= 0 && zygote.socket >= 0);
  assert.equal(readlinkSync(`/proc/self/fd/${zygote.pidfd}`), 'anon_inode:[pidfd]');
  assert.equal(fdFlags(zygote.socket) & (O_NONBLOCK | O_CLOEXEC), O_NONBLOCK | O_CLOEXEC);
  assert.equal(fdFlags(zygote.pidfd) & O_CLOEXEC, O_CLOEXEC);

  send(zygote, 'I');
  const info = JSON.parse((await receive(zygote.socket)).data.toString()) as Record<string, unknown>;
  assert.deepEqual(info, {
    open: [0, 1, 2, 3],
    fd0: '/dev/null',
    fd1: '/dev/null',
    fd3_inheritable: true,
    fd3_seqpacket: true,
    sigblk: '0000000000000000',
  });

  send(zygote, 'X0');
  assert.deepEqual(await reap(zygote), { exitCode: 0, signal: null });
  assert.throws(() => native.reapPidfd(zygote.pidfd), { code: 'ECHILD' });
  const eof = await receive(zygote.socket);
  assert.deepEqual({ ...eof, data: undefined }, { length: 0, fds: [], truncated: false, eof: true, data: undefined });
  native.close(zygote.pidfd);
  native.close(zygote.socket);
  assert.deepEqual(childPids(), []);
  assertFdsBack(before);
});

test('spawnZygote: ignored signals in Node (SIGPIPE) are default in the child', async () => {
  const before = openFds();
  const zygote = native.spawnZygote('/bin/sh', ['sh', '-c', 'exec cat /proc/self/status >&3'], []);
  const status = (await receive(zygote.socket)).data.toString();
  assert.match(status, /^SigIgn:\s+0000000000000000$/m);
  assert.match(status, /^SigBlk:\s+0000000000000000$/m);
  assert.deepEqual(await reap(zygote), { exitCode: 0, signal: null });
  native.close(zygote.pidfd);
  native.close(zygote.socket);
  assertFdsBack(before);
});

test('sendMessage/receiveMessage pass fds both ways; extras and long datagrams are truncated', { skip: !hasPython }, async () => {
  const before = openFds();
  const zygote = spawnEcho();
  const [r, w] = native.pipe();

  send(zygote, 'Ehello', [r, w, w]);
  const echo = await receive(zygote.socket);
  assert.equal(echo.data.toString(), 'hello');
  assert.equal(echo.truncated, false);
  assert.equal(echo.eof, false);
  assert.equal(echo.fds.length, 3);
  for (const fd of echo.fds) {
    assert.equal(fdFlags(fd) & O_CLOEXEC, O_CLOEXEC, 'MSG_CMSG_CLOEXEC');
  }
  // The returned write end is the same pipe.
  assert.equal(writeSync(echo.fds[1]!, 'through'), 7);
  const buf = Buffer.alloc(7);
  assert.equal(readSync(r, buf), 7);
  assert.equal(buf.toString(), 'through');
  for (const fd of echo.fds) native.close(fd);

  send(zygote, '4');
  const four = await receive(zygote.socket);
  assert.equal(four.data.toString(), 'four');
  assert.equal(four.truncated, true);
  assert.equal(four.fds.length, 4, 'MAX_FDS_PER_MESSAGE kept, the 5th closed');
  for (const fd of four.fds) native.close(fd);

  send(zygote, 'B');
  const long = await receive(zygote.socket, Buffer.alloc(10));
  assert.equal(long.length, 10);
  assert.equal(long.truncated, true);
  assert.equal(native.receiveMessage(zygote.socket, Buffer.alloc(10)), null, 'the rest is discarded');

  native.close(r);
  native.close(w);
  native.close(zygote.socket); // the script exits on EOF
  assert.deepEqual(await reap(zygote), { exitCode: 0, signal: null });
  native.close(zygote.pidfd);
  assertFdsBack(before);
});

test('sendMessage returns -errno instead of throwing', () => {
  const before = openFds();
  const [r, w] = native.pipe();
  assert.equal(native.sendMessage(r, Buffer.from('x'), []), -E.ENOTSOCK);
  native.close(r);
  native.close(w);
  assert.equal(native.sendMessage(r, Buffer.from('x'), []), -E.EBADF);
  assertFdsBack(before);
});

test('pidfdSendSignal kills; reapPidfd reports the signal; -ESRCH after reaping', async () => {
  const before = openFds();
  const zygote = native.spawnZygote('/bin/sleep', ['sleep', '30'], []);
  assert.equal(native.reapPidfd(zygote.pidfd), null);
  assert.equal(native.pidfdSendSignal(zygote.pidfd, S.SIGTERM), 0);
  assert.deepEqual(await reap(zygote), { exitCode: null, signal: S.SIGTERM });
  assert.equal(native.pidfdSendSignal(zygote.pidfd, S.SIGTERM), -E.ESRCH);
  assert.equal(native.pidfdSendSignal(zygote.socket, 0), -E.EBADF);
  native.close(zygote.pidfd);
  native.close(zygote.socket);
  assertFdsBack(before);
});

test('watch: callbacks run with microtasks, close is idempotent, misuse throws', async () => {
  const before = openFds();
  const [r, w] = native.pipe();
  const seen: Array<[number, number]> = [];
  let microtaskRan = false;
  let done!: () => void;
  const fired = new Promise<void>((resolve) => (done = resolve));
  const watcher = native.watch(r, (events, status) => {
    seen.push([events, status]);
    watcher.stop();
    void Promise.resolve().then(() => {
      microtaskRan = true;
      done();
    });
  });
  watcher.ref();
  watcher.start(READABLE);
  writeSync(w, 'x');
  await fired;
  assert.deepEqual(seen, [[READABLE, 0]]);
  assert.equal(microtaskRan, true);

  assert.throws(() => watcher.start(0), { name: 'RangeError' });
  assert.throws(() => watcher.start(8), { name: 'RangeError' });
  const { stop } = watcher;
  assert.throws(() => stop(), { name: 'TypeError' });
  assert.throws(() => stop.call({}), { name: 'TypeError' });
  // The methods live on one class's prototype; an instance made by its constructor, not by watch(), wraps nothing.
  const FdWatcherClass = (Object.getPrototypeOf(watcher) as { constructor: new () => typeof watcher }).constructor;
  assert.equal(FdWatcherClass.name, 'FdWatcher');
  const [r2, w2] = native.pipe();
  const second = native.watch(r2, () => {});
  assert.equal(Object.getPrototypeOf(second), Object.getPrototypeOf(watcher));
  second.close();
  native.close(r2);
  native.close(w2);
  const unwrapped = new FdWatcherClass();
  assert.throws(() => unwrapped.start(READABLE), { name: 'TypeError' });
  assert.throws(() => unwrapped.close(), { name: 'TypeError' });

  watcher.close();
  watcher.close();
  watcher.stop();
  watcher.ref();
  watcher.unref();
  assert.throws(() => watcher.start(READABLE), { code: 'EBADF' });
  assert.throws(() => native.watch(-1, () => {}), { name: 'RangeError' });
  assert.throws(() => native.watch(r + 100000, () => {}), { code: 'EBADF' });
  native.close(r);
  native.close(w);
  assertFdsBack(before);
});

test('watch: an unref\'d watcher lets the process exit; a ref\'d one keeps it for the callback', () => {
  const addon = join(buildDir, 'hatchery_addon.node');
  const script = (mode: string) => `
    const native = require(${JSON.stringify(addon)});
    const [r, w] = native.pipe();
    const watcher = native.watch(r, (events, status) => {
      console.log('fired', events, status);
      watcher.close();
    });
    watcher.start(1);
    if (${JSON.stringify(mode)} === 'ref') {
      watcher.ref();
      setTimeout(() => require('fs').writeSync(w, 'x'), 20);
    }
  `;
  const unrefd = spawnSync(process.execPath, ['-e', script('unref')], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(unrefd.error, undefined);
  assert.equal(unrefd.status, 0, unrefd.stderr);
  assert.equal(unrefd.stdout, '');
  const refd = spawnSync(process.execPath, ['-e', script('ref')], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(refd.error, undefined);
  assert.equal(refd.status, 0, refd.stderr);
  assert.equal(refd.stdout, 'fired 1 0\n');
});
