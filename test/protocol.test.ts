// Golden bytes for the TS side of the wire protocol. The golden messages in test/fixtures/protocol/ are the
// ones native/test/protocol_golden.c checks too: the TS encoder must write the requests byte for byte and
// decode the replies, the C parser must read the requests and its encoder write the replies.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  HEADER_SIZE,
  MAX_ARGS_FILE,
  MAX_FDS_PER_MESSAGE,
  MAX_INLINE_ARGS,
  MAX_MESSAGE,
  MAX_MOUNT_OPS,
  MOUNT_OP_EXACT,
  MessageType,
  MountOp,
  ProtocolError,
  Stage,
  RLIM_INFINITY,
  decodeMessage,
  TRACE_STAGE_BASE,
  TraceEvent,
  encodeHello,
  encodePing,
  encodeSignal,
  encodeSpawn as encodeSpawnRequest,
  markConstant,
  type SpawnPlan,
  SignalScope,
  SpawnFlag,
  NamespaceOption,
  Tag,
  stageName,
} from '../src/protocol/wire.js';

const hex = (b: Buffer): string => b.toString('hex');
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A golden message: hex bytes, '#' comments and whitespace ignored. */
function fixture(name: string): Buffer {
  const text = readFileSync(join(root, 'test', 'fixtures', 'protocol', `${name}.hex`), 'utf8');
  const digits = text.replace(/#[^\n]*/g, '').replace(/\s+/g, '');
  assert.match(digits, /^(?:[0-9a-f]{2})+$/, `${name}.hex holds hex bytes`);
  return Buffer.from(digits, 'hex');
}

/** The datagram of a SPAWN whose argv and env fit inline. */
function encodeSpawn(id: number, plan: SpawnPlan): Buffer {
  const { message, argsFile } = encodeSpawnRequest(id, plan);
  assert.equal(argsFile, null);
  return message;
}

test('HELLO is header + version + idle timeout, little endian', () => {
  assert.equal(hex(encodeHello(30000)), '0100' + '0000' + '00000000' + '08000000' + '01000000' + '30750000');
});

test('SIGNAL and PING bytes', () => {
  assert.equal(hex(encodeSignal(7, 15, SignalScope.TreeEscalate)), '0700000007000000080000000f00000002000000');
  assert.equal(hex(encodePing(0x0102030405060708n)), '0800000000000000080000000807060504030201');
});

test('SPAWN is a TLV sequence padded to 8 bytes', () => {
  const msg = encodeSpawn(3, {
    file: '/bin/true',
    argv: ['true'],
    env: ['A=b'],
    cwd: '/',
    rlimits: [{ resource: 4, soft: 0n, hard: RLIM_INFINITY }],
    timeout: { timeoutMs: 1000, graceMs: 500, termSignal: 15 },
    flags: 1,
  });
  const expected =
    '0300' + '0000' + '03000000' + '90000000' + // body: 24+16+16+16+32+24+16 = 144
    // FILE "/bin/true\0" (10 bytes, padded to 16)
    '0100' + '0000' + '0a000000' + Buffer.from('/bin/true\0').toString('hex') + '000000000000' +
    // ARG "true\0" (5, padded to 8)
    '0200' + '0000' + '05000000' + Buffer.from('true\0').toString('hex') + '000000' +
    // ENV "A=b\0" (4, padded to 8)
    '0300' + '0000' + '04000000' + Buffer.from('A=b\0').toString('hex') + '00000000' +
    // CWD "/\0" (2, padded to 8)
    '0400' + '0000' + '02000000' + '2f00' + '000000000000' +
    // RLIMIT core: resource 4, reserved, soft 0, hard infinity
    '0500' + '0000' + '18000000' + '04000000' + '00000000' + '0000000000000000' + 'ffffffffffffffff' +
    // TIMEOUT 1000 ms, grace 500, SIGTERM
    '0600' + '0000' + '10000000' + 'e8030000' + 'f4010000' + '0f000000' + '00000000' +
    // FLAGS no_new_privs (4, padded to 8)
    '0700' + '0000' + '04000000' + '01000000' + '00000000';
  assert.equal(hex(msg), expected);
  assert.equal(msg.readUInt32LE(8), msg.length - HEADER_SIZE);
});

/** Two mount ops in plan order: the bytes of mount_msg in native/test/protocol_golden.c and of fixture spawn_mounts. */
const MOUNT_OPS_PLAN: Parameters<typeof encodeSpawn>[1] = {
  file: '/bin/true',
  argv: ['true'],
  env: [],
  rlimits: [],
  flags: 0,
  namespaces: { cloneFlags: 0x20000, insideUid: 0, insideGid: 0, options: 0 },
  mounts: [
    { op: MountOp.Hide, path: '/tmp' },
    { op: MountOp.ReadonlyAll, path: '/' },
  ],
};

test('SPAWN mount ops: u32 op, u32 reserved, NUL-terminated path, in plan order', () => {
  // The same bytes as mount_msg in native/test/protocol_golden.c.
  const msg = encodeSpawn(4, MOUNT_OPS_PLAN);
  const expected =
    '0300' + '0000' + '04000000' + '80000000' + // body: 24+16+16+24+24+24 = 128
    '0100' + '0000' + '0a000000' + Buffer.from('/bin/true\0').toString('hex') + '000000000000' +
    '0200' + '0000' + '05000000' + Buffer.from('true\0').toString('hex') + '000000' +
    '0700' + '0000' + '04000000' + '00000000' + '00000000' +
    // NAMESPACES: CLONE_NEWNS, inside ids 0, options 0
    '0900' + '0000' + '10000000' + '00000200' + '00000000' + '00000000' + '00000000' +
    // MOUNT_OP hide "/tmp" (8 + 5 = 13 bytes, padded to 16)
    '0e00' + '0000' + '0d000000' + '02000000' + '00000000' + Buffer.from('/tmp\0').toString('hex') + '000000' +
    // MOUNT_OP readonly-all "/" (8 + 2 = 10 bytes, padded to 16)
    '0e00' + '0000' + '0a000000' + '04000000' + '00000000' + '2f00' + '000000000000';
  assert.equal(hex(msg), expected);
  assert.equal(Stage.Init, 16);
  assert.equal(stageName(16), 'init');
});

/** A path a pool's call narrowed to, opened exactly: the bytes of fixture spawn_exact. */
const EXACT_PLAN: SpawnPlan = {
  ...MOUNT_OPS_PLAN,
  landlock: {
    ruleset: { abi: 4, handledAccessFs: 0x7fffn, handledAccessNet: 0n, scoped: 0n },
    paths: [
      { allowedAccess: 0xdn, path: '/usr' },
      { allowedAccess: 0x7fffn, path: '/srv/job', exact: true },
    ],
    ports: [],
  },
  mounts: [
    { op: MountOp.Preserve, path: '/srv/job', exact: true },
    { op: MountOp.Hide, path: '/srv' },
    { op: MountOp.Restore, path: '/srv/job' },
    { op: MountOp.ReadonlyAll, path: '/' },
    { op: MountOp.BindRw, path: '/srv/job', exact: true },
  ],
};

test("exact paths (a pool's call narrowed to them): a LANDLOCK_PATH_EXACT record, MOUNT_OP_EXACT in a mount op's flags; nowhere else", () => {
  assert.equal(Tag.LandlockPathExact, 18);
  assert.equal(MOUNT_OP_EXACT, 1);
  const got = records(encodeSpawn(7, EXACT_PLAN));
  assert.deepEqual(
    got.filter(([t]) => t === Tag.LandlockPath || t === Tag.LandlockPathExact).map(([t, v]) => [t, v.subarray(8, -1).toString('utf8')]),
    [
      [Tag.LandlockPath, '/usr'],
      [Tag.LandlockPathExact, '/srv/job'],
    ],
  );
  assert.deepEqual(
    got.filter(([t]) => t === Tag.MountOp).map(([, v]) => v.readUInt32LE(4)),
    [MOUNT_OP_EXACT, 0, 0, 0, MOUNT_OP_EXACT],
  );
  const base = { file: '/bin/true', argv: ['true'], env: [], rlimits: [], flags: 0 };
  const ns = { cloneFlags: 0x20000, insideUid: 0, insideGid: 0, options: 0 };
  assert.throws(() => encodeSpawn(1, { ...base, namespaces: ns, mounts: [{ op: MountOp.Hide, path: '/tmp', exact: true }] }), /cannot be exact/);
  const ruleset = { abi: 7, handledAccessFs: 0xffffn, handledAccessNet: 0n, scoped: 0n };
  assert.throws(() => encodeSpawn(1, { ...base, landlock: { ruleset, paths: [{ allowedAccess: 1n, path: 'rel', exact: true }], ports: [] } }), /not absolute/);
});

test('encodeSpawn refuses bad mount ops', () => {
  const base = { file: '/bin/true', argv: ['true'], env: [], rlimits: [], flags: 0 };
  const ns = { cloneFlags: 0x20000, insideUid: 0, insideGid: 0, options: 0 };
  assert.throws(() => encodeSpawn(1, { ...base, namespaces: ns, mounts: [{ op: 9, path: '/' }] }), /unknown mount operation 9/);
  assert.throws(() => encodeSpawn(1, { ...base, namespaces: ns, mounts: [{ op: MountOp.Hide, path: 'tmp' }] }), /not absolute/);
  assert.throws(() => encodeSpawn(1, { ...base, namespaces: ns, mounts: [{ op: MountOp.Hide, path: '/t\0' }] }), /NUL/);
  const many = Array.from({ length: MAX_MOUNT_OPS + 1 }, () => ({ op: MountOp.ReadonlyAll, path: '/' }));
  assert.throws(() => encodeSpawn(1, { ...base, namespaces: ns, mounts: many }), new RegExp(`more than ${MAX_MOUNT_OPS} mount operations`));
});

test('SPAWN with an args file: ARGS_FD names its length, the file holds the ARG and ENV records', () => {
  // The same bytes as args_fd_msg and args_file in native/test/protocol_golden.c.
  const { message, argsFile } = encodeSpawnRequest(
    5,
    { file: '/bin/echo', argv: ['echo', 'hi'], env: ['A=1'], rlimits: [], flags: 1 },
    { args: 'file' },
  );
  assert.equal(
    hex(message),
    '0300' + '0000' + '05000000' + '38000000' + // body: 24+16+16 = 56
      '0100' + '0000' + '0a000000' + Buffer.from('/bin/echo\0').toString('hex') + '000000000000' +
      // ARGS_FD: u64 length 48
      '1100' + '0000' + '08000000' + '3000000000000000' +
      '0700' + '0000' + '04000000' + '01000000' + '00000000',
  );
  assert.ok(argsFile);
  assert.equal(
    hex(argsFile),
    '0200' + '0000' + '05000000' + Buffer.from('echo\0').toString('hex') + '000000' +
      '0200' + '0000' + '03000000' + Buffer.from('hi\0').toString('hex') + '0000000000' +
      '0300' + '0000' + '04000000' + Buffer.from('A=1\0').toString('hex') + '00000000',
  );
  assert.equal(Tag.ArgsFd, 17);
  assert.equal(MAX_FDS_PER_MESSAGE, 4);
  // The same records inline are the records of the file.
  const inline = encodeSpawnRequest(5, { file: '/bin/echo', argv: ['echo', 'hi'], env: ['A=1'], rlimits: [], flags: 1 });
  assert.equal(inline.argsFile, null);
  assert.ok(hex(inline.message).includes(hex(argsFile)));
});

test('argv and env go to an args file exactly when the SPAWN would not fit maxMessage', () => {
  const base = { file: '/bin/true', env: [], rlimits: [], flags: 0 };
  const fits = (n: number): SpawnPlan => ({ ...base, argv: Array.from({ length: n }, () => 'x') });
  // FILE (24) + n ARGs (16 each) + FLAGS (16) + header (12).
  const most = Math.floor((MAX_MESSAGE - 12 - 24 - 16) / 16);
  assert.ok(most <= MAX_INLINE_ARGS);
  const atLimit = encodeSpawnRequest(1, fits(most));
  assert.equal(atLimit.argsFile, null);
  assert.equal(atLimit.message.length, 12 + 24 + most * 16 + 16);
  const over = encodeSpawnRequest(1, fits(most + 1));
  assert.ok(over.argsFile);
  assert.equal(over.argsFile.length, (most + 1) * 16);
  assert.equal(over.message.length, 12 + 24 + 16 + 16);
  // A zygote that reports a smaller maxMessage gets the file sooner.
  assert.ok(encodeSpawnRequest(1, fits(100), { maxMessage: 1024 }).argsFile);
  assert.equal(encodeSpawnRequest(1, fits(10), { maxMessage: 1024 }).argsFile, null);
  // 10,000 arguments and a 200 KiB string are a matter for the kernel, not the protocol.
  assert.ok(encodeSpawnRequest(1, fits(10_000)).argsFile);
  const big = encodeSpawnRequest(1, { ...base, argv: ['x', 'y'.repeat(200 * 1024)] });
  assert.equal(big.argsFile?.readUInt32LE(20), 200 * 1024 + 1);
});

/** A SPAWN's records, read back: [tag, value] in order (the header's body length checked). */
function records(message: Buffer): [number, Buffer][] {
  assert.equal(message.readUInt32LE(8), message.length - 12, 'the header names the body length');
  const out: [number, Buffer][] = [];
  for (let at = 12; at < message.length; ) {
    const tag = message.readUInt16LE(at);
    const length = message.readUInt32LE(at + 4);
    const padded = Math.ceil(length / 8) * 8;
    const value = message.subarray(at + 8, at + 8 + length);
    assert.ok(message.subarray(at + 8 + length, at + 8 + padded).every((b) => b === 0), `record ${tag}: padding is zero`);
    out.push([tag, value]);
    at += 8 + padded;
  }
  return out;
}

test("SPAWN records larger than the encoder's first buffers (a grown buffer) read back whole", () => {
  // A seccomp program of 1000 instructions (the encoder's record cache starts at 1 KiB), 200 long Landlock paths
  // (not marked constant: encoded into the message), a cwd longer than the message's first 4 KiB of room, a long FILE.
  const program = new Uint8Array(8000).map((_, i) => (i * 7 + 3) & 0xff);
  const paths = Array.from({ length: 200 }, (_, i) => ({ allowedAccess: BigInt(i + 1), path: `/data/${'p'.repeat(40)}/${i}` }));
  const plan: SpawnPlan = {
    file: `/opt/${'f'.repeat(300)}`,
    argv: ['a', 'b'.repeat(50)],
    env: ['E=1'],
    cwd: `/work/${'c'.repeat(6000)}`,
    rlimits: [{ resource: 7, soft: 1024n, hard: RLIM_INFINITY }],
    flags: 0,
    landlock: { ruleset: { abi: 7, handledAccessFs: 0xffffn, handledAccessNet: 3n, scoped: 3n }, paths, ports: [] },
    seccomp: program,
  };
  for (const seccomp of [program, (markConstant(program), program)]) {
    const got = records(encodeSpawn(9, { ...plan, seccomp }));
    const strings = (tag: number): string[] => got.filter(([t]) => t === tag).map(([, v]) => v.subarray(0, -1).toString('utf8'));
    assert.deepEqual(strings(Tag.File), [plan.file]);
    assert.deepEqual(strings(Tag.Arg), plan.argv);
    assert.deepEqual(strings(Tag.Env), plan.env);
    assert.deepEqual(strings(Tag.Cwd), [plan.cwd]);
    assert.deepEqual(got.filter(([t]) => t === Tag.Seccomp).map(([, v]) => Buffer.compare(v, Buffer.from(program))), [0]);
    const rules = got.filter(([t]) => t === Tag.LandlockPath).map(([, v]) => ({ allowedAccess: v.readBigUInt64LE(0), path: v.subarray(8, -1).toString('utf8') }));
    assert.deepEqual(rules, paths);
  }
});

test('encodeSpawn refuses NUL bytes and what no zygote may be sent', () => {
  const base = { file: '/bin/true', env: [], rlimits: [], flags: 0 };
  assert.throws(() => encodeSpawnRequest(1, { ...base, file: '/bin/a\0b', argv: ['a'] }), ProtocolError);
  assert.throws(() => encodeSpawnRequest(1, { ...base, argv: ['a\0b'] }), /argument contains a NUL/);
  assert.throws(() => encodeSpawnRequest(1, { ...base, argv: ['a'], env: ['A=\0'] }), /environment entry contains a NUL/);
  assert.throws(() => encodeSpawnRequest(1, { ...base, argv: [] }), /argv is empty/);
  const huge = 'x'.repeat(MAX_MESSAGE);
  assert.throws(() => encodeSpawnRequest(1, { ...base, argv: [huge] }, { args: 'inline' }), /exceeds/);
  assert.throws(() => encodeSpawnRequest(1, { ...base, argv: ['a'], cwd: huge }), /exceeds/);
  const over = Array.from({ length: MAX_ARGS_FILE / 16 + 1 }, () => '');
  assert.throws(() => encodeSpawnRequest(1, { ...base, argv: over }), /args file limit/);
});

function reply(type: number, id: number, body: Buffer, flags = 0): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt16LE(type, 0);
  h.writeUInt16LE(flags, 2);
  h.writeUInt32LE(id, 4);
  h.writeUInt32LE(body.length, 8);
  return Buffer.concat([h, body]);
}

