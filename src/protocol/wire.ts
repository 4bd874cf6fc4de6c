/**
 * hatchery wire protocol, Node side; native/protocol.h and native/wire.c are
 * the zygote's. The numbers (message types, tags, stages, limits, sizes) are
 * generated for both from native/protocol.json into constants.generated.ts,
 * re-exported here (HATCH_MSG_SPAWN <-> MessageType.Spawn). The golden
 * messages in test/fixtures/protocol/ are checked by test/protocol.test.ts and
 * native/test/protocol_golden.c alike.
 *
 * argv and env are limited by the kernel, not by the datagram: when a
 * SPAWN's ARG/ENV records would not fit in the zygote's maxMessage, they go
 * to an args file (a sealed memfd passed as a 4th fd, Tag.ArgsFd) instead.
 */

import {
  EXIT_BODY_SIZE,
  HEADER_SIZE,
  HELLO_BODY_SIZE,
  HELLO_OK_BODY_SIZE,
  LANDLOCK_PORT_VALUE_SIZE,
  LANDLOCK_RULESET_VALUE_SIZE,
  MAX_ARGS_FILE,
  MAX_LANDLOCK_PATHS,
  MAX_LANDLOCK_PORTS,
  MAX_MESSAGE,
  MAX_MOUNT_OPS,
  MAX_RLIMITS,
  MAX_SECCOMP_INSNS,
  MessageType,
  MOUNT_OP_EXACT,
  MountOp,
  PING_BODY_SIZE,
  PRIVATE_TMP_SHM,
  PRIVATE_TMP_VALUE_SIZE,
  PROTOCOL_VERSION,
  RLIMIT_VALUE_SIZE,
  SIGNAL_BODY_SIZE,
  SPAWNED_BODY_SIZE,
  TWIN_BODY_SIZE,
  SPAWN_FAILED_BODY_SIZE,
  Stage,
  TLV_ALIGN,
  TLV_HEADER_SIZE,
  Tag,
  TRACE_ENTRY_SIZE,
  TRACE_EVENTS,
  type SignalScope,
} from './constants.generated.js';

// Every number of the protocol, generated from native/protocol.json (as native/protocol_generated.h is).
export * from './constants.generated.js';

export type StageName = Lowercase<keyof typeof Stage> | 'unknown';

const stageNames = new Map<number, StageName>(
  Object.entries(Stage).map(([name, value]) => [value, name.toLowerCase() as StageName]),
);
export function stageName(stage: number): StageName {
  return stageNames.get(stage) ?? 'unknown';
}

export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

export interface RlimitEntry {
  resource: number;
  soft: bigint;
  hard: bigint;
}

/** Everything the child needs, already decided. C applies it without interpreting. */
export interface SpawnPlan {
  file: string;
  argv: readonly string[];
  env: readonly string[];
  cwd?: string;
  rlimits: readonly RlimitEntry[];
  timeout?: { timeoutMs: number; graceMs: number; termSignal: number };
  flags: number;
  credentials?: { uid: number; gid: number };
  namespaces?: { cloneFlags: number; insideUid: number; insideGid: number; options: number };
  landlock?: {
    ruleset: { abi: number; handledAccessFs: bigint; handledAccessNet: bigint; scoped: bigint };
    /** `exact`: the child opens the path with no symlink anywhere on it (Tag.LandlockPathExact). */
    paths: readonly { allowedAccess: bigint; path: string; exact?: boolean }[];
    ports: readonly { allowedAccess: bigint; port: bigint }[];
  };
  seccomp?: Uint8Array;
  /** Mount operations, in order (needs namespaces with CLONE_NEWNS); `exact` (PRESERVE, BIND_RW): as a Landlock path's. */
  mounts?: readonly { op: number; path: string; exact?: boolean }[];
  /** A private, capped tmpfs at `path` (/tmp or /var/tmp), and over /dev/shm when `shm` (needs CLONE_NEWNS). */
  privateTmp?: { sizeBytes: number; inodes: number; path: string; shm: boolean };
  /** The pid-namespace init's own seccomp program. */
  initSeccomp?: Uint8Array;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

function frame(type: MessageType, id: number, body: Buffer, maxMessage = MAX_MESSAGE): Buffer {
  const w = messageWriter(HEADER_SIZE + body.length);
  w.raw(body);
  return finishMessage(w, type, id, maxMessage);
}

export function encodeHello(idleTimeoutMs: number): Buffer {
  const body = Buffer.alloc(HELLO_BODY_SIZE);
  body.writeUInt32LE(PROTOCOL_VERSION, 0);
  body.writeUInt32LE(idleTimeoutMs >>> 0, 4);
  return frame(MessageType.Hello, 0, body);
}

export function encodeSignal(id: number, signo: number, scope: SignalScope): Buffer {
  const body = Buffer.alloc(SIGNAL_BODY_SIZE);
  body.writeUInt32LE(signo, 0);
  body.writeUInt32LE(scope, 4);
  return frame(MessageType.Signal, id, body);
}

export function encodePing(token: bigint): Buffer {
  const body = Buffer.alloc(PING_BODY_SIZE);
  body.writeBigUInt64LE(token, 0);
  return frame(MessageType.Ping, 0, body);
}

/**
 * Records written into one buffer that grows by doubling: a SPAWN is a few
 * dozen records, and a Buffer per record (then a concat of them, then of
 * the parts, then of header and body) was most of its encoding's time and
 * garbage. Every record's value and padding start zeroed.
 */
class TlvWriter {
  private buf: Buffer;
  private size = 0;

