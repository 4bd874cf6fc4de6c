// Zygote faults: SIGKILL mid-run, SIGSTOP, idle exit, EOF, malformed input.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { HatcheryError, closeDefaultZygote, run, spawn } from '../src/index.js';
import { defaultZygotePid } from '../src/api/default-zygote.js';
import { Zygote } from '../src/zygote/zygote.js';
import { loadBinding } from '../src/native/binding.js';
import { Stage, stageName } from '../src/protocol/wire.js';
import { isAlive, leftBehind, openFds, startTimeOf, waitFor, descendants, processes } from './helpers.js';
import { setTimeout as sleep } from 'node:timers/promises';

after(() => closeDefaultZygote());

test('a zygote killed with SIGKILL mid-run: ZYGOTE_DIED once, then the next run works', async () => {
  const child = await spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  const pending = run('/bin/sleep', ['30']);
  const zpid = await defaultZygotePid();
  assert.ok(zpid);
  process.kill(zpid, 'SIGKILL');
  await assert.rejects(child.exited, (e: unknown) => e instanceof HatcheryError && e.code === 'ZYGOTE_DIED');
  await assert.rejects(pending, (e: unknown) => e instanceof HatcheryError && e.code === 'ZYGOTE_DIED');
  await waitFor(() => !isAlive(child.pid), 2000, 'the orphaned child to die by PDEATHSIG');
  const r = await run('/bin/echo', ['again']);
  assert.equal(r.stdout, 'again\n');
  assert.notEqual(await defaultZygotePid(), zpid);
});

test('a zygote stopped with SIGSTOP: the caller deadline fires, it is killed and replaced', async () => {
  await run('/bin/true');
  const zpid = await defaultZygotePid();
  assert.ok(zpid);
  const started = Date.now();
  // Stopped once the program runs (SPAWNED): from then on only the caller deadline (timeout + grace + 2 s) applies.
  const child = await spawn('/bin/sleep', ['30'], { stdio: 'ignore', timeoutMs: 200, killGraceMs: 100 });
  process.kill(zpid, 'SIGSTOP');
  await assert.rejects(child.exited, (e: unknown) => e instanceof HatcheryError && e.code === 'ZYGOTE_DIED' && /did not/.test(e.message));
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 200 + 100 + 2000 + 1500, `deadline took ${elapsed} ms`);
  await waitFor(() => !isAlive(zpid), 2000, 'the stopped zygote to be killed');
  const r = await run('/bin/echo', ['replaced']);
  assert.equal(r.stdout, 'replaced\n');
});

test('a child still waiting for the zygote\'s word exits when the zygote dies before sending it', async (t) => {
  // The window is the zygote's id-map write, between clone and the word: stop the zygote at random points
  // until a child of it sits in read(2) on the sync pipe, then kill the zygote there.
  const native = loadBinding();
  const { readFileSync } = await import('node:fs');
  const userNsPlan = {
    file: '/bin/true',
    argv: ['true'],
    env: [],
    rlimits: [],
    flags: 0,
    namespaces: { cloneFlags: 0x10000000 /* CLONE_NEWUSER */, insideUid: 0, insideGid: 0, options: 0 },
  };
  const childrenOf = (pid: number): number[] => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const inRead = (pid: number): boolean => {
    try {
      return readFileSync(`/proc/${pid}/syscall`, 'utf8').startsWith('0 ');
    } catch {
      return false;
    }
  };
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
  let waiting: number | undefined;
  try {
    for (let attempt = 0; attempt < 3000 && waiting === undefined; attempt++) {
      const devNull = native.openDevNull();
      const outcome = new Promise<string>((resolve) => {
        z.spawn(userNsPlan, [devNull, devNull, devNull], [devNull], {
          spawned: (_pid, pidfd) => {
            native.close(pidfd);
            resolve('spawned');
          },
          failed: (stage, errno) => resolve(`failed at stage ${stage}, errno ${errno}`),
          exit: () => {},
          died: (error) => resolve(error.message),
        });
      });
      const spinUntil = process.hrtime.bigint() + BigInt(Math.floor(Math.random() * 1_500_000));
      while (process.hrtime.bigint() < spinUntil);
      process.kill(z.pid, 'SIGSTOP');
      await waitFor(() => /^State:\s+T/m.test(readFileSync(`/proc/${z.pid}/status`, 'utf8')), 2000, 'the zygote to stop');
      waiting = childrenOf(z.pid).find(inRead);
      if (waiting !== undefined) break;
      process.kill(z.pid, 'SIGCONT');
      const said = await outcome;
      if (attempt === 0 && said !== 'spawned') {
        t.skip(`no user namespaces here (${said})`);
        return;
      }
    }
    assert.ok(waiting !== undefined, 'no stop landed between clone and the word in 3000 tries');
    const zpid = z.pid;
    process.kill(zpid, 'SIGKILL');
    await waitFor(() => !isAlive(zpid), 2000, 'the zygote to die');
    await waitFor(() => !isAlive(waiting as number), 3000, 'the child to give up waiting for the word');
  } finally {
    if (waiting !== undefined && isAlive(waiting)) process.kill(waiting, 'SIGKILL');
    z.close();
  }
});

