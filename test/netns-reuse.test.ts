// A root zygote's stocked network namespaces (native/ns_stock.c): one that an
// operation could leave nothing in serves a later operation, which must find
// it as a new one reads; one an operation could change, or that reads
// otherwise when its operation is gone, never serves again; and no two
// operations are ever in one at the same time. hatchery-probe's netns-state
// prints the namespace's cookie (never reused, unlike its inode number) and
// what the program finds in it before it makes a socket of its own.
import assert from 'node:assert/strict';
import { spawn as spawnHost, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { closeDefaultZygote, createPool, run, type RunOptions, type SandboxOptions } from '../src/index.js';
import { packageRoot } from '../src/native/binding.js';
import { validateSandbox } from '../src/options/sandbox.js';
import { compileUnkept } from '../src/policy/compile.js';
import { detectFeatures } from '../src/policy/features.js';
import { compileSeccomp, type SeccompPolicy } from '../src/policy/seccomp.js';
import { SpawnFlag } from '../src/protocol/constants.generated.js';
import { processes, waitFor } from './helpers.js';

const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');
const isRoot = process.getuid?.() === 0;
const AS_NEW = 'sockets=0 unix=0 lo=0,0';

interface NetnsState {
  cookie: string;
  found: string;
}

function withProbe(options: RunOptions = {}): RunOptions {
  const sandbox = options.sandbox || {};
  return { ...options, encoding: 'utf8', sandbox: { ...sandbox, fs: { ...sandbox.fs, exec: [probe, ...(sandbox.fs?.exec ?? [])] } } };
}

/** netns-state's line. */
function parseNetnsState(out: string): NetnsState {
  const m = /^netns cookie=(\d+) (.*)$/m.exec(out);
  assert.ok(m, `netns-state printed ${JSON.stringify(out)}`);
  return { cookie: m[1]!, found: m[2]! };
}

async function netnsState(args: string[] = [], options: RunOptions = {}): Promise<NetnsState> {
  const r = await run(probe, ['netns-state', ...args], withProbe(options));
  assert.equal(r.exitCode, 0, `netns-state: exit ${r.exitCode} ${String(r.stdout)} ${String(r.stderr)}`);
  return parseNetnsState(String(r.stdout));
}

/** Sequential default-profile operations, a little apart (so the zygote can take their namespaces back): each must find its namespace as new. */
async function sequence(count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const s = await netnsState();
    assert.equal(s.found, AS_NEW, `operation ${i} found its network namespace in use (cookie ${s.cookie})`);
    cookies.push(s.cookie);
    await new Promise((r) => setTimeout(r, 25));
  }
  return cookies;
}

/** The host pid of the probe running `netns-state HOLD`, once it runs. */
async function probePid(hold: string): Promise<number> {
  let pid = 0;
  await waitFor(
    () => {
      for (const p of processes()) {
        if (p.comm !== 'hatchery-probe') continue;
        try {
          if (readFileSync(`/proc/${p.pid}/cmdline`, 'utf8') === `${probe}\0netns-state\0${hold}\0`) pid = p.pid;
        } catch {
          // gone
        }
      }
      return pid !== 0;
    },
    5000,
    'the probe to start',
  );
  return pid;
}

