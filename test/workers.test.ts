// Warm workers: sandboxed Node processes hatched by a zygote, one call each.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { HatcheryError, WorkerInput, createWorkerPool, type WorkerPool } from '../src/index.js';
import { descendants, fdCount, sandboxDenialFor, waitFor, zombieChildren } from './helpers.js';
import { loadBinding } from '../src/native/binding.js';

const here = dirname(fileURLToPath(import.meta.url));
// The fixture modules in a world-readable dir: a root caller's workers run as another uid,
// which may not reach this checkout (a clone under a 0700 /root).
const fixtures = mkdtempSync(join(tmpdir(), 'hatchery-test-fixtures-'));
chmodSync(fixtures, 0o755);
function fixtureCopy(name: string): string {
  const copy = join(fixtures, name.replace(/\.js$/, '.mjs'));
  copyFileSync(join(here, name), copy);
  chmodSync(copy, 0o644);
  return copy;
}
const fixture = fixtureCopy('workers-fixture.js');
const brokenFixture = fixtureCopy('workers-fixture-broken.js');
const projectFile = join(here, '..', '..', 'package.json');
/** Host temp dirs (where no private tmpfs can be had) of this process, in the library's own parent dir. */
const opDirs = (): string[] => {
  const parent = join(tmpdir(), `hatchery-${process.geteuid?.() ?? 0}`);
  return existsSync(parent) ? readdirSync(parent).filter((d) => d.startsWith(`hatchery-op-${process.pid}-`)) : [];
};

const pools: WorkerPool[] = [];
function pool(options: Partial<Parameters<typeof createWorkerPool>[0]> = {}): WorkerPool {
  const p = createWorkerPool({ module: fixture, warm: 1, maxWorkers: 2, output: 'ignore', ...options });
  pools.push(p);
  return p;
}
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  rmSync(fixtures, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>, code: string): Promise<HatcheryError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HatcheryError, `expected a HatcheryError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected rejection with ${code}`);
}

test('options are validated', () => {
  assert.throws(() => createWorkerPool({ module: 'relative.js' }), { code: 'INVALID_OPTION', name: 'TypeError' });
  assert.throws(() => createWorkerPool({ module: '/nonexistent/mod.js' }), { code: 'INVALID_OPTION', name: 'RangeError' });
  assert.throws(() => createWorkerPool({ module: fixture, warm: -1 }), { code: 'INVALID_OPTION' });
  assert.throws(() => createWorkerPool({ module: fixture, reuse: 0 }), { code: 'INVALID_OPTION' });
  assert.throws(() => createWorkerPool({ module: fixture, limits: { memoryBytes: 64 << 20 } }), { code: 'INVALID_OPTION' });
  assert.throws(() => createWorkerPool({ module: fixture, bogus: 1 } as never), { code: 'INVALID_OPTION' });
});

test('structured clone round trip: objects, Map, Buffer, BigInt, async exports', async () => {
  const p = pool({ module: new URL(`file://${fixture}`) });
  assert.equal(await p.call('add', 2, 3), 5);
  const value = { a: [1, 'two', null], m: new Map<unknown, unknown>([[1, { x: 2n }]]), s: new Set([1]), d: new Date(5), b: Buffer.from('hi') };
  const back = (await p.call('identity', value)) as typeof value;
  assert.deepEqual(back.a, value.a);
  assert.deepEqual(back.m, value.m);
  assert.deepEqual(back.s, value.s);
  assert.equal(back.d.getTime(), 5);
  assert.equal(Buffer.from(back.b).toString(), 'hi');
  assert.equal(await p.call('identity', 12345678901234567890n), 12345678901234567890n);
  const r = (await p.call('later', 'v', 5)) as { value: string };
  assert.equal(r.value, 'v');
});

test('a call frame larger than the socket buffer arrives whole (sendmsg takes part, the stream the rest)', async () => {
  const p = pool();
  const big = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
  const back = Buffer.from((await p.call('identity', big)) as Uint8Array);
  assert.equal(back.length, big.length);
  assert.ok(back.equals(big));
  assert.equal(await p.call('add', 1, 2), 3);
});

