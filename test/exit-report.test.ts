/**
 * The exit report of a run with a pid namespace (native/child.c
 * end_namespace_tree, native/zygote.c report_exit_early): the init kills and
 * reaps everything left in the namespace, so EXIT is sent before the init's
 * own exit tears the namespaces down. What must hold: when run() resolves,
 * nothing of the operation runs any more, and the usage covers the program.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { closeDefaultZygote, run } from '../src/index.js';
import { descendants, waitFor } from './helpers.js';

after(async () => {
  await closeDefaultZygote();
});

test('when run() resolves, the processes a program left behind are already gone', async () => {
  // Two background sleepers, one in a new session: the init must find them all.
  const script = 'sleep 60 & setsid sleep 60 & (sleep 60 &) ; echo started';
  for (let i = 0; i < 5; i++) {
    const result = await run('/bin/sh', ['-c', script]);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, 'started\n');
    assert.ok(result.enforcement?.namespaces.includes('pid'), 'this test needs a pid namespace');
    // No waiting: at resolution only the init itself (exiting) may still be there, never a sleeper.
    const left = descendants(result.pid).filter((p) => p.state !== 'Z');
    assert.deepEqual(left, [], `processes of the operation still running: ${JSON.stringify(left)}`);
  }
});

test('the usage reported covers the program and what it ran', async () => {
  // Busy for ~300 ms in a grandchild that the program waits for.
  const result = await run('/bin/sh', ['-c', "sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'"]);
  assert.equal(result.exitCode, 0);
  assert.equal(result.stderr, '');
  assert.ok(result.userCpuMs + result.sysCpuMs >= 50, `cpu ${result.userCpuMs} + ${result.sysCpuMs} ms`);
  assert.ok(result.maxRssBytes > 0);
});

test('an exit by signal and a timeout are reported as before', async () => {
  const killed = await run('/bin/sh', ['-c', 'kill -9 $$']);
  assert.equal(killed.exitCode, null);
  assert.equal(killed.signal, 'SIGKILL');
  const timedOut = await run('/bin/sh', ['-c', 'sleep 30 & sleep 30'], { timeoutMs: 200 });
  assert.equal(timedOut.timedOut, true);
  assert.deepEqual(descendants(timedOut.pid).filter((p) => p.state !== 'Z'), []);
});

test('the init itself is reaped soon after', async () => {
  const result = await run('/bin/true');
  await waitFor(() => descendants().every((p) => p.pid !== result.pid), 5000, `the init ${result.pid} to be reaped`);
});