describe('which operations may hand their network namespace on', () => {
  test('seccomp: only a profile under which no call but socketpair makes a socket (net none, no unix sockets, no custom allow of socket, socketpair or io_uring)', () => {
    const pairsOnly = (policy: Exclude<SeccompPolicy, 'off'>, net: 'none' | 'tcp' | 'host' = 'none', unixSockets = false): boolean => {
      const c = compileSeccomp(policy, { arch: 'x86_64', net, unixSockets });
      assert.ok(c);
      return c.socketPairsOnly;
    };
    assert.equal(pairsOnly('default'), true);
    assert.equal(pairsOnly('strict'), true);
    assert.equal(pairsOnly({ deny: ['socketpair', 'ptrace'] }), true, 'refusing more keeps it');
    assert.equal(pairsOnly({ allow: ['ptrace'] }), true, 'allowing an unrelated call keeps it');
    assert.equal(pairsOnly('default', 'tcp'), false);
    assert.equal(pairsOnly('default', 'host'), false);
    assert.equal(pairsOnly('default', 'none', true), false);
    for (const call of ['socket', 'socketpair', 'io_uring_setup', 'io_uring_enter', 'io_uring_register']) {
      assert.equal(pairsOnly({ allow: [call] }), false, `allow ${call}`);
    }
  });

  const features = detectFeatures();
  const full = ['user', 'pid', 'net'].every((n) => features.namespaces.has(n as 'pid')) && features.seccomp;
  test('the spawn plan says so only with a pid and a network namespace and such a seccomp profile', { skip: full ? false : 'needs user, pid and network namespaces and seccomp here' }, () => {
    const flagged = (options: SandboxOptions, as = features): boolean => {
      const s = validateSandbox(options);
      assert.ok(s !== false);
      const ctx = { features: as, limits: {}, extraExec: [], hostTmpdir: () => { throw new Error('no host temp dir here'); } };
      return ((compileUnkept(s, ctx).plan.flags ?? 0) & SpawnFlag.ReusableNet) !== 0;
    };
    assert.equal(flagged({}), true);
    assert.equal(flagged({ namespaces: { pid: false } }), false, 'without a pid namespace its processes may outlive its end');
    assert.equal(flagged({ namespaces: { net: false } }), false);
    assert.equal(flagged({ seccomp: 'off' }), false);
    assert.equal(flagged({ seccomp: { allow: ['socket'] } }), false);
    assert.equal(flagged({ unixSockets: true }), false);
    if (isRoot) {
      // A root caller without the root capabilities runs its programs as its own uid, 0, which may write the
      // namespace's sysctls (root's files) from a user namespace of its own: never handed on.
      assert.equal(flagged({ mode: 'best-effort' }, { ...features, privileged: false }), false, 'the program is the host\'s uid 0');
      assert.equal(flagged({ mode: 'best-effort' }), true);
    }
  });
});

// A root zygote stocks namespaces itself; any other has its twin stock them (native/ns_twin.c) where it may make a user namespace.
const here = detectFeatures();
const stocks = isRoot ? here.privileged : here.userns && here.namespaces.has('net') && here.namespaces.has('pid') && here.seccomp;

