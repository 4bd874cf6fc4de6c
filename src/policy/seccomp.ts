/**
 * seccomp policy compiler: syscall names and a few argument filters become a
 * classic BPF program (struct sock_filter[]) the child installs last, right
 * before execve. No libseccomp: the program shape is simple enough to emit
 * directly, and tests run it through the interpreter in bpf.ts.
 *
 * Program shape:
 *   1. arch != native audit arch            -> KILL_PROCESS (no i386 int 0x80 bypass)
 *   2. x86_64 only: nr has __X32_SYSCALL_BIT -> KILL_PROCESS (no x32 bypass)
 *   3. a balanced binary search on nr ("JGE lo" splits) over sorted ranges of
 *      syscall numbers: neighbours with the same unconditional action are one
 *      range, numbers without rules take the default action, and a syscall
 *      with argument filters is a range of its own whose leaf is its block of
 *      argument checks (its rules in order, then the default action). Other
 *      leaves jump straight to a RET shared per action.
 *   Every jump is forward. A subtree of at most 256 instructions keeps its
 *   jumps within the u8 jt/jf; above that, the top splits reach a far subtree
 *   through a BPF_JA trampoline (BpfAssembler.jumpIfFar).
 *
 * Why a tree rather than a list of "JEQ nr": when a filter is attached, the
 * kernel's seccomp_cache_prepare() emulates it once for every syscall number
 * of the arch (up to the first argument load) to find the always-allowed
 * ones; with a list that walk is as long as the list, with the tree it is
 * the guards plus about log2(ranges) jumps. The same tree serves a syscall
 * the cache does not answer.
 *
 * Only the low 32 bits of arguments are compared: every filtered argument is a
 * C int / unsigned int in the kernel (socket domain/type/protocol, ioctl cmd,
 * personality, and clone flags which the kernel truncates with
 * lower_32_bits()), so the high word cannot change what the kernel does.
 */
import { InvalidOptionRangeError, InvalidOptionTypeError } from '../errors.js';
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
  /**
   * Default false: the program may not open AF_UNIX sockets of its own, so no
   * pathname socket of the host (/dev/log, a daemon's socket under /var/lib,
   * /etc or /usr/local) can be connected to or sent to, whatever the mount
   * plan and Landlock leave visible. socket(AF_UNIX, ...) fails with
   * EAFNOSUPPORT, the answer libc and runtimes already take as "this family
   * is not available here" (glibc's syslog() and nscd client give up quietly
   * on any socket() failure; systemd-style clients class EAFNOSUPPORT as
   * "not supported" rather than a permission error), and the one the other
   * refused families get. socketpair(AF_UNIX) stays for SOCK_STREAM and
   * SOCK_SEQPACKET (pipes between the program's own processes); a
   * SOCK_DGRAM pair is refused (EACCES) because a datagram socket can be
   * connect()ed again, or sendto() a path, and so reach a host socket.
   * true: AF_UNIX sockets as `net` allows them. Independent of `net`.
   */
  unixSockets?: boolean;
  /**
   * Default false. true: setsid() and setpgid() fail with EPERM, so the
   * program and its descendants cannot leave the process group hatchery
   * kills the tree by when the sandbox has no pid namespace. The child calls
   * setsid() before the filter is installed; only the program is bound.
   * Custom `allow` of setsid/setpgid is refused while the lock is on.
   */
  lockProcessGroup?: boolean;
  /**
   * Default false. true: System V IPC (shared memory, semaphores, message
   * queues) and POSIX message queues fail with EPERM. Without an IPC
   * namespace of its own the sandbox would share the host's: objects it
   * makes outlive it (pinned memory, data a later operation of the same uid
   * reads back), and it could reach the host's. Custom `allow` of these is
   * refused while the lock is on.
   */
  denyHostIpc?: boolean;
  /**
   * Default false. true: prlimit64, setpriority, ioprio_set and
   * sched_setscheduler/sched_setparam/sched_setattr act only on the calling
   * process (pid or who 0; setpriority and ioprio_set also on its own process
   * group, never on a uid's processes): EPERM for any other target. Without a
   * pid namespace the program sees the host's processes, and the kernel lets
   * a process change the limits and priority of any of the same uid (the
   * caller's, when the sandbox runs as the caller); Landlock's scopes do not
   * cover these calls. Custom `allow` of them is refused while the lock is on.
   */
  lockOtherProcesses?: boolean;
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
  unixSockets: boolean;
  lockProcessGroup: boolean;
  denyHostIpc: boolean;
  lockOtherProcesses: boolean;
  /**
   * The program can make no socket but a socketpair(AF_UNIX) stream or
   * seqpacket pair: net 'none' without unix sockets, and no custom `allow`
   * of socket, socketpair or io_uring (whose socket operation seccomp does
   * not see). Such a program cannot send a packet or change anything of a
   * network namespace that outlives its sockets (native/ns_stock.c).
   */
  socketPairsOnly: boolean;
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
  // other processes' files and memory, through the ptrace access check: pidfd_getfd copies an fd out of
  // another process; kcmp compares kernel objects (files, mm, epoll targets) across processes;
  // process_madvise and process_mrelease act on another process's memory; migrate_pages and move_pages
  // move another process's pages between NUMA nodes
  'pidfd_getfd', 'kcmp', 'process_madvise', 'process_mrelease', 'migrate_pages', 'move_pages',
  // filesystem-wide event monitoring (unprivileged since Linux 5.13 with FAN_REPORT_FID)
  'fanotify_init',
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
 * ordinary programs. Grouped for reading; the order changes nothing, since the
 * filter dispatches on the syscall number.
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
const SOCK_SEQPACKET = 5;
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

