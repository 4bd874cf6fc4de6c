// Pool faults: a zygote killed mid-burst, a stopped zygote, the Node parent killed, an idle pool and process exit.
import assert from 'node:assert/strict';
import { spawn as spawnNode } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HatcheryError, createPool } from '../src/index.js';
import { descendants, isAlive, processes, waitFor } from './helpers.js';

const indexUrl = new URL('../src/index.js', import.meta.url).href;
const here = dirname(fileURLToPath(import.meta.url));
const isCode = (code: string) => (e: unknown) => e instanceof HatcheryError && e.code === code;

/** Only ever signals pids this test started; a stopped process is resumed so the kill lands. */
function cleanupPid(pid: number): void {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
    process.kill(pid, 'SIGCONT');
  } catch {
    // gone meanwhile
  }
}

test('SIGKILL one zygote of three mid-burst: exactly its operations fail, the pool recovers', async () => {
  const pool = createPool({ minZygotes: 3, maxZygotes: 3, maxConcurrency: 30 });
  try {
    await waitFor(() => pool.stats().zygotes.length === 3, 5000, 'three warm zygotes');
    const outcomes = Array.from({ length: 30 }, () =>
      pool.run('/bin/sleep', ['1']).then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
    );
    await waitFor(() => pool.stats().childrenAlive === 30, 10_000, 'all 30 children running');
    const before = pool.stats().zygotes;
    assert.ok(before.every((z) => z.children === 10), `least-loaded placement: ${JSON.stringify(before)}`);
    const victim = before[1]!;
    process.kill(victim.pid, 'SIGKILL');
    const settled = await Promise.all(outcomes);
    const failed = settled.filter((o) => !o.ok);
    assert.equal(failed.length, victim.children);
    for (const f of failed) assert.ok(isCode('ZYGOTE_DIED')(f.e), String(f.e));
    for (const o of settled) if (o.ok) assert.equal(o.r.exitCode, 0);
    await waitFor(() => {
      const z = pool.stats().zygotes;
      return z.length === 3 && !z.some((x) => x.pid === victim.pid);
    }, 5000, 'the pool back to three zygotes');
    const again = await Promise.all(Array.from({ length: 6 }, () => pool.run('/bin/echo', ['ok'])));
    for (const r of again) assert.equal(r.stdout, 'ok\n');
    assert.equal(pool.stats().totals.failed, victim.children);
  } finally {
    await pool.close({ graceMs: 0 });
  }
});

test('SIGSTOP a zygote: the heartbeat catches it, it is killed and replaced', async () => {
  const heartbeatMs = 300;
  const pool = createPool({ minZygotes: 1, maxZygotes: 1, heartbeatMs });
  let stopped = -1;
  try {
    await waitFor(() => pool.stats().zygotes.length === 1, 5000, 'a warm zygote');
    const child = await pool.spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    stopped = pool.stats().zygotes[0]!.pid;
    const t0 = Date.now();
    process.kill(stopped, 'SIGSTOP');
    await assert.rejects(child.exited, (e: unknown) => isCode('ZYGOTE_DIED')(e) && /heartbeat/.test((e as Error).message));
    const detectedMs = Date.now() - t0;
    // Two beats at most (one to send the ping, one for its deadline), with room for a loaded machine.
    assert.ok(detectedMs < 2 * heartbeatMs + 3000, `detected after ${detectedMs} ms`);
    await waitFor(() => !isAlive(stopped), 3000, 'the stopped zygote to be killed');
    await waitFor(() => !isAlive(child.pid), 3000, 'its child to be killed');
    await waitFor(() => pool.stats().zygotes.some((z) => z.pid !== stopped), 5000, 'a replacement');
    assert.equal((await pool.run('/bin/echo', ['back'])).stdout, 'back\n');
  } finally {
    if (stopped > 0) cleanupPid(stopped);
    await pool.close({ graceMs: 0 });
  }
});

test('SIGSTOP a zygote with the heartbeat off: the operation deadline (timeout + grace + 2 s) catches it', async () => {
  const pool = createPool({ minZygotes: 1, maxZygotes: 1, heartbeatMs: 0 });
  let stopped = -1;
  try {
    await waitFor(() => pool.stats().zygotes.length === 1, 5000, 'a warm zygote');
    stopped = pool.stats().zygotes[0]!.pid;
    const pending = pool.run('/bin/sleep', ['30'], { timeoutMs: 300, killGraceMs: 100 });
    await waitFor(() => pool.stats().childrenAlive === 1, 5000, 'the child to run');
    const t0 = Date.now();
    process.kill(stopped, 'SIGSTOP');
    await assert.rejects(pending, (e: unknown) => isCode('ZYGOTE_DIED')(e) && /did not/.test((e as Error).message));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 300 + 100 + 2000 + 3000, `deadline took ${elapsed} ms`);
    await waitFor(() => !isAlive(stopped), 3000, 'the stopped zygote to be killed');
    await waitFor(() => pool.stats().zygotes.some((z) => z.pid !== stopped), 5000, 'a replacement');
    assert.equal((await pool.run('/bin/echo', ['back'])).stdout, 'back\n');
  } finally {
    if (stopped > 0) cleanupPid(stopped);
    await pool.close({ graceMs: 0 });
  }
});

