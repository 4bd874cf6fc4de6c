/** The policy planners' symlink resolution cache (src/policy/path-cache.ts) never serves a stale answer. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { clearPathCache, resolvePath, stillResolves, type Resolution } from '../src/policy/path-cache.js';

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

test('stillResolves: true while every answer holds, false once any one changes', () => {
  clearPathCache();
  const dir = join(root, 'still');
  const target = join(root, 'still-target');
  const other = join(root, 'still-other');
  mkdirSync(dir);
  mkdirSync(target);
  mkdirSync(other);
  const link = join(root, 'still-link');
  symlinkSync(target, link);
  const missing = join(root, 'still-missing');
  const paths = [dir, link, missing, '/dev/null'];
  const answers = (): Resolution[] => paths.map((p) => [p, resolvePath(p)] as const);
  const now = answers();
  assert.deepEqual(now.map(([, r]) => r), [{ real: dir, kind: 'dir' }, { real: target, kind: 'dir' }, null, { real: '/dev/null', kind: 'device' }]);
  assert.equal(stillResolves(now), true);
  assert.equal(stillResolves([]), true);
  // The symlink retargeted.
  unlinkSync(link);
  symlinkSync(other, link);
  assert.equal(stillResolves(now), false);
  unlinkSync(link);
  symlinkSync(target, link);
  assert.equal(stillResolves(now), true);
  // The target replaced by another directory of the same name: the real path still names what the link names.
  rmSync(target, { recursive: true });
  mkdirSync(target);
  assert.equal(stillResolves(now), true);
  // The real path itself swapped for a symlink: it still names the file the path names, so the name is kept (see the header).
  rmSync(target, { recursive: true });
  symlinkSync(other, target);
  assert.equal(stillResolves(now), true);
  assert.equal(resolvePath(link)?.real, target, 'as resolvePath answers from its cache');
  unlinkSync(target);
  mkdirSync(target);
  // A missing path made, then a directory that was there deleted, then replaced by a file.
  const later = answers();
  mkdirSync(missing);
  assert.equal(stillResolves(later), false);
  rmSync(missing, { recursive: true });
  assert.equal(stillResolves(later), true);
  rmSync(dir, { recursive: true });
  assert.equal(stillResolves(later), false);
  writeFileSync(dir, 'x');
  assert.equal(stillResolves(later), false);
});

test('resolvePath through the addon answers as realpath and stat do, and throws what statSync throws', () => {
  clearPathCache();
  for (const p of ['/', '/bin', '/usr/bin/true', '/dev/null', '/proc/self', '/etc']) {
    for (let i = 0; i < 2; i++) {
      const r = resolvePath(p);
      assert.equal(r?.real, realpathSync(p), p);
      const st = statSync(p);
      assert.equal(r?.kind, st.isDirectory() ? 'dir' : st.isCharacterDevice() || st.isBlockDevice() ? 'device' : 'other', p);
    }
  }
  assert.equal(resolvePath(join(root, 'nothing-here')), null);
  writeFileSync(join(root, 'plain'), 'x');
  assert.throws(() => resolvePath(join(root, 'plain', 'below')), { code: 'ENOTDIR', syscall: 'stat' });
  assert.throws(() => resolvePath('/tmp/a\0b'), { code: 'ERR_INVALID_ARG_VALUE' });
});