test('a zygote exits after its idle timeout, and on control-socket EOF', async () => {
  const idle = await Zygote.start({ idleTimeoutMs: 150, startTimeoutMs: 5000 });
  assert.ok(isAlive(idle.pid));
  await waitFor(() => !idle.alive, 3000, 'idle zygote to exit');
  const eof = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
  const pid = eof.pid;
  eof.close();
  await waitFor(() => !isAlive(pid), 3000, 'zygote to exit on EOF');
});

test('a closed zygote ends its children and reaps them before it exits: none is left for the host to reap', async () => {
  const native = loadBinding();
  const sleeper = { file: '/bin/sleep', argv: ['sleep', '30'], env: [], rlimits: [], flags: 0 };
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
  const devNull = native.openDevNull();
  const child = await new Promise<number>((resolve, reject) => {
    z.spawn(sleeper, [devNull, devNull, devNull], [devNull], {
      spawned: (pid, pidfd) => {
        native.close(pidfd);
        resolve(pid);
      },
      failed: (stage, errno) => reject(new Error(`failed at ${stageName(stage)}, errno ${errno}`)),
      exit: () => {},
      died: () => {},
    });
  });
  const zpid = z.pid;
  const seen = new Map([zpid, child].map((pid) => [pid, startTimeOf(pid)]));
  z.close();
  // Killed at once (as close() did before), its child would die of its parent-death signal and be the host's to reap.
  await waitFor(() => !isAlive(zpid), 3000, 'the zygote to exit');
  await waitFor(() => startTimeOf(zpid) === undefined, 3000, 'the zygote to be reaped');
  assert.deepEqual(leftBehind(seen), [], 'processes left for the host to reap after close()');
});

test('the zygote refuses malformed and oversized messages and keeps serving', async () => {
  const native = loadBinding();
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
  try {
    const socket = (z as unknown as { socket: number }).socket;
    const bad = [
      Buffer.from([1, 2, 3]), // shorter than a header
      Buffer.from('0300000001000000ffff0000', 'hex'), // body length lies
      Buffer.from('6300000001000000' + '00000000', 'hex'), // unknown type 99
      Buffer.from('0300010001000000' + '00000000', 'hex'), // nonzero flags
      Buffer.concat([Buffer.from('030000000100000008000000', 'hex'), Buffer.from('0100000040000000', 'hex')]), // TLV past the end, no fds
    ];
    for (const b of bad) assert.equal(native.sendMessage(socket, b, []), b.length);
    assert.ok((await z.ping()) >= 0, 'still answers after malformed input');
    assert.ok(z.alive);
  } finally {
    z.close();
  }
});

test('the zygote is a single-threaded process and not a fork of Node', async () => {
  await run('/bin/true');
  const zpid = await defaultZygotePid();
  assert.ok(zpid);
  const { readFileSync } = await import('node:fs');
  const status = readFileSync(`/proc/${zpid}/status`, 'utf8');
  assert.match(status, /^Threads:\s+1$/m);
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
  assert.ok(rssKb < 8 * 1024, `zygote RSS ${rssKb} kB`);
  assert.match(readFileSync(`/proc/${zpid}/cmdline`, 'utf8'), /hatchery-zygote/);
  assert.ok(descendants().some((p) => p.pid === zpid));
});

