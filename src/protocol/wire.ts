/**
 * hatchery wire protocol, Node side. Mirror of native/protocol.h: every
 * constant here has the same name and value there (HATCH_MSG_SPAWN <->
 * MessageType.Spawn). Change both or neither; test/protocol.test.ts and
 * native/test/protocol_golden.c pin the bytes.
 *
 * argv and env are limited by the kernel, not by the datagram: when a
 * SPAWN's ARG/ENV records would not fit in the zygote's maxMessage, they go
 * to an args file (a sealed memfd passed as a 4th fd, Tag.ArgsFd) instead.
 */

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 12;
export const MAX_MESSAGE = 128 * 1024;
/** SPAWN: stdin, stdout, stderr, and the args file when the body has an ArgsFd record. */
export const MAX_FDS_PER_MESSAGE = 4;

/** The zygote's inline argv/envp arrays: more than any SPAWN that fits MAX_MESSAGE can hold (16 bytes a record at least). */
export const MAX_INLINE_ARGS = MAX_MESSAGE / 16;
export const MAX_INLINE_ENV = MAX_MESSAGE / 16;
/** Largest args file: 16/9 of execve's 6 MiB ceiling, so it refuses nothing the kernel could take (see protocol.h). */
export const MAX_ARGS_FILE = 16 * 1024 * 1024;
/** F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE: the seals the zygote requires on an args file. */
export const ARGS_FILE_SEALS_REQUIRED = 0x000e;
export const MAX_RLIMITS = 16;
export const MAX_LANDLOCK_PATHS = 256;
export const MAX_LANDLOCK_PORTS = 64;
export const MAX_SECCOMP_INSNS = 4096;
export const MAX_CHILDREN = 256;
export const MAX_MOUNT_OPS = 512;

