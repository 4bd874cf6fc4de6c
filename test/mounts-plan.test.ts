// planMounts: the ordered mount ops native/ns.c applies, decided against a fake filesystem.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_HIDDEN_DIRS, hostFs, mountOpsSupported, planMounts, type MountFs, type MountStep } from '../src/policy/mounts.js';
import { MountOp } from '../src/protocol/wire.js';

/** Paths that exist (dirs end in '/'), plus symlinks. */
function fakeFs(entries: readonly string[], links: Record<string, string> = {}): MountFs {
  const dirs = new Set(entries.filter((e) => e.endsWith('/')).map((e) => (e === '/' ? e : e.slice(0, -1))));
  const files = new Set(entries.filter((e) => !e.endsWith('/')));
  const devices = new Set(['/dev/null', '/dev/zero']);
  const resolve = (path: string): string => {
    for (const [from, to] of Object.entries(links)) {
      if (path === from || path.startsWith(`${from}/`)) return resolve(to + path.slice(from.length));
    }
    return path;
  };
  return {
    resolve(path) {
      const real = resolve(path);
      if (dirs.has(real)) return { real, kind: 'dir' };
      if (devices.has(real)) return { real, kind: 'device' };
      return files.has(real) ? { real, kind: 'other' } : null;
    },
  };
}

const name = (op: number): string => Object.entries(MountOp).find(([, v]) => v === op)?.[0] ?? String(op);
const show = (ops: MountStep[]): string[] => ops.map((o) => `${name(o.op)} ${o.path}`);

const SYSTEM = ['/', '/usr/', '/bin/', '/etc/', '/etc/passwd', '/tmp/', '/run/', '/home/', '/srv/', '/var/', '/var/tmp/'];

test('the temp dir is preserved, /tmp hidden, everything read-only, the temp dir writable again', () => {
  const fs = fakeFs([...SYSTEM, '/tmp/op-1/']);
  const ops = planMounts({ tmpdir: '/tmp/op-1', write: ['/dev/null'], read: ['/etc/passwd'], exec: ['/usr', '/bin'] }, fs);
  assert.deepEqual(show(ops), [
    'Preserve /tmp/op-1',
    'Hide /tmp',
    'Hide /var/tmp',
    'Hide /run',
    'Hide /home',
    'Hide /srv',
    'Restore /tmp/op-1',
    'ReadonlyAll /',
    'BindRw /tmp/op-1',
  ]);
});

test('missing hidden dirs and missing allowed paths are left out', () => {
  const fs = fakeFs(['/', '/usr/', '/tmp/']);
  const ops = planMounts({ tmpdir: null, write: ['/tmp/absent'], read: ['/nope'], exec: ['/usr'] }, fs);
  assert.deepEqual(show(ops), ['Hide /tmp', 'ReadonlyAll /']);
});

test('allowed paths under hidden dirs keep working; nested ones are preserved once', () => {
  const fs = fakeFs([...SYSTEM, '/home/u/', '/home/u/project/', '/home/u/project/src/', '/home/u/.npmrc', '/run/app/']);
  const ops = planMounts(
    {
      tmpdir: null,
      write: ['/home/u/project'],
      read: ['/home/u/project/src', '/home/u/.npmrc'],
      exec: ['/run/app'],
    },
    fs,
  );
  assert.deepEqual(show(ops), [
    'Preserve /home/u/project',
    'Preserve /home/u/.npmrc',
    'Preserve /run/app',
    'Hide /tmp',
    'Hide /var/tmp',
    'Hide /run',
    'Hide /home',
    'Hide /srv',
    'Restore /home/u/project',
    'Restore /home/u/.npmrc',
    'Restore /run/app',
    'ReadonlyAll /',
    'BindRw /home/u/project',
  ]);
});

test("the paths a pool's call narrowed to are taken as given and opened exactly by the ops that open them", () => {
  // /srv/up/job is a symlink to /etc on this fake filesystem: an exact path is its own answer, never looked up.
  const fs = fakeFs([...SYSTEM, '/srv/up/', '/data/', '/data/out/'], { '/srv/up/job': '/etc', '/data/out/x': '/etc' });
  const exact = new Map([
    ['/srv/up/job', 'dir' as const],
    ['/data/out/x', 'dir' as const],
  ]);
  const ops = planMounts({ tmpdir: null, write: ['/srv/up/job', '/data/out/x'], read: ['/srv/up'], exec: [], exact }, fs);
  assert.deepEqual(
    ops.map((o) => `${name(o.op)} ${o.path}${o.exact ? ' exact' : ''}`),
    [
      'Preserve /srv/up',
      'Hide /tmp',
      'Hide /var/tmp',
      'Hide /run',
      'Hide /home',
      'Hide /srv',
      'Restore /srv/up',
      'ReadonlyAll /',
      'BindRw /srv/up/job exact',
      'BindRw /data/out/x exact',
    ],
  );
  const alone = planMounts({ tmpdir: null, write: ['/srv/up/job'], read: [], exec: [], exact }, fs);
  assert.deepEqual(
    alone.filter((o) => o.exact).map((o) => `${name(o.op)} ${o.path}`),
    ['Preserve /srv/up/job', 'BindRw /srv/up/job'],
  );
});

