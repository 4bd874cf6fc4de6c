// 2,000 operations leave the same fd count, no zombies and no stray processes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { closeDefaultZygote, run } from '../src/index.js';
import { descendants, fdCount, openFds, waitFor, zombieChildren } from './helpers.js';

after(() => closeDefaultZygote());

test('2,000 runs: no fd growth, no zombies, no stray processes', async () => {
  await run('/bin/true'); // warm: the zygote and its fds exist before counting
  const fdsBefore = fdCount();
  const listBefore = openFds();
  const batch = 16;
  for (let i = 0; i < 2000; i += batch) {
    const results = await Promise.all(
      Array.from({ length: batch }, (_, j) => (j % 4 === 0 ? run('/bin/echo', [String(i + j)]) : run('/bin/true'))),
    );
    for (const r of results) assert.equal(r.exitCode, 0);
  }
  await waitFor(() => fdCount() === fdsBefore, 2000, `fd count to return to ${fdsBefore}`).catch(() => {
    assert.deepEqual(openFds(), listBefore);
  });
  assert.equal(fdCount(), fdsBefore);
  assert.deepEqual(zombieChildren(), []);
  const stray = descendants().filter((p) => p.comm !== 'hatchery-zygote');
  assert.deepEqual(stray, []);
  await closeDefaultZygote();
  await waitFor(() => descendants().length === 0, 3000, 'the zygote to exit');
  assert.deepEqual(zombieChildren(), []);
});