export const MessageType = {
  Hello: 1,
  HelloOk: 2,
  Spawn: 3,
  Spawned: 4,
  SpawnFailed: 5,
  Exit: 6,
  Signal: 7,
  Ping: 8,
  Pong: 9,
  Error: 10,
  /** For a SPAWN with SpawnFlag.Trace, right before its SpawnFailed or Exit: when each step happened. */
  Trace: 11,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const ErrorCode = {
  Malformed: 1,
  Oversized: 2,
  Version: 3,
  UnknownType: 4,
  NoSuchChild: 5,
  TooManyChildren: 6,
  BadFds: 7,
  NotReady: 8,
} as const;

export const Stage = {
  Clone: 1,
  Signals: 2,
  Setsid: 3,
  Pdeathsig: 4,
  Stdio: 5,
  CloseFds: 6,
  Userns: 7,
  Mount: 8,
  Cwd: 9,
  Rlimits: 10,
  Credentials: 11,
  NoNewPrivs: 12,
  Landlock: 13,
  Seccomp: 14,
  Exec: 15,
  Init: 16,
} as const;
export type StageName = Lowercase<keyof typeof Stage> | 'unknown';

const stageNames = new Map<number, StageName>(
  Object.entries(Stage).map(([name, value]) => [value, name.toLowerCase() as StageName]),
);
export function stageName(stage: number): StageName {
  return stageNames.get(stage) ?? 'unknown';
}

export const SignalScope = { Process: 0, Tree: 1, TreeEscalate: 2 } as const;
export type SignalScope = (typeof SignalScope)[keyof typeof SignalScope];

export const ExitReason = { TimedOut: 1, KillRequested: 2, Escalated: 4, TmpFull: 8 } as const;

export const Tag = {
  File: 1,
  Arg: 2,
  Env: 3,
  Cwd: 4,
  Rlimit: 5,
  Timeout: 6,
  Flags: 7,
  Credentials: 8,
  Namespaces: 9,
  LandlockRuleset: 10,
  LandlockPath: 11,
  LandlockPort: 12,
  Seccomp: 13,
  MountOp: 14,
  PrivateTmp: 15,
  InitSeccomp: 16,
  /** u64 length of the args file, the SPAWN's 4th fd; the body then has no Arg or Env records. */
  ArgsFd: 17,
} as const;

/** HATCH_MOUNT_*: applied in order by the child after /proc is remounted (needs a mount namespace). */
export const MountOp = {
  /** Clone the tree at path before something hides it. */
  Preserve: 1,
  /** An empty read-only tmpfs over path. */
  Hide: 2,
  /** The n-th preserved tree back at its path, inside what hides it. */
  Restore: 3,
  /** Every mount at and below path read-only. */
  ReadonlyAll: 4,
  /** path (bound onto itself) writable again. */
  BindRw: 5,
} as const;
export type MountOp = (typeof MountOp)[keyof typeof MountOp];

/** si_value of a signal the zygote sends to a pid-namespace init meaning "the whole namespace". */
export const TREE_SIGNAL_COOKIE = 0x68746368;

export const TLV_HEADER_SIZE = 8;
export const TLV_ALIGN = 8;
export const SpawnFlag = {
  NoNewPrivs: 1,
  SearchPath: 2,
  /** umask 077 before exec. */
  PrivateUmask: 4,
  /** Empty the directory at `file` instead of exec (temp dir cleanup, see native/remove.c). */
  RemoveTree: 8,
  /** When the child is gone, kill every process of the credentials uid. */
  KillUid: 16,
  /** Record when each step happened and send a Trace message (npm run bench -- --stages). */
  Trace: 32,
} as const;

/**
 * HATCH_TRACE_*: a Trace message's events, each the CLOCK_MONOTONIC time
 * (process.hrtime.bigint()'s clock) at which a step ended. The child's setup
 * stages are TRACE_STAGE_BASE + a Stage value.
 */
export const TraceEvent = {
  Received: 1,
  Parsed: 2,
  Cloned: 3,
  IdMaps: 4,
  ExecSeen: 5,
  SpawnedSent: 6,
  ExitSeen: 7,
  Reaped: 8,
  Rearmed: 9,
  InitReady: 10,
  ProgramReaped: 11,
} as const;
export const TRACE_STAGE_BASE = 32;
export const TRACE_EVENTS = 64;
export const TRACE_ENTRY_SIZE = 16;
export const NamespaceOption = { MountProc: 1 } as const;
/** HATCH_PRIVATE_TMP_SHM: the private tmpfs is bound over /dev/shm too. */
export const PRIVATE_TMP_SHM = 1;
export const EXIT_BODY_SIZE = 48;
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
    paths: readonly { allowedAccess: bigint; path: string }[];
    ports: readonly { allowedAccess: bigint; port: bigint }[];
  };
  seccomp?: Uint8Array;
  /** Mount operations, in order (needs namespaces with CLONE_NEWNS). */
  mounts?: readonly { op: number; path: string }[];
  /** A private, capped tmpfs at `path` (/tmp or /var/tmp), and over /dev/shm when `shm` (needs CLONE_NEWNS). */
  privateTmp?: { sizeBytes: number; inodes: number; path: string; shm: boolean };
  /** The pid-namespace init's own seccomp program. */
  initSeccomp?: Uint8Array;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

function header(type: MessageType, id: number, bodyLength: number): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.writeUInt16LE(type, 0);
  b.writeUInt16LE(0, 2);
  b.writeUInt32LE(id >>> 0, 4);
  b.writeUInt32LE(bodyLength, 8);
  return b;
}

function frame(type: MessageType, id: number, body: Buffer, maxMessage = MAX_MESSAGE): Buffer {
  if (HEADER_SIZE + body.length > maxMessage) {
    throw new ProtocolError(`message of ${HEADER_SIZE + body.length} bytes exceeds the ${maxMessage}-byte limit`);
  }
  return Buffer.concat([header(type, id, body.length), body]);
}

export function encodeHello(idleTimeoutMs: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32LE(PROTOCOL_VERSION, 0);
  body.writeUInt32LE(idleTimeoutMs >>> 0, 4);
  return frame(MessageType.Hello, 0, body);
}

export function encodeSignal(id: number, signo: number, scope: SignalScope): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32LE(signo, 0);
  body.writeUInt32LE(scope, 4);
  return frame(MessageType.Signal, id, body);
}

