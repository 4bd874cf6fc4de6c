/** The policy planners' symlink resolution cache (src/policy/path-cache.ts) never serves a stale answer. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { clearPathCache, resolvePath } from '../src/policy/path-cache.js';

const root = mkdtempSync(join(tmpdir(), 'hatchery-path-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a retargeted symlink resolves to its new target at once', () => {
  clearPathCache();
  mkdirSync(join(root, 'a'));
  mkdirSync(join(root, 'b'));
  const link = join(root, 'link');
  symlinkSync(join(root, 'a'), link);
  assert.equal(resolvePath(link)?.real, join(root, 'a'));
  assert.equal(resolvePath(link)?.real, join(root, 'a'), 'served from the cache');
  unlinkSync(link);
  symlinkSync(join(root, 'b'), link);
  assert.equal(resolvePath(link)?.real, join(root, 'b'));
});

test('a directory replaced by a file is seen as a file', () => {
  clearPathCache();
  const p = join(root, 'c');
  mkdirSync(p);
  assert.equal(resolvePath(p)?.kind, 'dir');
  rmSync(p, { recursive: true });
  writeFileSync(p, 'x');
  assert.equal(resolvePath(p)?.kind, 'other');
});

test('a missing path is not remembered: made a moment later, it is found', () => {
  clearPathCache();
  const p = join(root, 'later');
  assert.equal(resolvePath(p), null);
  mkdirSync(p);
  const found = resolvePath(p);
  assert.equal(found?.real, p);
  assert.equal(found?.kind, 'dir');
  assert.equal(resolvePath('/dev/null')?.kind, 'device');
});
