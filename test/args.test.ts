// argv and env are limited only by the kernel: end to end through the args file
// (a sealed memfd past one datagram), the kernel's own refusals, and malformed
// args files refused with a typed error while the zygote keeps serving.
import assert from 'node:assert/strict';
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, describe, test } from 'node:test';
import { HatcheryError, InvalidOptionRangeError, closeDefaultZygote, run, spawn } from '../src/index.js';
import { loadBinding } from '../src/native/binding.js';
import { normalizeSpawnOptions } from '../src/options/spawn-options.js';
import { EXEC_MAX_TOTAL } from '../src/options/exec-limits.js';
import { ErrorCode, HEADER_SIZE, MAX_MESSAGE, MessageType, Tag, encodeSpawn, type SpawnPlan } from '../src/protocol/wire.js';
import { spawnOn } from '../src/spawn/spawn.js';
import { defaultZygotePid } from '../src/api/default-zygote.js';
import { Zygote, type SpawnCallbacks } from '../src/zygote/zygote.js';
import { descendants, isZygoteTwin, openFds, waitFor } from './helpers.js';

after(() => closeDefaultZygote());

const native = loadBinding();
const numbers = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i));

/** execve's limit for strings + pointers under this process's stack rlimit (the zygote inherits it). */
function kernelArgLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max stack size'));
  const soft = line?.split(/\s{2,}/)[1];
  const stack = soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  return Math.max(32 * native.pageSize(), Math.min(EXEC_MAX_TOTAL, Math.floor(stack / 4)));
}

/** Counts args files made while `body` runs. */
async function countingArgsFiles<T>(body: () => Promise<T>): Promise<{ result: T; files: number }> {
  const original = native.memfdFromBuffer;
  let files = 0;
  native.memfdFromBuffer = (name, data) => {
    files++;
    return original.call(native, name, data);
  };
  try {
    return { result: await body(), files };
  } finally {
    native.memfdFromBuffer = original;
  }
}

function zygoteMaps(pid: number): string {
  return readFileSync(`/proc/${pid}/maps`, 'utf8');
}

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe('argv and env past one datagram', () => {
  test('10,000 arguments reach the program, in order', async () => {
    const { result, files } = await countingArgsFiles(() => run('sh', ['-c', 'echo $# "$1" "${10000}"', 'sh', ...numbers(10_000)]));
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, '10000 0 9999\n');
    assert.equal(files, 1, 'they went in an args file');
  });

  test('10,000 arguments without a sandbox (no pid-namespace init) too', async () => {
    const r = await run('sh', ['-c', 'echo $#', 'sh', ...numbers(10_000)], { sandbox: false });
    assert.equal(r.stdout, '10000\n');
  });

  test('1 MiB of environment in several big variables', async () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 9; i++) env[`BIG${i}`] = String.fromCharCode(97 + i).repeat(120 * 1024);
    const bytes = Object.entries(env).reduce((n, [k, v]) => n + k.length + 1 + v.length + 1, 0);
    assert.ok(bytes >= 1024 * 1024);
    const r = await run('sh', ['-c', 'printenv | wc -c; printenv BIG7 | cksum'], { env });
    const [total, sum] = r.stdout.trim().split('\n');
    assert.ok(Number(total) >= bytes, `printenv printed ${total} bytes, expected at least ${bytes}`);
    const expected = spawnSync('cksum', { input: `${env.BIG7}\n`, encoding: 'utf8' }).stdout.trim();
    assert.equal(sum, expected.replace(/ -$/, ''));
  });

  test('a single 100 KiB argument arrives intact, inline or beside others in an args file', async () => {
    const big = Array.from({ length: 100 * 1024 }, (_, i) => String.fromCharCode(33 + (i % 90))).join('');
    const one = await run('sh', ['-c', 'printf %s "$1"', 'sh', big]);
    assert.equal(one.stdout, big);
    const { result, files } = await countingArgsFiles(() => run('sh', ['-c', 'printf %s "$2"', 'sh', big, big]));
    assert.equal(result.stdout, big);
    assert.equal(files, 1);
  });

  test('an ordinary argv stays inline: no args file, no memfd', async () => {
    const { result, files } = await countingArgsFiles(() => run('/bin/echo', numbers(10)));
    assert.equal(result.stdout, `${numbers(10).join(' ')}\n`);
    assert.equal(files, 0);
  });

  test('an args file leaves nothing behind: no fd in Node, no mapping or extra memory in the zygote', async () => {
    await run('/bin/true');
    const zpid = await defaultZygotePid();
    assert.ok(zpid);
    // The exit is reported before the init's own exit; the zygote holds its pidfd until it has reaped it.
    const settled = (): Promise<void> => waitFor(() => descendants(zpid).every(isZygoteTwin), 5000, 'the zygote to reap its last init');
    // Not counted: the network/IPC/UTS namespace fds of the stock (a root zygote's or its twin's, in the same fd table) and the used sets closed in batches.
    const zygoteFds = (): number =>
      readdirSync(`/proc/${zpid}/fd`).filter((fd) => {
        try {
          return !/^(net|ipc|uts):\[/.test(readlinkSync(`/proc/${zpid}/fd/${fd}`));
        } catch {
          return false;
        }
      }).length;
    // An init is gone from /proc when reaped, a moment before the zygote closes its pidfd and pipes: count once they stay put.
    const steadyFds = async (): Promise<number> => {
      let last = -1;
      await waitFor(() => {
        const n = zygoteFds();
        const steady = n === last;
        last = n;
        return steady;
      }, 5000, "the zygote's fds to stay put");
      return last;
    };
    await settled();
    const zygoteFdsBefore = await steadyFds();
    const env = { HUGE: 'h'.repeat(120 * 1024) };
    const r = await run('sh', ['-c', 'echo $#', 'sh', ...numbers(50_000)], { env });
    assert.equal(r.stdout, '50000\n');
    assert.equal(await defaultZygotePid(), zpid, 'the same zygote served it');
    assert.deepEqual(openFds().filter((fd) => fd.includes('memfd:')), [], 'the memfd was closed once sent');
    await settled();
    assert.equal(await steadyFds(), zygoteFdsBefore);
    assert.doesNotMatch(zygoteMaps(zpid), /hatchery-args/);
    const rss = rssKb(zpid);
    assert.ok(rss <= 2048, `idle zygote RSS ${rss} kB after a 50,000-argument spawn`);
  });
});