test('decodes every zygote reply', () => {
  const hello = Buffer.alloc(16);
  hello.writeUInt32LE(1, 0);
  hello.writeUInt32LE(4242, 4);
  hello.writeUInt32LE(MAX_MESSAGE, 8);
  hello.writeUInt32LE(256, 12);
  assert.deepEqual(decodeMessage(reply(MessageType.HelloOk, 0, hello), 0), {
    type: MessageType.HelloOk, id: 0, version: 1, zygotePid: 4242, maxMessage: MAX_MESSAGE, maxChildren: 256,
  });
  const pid = Buffer.alloc(4);
  pid.writeUInt32LE(99, 0);
  assert.deepEqual(decodeMessage(reply(MessageType.Spawned, 5, pid), 1), { type: MessageType.Spawned, id: 5, pid: 99 });
  const failed = Buffer.from('0f00000002000000', 'hex');
  assert.deepEqual(decodeMessage(reply(MessageType.SpawnFailed, 5, failed), 0), { type: MessageType.SpawnFailed, id: 5, stage: 15, errno: 2 });
  assert.equal(stageName(15), 'exec');
  const exit = Buffer.alloc(48);
  exit.writeInt32LE(-1, 0);
  exit.writeInt32LE(9, 4);
  exit.writeUInt32LE(5, 8);
  exit.writeBigUInt64LE(1500n, 16);
  exit.writeBigUInt64LE(250n, 24);
  exit.writeBigUInt64LE(4096n, 32);
  exit.writeBigUInt64LE(2_000_000n, 40);
  assert.deepEqual(decodeMessage(reply(MessageType.Exit, 5, exit), 0), {
    type: MessageType.Exit,
    id: 5,
    exit: { exitCode: null, signal: 9, reasons: 5, userCpuUs: 1500n, sysCpuUs: 250n, maxRssBytes: 4096n, wallUs: 2_000_000n },
  });
  const err = Buffer.concat([Buffer.from('01000000', 'hex'), Buffer.from('bad tlv')]);
  assert.deepEqual(decodeMessage(reply(MessageType.Error, 3, err), 0), { type: MessageType.Error, id: 3, code: 1, message: 'bad tlv' });
});

