// Soak: 10,000 short operations through a pool leave no fds, zombies, temp dirs or memory behind.
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createPool } from '../src/index.js';
import { TMPDIR_PREFIX } from '../src/spawn/tmpdir.js';
import { descendants, fdCount, openFds, waitFor, zombieChildren } from './helpers.js';

const OPERATIONS = 10_000;
const IN_FLIGHT = 16;
/**
 * Node RSS may grow by at most this much over the soak, after WARM_UP
 * operations. Measured: RSS rises ~25-40 MB over the first few thousand
 * operations and then stays flat (20,000 operations with forced GCs:
 * heapUsed constant at 4.9 MB, heapTotal 15 -> ~40 MB, i.e. V8 keeping the
 * space it grew to for the burst). The warm-up absorbs most of that rise; a
 * leak of 4 kB per operation would add 40 MB over the soak and fail.
 */
const RSS_GROWTH_BOUND = 32 * 1024 * 1024;
const WARM_UP = 2000;

function opDirs(): Set<string> {
  return new Set(readdirSync(tmpdir()).filter((n) => n.startsWith(TMPDIR_PREFIX)));
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

test(`soak: ${OPERATIONS} operations through a pool, ${IN_FLIGHT} in flight`, { timeout: 180_000 }, async () => {
  const pool = createPool({ minZygotes: 1, maxZygotes: 2, maxConcurrency: IN_FLIGHT });
  try {
    // Warm: zygotes, lazily loaded modules, V8's code for the hot path and the heap size a burst
    // grows to all exist before counting, so what is left to see is growth per operation.
    for (let i = 0; i < WARM_UP; i += IN_FLIGHT) await Promise.all(Array.from({ length: IN_FLIGHT }, () => pool.run('/bin/true')));
    collectGarbage();
    const fdsBefore = fdCount();
    const listBefore = openFds();
    const dirsBefore = opDirs();
    const rssBefore = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    const startedAt = Date.now();
    const statsBefore = pool.stats().totals;

    let next = 0;
    let failures = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < OPERATIONS) {
          next++;
          const r = await pool.run('/bin/true');
          if (r.exitCode !== 0) failures++;
        }
      }),
    );
    const seconds = (Date.now() - startedAt) / 1000;
    assert.equal(failures, 0);
    const totals = pool.stats().totals;
    assert.equal(totals.started - statsBefore.started, OPERATIONS);
    assert.equal(totals.failed, 0);

    await waitFor(() => fdCount() <= fdsBefore, 3000, `fd count to return to ${fdsBefore}`).catch(() => {
      assert.deepEqual(openFds(), listBefore);
    });
    assert.deepEqual(zombieChildren(), []);
    const stray = descendants().filter((p) => p.comm !== 'hatchery-zygote');
    assert.deepEqual(stray, []);
    // Other processes on the machine may make op dirs of their own: only ours, made during the soak, count.
    const ours = (): string[] =>
      [...opDirs()].filter((n) => {
        if (dirsBefore.has(n)) return false;
        try {
          return statSync(join(tmpdir(), n)).mtimeMs >= startedAt - 1000;
        } catch {
          return false;
        }
      });
    await waitFor(() => ours().length === 0, 3000, 'no leftover temp dirs').catch(() => assert.deepEqual(ours(), []));
    collectGarbage();
    const growth = process.memoryUsage().rss - rssBefore;
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    // Reported for the record (node --test prints diagnostics).
    console.log(
      `# soak: ${OPERATIONS} ops in ${seconds.toFixed(1)} s (${Math.round(OPERATIONS / seconds)} ops/s), ` +
        `RSS growth ${(growth / 1048576).toFixed(1)} MB, heapUsed growth ${(heapGrowth / 1048576).toFixed(1)} MB`,
    );
    assert.ok(growth < RSS_GROWTH_BOUND, `RSS grew by ${(growth / 1048576).toFixed(1)} MB`);
  } finally {
    await pool.close({ graceMs: 0 });
  }
  assert.deepEqual(descendants(), []);
});