  constructor(capacity = 1024) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** `n` more bytes, zeroed, at the returned offset of `bytes`. `bytes` may be a new buffer after it: read it after, never before. */
  reserve(n: number): number {
    const at = this.size;
    const need = at + n;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    this.buf.fill(0, at, need);
    this.size = need;
    return at;
  }

  get bytes(): Buffer {
    return this.buf;
  }

  /** A record header for a value of `length` bytes; returns the value's offset, its bytes and padding zeroed. */
  begin(tag: number, length: number): number {
    const at = this.reserve(TLV_HEADER_SIZE + Math.ceil(length / TLV_ALIGN) * TLV_ALIGN);
    this.buf.writeUInt16LE(tag, at);
    this.buf.writeUInt32LE(length, at + 4);
    return at + TLV_HEADER_SIZE;
  }

  // Each offset is taken before `buf` is read: a reservation may replace it.
  record(tag: number, value: Uint8Array): void {
    const at = this.begin(tag, value.length);
    this.buf.set(value, at);
  }

  string(tag: number, s: string, what: string): void {
    if (s.includes('\0')) throw new ProtocolError(`${what} contains a NUL byte`);
    const at = this.begin(tag, Buffer.byteLength(s, 'utf8') + 1);
    this.buf.write(s, at, 'utf8');
  }

  /** Records already encoded (by another TlvWriter). */
  raw(records: Uint8Array): void {
    const at = this.reserve(records.length);
    this.buf.set(records, at);
  }

  u32s(tag: number, values: readonly number[]): void {
    const at = this.begin(tag, values.length * 4);
    for (let i = 0; i < values.length; i++) this.buf.writeUInt32LE(values[i]! >>> 0, at + i * 4);
  }