test('a long-running program spawned with an args file: no process of its tree keeps the mapping', async () => {
  // With a pid namespace the zygote's child stays as the namespace's init: it unmaps the args file once the program has exec'd.
  const handle = await spawn('sh', ['-c', 'echo ready; exec sleep 30', 'sh', ...numbers(10_000)], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const [first] = (await once(handle.stdout!, 'data')) as [Buffer];
    assert.equal(first.toString(), 'ready\n');
    const zpid = await defaultZygotePid();
    assert.ok(zpid);
    let readable = 0;
    for (const p of descendants(zpid)) {
      let maps: string;
      try {
        maps = zygoteMaps(p.pid);
      } catch {
        continue; // another uid's, and we are not root
      }
      readable++;
      assert.doesNotMatch(maps, /hatchery-args/, `${p.comm} (${p.pid}) still maps the args file`);
    }
    // The init is not dumpable: only CAP_SYS_PTRACE reads its maps (root in a container often lacks it).
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
    const CAP_SYS_PTRACE = 19n;
    if ((capEff >> CAP_SYS_PTRACE) & 1n) assert.ok(readable > 0, 'with CAP_SYS_PTRACE every map of the tree is readable');
  } finally {
    handle.killTree('SIGKILL');
    await handle.exited;
  }
});

