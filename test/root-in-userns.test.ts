// A caller that is root inside a user namespace of its own (issue 2's
// environments): it holds every capability there, the namespace stock's
// CAP_SYS_ADMIN included, but maybe not the namespaces it would have to go
// back to, nor any uid but 0.
//
// - `unshare -r` (also systemd's PrivateUsers=): only uid 0 is mapped, and the
//   IPC, UTS (and network) namespaces are still the host's. A zygote that
//   stocked namespaces there could not return to its own and died at every
//   sandboxed spawn; the root path's shared uid 65534 cannot be taken either.
//   Now the stock stays off, the caller is planned as an unprivileged root
//   (strict mode refuses with SANDBOX_UNAVAILABLE and says why; best-effort
//   runs the program without capabilities), and one zygote serves every call.
// - a system container (LXC/LXD, systemd-nspawn -U; test/tools/system-container):
//   ids 0-65535 mapped and every namespace the container's own. The root path
//   works there, with the namespace stock: a network namespace serves again.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../src/native/binding.js';
import { runScriptUnder as runUnder } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const UNSHARE = '/usr/bin/unshare';
const PYTHON = '/usr/bin/python3';
const systemContainer = join(packageRoot, 'test', 'tools', 'system-container');
const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');

const ONE_ZYGOTE_BEST_EFFORT = `
const out = {};
try { await m.run('/bin/true'); out.strict = 'ran'; } catch (e) { out.strict = e.code; out.why = e.message; }
const pool = m.createPool({ minZygotes: 1, maxZygotes: 1, sandbox: { mode: 'best-effort' } });
out.runs = [];
out.zygotes = new Set();
for (let i = 0; i < 4; i++) {
  const r = await pool.run('/bin/sh', ['-c', 'id -u; grep ^CapEff /proc/self/status']);
  out.runs.push({ exitCode: r.exitCode, stdout: r.stdout, namespaces: r.enforcement.namespaces, uid: r.enforcement.uid });
  for (const z of pool.stats().zygotes) out.zygotes.add(z.pid);
}
out.zygotes = out.zygotes.size;
out.failed = pool.stats().totals.failed;
await pool.close();
console.log(JSON.stringify(out));`;

describe('root in a user namespace of its own', { skip: !isRoot ? 'needs root (to make the user namespaces)' : false }, () => {
  for (const [name, flags] of [
    ['unshare -r: only uid 0 mapped, IPC and UTS namespaces the host\'s', ['--user', '--map-root-user']],
    ['unshare -rn: its own network namespace, IPC and UTS the host\'s', ['--user', '--map-root-user', '--net']],
  ] as const) {
    test(`${name}: refused in strict mode with the reason, run without capabilities in best-effort, by one zygote`, { skip: existsSync(UNSHARE) ? false : `${UNSHARE} (util-linux) is missing` }, () => {
      const out = runUnder([UNSHARE, ...flags, '--'], ONE_ZYGOTE_BEST_EFFORT);
      assert.equal(out.strict, 'SANDBOX_UNAVAILABLE');
      assert.match(String(out.why), /may not take uid and gid 65534/);
      const runs = out.runs as { exitCode: number; stdout: string; namespaces: string[]; uid: number }[];
      assert.equal(runs.length, 4);
      for (const r of runs) {
        assert.equal(r.exitCode, 0, r.stdout);
        // nobody inside its own user namespace, uid 0 as the caller sees it, and no capability left.
        assert.match(r.stdout, /^65534\nCapEff:\s+0+\n$/);
        assert.deepEqual([...r.namespaces].sort(), ['ipc', 'mount', 'net', 'pid', 'user', 'uts']);
        assert.equal(r.uid, 0);
      }
      // Before: every sandboxed spawn killed the zygote (it could not setns back to the host's IPC namespace).
      assert.equal(out.zygotes, 1, 'a zygote died and was replaced');
      assert.equal(out.failed, 0);
    });
  }

  test('a system container (ids 0-65535, every namespace its own): the root path, with a stocked network namespace that serves again', { skip: existsSync(PYTHON) ? false : `${PYTHON} is missing` }, () => {
    const out = runUnder([systemContainer, '--'], `
const first = await m.run('/bin/true');
const cookies = [];
for (let i = 0; i < 10; i++) {
  const r = await m.run(${JSON.stringify(probe)}, ['netns-state'], { sandbox: { fs: { exec: [${JSON.stringify(probe)}] } } });
  cookies.push(/cookie=(\\d+) sockets=0 unix=0 lo=0,0/.exec(r.stdout)?.[1] ?? r.stdout + r.stderr);
  await new Promise((r) => setTimeout(r, 25));
}
console.log(JSON.stringify({ exitCode: first.exitCode, namespaces: first.enforcement.namespaces, uid: first.enforcement.uid, missing: first.enforcement.missing, cookies }));`);
    assert.equal(out.exitCode, 0);
    assert.deepEqual([...(out.namespaces as string[])].sort(), ['ipc', 'mount', 'net', 'pid', 'user', 'uts']);
    assert.equal(out.uid, 65534);
    assert.deepEqual(out.missing, []);
    const cookies = out.cookies as string[];
    for (const c of cookies) assert.match(c, /^\d+$/, `netns-state: ${c}`);
    // Made per clone, ten operations would have had ten namespaces.
    assert.ok(new Set(cookies).size < cookies.length, `no network namespace served twice: ${cookies.join(' ')}`);
  });
});