function traceBody(entries: Array<[number, bigint]>, count = entries.length): Buffer {
  const b = Buffer.alloc(8 + 16 * entries.length);
  b.writeUInt32LE(count, 0);
  entries.forEach(([event, ns], i) => {
    b.writeUInt32LE(event, 8 + 16 * i);
    b.writeBigUInt64LE(ns, 16 + 16 * i);
  });
  return b;
}

test('decodes a TRACE and refuses a malformed one', () => {
  const body = traceBody([[TraceEvent.Received, 10n], [TraceEvent.Parsed, 12n], [TRACE_STAGE_BASE + 2, 11n]]);
  assert.deepEqual(decodeMessage(reply(MessageType.Trace, 7, body), 0), {
    type: MessageType.Trace,
    id: 7,
    events: new Map([[TraceEvent.Received, 10n], [TraceEvent.Parsed, 12n], [TRACE_STAGE_BASE + 2, 11n]]),
  });
  assert.throws(() => decodeMessage(reply(MessageType.Trace, 7, Buffer.alloc(4)), 0), /shorter than 8/);
  assert.throws(() => decodeMessage(reply(MessageType.Trace, 7, traceBody([[1, 1n]], 2)), 0), /expected 40/);
  assert.throws(() => decodeMessage(reply(MessageType.Trace, 7, traceBody([[2, 1n], [1, 1n]])), 0), /out of order/);
  assert.throws(() => decodeMessage(reply(MessageType.Trace, 7, traceBody([[1, 1n], [1, 2n]])), 0), /out of order/);
  assert.throws(() => decodeMessage(reply(MessageType.Trace, 7, traceBody([[64, 1n]])), 0), /out of order or range/);
  assert.throws(() => decodeMessage(reply(MessageType.Trace, 7, traceBody([], 65)), 0), /trace of 65 events/);
});