test('a root zygote closes the namespaces of finished operations in batches, and soon when idle', { skip: process.getuid?.() !== 0 ? 'only a root zygote stocks namespaces' : false }, async () => {
  const { readdirSync, readlinkSync } = await import('node:fs');
  await run('/bin/true');
  const zpid = await defaultZygotePid();
  assert.ok(zpid);
  const nsFds = (kind = '(net|ipc|uts)'): number =>
    readdirSync(`/proc/${zpid}/fd`).filter((fd) => {
      try {
        return new RegExp(`^${kind}:\\[`).test(readlinkSync(`/proc/${zpid}/fd/${fd}`));
      } catch {
        return false;
      }
    }).length;
  // Its own three, at most two stocked sets, at most 16 clean network namespaces waiting to serve again, at most 24
  // fds waiting to be closed together, and the one an operation not reaped yet still holds (native/ns_stock.c).
  const OWN = 3, STOCKED = 2 * 3, CLEAN_MAX = 16, USED_MAX = 8 * 3, HELD = 1;
  let most = 0, mostIpc = 0;
  for (let i = 0; i < 12; i++) {
    await run('/bin/true');
    most = Math.max(most, nsFds());
    mostIpc = Math.max(mostIpc, nsFds('ipc'));
  }
  assert.ok(most <= OWN + STOCKED + CLEAN_MAX + USED_MAX + HELD, `${most} namespace fds held`);
  // IPC namespaces serve one operation each: a used one waits for its batch beside the zygote's own and the stocked ones.
  assert.ok(mostIpc > 1 + 2, `used namespaces wait for a batch (${mostIpc} IPC namespace fds)`);
  await waitFor(() => nsFds('(ipc|uts)') <= 2 * (1 + 2) && nsFds('net') <= 1 + 2 + CLEAN_MAX, 2000, 'the used namespaces to be closed once idle');
});

test('a failed id-map write is reported at the userns stage with its own errno, not as a closed pipe', async (t) => {
  const native = loadBinding();
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
  try {
    const devNull = native.openDevNull();
    // uid (and gid) 4294967295 is no uid: the kernel refuses the map with EINVAL.
    const outcome = await new Promise<{ stage: number; errno: number } | string>((resolve) => {
      z.spawn(
        {
          file: '/bin/true',
          argv: ['true'],
          env: [],
          rlimits: [],
          flags: 0,
          namespaces: { cloneFlags: 0x10000000, insideUid: 0xffffffff, insideGid: 0xffffffff, options: 0 },
        },
        [devNull, devNull, devNull],
        [devNull],
        {
          spawned: (_pid, pidfd) => {
            native.close(pidfd);
            resolve('spawned');
          },
          failed: (stage, errno) => resolve({ stage, errno }),
          exit: () => {},
          died: (error) => resolve(error.message),
        },
      );
    });
    if (typeof outcome === 'object' && outcome.stage === Stage.Clone) {
      t.skip(`no user namespaces here (clone: errno ${outcome.errno})`);
      return;
    }
    assert.deepEqual(outcome, { stage: Stage.Userns, errno: 22 /* EINVAL */ });
  } finally {
    z.close();
  }
});