/**
 * Terminal ioctls refused on any fd. A terminal reaches the program as an
 * inherited fd (stdio 'inherit' of the caller's terminal, or a tty the
 * caller opened): Landlock only checks ioctls on files opened inside the
 * sandbox, and the kernel checks most of these only against the file's
 * open mode, so the filter is what keeps the caller's terminal the
 * caller's. Every one of these changes state that outlives the program or
 * reaches processes outside the sandbox; none is needed to use a terminal.
 *
 * Left allowed, on purpose: reading state (TCGETS, TIOCGWINSZ, TIOCGPGRP,
 * TIOCGEXCL, isatty), TCSETS* / TCSETA* / TCSETS2 (raw mode and echo off
 * for editors, REPLs and password prompts: the program may leave the
 * terminal in raw mode, which `stty sane` undoes, but cannot inject input
 * or signal anyone), TCFLSH (tcflush: discards pending input, used by
 * password prompts), TCSBRK (tcdrain; a break on a pty is a no-op),
 * TIOCSPGRP (tcsetpgrp: only on the caller's own controlling terminal,
 * which the program never has, since the child calls setsid() and
 * TIOCSCTTY is refused) and TIOCNOTTY (likewise only on an own controlling
 * terminal; daemonizing code calls it).
 */
const TTY_IOCTLS: ReadonlyArray<readonly [string, number]> = [
  // pushes bytes into the terminal's input queue: typed commands run outside the sandbox
  ['TIOCSTI', 0x5412],
  // console selection paste (same effect on virtual consoles), and other console state
  ['TIOCLINUX', 0x541c],
  // exclusive mode: every later open() of the terminal fails with EBUSY, after the program is gone
  ['TIOCEXCL', 0x540c],
  // and clearing it, which only the terminal's owner should decide
  ['TIOCNXCL', 0x540d],
  // make the terminal the program's controlling tty: a session leader's exit then hangs it up for everyone
  ['TIOCSCTTY', 0x540e],
  // redirect console output to this terminal
  ['TIOCCONS', 0x541d],
  // change the line discipline: other ldisc drivers are kernel attack surface (n_gsm, n_hdlc, ...)
  ['TIOCSETD', 0x5423],
  // hang the terminal up for every process that has it open
  ['TIOCVHANGUP', 0x5437],
  // set the window size: the kernel sends SIGWINCH to the terminal's foreground process group,
  // which is the caller's (a signal across the sandbox boundary), and the caller's size is wrong after
  ['TIOCSWINSZ', 0x5414],
  // suspend output (tcflow TCOOFF): every writer to the terminal, the caller included, blocks
  ['TCXONC', 0x540a],
  // lock termios fields against change
  ['TIOCSLCKTRMIOS', 0x5457],
  // on a pty master: send a signal to the slave's foreground process group
  ['TIOCSIG', 0x40045436],
  // serial line state: port settings, modem lines (dropping DTR hangs up a modem), carrier, break
  ['TIOCSSERIAL', 0x541f],
  ['TIOCMSET', 0x5418],
  ['TIOCMBIS', 0x5416],
  ['TIOCMBIC', 0x5417],
  ['TIOCSSOFTCAR', 0x541a],
  ['TIOCSBRK', 0x5427],
  ['TIOCCBRK', 0x5428],
];
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