test('thrown errors keep name, message, stack and code', async () => {
  const p = pool();
  await assert.rejects(p.call('fail', 'nope'), (e: Error & { code?: string }) => {
    assert.ok(e instanceof RangeError);
    assert.equal(e.message, 'nope');
    assert.equal(e.code, 'E_FIXTURE');
    assert.match(e.stack ?? '', /at fail \(.*workers-fixture\.mjs/);
    return true;
  });
  await assert.rejects(p.call('failAsync', 'later'), (e: Error) => e instanceof TypeError && e.message === 'later');
});

test('unknown export and unclonable values are typed errors', async () => {
  const p = pool();
  await p.ready();
  await rejects(p.call('nope'), 'UNKNOWN_EXPORT');
  await assert.rejects(p.call('identity', () => 1), { name: 'DataCloneError' });
  await assert.rejects(p.call('unclonable'), { name: 'DataCloneError' });
});

test('crashes become WORKER_CRASHED with the exit status', async () => {
  const p = pool();
  const e1 = (await rejects(p.call('exitWith', 3), 'WORKER_CRASHED')) as HatcheryError & { exit?: { exitCode: number | null } };
  assert.equal(e1.exit?.exitCode, 3);
  const e2 = (await rejects(p.call('abort'), 'WORKER_CRASHED')) as HatcheryError & { exit?: { signal: string | null } };
  assert.match(String(e2.exit?.signal), /^SIG(ABRT|IOT)$/);
  assert.equal(await p.call('add', 1, 1), 2, 'the pool recovers');
  assert.equal(p.stats().totals.crashed, 2);
});

test('timeout kills the worker tree and rejects with TIMEOUT', async () => {
  const p = pool({ timeoutMs: 500 });
  await p.ready();
  const started = Date.now();
  await rejects(p.call('hang'), 'TIMEOUT');
  assert.ok(Date.now() - started < 3000);
  await waitFor(() => !descendants().some((d) => d.comm === 'sleep'), 3000, 'the grandchild sleep to die');
  assert.equal(await p.call('add', 1, 2), 3);
});

test('reuse 1: every call runs in a fresh process; reuse n: n calls per process', async () => {
  const fresh = pool({ warm: 2 });
  const tokens = new Set<unknown>();
  for (let i = 0; i < 5; i++) tokens.add(await fresh.call('processToken'));
  assert.equal(tokens.size, 5);
  const reused = pool({ warm: 1, maxWorkers: 1, reuse: 3 });
  const seen: unknown[] = [];
  for (let i = 0; i < 6; i++) seen.push(await reused.call('processToken'));
  assert.equal(new Set(seen).size, 2);
  assert.equal(seen[0], seen[2]);
  assert.notEqual(seen[2], seen[3]);
});

test('a worker whose last call replied takes no other call, and its process is gone soon after', async () => {
  const p = pool({ warm: 1, maxWorkers: 1, reuse: 1 });
  await p.ready();
  // The second call queues behind the first: it must get a fresh worker, never the one that just replied.
  const [a, b] = await Promise.all([p.call('processToken'), p.call('processToken')]);
  assert.notEqual(a, b);
  await p.ready();
  await p.call('processToken');
  // The caller's continuation runs before the kill is sent (setImmediate): the worker is retiring, not idle.
  assert.equal(p.stats().idle, 0, 'the worker that replied is not idle');
  await waitFor(() => p.stats().live === p.stats().idle + p.stats().booting, 5000, 'the retired worker to be gone');
});

test('the sandbox holds inside a worker: no secrets, no project files, no network', async () => {
  const p = pool();
  assert.equal(await p.call('tryRead', '/etc/shadow'), 'EACCES');
  const projectFileOutside = projectFile.replace('package.json', 'binding.gyp');
  assert.equal(await p.call('tryRead', projectFileOutside), sandboxDenialFor(projectFileOutside));
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const result = await p.call('tryConnect', port);
    assert.notEqual(result, 'connected');
  } finally {
    server.close();
  }
});

