/**
 * seccomp policy compiler: syscall names and a few argument filters become a
 * classic BPF program (struct sock_filter[]) the child installs last, right
 * before execve. No libseccomp: the program shape is simple enough to emit
 * directly, and tests run it through the interpreter in bpf.ts.
 *
 * Program shape:
 *   1. arch != native audit arch            -> KILL_PROCESS (no i386 int 0x80 bypass)
 *   2. x86_64 only: nr has __X32_SYSCALL_BIT -> KILL_PROCESS (no x32 bypass)
 *   3. blocks of "JEQ nr" sharing one RET per action, then small per-syscall
 *      blocks for argument filters; every jump is forward and short (< 256)
 *   4. RET default action
 *
 * Only the low 32 bits of arguments are compared: every filtered argument is a
 * C int / unsigned int in the kernel (socket domain/type/protocol, ioctl cmd,
 * personality, and clone flags which the kernel truncates with
 * lower_32_bits()), so the high word cannot change what the kernel does.
 */
import {
  BPF_JEQ,
  BPF_JGE,
  BPF_JSET,
  BpfAssembler,
  type BpfInsn,
  type Label,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  argLowOffset,
  encodeProgram,
  validateProgram,
} from './bpf.js';
import { AARCH64_SYSCALLS } from './syscalls/aarch64.js';
import { X86_64_SYSCALLS } from './syscalls/x86_64.js';

export type SeccompArch = 'x86_64' | 'aarch64';
export type SeccompNet = 'none' | 'host' | 'tcp';
export type SeccompPolicy = 'default' | 'strict' | 'off' | { deny?: string[]; allow?: string[] };

export interface SeccompCompileOptions {
  /** Defaults to the running Node's architecture (x64 -> x86_64, arm64 -> aarch64). */
  arch?: SeccompArch;
  /**
   * 'none': only AF_UNIX sockets. 'tcp': AF_UNIX, plus AF_INET/AF_INET6 stream
   * sockets with protocol 0 or TCP (no UDP, raw or packet sockets). 'host': no
   * socket filtering.
   */
  net: SeccompNet;
}

export const ERRNO = {
  EPERM: 1,
  EACCES: 13,
  ENOSYS: 38,
  EAFNOSUPPORT: 97,
} as const;
export type ErrnoName = keyof typeof ERRNO;

export type SeccompAction =
  | { readonly type: 'allow' }
  | { readonly type: 'kill' }
  | { readonly type: 'errno'; readonly errno: ErrnoName };

/** A test on the low 32 bits of one syscall argument. */
export interface SeccompArgCondition {
  /** Argument index, 0..5. */
  readonly arg: number;
  /** Name used in explain output, e.g. "domain". */
  readonly argName: string;
  /** Applied (bitwise AND) before comparing, e.g. 0xf for the socket type. */
  readonly mask?: number;
  /** in / notIn: the value is (not) one of `values`; anyBits: value & OR(values) != 0. */
  readonly op: 'in' | 'notIn' | 'anyBits';
  readonly values: readonly number[];
  /** Names parallel to `values`, for explain output. */
  readonly valueNames: readonly string[];
}

/**
 * One readable rule. For a given syscall, rules are tried in order; the first
 * whose conditions all hold decides. A syscall whose rules are all conditional
 * falls back to the policy's default action.
 */
export interface SeccompRule {
  readonly syscall: string;
  readonly nr: number;
  readonly when?: readonly SeccompArgCondition[];
  readonly action: SeccompAction;
}

export interface CompiledSeccomp {
  /** struct sock_filter[], little endian, 8 bytes per instruction. */
  program: Uint8Array;
  instructionCount: number;
  mode: 'default' | 'strict' | 'custom';
  ruleCount: number;
  rules: SeccompRule[];
  arch: SeccompArch;
  net: SeccompNet;
  defaultAction: SeccompAction;
}

export const AUDIT_ARCH: Readonly<Record<SeccompArch, number>> = Object.freeze({
  x86_64: 0xc000003e,
  aarch64: 0xc00000b7,
});

/** __X32_SYSCALL_BIT: x86_64 syscall numbers with this bit use the x32 ABI table. */
export const X32_SYSCALL_BIT = 0x40000000;

const TABLES: Readonly<Record<SeccompArch, Readonly<Record<string, number>>>> = {
  x86_64: X86_64_SYSCALLS,
  aarch64: AARCH64_SYSCALLS,
};

const sortedNames = new Map<SeccompArch, readonly string[]>();

