// Older kernels, simulated: each run happens in a fresh Node process whose
// HATCHERY_* variables cap what detection reports, and must still sandbox
// with what is left (best-effort) or refuse by name (strict).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { detectFeatures } from '../src/policy/features.js';
import { waitFor } from './helpers.js';

const index = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'index.js');

interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
  missing?: string[];
  stdout?: string;
  enforcement?: { namespaces: string[]; landlock: { abi: number; net: string[]; scopes: string[] } | null; seccomp: unknown; missing: string[] };
}

function runWith(env: Record<string, string>, sandbox: object, script = 'cat /etc/shadow 2>&1; id -u'): Outcome {
  const program = `
    import { run, closeDefaultZygote } from ${JSON.stringify(index)};
    try {
      const r = await run('/bin/sh', ['-c', ${JSON.stringify(script)}], { sandbox: ${JSON.stringify(sandbox)} });
      console.log(JSON.stringify({ ok: true, stdout: r.stdout, enforcement: r.enforcement }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, code: e.code, message: e.message, missing: e.missing }));
    }
    await closeDefaultZygote();
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Outcome;
}

test('no user namespaces: auto falls back and the sandbox still holds', () => {
  const o = runWith({ HATCHERY_DISABLE_USERNS: '1' }, {});
  assert.ok(o.ok, JSON.stringify(o));
  assert.ok(!o.enforcement!.namespaces.includes('user'), `namespaces: ${o.enforcement!.namespaces.join(',')}`);
  if (process.getuid?.() === 0) {
    // root creates the other namespaces itself and still drops to nobody
    assert.ok(o.enforcement!.namespaces.includes('pid'));
  } else {
    assert.deepEqual(o.enforcement!.namespaces, []);
  }
  assert.match(o.stdout!, /Permission denied/);
  assert.ok(o.enforcement!.landlock!.abi >= 1);
});

test('Landlock ABI 3: no TCP rules and no scopes; strict refuses a port list by name, best-effort reports it', () => {
  const strict = runWith({ HATCHERY_LANDLOCK_ABI_MAX: '3' }, { net: { connectTcp: [80] } });
  assert.equal(strict.ok, false);
  assert.equal(strict.code, 'SANDBOX_UNAVAILABLE');
  assert.ok(strict.missing!.some((m) => /TCP port rules/.test(m)), strict.missing!.join('; '));
  const loose = runWith({ HATCHERY_LANDLOCK_ABI_MAX: '3' }, { net: { connectTcp: [80] }, mode: 'best-effort' });
  assert.ok(loose.ok, JSON.stringify(loose));
  assert.equal(loose.enforcement!.landlock!.abi, 3);
  assert.deepEqual(loose.enforcement!.landlock!.net, []);
  assert.ok(loose.enforcement!.missing.some((m) => /TCP port rules/.test(m)));
});

test('Landlock ABI 5 with net none: a network namespace stands in for the missing abstract-socket scope', () => {
  const o = runWith({ HATCHERY_LANDLOCK_ABI_MAX: '5' }, {});
  assert.ok(o.ok, JSON.stringify(o));
  assert.deepEqual(o.enforcement!.landlock!.scopes, []);
  assert.ok(o.enforcement!.namespaces.includes('net'));
  assert.deepEqual(o.enforcement!.missing, []);
});

test('no Landlock at all: strict refuses, best-effort still runs under namespaces and seccomp', () => {
  const strict = runWith({ HATCHERY_LANDLOCK_ABI_MAX: '0' }, {});
  assert.equal(strict.code, 'SANDBOX_UNAVAILABLE');
  assert.ok(strict.missing!.some((m) => /^landlock/.test(m)));
  const loose = runWith({ HATCHERY_LANDLOCK_ABI_MAX: '0' }, { mode: 'best-effort' });
  assert.ok(loose.ok, JSON.stringify(loose));
  assert.equal(loose.enforcement!.landlock, null);
  assert.ok(loose.enforcement!.seccomp);
});

test('no seccomp: strict refuses by name', () => {
  const strict = runWith({ HATCHERY_DISABLE_SECCOMP: '1' }, {});
  assert.equal(strict.code, 'SANDBOX_UNAVAILABLE');
  assert.ok(strict.missing!.some((m) => /^seccomp/.test(m)));
});

test('every refusal a simulation variable causes names that variable as simulated', () => {
  const cases: Array<[Record<string, string>, object, string]> = [
    [{ HATCHERY_DISABLE_SECCOMP: '1' }, {}, 'HATCHERY_DISABLE_SECCOMP=1'],
    [{ HATCHERY_LANDLOCK_ABI_MAX: '0' }, {}, 'HATCHERY_LANDLOCK_ABI_MAX=0'],
    [{ HATCHERY_LANDLOCK_ABI_MAX: '3' }, { net: { connectTcp: [80] } }, 'HATCHERY_LANDLOCK_ABI_MAX=3'],
    [{ HATCHERY_DISABLE_USERNS: '1' }, { namespaces: { user: true } }, 'HATCHERY_DISABLE_USERNS=1'],
  ];
  for (const [env, sandbox, variable] of cases) {
    const o = runWith(env, sandbox);
    assert.equal(o.code, 'SANDBOX_UNAVAILABLE', `${variable}: ${JSON.stringify(o)}`);
    assert.ok(o.message!.includes(`simulations in effect: `), o.message);
    assert.ok(o.message!.includes(variable), o.message);
  }
  // seccomp's own entry says it is simulated, not that the kernel lacks it.
  const seccomp = runWith({ HATCHERY_DISABLE_SECCOMP: '1' }, {});
  assert.ok(seccomp.missing!.includes('seccomp (simulated: HATCHERY_DISABLE_SECCOMP=1)'), seccomp.missing!.join('; '));
  assert.doesNotMatch(seccomp.message!, /kernel has no seccomp/);
});

test('a simulation variable with a value it does not take is INVALID_OPTION naming it, from run(), run, check and policy: never the real environment unsaid', () => {
  const bin = join(dirname(index), '..', '..', 'bin', 'hatchery.js');
  const cases: Array<[string, string, RegExp]> = [
    ['HATCHERY_DISABLE_USERNS', 'true', /must be 1 or 0 \(or unset\), got "true"/],
    ['HATCHERY_DISABLE_SECCOMP', 'yes', /must be 1 or 0 \(or unset\), got "yes"/],
    ['HATCHERY_LANDLOCK_ABI_MAX', 'three', /must be a Landlock ABI number, 0 for none \(or unset\), got "three"/],
  ];
  for (const [name, value, message] of cases) {
    const env = { ...process.env, [name]: value };
    const program = `
      import { run } from ${JSON.stringify(index)};
      run('true').then(() => console.log('ran'), (e) => console.log(JSON.stringify({ name: e.name, code: e.code, option: e.option, message: e.message })));
    `;
    const api = spawnSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8', env, timeout: 30_000 });
    const error = JSON.parse(api.stdout) as { name: string; code: string; option: string; message: string };
    assert.deepEqual({ ...error, message: undefined }, { name: 'RangeError', code: 'INVALID_OPTION', option: `process.env.${name}`, message: undefined });
    assert.match(error.message, new RegExp(`^${name} ${message.source}`));
    for (const command of [['run', '--', 'true'], ['check'], ['policy', '--explain']]) {
      const r = spawnSync(process.execPath, [bin, ...command], { encoding: 'utf8', env, timeout: 30_000 });
      assert.equal(r.status, 125, `${command.join(' ')} with ${name}=${value}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^hatchery: INVALID_OPTION: ${name} ${message.source}\n$`), command.join(' '));
    }
  }
  // Unset and empty are the real environment; 0 says so explicitly.
  const plain = spawnSync(process.execPath, [bin, 'run', '--', 'true'], { encoding: 'utf8', env: { ...process.env, HATCHERY_DISABLE_USERNS: '0', HATCHERY_DISABLE_SECCOMP: '', HATCHERY_LANDLOCK_ABI_MAX: '' }, timeout: 30_000 });
  assert.equal(plain.status, 0, plain.stderr);
});

test('hatchery policy --explain names the simulation when strict would refuse (exit 125, one line on stderr)', () => {
  const r = spawnSync(process.execPath, [join(dirname(index), '..', '..', 'bin', 'hatchery.js'), 'policy', '--explain'], {
    encoding: 'utf8',
    env: { ...process.env, HATCHERY_DISABLE_SECCOMP: '1' },
    timeout: 30_000,
  });
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /^hatchery: SANDBOX_UNAVAILABLE: strict mode would refuse: seccomp \(simulated: HATCHERY_DISABLE_SECCOMP=1\) — simulations in effect: seccomp disabled \(HATCHERY_DISABLE_SECCOMP=1\)\n$/);
  assert.match(r.stdout, /simulations in effect: seccomp disabled \(HATCHERY_DISABLE_SECCOMP=1\)/);
});

test('a spawn aborted while the kernel refuses its user namespace (auto) ends with the abort, not with the retry without one running', {
  skip: process.getuid?.() !== 0 ? 'root only: every uid is mapped into a user namespace of its own' : !detectFeatures().userns ? 'no user namespaces here' : false,
}, async (t) => {
  // The probe says yes, then the kernel says no: the scenario runs in a Node process in a user namespace
  // of its own (every uid mapped to itself, and its own mount, network, IPC and UTS namespaces, which a root
  // zygote there must own to enter its stocked ones), where user.max_user_namespaces is that namespace's own
  // limit. After one spawn with a user namespace it sets it to 0, so the next clone with CLONE_NEWUSER fails
  // with ENOSPC: a refusal, and 'auto' retries without one. The abort comes once the first SPAWN is out and
  // before its SPAWN_FAILED is read; the retry must not run.
  const src = dirname(index);
  const program = `
    import { writeFileSync } from 'node:fs';
    const { detectFeatures } = await import(${JSON.stringify(join(src, 'policy', 'features.js'))});
    const { normalizeSpawnOptions } = await import(${JSON.stringify(join(src, 'options', 'spawn-options.js'))});
    const { spawnOn } = await import(${JSON.stringify(join(src, 'spawn', 'spawn.js'))});
    const { Zygote } = await import(${JSON.stringify(join(src, 'zygote', 'zygote.js'))});
    const options = (o) => normalizeSpawnOptions(o, [], ['ignore', 'pipe', 'ignore']);
    const read = async (s) => { let out = ''; for await (const chunk of s.handle.stdout) out += chunk; await s.handle.exited; return out; };
    const z = await Zygote.start({ idleTimeoutMs: 0, startTimeoutMs: 5000 });
    const out = {};
    try {
      const first = await spawnOn(z, '/bin/true', [], options({}));
      out.first = first.enforcement.namespaces;
      await read(first);
      writeFileSync('/proc/sys/user/max_user_namespaces', '0');
      const controller = new AbortController();
      const pending = spawnOn(z, '/bin/sh', ['-c', 'echo ran'], options({ signal: controller.signal }));
      controller.abort(); // the SPAWN is out, its answer not read yet
      try {
        const s = await pending;
        out.aborted = { ran: true, namespaces: s.enforcement.namespaces, stdout: await read(s) };
      } catch (e) {
        out.aborted = { code: e.code, message: e.message };
      }
      out.reason = detectFeatures().usernsReason;
      const after = await spawnOn(z, '/bin/sh', ['-c', 'echo after'], options({}));
      out.after = { namespaces: after.enforcement.namespaces, stdout: await read(after) };
    } finally {
      z.close();
    }
    console.log(JSON.stringify(out));
  `;
  const child = spawn('unshare', ['--user', '--mount', '--net', '--ipc', '--uts', '--', '/bin/sh', '-c', 'read go && exec "$0" --input-type=module -e "$1"', process.execPath, program], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    const ns = (pid: number): string => {
      try {
        return readlinkSync(`/proc/${pid}/ns/user`);
      } catch {
        return '';
      }
    };
    await waitFor(() => child.exitCode !== null || (ns(child.pid!) !== '' && ns(child.pid!) !== ns(process.pid)), 10_000, 'unshare to make its user namespace');
    assert.equal(child.exitCode, null, stderr);
    try {
      writeFileSync(`/proc/${child.pid}/uid_map`, '0 0 4294967295');
      writeFileSync(`/proc/${child.pid}/gid_map`, '0 0 4294967295');
    } catch (e) {
      t.skip(`every uid cannot be mapped into a user namespace here (${(e as NodeJS.ErrnoException).code})`);
      return;
    }
    child.stdin.end('go\n');
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    const o = JSON.parse(stdout) as { first: string[]; aborted: { code?: string; ran?: boolean }; reason: string; after: { namespaces: string[]; stdout: string } };
    t.diagnostic(JSON.stringify(o));
    assert.ok(o.first.includes('user'), `the first spawn had no user namespace: ${o.first.join(',')}`);
    assert.equal(o.aborted.code, 'ABORTED', `the aborted spawn: ${JSON.stringify(o.aborted)}`);
    assert.match(o.reason, /refused a user namespace at spawn time \(ENOSPC\)/, 'the first attempt was not refused its user namespace');
    // The refusal is kept: the next spawn goes without a user namespace at once, and runs.
    assert.ok(!o.after.namespaces.includes('user'), o.after.namespaces.join(','));
    assert.equal(o.after.stdout, 'after\n');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
});