describe('past the kernel\'s limits: a typed error naming the limit', () => {
  const limit = kernelArgLimit();
  const threeMiB = Array.from({ length: 30 }, () => 'z'.repeat(100 * 1024)); // 3,072,030 bytes of strings
  const fits = 3 * 1024 * 1024 <= limit;

  test('3 MiB of arguments: EXEC_FAILED at stage exec with E2BIG', { skip: fits ? `the stack rlimit lets execve take ${limit} bytes` : false }, async () => {
    for (const sandbox of [undefined, false] as const) {
      await assert.rejects(run('/bin/true', threeMiB, sandbox === false ? { sandbox } : {}), (e: unknown) => {
        assert.ok(e instanceof HatcheryError, String(e));
        assert.equal(e.code, 'EXEC_FAILED');
        assert.equal(e.stage, 'exec');
        assert.equal(e.errnoName, 'E2BIG');
        return true;
      });
    }
    assert.equal((await run('/bin/echo', ['after'])).stdout, 'after\n', 'the zygote kept serving');
  });

  test('a single 200 KiB argument: INVALID_OPTION naming args[1] and the number', async () => {
    await assert.rejects(run('/bin/echo', ['fine', 'w'.repeat(200 * 1024)]), (e: unknown) => {
      assert.ok(e instanceof InvalidOptionRangeError, String(e));
      assert.equal(e.code, 'INVALID_OPTION');
      assert.equal(e.option, 'args[1]');
      assert.match(e.message, /204801 bytes.*at most 131072/);
      return true;
    });
  });

  test('more than 6 MiB in all: INVALID_OPTION naming args, before any zygote is asked', async () => {
    const many = Array.from({ length: 70 }, () => 'm'.repeat(100 * 1024));
    await assert.rejects(run('/bin/true', many), { code: 'INVALID_OPTION', option: 'args' });
  });
});

// ---- malformed args files: refused with a typed error, the zygote survives ----

interface Refusal {
  code: number;
  message: string;
}

/** Send raw bytes and fds as request `id`; resolves with the zygote's ERROR (code and reason). */
function refusal(z: Zygote, message: Buffer, fds: number[]): Promise<Refusal> {
  const id = message.readUInt32LE(4);
  const pending = (z as unknown as { pending: Map<number, { id: number; callbacks: SpawnCallbacks }> }).pending;
  const socket = (z as unknown as { socket: number }).socket;
  return new Promise<Refusal>((resolve, reject) => {
    pending.set(id, {
      id,
      callbacks: {
        spawned: (pid) => reject(new Error(`request ${id} was spawned as ${pid}`)),
        failed: (stage, errno) => reject(new Error(`request ${id} failed at stage ${stage}, errno ${errno}`)),
        exit: () => reject(new Error(`request ${id} exited`)),
        died: (e) => {
          const m = /refused request \d+: (.*) \(code (\d+)\)$/.exec(e.message);
          if (!m || e.code !== 'PROTOCOL') reject(e);
          else resolve({ code: Number(m[2]), message: m[1]! });
        },
      },
    });
    z.updateRef();
    const sent = native.sendMessage(socket, message, fds);
    if (sent !== message.length) reject(new Error(`sendMessage: ${sent}`));
  });
}

const plan: SpawnPlan = { file: '/bin/echo', argv: ['echo', 'hi'], env: ['A=1'], rlimits: [], flags: 0 };
/** Byte offset of the ARGS_FD length in a SPAWN of `plan` with an args file: header, FILE (24), ARGS_FD header. */
const ARGS_FD_LENGTH_AT = HEADER_SIZE + 24 + 8;

function withFile(id: number, declared?: number): { message: Buffer; file: Buffer } {
  const { message, argsFile } = encodeSpawn(id, plan, { args: 'file' });
  assert.ok(argsFile);
  assert.equal(message.readUInt16LE(HEADER_SIZE + 24), Tag.ArgsFd);
  if (declared !== undefined) message.writeBigUInt64LE(BigInt(declared), ARGS_FD_LENGTH_AT);
  return { message, file: argsFile };
}

function tmpFileWith(data: Buffer): number {
  const O_TMPFILE = 0o20000000 | 0o200000; // __O_TMPFILE | O_DIRECTORY
  const fd = openSync(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), O_TMPFILE | 2 /* O_RDWR */, 0o600);
  writeSync(fd, data, 0, data.length, 0);
  return fd;
}