export function syscallNumber(name: string, arch: SeccompArch): number | undefined {
  const table = TABLES[arch];
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

export function knownSyscalls(arch: SeccompArch): readonly string[] {
  let names = sortedNames.get(arch);
  if (!names) {
    names = Object.freeze(Object.keys(TABLES[arch]).sort());
    sortedNames.set(arch, names);
  }
  return names;
}

export function hostSeccompArch(): SeccompArch {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  throw new RangeError(`sandbox.seccomp: unsupported architecture "${process.arch}" (x64 and arm64 are supported)`);
}

// ---------------------------------------------------------------------------
// Profiles. Names missing on an architecture are skipped (arm64 has no open,
// iopl, ...); names in a user's deny/allow list must exist.

const ALLOW: SeccompAction = Object.freeze({ type: 'allow' });
const errno = (name: ErrnoName): SeccompAction => Object.freeze({ type: 'errno', errno: name });
const EPERM = errno('EPERM');

/** Denied with EPERM by every profile: kernel-wide state, other processes, new privileges or namespaces. */
const DENY_EPERM: readonly string[] = [
  // other processes' memory
  'ptrace', 'process_vm_readv', 'process_vm_writev',
  // kernel attack surface / global state
  'bpf', 'perf_event_open', 'userfaultfd', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module',
  'delete_module', 'create_module', 'get_kernel_syms', 'query_module', 'keyctl', 'add_key', 'request_key',
  // filesystem namespace changes
  'mount', 'umount', 'umount2', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'open_tree', 'open_tree_attr',
  'move_mount', 'mount_setattr', 'pivot_root', 'chroot',
  // namespaces (clone's namespace flags are filtered separately)
  'unshare', 'setns',
  // file handles bypass path-based checks (Landlock)
  'open_by_handle_at', 'name_to_handle_at',
  // host administration
  'acct', 'swapon', 'swapoff', 'reboot', 'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex', 'stime',
  'iopl', 'ioperm', 'lookup_dcookie', 'quotactl', 'quotactl_fd', 'nfsservctl', 'syslog', 'vhangup', 'uselib',
];

/**
 * ENOSYS rather than EPERM: libc and runtimes treat ENOSYS as "not on this
 * kernel" and fall back (glibc clone3 -> clone, libuv io_uring -> epoll +
 * thread pool), while EPERM would be reported as a hard failure.
 * clone3's flags live in user memory that BPF cannot read, so it cannot be
 * filtered like clone.
 */
const DENY_ENOSYS: readonly string[] = ['clone3', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'];

/**
 * The strict allowlist: enough for coreutils, sh/bash, python3 and node to run
 * ordinary programs. Hot syscalls first: the filter is a linear scan.
 */
const STRICT_ALLOW: readonly string[] = [
  // hottest
  'read', 'write', 'futex', 'mmap', 'munmap', 'mprotect', 'madvise', 'brk', 'close', 'openat', 'newfstatat',
  'fstat', 'statx', 'lseek', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'epoll_wait', 'epoll_pwait',
  'epoll_pwait2', 'epoll_ctl', 'poll', 'ppoll', 'select', 'pselect6', 'getpid', 'gettid', 'clock_gettime',
  'gettimeofday', 'time', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2', 'pwritev2',
  'fcntl', 'getdents64', 'getdents', 'sched_yield', 'nanosleep', 'clock_nanosleep',
  // files
  'open', 'creat', 'openat2', 'stat', 'lstat', 'access', 'faccessat', 'faccessat2', 'readlink', 'readlinkat',
  'statfs', 'fstatfs', 'getcwd', 'chdir', 'fchdir', 'mkdir', 'mkdirat', 'rmdir', 'unlink', 'unlinkat', 'rename',
  'renameat', 'renameat2', 'link', 'linkat', 'symlink', 'symlinkat', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2',
  'chown', 'fchown', 'lchown', 'fchownat', 'truncate', 'ftruncate', 'fallocate', 'fsync', 'fdatasync', 'sync',
  'syncfs', 'sync_file_range', 'fadvise64', 'readahead', 'flock', 'dup', 'dup2', 'dup3', 'pipe', 'pipe2', 'umask',
  'utime', 'utimes', 'utimensat', 'futimesat', 'mknod', 'mknodat', 'sendfile', 'copy_file_range', 'splice', 'tee',
  'vmsplice', 'close_range', 'memfd_create', 'getxattr', 'lgetxattr', 'fgetxattr', 'getxattrat', 'listxattr',
  'llistxattr', 'flistxattr', 'listxattrat', 'setxattr', 'lsetxattr', 'fsetxattr', 'setxattrat', 'removexattr',
  'lremovexattr', 'fremovexattr', 'removexattrat', 'inotify_init', 'inotify_init1', 'inotify_add_watch',
  'inotify_rm_watch',
  // memory
  'mremap', 'msync', 'mincore', 'mlock', 'mlock2', 'munlock', 'mlockall', 'munlockall', 'membarrier',
  'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'map_shadow_stack', 'mseal', 'get_mempolicy',
  // processes and threads (clone is argument-filtered)
  'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'set_tid_address',
  'set_robust_list', 'get_robust_list', 'rseq', 'futex_waitv', 'futex_wake', 'futex_wait', 'futex_requeue',
  'arch_prctl', 'prctl', 'getppid', 'getpgrp', 'getpgid', 'setpgid', 'getsid', 'setsid', 'getuid', 'geteuid',
  'getgid', 'getegid', 'getresuid', 'getresgid', 'getgroups', 'capget', 'pidfd_open', 'pidfd_send_signal',
  'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_getscheduler', 'sched_getattr',
  'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'getpriority', 'setpriority',
  'prlimit64', 'getrlimit', 'setrlimit', 'getrusage', 'times', 'uname', 'sysinfo', 'getcpu', 'getrandom',
  'restart_syscall', 'uretprobe', 'uprobe',
  // only ever narrow what the process may do
  'seccomp', 'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self',
  // signals and time
  'kill', 'tkill', 'tgkill', 'rt_sigsuspend', 'rt_sigpending', 'rt_sigtimedwait', 'rt_sigqueueinfo',
  'rt_tgsigqueueinfo', 'sigaltstack', 'signalfd', 'signalfd4', 'pause', 'alarm', 'getitimer', 'setitimer',
  'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun', 'timer_delete', 'timerfd_create',
  'timerfd_settime', 'timerfd_gettime', 'clock_getres',
  // event fds
  'epoll_create', 'epoll_create1', 'eventfd', 'eventfd2',
  // sockets (socket and socketpair are argument-filtered)
  'bind', 'listen', 'accept', 'accept4', 'connect', 'getsockname', 'getpeername', 'sendto', 'recvfrom',
  'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg', 'shutdown', 'setsockopt', 'getsockopt',
];

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_TYPE_MASK = 0xf; // strips SOCK_NONBLOCK / SOCK_CLOEXEC
const IPPROTO_TCP = 6;

const CLONE_NAMESPACE_FLAGS: ReadonlyArray<readonly [string, number]> = [
  ['CLONE_NEWTIME', 0x00000080],
  ['CLONE_NEWNS', 0x00020000],
  ['CLONE_NEWCGROUP', 0x02000000],
  ['CLONE_NEWUTS', 0x04000000],
  ['CLONE_NEWIPC', 0x08000000],
  ['CLONE_NEWUSER', 0x10000000],
  ['CLONE_NEWPID', 0x20000000],
  ['CLONE_NEWNET', 0x40000000],
];

const TIOCSTI = 0x5412; // pushes bytes into the terminal's input queue: typed commands escape the sandbox
const TIOCLINUX = 0x541c; // console selection paste, same effect on virtual consoles
const PERSONALITY_QUERY = 0xffffffff;
const PER_LINUX = 0;

type RuleBody = { readonly when?: readonly SeccompArgCondition[]; readonly action: SeccompAction };

function cond(arg: number, argName: string, op: SeccompArgCondition['op'], values: ReadonlyArray<readonly [string, number]>,
  mask?: number): SeccompArgCondition {
  const c: SeccompArgCondition = {
    arg,
    argName,
    op,
    values: values.map(([, v]) => v >>> 0),
    valueNames: values.map(([n]) => n),
    ...(mask === undefined ? {} : { mask }),
  };
  return Object.freeze(c);
}

function socketRules(net: SeccompNet): RuleBody[] | undefined {
  if (net === 'host') return undefined;
  if (net === 'none') {
    return [{ when: [cond(0, 'domain', 'notIn', [['AF_UNIX', AF_UNIX]])], action: errno('EAFNOSUPPORT') }];
  }
  const inet: ReadonlyArray<readonly [string, number]> = [['AF_INET', AF_INET], ['AF_INET6', AF_INET6]];
  return [
    {
      when: [cond(0, 'domain', 'notIn', [['AF_UNIX', AF_UNIX], ...inet])],
      action: errno('EAFNOSUPPORT'),
    },
    {
      when: [cond(0, 'domain', 'in', inet), cond(1, 'type', 'notIn', [['SOCK_STREAM', SOCK_STREAM]], SOCK_TYPE_MASK)],
      action: errno('EACCES'),
    },
    {
      when: [cond(0, 'domain', 'in', inet), cond(2, 'protocol', 'notIn', [['0', 0], ['IPPROTO_TCP', IPPROTO_TCP]])],
      action: errno('EACCES'),
    },
  ];
}

function socketpairRules(net: SeccompNet): RuleBody[] | undefined {
  if (net === 'host') return undefined;
  return [{ when: [cond(0, 'domain', 'notIn', [['AF_UNIX', AF_UNIX]])], action: errno('EAFNOSUPPORT') }];
}

// clone's flags are args[0] on both x86_64 (flags, newsp, parent_tid, child_tid, tls)
// and arm64 (CLONE_BACKWARDS: flags, newsp, parent_tid, tls, child_tid).
const CLONE_RULES: RuleBody[] = [{ when: [cond(0, 'flags', 'anyBits', CLONE_NAMESPACE_FLAGS)], action: EPERM }];
const IOCTL_RULES: RuleBody[] = [
  { when: [cond(1, 'request', 'in', [['TIOCSTI', TIOCSTI], ['TIOCLINUX', TIOCLINUX]])], action: EPERM },
];
// Only the query and plain PER_LINUX: other personas (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...) weaken the process.
const PERSONALITY_RULES: RuleBody[] = [
  { when: [cond(0, 'persona', 'in', [['PER_LINUX', PER_LINUX], ['0xffffffff', PERSONALITY_QUERY]])], action: ALLOW },
  { action: EPERM },
];

interface Profile {
  mode: CompiledSeccomp['mode'];
  defaultAction: SeccompAction;
  bodies: Map<string, RuleBody[]>;
}

function buildProfile(policy: Exclude<SeccompPolicy, 'off'>, arch: SeccompArch, net: SeccompNet): Profile {
  const strict = policy === 'strict';
  // Strict: unlisted syscalls fail with ENOSYS, not EPERM, so programs probing
  // for newer calls (statx, close_range, pidfd_open, ...) take their fallback
  // path instead of reporting a permission error. The explicit denies below
  // keep EPERM so a deliberate refusal still reads as one.
  const defaultAction = strict ? errno('ENOSYS') : ALLOW;
  const bodies = new Map<string, RuleBody[]>();
  const put = (name: string, body: RuleBody[] | undefined): void => {
    if (body && syscallNumber(name, arch) !== undefined) bodies.set(name, body);
  };
  // An argument-filtered syscall under a default-deny profile needs an explicit
  // final allow; under default-allow the fall-through already allows.
  const filtered = (body: RuleBody[] | undefined): RuleBody[] | undefined => {
    if (!body) return strict ? [{ action: ALLOW }] : undefined;
    const last = body[body.length - 1];
    return strict && last?.when !== undefined ? [...body, { action: ALLOW }] : body;
  };

  if (strict) for (const name of STRICT_ALLOW) put(name, [{ action: ALLOW }]);
  put('socket', filtered(socketRules(net)));
  put('socketpair', filtered(socketpairRules(net)));
  put('clone', filtered(CLONE_RULES));
  put('ioctl', filtered(IOCTL_RULES));
  put('personality', PERSONALITY_RULES);
  for (const name of DENY_EPERM) put(name, [{ action: EPERM }]);
  for (const name of DENY_ENOSYS) put(name, [{ action: errno('ENOSYS') }]);

  if (typeof policy === 'object') {
    const deny = checkNames(policy.deny, 'deny', arch);
    const allow = checkNames(policy.allow, 'allow', arch);
    const both = deny.find((name) => allow.includes(name));
    if (both !== undefined) {
      throw new RangeError(`sandbox.seccomp: syscall "${both}" is in both deny and allow`);
    }
    for (const name of deny) bodies.set(name, [{ action: EPERM }]);
    for (const name of allow) bodies.delete(name);
  }
  return { mode: strict ? 'strict' : typeof policy === 'object' ? 'custom' : 'default', defaultAction, bodies };
}

function checkNames(list: unknown, key: 'deny' | 'allow', arch: SeccompArch): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new TypeError(`sandbox.seccomp.${key} must be an array of syscall names`);
  return list.map((name: unknown, i) => {
    if (typeof name !== 'string') throw new TypeError(`sandbox.seccomp.${key}[${i}] must be a string`);
    if (syscallNumber(name, arch) === undefined) {
      throw new TypeError(`sandbox.seccomp.${key}: unknown syscall "${name}" on ${arch}`);
    }
    return name;
  });
}

function checkPolicy(policy: unknown): asserts policy is SeccompPolicy {
  if (policy === 'default' || policy === 'strict' || policy === 'off') return;
  if (typeof policy === 'object' && policy !== null && !Array.isArray(policy)) {
    for (const key of Object.keys(policy)) {
      if (key !== 'deny' && key !== 'allow') throw new TypeError(`sandbox.seccomp: unknown option "${key}"`);
    }
    return;
  }
  throw new TypeError(`sandbox.seccomp must be 'default', 'strict', 'off' or { deny, allow }`);
}

// ---------------------------------------------------------------------------
// Code generation.

export function actionValue(action: SeccompAction): number {
  switch (action.type) {
    case 'allow':
      return SECCOMP_RET_ALLOW;
    case 'kill':
      return SECCOMP_RET_KILL_PROCESS;
    case 'errno':
      return (SECCOMP_RET_ERRNO | ERRNO[action.errno]) >>> 0;
  }
}

const actionKey = (action: SeccompAction): string => (action.type === 'errno' ? action.errno : action.type);

/** At most this many JEQs share one RET, keeping every jt well under 255. */
const GROUP_LIMIT = 200;

/**
 * Assemble rules into a program. Exposed for tests (golden bytes); the rules
 * must hold at most one entry list per syscall, in emission order.
 */
export function assembleSeccomp(arch: SeccompArch, rules: readonly SeccompRule[], defaultAction: SeccompAction): BpfInsn[] {
  const asm = new BpfAssembler();

  // Each check jumps over its own RET: a shared RET at the end would be out of jump range.
  const archOk = asm.label();
  asm.loadWord(SECCOMP_DATA_ARCH);
  asm.jumpIf(BPF_JEQ, AUDIT_ARCH[arch], archOk, 'next');
  asm.ret(SECCOMP_RET_KILL_PROCESS);
  asm.bind(archOk);
  asm.loadWord(SECCOMP_DATA_NR);
  if (arch === 'x86_64') {
    const native = asm.label();
    asm.jumpIf(BPF_JGE, X32_SYSCALL_BIT, 'next', native);
    asm.ret(SECCOMP_RET_KILL_PROCESS);
    asm.bind(native);
  }

  // Group consecutive rules by syscall; a syscall with one unconditional rule
  // joins the current run of same-action syscalls.
  const bySyscall: SeccompRule[][] = [];
  for (const rule of rules) {
    const last = bySyscall[bySyscall.length - 1];
    if (last && last[0]!.nr === rule.nr) last.push(rule);
    else {
      if (bySyscall.some((g) => g[0]!.nr === rule.nr)) throw new Error(`seccomp: rules for ${rule.syscall} are split`);
      bySyscall.push([rule]);
    }
  }

  let run: number[] = [];
  let runAction: SeccompAction | undefined;
  const flushRun = (): void => {
    if (!runAction || run.length === 0) return;
    const ret = asm.label();
    const skip = asm.label();
    run.forEach((nr, i) => {
      if (i < run.length - 1) asm.jumpIf(BPF_JEQ, nr, ret, 'next');
      else asm.jumpIf(BPF_JEQ, nr, 'next', skip);
    });
    asm.bind(ret);
    asm.ret(actionValue(runAction));
    asm.bind(skip);
    run = [];
    runAction = undefined;
  };

  for (const group of bySyscall) {
    const first = group[0]!;
    if (group.length === 1 && first.when === undefined) {
      if (runAction && (actionKey(runAction) !== actionKey(first.action) || run.length >= GROUP_LIMIT)) flushRun();
      runAction = first.action;
      run.push(first.nr);
      continue;
    }
    flushRun();
    const skip = asm.label();
    asm.jumpIf(BPF_JEQ, first.nr, 'next', skip);
    let decided = false;
    for (const rule of group) {
      if (decided) throw new Error(`seccomp: unreachable rule after an unconditional one for ${rule.syscall}`);
      const fail = asm.label();
      for (const c of rule.when ?? []) emitCondition(asm, c, fail);
      asm.ret(actionValue(rule.action));
      asm.bind(fail);
      decided = rule.when === undefined;
    }
    if (!decided) asm.ret(actionValue(defaultAction));
    asm.bind(skip);
  }
  flushRun();
  asm.ret(actionValue(defaultAction));
  return asm.resolve();
}

function emitCondition(asm: BpfAssembler, c: SeccompArgCondition, fail: Label): void {
  asm.loadWord(argLowOffset(c.arg));
  if (c.mask !== undefined) asm.and(c.mask);
  switch (c.op) {
    case 'anyBits':
      asm.jumpIf(BPF_JSET, c.values.reduce((a, b) => (a | b) >>> 0, 0), 'next', fail);
      return;
    case 'notIn':
      for (const v of c.values) asm.jumpIf(BPF_JEQ, v, fail, 'next');
      return;
    case 'in': {
      const ok = asm.label();
      c.values.forEach((v, i) => {
        if (i < c.values.length - 1) asm.jumpIf(BPF_JEQ, v, ok, 'next');
        else asm.jumpIf(BPF_JEQ, v, 'next', fail);
      });
      asm.bind(ok);
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Public entry points.

export function compileSeccomp(policy: SeccompPolicy, options: SeccompCompileOptions): CompiledSeccomp | null {
  checkPolicy(policy);
  if (policy === 'off') return null;
  const arch = options.arch ?? hostSeccompArch();
  if (arch !== 'x86_64' && arch !== 'aarch64') {
    throw new TypeError(`sandbox.seccomp: unknown architecture "${String(arch)}"`);
  }
  const net = options.net;
  if (net !== 'none' && net !== 'host' && net !== 'tcp') {
    throw new TypeError(`sandbox.seccomp: net must be 'none', 'tcp' or 'host'`);
  }
  const profile = buildProfile(policy, arch, net);

  // Emission order: unconditional allows (strict; hot first), argument
  // filters, then denies grouped by action so each group shares one RET.
  const entries = [...profile.bodies.entries()];
  const rank = (body: RuleBody[]): number => {
    if (body.length > 1 || body[0]!.when !== undefined) return 1;
    const a = body[0]!.action;
    return a.type === 'allow' ? 0 : a.type === 'errno' && a.errno === 'EPERM' ? 2 : 3;
  };
  entries.sort((x, y) => rank(x[1]) - rank(y[1]));
  const rules: SeccompRule[] = [];
  for (const [name, body] of entries) {
    const nr = syscallNumber(name, arch)!;
    for (const b of body) {
      rules.push(Object.freeze({ syscall: name, nr, action: b.action, ...(b.when ? { when: b.when } : {}) }));
    }
  }

  const insns = assembleSeccomp(arch, rules, profile.defaultAction);
  const problems = validateProgram(insns);
  if (problems.length > 0) throw new Error(`seccomp: generated an invalid program: ${problems.join('; ')}`);
  return {
    program: encodeProgram(insns),
    instructionCount: insns.length,
    mode: profile.mode,
    ruleCount: rules.length,
    rules,
    arch,
    net,
    defaultAction: profile.defaultAction,
  };
}

function describeCondition(c: SeccompArgCondition): string {
  const subject = c.mask === undefined ? c.argName : `${c.argName} & 0x${c.mask.toString(16)}`;
  if (c.op === 'anyBits') return `${subject} has any of ${c.valueNames.join('|')}`;
  return `${subject} ${c.op === 'in' ? 'in' : 'not in'} {${c.valueNames.join(', ')}}`;
}

function describeAction(action: SeccompAction): string {
  return action.type === 'errno' ? action.errno : action.type === 'kill' ? 'kill process' : 'allow';
}

export function describeRule(rule: SeccompRule): string {
  const call = rule.when ? `${rule.syscall}(${rule.when.map(describeCondition).join(' && ')})` : rule.syscall;
  return rule.action.type === 'allow' ? `allow ${call}` : `deny ${call} -> ${describeAction(rule.action)}`;
}

/** Readable text, one rule per line, in the order the filter checks them. */
export function explainSeccomp(c: CompiledSeccomp): string {
  const lines = [
    `seccomp ${c.mode} profile for ${c.arch}, net ${c.net}: ${c.ruleCount} rules, ${c.instructionCount} BPF instructions`,
    `arch != ${c.arch} -> kill process`,
  ];
  if (c.arch === 'x86_64') lines.push(`x32 syscall (nr >= 0x${X32_SYSCALL_BIT.toString(16)}) -> kill process`);
  for (const rule of c.rules) lines.push(describeRule(rule));
  lines.push(`default: ${describeAction(c.defaultAction)}`);
  return lines.join('\n');
}
