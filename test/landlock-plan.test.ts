// Pure unit tests of the Landlock and namespace planners: no kernel involved.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AccessFs,
  AccessNet,
  DEFAULT_SYSTEM_PATHS,
  EXEC,
  READ,
  Scope,
  WRITE,
  fsRightNames,
  fsRightsForAbi,
  landlockWirePlan,
  netRightsForAbi,
  planLandlock,
  scopesForAbi,
  withSystemPaths,
  type LandlockRequest,
} from '../src/policy/landlock.js';
import {
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
  namespacesWirePlan,
  planNamespaces,
} from '../src/policy/namespaces.js';
import { NamespaceOption, encodeSpawn } from '../src/protocol/wire.js';
import { MAX_SANDBOX_FS_PATHS, SANDBOX_RESERVED_PATHS } from '../src/options/sandbox.js';

const ALL_FS = (1n << 16n) - 1n;
const base: LandlockRequest = { abi: 7, read: [], write: [], exec: [], net: 'none', scopes: true };

test('fs rights grow with the ABI and stop at IOCTL_DEV', () => {
  assert.equal(fsRightsForAbi(0), 0n);
  assert.equal(fsRightsForAbi(1), (1n << 13n) - 1n);
  assert.equal(fsRightsForAbi(1) & AccessFs.Refer, 0n);
  assert.equal(fsRightsForAbi(2), (1n << 14n) - 1n);
  assert.equal(fsRightsForAbi(2) & AccessFs.Truncate, 0n);
  assert.equal(fsRightsForAbi(3), (1n << 15n) - 1n);
  assert.equal(fsRightsForAbi(4), fsRightsForAbi(3));
  assert.equal(fsRightsForAbi(5), ALL_FS);
  assert.equal(fsRightsForAbi(7), ALL_FS);
  assert.equal(fsRightsForAbi(42), ALL_FS);
});

test('net rights from ABI 4, scopes from ABI 6', () => {
  assert.equal(netRightsForAbi(3), 0n);
  assert.equal(netRightsForAbi(4), AccessNet.BindTcp | AccessNet.ConnectTcp);
  assert.equal(scopesForAbi(5), 0n);
  assert.equal(scopesForAbi(6), Scope.AbstractUnixSocket | Scope.Signal);
  assert.equal(scopesForAbi(7), 3n);
});

test('right sets', () => {
  assert.equal(READ, AccessFs.ReadFile | AccessFs.ReadDir);
  assert.equal(EXEC, READ | AccessFs.Execute);
  assert.equal(WRITE & READ, READ);
  assert.equal(WRITE & AccessFs.Execute, 0n);
  assert.equal(WRITE & (AccessFs.MakeChar | AccessFs.MakeBlock), 0n);
  assert.deepEqual(fsRightNames(WRITE), [
    'write_file', 'read_file', 'read_dir', 'remove_dir', 'remove_file', 'make_dir', 'make_reg',
    'make_sock', 'make_fifo', 'make_sym', 'refer', 'truncate',
  ]);
});

test('ABI 7 default-like plan handles everything', () => {
  const p = planLandlock({ ...base, read: ['/etc/passwd'], exec: ['/usr'], write: ['/tmp/op', '/dev/null'] });
  assert.deepEqual(p.ruleset, { abi: 7, handledAccessFs: ALL_FS, handledAccessNet: 3n, scoped: 3n });
  assert.deepEqual(p.paths, [
    { path: '/etc/passwd', allowedAccess: READ },
    { path: '/usr', allowedAccess: EXEC },
    { path: '/tmp/op', allowedAccess: WRITE },
    { path: '/dev/null', allowedAccess: WRITE | AccessFs.IoctlDev },
  ]);
  assert.deepEqual(p.ports, []);
  assert.equal(p.report.abi, 7);
  assert.equal(p.report.fsRightsHandled.length, 16);
  assert.ok(p.report.fsRightsHandled.includes('refer'));
  assert.ok(p.report.fsRightsHandled.includes('truncate'));
  assert.ok(p.report.fsRightsHandled.includes('ioctl_dev'));
  assert.deepEqual(p.report.netRightsHandled, ['bind_tcp', 'connect_tcp']);
  assert.deepEqual(p.report.scopes, ['abstract_unix_socket', 'signal']);
});