  /** What was written: a view of the writer's own buffer, which nothing writes to afterwards. */
  done(): Buffer {
    return this.buf.subarray(0, this.size);
  }
}

/** A SPAWN ready to send: the datagram, and the args file's bytes when argv/env did not fit in it. */
export interface EncodedSpawn {
  message: Buffer;
  /** ARG and ENV records for a sealed memfd sent as the 4th fd; null when they are inline. */
  argsFile: Buffer | null;
}

export interface EncodeSpawnOptions {
  /** The largest datagram the zygote takes (HELLO_OK's maxMessage). Default MAX_MESSAGE. */
  maxMessage?: number;
  /** 'auto' (default): inline when the whole SPAWN fits maxMessage, else an args file. */
  args?: 'auto' | 'inline' | 'file';
}

/** The byte length (with its NUL) of each ARG then ENV string, and of all their records. */
function measureStringRecords(argv: readonly string[], env: readonly string[]): { lengths: number[]; total: number } {
  const lengths = new Array<number>(argv.length + env.length);
  let total = 0;
  let i = 0;
  for (const list of [argv, env]) {
    for (const s of list) {
      if (s.includes('\0')) throw new ProtocolError(list === argv ? 'an argument contains a NUL byte' : 'an environment entry contains a NUL byte');
      const n = Buffer.byteLength(s, 'utf8') + 1;
      if (n > 0xffff_ffff) throw new ProtocolError('a string is longer than a record can hold');
      lengths[i++] = n;
      total += TLV_HEADER_SIZE + Math.ceil(n / TLV_ALIGN) * TLV_ALIGN;
    }
  }
  return { lengths, total };
}

/** ARG then ENV records (argv and env may be hundreds of thousands of strings), measured first. */
function writeStringRecords(w: TlvWriter, argv: readonly string[], env: readonly string[], lengths: readonly number[]): void {
  let i = 0;
  for (const [tag, list] of [[Tag.Arg, argv], [Tag.Env, env]] as const) {
    for (const s of list) {
      const at = w.begin(tag, lengths[i++]!);
      w.bytes.write(s, at, 'utf8');
    }
  }
}

/** A message writer with its header's room reserved. */
function messageWriter(capacity: number): TlvWriter {
  const w = new TlvWriter(capacity);
  w.reserve(HEADER_SIZE);
  return w;
}

/** The header written over the room messageWriter left, once the body is complete. */
function finishMessage(w: TlvWriter, type: MessageType, id: number, maxMessage: number): Buffer {
  if (w.length > maxMessage) {
    throw new ProtocolError(`message of ${w.length} bytes exceeds the ${maxMessage}-byte limit`);
  }
  const b = w.bytes;
  b.writeUInt16LE(type, 0);
  b.writeUInt16LE(0, 2);
  b.writeUInt32LE(id >>> 0, 4);
  b.writeUInt32LE(w.length - HEADER_SIZE, 8);
  return w.done();
}

/**
 * Encode a SPAWN. argv and env go inline when everything fits the zygote's
 * maxMessage, else into an args file (the caller sends it as a sealed memfd,
 * the 4th fd). Throws ProtocolError only for a plan no zygote may be sent:
 * a NUL byte, a bound of protocol.h exceeded, non-args records too large.
 */
export function encodeSpawn(id: number, plan: SpawnPlan, options: EncodeSpawnOptions = {}): EncodedSpawn {
  const maxMessage = options.maxMessage ?? MAX_MESSAGE;
  if (plan.argv.length === 0) throw new ProtocolError('argv is empty');
  if (plan.rlimits.length > MAX_RLIMITS) throw new ProtocolError(`more than ${MAX_RLIMITS} rlimits`);
  const strings = measureStringRecords(plan.argv, plan.env);
  const mode = options.args ?? 'auto';
  // In 'auto', argv and env that alone pass the limit go to the file without being written inline first.
  if (mode === 'inline' || (mode === 'auto' && HEADER_SIZE + strings.total <= maxMessage)) {
    // Room for the usual whole message; a larger one grows the buffer.
    const w = messageWriter(HEADER_SIZE + strings.total + 4096);
    w.string(Tag.File, plan.file, 'file');
    writeStringRecords(w, plan.argv, plan.env, strings.lengths);
    writeOtherRecords(w, plan);
    if (mode === 'inline' || w.length <= maxMessage) return { message: finishMessage(w, MessageType.Spawn, id, maxMessage), argsFile: null };
  }
  if (strings.total > MAX_ARGS_FILE) {
    throw new ProtocolError(`argv and env take ${strings.total} bytes of records, more than the ${MAX_ARGS_FILE}-byte args file limit`);
  }
  const file = new TlvWriter(strings.total);
  writeStringRecords(file, plan.argv, plan.env, strings.lengths);
  const w = messageWriter(4096);
  w.string(Tag.File, plan.file, 'file');
  const at = w.begin(Tag.ArgsFd, 8);
  w.bytes.writeBigUInt64LE(BigInt(strings.total), at);
  writeOtherRecords(w, plan);
  return { message: finishMessage(w, MessageType.Spawn, id, maxMessage), argsFile: file.done() };
}

/**
 * Plan fields that never change once made: compile.ts's memo hands the same
 * landlock, seccomp, initSeccomp and mounts objects to run after run (frozen
 * where JS can freeze them). Their records are encoded once, at the first
 * SPAWN that carries them, and the bytes reused. Unmarked fields are encoded
 * every time, as before.
 */
const constantFields = new WeakSet<object>();
const landlockRecords = new WeakMap<object, Buffer>();
const seccompRecords = new WeakMap<object, Buffer>();
const initSeccompRecords = new WeakMap<object, Buffer>();
const mountRecords = new WeakMap<object, Buffer>();

/** Promise that `field` (a SpawnPlan's landlock, seccomp, initSeccomp or mounts) is never changed again, so its records may be encoded once. */
export function markConstant(field: object): void {
  constantFields.add(field);
}

function records<T extends object>(cache: WeakMap<object, Buffer>, field: T, encode: (w: TlvWriter, field: T) => void): Buffer {
  let out = cache.get(field);
  if (out !== undefined) return out;
  const w = new TlvWriter();
  encode(w, field);
  out = w.done();
  if (constantFields.has(field)) cache.set(field, out);
  return out;
}

function landlockRecordsOf(w: TlvWriter, landlock: NonNullable<SpawnPlan['landlock']>): void {
  const { ruleset, paths, ports } = landlock;
  if (paths.length > MAX_LANDLOCK_PATHS) throw new ProtocolError(`more than ${MAX_LANDLOCK_PATHS} Landlock paths`);
  if (ports.length > MAX_LANDLOCK_PORTS) throw new ProtocolError(`more than ${MAX_LANDLOCK_PORTS} Landlock ports`);
  const rs = Buffer.alloc(LANDLOCK_RULESET_VALUE_SIZE);
  rs.writeUInt32LE(ruleset.abi, 0);
  rs.writeBigUInt64LE(ruleset.handledAccessFs, 8);
  rs.writeBigUInt64LE(ruleset.handledAccessNet, 16);
  rs.writeBigUInt64LE(ruleset.scoped, 24);
  w.record(Tag.LandlockRuleset, rs);
  for (const p of paths) {
    if (p.path.includes('\0')) throw new ProtocolError('a Landlock path contains a NUL byte');
    if (p.exact && !p.path.startsWith('/')) throw new ProtocolError('an exact Landlock path is not absolute');
    const s = Buffer.from(`${p.path}\0`, 'utf8');
    const b = Buffer.alloc(8 + s.length);
    b.writeBigUInt64LE(p.allowedAccess, 0);
    s.copy(b, 8);
    w.record(p.exact ? Tag.LandlockPathExact : Tag.LandlockPath, b);
  }
  for (const p of ports) {
    const b = Buffer.alloc(LANDLOCK_PORT_VALUE_SIZE);
    b.writeBigUInt64LE(p.allowedAccess, 0);
    b.writeBigUInt64LE(p.port, 8);
    w.record(Tag.LandlockPort, b);
  }
}

function seccompRecordOf(w: TlvWriter, program: Uint8Array): void {
  if (program.length % 8 !== 0 || program.length / 8 > MAX_SECCOMP_INSNS || program.length === 0) {
    throw new ProtocolError('seccomp program must be 1..4096 sock_filter instructions');
  }
  w.record(Tag.Seccomp, Buffer.from(program.buffer, program.byteOffset, program.byteLength));
}

function initSeccompRecordOf(w: TlvWriter, f: Uint8Array): void {
  if (f.length % 8 !== 0 || f.length / 8 > MAX_SECCOMP_INSNS || f.length === 0) {
    throw new ProtocolError('init seccomp program must be 1..4096 sock_filter instructions');
  }
  w.record(Tag.InitSeccomp, Buffer.from(f.buffer, f.byteOffset, f.byteLength));
}

function mountRecordsOf(w: TlvWriter, mounts: NonNullable<SpawnPlan['mounts']>): void {
  if (mounts.length > MAX_MOUNT_OPS) throw new ProtocolError(`more than ${MAX_MOUNT_OPS} mount operations`);
  for (const m of mounts) {
    if (!Number.isInteger(m.op) || m.op < MountOp.Preserve || m.op > MountOp.BindRw) {
      throw new ProtocolError(`unknown mount operation ${String(m.op)}`);
    }
    if (!m.path.startsWith('/')) throw new ProtocolError('a mount path is not absolute');
    if (m.path.includes('\0')) throw new ProtocolError('a mount path contains a NUL byte');
    if (m.exact && m.op !== MountOp.Preserve && m.op !== MountOp.BindRw) {
      throw new ProtocolError(`mount operation ${m.op} cannot be exact (only PRESERVE and BIND_RW open their path)`);
    }
    const s = Buffer.from(`${m.path}\0`, 'utf8');
    const b = Buffer.alloc(8 + s.length);
    b.writeUInt32LE(m.op, 0);
    b.writeUInt32LE(m.exact ? MOUNT_OP_EXACT : 0, 4);
    s.copy(b, 8);
    w.record(Tag.MountOp, b);
  }
}

/** Every record but FILE, ARG and ENV, in wire order. */
function writeOtherRecords(w: TlvWriter, plan: SpawnPlan): void {
  if (plan.cwd !== undefined) w.string(Tag.Cwd, plan.cwd, 'cwd');
  for (const r of plan.rlimits) {
    const at = w.begin(Tag.Rlimit, RLIMIT_VALUE_SIZE);
    w.bytes.writeUInt32LE(r.resource, at);
    w.bytes.writeBigUInt64LE(r.soft, at + 8);
    w.bytes.writeBigUInt64LE(r.hard, at + 16);
  }
  if (plan.timeout) {
    w.u32s(Tag.Timeout, [plan.timeout.timeoutMs, plan.timeout.graceMs, plan.timeout.termSignal, 0]);
  }
  w.u32s(Tag.Flags, [plan.flags]);
  if (plan.credentials) w.u32s(Tag.Credentials, [plan.credentials.uid, plan.credentials.gid]);
  if (plan.namespaces) {
    const n = plan.namespaces;
    w.u32s(Tag.Namespaces, [n.cloneFlags, n.insideUid, n.insideGid, n.options]);
  }
  if (plan.landlock) w.raw(records(landlockRecords, plan.landlock, landlockRecordsOf));
  if (plan.seccomp) w.raw(records(seccompRecords, plan.seccomp, seccompRecordOf));
  if (plan.initSeccomp) w.raw(records(initSeccompRecords, plan.initSeccomp, initSeccompRecordOf));
  if (plan.privateTmp) {
    const { sizeBytes, inodes, path, shm } = plan.privateTmp;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || !Number.isSafeInteger(inodes) || inodes <= 0) {
      throw new ProtocolError('private tmp needs a positive size and inode count');
    }
    if (!path.startsWith('/') || path.includes('\0')) throw new ProtocolError('private tmp path must be absolute, without NUL');
    const at = w.begin(Tag.PrivateTmp, PRIVATE_TMP_VALUE_SIZE + Buffer.byteLength(path, 'utf8') + 1);
    w.bytes.writeBigUInt64LE(BigInt(sizeBytes), at);
    w.bytes.writeBigUInt64LE(BigInt(inodes), at + 8);
    w.bytes.writeUInt32LE(shm ? PRIVATE_TMP_SHM : 0, at + 16);
    w.bytes.write(path, at + PRIVATE_TMP_VALUE_SIZE, 'utf8');
  }
  if (plan.mounts) w.raw(records(mountRecords, plan.mounts, mountRecordsOf));
}