export function encodePing(token: bigint): Buffer {
  const body = Buffer.alloc(8);
  body.writeBigUInt64LE(token, 0);
  return frame(MessageType.Ping, 0, body);
}

class TlvWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  record(tag: number, value: Buffer): void {
    const padded = Math.ceil(value.length / TLV_ALIGN) * TLV_ALIGN;
    const rec = Buffer.alloc(TLV_HEADER_SIZE + padded);
    rec.writeUInt16LE(tag, 0);
    rec.writeUInt16LE(0, 2);
    rec.writeUInt32LE(value.length, 4);
    value.copy(rec, TLV_HEADER_SIZE);
    this.parts.push(rec);
    this.size += rec.length;
  }

  string(tag: number, s: string, what: string): void {
    if (s.includes('\0')) throw new ProtocolError(`${what} contains a NUL byte`);
    this.record(tag, Buffer.from(`${s}\0`, 'utf8'));
  }

  u32s(tag: number, values: readonly number[]): void {
    const b = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
    this.record(tag, b);
  }

  done(): Buffer {
    return Buffer.concat(this.parts, this.size);
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

/**
 * ARG then ENV string records in one allocation: argv and env may be
 * hundreds of thousands of strings.
 */
function encodeStringRecords(argv: readonly string[], env: readonly string[]): Buffer {
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
  const out = Buffer.alloc(total); // zeroed: NULs and padding
  let off = 0;
  i = 0;
  for (const [tag, list] of [[Tag.Arg, argv], [Tag.Env, env]] as const) {
    for (const s of list) {
      const n = lengths[i++]!;
      out.writeUInt16LE(tag, off);
      out.writeUInt32LE(n, off + 4);
      out.write(s, off + TLV_HEADER_SIZE, 'utf8');
      off += TLV_HEADER_SIZE + Math.ceil(n / TLV_ALIGN) * TLV_ALIGN;
    }
  }
  return out;
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
  const strings = encodeStringRecords(plan.argv, plan.env);
  const w = new TlvWriter();
  w.string(Tag.File, plan.file, 'file');
  const head = w.done();
  const rest = encodeOtherRecords(plan);
  const inlineSize = HEADER_SIZE + head.length + strings.length + rest.length;
  const mode = options.args ?? 'auto';
  if (mode === 'inline' || (mode === 'auto' && inlineSize <= maxMessage)) {
    return { message: frame(MessageType.Spawn, id, Buffer.concat([head, strings, rest]), maxMessage), argsFile: null };
  }
  if (strings.length > MAX_ARGS_FILE) {
    throw new ProtocolError(`argv and env take ${strings.length} bytes of records, more than the ${MAX_ARGS_FILE}-byte args file limit`);
  }
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(strings.length), 0);
  const argsFd = new TlvWriter();
  argsFd.record(Tag.ArgsFd, length);
  return { message: frame(MessageType.Spawn, id, Buffer.concat([head, argsFd.done(), rest]), maxMessage), argsFile: strings };
}