test('malformed replies are refused', () => {
  const pid = Buffer.alloc(4);
  assert.throws(() => decodeMessage(Buffer.alloc(5), 0), /shorter than a header/);
  assert.throws(() => decodeMessage(reply(MessageType.Spawned, 1, pid), 0), /carried 0 fds/);
  assert.throws(() => decodeMessage(reply(MessageType.Exit, 1, pid), 0), /expected 48/);
  assert.throws(() => decodeMessage(reply(MessageType.Spawned, 1, pid, 1), 1), /nonzero header flags/);
  assert.throws(() => decodeMessage(reply(77, 1, pid), 0), /unknown message type 77/);
  const lying = reply(MessageType.Spawned, 1, pid);
  lying.writeUInt32LE(100, 8);
  assert.throws(() => decodeMessage(lying, 1), /header says 100/);
  assert.throws(() => decodeMessage(Buffer.alloc(MAX_MESSAGE + 1), 0), /exceeds/);
});

// ---- the shared golden messages (test/fixtures/protocol/), one or more per message type ----

const allowFilter = Buffer.from([0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x7f]); // BPF_RET|BPF_K SECCOMP_RET_ALLOW

test('golden requests: the TS encoder writes every fixture byte for byte', () => {
  assert.equal(hex(encodeHello(30000)), hex(fixture('hello')));
  assert.equal(hex(encodeSignal(7, 15, SignalScope.TreeEscalate)), hex(fixture('signal')));
  assert.equal(hex(encodePing(0x0102030405060708n)), hex(fixture('ping')));
  const spawn = encodeSpawn(3, {
    file: '/bin/true',
    argv: ['true'],
    env: ['A=b'],
    cwd: '/',
    rlimits: [{ resource: 4, soft: 0n, hard: RLIM_INFINITY }],
    timeout: { timeoutMs: 1000, graceMs: 500, termSignal: 15 },
    flags: SpawnFlag.NoNewPrivs,
  });
  assert.equal(hex(spawn), hex(fixture('spawn')));
  const mounts = encodeSpawn(4, MOUNT_OPS_PLAN);
  assert.equal(hex(mounts), hex(fixture('spawn_mounts')));
  assert.equal(hex(encodeSpawn(7, EXACT_PLAN)), hex(fixture('spawn_exact')));
  const sandbox = encodeSpawn(6, {
    file: '/bin/sh',
    argv: ['sh', '-c', 'exit 3'],
    env: ['PATH=/usr/bin:/bin'],
    rlimits: [],
    flags: SpawnFlag.NoNewPrivs | SpawnFlag.PrivateUmask,
    credentials: { uid: 1000, gid: 1000 },
    namespaces: { cloneFlags: 0x10000000 | 0x20000000 | 0x00020000, insideUid: 0, insideGid: 0, options: NamespaceOption.MountProc },
    landlock: {
      ruleset: { abi: 4, handledAccessFs: 0x7fffn, handledAccessNet: 3n, scoped: 0n },
      paths: [{ allowedAccess: 0xdn, path: '/usr' }],
      ports: [{ allowedAccess: 2n, port: 443n }],
    },
    seccomp: allowFilter,
    initSeccomp: allowFilter,
    privateTmp: { sizeBytes: 1048576, inodes: 1024, path: '/tmp', shm: true },
    mounts: [{ op: MountOp.Hide, path: '/home' }],
  });
  assert.equal(hex(sandbox), hex(fixture('spawn_sandbox')));
  const { message, argsFile } = encodeSpawnRequest(
    5,
    { file: '/bin/echo', argv: ['echo', 'hi'], env: ['A=1'], rlimits: [], flags: SpawnFlag.NoNewPrivs },
    { args: 'file' },
  );
  assert.equal(hex(message), hex(fixture('spawn_args_fd')));
  assert.ok(argsFile);
  assert.equal(hex(argsFile), hex(fixture('args_file')));
});

