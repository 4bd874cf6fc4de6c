// Escape tests: test/probes/probe.c tries one way out per run, under the default
// profile unless a test says otherwise, and each test asserts the exact denial
// the kernel gives when the sandbox works. Host fixtures are made permissive on
// purpose (0777 dirs, 0666 files owned by the sandbox's uid, a listener on
// loopback), so that a denial can only come from the sandbox, and a control
// run shows each fixture is reachable when the relevant layer is off.
//
// Two filesystem layers answer: the mount namespace hides /tmp (and /run, /home,
// ...) behind an empty read-only tmpfs and makes the rest of the tree read-only,
// and Landlock denies what is visible but not allowed. The host fixtures live in
// /tmp, so under the default profile they are simply absent (ENOENT); the same
// attempts with `namespaces: { mount: false }` (LANDLOCK_ONLY) show that Landlock
// alone still denies them (EACCES, EXDEV). The project dir is never hidden, so it
// shows Landlock's denial under the full default profile too.
//
// Runs as root and again as uid 65534 (test/run.js): the expectations hold for both.
import assert from 'node:assert/strict';
import { spawn as spawnHost, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { accessSync, chmodSync, chownSync, constants as fsConstants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { closeDefaultZygote, run, spawn, type Result, type RunOptions } from '../src/index.js';
import { packageRoot } from '../src/native/binding.js';
import { OPERATION_UID_BASE } from '../src/policy/features.js';
import { isAlive, processes, sandboxDenialFor, waitFor } from './helpers.js';

const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

type SandboxOption = Exclude<RunOptions['sandbox'], false | undefined>;
type AttemptOptions = Omit<RunOptions, 'sandbox' | 'encoding'> & { sandbox?: SandboxOption };

/** No mount namespace: /tmp is visible, so only Landlock stands between the probe and the /tmp fixtures. */
const LANDLOCK_ONLY: AttemptOptions = { sandbox: { namespaces: { mount: false } } };

/**
 * seccomp refuses socket(AF_UNIX) unless the policy grants unix sockets
 * (`sandbox.unixSockets`). To show what the other layers (mounts, Landlock
 * scopes, the network namespace) do on their own, these grant it.
 */
const UNIX_SOCKETS_OPTION: SandboxOption = { unixSockets: true };
const withUnixSockets = (sandbox: SandboxOption = {}): AttemptOptions => ({ sandbox: { ...UNIX_SOCKETS_OPTION, ...sandbox } });

/** Run one probe attempt; the probe itself is the only project file the sandbox may touch. */
function attempt(args: string[], options: AttemptOptions = {}): Promise<Result> {
  const { sandbox = {}, ...rest } = options;
  return run(probe, args, {
    timeoutMs: 30_000,
    ...rest,
    sandbox: { ...sandbox, fs: { ...sandbox.fs, exec: [probe, ...(sandbox.fs?.exec ?? [])] } },
  });
}

function describeRun(r: Result): string {
  return `exit ${r.exitCode} signal ${r.signal} limit ${r.limit} stdout ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`;
}

/** The probe's one line, after checking that it ran the attempt to the end. */
function outcome(r: Result): string {
  assert.equal(r.exitCode, 0, `probe did not complete its attempt: ${describeRun(r)}`);
  return r.stdout.trim();
}

async function expectOutcome(args: string[], expected: string | RegExp, options?: AttemptOptions): Promise<Result> {
  const r = await attempt(args, options);
  const line = outcome(r);
  if (typeof expected === 'string') assert.equal(line, expected, `hatchery-probe ${args.join(' ')}: ${describeRun(r)}`);
  else assert.match(line, expected, `hatchery-probe ${args.join(' ')}: ${describeRun(r)}`);
  return r;
}

/** Largest event-loop stall while fn runs: the host must stay responsive. */
async function measureLag<T>(fn: () => Promise<T>): Promise<{ value: T; maxLagMs: number }> {
  const interval = 10;
  let last = performance.now();
  let maxLagMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - last - interval);
    last = now;
  }, interval);
  try {
    const value = await fn();
    return { value, maxLagMs };
  } finally {
    clearInterval(timer);
  }
}

function probeProcesses(): number[] {
  return processes()
    .filter((p) => p.comm === 'hatchery-probe' && p.state !== 'Z')
    .map((p) => p.pid);
}

// ---------------------------------------------------------------- fixtures

let hostDir = '';
let secretFile = '';
let secretDir = '';
let foreignProgram = '';
let metadataVictim = '';
/** Root only: a permissive dir in the project tree, which the mount namespace does not hide. */
let visibleDir = '';
let visibleFile = '';
let visibleVictim = '';
let visibleProgram = '';
const SECRET = 'host secret: must not be readable\n';
const HOST_ENV_SECRET = `hatchery-host-secret-${randomBytes(6).toString('hex')}`;

let tcpServer: net.Server | undefined;
let tcpPort = 0;
/** The listener's line in /proc/net/tcp: local 127.0.0.1:port, any remote, state LISTEN (0A). */
const tcpListenerEntry = (): string => `0100007F:${tcpPort.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`;
let tcpConnections = 0;
let closedPort = 0;
let udpSocket: dgram.Socket | undefined;
let udpPort = 0;
let udpMessages = 0;
let abstractServer: net.Server | undefined;
let abstractName = '';
let abstractConnections = 0;
let unixServer: net.Server | undefined;
let unixSocketPath = '';
let unixConnections = 0;
let hostSleeper: ChildProcess | undefined;
let sleeperPid = 0;

/** Owned by the sandbox's uid (so link(2)'s ownership checks pass) and open to all. */
function giveAway(path: string, mode: number): void {
  if (isRoot) chownSync(path, NOBODY, NOBODY);
  chmodSync(path, mode);
}

function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: net.Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