const UNIX: ReadonlyArray<readonly [string, number]> = [['AF_UNIX', AF_UNIX]];
const INET: ReadonlyArray<readonly [string, number]> = [['AF_INET', AF_INET], ['AF_INET6', AF_INET6]];

function socketRules(net: SeccompNet, unixSockets: boolean): RuleBody[] | undefined {
  if (net === 'host') {
    return unixSockets ? undefined : [{ when: [cond(0, 'domain', 'in', UNIX)], action: errno('EAFNOSUPPORT') }];
  }
  if (net === 'none') {
    return unixSockets
      ? [{ when: [cond(0, 'domain', 'notIn', UNIX)], action: errno('EAFNOSUPPORT') }]
      : [{ action: errno('EAFNOSUPPORT') }];
  }
  return [
    {
      when: [cond(0, 'domain', 'notIn', unixSockets ? [...UNIX, ...INET] : INET)],
      action: errno('EAFNOSUPPORT'),
    },
    {
      when: [cond(0, 'domain', 'in', INET), cond(1, 'type', 'notIn', [['SOCK_STREAM', SOCK_STREAM]], SOCK_TYPE_MASK)],
      action: errno('EACCES'),
    },
    {
      when: [cond(0, 'domain', 'in', INET), cond(2, 'protocol', 'notIn', [['0', 0], ['IPPROTO_TCP', IPPROTO_TCP]])],
      action: errno('EACCES'),
    },
  ];
}

/**
 * A connected stream or seqpacket pair cannot be pointed anywhere else
 * (connect() is EISCONN, a stream sendmsg() with an address is EISCONN and
 * seqpacket ignores the address), but a datagram socket can be connect()ed
 * again or sendto() any path: without unix sockets, no SOCK_DGRAM pair.
 */
function socketpairRules(net: SeccompNet, unixSockets: boolean): RuleBody[] | undefined {
  const rules: RuleBody[] = [];
  if (net !== 'host') rules.push({ when: [cond(0, 'domain', 'notIn', UNIX)], action: errno('EAFNOSUPPORT') });
  if (!unixSockets) {
    rules.push({
      when: [
        cond(0, 'domain', 'in', UNIX),
        cond(1, 'type', 'notIn', [['SOCK_STREAM', SOCK_STREAM], ['SOCK_SEQPACKET', SOCK_SEQPACKET]], SOCK_TYPE_MASK),
      ],
      action: errno('EACCES'),
    });
  }
  return rules.length > 0 ? rules : undefined;
}

type LockRules = ReadonlyArray<readonly [syscall: string, rules: RuleBody[]]>;
const refusedOutright = (names: readonly string[]): LockRules => names.map((name) => [name, [{ action: EPERM }]] as const);

/** Self (0) only: the calls that change another process's limits or priority (the lockOtherProcesses option). */
const SELF_ONLY: ReadonlyArray<readonly [string, number]> = [['0', 0]];
const PID_SELF_ONLY: RuleBody[] = [{ when: [cond(0, 'pid', 'notIn', SELF_ONLY)], action: EPERM }];

/**
 * What the environment makes EPERM whatever the policy says: each lock is on
 * when its option is, refuses a custom `allow` of its calls by name, and is
 * applied after the custom lists. A lock's rules either refuse a call
 * outright or filter its arguments; a filter leaves a call the profile
 * already refuses outright as it is.
 */