test("replies the socket cannot take while the caller's loop is busy wait in the zygote; nothing is lost and the zygote lives", async () => {
  const { spawnOn } = await import('../src/spawn/spawn.js');
  const { prepareRun } = await import('../src/spawn/run.js');
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
  try {
    const pb = prepareRun('/bin/sleep', ['3'], { sandbox: false });
    const bystander = await spawnOn(z, pb.cmd.file, pb.cmd.args, pb.normalized, { rawOutput: true });
    // 200 short operations: 400 replies, more than a socket buffer holds (about 278 small datagrams).
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const p = prepareRun('/bin/true', [], { sandbox: false, stdio: ['ignore', 'ignore', 'ignore'] });
      ops.push(spawnOn(z, p.cmd.file, p.cmd.args, p.normalized, { rawOutput: true }).then((s) => s.handle.exited));
    }
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      // the caller's event loop busy for 2 s (a big JSON.parse, a synchronous crypto call...)
    }
    const settled = await Promise.allSettled(ops);
    const failed = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of 200 failed`);
    assert.equal((await bystander.handle.exited).exitCode, 0, 'the long operation beside them was lost');
    assert.equal(z.alive, true);
    assert.equal((await run('/bin/echo', ['after'], { sandbox: false })).stdout, 'after\n');
  } finally {
    z.close();
  }
});

test('a zygote killed while Node drains its replies (the socket reset) fails what waits with ZYGOTE_DIED, and throws nothing', async () => {
  const native = loadBinding();
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    const plan = { file: '/bin/true', argv: ['/bin/true'], env: [], rlimits: [], flags: 0 };
    let killed = false;
    const stateOf = (): string => {
      try {
        return readFileSync(`/proc/${z.pid}/stat`, 'utf8').split(') ')[1]![0]!;
      } catch {
        return 'gone';
      }
    };
    for (let i = 0; i < 10; i++) {
      const nul = native.openDevNull();
      z.spawn(plan, [nul, nul, nul], [nul], {
        spawned(_pid, pidfd) {
          native.close(pidfd);
          if (killed) return;
          killed = true;
          process.kill(z.pid, 'SIGKILL');
          while (stateOf() !== 'Z' && stateOf() !== 'gone') {
            // until the kernel has closed its end, with a request of ours unread (the reset)
          }
        },
        failed() {},
        exit() {},
        died() {},
      });
    }
    const end = Date.now() + 300;
    while (Date.now() < end) {
      // replies pile up in our receive queue
    }
    process.kill(z.pid, 'SIGSTOP');
    while (stateOf() !== 'T') {
      // stopped before Node's loop runs again: the ping below stays unread
    }
    const ping = z.ping().then(
      () => 'answered',
      (e: HatcheryError) => e.code,
    ); // a request the zygote never reads: its death resets the socket
    assert.equal(await ping, 'ZYGOTE_DIED');
    assert.deepEqual(uncaught, []);
    assert.equal(z.alive, false);
  } finally {
    process.off('uncaughtException', onUncaught);
    z.close();
  }
});

/**
 * A zygote built from binding.gyp's hatchery-zygote sources with `define` set (a test-only mode of
 * native/child.c's init), started for `use` and closed after it, its build dir removed.
 */
async function withTestZygote(define: string, use: (z: Zygote) => Promise<void>): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { packageRoot } = await import('../src/native/binding.js');
  const gyp = readFileSync(join(packageRoot, 'binding.gyp'), 'utf8');
  const target = gyp.slice(gyp.indexOf('"hatchery-zygote"'));
  const sources = [...target.slice(0, target.indexOf(']')).matchAll(/"(native\/[a-z_]+\.c)"/g)].map((m) => join(packageRoot, m[1]!));
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-test-zygote-'));
  try {
    const path = join(dir, 'hatchery-zygote');
    execFileSync('cc', ['-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', `-D${define}`, '-O2', '-o', path, ...sources], { stdio: 'inherit' });
    const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000, command: { path, argv: ['hatchery-zygote'] } });
    try {
      await use(z);
    } finally {
      z.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a TWIN whose pidfd is not of the zygote's child is refused: the zygote is killed as a protocol breaker, and Node keeps no pidfd of it", async () => {
  // A zygote built with HATCH_TEST_FALSE_TWIN sends, right after its handshake, a TWIN carrying its own pidfd.
  const before = openFds();
  await withTestZygote('HATCH_TEST_FALSE_TWIN', async (z) => {
    await waitFor(() => z.state === 'dead', 5000, 'the zygote to be refused');
    assert.equal(z.deathReason?.code, 'PROTOCOL');
    assert.match(z.deathReason?.message ?? '', /namespace twin \(pid \d+\) whose pidfd is not of its child/);
    const hold = setTimeout(() => {}, 5000); // the zygote's own watchers never keep the loop alive
    await z.reaped;
    clearTimeout(hold);
  });
  // Only new fds count: an earlier test's zygote may close its own pidfd meanwhile.
  const known = new Set(before);
  assert.deepEqual(openFds().filter((fd) => !known.has(fd)), [], 'an fd of the refused TWIN (or of its zygote) is still open');
});

test('an init that says "tree gone" while its tree runs (a taken-over init) is killed with its namespace at the early EXIT', async (t) => {
  // A zygote built from the same sources with HATCH_TEST_LYING_INIT: its init reports the program's exit and
  // an empty namespace right after the exec, and carries on.
  await withTestZygote('HATCH_TEST_LYING_INIT', async (z) => {
    const { spawnOn } = await import('../src/spawn/spawn.js');
    const { prepareRun, collectRun } = await import('../src/spawn/run.js');
    const marker = `lying-init-${process.pid}`;
    const prepared = prepareRun('/bin/sh', ['-c', `sleep 0.3; echo late; exec sleep 20 ${marker}`], { timeoutMs: 5000 });
    const started = Date.now();
    const spawned = await spawnOn(z, prepared.cmd.file, prepared.cmd.args, prepared.normalized, { rawOutput: true });
    const r = await collectRun(spawned, prepared);
    t.diagnostic(`run() resolved after ${Date.now() - started} ms: ${JSON.stringify({ exitCode: r.exitCode, stdout: r.stdout })}`);
    assert.ok(Date.now() - started < 3000, `run() waited ${Date.now() - started} ms for a tree its init called gone`);
    assert.equal(r.stdout, '', 'the tree ran on after the EXIT');
    await sleep(500);
    const left = processes().filter((p) => {
      try {
        return readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    });
    assert.deepEqual(left, [], 'a process of the tree outlived its EXIT');
  });
});

test("an init's report pipe full of reports does not hold the zygote's loop: a timer and another child's exit are served between its reads", async (t) => {
  // A zygote built with HATCH_TEST_FLOODING_INIT: when its program ends, the init writes 60 KiB of valid
  // reports (240 of the zygote's reads) ahead of its last ones, then waits to be killed. Everything is set up
  // while the zygote is stopped, so that when it goes on, one round of its loop finds at once: F's pipe full,
  // up to the reports that bring F's EXIT; F's own timeout due; and T (after F in the table) exited. A zygote
  // that read a pipe until it was empty sent F's EXIT first, untimed, and T's after it.
  await withTestZygote('HATCH_TEST_FLOODING_INIT', async (z) => {
    const native = loadBinding();
    const { normalizeSpawnOptions } = await import('../src/options/spawn-options.js');
    const { prepareOperation } = await import('../src/spawn/prepare.js');
    const { ExitReason } = await import('../src/protocol/wire.js');
    const FLOOD_BYTES = 60 * 1024; // native/child.c
    const timeoutMs = 2000;
    const exits: Array<{ who: 'F' | 'T'; reasons: number }> = [];
    const start = (who: 'F' | 'T', plan: Parameters<Zygote['spawn']>[0]): Promise<number> =>
      new Promise((resolve, reject) => {
        const devNull = native.openDevNull();
        z.spawn(plan, [devNull, devNull, devNull], [devNull], {
          spawned: (pid, pidfd) => {
            native.close(pidfd);
            resolve(pid);
          },
          failed: (stage, errno) => reject(new Error(`${who} failed at stage ${stage}, errno ${errno}`)),
          exit: (info) => exits.push({ who, reasons: info.reasons }),
          died: reject,
        });
      });
    const f = prepareOperation('/bin/sleep', ['60'], normalizeSpawnOptions({ timeoutMs, killGraceMs: 60_000 }, [], ['ignore', 'ignore', 'ignore']), z);
    try {
      if (!f.enforcement.namespaces.includes('pid')) {
        t.skip(`no pid namespace here, so no init (${f.enforcement.namespaces.join(', ') || 'no namespaces'})`);
        return;
      }
      const initPid = await start('F', f.plan);
      const spawnedAt = Date.now();
      const other = await start('T', { file: '/bin/sleep', argv: ['sleep', '60'], env: [], rlimits: [], flags: 0 });
      process.kill(z.pid, 'SIGSTOP');
      try {
        await waitFor(() => /^State:\s+T/m.test(readFileSync(`/proc/${z.pid}/status`, 'utf8')), 5000, 'the zygote to stop');
        const [program] = readFileSync(`/proc/${initPid}/task/${initPid}/children`, 'utf8').trim().split(/\s+/).map(Number);
        assert.ok(program, "F's program is running");
        process.kill(program, 'SIGKILL');
        process.kill(other, 'SIGKILL');
        const written = (): number => Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${initPid}/io`, 'utf8'))?.[1]);
        // EXEC_OK (16 bytes), the flood, then the last reports in one write: past the first two, all is in the pipe.
        await waitFor(() => written() > 16 + FLOOD_BYTES, 5000, "F's init to write its flood and its last reports");
        await waitFor(() => /^State:\s+Z/m.test(readFileSync(`/proc/${other}/status`, 'utf8')), 5000, 'T to exit');
        await sleep(Math.max(0, spawnedAt + timeoutMs + 100 - Date.now())); // F's timeout is due
        assert.equal(exits.length, 0, `nothing ended before the zygote was stopped: ${JSON.stringify(exits)}`);
      } finally {
        process.kill(z.pid, 'SIGCONT');
      }
      await waitFor(() => exits.length === 2, 10_000, 'both EXITs');
      t.diagnostic(JSON.stringify(exits));
      assert.deepEqual(exits.map((e) => e.who), ['T', 'F'], "T's exit waited for F's pipe to be read to its end");
      assert.ok(exits[1]!.reasons & ExitReason.TimedOut, "F's timeout waited for its pipe to be read to its end");
    } finally {
      await f.release(z);
    }
  });
});