before(async () => {
  assert.ok(existsSync(probe), `${probe} is missing: build it with node-gyp (target hatchery-probe)`);
  hostDir = mkdtempSync(join(tmpdir(), 'hatchery-escape-'));
  chmodSync(hostDir, 0o777);
  secretFile = join(hostDir, 'secret.txt');
  writeFileSync(secretFile, SECRET);
  giveAway(secretFile, 0o666);
  secretDir = join(hostDir, 'secret-dir');
  mkdirSync(secretDir);
  writeFileSync(join(secretDir, 'a'), 'a');
  giveAway(secretDir, 0o777);
  foreignProgram = join(hostDir, 'true-copy');
  copyFileSync('/bin/true', foreignProgram);
  giveAway(foreignProgram, 0o755);
  // Owned by the uid the sandbox runs as: only the sandbox can keep its metadata safe.
  metadataVictim = join(hostDir, 'metadata-victim');
  writeFileSync(metadataVictim, 'x');
  giveAway(metadataVictim, 0o644);
  utimesSync(metadataVictim, 1_000_000, 1_000_000);
  // uid 65534 cannot create anything outside the hidden dirs, so this fixture exists in the root run only.
  if (isRoot) {
    visibleDir = mkdtempSync(join(packageRoot, '.escape-fixture-'));
    chmodSync(visibleDir, 0o777);
    visibleFile = join(visibleDir, 'visible.txt');
    writeFileSync(visibleFile, SECRET);
    giveAway(visibleFile, 0o666);
    visibleVictim = join(visibleDir, 'metadata-victim');
    writeFileSync(visibleVictim, 'x');
    giveAway(visibleVictim, 0o644);
    utimesSync(visibleVictim, 1_000_000, 1_000_000);
    visibleProgram = join(visibleDir, 'true-copy');
    copyFileSync('/bin/true', visibleProgram);
    giveAway(visibleProgram, 0o755);
  }

  tcpServer = net.createServer((socket) => {
    tcpConnections++;
    socket.destroy();
  });
  await listen(tcpServer, { host: '127.0.0.1', port: 0 });
  tcpPort = (tcpServer.address() as net.AddressInfo).port;
  // A port nobody listens on: the allowed one in the Landlock-only tests.
  const probeServer = net.createServer();
  await listen(probeServer, { host: '127.0.0.1', port: 0 });
  closedPort = (probeServer.address() as net.AddressInfo).port;
  await closeServer(probeServer);

  udpSocket = dgram.createSocket('udp4');
  udpSocket.on('message', () => udpMessages++);
  await new Promise<void>((resolve) => udpSocket!.bind(0, '127.0.0.1', () => resolve()));
  udpPort = udpSocket.address().port;

  abstractName = `hatchery-test-${randomBytes(8).toString('hex')}`;
  abstractServer = net.createServer((socket) => {
    abstractConnections++;
    socket.destroy();
  });
  await listen(abstractServer, { path: `\0${abstractName}` });

  unixSocketPath = join(hostDir, 'host.sock');
  unixServer = net.createServer((socket) => {
    unixConnections++;
    socket.destroy();
  });
  await listen(unixServer, { path: unixSocketPath });
  chmodSync(unixSocketPath, 0o777);

  // A host process of the same uid the sandbox runs as, so plain DAC would allow signalling it.
  hostSleeper = spawnHost('/bin/sleep', ['600'], {
    stdio: 'ignore',
    env: { PATH: '/usr/bin:/bin', HATCHERY_HOST_SECRET: HOST_ENV_SECRET },
    ...(isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  sleeperPid = hostSleeper.pid ?? 0;
  assert.ok(sleeperPid > 0, 'host sleep fixture did not start');
  await waitFor(() => isAlive(sleeperPid), 2000, 'host sleep fixture');
});

after(async () => {
  if (hostSleeper && hostSleeper.exitCode === null && hostSleeper.signalCode === null) hostSleeper.kill('SIGKILL');
  await closeServer(tcpServer);
  await closeServer(abstractServer);
  await closeServer(unixServer);
  await new Promise<void>((resolve) => (udpSocket ? udpSocket.close(() => resolve()) : resolve()));
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
  if (visibleDir) rmSync(visibleDir, { recursive: true, force: true });
  await closeDefaultZygote();
});

// ------------------------------------------------------------------- tests

describe('sandbox escape probes: the default profile', () => {
  test('the probe runs sandboxed: Landlock, seccomp, user and pid namespaces, its own uid, a private temp dir', async () => {
    const r = await expectOutcome(['whoami'], /^uid=/);
    const e = r.enforcement;
    assert.equal(e.sandboxed, true);
    assert.ok(e.landlock && e.landlock.abi >= 1, `landlock: ${JSON.stringify(e.landlock)}`);
    assert.ok(e.landlock.fs.includes('read_file') && e.landlock.fs.includes('refer'), `fs rights: ${e.landlock.fs.join(',')}`);
    assert.equal(e.seccomp?.mode, 'default');
    for (const ns of ['user', 'pid', 'mount'] as const) assert.ok(e.namespaces.includes(ns), `namespaces: ${e.namespaces.join(',')}`);
    // A root caller's operation runs as a uid of its own (65534 inside its user namespace); anyone else's as the caller.
    if (isRoot) assert.ok(e.uid >= OPERATION_UID_BASE && e.gid === e.uid, `uid ${e.uid}`);
    else assert.equal(e.uid, process.getuid?.());
    assert.equal(e.noNewPrivs, true);
    assert.deepEqual(e.missing, []);
    // The temp dir is a capped tmpfs inside the sandbox: nothing of it exists on the host. It is /tmp,
    // or /var/tmp when the probe itself lives under /tmp (a checkout there): a grant under /tmp keeps /tmp the host's.
    assert.equal(e.tmpdir, packageRoot.startsWith('/tmp/') ? '/var/tmp' : '/tmp');
    assert.deepEqual(e.tmpdirLimit, { bytes: 256 * 1024 * 1024, inodes: 65536 });
    assert.deepEqual(e.guarantees, { treeEnds: 'pid-namespace', noHostUnixSockets: 'seccomp', noHostIpc: 'ipc-namespace', operationsSeparated: isRoot ? 'operation-uid' : 'user-namespace', noPrivilegeGain: 'no-new-privs+unprivileged-uid' });
  });

  test('whoami: uid/gid 65534, no groups, no capabilities, pid 2 (under the sandbox init), no_new_privs, seccomp filter mode', async () => {
    const r = await attempt(['whoami']);
    const fields = Object.fromEntries(outcome(r).split(' ').map((kv) => kv.split('=') as [string, string]));
    assert.equal(fields.uid, String(NOBODY), describeRun(r));
    assert.equal(fields.euid, String(NOBODY));
    assert.equal(fields.suid, String(NOBODY));
    assert.equal(fields.gid, String(NOBODY));
    assert.equal(fields.egid, String(NOBODY));
    assert.ok(fields.groups === '-' || fields.groups === String(NOBODY), `supplementary groups: ${fields.groups}`);
    assert.equal(fields.capeff, '0000000000000000');
    assert.equal(fields.capprm, '0000000000000000');
    // pid 1 of the namespace is the sandbox's own init; the program is its only child.
    assert.equal(fields.pid, '2');
    assert.equal(fields.nnp, '1');
    assert.equal(fields.seccomp, '2');
  });

  describe('filesystem', () => {
    test('control: the system allowlist and the private temp dir work; fs.read opens a host file', async () => {
      await expectOutcome(['read-file', '/etc/passwd'], /^allowed [1-9]\d* bytes$/);
      await expectOutcome(['write-file', 'inside.txt'], 'allowed');
      await expectOutcome(['read-file', secretFile], `allowed ${SECRET.length} bytes`, { sandbox: { fs: { read: [secretFile] } } });
    });

    test('the hidden dirs: a host file, a host dir and a new file in /tmp do not exist in the sandbox (ENOENT)', async () => {
      await expectOutcome(['read-file', secretFile], 'denied ENOENT');
      await expectOutcome(['list-dir', hostDir], 'denied ENOENT');
      await expectOutcome(['list-dir', secretDir], 'denied ENOENT');
      const fresh = join(hostDir, 'created-by-sandbox');
      await expectOutcome(['write-file', fresh], 'denied ENOENT');
      assert.equal(existsSync(fresh), false);
      // /tmp is the operation's own tmpfs: what is made there never reaches the host's /tmp. With the
      // probe under /tmp, /tmp is the host's, hidden and read-only, and the tmpfs is at /var/tmp.
      const planted = join(tmpdir(), `hatchery-escape-${randomBytes(4).toString('hex')}`);
      await expectOutcome(['write-file', planted], packageRoot.startsWith('/tmp/') ? 'denied EROFS' : 'allowed');
      assert.equal(existsSync(planted), false);
      // The empty tmpfs over /root and /home is still outside the Landlock allowlist.
      for (const dir of ['/root', '/home']) {
        if (existsSync(dir)) await expectOutcome(['list-dir', dir], 'denied EACCES');
      }
    });

    test('the hidden dirs show one empty read-only tmpfs; a grant restored under one appears in no other', async () => {
      const grantDir = mkdtempSync(join(tmpdir(), 'hatchery-restore-'));
      chmodSync(grantDir, 0o755); // the sandbox's uid must be able to enter it
      const name = grantDir.slice(tmpdir().length + 1);
      writeFileSync(join(grantDir, 'granted.txt'), 'granted');
      try {
        const hidden = ['/home', '/root', '/mnt', '/srv', '/media', '/run'].filter((d) => existsSync(d));
        const script = [
          `cat ${grantDir}/granted.txt; echo`,
          ...hidden.map((d) => `if [ -e ${d}/${name} ]; then echo "leaked into ${d}"; fi`),
          // mountinfo: mount point, then the superblock's device number (field 3).
          `awk '{print $5, $3, $6}' /proc/self/mountinfo`,
          `touch ${hidden[0] ?? '/home'}/planted 2>&1 || true`,
        ].join('\n');
        const r = await run('/bin/sh', ['-c', script], { sandbox: { fs: { read: [grantDir] } } });
        assert.equal(r.exitCode, 0, r.stderr);
        const lines = r.stdout.split('\n');
        assert.equal(lines[0], 'granted');
        assert.deepEqual(lines.filter((l) => l.startsWith('leaked')), [], 'the restore mount point stays in its own hidden dir');
        const devices = new Set<string>();
        for (const l of lines) {
          const [mountPoint, dev, opts] = l.split(' ');
          if (mountPoint && hidden.includes(mountPoint)) {
            assert.match(opts ?? '', /^ro,/, `${mountPoint} is read-only`);
            devices.add(dev!);
          }
        }
        assert.equal(devices.size, hidden.length > 0 ? 1 : 0, `one superblock for ${hidden.join(', ')}: ${[...devices].join(', ')}`);
        assert.match(r.stdout, /Read-only file system/);
      } finally {
        rmSync(grantDir, { recursive: true, force: true });
      }
    });

    test('reading outside the allowlist (Landlock): a host temp file, /etc/shadow, the project dir', async () => {
      await expectOutcome(['read-file', secretFile], 'denied EACCES', LANDLOCK_ONLY);
      await expectOutcome(['list-dir', secretDir], 'denied EACCES', LANDLOCK_ONLY);
      await expectOutcome(['read-file', '/etc/shadow'], 'denied EACCES');
      // The project's files are readable by any uid: only the sandbox refuses them (Landlock, or the
      // hidden-dir mounts when the checkout lives under /tmp or /home).
      const pkg = join(packageRoot, 'package.json');
      accessSync(pkg, fsConstants.R_OK);
      const projectDenial = `denied ${sandboxDenialFor(packageRoot)}`;
      await expectOutcome(['read-file', pkg], projectDenial);
      // The project dir exists in the sandbox either way (the probe inside it is allowed, so a hidden
      // checkout's path is rebuilt up to the probe), and Landlock refuses to list it.
      await expectOutcome(['list-dir', packageRoot], 'denied EACCES');
      await expectOutcome(['read-file', pkg], 'denied EACCES', LANDLOCK_ONLY);
    });

    test('a visible, world-writable host dir: Landlock refuses reads, the read-only tree refuses writes', { skip: !isRoot ? 'needs root to create a fixture outside the hidden dirs' : sandboxDenialFor(packageRoot) === 'ENOENT' ? 'the checkout itself lives under a hidden dir' : false }, async () => {
      await expectOutcome(['read-file', visibleFile], 'denied EACCES');
      await expectOutcome(['list-dir', visibleDir], 'denied EACCES');
      await expectOutcome(['exec-file', visibleProgram], 'denied EACCES');
      await expectOutcome(['write-file', visibleFile], 'denied EROFS');
      await expectOutcome(['write-file', join(visibleDir, 'created-by-sandbox')], 'denied EROFS');
      assert.equal(readFileSync(visibleFile, 'utf8'), SECRET);
      assert.equal(existsSync(join(visibleDir, 'created-by-sandbox')), false);
    });

    test('writing outside the temp dir (Landlock): a new file, an existing world-writable file', async () => {
      const fresh = join(hostDir, 'created-by-sandbox');
      await expectOutcome(['write-file', fresh], 'denied EACCES', LANDLOCK_ONLY);
      assert.equal(existsSync(fresh), false);
      await expectOutcome(['write-file', secretFile], 'denied EACCES', LANDLOCK_ONLY);
      assert.equal(readFileSync(secretFile, 'utf8'), SECRET);
      const planted = join(tmpdir(), `hatchery-escape-${randomBytes(4).toString('hex')}`);
      await expectOutcome(['write-file', planted], 'denied EACCES', LANDLOCK_ONLY);
      assert.equal(existsSync(planted), false);
    });

    test('executing a program outside the exec allowlist: hidden (ENOENT), and Landlock-denied (EACCES)', async () => {
      await expectOutcome(['exec-file', foreignProgram], 'denied ENOENT');
      await expectOutcome(['exec-file', foreignProgram], 'denied EACCES', LANDLOCK_ONLY);
    });

    test('a symlink in the temp dir pointing out is not followed', async () => {
      await expectOutcome(['symlink-escape', secretFile], 'denied ENOENT');
      await expectOutcome(['symlink-escape', secretFile], 'denied EACCES', LANDLOCK_ONLY);
      await expectOutcome(['symlink-escape', '/etc/shadow'], 'denied EACCES');
      await expectOutcome(['symlink-escape', join(packageRoot, 'package.json')], `denied ${sandboxDenialFor(packageRoot)}`);
    });

    test('a hard link of a host file into the temp dir is refused (Landlock REFER: EXDEV)', async () => {
      await expectOutcome(['hardlink-escape', secretFile], 'denied ENOENT');
      // Same mount, same filesystem (the private temp dir is in /tmp): only Landlock's REFER rule says EXDEV.
      await expectOutcome(['hardlink-escape', secretFile], 'denied EXDEV', LANDLOCK_ONLY);
    });

    test('rename into and out of the temp dir is refused', async () => {
      await expectOutcome(['rename-escape', secretFile, 'stolen.txt'], 'denied ENOENT');
      await expectOutcome(['rename-escape', secretFile, 'stolen.txt'], 'denied EACCES', LANDLOCK_ONLY);
      assert.equal(readFileSync(secretFile, 'utf8'), SECRET);
      const outbound = join(hostDir, 'moved-out.txt');
      await expectOutcome(['rename-escape', 'moved-out.txt', outbound], 'denied ENOENT');
      await expectOutcome(['rename-escape', 'moved-out.txt', outbound], 'denied EACCES', LANDLOCK_ONLY);
      assert.equal(existsSync(outbound), false);
    });

    // Landlock (ABI <= 7) has no right for chmod, utimes or xattrs: a file the
    // sandbox's uid owns outside the allowlist needs the mount layer (hidden:
    // ENOENT; visible but read-only: EROFS).
    test('chmod, utimes and setxattr of a host file the sandbox uid owns are refused', async () => {
      await expectOutcome(['chmod-file', metadataVictim], 'denied ENOENT');
      await expectOutcome(['utime-file', metadataVictim], 'denied ENOENT');
      await expectOutcome(['setxattr-file', metadataVictim], 'denied ENOENT');
      const victims = [metadataVictim];
      if (isRoot) {
        // visible (not under a hidden dir) only when the checkout is: then the read-only tree refuses
        const visibleDenial = sandboxDenialFor(packageRoot) === 'ENOENT' ? 'denied ENOENT' : 'denied EROFS';
        await expectOutcome(['chmod-file', visibleVictim], visibleDenial);
        await expectOutcome(['utime-file', visibleVictim], visibleDenial);
        await expectOutcome(['setxattr-file', visibleVictim], visibleDenial);
        victims.push(visibleVictim);
      }
      for (const victim of victims) {
        const st = statSync(victim);
        assert.equal(st.mode & 0o777, 0o644, `mode of ${victim} changed from inside the sandbox`);
        assert.equal(st.mtimeMs, 1_000_000_000, `mtime of ${victim} changed from inside the sandbox`);
      }
    });

    test('climbing out of the temp dir with ../ is denied', async () => {
      await expectOutcome(['dotdot-escape', secretFile], 'denied ENOENT');
      await expectOutcome(['dotdot-escape', secretFile], 'denied EACCES', LANDLOCK_ONLY);
      await expectOutcome(['dotdot-escape', join(packageRoot, 'package.json')], `denied ${sandboxDenialFor(packageRoot)}`);
    });
  });

  describe('network', () => {
    test('each operation has network, IPC and UTS namespaces of its own (made ahead by a root zygote, or by clone): none is the host\'s or another\'s, lo is up, and the program cannot reconfigure it', async () => {
      const idsOf = async (hold: number): Promise<string> => {
        const r = await run('/bin/sh', ['-c', `readlink /proc/self/ns/net /proc/self/ns/ipc /proc/self/ns/uts | tr '\\n' ' '; sleep ${hold}`], { encoding: 'utf8' });
        assert.equal(r.exitCode, 0, describeRun(r));
        return r.stdout.trim();
      };
      const host = ['net', 'ipc', 'uts'].map((k) => readlinkSync(`/proc/self/ns/${k}`));
      // One after another (a root zygote serves these from its stock once it has one, and a network namespace an
      // operation left as new may serve a later one: test/netns-reuse.test.ts), then four at once.
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) {
        seen.push(await idsOf(0));
        await new Promise((r) => setTimeout(r, 30));
      }
      const together = await Promise.all([0, 1, 2, 3].map(() => idsOf(0.4)));
      for (const line of [...seen, ...together]) {
        const ids = line.split(' ');
        assert.equal(ids.length, 3, line);
        for (const id of ids) assert.ok(!host.includes(id), `an operation is in a host namespace: ${line}`);
      }
      for (let k = 0; k < 3; k++) {
        const live = together.map((line) => line.split(' ')[k]);
        assert.equal(new Set(live).size, live.length, `two concurrent operations share a namespace: ${together.join(' | ')}`);
      }
      // Loopback works where a policy allows inet sockets; taking lo down is refused.
      const sockets = { sandbox: { seccomp: { allow: ['socket', 'ioctl'] } } } as AttemptOptions;
      for (let i = 0; i < 3; i++) await expectOutcome(['loopback-echo'], 'allowed', sockets);
      await expectOutcome(['loopback-down'], 'denied EPERM', sockets);
    });

    test('TCP connect and bind, UDP, raw and packet sockets: no socket but AF_UNIX (seccomp EAFNOSUPPORT)', async () => {
      await expectOutcome(['tcp-connect', String(tcpPort)], 'denied EAFNOSUPPORT');
      await expectOutcome(['tcp-bind', String(closedPort)], 'denied EAFNOSUPPORT');
      await expectOutcome(['udp-send', String(udpPort)], 'denied EAFNOSUPPORT');
      await expectOutcome(['raw-socket'], 'denied EAFNOSUPPORT');
      await expectOutcome(['packet-socket'], 'denied EAFNOSUPPORT');
      assert.equal(tcpConnections, 0);
      assert.equal(udpMessages, 0);
    });

    test('with TCP allowed to one other port, Landlock alone denies connect and bind elsewhere (EACCES)', async () => {
      const sandbox: SandboxOption = { net: { connectTcp: [closedPort], bindTcp: [closedPort] } };
      const r = await expectOutcome(['tcp-connect', String(tcpPort)], 'denied EACCES', { sandbox });
      assert.ok(r.enforcement.landlock?.net.includes('connect_tcp'), `net rights: ${r.enforcement.landlock?.net.join(',')}`);
      const other = closedPort === 65535 ? closedPort - 1 : closedPort + 1;
      await expectOutcome(['tcp-bind', String(other)], 'denied EACCES', { sandbox });
      // seccomp's TCP-only mode: no UDP or raw sockets, no other families.
      await expectOutcome(['udp-send', String(udpPort)], 'denied EACCES', { sandbox });
      await expectOutcome(['raw-socket'], 'denied EACCES', { sandbox });
      await expectOutcome(['packet-socket'], 'denied EAFNOSUPPORT', { sandbox });
      assert.equal(tcpConnections, 0);
      assert.equal(udpMessages, 0);
    });

    test('control: connectTcp to the listener\'s port reaches it', async () => {
      const before = tcpConnections;
      await expectOutcome(['tcp-connect', String(tcpPort)], 'allowed', { sandbox: { net: { connectTcp: [tcpPort] } } });
      await waitFor(() => tcpConnections === before + 1, 2000, 'the host listener to see the allowed connection');
      tcpConnections = before;
    });

    test('no unix socket of its own: connecting to a host pathname or abstract socket fails at socket() (seccomp EAFNOSUPPORT)', async () => {
      const r = await expectOutcome(['unix-connect', unixSocketPath], 'denied EAFNOSUPPORT');
      assert.equal(r.enforcement.guarantees.noHostUnixSockets, 'seccomp');
      await expectOutcome(['abstract-connect', abstractName], 'denied EAFNOSUPPORT');
      await expectOutcome(['unix-connect', unixSocketPath], 'denied EAFNOSUPPORT', LANDLOCK_ONLY);
      await expectOutcome(['unix-connect', unixSocketPath], 'denied EAFNOSUPPORT', { sandbox: { net: 'host' } });
      assert.equal(unixConnections, 0);
      assert.equal(abstractConnections, 0);
    });

    test('an abstract unix socket the host listens on is out of reach (Landlock scope or net namespace, with unix sockets lifted)', async () => {
      const r = await attempt(['abstract-connect', abstractName], withUnixSockets());
      const e = r.enforcement;
      // An empty network namespace hides the name (ECONNREFUSED); otherwise the
      // Landlock abstract-unix scope (ABI >= 6) refuses the connect (EPERM).
      const expected = e.namespaces.includes('net') ? 'denied ECONNREFUSED' : 'denied EPERM';
      assert.equal(outcome(r), expected, describeRun(r));
      if (!e.namespaces.includes('net')) assert.ok(e.landlock?.scopes.includes('abstract_unix_socket'));
      assert.equal(abstractConnections, 0);
    });

    test('the abstract unix scope holds without a network namespace too (EPERM)', async () => {
      await expectOutcome(['abstract-connect', abstractName], 'denied EPERM', withUnixSockets({ namespaces: { net: false } }));
      assert.equal(abstractConnections, 0);
    });

    // connect() to a pathname socket is not an open(): Landlock only covers it
    // from LANDLOCK_ACCESS_FS_RESOLVE_UNIX on, so the mount namespace hiding /tmp is what holds (ENOENT).
    test('a pathname unix socket the host listens on (world-writable) in /tmp is hidden (ENOENT), with unix sockets lifted', async () => {
      await expectOutcome(['unix-connect', unixSocketPath], 'denied ENOENT', withUnixSockets());
      assert.equal(unixConnections, 0);
    });

    test('control: without the mount namespace and with unix sockets lifted, Landlock (ABI <= 7) lets the same connect through', async () => {
      const r = await attempt(['unix-connect', unixSocketPath], withUnixSockets({ namespaces: { mount: false } }));
      const abi = r.enforcement.landlock?.abi ?? 0;
      assert.ok(abi >= 1 && abi <= 7, `Landlock ABI ${abi}: check whether it covers pathname unix sockets and update this test`);
      assert.equal(outcome(r), 'allowed', describeRun(r));
      await waitFor(() => unixConnections === 1, 2000, 'the unix listener to see the control connection');
      unixConnections = 0;
    });

    test('control: unsandboxed, the abstract socket is reachable', async () => {
      const r = await run(probe, ['abstract-connect', abstractName], { sandbox: false });
      assert.equal(outcome(r), 'allowed');
      await waitFor(() => abstractConnections === 1, 2000, 'the abstract listener to see the control connection');
      abstractConnections = 0;
    });

    // The host's sockets outside the hidden dirs (/dev/log, /var/lib/..., /etc/..., /usr/local/...) stay visible
    // through the read-only tree, and Landlock (ABI <= 7) does not check connect(): fs.read of the fixture dir
    // puts it back into view the same way.
    test('a host unix socket in a dir the sandbox can see: refused at socket() (EAFNOSUPPORT); control: reachable once lifted', async () => {
      const visible: SandboxOption = { fs: { read: [hostDir] } };
      await expectOutcome(['unix-connect', unixSocketPath], 'denied EAFNOSUPPORT', { sandbox: visible });
      assert.equal(unixConnections, 0);
      await expectOutcome(['unix-connect', unixSocketPath], 'allowed', withUnixSockets(visible));
      await waitFor(() => unixConnections === 1, 2000, 'the unix listener to see the control connection');
      unixConnections = 0;
    });

    test('a datagram with an fd (SCM_RIGHTS) to a visible host socket: no socket, no datagram pair; stream pairs cannot be re-pointed', async () => {
      const dgramPath = join(hostDir, `dgram-${randomBytes(4).toString('hex')}.sock`);
      const visible: SandboxOption = { fs: { read: [hostDir] } };
      /** A host datagram socket at dgramPath (the probe as a fixture); output() is what it received so far. */
      const listen = async (): Promise<{ output: () => string; stop: () => Promise<void> }> => {
        const listener = spawnHost(probe, ['unix-dgram-listen', dgramPath, '30'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        listener.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
        const exited = new Promise<void>((resolve) => listener.once('exit', () => resolve()));
        await waitFor(() => out.includes('ready\n'), 5000, 'the datagram listener');
        return {
          output: () => out.replace('ready\n', '').trim(),
          stop: async () => {
            listener.kill('SIGKILL');
            await exited;
          },
        };
      };
      const host = await listen();
      try {
        await expectOutcome(['unix-dgram-send', dgramPath], 'denied EAFNOSUPPORT', { sandbox: visible });
        await expectOutcome(['socketpair-reach', 'dgram', dgramPath], 'denied EACCES', { sandbox: visible });
        // A connected stream or seqpacket pair cannot be connected elsewhere: the kernel's own answers.
        await expectOutcome(['socketpair-reach', 'stream', unixSocketPath], 'denied EISCONN', { sandbox: visible });
        await expectOutcome(['socketpair-reach', 'seqpacket', dgramPath], /^denied (EISCONN|EPROTOTYPE)$/, { sandbox: visible });
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(host.output(), '', 'the host socket received nothing');
      } finally {
        await host.stop();
      }
      assert.equal(unixConnections, 0);
      // Control: with datagram pairs allowed, one end is re-pointed at the host socket and an fd goes through.
      const control = await listen();
      try {
        await expectOutcome(['socketpair-reach', 'dgram', dgramPath], 'allowed', { sandbox: { ...visible, seccomp: { allow: ['socketpair'] } } });
        await waitFor(() => control.output() !== '', 2000, 'the datagram to arrive');
        assert.equal(control.output(), 'received 14 bytes 1 fds');
      } finally {
        await control.stop();
      }
    });

    test('with sandbox.unixSockets granted, the program may use unix sockets again', async () => {
      await expectOutcome(['unix-connect', unixSocketPath], 'allowed', { sandbox: { ...UNIX_SOCKETS_OPTION, fs: { read: [hostDir] } } });
      await waitFor(() => unixConnections === 1, 2000, 'the unix listener to see the connection');
      unixConnections = 0;
      // Still hidden where the mount plan hides it, and abstract names still behind the Landlock scope.
      await expectOutcome(['unix-connect', unixSocketPath], 'denied ENOENT', { sandbox: UNIX_SOCKETS_OPTION });
      await expectOutcome(['abstract-connect', abstractName], /^denied (EPERM|ECONNREFUSED)$/, { sandbox: UNIX_SOCKETS_OPTION });
    });

    test('/proc/net with a network namespace lists none of the host\'s unix sockets or TCP listeners', async () => {
      const netns: SandboxOption = { namespaces: { net: true } };
      await expectOutcome(['file-contains', '/proc/net/unix', unixSocketPath], 'absent', { sandbox: netns });
      await expectOutcome(['file-contains', '/proc/net/tcp', tcpListenerEntry()], 'absent', { sandbox: netns });
      // Without a pid namespace /proc is not granted at all.
      await expectOutcome(['file-contains', '/proc/net/unix', unixSocketPath], 'denied EACCES', { sandbox: { namespaces: { pid: false } } });
    });

    // With net 'none' the default profile gives the sandbox an empty network namespace wherever it can, so
    // /proc/net shows nothing of the host; without a pid namespace /proc is not granted at all.
    test('/proc/net under the default profile lists none of the host\'s unix sockets or TCP listeners', async () => {
      await expectOutcome(['file-contains', '/proc/net/unix', unixSocketPath], 'absent');
      await expectOutcome(['file-contains', '/proc/net/tcp', tcpListenerEntry()], 'absent');
    });
  });

  describe('processes', () => {
    test('a host process cannot be signalled: invisible in the pid namespace (ESRCH)', async () => {
      await expectOutcome(['kill-pid', String(sleeperPid)], 'denied ESRCH');
      assert.ok(isAlive(sleeperPid), 'host process was killed');
    });

    test('without a pid namespace, the Landlock signal scope refuses the same-uid host process (EPERM)', async () => {
      const r = await expectOutcome(['kill-pid', String(sleeperPid)], 'denied EPERM', { sandbox: { namespaces: { pid: false } } });
      assert.ok(r.enforcement.landlock?.scopes.includes('signal'));
      assert.ok(isAlive(sleeperPid), 'host process was killed');
    });

    test('with a pid namespace, leaving the process group is allowed: the namespace ends as a whole', async () => {
      await expectOutcome(['leave-group', 'setsid'], 'allowed');
      await expectOutcome(['leave-group', 'setpgid'], 'allowed');
    });

    test('without a pid namespace, a child cannot leave the process group the tree is killed by (EPERM), unless the tree has a uid of its own', async () => {
      const noPidNs: AttemptOptions = { sandbox: { namespaces: { pid: false } } };
      const r = await attempt(['leave-group', 'setsid'], noPidNs);
      if (isRoot) {
        // A root caller's operation has its own uid: the zygote ends the tree by uid, so the group needs no lock.
        assert.equal(r.enforcement.guarantees.treeEnds, 'operation-uid');
        assert.equal(outcome(r), 'allowed');
      } else {
        assert.equal(r.enforcement.guarantees.treeEnds, 'process-group');
        assert.equal(outcome(r), 'denied EPERM', describeRun(r));
        await expectOutcome(['leave-group', 'setpgid'], 'denied EPERM', noPidNs);
      }
    });

    test('ptrace of a host process is refused by seccomp (EPERM), with and without a pid namespace', async () => {
      await expectOutcome(['ptrace-pid', String(sleeperPid)], 'denied EPERM');
      await expectOutcome(['ptrace-pid', String(sleeperPid)], 'denied EPERM', { sandbox: { namespaces: { pid: false } } });
      assert.ok(isAlive(sleeperPid));
    });

    test('another process\'s /proc/PID/environ: absent in the pid namespace, unreadable without one', async () => {
      await expectOutcome(['proc-environ', String(sleeperPid)], 'denied ENOENT');
      await expectOutcome(['proc-environ', String(sleeperPid)], 'denied EACCES', { sandbox: { namespaces: { pid: false } } });
      await expectOutcome(['proc-environ', '1'], 'denied EACCES', { sandbox: { namespaces: { pid: false } } });
    });

    test('a sibling operation: its temp dir and its process are out of reach', async () => {
      // Without a mount namespace the sibling's temp dir is a host dir, so there is something on the host to reach for.
      const sibling = await spawn('/bin/sh', ['-c', 'echo sibling-secret > secret.txt && exec sleep 60'], { stdio: 'ignore', ...LANDLOCK_ONLY });
      try {
        const dir = sibling.enforcement.tmpdir;
        assert.ok(dir && dir !== '/tmp', `the sibling has a host temp dir: ${dir}`);
        const secret = join(dir, 'secret.txt');
        await waitFor(() => existsSync(secret), 5000, 'the sibling to write its file');
        // Hidden with the rest of /tmp; and Landlock refuses it where /tmp is visible.
        await expectOutcome(['read-file', secret], 'denied ENOENT');
        await expectOutcome(['list-dir', dir], 'denied ENOENT');
        await expectOutcome(['write-file', join(dir, 'planted')], 'denied ENOENT');
        await expectOutcome(['read-file', secret], 'denied EACCES', LANDLOCK_ONLY);
        await expectOutcome(['list-dir', dir], 'denied EACCES', LANDLOCK_ONLY);
        await expectOutcome(['write-file', join(dir, 'planted')], 'denied EACCES', LANDLOCK_ONLY);
        await expectOutcome(['kill-pid', String(sibling.pid)], 'denied ESRCH');
        await expectOutcome(['kill-pid', String(sibling.pid)], 'denied EPERM', { sandbox: { namespaces: { pid: false } } });
        assert.equal(existsSync(join(dir, 'planted')), false);
      } finally {
        sibling.killTree('SIGKILL');
        await sibling.exited;
      }
    });

    test('/proc in the sandbox: /proc/2/environ is the probe\'s own, the init\'s is unreadable, only the two are listed', async () => {
      const r = await attempt(['proc-environ', '2'], { env: { HATCHERY_PROBE_MARK: 'inside' } });
      const line = outcome(r);
      assert.match(line, /^allowed .*HATCHERY_PROBE_MARK=inside/, describeRun(r));
      assert.ok(!line.includes(HOST_ENV_SECRET));
      // pid 1 is the sandbox's init, which is not dumpable.
      await expectOutcome(['proc-environ', '1'], 'denied EACCES');
      await expectOutcome(['proc-list'], 'visible 2');
    });

    test('the init shares the zygote\'s memory, and no way into it is open: /proc/1/mem, process_vm_writev and ptrace are refused even where the policy allows the calls', async () => {
      // The default profile refuses the calls themselves.
      await expectOutcome(['write-memory', '1'], 'mem:EACCES vm:EPERM ptrace:EPERM');
      // Allowed by the policy, the kernel still refuses: the init is not dumpable and its memory belongs to the host's user namespace.
      const open = { sandbox: { seccomp: { allow: ['ptrace', 'process_vm_writev'] } } } as AttemptOptions;
      await expectOutcome(['write-memory', '1'], 'mem:EACCES vm:EPERM ptrace:EPERM', open);
      // Control: the same probe reaches a process of its own (itself, pid 2) where the policy allows it.
      const self = await attempt(['write-memory', '2'], open);
      assert.match(outcome(self), /^mem:allowed vm:allowed /, describeRun(self));
    });
  });

  describe('kernel attack surface (seccomp)', () => {
    test('io_uring and clone3 are ENOSYS', async () => {
      await expectOutcome(['io-uring'], 'denied ENOSYS');
      await expectOutcome(['clone3'], 'denied ENOSYS');
    });

    test('new user namespaces, mounts and namespace clones are EPERM', async () => {
      await expectOutcome(['userns'], 'denied EPERM');
      await expectOutcome(['mount'], 'denied EPERM');
      await expectOutcome(['clone-newns'], 'denied EPERM');
    });

    test('TIOCSTI and TIOCLINUX are EPERM before any tty check', async () => {
      await expectOutcome(['tiocsti'], 'denied EPERM');
      await expectOutcome(['tioclinux'], 'denied EPERM');
    });

    test('ptrace-like and kernel-surface syscalls that an unprivileged process could otherwise use are EPERM', async () => {
      for (const name of ['personality', 'userfaultfd', 'perf_event_open', 'process_vm_readv', 'keyctl', 'setns', 'bpf']) {
        await expectOutcome(['syscall', name], 'denied EPERM');
      }
    });

    test('control: with seccomp off the same calls reach the kernel (ENOTTY, EBADF, allowed)', async () => {
      const sandbox: SandboxOption = { seccomp: 'off' };
      await expectOutcome(['tiocsti'], 'denied ENOTTY', { sandbox });
      await expectOutcome(['syscall', 'setns'], 'denied EBADF', { sandbox });
      await expectOutcome(['syscall', 'process_vm_readv'], 'allowed', { sandbox });
      await expectOutcome(['syscall', 'personality'], 'allowed', { sandbox });
    });

    // Each aimed at the probe itself, which the kernel allows: only the filter makes these EPERM.
    const CROSS_PROCESS: ReadonlyArray<readonly [string, string]> = [
      ['pidfd_getfd', 'allowed'],
      ['kcmp', 'allowed'],
      ['process_madvise', 'allowed'],
      ['process_mrelease', 'denied EINVAL'], // the target is not dying
      ['migrate_pages', 'allowed'],
      ['move_pages', 'allowed'],
      ['fanotify_init', 'allowed'], // unprivileged fanotify (FAN_REPORT_FID), Linux >= 5.13
    ];

    test('another process\'s fds, memory and pages, and fanotify are EPERM: pidfd_getfd, kcmp, process_madvise/mrelease, migrate/move_pages', async () => {
      for (const [name] of CROSS_PROCESS) await expectOutcome(['syscall', name], 'denied EPERM');
      for (const [name] of CROSS_PROCESS) await expectOutcome(['syscall', name], 'denied EPERM', { sandbox: { seccomp: 'strict' } });
    });

    test('control: with seccomp off the kernel lets the same calls through', async () => {
      for (const [name, expected] of CROSS_PROCESS) await expectOutcome(['syscall', name], expected, { sandbox: { seccomp: 'off' } });
    });

    const TTY_DENIED = ['TIOCSTI', 'TIOCLINUX', 'TIOCEXCL', 'TIOCNXCL', 'TIOCSCTTY', 'TIOCCONS', 'TIOCSETD', 'TIOCVHANGUP',
      'TIOCSWINSZ', 'TCXONC', 'TIOCSLCKTRMIOS', 'TIOCSIG', 'TIOCSSERIAL', 'TIOCMSET', 'TIOCMBIS', 'TIOCMBIC', 'TIOCSSOFTCAR',
      'TIOCSBRK', 'TIOCCBRK'];
    const TTY_ALLOWED = ['TCGETS', 'TCSETS', 'TIOCGWINSZ', 'TCFLSH', 'TCSBRK', 'TIOCSPGRP', 'TIOCNOTTY', 'TIOCGPGRP', 'FIONREAD'];

    test('terminal ioctls that change a terminal\'s state are EPERM before the kernel looks at the fd; using one reaches it (EBADF)', async () => {
      for (const name of TTY_DENIED) await expectOutcome(['ioctl-bad-fd', name], 'denied EPERM');
      for (const name of TTY_ALLOWED) await expectOutcome(['ioctl-bad-fd', name], 'denied EBADF');
    });

    test('control: with seccomp off every one of them reaches the kernel (EBADF)', async () => {
      for (const name of TTY_DENIED) await expectOutcome(['ioctl-bad-fd', name], 'denied EBADF', { sandbox: { seccomp: 'off' } });
    });

    // A real terminal the probe inherits as fd 0 (stdio 'inherit'), as a caller's terminal reaches a program:
    // Landlock never saw it opened, so only the filter stands between the program and the terminal's state.
    // The harness is the probe's with-pty: a fresh pty that is nobody's controlling terminal (like a serial line,
    // or a pty a server holds), around a small Node program that runs each attempt with stdin inherited.
    test('an inherited terminal: state-changing ioctls are EPERM, raw mode and size queries work; control: the kernel allows them', async () => {
      const changing = ['TIOCEXCL', 'TIOCNXCL', 'TIOCSCTTY', 'TIOCSETD', 'TIOCSWINSZ', 'TCXONC'];
      const using = ['TCGETS', 'TCSETS', 'TIOCGWINSZ', 'TCFLSH', 'TCSBRK'];
      const harness = join(hostDir, `tty-harness-${randomBytes(4).toString('hex')}.mjs`);
      writeFileSync(harness, [
        `import { run, closeDefaultZygote } from ${JSON.stringify(pathToFileURL(join(packageRoot, 'dist', 'src', 'index.js')).href)};`,
        `const probe = ${JSON.stringify(probe)};`,
        `const out = {};`,
        `for (const seccomp of ['default', 'off']) for (const name of ${JSON.stringify([...changing, ...using])}) {`,
        `  const r = await run(probe, ['tty', name], { stdio: ['inherit', 'pipe', 'pipe'], timeoutMs: 30000, sandbox: { seccomp, fs: { exec: [probe] } } });`,
        `  out[seccomp + ' ' + name] = r.exitCode === 0 ? r.stdout.trim() : 'exit ' + r.exitCode + ' ' + r.stdout.trim() + ' ' + r.stderr.trim();`,
        `}`,
        `await closeDefaultZygote();`,
        `process.stdout.write(JSON.stringify(out));`,
      ].join('\n'));
      const r = spawnSync(probe, ['with-pty', process.execPath, harness], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `harness: ${r.status} ${r.signal} ${r.stdout} ${r.stderr}`);
      const got = JSON.parse(r.stdout) as Record<string, string>;
      for (const name of changing) {
        assert.equal(got[`default ${name}`], 'denied EPERM', name);
        assert.equal(got[`off ${name}`], 'allowed', `control: the kernel lets ${name} change the inherited terminal`);
      }
      for (const name of using) {
        assert.equal(got[`default ${name}`], 'allowed', name);
        assert.equal(got[`off ${name}`], 'allowed', name);
      }
    });
  });

  describe('resource exhaustion', () => {
    test('fork bomb under limits.processes 50: fork fails with EAGAIN, the host stays responsive', async () => {
      const { value: r, maxLagMs } = await measureLag(() => attempt(['fork-bomb', '100000'], { limits: { processes: 50 } }));
      const m = /^denied EAGAIN after (\d+) forks$/.exec(outcome(r));
      assert.ok(m, describeRun(r));
      const forks = Number(m[1]);
      assert.ok(forks >= 1 && forks < 50, `forks ${forks}`);
      assert.ok(maxLagMs < 1000, `event loop stalled ${maxLagMs.toFixed(0)} ms`);
      await waitFor(() => probeProcesses().length === 0, 5000, 'fork bomb children to be gone');
    });

    test('fork bomb without a process limit: the timeout kills the pid namespace and every process in it', async () => {
      const { value: r, maxLagMs } = await measureLag(() =>
        attempt(['fork-bomb', '300', 'hold'], { timeoutMs: 3000, killGraceMs: 200 }),
      );
      assert.match(r.stdout, /^holding \d+ forks$/m, describeRun(r));
      assert.equal(r.timedOut, true);
      assert.equal(r.limit, 'timeout');
      // The sandbox's init forwards the timeout's SIGTERM to the probe (pid 2), whose default action ends it.
      assert.equal(r.signal, 'SIGTERM');
      assert.ok(maxLagMs < 1000, `event loop stalled ${maxLagMs.toFixed(0)} ms`);
      await waitFor(() => probeProcesses().length === 0, 5000, 'every process of the pid namespace to be gone');
      assert.ok(r.enforcement.tmpdirLimit !== null, 'a private tmpfs, freed with the namespace');
    });

    test('memory bomb under limits.memoryBytes 256 MiB: allocation fails with ENOMEM', async () => {
      const r = await attempt(['memory-bomb', String(1 << 30)], { limits: { memoryBytes: 256 << 20 } });
      const m = /^denied ENOMEM after (\d+) MiB$/.exec(outcome(r));
      assert.ok(m, describeRun(r));
      const mib = Number(m[1]);
      assert.ok(mib > 128 && mib < 256, `allocated ${mib} MiB`);
    });

    test('CPU spin under limits.cpuSeconds 1 is killed, and reported as the cpu limit', async () => {
      const r = await attempt(['cpu-spin'], { limits: { cpuSeconds: 1 }, timeoutMs: 15_000 });
      assert.equal(r.stdout, 'spinning\n', describeRun(r));
      assert.equal(r.limit, 'cpu', describeRun(r));
      assert.ok(r.signal === 'SIGXCPU' || r.signal === 'SIGKILL', describeRun(r));
      assert.equal(r.timedOut, false);
      // The kernel's CPU clock is tick-sampled and the init's rusage can miss the tail of a program the namespace's
      // teardown ended: on a loaded machine it has read 730-880 ms. What proves the limit acted is limit and signal above.
      assert.ok(r.userCpuMs + r.sysCpuMs >= 500, `cpu ${r.userCpuMs + r.sysCpuMs} ms`);
      assert.ok(r.wallMs < 10_000, `wall ${r.wallMs} ms`);
    });

    test('filling the disk stops at limits.fileSizeBytes: EFBIG with SIGXFSZ ignored', async () => {
      await expectOutcome(['fill-disk', String(8 << 20)], `denied EFBIG after ${1 << 20} bytes`, { limits: { fileSizeBytes: 1 << 20 } });
    });

    test('filling the disk with SIGXFSZ at its default action: killed by SIGXFSZ, reported as the fileSize limit', async () => {
      // Not as pid 1 of a pid namespace: the kernel does not deliver default-action
      // signals to a namespace's init, so there the write fails with EFBIG instead.
      const r = await attempt(['fill-disk', String(8 << 20), 'signal'], {
        limits: { fileSizeBytes: 1 << 20 },
        sandbox: { namespaces: { pid: false } },
      });
      assert.equal(r.signal, 'SIGXFSZ', describeRun(r));
      assert.equal(r.limit, 'fileSize');
    });

    test('fd exhaustion stops at limits.openFiles 64: EMFILE after 61 (0, 1 and 2 are open)', async () => {
      await expectOutcome(['fd-exhaust'], 'denied EMFILE after 61 fds', { limits: { openFiles: 64 } });
    });
  });

  describe('setuid binaries', () => {
    test('a setuid-root copy of the probe gains nothing under no_new_privs', { skip: !isRoot && 'needs root to make a setuid-root file' }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hatchery-suid-'));
      try {
        chmodSync(dir, 0o755);
        const suid = join(dir, 'hatchery-probe-suid');
        copyFileSync(probe, suid);
        chownSync(suid, 0, 0);
        chmodSync(suid, 0o4755);
        // Control: outside the sandbox an unprivileged user does become euid 0 through it.
        const control = spawnSync('/usr/bin/setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', suid, 'whoami'], {
          encoding: 'utf8',
        });
        assert.match(control.stdout, /^uid=65534 euid=0 /, `control run: ${control.stdout}${control.stderr}`);

        const sandbox: SandboxOption = { fs: { exec: [suid] } };
        const inUserns = await run(suid, ['whoami'], { sandbox, timeoutMs: 30_000 });
        assert.match(outcome(inUserns), /^uid=65534 euid=65534 suid=65534 .* capeff=0000000000000000 capprm=0000000000000000 .* nnp=1 /);
        // Without a user namespace only no_new_privs stands between the drop to the operation's uid and the setuid bit.
        const noNs = { user: false, pid: false, net: false, ipc: false, uts: false, mount: false };
        const plain = await run(suid, ['whoami'], { sandbox: { ...sandbox, namespaces: noNs }, timeoutMs: 30_000 });
        assert.deepEqual(plain.enforcement.namespaces, []);
        const own = plain.enforcement.uid;
        assert.ok(own >= OPERATION_UID_BASE, `operation uid ${own}`);
        assert.match(outcome(plain), new RegExp(`^uid=${own} euid=${own} suid=${own} .* capeff=0000000000000000 capprm=0000000000000000 .* nnp=1 `));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  test('no probe process outlives the suite\'s runs', async () => {
    await waitFor(() => probeProcesses().length === 0, 5000, 'probe processes to be gone');
    assert.ok(isAlive(sleeperPid), 'the host fixture survived every attempt');
  });
});