/** A memfd sealed against shrinking and growing but not writing, made by python (Node cannot make one). */
async function partlySealedMemfd(data: Buffer): Promise<{ fd: number; done: () => void } | null> {
  if (!existsSync('/usr/bin/python3')) return null;
  const script = [
    'import fcntl, os, sys, time',
    "fd = os.memfd_create('partly', os.MFD_ALLOW_SEALING)",
    'os.write(fd, sys.stdin.buffer.read())',
    'fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)',
    'print(os.getpid(), fd, flush=True)',
    'time.sleep(30)',
  ].join('\n');
  const child = spawnChild('/usr/bin/python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.end(data);
  let line = '';
  while (!line.includes('\n')) line += String(((await once(child.stdout, 'data')) as [Buffer])[0]);
  const [pid, fd] = line.trim().split(/\s+/);
  // The same file through /proc: seals belong to the file, not the fd.
  const ours = openSync(`/proc/${pid}/fd/${fd}`, 'r');
  return { fd: ours, done: () => (closeSync(ours), child.kill('SIGKILL')) };
}

describe('malformed args files', () => {
  test('are refused with a typed error, leak no fd, and the zygote keeps serving', async () => {
    const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
    const devNull = native.openDevNull();
    const stdio = [devNull, devNull, devNull];
    const made: number[] = [];
    const memfd = (b: Buffer): number => {
      const fd = native.memfdFromBuffer('test-args', b);
      made.push(fd);
      return fd;
    };
    try {
      const zygoteFds = readdirSync(`/proc/${z.pid}/fd`).length;
      let id = 1000;
      const expect = async (what: string, message: Buffer, fds: number[], code: number, reason: RegExp): Promise<void> => {
        const r = await refusal(z, message, fds);
        assert.equal(r.code, code, `${what}: ${r.message}`);
        assert.match(r.message, reason, what);
      };

      const good = withFile(++id);
      // The well-formed request, for contrast: it runs.
      const ok = withFile(++id);
      const okDone = new Promise<string>((resolve, reject) => {
        const pending = (z as unknown as { pending: Map<number, { id: number; callbacks: SpawnCallbacks }> }).pending;
        const mid = ok.message.readUInt32LE(4);
        pending.set(mid, {
          id: mid,
          callbacks: { spawned: (_pid, pidfd) => native.close(pidfd), failed: (s, e) => reject(new Error(`${s} ${e}`)), exit: (info) => resolve(`exit ${info.exitCode}`), died: reject },
        });
        z.updateRef();
        assert.equal(native.sendMessage((z as unknown as { socket: number }).socket, ok.message, [...stdio, memfd(ok.file)]), ok.message.length);
      });
      assert.equal(await okDone, 'exit 0');

      // Truncated: the file ends inside its last record.
      const cut = withFile(++id, 40);
      await expect('truncated', cut.message, [...stdio, memfd(cut.file.subarray(0, 40))], ErrorCode.Malformed, /runs past the end/);
      // Wrong length: ARGS_FD says more (or less) than the file holds.
      const longer = withFile(++id, 56);
      await expect('declared longer', longer.message, [...stdio, memfd(longer.file)], ErrorCode.Malformed, /size disagrees/);
      const shorter = withFile(++id, 32);
      await expect('declared shorter', shorter.message, [...stdio, memfd(shorter.file)], ErrorCode.Malformed, /size disagrees/);
      const odd = withFile(++id, 44);
      await expect('length not a multiple of 8', odd.message, [...stdio, memfd(odd.file)], ErrorCode.Malformed, /multiple of 8/);
      const zero = withFile(++id, 0);
      await expect('length 0', zero.message, [...stdio, memfd(Buffer.alloc(0))], ErrorCode.Malformed, /multiple of 8/);
      const huge = withFile(++id, 17 * 1024 * 1024);
      await expect('length past 16 MiB', huge.message, [...stdio, memfd(huge.file)], ErrorCode.Malformed, /16 MiB/);
      // Unknown tag inside, and a tag that is valid in a body but not in an args file.
      for (const [what, tag] of [['unknown tag 99', 99], ['a CWD record', Tag.Cwd], ['a nested ARGS_FD', Tag.ArgsFd]] as const) {
        const extra = Buffer.alloc(16);
        extra.writeUInt16LE(tag, 0);
        extra.writeUInt32LE(tag === Tag.ArgsFd ? 8 : 2, 4);
        extra.write('/', 8);
        const r = withFile(++id, good.file.length + 16);
        await expect(what, r.message, [...stdio, memfd(Buffer.concat([good.file, extra]))], ErrorCode.Malformed, /other than ARG or ENV/);
      }
      // A string without its NUL, an inner NUL, nonzero padding, only ENV records.
      const noNul = Buffer.from(good.file);
      noNul[8 + 4] = 0x21; // "echo\0" -> "echo!"
      await expect('string without NUL', withFile(++id).message, [...stdio, memfd(noNul)], ErrorCode.Malformed, /NUL/);
      const padded = Buffer.from(good.file);
      padded[15] = 1;
      await expect('nonzero padding', withFile(++id).message, [...stdio, memfd(padded)], ErrorCode.Malformed, /padding/);
      const envOnly = Buffer.from(good.file.subarray(32)); // the ENV record alone (16 bytes)
      await expect('no ARG record', withFile(++id, 16).message, [...stdio, memfd(envOnly)], ErrorCode.Malformed, /without arguments/);

      // Fds that are not a sealed memfd.
      const [r, w] = native.pipe();
      made.push(r, w);
      await expect('a pipe', withFile(++id).message, [...stdio, r], ErrorCode.BadFds, /not a regular file/);
      await expect('/dev/null', withFile(++id).message, [...stdio, devNull], ErrorCode.BadFds, /not a regular file/);
      const dir = openSync('/', 'r');
      made.push(dir);
      await expect('a directory', withFile(++id).message, [...stdio, dir], ErrorCode.BadFds, /not a regular file/);
      // A regular file with the right bytes but no seals: its size could change under the mapping.
      const plain = tmpFileWith(good.file);
      made.push(plain);
      await expect('an unsealed file', withFile(++id).message, [...stdio, plain], ErrorCode.BadFds, /not a memfd sealed/);
      ftruncateSync(plain, good.file.length + 8); // its size changes: still refused, before any mapping
      await expect('an unsealed file that grew', withFile(++id, good.file.length + 8).message, [...stdio, plain], ErrorCode.BadFds, /not a memfd sealed/);
      const partly = await partlySealedMemfd(good.file);
      assert.ok(partly || !existsSync('/usr/bin/python3'));
      if (partly) {
        try {
          await expect('a memfd without F_SEAL_WRITE', withFile(++id).message, [...stdio, partly.fd], ErrorCode.BadFds, /not a memfd sealed/);
        } finally {
          partly.done();
        }
      }

      // The fd count and the ARGS_FD record go together.
      await expect('ARGS_FD with 3 fds', withFile(++id).message, stdio, ErrorCode.BadFds, /4th fd/);
      const inline = encodeSpawn(++id, plan);
      assert.equal(inline.argsFile, null);
      await expect('a 4th fd without ARGS_FD', inline.message, [...stdio, memfd(good.file)], ErrorCode.BadFds, /4th fd/);
      // (5 fds: the addon will not send them; native/test/protocol_golden.c pins the zygote's refusal.)
      // ARG records inline beside ARGS_FD.
      const both = withFile(++id);
      const arg = Buffer.from('0200000002000000' + '7800000000000000', 'hex');
      const body = Buffer.concat([both.message.subarray(HEADER_SIZE), arg]);
      const mixed = Buffer.concat([both.message.subarray(0, HEADER_SIZE), body]);
      mixed.writeUInt32LE(body.length, 8);
      await expect('ARGS_FD with an inline ARG', mixed, [...stdio, memfd(good.file)], ErrorCode.Malformed, /ARG or ENV records in its body/);

      // Still serving: a ping, and a real spawn with 10,000 arguments on the same zygote.
      assert.ok(z.alive);
      assert.ok((await z.ping()) >= 0);
      assert.equal(readdirSync(`/proc/${z.pid}/fd`).length, zygoteFds, 'the zygote closed every fd it was sent');
      assert.doesNotMatch(zygoteMaps(z.pid), /test-args|memfd:partly/);
      const options = normalizeSpawnOptions({ sandbox: false }, [], ['ignore', 'pipe', 'ignore']);
      const spawned = await spawnOn(z, 'sh', ['-c', 'echo $#', 'sh', ...numbers(10_000)], options);
      const out: Buffer[] = [];
      for await (const chunk of spawned.handle.stdout!) out.push(chunk as Buffer);
      assert.equal(Buffer.concat(out).toString(), '10000\n');
      assert.equal((await spawned.handle.exited).exitCode, 0);
    } finally {
      for (const fd of made) {
        try {
          closeSync(fd);
        } catch {
          // closed already
        }
      }
      native.close(devNull);
      z.close();
    }
  });

  test('an args file the zygote cannot map: EXEC_FAILED at stage clone with the errno; it keeps serving', { skip: !existsSync('/usr/bin/prlimit') && 'no prlimit' }, async () => {
    const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
    try {
      const vmKb = Number(/^VmSize:\s+(\d+)/m.exec(readFileSync(`/proc/${z.pid}/status`, 'utf8'))?.[1]);
      const soft = (vmKb + 512) * 1024;
      assert.equal(spawnSync('/usr/bin/prlimit', ['--pid', String(z.pid), `--as=${soft}:unlimited`]).status, 0);
      const options = normalizeSpawnOptions({ sandbox: false }, [], ['ignore', 'ignore', 'ignore']);
      const big = Array.from({ length: 15 }, () => 'm'.repeat(100 * 1024)); // a 1.5 MiB args file, within execve's 2 MiB
      await assert.rejects(spawnOn(z, '/bin/true', big, options), (e: unknown) => {
        assert.ok(e instanceof HatcheryError, String(e));
        assert.equal(e.code, 'EXEC_FAILED');
        assert.equal(e.stage, 'clone');
        assert.equal(e.errnoName, 'ENOMEM');
        return true;
      });
      assert.doesNotMatch(zygoteMaps(z.pid), /hatchery-args/);
      assert.equal(spawnSync('/usr/bin/prlimit', ['--pid', String(z.pid), '--as=unlimited:unlimited']).status, 0);
      const ok = await spawnOn(z, '/bin/true', big, options);
      assert.equal((await ok.handle.exited).exitCode, 0);
    } finally {
      z.close();
    }
  });

  test('the zygote reports its limits and the Zygote holds to them', async () => {
    const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
    try {
      assert.equal(z.maxMessage, MAX_MESSAGE);
      assert.equal(z.maxChildren, 256);
      // A zygote that said it takes fewer children gets no more requests than that.
      z.maxChildren = 1;
      const devNull = native.openDevNull();
      const first = new Promise<void>((resolve, reject) => {
        z.spawn({ ...plan, file: '/bin/sleep', argv: ['sleep', '0.2'] }, [devNull, devNull, devNull], [], {
          spawned: (_pid, pidfd) => native.close(pidfd),
          failed: (s, e) => reject(new Error(`${s} ${e}`)),
          exit: () => resolve(),
          died: reject,
        });
      });
      const extra = native.openDevNull();
      assert.throws(
        () => z.spawn(plan, [extra, extra, extra], [extra], { spawned() {}, failed() {}, exit() {}, died() {} }),
        (e: unknown) => e instanceof HatcheryError && e.code === 'QUEUE_FULL' && /1 children/.test(e.message),
      );
      assert.throws(() => native.close(extra), { code: 'EBADF' }, 'the refused request closed its fds');
      await first;
      native.close(devNull);
      // And one whose datagrams are smaller gets an args file sooner.
      z.maxMessage = 4096;
      const { files } = await countingArgsFiles(async () => {
        const options = normalizeSpawnOptions({ sandbox: false }, [], ['ignore', 'pipe', 'ignore']);
        const spawned = await spawnOn(z, '/bin/echo', numbers(1000), options);
        spawned.handle.stdout!.resume();
        return spawned.handle.exited;
      });
      assert.equal(files, 1);
    } finally {
      z.close();
    }
  });

  test('a HELLO_OK with unusable limits is a PROTOCOL error', { skip: !existsSync('/usr/bin/python3') && 'no python3' }, async () => {
    // A stand-in zygote that answers the handshake with maxMessage 100.
    const script = [
      'import os, socket, struct',
      's = socket.socket(fileno=3)',
      's.recv(64)',
      `s.send(struct.pack('<HHII', ${MessageType.HelloOk}, 0, 0, 16) + struct.pack('<IIII', 1, os.getpid(), 100, 256))`,
      's.recv(64)',
    ].join('\n');
    await assert.rejects(
      Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000, command: { path: '/usr/bin/python3', argv: ['python3', '-c', script] } }),
      (e: unknown) => e instanceof HatcheryError && e.code === 'PROTOCOL' && /unusable limits \(maxMessage 100, maxChildren 256\)/.test(e.message),
    );
  });
});