const ENVIRONMENT_LOCKS: readonly { option: 'lockProcessGroup' | 'denyHostIpc' | 'lockOtherProcesses'; rules: LockRules; why: string }[] = [
  {
    option: 'lockProcessGroup',
    // Ways out of the process group (setpgrp(), posix_spawn's SETSID/SETPGROUP and daemon() are these too).
    rules: refusedOutright(['setsid', 'setpgid']),
    why: "cannot be allowed without a pid namespace: the process group is how the sandbox's processes are ended",
  },
  {
    option: 'denyHostIpc',
    // Objects of an IPC namespace: System V IPC and POSIX message queues (shmdt only lets go of a mapping).
    rules: refusedOutright([
      'shmget', 'shmat', 'shmctl', 'semget', 'semop', 'semtimedop', 'semctl', 'msgget', 'msgsnd', 'msgrcv', 'msgctl',
      'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr',
    ]),
    why: "cannot be allowed without an IPC namespace: its objects would be the host's and outlive the operation",
  },
  {
    option: 'lockOtherProcesses',
    rules: [
      ['prlimit64', PID_SELF_ONLY],
      [
        'setpriority',
        [
          { when: [cond(0, 'which', 'notIn', [['PRIO_PROCESS', 0], ['PRIO_PGRP', 1]])], action: EPERM },
          { when: [cond(1, 'who', 'notIn', SELF_ONLY)], action: EPERM },
        ],
      ],
      [
        'ioprio_set',
        [
          { when: [cond(0, 'which', 'notIn', [['IOPRIO_WHO_PROCESS', 1], ['IOPRIO_WHO_PGRP', 2]])], action: EPERM },
          { when: [cond(1, 'who', 'notIn', SELF_ONLY)], action: EPERM },
        ],
      ],
      ['sched_setscheduler', PID_SELF_ONLY],
      ['sched_setparam', PID_SELF_ONLY],
      ['sched_setattr', PID_SELF_ONLY],
    ],
    why: "cannot be allowed without a pid namespace: it may change the limits or priority of any process of the same uid, the caller's included",
  },
];

// clone's flags are args[0] on both x86_64 (flags, newsp, parent_tid, child_tid, tls)
// and arm64 (CLONE_BACKWARDS: flags, newsp, parent_tid, tls, child_tid).
const CLONE_RULES: RuleBody[] = [{ when: [cond(0, 'flags', 'anyBits', CLONE_NAMESPACE_FLAGS)], action: EPERM }];
const IOCTL_RULES: RuleBody[] = [{ when: [cond(1, 'request', 'in', TTY_IOCTLS)], action: EPERM }];
// Only the query and plain PER_LINUX: other personas (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...) weaken the process.
const PERSONALITY_RULES: RuleBody[] = [
  { when: [cond(0, 'persona', 'in', [['PER_LINUX', PER_LINUX], ['0xffffffff', PERSONALITY_QUERY]])], action: ALLOW },
  { action: EPERM },
];

interface Profile {
  mode: CompiledSeccomp['mode'];
  defaultAction: SeccompAction;
  bodies: Map<string, RuleBody[]>;
  socketPairsOnly: boolean;
}

interface ProfileOptions {
  net: SeccompNet;
  unixSockets: boolean;
  lockProcessGroup: boolean;
  denyHostIpc: boolean;
  lockOtherProcesses: boolean;
}

function buildProfile(policy: Exclude<SeccompPolicy, 'off'>, arch: SeccompArch, opts: ProfileOptions): Profile {
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
  put('socket', filtered(socketRules(opts.net, opts.unixSockets)));
  const builtSocketpair = filtered(socketpairRules(opts.net, opts.unixSockets));
  put('socketpair', builtSocketpair);
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
      throw new InvalidOptionRangeError(`sandbox.seccomp.allow[${allow.indexOf(both)}]`, `syscall "${both}" is in both deny and allow`);
    }
    for (const lock of ENVIRONMENT_LOCKS) {
      const locked = opts[lock.option] ? allow.find((name) => lock.rules.some(([call]) => call === name)) : undefined;
      if (locked !== undefined) throw new InvalidOptionRangeError(`sandbox.seccomp.allow[${allow.indexOf(locked)}]`, `"${locked}" ${lock.why}`);
    }
    for (const name of deny) bodies.set(name, [{ action: EPERM }]);
    for (const name of allow) bodies.delete(name);
  }
  // After the custom lists: the locks are what this environment needs to keep its guarantees, not a policy choice.
  for (const lock of ENVIRONMENT_LOCKS) {
    if (!opts[lock.option]) continue;
    for (const [name, rules] of lock.rules) {
      const body = bodies.get(name);
      const refusedAlready = body === undefined ? strict : body.every((b) => b.when === undefined && b.action.type !== 'allow');
      if (refusedAlready && rules.some((r) => r.when !== undefined)) continue;
      put(name, filtered(rules));
    }
  }
  return {
    mode: strict ? 'strict' : typeof policy === 'object' ? 'custom' : 'default',
    defaultAction,
    bodies,
    socketPairsOnly: opts.net === 'none' && !opts.unixSockets && makesOnlySocketPairs(bodies, builtSocketpair, strict),
  };
}