test('symlinks are resolved: /etc/resolv.conf into /run is preserved at its target; /var/run is /run', () => {
  const fs = fakeFs([...SYSTEM, '/run/resolve/', '/run/resolve/stub.conf'], {
    '/etc/resolv.conf': '/run/resolve/stub.conf',
    '/var/run': '/run',
  });
  const ops = planMounts({ tmpdir: null, write: [], read: ['/etc/resolv.conf'], exec: [], hide: ['/run', '/var/run'] }, fs);
  assert.deepEqual(show(ops), ['Preserve /run/resolve/stub.conf', 'Hide /run', 'Restore /run/resolve/stub.conf', 'ReadonlyAll /']);
});

test('a hidden dir the policy allows as a whole (or an ancestor of) is not hidden', () => {
  const fs = fakeFs(SYSTEM);
  assert.deepEqual(show(planMounts({ tmpdir: null, write: ['/tmp'], read: [], exec: [], hide: ['/tmp', '/run'] }, fs)), [
    'Hide /run',
    'ReadonlyAll /',
    'BindRw /tmp',
  ]);
  assert.deepEqual(show(planMounts({ tmpdir: null, write: [], read: ['/'], exec: [], hide: ['/tmp', '/run'] }, fs)), ['ReadonlyAll /']);
});

test('nested hidden dirs are hidden once; write paths beneath another write path are bound once; devices never', () => {
  const fs = fakeFs([...SYSTEM, '/run/lock/', '/srv/data/', '/srv/data/out/']);
  const ops = planMounts(
    { tmpdir: null, write: ['/srv/data/out', '/srv/data', '/dev/null'], read: [], exec: [], hide: ['/run', '/run/lock'] },
    fs,
  );
  assert.deepEqual(show(ops), ['Hide /run', 'ReadonlyAll /', 'BindRw /srv/data']);
});

test('bad paths are TypeErrors; too many ops a RangeError', () => {
  const fs = fakeFs(SYSTEM);
  assert.throws(() => planMounts({ tmpdir: null, write: ['relative'], read: [], exec: [] }, fs), TypeError);
  assert.throws(() => planMounts({ tmpdir: null, write: [], read: ['/a\0b'], exec: [] }, fs), TypeError);
  const many = Array.from({ length: 260 }, (_, i) => `/home/f${i}`);
  const big = fakeFs([...SYSTEM, ...many]);
  assert.throws(() => planMounts({ tmpdir: null, write: [], read: many, exec: [] }, big), RangeError);
});

test('mount ops need Linux 5.12', () => {
  assert.equal(mountOpsSupported('6.18.0-1-amd64'), true);
  assert.equal(mountOpsSupported('5.12.0'), true);
  assert.equal(mountOpsSupported('5.11.22'), false);
  assert.equal(mountOpsSupported('4.19.0'), false);
  assert.equal(mountOpsSupported('garbage'), false);
});

test('against the real filesystem: the default hidden dirs that exist, a real temp dir, a symlinked read path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-mounts-'));
  try {
    const link = join(dir, 'link');
    symlinkSync('/etc/passwd', link);
    const ops = planMounts({ tmpdir: dir, write: [], read: [link], exec: ['/usr'] });
    const hidden = ops.filter((o) => o.op === MountOp.Hide).map((o) => o.path);
    assert.ok(hidden.length > 0);
    for (const h of hidden) assert.ok(DEFAULT_HIDDEN_DIRS.includes(h) || hostFs.resolve(h)?.real === h, h);
    const real = hostFs.resolve(dir)!.real;
    assert.deepEqual(
      ops.filter((o) => o.op !== MountOp.Hide).map((o) => `${name(o.op)} ${o.path}`),
      hidden.some((h) => real.startsWith(`${h}/`))
        ? [`Preserve ${real}`, `Restore ${real}`, 'ReadonlyAll /', `BindRw ${real}`]
        : ['ReadonlyAll /', `BindRw ${real}`],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
