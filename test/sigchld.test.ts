// Private children: no SIGCHLD reaches Node for hatchery children, and a native
// waitpid(-1) loop beside child_process cannot steal their exits (nor they its).
import assert from 'node:assert/strict';
import { spawn as cpSpawn } from 'node:child_process';
import { after, test } from 'node:test';
import { closeDefaultZygote, run } from '../src/index.js';
import { loadBinding } from '../src/native/binding.js';

after(() => closeDefaultZygote());

test('SIGCHLD handler + waitpid(-1) loop beside child_process: every status arrives intact', async () => {
  const native = loadBinding();
  let sigchld = 0;
  const onChld = (): void => {
    sigchld++;
  };
  process.on('SIGCHLD', onChld);
  const stolen: number[] = [];
  const thief = setInterval(() => {
    for (;;) {
      const pid = native.waitAnyNoHang();
      if (pid <= 0) break;
      stolen.push(pid);
    }
  }, 1);
  try {
    await run('/bin/true'); // the zygote exists before we count
    sigchld = 0;
    const hatched = Array.from({ length: 20 }, (_, i) => run('/bin/sh', ['-c', `exit ${i + 1}`]));
    const results = await Promise.all(hatched);
    results.forEach((r, i) => assert.equal(r.exitCode, i + 1, `hatchery child ${i}`));
    assert.equal(sigchld, 0, 'no SIGCHLD for hatchery children');
    assert.equal(stolen.length, 0, `waitpid(-1) found nothing of ours to steal (got ${stolen.join(',')})`);

    // A child_process child beside them: the thief really steals that exit (libuv cannot protect its
    // children from waitpid(-1)), which proves the loop is live, while hatchery's results stay intact.
    const cp = cpSpawn('/bin/sh', ['-c', 'echo ready; exit 7'], { stdio: ['ignore', 'pipe', 'ignore'] });
    cp.unref(); // libuv will never see this exit, so its handle must not hold the loop open
    const cpDone = new Promise<void>((resolve) => cp.stdout.on('close', () => resolve()).resume());
    const mixed = await Promise.all([run('/bin/sh', ['-c', 'exit 9']), run('/bin/sh', ['-c', 'sleep 0.1; exit 11']), cpDone]);
    assert.equal(mixed[0].exitCode, 9);
    assert.equal(mixed[1].exitCode, 11);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(stolen.includes(cp.pid!), `the waitpid(-1) loop reaped the child_process child (stole: ${stolen.join(',')})`);
    assert.ok(sigchld >= 1, 'child_process children do raise SIGCHLD');
    cp.removeAllListeners();
  } finally {
    clearInterval(thief);
    process.off('SIGCHLD', onChld);
  }
});

test('hatchery children do not disturb child_process exit codes', async () => {
  const codes = await Promise.all([
    ...Array.from({ length: 5 }, (_, i) => new Promise<number | null>((resolve) => cpSpawn('/bin/sh', ['-c', `exit ${i + 20}`]).on('exit', resolve))),
    ...Array.from({ length: 5 }, (_, i) => run('/bin/sh', ['-c', `exit ${i + 30}`]).then((r) => r.exitCode)),
  ]);
  assert.deepEqual(codes, [20, 21, 22, 23, 24, 30, 31, 32, 33, 34]);
});