/** The calls that make a socket other than by socketpair: each must still be refused outright. */
const SOCKET_MAKERS: readonly string[] = ['socket', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'];

/** Whether, as the profile stands after its custom lists, no call but socketpair (as built for net 'none') makes a socket. */
function makesOnlySocketPairs(bodies: Map<string, RuleBody[]>, builtSocketpair: RuleBody[] | undefined, strict: boolean): boolean {
  const refused = (body: RuleBody[] | undefined): boolean =>
    body === undefined ? strict : body.every((b) => b.when === undefined && b.action.type !== 'allow');
  const pair = bodies.get('socketpair');
  return SOCKET_MAKERS.every((name) => refused(bodies.get(name))) && (pair === builtSocketpair || refused(pair));
}

function checkNames(list: unknown, key: 'deny' | 'allow', arch: SeccompArch): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new TypeError(`sandbox.seccomp.${key} must be an array of syscall names`);
  return list.map((name: unknown, i) => {
    if (typeof name !== 'string') throw new TypeError(`sandbox.seccomp.${key}[${i}] must be a string`);
    if (syscallNumber(name, arch) === undefined) {
      throw new InvalidOptionTypeError(`sandbox.seccomp.${key}[${i}]`, `unknown syscall "${name}" on ${arch}`);
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

/**
 * What one syscall number leads to: a RET of one action, or the argument
 * checks of a syscall with conditional rules.
 */
type Leaf = { readonly kind: 'ret'; readonly value: number } | { readonly kind: 'block'; readonly rules: readonly SeccompRule[] };

/** Syscall numbers lo..hi (u32, inclusive) and what they lead to. */
interface NrRange {
  readonly lo: number;
  readonly hi: number;
  readonly leaf: Leaf;
}

const U32_MAX = 0xffffffff;

/**
 * A subtree whose code (dispatch jumps, argument blocks and its own RETs)
 * is at most this long has every jump inside it within a u8 offset: it
 * shares one RET per action. Larger trees split on their top jumps, which
 * may reach their subtrees through BPF_JA trampolines.
 */
const WINDOW = 256;

/**
 * Assemble rules into a program. Exposed for tests (golden bytes); the rules
 * must hold each syscall's entries together, in the order they are tried.
 * The order across syscalls changes nothing: the program dispatches on the
 * number.
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
  emitDispatch(asm, numberRanges(rules, defaultAction), defaultAction);
  return asm.resolve();
}

/**
 * The rules as sorted, gap-free ranges of syscall numbers covering 0..2^32-1:
 * numbers without rules take the default action, and neighbours with the same
 * unconditional action are one range.
 */
function numberRanges(rules: readonly SeccompRule[], defaultAction: SeccompAction): NrRange[] {
  const bySyscall = new Map<number, SeccompRule[]>();
  let previous: number | undefined;
  for (const rule of rules) {
    if (!Number.isInteger(rule.nr) || rule.nr < 0 || rule.nr > U32_MAX) {
      throw new RangeError(`seccomp: syscall number ${rule.nr} of ${rule.syscall} is not a u32`);
    }
    const group = bySyscall.get(rule.nr);
    if (group && previous !== rule.nr) throw new Error(`seccomp: rules for ${rule.syscall} are split`);
    if (group) {
      if (group[group.length - 1]!.when === undefined) {
        throw new Error(`seccomp: unreachable rule after an unconditional one for ${rule.syscall}`);
      }
      group.push(rule);
    } else bySyscall.set(rule.nr, [rule]);
    previous = rule.nr;
  }

  const fallback: Leaf = { kind: 'ret', value: actionValue(defaultAction) };
  const ranges: NrRange[] = [];
  const add = (lo: number, hi: number, leaf: Leaf): void => {
    const last = ranges[ranges.length - 1];
    if (last && last.leaf.kind === 'ret' && leaf.kind === 'ret' && last.leaf.value === leaf.value) {
      ranges[ranges.length - 1] = { lo: last.lo, hi, leaf: last.leaf };
    } else ranges.push({ lo, hi, leaf });
  };
  let next = 0;
  for (const nr of [...bySyscall.keys()].sort((a, b) => a - b)) {
    const group = bySyscall.get(nr)!;
    if (nr > next) add(next, nr - 1, fallback);
    const only = group.length === 1 && group[0]!.when === undefined;
    add(nr, nr, only ? { kind: 'ret', value: actionValue(group[0]!.action) } : { kind: 'block', rules: group });
    next = nr + 1;
  }
  if (next <= U32_MAX) add(next, U32_MAX, fallback);
  return ranges;
}

/**
 * A balanced binary search over the ranges on A (the syscall number): each
 * inner node is one "jge lo" splitting its ranges in half, so a number meets
 * about log2(ranges) jumps before its RET or its argument block. The
 * kernel's seccomp_cache_prepare() emulates the program for every syscall
 * number when the filter is attached; this keeps that walk short.
 */
function emitDispatch(asm: BpfAssembler, ranges: readonly NrRange[], defaultAction: SeccompAction): void {
  const blockSize = new Map<Leaf, number>();
  for (const r of ranges) {
    if (r.leaf.kind !== 'block') continue;
    const probe = new BpfAssembler();
    emitBlock(probe, r.leaf.rules, defaultAction);
    blockSize.set(r.leaf, probe.length);
  }
  const split = (a: number, b: number): number => a + Math.floor((b - a + 1) / 2);
  // Code size of ranges a..b laid out with shared RETs: one jump per inner node, the blocks, one RET per action.
  const pooledSize = (a: number, b: number): number => {
    const values = new Set<number>();
    let size = b - a;
    for (let i = a; i <= b; i++) {
      const leaf = ranges[i]!.leaf;
      if (leaf.kind === 'ret') values.add(leaf.value);
      else size += blockSize.get(leaf)!;
    }
    return size + values.size;
  };

  const emit = (a: number, b: number): void => {
    const only = ranges[a]!.leaf;
    if (a === b) {
      if (only.kind === 'ret') asm.ret(only.value);
      else emitBlock(asm, only.rules, defaultAction);
      return;
    }
    if (pooledSize(a, b) <= WINDOW) {
      emitPooled(a, b);
      return;
    }
    const m = split(a, b);
    const right = asm.label();
    asm.jumpIfFar(BPF_JGE, ranges[m]!.lo, right, 'next');
    emit(a, m - 1);
    asm.bind(right);
    emit(m, b);
  };

  // Ranges a..b (a < b) with every unconditional leaf a jump straight to a RET shared after the subtree.
  const emitPooled = (a: number, b: number): void => {
    const pool = new Map<number, Label>();
    const retLabel = (i: number, j: number): Label | undefined => {
      const leaf = ranges[i]!.leaf;
      if (i !== j || leaf.kind !== 'ret') return undefined;
      let l = pool.get(leaf.value);
      if (!l) pool.set(leaf.value, (l = asm.label()));
      return l;
    };
    const walk = (i: number, j: number): void => {
      if (i === j) {
        const leaf = ranges[i]!.leaf;
        if (leaf.kind !== 'block') throw new Error('seccomp: a RET leaf reached the tree walk');
        emitBlock(asm, leaf.rules, defaultAction);
        return;
      }
      const m = split(i, j);
      const lo = ranges[m]!.lo;
      const left = retLabel(i, m - 1);
      const right = retLabel(m, j);
      if (left && right) asm.jumpIf(BPF_JGE, lo, right, left);
      else if (left) {
        asm.jumpIf(BPF_JGE, lo, 'next', left);
        walk(m, j);
      } else if (right) {
        asm.jumpIf(BPF_JGE, lo, right, 'next');
        walk(i, m - 1);
      } else {
        const r = asm.label();
        asm.jumpIf(BPF_JGE, lo, r, 'next');
        walk(i, m - 1);
        asm.bind(r);
        walk(m, j);
      }
    };
    walk(a, b);
    for (const [value, label] of pool) {
      asm.bind(label);
      asm.ret(value);
    }
  };

  emit(0, ranges.length - 1);
}

/** One syscall's conditional rules, tried in order; the default action when none applies. */
function emitBlock(asm: BpfAssembler, rules: readonly SeccompRule[], defaultAction: SeccompAction): void {
  let decided = false;
  for (const rule of rules) {
    const fail = asm.label();
    for (const c of rule.when ?? []) emitCondition(asm, c, fail);
    asm.ret(actionValue(rule.action));
    asm.bind(fail);
    decided = rule.when === undefined;
  }
  if (!decided) asm.ret(actionValue(defaultAction));
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
  const unixSockets = options.unixSockets ?? false;
  const lockProcessGroup = options.lockProcessGroup ?? false;
  const denyHostIpc = options.denyHostIpc ?? false;
  const lockOtherProcesses = options.lockOtherProcesses ?? false;
  if (typeof lockOtherProcesses !== 'boolean') throw new TypeError('sandbox.seccomp: lockOtherProcesses must be a boolean');
  if (typeof unixSockets !== 'boolean') throw new TypeError('sandbox.seccomp: unixSockets must be a boolean');
  if (typeof lockProcessGroup !== 'boolean') throw new TypeError('sandbox.seccomp: lockProcessGroup must be a boolean');
  if (typeof denyHostIpc !== 'boolean') throw new TypeError('sandbox.seccomp: denyHostIpc must be a boolean');
  const profile = buildProfile(policy, arch, { net, unixSockets, lockProcessGroup, denyHostIpc, lockOtherProcesses });

  // Listing order (explain, `rules`): unconditional allows (strict), argument
  // filters, then denies grouped by action. The program dispatches on the
  // number, so only each syscall's own rules keep an order that matters.
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
    unixSockets,
    lockProcessGroup,
    denyHostIpc,
    lockOtherProcesses,
    socketPairsOnly: profile.socketPairsOnly,
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

/** Readable text, one rule per line: a syscall's rules in the order the filter tries them. */
export function explainSeccomp(c: CompiledSeccomp): string {
  const lines = [
    `seccomp ${c.mode} profile for ${c.arch}, net ${c.net}: ${c.ruleCount} rules, ${c.instructionCount} BPF instructions`,
    c.unixSockets
      ? 'unix sockets: allowed (as net allows)'
      : 'unix sockets: refused (no socket(AF_UNIX); socketpair(AF_UNIX) for SOCK_STREAM and SOCK_SEQPACKET only)',
    c.lockProcessGroup ? 'process group: locked (setsid and setpgid refused)' : 'process group: not locked',
    c.denyHostIpc ? 'host IPC: refused (no IPC namespace: System V IPC and POSIX message queues)' : 'IPC: as the profile says',
    c.lockOtherProcesses
      ? 'other processes: limits and priority of the calling process only (no pid namespace: prlimit64, setpriority, ioprio_set, sched_set*)'
      : 'other processes: as the profile says',
    `arch != ${c.arch} -> kill process`,
  ];
  if (c.arch === 'x86_64') lines.push(`x32 syscall (nr >= 0x${X32_SYSCALL_BIT.toString(16)}) -> kill process`);
  for (const rule of c.rules) lines.push(describeRule(rule));
  lines.push(`default: ${describeAction(c.defaultAction)}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// The pid-namespace init's own filter.

/**
 * What the sandbox's init (native/child.c run_as_init / init_loop) calls once
 * the program (pid 2) has been cloned and has exec'd, in the order it calls
 * them (past its release it makes them as raw system calls: native/raw_syscall.h). Install the filter right
 * after clone() returns in the init, never before: a filter is inherited by
 * clone, and pid 2 must still be able to install its own and exec.
 */
const INIT_ALLOW: ReadonlyArray<readonly [string, string]> = [
  // the loop
  ['rt_sigtimedwait', 'waiting for signals in init_loop, and end_namespace_tree\'s bounded waits'],
  ['wait4', 'reaping in init_loop and end_namespace_tree, and the exec-failure path'],
  ['kill', 'forwarding a signal to the program, or to the whole namespace (-1)'],
  ['write', 'report(): EXEC_OK, the exit status, a failure'],
  ['statfs', 'private_tmp_full(): is the private tmpfs full when the program ends (result.limit \'tmpdir\')'],
  ['getrusage', 'report_usage(): what the reaped namespace used, sent before the early exit report'],
  // once, between clone() and the loop
  ['rt_sigaction', 'install_forwarding_handlers()'],
  ['close_range', 'dropping every fd but the report and release pipes'],
  ['close', 'closing the release pipe, which lets the zygote go on (native/zygote_spawn.c)'],
  ['exit_group', 'the init\'s exit'],
  // not called today, and harmless: only the init's own state
  ['exit', '_exit() falls back to it if exit_group returns'],
  ['rt_sigprocmask', 'its own signal mask'],
  ['rt_sigreturn', 'return from a signal handler (every signal stays blocked, so none runs)'],
  ['restart_syscall', 'the kernel restarting an interrupted call'],
  ['clock_gettime', 'the time the program was reaped, for a traced spawn (the vDSO answers without a system call where it can)'],
];

export interface CompiledInitSeccomp {
  /** struct sock_filter[], little endian, 8 bytes per instruction: the same shape as CompiledSeccomp.program. */
  program: Uint8Array;
  instructionCount: number;
  ruleCount: number;
  rules: SeccompRule[];
  arch: SeccompArch;
  /** Always kill process: see compileInitSeccomp. */
  defaultAction: SeccompAction;
}

const initCache = new Map<SeccompArch, CompiledInitSeccomp>();

/** The syscalls the init's filter allows, each with why the init needs it. */
export function initSeccompSyscalls(): ReadonlyArray<readonly [string, string]> {
  return INIT_ALLOW;
}

/**
 * The allowlist filter for the pid-namespace init. Anything else kills the
 * init (SECCOMP_RET_KILL_PROCESS), and with it the namespace and the program:
 * the init runs no untrusted code and its only input is what the program can
 * put into a siginfo, so a call outside the list means a hatchery bug or a
 * compromised init. EPERM would let either go on half-working (an init that
 * no longer reaps or forwards), and hand an attacker an oracle to probe with;
 * killing fails closed, visibly (the zygote sees the init end by SIGSYS),
 * and is not a signal, so pid 1's protection from signals does not apply.
 * The init is not dumpable, so no core file is written.
 */
export function compileInitSeccomp(arch: SeccompArch = hostSeccompArch()): CompiledInitSeccomp {
  if (arch !== 'x86_64' && arch !== 'aarch64') {
    throw new TypeError(`seccomp: unknown architecture "${String(arch)}"`);
  }
  // A fresh copy of the bytes each time: a Uint8Array cannot be frozen, and the cache must not be changed through one.
  const cached = initCache.get(arch);
  if (cached) return { ...cached, program: cached.program.slice() };
  const rules: SeccompRule[] = INIT_ALLOW.map(([name]) => {
    const nr = syscallNumber(name, arch);
    if (nr === undefined) throw new Error(`seccomp: init syscall ${name} missing on ${arch}`);
    return Object.freeze({ syscall: name, nr, action: ALLOW });
  });
  const defaultAction: SeccompAction = Object.freeze({ type: 'kill' });
  const insns = assembleSeccomp(arch, rules, defaultAction);
  const problems = validateProgram(insns);
  if (problems.length > 0) throw new Error(`seccomp: generated an invalid init program: ${problems.join('; ')}`);
  const compiled: CompiledInitSeccomp = Object.freeze({
    program: encodeProgram(insns),
    instructionCount: insns.length,
    ruleCount: rules.length,
    rules: Object.freeze(rules) as SeccompRule[],
    arch,
    defaultAction,
  });
  initCache.set(arch, compiled);
  return { ...compiled, program: compiled.program.slice() };
}

/** Readable text for the init's filter, one rule per line. */
export function explainInitSeccomp(c: CompiledInitSeccomp): string {
  const why = new Map(INIT_ALLOW);
  const lines = [
    `seccomp init filter for ${c.arch}: ${c.ruleCount} rules, ${c.instructionCount} BPF instructions`,
    `arch != ${c.arch} -> kill process`,
  ];
  if (c.arch === 'x86_64') lines.push(`x32 syscall (nr >= 0x${X32_SYSCALL_BIT.toString(16)}) -> kill process`);
  for (const rule of c.rules) lines.push(`${describeRule(rule)}  # ${why.get(rule.syscall) ?? ''}`);
  lines.push(`default: ${describeAction(c.defaultAction)}`);
  return lines.join('\n');
}