/** Start a Node process running `body` (ESM, with `createPool` imported); resolves with it and its first stdout line. */
function startNode(body: string): Promise<{ pid: number; line: string; exited: Promise<number | null> }> {
  const code = `import { createPool } from ${JSON.stringify(indexUrl)};\n${body}`;
  const child = spawnNode(process.execPath, ['--input-type=module', '-e', code], { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the Node child printed nothing within 15 s'));
    }, 15_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, line, exited });
    });
    child.once('error', reject);
  });
}

test('SIGKILL of the Node parent: no zygote, child or grandchild survives', async () => {
  const node = await startNode(`
    const pool = createPool({ minZygotes: 2, maxZygotes: 2 });
    const handles = [];
    for (let i = 0; i < 4; i++) handles.push(await pool.spawn('/bin/sh', ['-c', 'sleep 60 & sleep 60'], { stdio: 'ignore' }));
    const running = pool.run('/bin/sleep', ['60']);
    while (pool.stats().childrenAlive < 5) await new Promise((r) => setTimeout(r, 10));
    console.log(JSON.stringify({ zygotes: pool.stats().zygotes.map((z) => z.pid), children: handles.map((h) => h.pid) }));
    await running;
  `);
  const reported = JSON.parse(node.line) as { zygotes: number[]; children: number[] };
  assert.equal(reported.zygotes.length, 2);
  // Everything under the Node child, grandchildren included, as seen from here.
  let tree: number[] = [];
  await waitFor(() => {
    tree = descendants(node.pid).map((p) => p.pid);
    return tree.filter((pid) => !reported.zygotes.includes(pid)).length >= 5 * 2 - 1;
  }, 5000, 'the whole tree to exist');
  for (const pid of [...reported.zygotes, ...reported.children]) assert.ok(tree.includes(pid), `pid ${pid} is under the Node child`);
  process.kill(node.pid, 'SIGKILL');
  await node.exited;
  try {
    await waitFor(() => tree.every((pid) => !isAlive(pid)), 5000, 'every zygote and child to die').catch((e: Error) => {
      const alive = processes().filter((p) => tree.includes(p.pid) && isAlive(p.pid));
      throw new Error(`${e.message}; survivors: ${JSON.stringify(alive)}`);
    });
  } finally {
    for (const pid of tree) cleanupPid(pid);
  }
});

test('an idle pool never keeps the process alive, and its zygotes leave with it', async () => {
  const node = await startNode(`
    const pool = createPool({ minZygotes: 2, maxZygotes: 4, idleTimeoutMs: 60000, heartbeatMs: 100 });
    const r = await pool.run('/bin/echo', ['hi']);
    while (pool.stats().zygotes.length < 2) await new Promise((r) => setTimeout(r, 10));
    console.log(JSON.stringify({ out: r.stdout, zygotes: pool.stats().zygotes.map((z) => z.pid) }));
  `);
  const reported = JSON.parse(node.line) as { out: string; zygotes: number[] };
  assert.equal(reported.out, 'hi\n');
  const code = await Promise.race([node.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref())]);
  if (code === 'hung') process.kill(node.pid, 'SIGKILL');
  assert.equal(code, 0, 'the Node process exited on its own');
  try {
    await waitFor(() => reported.zygotes.every((pid) => !isAlive(pid)), 5000, 'its zygotes to exit');
  } finally {
    for (const pid of reported.zygotes) cleanupPid(pid);
  }
});

test('a blocked event loop is not mistaken for an unresponsive zygote', async () => {
  const pool = createPool({ minZygotes: 1, maxZygotes: 1, heartbeatMs: 100 });
  try {
    const child = await pool.spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const zpid = pool.stats().zygotes[0]!.pid;
    // Block in the check phase, past a beat and a ping deadline, for ~1.5 s. With an immediate
    // pending, the poll phase does not wait, so the PONG arrives after it and sits in the socket
    // while the next timers phase finds the deadline passed.
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      await new Promise((r) => setImmediate(r));
      const until = Date.now() + 150;
      while (Date.now() < until) {
        // busy
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(pool.stats().zygotes.map((z) => z.pid), [zpid]);
    assert.ok(isAlive(child.pid));
    child.kill('SIGKILL');
    await child.exited;
  } finally {
    await pool.close({ graceMs: 0 });
  }
});