test('plan fields marked constant are encoded once: the bytes equal a fresh encode, the golden fixture included', () => {
  const fields = (): Pick<SpawnPlan, 'landlock' | 'seccomp' | 'initSeccomp' | 'mounts'> => ({
    landlock: {
      ruleset: { abi: 4, handledAccessFs: 0x7fffn, handledAccessNet: 3n, scoped: 0n },
      paths: [{ allowedAccess: 0xdn, path: '/usr' }],
      ports: [{ allowedAccess: 2n, port: 443n }],
    },
    seccomp: Buffer.from(allowFilter),
    initSeccomp: Buffer.from(allowFilter),
    mounts: [{ op: MountOp.Hide, path: '/home' }],
  });
  const plan = (shared: ReturnType<typeof fields>, uid: number): SpawnPlan => ({
    file: '/bin/sh',
    argv: ['sh', '-c', 'exit 3'],
    env: ['PATH=/usr/bin:/bin'],
    rlimits: [],
    flags: SpawnFlag.NoNewPrivs | SpawnFlag.PrivateUmask,
    credentials: { uid, gid: uid },
    namespaces: { cloneFlags: 0x10000000 | 0x20000000 | 0x00020000, insideUid: 0, insideGid: 0, options: NamespaceOption.MountProc },
    ...shared,
    privateTmp: { sizeBytes: 1048576, inodes: 1024, path: '/tmp', shm: true },
  });
  const kept = fields();
  for (const field of [kept.landlock!, kept.seccomp!, kept.initSeccomp!, kept.mounts!]) markConstant(field);
  for (const uid of [1000, 1000, 1001, 1000]) {
    // The first encode of a constant field fills the cache; the later ones use it; the fresh fields are encoded anew each time.
    assert.equal(hex(encodeSpawn(6, plan(kept, uid))), hex(encodeSpawn(6, plan(fields(), uid))));
  }
  assert.equal(hex(encodeSpawn(6, plan(kept, 1000))), hex(fixture('spawn_sandbox')));
  // An unmarked field is encoded every time: a change to it is sent.
  const unmarked = fields();
  const before = encodeSpawn(6, plan(unmarked, 1000));
  (unmarked.mounts as { op: number; path: string }[])[0]!.path = '/root';
  assert.notEqual(hex(encodeSpawn(6, plan(unmarked, 1000))), hex(before));
  // A constant field that is refused is refused every time (nothing is kept for it).
  const bad = [{ op: 9, path: '/' }];
  markConstant(bad);
  for (let i = 0; i < 2; i++) assert.throws(() => encodeSpawn(1, { ...plan(fields(), 1000), mounts: bad }), /unknown mount operation 9/);
});