describe('network namespaces a zygote hands from one operation to the next', { skip: stocks ? false : 'no namespace stock here: neither root nor user namespaces' }, () => {
  after(async () => {
    await closeDefaultZygote();
  });

  test('an operation that can leave nothing in its network namespace hands it on, and every later operation finds it as new', async () => {
    const cookies = await sequence(8);
    assert.ok(new Set(cookies).size < cookies.length, `no namespace served twice in 8 operations: ${cookies.join(' ')}`);
  });

  test('a busy zygote, never idle, still hands namespaces on: a pool at concurrency 8', async () => {
    const pool = createPool({ minZygotes: 1, maxZygotes: 1, maxConcurrency: 8, sandbox: { fs: { exec: [probe] } } });
    try {
      const cookies: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next++ < 120) {
            const r = await pool.run(probe, ['netns-state'], { encoding: 'utf8' });
            const { cookie, found } = parseNetnsState(String(r.stdout));
            assert.equal(found, AS_NEW, `cookie ${cookie}`);
            cookies.push(cookie);
          }
        }),
      );
      const distinct = new Set(cookies).size;
      assert.ok(distinct <= 40, `${distinct} network namespaces for ${cookies.length} operations`);
    } finally {
      await pool.close();
    }
  });

  test('no two operations are in one network namespace at the same time', async () => {
    await sequence(3);
    const together = await Promise.all([0, 1, 2, 3, 4].map(() => netnsState(['1'])));
    const cookies = together.map((s) => s.cookie);
    assert.equal(new Set(cookies).size, cookies.length, `concurrent operations share a namespace: ${cookies.join(' ')}`);
    for (const s of together) assert.equal(s.found, AS_NEW);
  });

  test('a socketpair sent through itself (alive until the garbage collector finds it) leaves no later operation a socket', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await run(probe, ['pair-in-flight'], withProbe());
      assert.equal(String(r.stdout).trim(), 'allowed in flight');
      const next = await netnsState();
      assert.equal(next.found, AS_NEW, `after a pair in flight, cookie ${next.cookie}`);
    }
  });

  // The namespace is changed from outside, as root, while its operation runs: the zygote's reading at the end must see it.
  for (const [what, tamper] of [
    ['a datagram crossed its lo (lo and UDP counters changed)', (pid: number) => {
      const r = spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, probe, 'loopback-echo'], { encoding: 'utf8' });
      assert.equal(r.stdout.trim(), 'allowed', `loopback-echo in the operation's namespace: ${r.stdout} ${r.stderr}`);
      return null;
    }],
    ['a socket in it outlives the operation', (pid: number) => spawnHost('nsenter', [`--net=/proc/${pid}/ns/net`, probe, 'netns-state', '2'], { stdio: 'ignore' })],
  ] as const) {
    test(`a network namespace is never handed on when ${what}`, { skip: isRoot ? false : "entering the operation's namespace from outside needs root" }, async () => {
      await sequence(3);
      const held = netnsState(['1']);
      const pid = await probePid('1');
      const helper = tamper(pid);
      const { cookie } = await held;
      try {
        const later = await sequence(8);
        assert.ok(!later.includes(cookie), `namespace ${cookie} served again: ${later.join(' ')}`);
      } finally {
        if (helper) await new Promise((resolve) => (helper.exitCode !== null ? resolve(null) : helper.once('exit', resolve)));
      }
    });
  }

  // A caller that is not root has its twin stock the namespaces, in the twin's user namespace: a program, in a user
  // namespace beneath it, holds no capability there (CAP_NET_ADMIN is what writes a sysctl), so even a write grant fails.
  test("a program may not write its network namespace's sysctls, even with a write grant and no mount namespace", { skip: isRoot ? 'a root caller cannot grant /proc/sys/net to an operation uid' : false }, async () => {
    for (const namespaces of [{ mount: false }, {}]) {
      const r = await run('/bin/sh', ['-c', 'echo 77 > /proc/sys/net/core/somaxconn; echo rc=$?; cat /proc/sys/net/core/somaxconn'], {
        encoding: 'utf8',
        sandbox: { mode: 'best-effort', namespaces, fs: { write: ['/proc/sys/net'] } },
      });
      assert.match(String(r.stdout), /^rc=[12]\n/, `${JSON.stringify(namespaces)}: ${String(r.stdout)} ${String(r.stderr)}`);
      assert.doesNotMatch(String(r.stdout), /^77$/m);
      assert.match(String(r.stderr), /Permission denied/);
      assert.ok(r.enforcement.namespaces.includes('net'));
    }
  });

  // Each of these lets the program make a socket that is not a pair: its namespace could keep what it did.
  for (const [what, options] of [
    ['seccomp allows socket()', { sandbox: { seccomp: { allow: ['socket'] } } }],
    ['unix sockets are allowed', { sandbox: { unixSockets: true } }],
    ['seccomp is off', { sandbox: { seccomp: 'off' } }],
    ['seccomp allows io_uring', { sandbox: { seccomp: { allow: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'] } } }],
  ] as const) {
    test(`an operation never hands its network namespace on when ${what}`, async () => {
      await sequence(3);
      const { cookie, found } = await netnsState([], options as RunOptions);
      assert.equal(found, AS_NEW);
      const later = await sequence(8);
      assert.ok(!later.includes(cookie), `namespace ${cookie} served again: ${later.join(' ')}`);
    });
  }
});