test('inputs travel as fds: the worker reads a file it cannot open by path', async () => {
  // In the package root: not hidden by the sandbox's mounts (as /tmp is), so only Landlock stands in the way.
  const dir = mkdtempSync(join(here, '..', '..', '.hatchery-test-input-'));
  const secret = join(dir, 'secret.txt');
  writeFileSync(secret, 'for your eyes only');
  // World-readable, so plain permissions would let uid 65534 in: the denial must come from the sandbox.
  chmodSync(dir, 0o755);
  chmodSync(secret, 0o644);
  try {
    const p = pool();
    const viaFile = (await p.call('readInput', WorkerInput.file(secret), secret)) as { text: string; byPath: string; isFd: boolean };
    assert.equal(viaFile.text, 'for your eyes only');
    assert.equal(viaFile.isFd, true);
    assert.equal(viaFile.byPath, sandboxDenialFor(secret), 'opening the path inside the worker must fail');
    const viaStream = (await p.call('readInput', WorkerInput.stream(Readable.from(['a', 'b', 'c'])), secret)) as { text: string };
    assert.equal(viaStream.text, 'abc');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a call is preceded by an empty frame that wakes its worker, on that worker\'s channel; it reaches neither the fd queue nor a queued call', async (t) => {
  const native = loadBinding();
  const sends: { fd: number; bytes: number; fds: number; empty: boolean }[] = [];
  const original = native.sendMessage;
  native.sendMessage = (fd: number, data: Uint8Array, fds: number[]): number => {
    sends.push({ fd, bytes: data.length, fds: fds.length, empty: data.length === 4 && data.every((b) => b === 0) });
    return original(fd, data, fds);
  };
  t.after(() => {
    native.sendMessage = original;
  });
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-test-wake-'));
  const file = join(dir, 'input.txt');
  writeFileSync(file, 'through the fd');
  chmodSync(dir, 0o755);
  chmodSync(file, 0o644);
  try {
    const p = pool({ maxWorkers: 1, reuse: 3 });
    await p.ready();
    sends.length = 0;
    assert.equal(await p.call('add', 2, 3), 5);
    // The wake, then the call frame, both on one channel.
    assert.equal(sends.length, 2, JSON.stringify(sends));
    assert.deepEqual([sends[0]!.empty, sends[0]!.fds], [true, 0]);
    assert.equal(sends[1]!.fd, sends[0]!.fd);
    assert.ok(sends[1]!.bytes > 4, 'the call frame follows the wake');

    // With an input: the wake carries no fd, so the call still gets exactly its own.
    sends.length = 0;
    const viaFile = (await p.call('readInput', WorkerInput.file(file), file)) as { text: string; isFd: boolean };
    assert.equal(viaFile.text, 'through the fd');
    assert.equal(viaFile.isFd, true);
    assert.deepEqual(sends.map((s) => [s.empty, s.fds]), [[true, 0], [true, 1], [false, 0]]);

    // Two calls at once on one worker: the second waits in the queue, and is not announced while the first runs.
    sends.length = 0;
    const both = await Promise.all([p.call('add', 20, 1), p.call('add', 1, 1)]);
    assert.deepEqual(both, [21, 2]);
    assert.equal(sends.filter((s) => s.empty).length, 1, `one wake for two calls, one of them queued: ${JSON.stringify(sends)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a module that throws on import fails calls with WORKER_BOOT_FAILED instead of spinning', async () => {
  const p = pool({ module: brokenFixture, warm: 1 });
  const e = await rejects(p.call('loaded'), 'WORKER_BOOT_FAILED');
  assert.match(e.message, /refuses to load/);
  await assert.rejects(p.ready(), { code: 'WORKER_BOOT_FAILED' });
  assert.ok(p.stats().totals.bootFailed <= 4, `boot attempts are bounded (${p.stats().totals.bootFailed})`);
});

test('maxWorkers caps concurrent calls; the rest wait in order', async () => {
  const p = pool({ warm: 2, maxWorkers: 2 });
  let maxBusy = 0;
  const timer = setInterval(() => (maxBusy = Math.max(maxBusy, p.stats().busy)), 1);
  try {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => p.call('later', i, 20)));
    assert.deepEqual(results.map((r) => (r as { value: number }).value), [0, 1, 2, 3, 4, 5, 6, 7]);
  } finally {
    clearInterval(timer);
  }
  assert.ok(maxBusy <= 2, `busy peaked at ${maxBusy}`);
});

test('a refill waits for the call in flight, not longer than its bound; a call that queues never waits for it', async () => {
  const p = pool({ warm: 1, maxWorkers: 2 });
  await p.ready();
  let replied = false;
  const slow = p.call('later', 'a', 3000).then((r) => {
    replied = true;
    return r;
  });
  // The call took the warm worker; its replacement does not boot beside it at once...
  assert.equal(p.stats().booting, 0, 'no boot started beside the call');
  // ...but does long before the call replies (the wait is bounded: REFILL_DEFER_MS, 20 ms).
  await waitFor(() => p.stats().booting + p.stats().idle > 0, 2500, 'the deferred refill to start');
  assert.equal(replied, false, 'the refill started while the call was still in flight');
  await slow;

  const q = pool({ warm: 1, maxWorkers: 2 });
  await q.ready();
  const first = q.call('later', 'b', 500);
  // No idle worker for this one: it queues, and every boot starts now (the refill and its worker).
  const second = q.call('later', 'c', 1);
  assert.equal(q.stats().queued, 1);
  assert.equal(q.stats().booting, 2, 'a queued call does not wait for a deferred refill');
  assert.deepEqual(await Promise.all([first, second]).then((rs) => rs.map((r) => (r as { value: string }).value)), ['b', 'c']);
});

test('a deferred refill keeps no process alive: after its call, or when the pool is closed during it', () => {
  const script = `
    import { createWorkerPool } from ${JSON.stringify(join(here, '..', 'src', 'index.js'))};
    const p = createWorkerPool({ module: ${JSON.stringify(fixture)}, warm: 1, maxWorkers: 2, output: 'ignore' });
    await p.ready();
    console.log((await p.call('later', 42, 100)).value);
    const q = createWorkerPool({ module: ${JSON.stringify(fixture)}, warm: 1, maxWorkers: 2, output: 'ignore' });
    await q.ready();
    const call = q.call('later', 1, 60000).catch((e) => console.log(e.code));
    await q.close();
    await call;
  `;
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.deepEqual(r.stdout.trim().split('\n'), ['42', 'CLOSED'], r.stderr);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Date.now() - started < 15_000, 'the process exited by itself');
});

test('an idle pool with warm workers does not keep the process alive', () => {
  const script = `
    import { createWorkerPool } from ${JSON.stringify(join(here, '..', 'src', 'index.js'))};
    const p = createWorkerPool({ module: ${JSON.stringify(fixture)}, warm: 2, output: 'ignore' });
    await p.ready();
    console.log(await p.call('add', 20, 22));
  `;
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.stdout.trim(), '42', r.stderr);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Date.now() - started < 15_000);
});

test("a worker's output goes at the reader's pace: this process buffers little of it while the reader waits, and all of it arrives in order once it reads", async (t) => {
  // The library runs in a child whose stdout is a pipe this test leaves unread at first. Its worker writes
  // 64 MiB; forwarded without pause, they all sat in the child's process.stdout (writableLength).
  const BLOCK = 64 * 1024;
  const BLOCKS = 1024;
  const BOUND = 4 * 2 ** 20;
  const script = `
    import { createWorkerPool } from ${JSON.stringify(join(here, '..', 'src', 'index.js'))};
    const report = (o) => process.stderr.write('REPORT ' + JSON.stringify(o) + '\\n');
    let max = 0;
    let offered = 0;
    let still = 0;
    let reported = false;
    let done = false;
    const sample = setInterval(() => {
      max = Math.max(max, process.stdout.writableLength);
      // bytesWritten counts what was handed to process.stdout, queued or not.
      still = process.stdout.bytesWritten === offered ? still + 1 : 0;
      offered = process.stdout.bytesWritten;
      // Stalled a second with output handed over: the reader is not reading, and nothing more comes.
      if (!reported && offered > 0 && still >= 100) reported = (report({ max, offered, done }), true);
    }, 10);
    const p = createWorkerPool({ module: ${JSON.stringify(fixture)}, warm: 1, maxWorkers: 1, output: 'inherit' });
    const blocks = await p.call('writeBlocks', ${BLOCKS});
    done = true;
    if (!reported) report({ max, offered: process.stdout.bytesWritten, done });
    await p.close();
    clearInterval(sample);
    max = Math.max(max, process.stdout.writableLength);
    report({ max, blocks, done });
  `;
  const child = spawnChild(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const reports = (): Array<{ max: number; offered?: number; blocks?: number; done: boolean }> =>
    [...stderr.matchAll(/^REPORT (.*)\n/gm)].map((m) => JSON.parse(m[1]!));
  try {
    await waitFor(() => reports().length > 0 || child.exitCode !== null, 60_000, 'the child to stall or finish');
    const stalled = reports()[0];
    assert.ok(stalled, stderr);
    t.diagnostic(`with nobody reading: ${JSON.stringify(stalled)}`);
    assert.equal(stalled.done, false, `the worker wrote its ${BLOCKS * BLOCK} bytes with nobody reading: ${JSON.stringify(stalled)}`);
    assert.ok(stalled.max <= BOUND, `process.stdout held ${stalled.max} bytes while its reader waited`);
    const received = Buffer.alloc(BLOCKS * BLOCK);
    let length = 0;
    child.stdout.on('data', (d: Buffer) => {
      assert.ok(length + d.length <= received.length, 'more output than the worker wrote');
      length += d.copy(received, length);
    });
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    const last = reports().at(-1)!;
    assert.equal(last.blocks, BLOCKS, stderr);
    assert.ok(last.max <= BOUND, `process.stdout held ${last.max} bytes at most`);
    assert.equal(length, BLOCKS * BLOCK);
    for (let i = 0; i < BLOCKS; i++) {
      const number = Buffer.alloc(4);
      number.writeUInt32LE(i);
      if (!received.subarray(i * BLOCK, (i + 1) * BLOCK).equals(Buffer.alloc(BLOCK, number))) assert.fail(`block ${i} is not the worker's block ${i}`);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child.stdout.resume();
    await exited;
  }
});

test('close() leaves no processes, fds or temp dirs; later calls reject CLOSED', async () => {
  await Promise.all(pools.splice(0).map((x) => x.close()));
  const fdsBefore = fdCount();
  const dirsBefore = opDirs().length;
  const p = createWorkerPool({ module: fixture, warm: 2, output: 'ignore' });
  await p.ready();
  assert.equal(await p.call('add', 1, 2), 3);
  const queued = rejects(p.call('later', 1, 10_000), 'CLOSED');
  await p.close();
  await queued;
  await rejects(p.call('add', 1, 1), 'CLOSED');
  assert.deepEqual(descendants(), [], 'close() resolves after every worker and the zygote are gone');
  await waitFor(() => fdCount() <= fdsBefore, 2000, `fds back to ${fdsBefore} (now ${fdCount()})`);
  await waitFor(() => opDirs().length <= dirsBefore, 3000, 'no leftover operation temp dirs');
  assert.deepEqual(zombieChildren(), []);
});

test('soak: 1,000 warm-worker calls, no fd growth, zombies or temp dirs', { timeout: 180_000, skip: process.env.HATCHERY_TEST_ROW ? 'the soak runs once, in the host row of npm test' : false }, async () => {
  const p = createWorkerPool({ module: fixture, warm: 2, maxWorkers: 2, output: 'ignore' });
  await p.ready();
  await p.call('add', 0, 0);
  const fdsBefore = fdCount();
  const dirsBefore = opDirs().length;
  const rssBefore = process.memoryUsage().rss;
  const started = Date.now();
  const N = Number(process.env.HATCHERY_WORKER_SOAK ?? 1000);
  let inflight = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      while (inflight < 4 && done + inflight < N) {
        const i = done + inflight;
        inflight++;
        p.call('add', i, 1).then((v) => {
          assert.equal(v, i + 1);
          inflight--;
          done++;
          if (done === N) resolve();
          else next();
        }, reject);
      }
    };
    next();
  });
  const elapsed = Date.now() - started;
  const stats = p.stats();
  await p.close();
  await waitFor(() => zombieChildren().length === 0, 2000, 'no zombies');
  await waitFor(() => fdCount() <= fdsBefore, 3000, `fds back to ${fdsBefore} (now ${fdCount()})`);
  assert.deepEqual(zombieChildren(), []);
  await waitFor(() => opDirs().length <= dirsBefore, 3000, 'no leftover operation temp dirs');
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  process.stdout.write(`# soak: ${N} calls in ${elapsed} ms (${((N / elapsed) * 1000).toFixed(0)}/s), boot mean ${stats.bootMs.mean.toFixed(1)} ms, RSS growth ${(rssGrowth / 2 ** 20).toFixed(1)} MiB\n`);
  assert.ok(rssGrowth < 64 * 2 ** 20, `RSS grew by ${rssGrowth}`);
  assert.ok(existsSync(fixture));
});