test('ABI 1 has no REFER or TRUNCATE: rights are capped, the report says so', () => {
  const p = planLandlock({ ...base, abi: 1, write: ['/w'] });
  assert.equal(p.ruleset.handledAccessFs, (1n << 13n) - 1n);
  assert.equal(p.paths[0]?.allowedAccess, WRITE & ~(AccessFs.Refer | AccessFs.Truncate));
  assert.ok(!p.report.fsRightsHandled.includes('refer'));
  assert.ok(!p.report.fsRightsHandled.includes('truncate'));
  assert.equal(p.ruleset.handledAccessNet, 0n);
  assert.equal(p.ruleset.scoped, 0n);
});

test('ABI 3 has no net: port rules are dropped, nothing net is handled', () => {
  const p = planLandlock({ ...base, abi: 3, net: { connectTcp: [443] } });
  assert.equal(p.ruleset.handledAccessNet, 0n);
  assert.deepEqual(p.ports, []);
  assert.deepEqual(p.report.netRightsHandled, []);
  assert.ok(p.report.fsRightsHandled.includes('truncate'));
  assert.ok(!p.report.fsRightsHandled.includes('ioctl_dev'));
});

test('ABI 5 has IOCTL_DEV and net but no scopes', () => {
  const p = planLandlock({ ...base, abi: 5, read: ['/dev/urandom'] });
  assert.equal(p.ruleset.handledAccessFs, ALL_FS);
  assert.equal(p.ruleset.handledAccessNet, 3n);
  assert.equal(p.ruleset.scoped, 0n);
  assert.deepEqual(p.report.scopes, []);
  assert.equal(p.paths[0]?.allowedAccess, READ | AccessFs.IoctlDev);
});

test('scopes: false leaves scoped at 0 even on ABI 7', () => {
  assert.equal(planLandlock({ ...base, scopes: false }).ruleset.scoped, 0n);
});

test("net 'host' handles no net right; lists add merged, sorted port rules", () => {
  const host = planLandlock({ ...base, net: 'host' });
  assert.equal(host.ruleset.handledAccessNet, 0n);
  assert.deepEqual(host.report.netRightsHandled, []);

  const lists = planLandlock({ ...base, net: { connectTcp: [5432, 443], bindTcp: [8080, 443] } });
  assert.equal(lists.ruleset.handledAccessNet, 3n);
  assert.deepEqual(lists.ports, [
    { port: 443n, allowedAccess: AccessNet.BindTcp | AccessNet.ConnectTcp },
    { port: 5432n, allowedAccess: AccessNet.ConnectTcp },
    { port: 8080n, allowedAccess: AccessNet.BindTcp },
  ]);

  const empty = planLandlock({ ...base, net: {} });
  assert.equal(empty.ruleset.handledAccessNet, 3n);
  assert.deepEqual(empty.ports, []);
});

test('duplicate and unnormalized paths merge by OR-ing rights', () => {
  const p = planLandlock({ ...base, read: ['/data/', '/data'], exec: ['/data/./'], write: ['/out', '/a/../out'] });
  assert.deepEqual(p.paths, [
    { path: '/data', allowedAccess: EXEC },
    { path: '/out', allowedAccess: WRITE },
  ]);
  const q = planLandlock({ ...base, read: ['/x'], exec: ['/x'], write: ['/x'] });
  assert.deepEqual(q.paths, [{ path: '/x', allowedAccess: WRITE | AccessFs.Execute }]);
});

test("a path a pool's call narrowed to is an exact rule, whichever list names it; the others are not", () => {
  const p = planLandlock({ ...base, read: ['/data/job', '/data'], exec: [], write: ['/data/job'], exact: new Set(['/data/job']) });
  assert.deepEqual(p.paths, [
    { path: '/data/job', allowedAccess: WRITE, exact: true },
    { path: '/data', allowedAccess: READ },
  ]);
  const wire = landlockWirePlan(p);
  assert.deepEqual(
    wire.paths.map((r) => r.exact === true),
    [true, false],
  );
});

test('bad input is refused', () => {
  assert.throws(() => planLandlock({ ...base, abi: 0 }), RangeError);
  assert.throws(() => planLandlock({ ...base, read: ['relative/path'] }), TypeError);
  assert.throws(() => planLandlock({ ...base, net: { connectTcp: [70000] } }), RangeError);
  assert.throws(() => planLandlock({ ...base, net: { bindTcp: [1.5] } }), RangeError);
  const many = Array.from({ length: 257 }, (_, i) => `/p${i}`);
  assert.throws(() => planLandlock({ ...base, read: many }), RangeError);
});