/** Every record but FILE, ARG and ENV, in wire order. */
function encodeOtherRecords(plan: SpawnPlan): Buffer {
  const w = new TlvWriter();
  if (plan.cwd !== undefined) w.string(Tag.Cwd, plan.cwd, 'cwd');
  for (const r of plan.rlimits) {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(r.resource, 0);
    b.writeBigUInt64LE(r.soft, 8);
    b.writeBigUInt64LE(r.hard, 16);
    w.record(Tag.Rlimit, b);
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
  if (plan.landlock) {
    const { ruleset, paths, ports } = plan.landlock;
    if (paths.length > MAX_LANDLOCK_PATHS) throw new ProtocolError(`more than ${MAX_LANDLOCK_PATHS} Landlock paths`);
    if (ports.length > MAX_LANDLOCK_PORTS) throw new ProtocolError(`more than ${MAX_LANDLOCK_PORTS} Landlock ports`);
    const rs = Buffer.alloc(32);
    rs.writeUInt32LE(ruleset.abi, 0);
    rs.writeBigUInt64LE(ruleset.handledAccessFs, 8);
    rs.writeBigUInt64LE(ruleset.handledAccessNet, 16);
    rs.writeBigUInt64LE(ruleset.scoped, 24);
    w.record(Tag.LandlockRuleset, rs);
    for (const p of paths) {
      if (p.path.includes('\0')) throw new ProtocolError('a Landlock path contains a NUL byte');
      const s = Buffer.from(`${p.path}\0`, 'utf8');
      const b = Buffer.alloc(8 + s.length);
      b.writeBigUInt64LE(p.allowedAccess, 0);
      s.copy(b, 8);
      w.record(Tag.LandlockPath, b);
    }
    for (const p of ports) {
      const b = Buffer.alloc(16);
      b.writeBigUInt64LE(p.allowedAccess, 0);
      b.writeBigUInt64LE(p.port, 8);
      w.record(Tag.LandlockPort, b);
    }
  }
  if (plan.seccomp) {
    if (plan.seccomp.length % 8 !== 0 || plan.seccomp.length / 8 > MAX_SECCOMP_INSNS || plan.seccomp.length === 0) {
      throw new ProtocolError('seccomp program must be 1..4096 sock_filter instructions');
    }
    w.record(Tag.Seccomp, Buffer.from(plan.seccomp.buffer, plan.seccomp.byteOffset, plan.seccomp.byteLength));
  }
  if (plan.initSeccomp) {
    const f = plan.initSeccomp;
    if (f.length % 8 !== 0 || f.length / 8 > MAX_SECCOMP_INSNS || f.length === 0) {
      throw new ProtocolError('init seccomp program must be 1..4096 sock_filter instructions');
    }
    w.record(Tag.InitSeccomp, Buffer.from(f.buffer, f.byteOffset, f.byteLength));
  }
  if (plan.privateTmp) {
    const { sizeBytes, inodes, path, shm } = plan.privateTmp;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || !Number.isSafeInteger(inodes) || inodes <= 0) {
      throw new ProtocolError('private tmp needs a positive size and inode count');
    }
    if (!path.startsWith('/') || path.includes('\0')) throw new ProtocolError('private tmp path must be absolute, without NUL');
    const p = Buffer.from(`${path}\0`, 'utf8');
    const b = Buffer.alloc(24 + p.length);
    b.writeBigUInt64LE(BigInt(sizeBytes), 0);
    b.writeBigUInt64LE(BigInt(inodes), 8);
    b.writeUInt32LE(shm ? PRIVATE_TMP_SHM : 0, 16);
    p.copy(b, 24);
    w.record(Tag.PrivateTmp, b);
  }
  if (plan.mounts) {
    if (plan.mounts.length > MAX_MOUNT_OPS) throw new ProtocolError(`more than ${MAX_MOUNT_OPS} mount operations`);
    for (const m of plan.mounts) {
      if (!Number.isInteger(m.op) || m.op < MountOp.Preserve || m.op > MountOp.BindRw) {
        throw new ProtocolError(`unknown mount operation ${String(m.op)}`);
      }
      if (!m.path.startsWith('/')) throw new ProtocolError('a mount path is not absolute');
      if (m.path.includes('\0')) throw new ProtocolError('a mount path contains a NUL byte');
      const s = Buffer.from(`${m.path}\0`, 'utf8');
      const b = Buffer.alloc(8 + s.length);
      b.writeUInt32LE(m.op, 0);
      s.copy(b, 8);
      w.record(Tag.MountOp, b);
    }
  }
  return w.done();
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
  | { type: typeof MessageType.Trace; id: number; events: ReadonlyMap<number, bigint> };

const expectedFds: Partial<Record<number, number>> = { [MessageType.Spawned]: 1 };

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
      need(16);
      return {
        type,
        id,
        version: body.readUInt32LE(0),
        zygotePid: body.readUInt32LE(4),
        maxMessage: body.readUInt32LE(8),
        maxChildren: body.readUInt32LE(12),
      };
    case MessageType.Spawned:
      need(4);
      return { type, id, pid: body.readUInt32LE(0) };
    case MessageType.SpawnFailed:
      need(8);
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
      need(8);
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