test("an init that ends with a pipe full of reports still has its last ones read: the EXIT carries the program's own status", async (t) => {
  // The flooding init (above) writes 60 KiB of reports ahead of its last ones and waits; here it is SIGKILLed
  // while the zygote is stopped, so the zygote meets its exit with all of that unread. Reading only a wake-up's
  // share (16 KiB) after the exit lost the last reports: the EXIT then told the init's SIGKILL, not the program's 7.
  await withTestZygote('HATCH_TEST_FLOODING_INIT', async (z) => {
    const native = loadBinding();
    const { normalizeSpawnOptions } = await import('../src/options/spawn-options.js');
    const { prepareOperation } = await import('../src/spawn/prepare.js');
    const FLOOD_BYTES = 60 * 1024; // native/child.c
    const f = prepareOperation('/bin/sh', ['-c', 'sleep 1; exit 7'], normalizeSpawnOptions({ timeoutMs: 30_000 }, [], ['ignore', 'ignore', 'ignore']), z);
    try {
      if (!f.enforcement.namespaces.includes('pid')) {
        t.skip(`no pid namespace here, so no init (${f.enforcement.namespaces.join(', ') || 'no namespaces'})`);
        return;
      }
      let exit: { exitCode: number | null; signal: number | null } | undefined;
      const initPid = await new Promise<number>((resolve, reject) => {
        const devNull = native.openDevNull();
        z.spawn(f.plan, [devNull, devNull, devNull], [devNull], {
          spawned: (pid, pidfd) => {
            native.close(pidfd);
            process.kill(z.pid, 'SIGSTOP'); // before the program's second is up
            resolve(pid);
          },
          failed: (stage, errno) => reject(new Error(`failed at stage ${stage}, errno ${errno}`)),
          exit: (info) => (exit = { exitCode: info.exitCode, signal: info.signal }),
          died: reject,
        });
      });
      try {
        await waitFor(() => /^State:\s+T/m.test(readFileSync(`/proc/${z.pid}/status`, 'utf8')), 5000, 'the zygote to stop');
        const written = (): number => Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${initPid}/io`, 'utf8'))?.[1]);
        // EXEC_OK, the flood, then the last reports (the status, then usage and tree-gone): all in the pipe.
        await waitFor(() => written() >= 16 + FLOOD_BYTES + 4 * 16, 10_000, 'the init to write its flood and its last reports');
        process.kill(initPid, 'SIGKILL');
        await waitFor(() => !existsSync(`/proc/${initPid}/io`) || /^State:\s+Z/m.test(readFileSync(`/proc/${initPid}/status`, 'utf8')), 5000, 'the init to die');
        assert.equal(exit, undefined, 'the EXIT came before the zygote was stopped');
      } finally {
        process.kill(z.pid, 'SIGCONT');
      }
      await waitFor(() => exit !== undefined, 10_000, 'the EXIT');
      assert.deepEqual(exit, { exitCode: 7, signal: null }, "the EXIT did not carry the program's status from the init's last reports");
    } finally {
      await f.release(z);
    }
  });
});

test("without openat2 (a container's seccomp profile answers ENOSYS), a path a pool's call narrowed to is still opened with no symlink on it", async (t) => {
  // A zygote built with HATCH_TEST_NO_OPENAT2: hatch_open_exact (native/landlock.c) walks the path one O_NOFOLLOW
  // open at a time. A symlink put on the judged path after the compile, at its end or halfway, is ELOOP at the
  // stage that opens it, as with openat2 (test/escape-host-boundary.test.ts, 11).
  await withTestZygote('HATCH_TEST_NO_OPENAT2', async (z) => {
    const { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir, constants } = await import('node:os');
    const { validateSandbox } = await import('../src/options/sandbox.js');
    const { normalizeSpawnOptions } = await import('../src/options/spawn-options.js');
    const { narrowSandbox } = await import('../src/pool/narrow.js');
    const { prepareOperation } = await import('../src/spawn/prepare.js');
    const { clearPlanMemo } = await import('../src/policy/compile.js');
    const native = loadBinding();
    const spawnPlan = (plan: Parameters<Zygote['spawn']>[0]): Promise<string> =>
      new Promise((resolve, reject) => {
        const devNull = native.openDevNull();
        z.spawn(plan, [devNull, devNull, devNull], [devNull], {
          spawned: (_pid, pidfd) => native.close(pidfd),
          failed: (stage, errno) => resolve(`${stageName(stage)} ${errno === constants.errno.ELOOP ? 'ELOOP' : errno}`),
          exit: () => resolve('ran'),
          died: reject,
        });
      });
    for (const namespaces of [undefined, { mount: false }]) {
      for (const at of ['end', 'halfway'] as const) {
        const base = mkdtempSync(join(tmpdir(), 'hatchery-exact-walk-'));
        try {
          const uploads = join(base, 'uploads');
          const job = join(uploads, 'a', 'job');
          const outside = join(base, 'outside');
          mkdirSync(job, { recursive: true });
          mkdirSync(join(outside, 'job'), { recursive: true });
          for (const dir of [base, uploads, join(uploads, 'a'), job, outside, join(outside, 'job')]) chmodSync(dir, 0o777);
          const pool = validateSandbox({ fs: { write: [uploads] }, ...(namespaces && { namespaces }) });
          const raw = { fs: { write: [job] } };
          const options = normalizeSpawnOptions({ timeoutMs: 30_000 }, [], ['ignore', 'ignore', 'ignore']);
          options.sandbox = narrowSandbox(pool, raw, validateSandbox(raw));
          const script = ['-c', 'echo in > "$1/probe"', 'sh', job];
          clearPlanMemo();
          const ok = prepareOperation('/bin/sh', script, options, z);
          const e = ok.enforcement;
          const opens = e.namespaces.includes('mount') ? 'mount' : e.landlock !== null ? 'landlock' : null;
          assert.equal(await spawnPlan(ok.plan), 'ran');
          await ok.release(z);
          assert.deepEqual(readdirSync(job), ['probe']);
          if (opens === null) {
            t.diagnostic('neither Landlock nor a mount namespace here: nothing opens the path');
            continue;
          }
          const late = prepareOperation('/bin/sh', script, options, z);
          if (at === 'end') {
            rmSync(job, { recursive: true });
            symlinkSync(join(outside, 'job'), job);
          } else {
            rmSync(join(uploads, 'a'), { recursive: true });
            symlinkSync(outside, join(uploads, 'a'));
          }
          writeFileSync(join(outside, 'job', 'keep'), '');
          assert.equal(await spawnPlan(late.plan), `${opens} ELOOP`, `${at}, namespaces ${e.namespaces.join(', ')}`);
          await late.release(z);
          assert.deepEqual(readdirSync(join(outside, 'job')), ['keep']);
        } finally {
          rmSync(base, { recursive: true, force: true });
        }
      }
    }
  });
});
