// spawn(): private handles with pidfds, streams, kill semantics and AbortSignal.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { text } from 'node:stream/consumers';
import { readFileSync } from 'node:fs';
import { HatcheryError, ProcessHandle, closeDefaultZygote, spawn } from '../src/index.js';
import { normalizeSpawnOptions } from '../src/options/spawn-options.js';
import { spawnOn } from '../src/spawn/spawn.js';
import { Zygote } from '../src/zygote/zygote.js';

after(() => closeDefaultZygote());

test('spawn returns a handle with pid, pidfd and streams', async () => {
  const child = await spawn('/bin/cat');
  assert.ok(child instanceof ProcessHandle);
  assert.ok(child.pid > 0);
  assert.ok(child.pidfd >= 0);
  const out = text(child.stdout!);
  child.stdin!.end('round trip');
  assert.equal(await out, 'round trip');
  const status = await child.wait();
  assert.equal(status.exitCode, 0);
  assert.equal(child.pidfd, -1, 'pidfd is closed after exit');
});

test('kill() goes through the pidfd; after exit it is a no-op returning false', async () => {
  const child = await spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  assert.equal(child.kill('SIGKILL'), true);
  const status = await child.exited;
  assert.equal(status.signal, 'SIGKILL');
  assert.equal(child.kill('SIGKILL'), false);
  assert.equal(child.kill(), false);
});

test('catchable signals reach the program through its pid-namespace init: kill() to it, killTree() to the whole tree', async () => {
  for (const sandbox of [undefined, false] as const) {
    const child = await spawn('/bin/sh', ['-c', 'trap "echo usr1; exit 7" USR1; echo ready; while :; do sleep 0.01; done'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      ...(sandbox === false ? { sandbox } : {}),
    });
    let out = '';
    const ready = new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => ((out += d), out.includes('ready') && resolve())));
    await ready;
    assert.equal(child.kill('SIGUSR1'), true);
    const status = await child.exited;
    assert.equal(status.exitCode, 7, `sandbox ${String(sandbox)}: ${out}`);
    assert.match(out, /usr1/);
    const tree = await spawn('/bin/sh', ['-c', 'trap "exit 9" USR2; echo ready; while :; do sleep 0.01; done'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      ...(sandbox === false ? { sandbox } : {}),
    });
    await new Promise<void>((resolve) => tree.stdout!.once('data', () => resolve()));
    tree.killTree('SIGUSR2');
    assert.equal((await tree.exited).exitCode, 9);
  }
});

test('the program starts with every signal at SIG_DFL and none blocked', async () => {
  for (const sandbox of [undefined, false] as const) {
    const child = await spawn('/bin/cat', ['/proc/self/status'], { stdio: ['ignore', 'pipe', 'inherit'], ...(sandbox === false ? { sandbox } : {}) });
    const status = await text(child.stdout!);
    await child.exited;
    for (const field of ['SigBlk', 'SigIgn', 'SigCgt']) assert.match(status, new RegExp(`^${field}:\\s+0{16}$`, 'm'), `${field} with sandbox ${String(sandbox)}`);
  }
});

test('kill() and killTree() with an unknown signal are a TypeError with code INVALID_OPTION naming signal', async () => {
  const child = await spawn('/bin/true', [], { stdio: 'ignore' });
  for (const call of [() => child.kill('SIGWHAT' as NodeJS.Signals), () => child.killTree(999)]) {
    assert.throws(call, (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === 'INVALID_OPTION' && (e as { option?: string }).option === 'signal');
  }
  await child.exited;
});

test('killTree() reaches the whole process group', async () => {
  const child = await spawn('/bin/sh', ['-c', 'sleep 30 & sleep 30 & wait'], { stdio: 'ignore' });
  child.killTree('SIGKILL');
  const status = await child.exited;
  assert.equal(status.signal, 'SIGKILL');
  assert.equal(status.killRequested, true);
});

test('AbortSignal ends a spawned child', async () => {
  const ac = new AbortController();
  const child = await spawn('/bin/sleep', ['30'], { stdio: 'ignore', signal: ac.signal });
  ac.abort();
  const status = await child.exited;
  assert.equal(status.signal, 'SIGTERM');
});

test('many concurrent children on one zygote', async () => {
  const children = await Promise.all(
    Array.from({ length: 50 }, (_, i) => spawn('/bin/sh', ['-c', `sleep 0.2; exit ${i % 7}`], { stdio: 'ignore' })),
  );
  const statuses = await Promise.all(children.map((c) => c.exited));
  statuses.forEach((s, i) => assert.equal(s.exitCode, i % 7));
});

test('a spawn refused on the spot by a zygote that just died leaves no deadline timer behind', async () => {
  const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 10_000 });
  const options = normalizeSpawnOptions({ sandbox: false, stdio: 'ignore', spawnTimeoutMs: 600_000 }, [], ['ignore', 'ignore', 'ignore']);
  // Dead to the kernel (its socket closed) but not yet to this process: nothing below lets the loop turn.
  process.kill(z.pid, 'SIGKILL');
  const zombie = (): boolean => {
    try {
      const stat = readFileSync(`/proc/${z.pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    } catch {
      return true;
    }
  };
  const until = Date.now() + 5000;
  while (!zombie() && Date.now() < until);
  assert.ok(zombie(), 'the zygote is gone');
  // The spawn's deadline is the only timer of spawnTimeoutMs (600 s) here; it is unref'd, so watch it being made.
  const armed = new Set<unknown>();
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    const t = realSet(fn, ms);
    if (ms === 600_000) armed.add(t);
    return t;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((t: NodeJS.Timeout | undefined) => {
    armed.delete(t);
    realClear(t);
  }) as typeof clearTimeout;
  let pending: Promise<unknown>;
  try {
    pending = spawnOn(z, '/bin/true', [], options);
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  }
  await assert.rejects(pending, (e: unknown) => e instanceof HatcheryError && e.code === 'ZYGOTE_DIED');
  assert.equal(armed.size, 0, 'a deadline was left armed for a spawn that had already failed');
  for (const t of armed) realClear(t as NodeJS.Timeout);
});