export interface ExitInfo {
  exitCode: number | null;
  signal: number | null;
  reasons: number;
  userCpuUs: bigint;
  sysCpuUs: bigint;
  maxRssBytes: bigint;
  wallUs: bigint;
}

export type IncomingMessage =
  | { type: typeof MessageType.HelloOk; id: number; version: number; zygotePid: number; maxMessage: number; maxChildren: number }
  | { type: typeof MessageType.Spawned; id: number; pid: number }
  | { type: typeof MessageType.SpawnFailed; id: number; stage: number; errno: number }
  | { type: typeof MessageType.Exit; id: number; exit: ExitInfo }
  | { type: typeof MessageType.Pong; id: number; token: bigint }
  | { type: typeof MessageType.Error; id: number; code: number; message: string }
  | { type: typeof MessageType.Trace; id: number; events: ReadonlyMap<number, bigint> }
  | { type: typeof MessageType.Twin; id: number; pid: number };

const expectedFds: Partial<Record<number, number>> = { [MessageType.Spawned]: 1, [MessageType.Twin]: 1 };

/**
 * Decode one datagram from the zygote. Refuses anything that does not match
 * the schema exactly: wrong sizes, nonzero flags, unknown types, wrong fd count.
 */
export function decodeMessage(data: Buffer, fdCount: number): IncomingMessage {
  if (data.length < HEADER_SIZE) throw new ProtocolError(`datagram of ${data.length} bytes is shorter than a header`);
  if (data.length > MAX_MESSAGE) throw new ProtocolError(`datagram of ${data.length} bytes exceeds ${MAX_MESSAGE}`);
  const type = data.readUInt16LE(0);
  const flags = data.readUInt16LE(2);
  const id = data.readUInt32LE(4);
  const bodyLength = data.readUInt32LE(8);
  if (flags !== 0) throw new ProtocolError(`nonzero header flags ${flags}`);
  if (bodyLength !== data.length - HEADER_SIZE) {
    throw new ProtocolError(`header says ${bodyLength} body bytes, datagram has ${data.length - HEADER_SIZE}`);
  }
  if ((expectedFds[type] ?? 0) !== fdCount) {
    throw new ProtocolError(`message type ${type} carried ${fdCount} fds`);
  }
  const body = data.subarray(HEADER_SIZE);
  const need = (n: number): void => {
    if (body.length !== n) throw new ProtocolError(`message type ${type} body is ${body.length} bytes, expected ${n}`);
  };
  switch (type) {
    case MessageType.HelloOk:
      need(HELLO_OK_BODY_SIZE);
      return {
        type,
        id,
        version: body.readUInt32LE(0),
        zygotePid: body.readUInt32LE(4),
        maxMessage: body.readUInt32LE(8),
        maxChildren: body.readUInt32LE(12),
      };
    case MessageType.Spawned:
      need(SPAWNED_BODY_SIZE);
      return { type, id, pid: body.readUInt32LE(0) };
    case MessageType.Twin:
      need(TWIN_BODY_SIZE);
      if (id !== 0) throw new ProtocolError(`twin message with request id ${id}`);
      return { type, id, pid: body.readUInt32LE(0) };
    case MessageType.SpawnFailed:
      need(SPAWN_FAILED_BODY_SIZE);
      return { type, id, stage: body.readUInt32LE(0), errno: body.readInt32LE(4) };
    case MessageType.Exit: {
      need(EXIT_BODY_SIZE);
      const exitCode = body.readInt32LE(0);
      const signal = body.readInt32LE(4);
      return {
        type,
        id,
        exit: {
          exitCode: signal === 0 ? exitCode : null,
          signal: signal === 0 ? null : signal,
          reasons: body.readUInt32LE(8),
          userCpuUs: body.readBigUInt64LE(16),
          sysCpuUs: body.readBigUInt64LE(24),
          maxRssBytes: body.readBigUInt64LE(32),
          wallUs: body.readBigUInt64LE(40),
        },
      };
    }
    case MessageType.Pong:
      need(PING_BODY_SIZE);
      return { type, id, token: body.readBigUInt64LE(0) };
    case MessageType.Error:
      if (body.length < 4) throw new ProtocolError('error message body shorter than 4 bytes');
      return { type, id, code: body.readUInt32LE(0), message: body.subarray(4).toString('utf8') };
    case MessageType.Trace: {
      if (body.length < 8) throw new ProtocolError('trace message body shorter than 8 bytes');
      const count = body.readUInt32LE(0);
      if (count > TRACE_EVENTS) throw new ProtocolError(`trace of ${count} events`);
      need(8 + TRACE_ENTRY_SIZE * count);
      const events = new Map<number, bigint>();
      let previous = -1;
      for (let i = 0; i < count; i++) {
        const at = 8 + TRACE_ENTRY_SIZE * i;
        const event = body.readUInt32LE(at);
        if (event <= previous || event >= TRACE_EVENTS) throw new ProtocolError(`trace event ${event} out of order or range`);
        previous = event;
        events.set(event, body.readBigUInt64LE(at + 8));
      }
      return { type, id, events };
    }
    default:
      throw new ProtocolError(`unknown message type ${type}`);
  }
}