test('system paths: defaults first (all of /etc, read-only), /proc only when the sandbox has its own', () => {
  const none = withSystemPaths({ read: ['/in'], write: ['/tmp/op'], exec: [] }, { net: 'none', privateProc: false });
  assert.deepEqual(none.exec, [...DEFAULT_SYSTEM_PATHS.exec]);
  assert.ok(none.read.includes('/etc'));
  assert.ok(!(none.exec as readonly string[]).includes('/etc'));
  assert.ok(!none.read.includes('/proc'));
  assert.equal(none.read.at(-1), '/in');
  assert.deepEqual(none.write, ['/dev/null', '/dev/zero', '/tmp/op']);
  const host = withSystemPaths({ read: [], write: [], exec: [] }, { net: 'host', privateProc: true });
  assert.ok(host.read.includes('/proc'));
  const p = planLandlock({ ...base, ...none });
  assert.ok(p.paths.every((x) => x.allowedAccess !== 0n));
});

test('the plan encodes on the wire', () => {
  const p = planLandlock({ ...base, exec: ['/usr'], net: { connectTcp: [443] } });
  const wire = landlockWirePlan(p);
  assert.ok(!('report' in wire));
  const b = encodeSpawn(1, { file: '/bin/true', argv: ['true'], env: [], rlimits: [], flags: 1, landlock: wire });
  assert.ok(b.message.length > 0);
  assert.equal(b.argsFile, null);
});

const ALL_BUT_NET = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS;

test("namespaces 'auto', unprivileged with user namespaces", () => {
  const p = planNamespaces('auto', { callerUid: 1000, callerGid: 1000, privileged: false, usernsAvailable: true });
  assert.equal(p.cloneFlags, ALL_BUT_NET);
  assert.deepEqual(p.created, ['user', 'pid', 'ipc', 'uts', 'mount']);
  assert.equal(p.options, NamespaceOption.MountProc);
  assert.equal(p.insideUid, 1000);
  assert.equal(p.insideGid, 1000);
  assert.equal(p.uid, 1000);
  assert.equal(p.credentials, undefined);
  assert.equal(p.fallback, false);
  assert.deepEqual(p.unavailable, []);
  assert.deepEqual(namespacesWirePlan(p), { cloneFlags: ALL_BUT_NET, insideUid: 1000, insideGid: 1000, options: 1 });
});

test("namespaces 'auto' as root: 65534 inside and out, a credentials drop, net passed through", () => {
  const p = planNamespaces('auto', { callerUid: 0, callerGid: 0, privileged: true, usernsAvailable: true, net: true });
  assert.equal(p.cloneFlags, (ALL_BUT_NET | CLONE_NEWNET) >>> 0);
  assert.deepEqual(p.created, ['user', 'pid', 'net', 'ipc', 'uts', 'mount']);
  assert.equal(p.insideUid, 65534);
  assert.equal(p.insideGid, 65534);
  assert.deepEqual(p.credentials, { uid: 65534, gid: 65534 });
  assert.ok(p.cloneFlags > 0);
});

test("namespaces 'auto' without user namespaces: unprivileged falls back, root keeps the rest", () => {
  const u = planNamespaces('auto', { callerUid: 1000, callerGid: 100, privileged: false, usernsAvailable: false });
  assert.equal(u.cloneFlags, 0);
  assert.equal(u.fallback, true);
  assert.deepEqual(u.created, []);
  assert.deepEqual(u.unavailable, ['user', 'pid', 'ipc', 'uts', 'mount']);
  assert.equal(namespacesWirePlan(u), undefined);

  const r = planNamespaces('auto', { callerUid: 0, callerGid: 0, privileged: true, usernsAvailable: false });
  assert.equal(r.cloneFlags, CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS);
  assert.equal(r.fallback, false);
  assert.deepEqual(r.unavailable, ['user']);
  assert.equal(r.options, NamespaceOption.MountProc);
  assert.deepEqual(r.credentials, { uid: 65534, gid: 65534 });
});