test('golden replies: every fixture decodes to what its comment says', () => {
  assert.deepEqual(decodeMessage(fixture('hello_ok'), 0), {
    type: MessageType.HelloOk, id: 0, version: 1, zygotePid: 12345, maxMessage: MAX_MESSAGE, maxChildren: 256,
  });
  assert.deepEqual(decodeMessage(fixture('spawned'), 1), { type: MessageType.Spawned, id: 5, pid: 99 });
  assert.deepEqual(decodeMessage(fixture('twin'), 1), { type: MessageType.Twin, id: 0, pid: 4321 });
  assert.throws(() => decodeMessage(fixture('twin'), 0), ProtocolError, 'a TWIN without its pidfd');
  assert.deepEqual(decodeMessage(fixture('spawn_failed'), 0), { type: MessageType.SpawnFailed, id: 5, stage: Stage.Exec, errno: 2 });
  assert.deepEqual(decodeMessage(fixture('exit'), 0), {
    type: MessageType.Exit,
    id: 7,
    exit: { exitCode: null, signal: 9, reasons: 5, userCpuUs: 1500n, sysCpuUs: 250n, maxRssBytes: 4194304n, wallUs: 2_000_000n },
  });
  assert.deepEqual(decodeMessage(fixture('pong'), 0), { type: MessageType.Pong, id: 0, token: 0x0102030405060708n });
  assert.deepEqual(decodeMessage(fixture('error'), 0), {
    type: MessageType.Error, id: 0, code: 3, message: 'unsupported protocol version',
  });
  assert.deepEqual(decodeMessage(fixture('trace'), 0), {
    type: MessageType.Trace,
    id: 7,
    events: new Map([[TraceEvent.Received, 1000n], [TraceEvent.Parsed, 1500n], [TRACE_STAGE_BASE + Stage.Signals, 0x0102030405060708n]]),
  });
});

