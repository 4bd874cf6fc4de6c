// A root caller's uid per operation (src/spawn/operation-uid.ts) where the
// lease dir cannot be written: a read-only root filesystem (Docker
// --read-only, Kubernetes readOnlyRootFilesystem) whose /run/hatchery already
// exists (an image that ran hatchery while it was built).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const isRoot = process.getuid?.() === 0;

test('a read-only /run that holds the lease dir still gives each operation its own uid, as check says', { skip: !isRoot && 'only a root caller has operation uids', timeout: 60_000 }, () => {
  assert.ok(existsSync('/usr/bin/unshare'), 'unshare is needed for a mount namespace of its own');
  // The lease dir as an earlier run left it (leaseDir() accepts a dir of root's that no one else can write).
  if (!existsSync('/run/hatchery')) mkdirSync('/run/hatchery', { mode: 0o700 });
  const index = join(root, 'dist', 'src', 'index.js');
  const cli = join(root, 'bin', 'hatchery.js');
  const program = `
    import { execFileSync } from 'node:child_process';
    import { writeFileSync } from 'node:fs';
    const out = {};
    try { writeFileSync('/run/hatchery/probe-write', ''); out.runWritable = true; } catch (e) { out.runWritable = e.code; }
    const m = await import(${JSON.stringify(index)});
    const r = await m.run('id', ['-u'], {});
    out.stdout = r.stdout;
    out.uid = r.enforcement.uid;
    out.fallbacks = r.enforcement.fallbacks;
    out.separated = r.enforcement.guarantees.operationsSeparated;
    out.checkSeparated = JSON.parse(execFileSync(process.execPath, [${JSON.stringify(cli)}, 'check', '--json'], { encoding: 'utf8' })).defaultProfile.guarantees.operationsSeparated;
    await m.closeDefaultZygote();
    console.log(JSON.stringify(out));
  `;
  // /run read-only in a mount namespace of its own: the host's /run is untouched.
  const setup = 'mount --bind /run /run && mount -o remount,bind,ro /run && exec "$0" "$@"';
  const r = spawnSync('/usr/bin/unshare', ['-m', '--propagation', 'private', 'sh', '-c', setup, process.execPath, '--input-type=module', '-e', program], {
    encoding: 'utf8',
    timeout: 50_000,
    cwd: '/',
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runWritable: true | string; stdout: string; uid: number; fallbacks: string[]; separated: string; checkSeparated: string };
  assert.equal(out.runWritable, 'EROFS', 'the setup made /run read-only');
  assert.ok(out.uid >= 0x7000_0000, `the operation ran as uid ${out.uid}; fallbacks: ${out.fallbacks.join('; ')}`);
  assert.ok(!out.fallbacks.some((f) => /uid per operation/.test(f)), out.fallbacks.join('; '));
  assert.equal(out.separated, out.checkSeparated, 'hatchery check reports what the run enforced');
});