test('explicit namespaces: user is added for an unprivileged caller, proc only with mount', () => {
  const p = planNamespaces(
    { user: false, pid: true, net: true, ipc: false, uts: false, mount: false },
    { callerUid: 1000, callerGid: 1000, privileged: false, usernsAvailable: true },
  );
  assert.deepEqual(p.created, ['user', 'pid', 'net']);
  assert.equal(p.options, 0);

  const none = planNamespaces(
    { user: false, pid: false, net: false, ipc: false, uts: false, mount: false },
    { callerUid: 1000, callerGid: 1000, privileged: false, usernsAvailable: true },
  );
  assert.equal(none.cloneFlags, 0);
  assert.equal(none.fallback, false);

  const blocked = planNamespaces(
    { user: true, pid: true, net: false, ipc: false, uts: false, mount: true },
    { callerUid: 1000, callerGid: 1000, privileged: false, usernsAvailable: false },
  );
  assert.equal(blocked.cloneFlags, 0);
  assert.deepEqual(blocked.unavailable, ['user', 'pid', 'mount']);
});

test('a root caller runs as its operation uid outside, nobody inside; the probe decides what can be created', () => {
  const p = planNamespaces('auto', { callerUid: 0, callerGid: 0, privileged: true, usernsAvailable: true, operationUid: 0x7000_0005 });
  assert.equal(p.uid, 0x7000_0005);
  assert.equal(p.gid, 0x7000_0005);
  assert.equal(p.insideUid, 65534);
  assert.deepEqual(p.credentials, { uid: 0x7000_0005, gid: 0x7000_0005 });
  const q = planNamespaces('auto', { callerUid: 1000, callerGid: 1000, privileged: false, usernsAvailable: true, creatable: new Set(['user', 'pid', 'mount'] as const) });
  assert.deepEqual(q.created, ['user', 'pid', 'mount']);
  assert.deepEqual(q.unavailable, ['ipc', 'uts']);
  assert.equal(q.options, NamespaceOption.MountProc);
});

test('a root caller without the root capabilities plans like any other caller: its own uid outside, nobody inside, no credentials', () => {
  const p = planNamespaces('auto', { callerUid: 0, callerGid: 0, privileged: false, usernsAvailable: true, operationUid: 0x7000_0005 });
  assert.deepEqual(p.created, ['user', 'pid', 'ipc', 'uts', 'mount']);
  assert.equal(p.uid, 0);
  assert.equal(p.gid, 0);
  assert.equal(p.insideUid, 65534, 'inside uid 0 would keep its capabilities over execve');
  assert.equal(p.insideGid, 65534);
  assert.equal(p.credentials, undefined);
  const without = planNamespaces('auto', { callerUid: 0, callerGid: 0, privileged: false, usernsAvailable: false });
  assert.equal(without.cloneFlags, 0, 'without a user namespace it can create none');
  assert.equal(without.fallback, true);
  assert.equal(without.credentials, undefined);
});

test('bad namespace input is refused', () => {
  assert.throws(() => planNamespaces('auto', { callerUid: 1000, callerGid: 0, privileged: true, usernsAvailable: true }), RangeError);
  assert.throws(() => planNamespaces('auto', { callerUid: -1, callerGid: 0, privileged: false, usernsAvailable: true }), RangeError);
  assert.throws(
    () => planNamespaces({ user: true } as never, { callerUid: 1000, callerGid: 1000, privileged: false, usernsAvailable: true }),
    TypeError,
  );
});

test('the paths a sandbox adds fit in what options reserve for them (SANDBOX_RESERVED_PATHS)', () => {
  // System paths, /proc, the temp dir (/tmp and /dev/shm, or one host dir) and the program itself.
  const added = DEFAULT_SYSTEM_PATHS.exec.length + DEFAULT_SYSTEM_PATHS.read.length + DEFAULT_SYSTEM_PATHS.write.length + 1 + 2 + 1;
  assert.ok(added <= SANDBOX_RESERVED_PATHS, `${added} paths added, ${SANDBOX_RESERVED_PATHS} reserved`);
  const user = Array.from({ length: MAX_SANDBOX_FS_PATHS }, (_, i) => `/p${i}`);
  const fs = withSystemPaths({ read: user, write: ['/tmp', '/dev/shm'], exec: ['/opt/prog'] }, { net: 'none', privateProc: true });
  assert.equal(planLandlock({ ...base, ...fs }).paths.length, MAX_SANDBOX_FS_PATHS + added);
});
