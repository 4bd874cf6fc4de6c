// Older kernels, simulated: each run happens in a fresh Node process whose
// HATCHERY_* variables cap what detection reports, and must still sandbox
// with what is left (best-effort) or refuse by name (strict).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

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