test('golden fixtures cover every message type', () => {
  const names = ['hello', 'hello_ok', 'spawn', 'spawn_mounts', 'spawn_exact', 'spawn_sandbox', 'spawn_args_fd', 'spawned', 'twin', 'spawn_failed', 'exit', 'signal', 'ping', 'pong', 'error', 'trace'];
  const types = new Set(names.map((n) => fixture(n).readUInt16LE(0)));
  assert.deepEqual([...types].sort((a, b) => a - b), Object.values(MessageType).sort((a, b) => a - b));
  // And every SPAWN record tag appears in some SPAWN fixture (or the args file).
  const tags = new Set<number>();
  for (const [name, at] of [['spawn', HEADER_SIZE], ['spawn_mounts', HEADER_SIZE], ['spawn_exact', HEADER_SIZE], ['spawn_sandbox', HEADER_SIZE], ['spawn_args_fd', HEADER_SIZE], ['args_file', 0]] as const) {
    const b = fixture(name);
    for (let off = at; off < b.length; off += 8 + Math.ceil(b.readUInt32LE(off + 4) / 8) * 8) tags.add(b.readUInt16LE(off));
  }
  assert.deepEqual([...tags].sort((a, b) => a - b), Object.values(Tag).sort((a, b) => a - b));
});

test('the generated protocol constants match native/protocol.json (node scripts/protocol.mjs --check)', () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'protocol.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `stale generated files (run npm run build): ${r.stdout}${r.stderr}`);
});
