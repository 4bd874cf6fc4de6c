import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_RET,
  BPF_W,
  BpfAssembler,
  type BpfInsn,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  decodeProgram,
  encodeProgram,
  jump,
  runProgram,
  stmt,
  validateProgram,
} from '../src/policy/bpf.js';
import {
  AUDIT_ARCH,
  type CompiledSeccomp,
  ERRNO,
  type SeccompAction,
  type SeccompArch,
  type SeccompArgCondition,
  type SeccompNet,
  type SeccompPolicy,
  type SeccompRule,
  actionValue,
  assembleSeccomp,
  compileInitSeccomp,
  compileSeccomp,
  explainInitSeccomp,
  explainSeccomp,
  initSeccompSyscalls,
  knownSyscalls,
  syscallNumber,
} from '../src/policy/seccomp.js';
import { packageRoot } from '../src/native/binding.js';
import { AARCH64_SYSCALLS } from '../src/policy/syscalls/aarch64.js';
import { X86_64_SYSCALLS } from '../src/policy/syscalls/x86_64.js';
import { processes, waitFor } from './helpers.js';

const ALLOW = SECCOMP_RET_ALLOW;
const KILL = SECCOMP_RET_KILL_PROCESS;
const err = (name: keyof typeof ERRNO): number => (SECCOMP_RET_ERRNO | ERRNO[name]) >>> 0;
const EPERM = err('EPERM');
const ENOSYS = err('ENOSYS');
const EAFNOSUPPORT = err('EAFNOSUPPORT');
const EACCES = err('EACCES');

const ARCHES: SeccompArch[] = ['x86_64', 'aarch64'];
const NETS: SeccompNet[] = ['none', 'tcp', 'host'];

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const AF_PACKET = 17;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_SEQPACKET = 5;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const CLONE_THREAD_FLAGS = 0x3d0f00; // glibc pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|*TID
const CLONE_NEWUSER = 0x10000000;

/** Terminal ioctls the filter refuses (asm-generic numbers: the same on x86_64 and arm64). */
const TTY_DENIED: ReadonlyArray<readonly [string, number]> = [
  ['TIOCSTI', 0x5412], ['TIOCLINUX', 0x541c], ['TIOCEXCL', 0x540c], ['TIOCNXCL', 0x540d], ['TIOCSCTTY', 0x540e],
  ['TIOCCONS', 0x541d], ['TIOCSETD', 0x5423], ['TIOCVHANGUP', 0x5437], ['TIOCSWINSZ', 0x5414], ['TCXONC', 0x540a],
  ['TIOCSLCKTRMIOS', 0x5457], ['TIOCSIG', 0x40045436], ['TIOCSSERIAL', 0x541f], ['TIOCMSET', 0x5418],
  ['TIOCMBIS', 0x5416], ['TIOCMBIC', 0x5417], ['TIOCSSOFTCAR', 0x541a], ['TIOCSBRK', 0x5427], ['TIOCCBRK', 0x5428],
];
/** What ordinary programs do with a terminal: query it, raw mode, flush, drain; plus the no-ctty-needed ones. */
const TTY_ALLOWED: ReadonlyArray<readonly [string, number]> = [
  ['TCGETS', 0x5401], ['TCSETS', 0x5402], ['TCSETSW', 0x5403], ['TCSETSF', 0x5404], ['TCGETS2', 0x802c542a],
  ['TCSETS2', 0x402c542b], ['TCSETA', 0x5406], ['TCSBRK', 0x5409], ['TCFLSH', 0x540b], ['TIOCGPGRP', 0x540f],
  ['TIOCSPGRP', 0x5410], ['TIOCOUTQ', 0x5411], ['TIOCGWINSZ', 0x5413], ['TIOCMGET', 0x5415], ['FIONREAD', 0x541b],
  ['FIONBIO', 0x5421], ['TIOCNOTTY', 0x5422], ['TIOCGETD', 0x5424], ['TIOCGSID', 0x5429], ['TIOCGPTN', 0x80045430],
  ['TIOCSPTLCK', 0x40045431], ['TIOCGEXCL', 0x80045440], ['FIOCLEX', 0x5451],
];

interface Extra {
  unixSockets?: boolean;
  lockProcessGroup?: boolean;
  denyHostIpc?: boolean;
  lockOtherProcesses?: boolean;
}

function compile(policy: Exclude<SeccompPolicy, 'off'>, arch: SeccompArch, net: SeccompNet = 'none', extra: Extra = {}): CompiledSeccomp {
  const c = compileSeccomp(policy, { arch, net, ...extra });
  assert.ok(c);
  return c;
}

/** Every combination of the two boolean compile options. */
const EXTRAS: Extra[] = [
  {},
  { unixSockets: true },
  { lockProcessGroup: true },
  { unixSockets: true, lockProcessGroup: true },
];
const extraName = (e: Extra): string => `unix=${e.unixSockets ?? false} lock=${e.lockProcessGroup ?? false}`;

/** Run the compiled program for syscall `name` with the given args. */
function run(c: CompiledSeccomp, name: string, args: Array<bigint | number> = [], archValue?: number): number {
  const nr = syscallNumber(name, c.arch);
  assert.notEqual(nr, undefined, `${name} exists on ${c.arch}`);
  return runNr(c, nr!, args, archValue);
}

function runNr(c: { program: Uint8Array; arch: SeccompArch }, nr: number, args: Array<bigint | number> = [], archValue?: number): number {
  return runProgram(decodeProgram(c.program), { nr, arch: archValue ?? AUDIT_ARCH[c.arch], args });
}

/** Reference semantics of the readable rules, independent of the BPF code generator. */
function expectedFromRules(c: CompiledSeccomp, nr: number, args: ReadonlyArray<bigint>): number {
  const low = (i: number): number => Number(BigInt.asUintN(32, args[i] ?? 0n));
  const holds = (cond: SeccompArgCondition): boolean => {
    const v = cond.mask === undefined ? low(cond.arg) : (low(cond.arg) & cond.mask) >>> 0;
    if (cond.op === 'anyBits') return cond.values.some((bit) => (v & bit) !== 0);
    const member = cond.values.includes(v);
    return cond.op === 'in' ? member : !member;
  };
  for (const rule of c.rules) {
    if (rule.nr !== nr) continue;
    if ((rule.when ?? []).every(holds)) return actionValue(rule.action);
  }
  return actionValue(c.defaultAction);
}

function checkJumps(insns: readonly BpfInsn[]): void {
  insns.forEach((insn, pc) => {
    if ((insn.code & 0x07) !== BPF_JMP) return;
    if ((insn.code & 0xf0) === BPF_JA) {
      assert.ok(pc + 1 + insn.k < insns.length, `ja at ${pc} in range`);
      return;
    }
    assert.ok(insn.jt <= 255 && insn.jf <= 255, `u8 offsets at ${pc}`);
    assert.ok(pc + 1 + insn.jt < insns.length && pc + 1 + insn.jf < insns.length, `jump at ${pc} in range`);
  });
}

const ALL_POLICIES: Array<Exclude<SeccompPolicy, 'off'>> = [
  'default',
  'strict',
  { deny: ['fchmodat', 'kcmp'], allow: ['ptrace'] },
];

describe('seccomp: program structure', () => {
  for (const policy of ALL_POLICIES) {
    for (const arch of ARCHES) {
      for (const net of NETS) {
        for (const extra of EXTRAS) it(`${JSON.stringify(policy)} ${arch} net=${net} ${extraName(extra)} is a valid, bounded seccomp program`, () => {
          const c = compile(policy, arch, net, extra);
          assert.equal(c.program.length, c.instructionCount * 8);
          assert.equal(c.ruleCount, c.rules.length);
          const insns = decodeProgram(c.program);
          assert.deepEqual(validateProgram(insns), []);
          assert.ok(insns.length <= 4096);
          assert.ok(insns.length < 1024, `comfortably small (${insns.length})`);
          assert.equal(insns[insns.length - 1]!.code & 0x07, BPF_RET);
          checkJumps(insns);
          // Round trip: decode(encode(x)) === x.
          assert.deepEqual(encodeProgram(insns), c.program);
        });
      }
    }
  }

  it("'off' compiles to null", () => {
    assert.equal(compileSeccomp('off', { net: 'none' }), null);
  });

  it('defaults the architecture to the running one', () => {
    const c = compileSeccomp('default', { net: 'none' });
    assert.ok(c);
    assert.equal(c.arch, process.arch === 'arm64' ? 'aarch64' : 'x86_64');
  });

  it('agrees with the readable rules for every known syscall and a spread of arguments', () => {
    const argSets: bigint[][] = [
      [],
      [1n, 1n, 0n],
      [2n, 1n, 6n],
      [10n, 2n, 17n],
      [17n, 3n, 0n],
      [0x10000000n, 0n],
      [0x3d0f00n],
      [0n, 0x5412n],
      [0n, 0x541cn],
      [0n, 0x1_0000_5412n],
      [0n, 0x540cn],
      [0n, 0x5414n],
      [0n, 0x40045436n],
      [0n, 0x5402n],
      [1n, 2n | 0o2000000n, 0n],
      [1n, 5n, 0n],
      [0xffffffffn],
      [0x0040000n],
      [0xffff_ffff_0000_0001n, 0xffff_ffff_ffff_ffffn, 6n],
    ];
    for (const policy of ALL_POLICIES) {
      for (const arch of ARCHES) {
        for (const net of NETS) for (const extra of EXTRAS) {
          const c = compile(policy, arch, net, extra);
          const insns = decodeProgram(c.program);
          const nrs = [...knownSyscalls(arch).map((n) => syscallNumber(n, arch)!), 471, 999, 0x3fffffff];
          for (const nr of nrs) {
            for (const args of argSets) {
              const got = runProgram(insns, { nr, arch: AUDIT_ARCH[arch], args });
              assert.equal(got, expectedFromRules(c, nr, args), `${arch} ${net} ${extraName(extra)} nr=${nr} args=${args}`);
            }
          }
        }
      }
    }
  });
});

// ---- every syscall number against the rules' own meaning ----

/** The filter's meaning computed from its readable rules alone: guards, then a syscall's first matching rule, else the default. */
interface RuleSet {
  readonly arch: SeccompArch;
  readonly rules: readonly SeccompRule[];
  readonly defaultAction: SeccompAction;
}

function referenceAction(a: SeccompAction): number {
  if (a.type === 'allow') return ALLOW;
  if (a.type === 'kill') return KILL;
  return err(a.errno);
}

function reference(set: RuleSet, nr: number, archValue: number, args: ReadonlyArray<bigint>): number {
  if (archValue >>> 0 !== AUDIT_ARCH[set.arch]) return KILL;
  if (set.arch === 'x86_64' && nr >>> 0 >= 0x40000000) return KILL;
  const low = (i: number): number => Number(BigInt.asUintN(32, args[i] ?? 0n));
  const holds = (cond: SeccompArgCondition): boolean => {
    const v = cond.mask === undefined ? low(cond.arg) : (low(cond.arg) & cond.mask) >>> 0;
    if (cond.op === 'anyBits') return cond.values.some((bit) => (v & bit) !== 0);
    return cond.values.includes(v) === (cond.op === 'in');
  };
  const rule = set.rules.find((r) => r.nr === nr >>> 0 && (r.when ?? []).every(holds));
  return referenceAction(rule ? rule.action : set.defaultAction);
}

/** Argument vectors for a syscall's conditions: each tested value, its neighbours, other bits under and over the mask, a high word. */
function argVectors(rules: readonly SeccompRule[]): bigint[][] {
  const perArg = new Map<number, Set<bigint>>();
  for (const c of rules.flatMap((r) => r.when ?? [])) {
    const set = perArg.get(c.arg) ?? new Set<bigint>([0n, 1n, 0xffffffffn, 0x1_0000_0000n]);
    perArg.set(c.arg, set);
    for (const v of c.values) {
      for (const x of [v, v + 1, v | 0o4000 | 0o2000000]) set.add(BigInt(x >>> 0));
      set.add(0xffff_ffff_0000_0000n | BigInt(v));
      if (c.op === 'anyBits') for (let bit = 1; bit !== 0 && bit <= v; bit = (bit << 1) >>> 0) if (v & bit) set.add(BigInt(bit) | 0x11n);
    }
  }
  let vectors: bigint[][] = [[]];
  for (let arg = 0; arg < 6; arg++) {
    const values = perArg.get(arg);
    if (!values) {
      vectors = vectors.map((v) => [...v, 0n]);
      continue;
    }
    vectors = vectors.flatMap((v) => [...values].map((x) => [...v, x]));
  }
  return vectors;
}

/** Checks a program against reference() for every number up to the tables' highest + 16, the x32 range and other archs. */
const tableMax = (arch: SeccompArch): number => Math.max(...Object.values(arch === 'x86_64' ? X86_64_SYSCALLS : AARCH64_SYSCALLS));

function checkEveryNumber(insns: readonly BpfInsn[], set: RuleSet, label: string, max = tableMax(set.arch)): void {
  const native = AUDIT_ARCH[set.arch];
  const others = [0x40000003 /* i386 */, 0x40000028 /* arm */, AUDIT_ARCH[set.arch === 'x86_64' ? 'aarch64' : 'x86_64'], 0, native ^ 1];
  const nrs: number[] = [];
  for (let nr = 0; nr <= max + 16; nr++) nrs.push(nr);
  nrs.push(1023, 1024, 0xffff, 0x3fffffff, 0x40000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff);
  const filtered = new Map<number, SeccompRule[]>();
  for (const r of set.rules) if (r.when) filtered.set(r.nr, set.rules.filter((x) => x.nr === r.nr));
  for (const nr of nrs) {
    const vectors = filtered.has(nr) ? argVectors(filtered.get(nr)!) : [[], [0xffff_ffff_ffff_ffffn, 1n, 2n, 3n, 4n, 5n]];
    vectors.forEach((args, i) => {
      const expect = (n: number, arch: number): void => {
        assert.equal(runProgram(insns, { nr: n, arch, args }), reference(set, n, arch, args), `${label}: nr=${n} arch=0x${arch.toString(16)} args=${args}`);
      };
      expect(nr, native);
      // The guards come before any argument: a few vectors are enough for them.
      if (nr <= max + 16 && i < 4) {
        expect((nr | 0x40000000) >>> 0, native); // x32 on x86_64; an ordinary unknown number on aarch64
        for (const other of others) expect(nr, other);
      }
    });
  }
}

/**
 * The kernel's seccomp_is_const_allow() (kernel/seccomp.c): when a filter is attached, seccomp_cache_prepare()
 * emulates it for every syscall number of the arch, and gives up at the first load of anything but nr or arch.
 * Returns how many instructions it executes for one number.
 */
function cacheWalk(insns: readonly BpfInsn[], nr: number, arch: number): number {
  let a = 0;
  let steps = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    steps++;
    const { code, k, jt, jf } = insns[pc]!;
    if (code === (BPF_LD | BPF_W | BPF_ABS)) {
      if (k === 0) a = nr >>> 0;
      else if (k === 4) a = arch >>> 0;
      else return steps;
    } else if (code === (BPF_RET | BPF_K)) {
      return steps;
    } else if (code === (BPF_JMP | BPF_JA)) {
      pc += k;
    } else if (code === (BPF_JMP | BPF_JEQ | BPF_K)) pc += a === k ? jt : jf;
    else if (code === (BPF_JMP | BPF_JGE | BPF_K)) pc += a >= k ? jt : jf;
    else if (code === (BPF_JMP | BPF_JGT | BPF_K)) pc += a > k ? jt : jf;
    else if (code === (BPF_JMP | BPF_JSET | BPF_K)) pc += (a & k) !== 0 ? jt : jf;
    else if (code === (BPF_ALU | BPF_AND | BPF_K)) a = (a & k) >>> 0;
    else return steps;
  }
  throw new Error('ran off the end');
}

/**
 * Every number's walk is at most the guards, a balanced search over the runs of numbers that share what they
 * lead to (counted here from the rules), and the RET or first argument load; `slack` for BPF_JA trampolines.
 */
function checkWalk(insns: readonly BpfInsn[], set: RuleSet, label: string, max: number, slack = 0): void {
  const outcome = (nr: number): string => {
    const rules = set.rules.filter((r) => r.nr === nr);
    if (rules.length === 1 && rules[0]!.when === undefined) return String(referenceAction(rules[0]!.action));
    return rules.length === 0 ? String(referenceAction(set.defaultAction)) : `block ${nr}`;
  };
  let runs = 1;
  for (let nr = 1; nr <= max + 1; nr++) if (outcome(nr) !== outcome(nr - 1)) runs++;
  const guards = set.arch === 'x86_64' ? 4 : 3;
  const bound = guards + Math.ceil(Math.log2(runs)) + 1 + slack;
  for (let nr = 0; nr <= max + 16; nr++) {
    const steps = cacheWalk(insns, nr, AUDIT_ARCH[set.arch]);
    assert.ok(steps <= bound, `${label}: nr ${nr} takes ${steps} steps (${runs} runs: at most ${bound})`);
  }
}

/** The compile options each profile is checked under: every net mode and boolean option. */
const VARIANTS: Array<{ net: SeccompNet; extra: Extra }> = NETS.flatMap((net) => EXTRAS.map((extra) => ({ net, extra })));

/** Policies for the every-number checks: the two profiles, custom lists, an allowed filtered call, and long deny lists. */
function everyNumberPolicies(arch: SeccompArch): Array<readonly [string, Exclude<SeccompPolicy, 'off'>]> {
  const names = knownSyscalls(arch);
  const byNumber = [...names].sort((a, b) => syscallNumber(a, arch)! - syscallNumber(b, arch)!);
  const lock = ['setsid', 'setpgid'];
  return [
    ['default', 'default'],
    ['strict', 'strict'],
    ['custom deny/allow', { deny: ['fchmodat', 'kcmp'], allow: ['ptrace'] }],
    ['custom: filtered calls allowed or denied outright', { allow: ['ioctl', 'clone', 'personality'], deny: ['socket', 'read'] }],
    // No two neighbours share an action: more ranges than one window of u8 jumps holds.
    ['every other number denied', { deny: byNumber.filter((n, i) => i % 2 === 0 && !lock.includes(n)) }],
    ['everything denied but four', { deny: names.filter((n) => !['read', 'write', 'exit_group', 'execve', ...lock].includes(n)) }],
  ];
}

describe('seccomp: every syscall number agrees with the readable rules, in about log2(ranges) steps', () => {
  for (const arch of ARCHES) {
    for (const [name, policy] of everyNumberPolicies(arch)) {
      it(`${arch} ${name}, every net mode and option`, () => {
        for (const { net, extra } of VARIANTS) {
          const c = compile(policy, arch, net, extra);
          const insns = decodeProgram(c.program);
          assert.deepEqual(validateProgram(insns), []);
          checkJumps(insns);
          checkEveryNumber(insns, c, `${arch} ${name} net=${net} ${extraName(extra)}`);
          checkWalk(insns, c, `${arch} ${name} net=${net} ${extraName(extra)}`, tableMax(arch));
        }
      });
    }

    it(`${arch}: the init's filter`, () => {
      const c = compileInitSeccomp(arch);
      checkEveryNumber(decodeProgram(c.program), c, `${arch} init`);
      checkWalk(decodeProgram(c.program), c, `${arch} init`, tableMax(arch));
    });

    it(`${arch}: a program too long for u8 jumps reaches its far subtrees through BPF_JA`, () => {
      // 1500 numbers cycling through four actions, with an argument-filtered one every 97: no table is this long.
      const actions: SeccompAction[] = [{ type: 'allow' }, { type: 'errno', errno: 'EPERM' }, { type: 'errno', errno: 'ENOSYS' },
        { type: 'errno', errno: 'EACCES' }];
      const rules: SeccompRule[] = [];
      for (let nr = 0; nr < 1500; nr++) {
        if (nr % 97 === 0) {
          rules.push({ syscall: `nr${nr}`, nr, when: [{ arg: 1, argName: 'x', op: 'in', values: [nr, 7], valueNames: ['nr', '7'] }],
            action: actions[1]! });
          rules.push({ syscall: `nr${nr}`, nr, when: [{ arg: 0, argName: 'y', op: 'anyBits', mask: 0xff, values: [0x80], valueNames: ['0x80'] }],
            action: actions[3]! });
        } else if (nr % 5 !== 0) rules.push({ syscall: `nr${nr}`, nr, action: actions[nr % 4]! });
      }
      const set: RuleSet = { arch, rules, defaultAction: { type: 'kill' } };
      const insns = assembleSeccomp(arch, rules, set.defaultAction);
      assert.deepEqual(validateProgram(insns), []);
      checkJumps(insns);
      assert.ok(insns.length > 1024 && insns.length <= 4096, `${insns.length} instructions`);
      assert.ok(insns.some((insn) => insn.code === (BPF_JMP | BPF_JA)), 'uses BPF_JA');
      checkEveryNumber(insns, set, `${arch} synthetic`, 1500);
      checkWalk(insns, set, `${arch} synthetic`, 1500, 2);
    });
  }
});

describe('seccomp: arch and ABI guards', () => {
  for (const arch of ARCHES) {
    it(`${arch}: any other audit arch is killed`, () => {
      const c = compile('default', arch);
      for (const other of [0x40000003 /* i386 */, AUDIT_ARCH[arch === 'x86_64' ? 'aarch64' : 'x86_64'], 0]) {
        assert.equal(run(c, 'read', [], other), KILL);
        assert.equal(run(c, 'ptrace', [], other), KILL);
      }
    });
  }

  it('x86_64: x32 syscall numbers are killed, not looked up', () => {
    for (const policy of ['default', 'strict'] as const) {
      const c = compile(policy, 'x86_64');
      assert.equal(runNr(c, 0x40000000 + 0), KILL); // x32 read
      assert.equal(runNr(c, 0x40000000 + 101), KILL); // x32 ptrace
      assert.equal(runNr(c, 0x40000000 + 521), KILL); // x32-only ptrace
      assert.equal(runNr(c, 0xffffffff), KILL);
      assert.equal(runNr(c, 0x3fffffff), policy === 'default' ? ALLOW : ENOSYS);
    }
  });

  it('aarch64: no x32 check (and none needed)', () => {
    const c = compile('default', 'aarch64');
    assert.equal(runNr(c, 0x40000000), ALLOW);
    assert.ok(!explainSeccomp(c).includes('x32'));
  });
});

describe("seccomp: 'default' profile", () => {
  for (const arch of ARCHES) {
    it(`${arch}: dangerous syscalls get EPERM, ordinary ones are allowed`, () => {
      const c = compile('default', arch);
      assert.equal(c.mode, 'default');
      for (const name of ['ptrace', 'process_vm_readv', 'bpf', 'perf_event_open', 'userfaultfd', 'kexec_load',
        'init_module', 'finit_module', 'keyctl', 'add_key', 'mount', 'umount2', 'fsopen', 'fsconfig', 'fsmount',
        'fspick', 'open_tree', 'move_mount', 'mount_setattr', 'pivot_root', 'chroot', 'unshare', 'setns',
        'open_by_handle_at', 'acct', 'swapon', 'reboot', 'settimeofday', 'clock_settime', 'adjtimex', 'syslog',
        'quotactl', 'vhangup', 'pidfd_getfd', 'kcmp', 'process_madvise', 'process_mrelease', 'migrate_pages',
        'move_pages', 'fanotify_init']) {
        assert.equal(run(c, name), EPERM, name);
      }
      for (const name of ['read', 'write', 'openat', 'close', 'mmap', 'execve', 'futex', 'wait4', 'getrandom',
        'pidfd_open', 'pidfd_send_signal', 'get_mempolicy', 'mbind', 'inotify_init1', 'setsid', 'setpgid',
        'chmod' in (arch === 'x86_64' ? X86_64_SYSCALLS : AARCH64_SYSCALLS) ? 'chmod' : 'fchmodat']) {
        assert.equal(run(c, name), ALLOW, name);
      }
      assert.equal(runNr(c, 999), ALLOW, 'unknown numbers follow the default (allow)');
    });

    it(`${arch}: io_uring and clone3 get ENOSYS so programs fall back`, () => {
      const c = compile('default', arch);
      for (const name of ['io_uring_setup', 'io_uring_enter', 'io_uring_register', 'clone3']) {
        assert.equal(run(c, name), ENOSYS, name);
      }
    });

    it(`${arch}: clone with any namespace flag is EPERM, thread and fork clones are allowed`, () => {
      const c = compile('default', arch);
      assert.equal(run(c, 'clone', [CLONE_THREAD_FLAGS]), ALLOW);
      assert.equal(run(c, 'clone', [0x01200011]), ALLOW); // fork(): CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
      assert.equal(run(c, 'clone', [0x4111]), ALLOW); // posix_spawn: VM|VFORK|SIGCHLD
      for (const flag of [0x80, 0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000]) {
        assert.equal(run(c, 'clone', [flag | 0x11]), EPERM, `flag 0x${flag.toString(16)}`);
      }
      assert.equal(run(c, 'clone', [CLONE_NEWUSER | CLONE_THREAD_FLAGS]), EPERM);
      // The kernel truncates clone flags to 32 bits; high bits change nothing.
      assert.equal(run(c, 'clone', [0xffff_ffff_0000_0011n]), ALLOW);
    });

    it(`${arch}: ioctls that change an inherited terminal's state are EPERM, using one is allowed`, () => {
      const c = compile('default', arch);
      for (const [name, request] of TTY_DENIED) {
        assert.equal(run(c, 'ioctl', [0, request]), EPERM, name);
        assert.equal(run(c, 'ioctl', [0xffffffffn, request]), EPERM, `${name} on any fd`);
        assert.equal(run(c, 'ioctl', [0, 0xffff_ffff_0000_0000n + BigInt(request)]), EPERM, `${name}: cmd is an unsigned int, high word ignored`);
      }
      for (const [name, request] of TTY_ALLOWED) assert.equal(run(c, 'ioctl', [0, request]), ALLOW, name);
      assert.equal(run(c, 'ioctl', [0x5412, 0x5421]), ALLOW, 'only the request argument is checked');
    });

    it(`${arch}: personality allows only the query and PER_LINUX`, () => {
      const c = compile('default', arch);
      assert.equal(run(c, 'personality', [0xffffffff]), ALLOW);
      assert.equal(run(c, 'personality', [0]), ALLOW);
      assert.equal(run(c, 'personality', [0x0040000]), EPERM); // ADDR_NO_RANDOMIZE
      assert.equal(run(c, 'personality', [0x0400000]), EPERM); // READ_IMPLIES_EXEC
    });
  }
});

const UNIX_ON: Extra = { unixSockets: true };

describe('seccomp: socket families', () => {
  for (const arch of ARCHES) {
    it(`${arch} net=none, unix sockets granted: only AF_UNIX`, () => {
      const c = compile('default', arch, 'none', UNIX_ON);
      assert.equal(c.unixSockets, true);
      assert.equal(run(c, 'socket', [AF_INET, SOCK_STREAM, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'socket', [AF_INET6, SOCK_DGRAM, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'socket', [AF_NETLINK, SOCK_RAW, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'socket', [AF_PACKET, SOCK_RAW, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'socket', [AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0]), ALLOW);
      assert.equal(run(c, 'socket', [AF_UNIX, SOCK_DGRAM, 0]), ALLOW);
      assert.equal(run(c, 'socket', [0x1_0000_0001n, SOCK_STREAM, 0]), ALLOW, 'domain is an int: high word ignored');
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_STREAM, 0]), ALLOW);
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_DGRAM, 0]), ALLOW);
      assert.equal(run(c, 'socketpair', [AF_INET, SOCK_STREAM, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'connect'), ALLOW);
    });

    it(`${arch} net=none (unix sockets not granted, the default): no socket at all, stream and seqpacket pairs only`, () => {
      const c = compile('default', arch, 'none');
      assert.equal(c.unixSockets, false);
      for (const type of [SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK]) {
        assert.equal(run(c, 'socket', [AF_UNIX, type, 0]), EAFNOSUPPORT, `AF_UNIX type ${type}`);
      }
      assert.equal(run(c, 'socket', [0x1_0000_0001n, SOCK_STREAM, 0]), EAFNOSUPPORT, 'high word ignored');
      assert.equal(run(c, 'socket', [AF_INET, SOCK_STREAM, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'socket', [AF_NETLINK, SOCK_RAW, 0]), EAFNOSUPPORT);
      // A program's own pipes: socketpair stream and seqpacket, with any flags.
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0]), ALLOW);
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0]), ALLOW);
      // A datagram socket can be connect()ed again or sendto() a host path: no datagram pairs.
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_DGRAM, 0]), EACCES);
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0]), EACCES);
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_RAW, 0]), EACCES);
      assert.equal(run(c, 'socketpair', [AF_UNIX, 10 /* SOCK_PACKET */, 0]), EACCES);
      assert.equal(run(c, 'socketpair', [AF_INET, SOCK_STREAM, 0]), EAFNOSUPPORT);
      // connect/sendto/sendmsg are not filtered: without a socket() of its own the program has nothing to point at a path.
      assert.equal(run(c, 'connect'), ALLOW);
      assert.equal(run(c, 'sendmsg'), ALLOW);
    });

    it(`${arch} net=tcp: AF_UNIX (when granted) plus TCP over AF_INET/AF_INET6, no UDP, raw or packet`, () => {
      for (const extra of [UNIX_ON, {}]) {
        const c = compile('default', arch, 'tcp', extra);
        const unix = extra.unixSockets === true ? ALLOW : EAFNOSUPPORT;
        assert.equal(run(c, 'socket', [AF_INET, SOCK_STREAM, 0]), ALLOW);
        assert.equal(run(c, 'socket', [AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP]), ALLOW);
        assert.equal(run(c, 'socket', [AF_INET, SOCK_DGRAM, 0]), EACCES);
        assert.equal(run(c, 'socket', [AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP]), EACCES);
        assert.equal(run(c, 'socket', [AF_INET, SOCK_RAW, 1]), EACCES);
        assert.equal(run(c, 'socket', [AF_INET, SOCK_STREAM, 262 /* MPTCP */]), EACCES);
        assert.equal(run(c, 'socket', [AF_PACKET, SOCK_RAW, 0]), EAFNOSUPPORT);
        assert.equal(run(c, 'socket', [AF_NETLINK, SOCK_DGRAM, 0]), EAFNOSUPPORT);
        assert.equal(run(c, 'socket', [AF_UNIX, SOCK_DGRAM, 0]), unix);
        assert.equal(run(c, 'socket', [AF_UNIX, SOCK_STREAM, 0]), unix);
        assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_SEQPACKET, 0]), ALLOW);
        assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_DGRAM, 0]), extra.unixSockets === true ? ALLOW : EACCES);
        assert.equal(run(c, 'socketpair', [AF_INET, SOCK_STREAM, 0]), EAFNOSUPPORT);
      }
    });

    it(`${arch} net=host: unix sockets stay the caller's separate choice`, () => {
      const granted = compile('default', arch, 'host', UNIX_ON);
      for (const args of [[AF_INET, SOCK_DGRAM, 0], [AF_PACKET, SOCK_RAW, 0], [AF_NETLINK, SOCK_RAW, 0], [AF_UNIX, SOCK_STREAM, 0]]) {
        assert.equal(run(granted, 'socket', args), ALLOW);
      }
      assert.ok(!granted.rules.some((r) => r.syscall === 'socket' || r.syscall === 'socketpair'));

      const c = compile('default', arch, 'host');
      for (const args of [[AF_INET, SOCK_DGRAM, 0], [AF_INET6, SOCK_STREAM, 0], [AF_PACKET, SOCK_RAW, 0], [AF_NETLINK, SOCK_RAW, 0]]) {
        assert.equal(run(c, 'socket', args), ALLOW);
      }
      assert.equal(run(c, 'socket', [AF_UNIX, SOCK_STREAM, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'socket', [AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_STREAM, 0]), ALLOW);
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_DGRAM, 0]), EACCES);
      assert.equal(run(c, 'socketpair', [AF_INET, SOCK_STREAM, 0]), ALLOW, 'net host: socketpair of other families is the kernel\'s business');
    });

    it(`${arch}: strict keeps the unix socket rules`, () => {
      const c = compile('strict', arch, 'none');
      assert.equal(run(c, 'socket', [AF_UNIX, SOCK_STREAM, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_STREAM, 0]), ALLOW);
      assert.equal(run(c, 'socketpair', [AF_UNIX, SOCK_DGRAM, 0]), EACCES);
      const granted = compile('strict', arch, 'none', UNIX_ON);
      assert.equal(run(granted, 'socket', [AF_UNIX, SOCK_STREAM, 0]), ALLOW);
      assert.equal(run(granted, 'socketpair', [AF_UNIX, SOCK_DGRAM, 0]), ALLOW);
    });
  }

  it('socketcall does not exist on either native ABI; the ABIs that have it are killed by the arch check', () => {
    for (const arch of ARCHES) assert.equal(syscallNumber('socketcall', arch), undefined);
    const x86 = compile('default', 'x86_64', 'none');
    const arm = compile('default', 'aarch64', 'none');
    assert.equal(runNr(x86, 102 /* i386 socketcall */, [1 /* SYS_SOCKET */, 0], 0x40000003 /* AUDIT_ARCH_I386 */), KILL);
    assert.equal(runNr(x86, 359 /* i386 socket */, [AF_UNIX, SOCK_STREAM, 0], 0x40000003), KILL);
    assert.equal(runNr(x86, 0x40000000 + 41 /* x32 socket */, [AF_UNIX, SOCK_STREAM, 0]), KILL);
    assert.equal(runNr(arm, 102 /* arm socketcall slot */, [1, 0], 0x40000028 /* AUDIT_ARCH_ARM */), KILL);
    assert.equal(runNr(arm, 281 /* arm EABI socket */, [AF_UNIX, SOCK_STREAM, 0], 0x40000028), KILL);
  });

  it('rejects non-boolean options', () => {
    assert.throws(() => compileSeccomp('default', { net: 'none', unixSockets: 'yes' as unknown as boolean }), TypeError);
    assert.throws(() => compileSeccomp('default', { net: 'none', lockProcessGroup: 1 as unknown as boolean }), TypeError);
  });
});

describe('seccomp: process group lock', () => {
  for (const arch of ARCHES) {
    it(`${arch}: off by default; on, setsid and setpgid are EPERM and the rest of the profile is unchanged`, () => {
      const off = compile('default', arch);
      assert.equal(off.lockProcessGroup, false);
      assert.equal(run(off, 'setsid'), ALLOW);
      assert.equal(run(off, 'setpgid', [0, 0]), ALLOW);
      const on = compile('default', arch, 'none', { lockProcessGroup: true });
      assert.equal(on.lockProcessGroup, true);
      assert.equal(run(on, 'setsid'), EPERM);
      assert.equal(run(on, 'setpgid', [0, 0]), EPERM);
      assert.equal(run(on, 'setpgid', [2, 2]), EPERM, 'a child\'s group too (job-control shells)');
      for (const name of ['getpgid', 'getsid', 'kill', 'read', 'wait4']) assert.equal(run(on, name), ALLOW, name);
      // TIOCSPGRP moves the terminal's foreground group, not a process: not a way out, and needs a controlling tty.
      assert.equal(run(on, 'ioctl', [0, 0x5410]), ALLOW);
      assert.equal(run(on, 'ptrace'), EPERM);
      const rest = (c: CompiledSeccomp) => c.rules.filter((r) => r.syscall !== 'setsid' && r.syscall !== 'setpgid');
      assert.deepEqual(rest(on), rest(off));
    });

    it(`${arch}: strict's allowlist gives way to the lock`, () => {
      assert.equal(run(compile('strict', arch), 'setsid'), ALLOW);
      const c = compile('strict', arch, 'none', { lockProcessGroup: true });
      assert.equal(run(c, 'setsid'), EPERM);
      assert.equal(run(c, 'setpgid'), EPERM);
      assert.equal(run(c, 'getpgrp' in (arch === 'x86_64' ? X86_64_SYSCALLS : AARCH64_SYSCALLS) ? 'getpgrp' : 'getpgid'), ALLOW);
    });
  }

  it('a custom allow cannot undo the lock, a custom deny is fine', () => {
    for (const name of ['setsid', 'setpgid']) {
      assert.throws(() => compileSeccomp({ allow: [name] }, { arch: 'x86_64', net: 'none', lockProcessGroup: true }), {
        name: 'RangeError',
        code: 'INVALID_OPTION',
        option: 'sandbox.seccomp.allow[0]',
        message: `options.sandbox.seccomp.allow[0] "${name}" cannot be allowed without a pid namespace: the process group is how the sandbox's processes are ended`,
      });
      const unlocked = compile({ allow: [name] }, 'x86_64');
      assert.equal(run(unlocked, name), ALLOW);
    }
    const c = compile({ deny: ['setsid'] }, 'aarch64', 'none', { lockProcessGroup: true });
    assert.equal(run(c, 'setsid'), EPERM);
    assert.equal(run(c, 'setpgid'), EPERM);
  });
});

describe('seccomp: other processes\' limits and priority, where there is no pid namespace (lockOtherProcesses)', () => {
  const PRIO_PROCESS = 0;
  const PRIO_PGRP = 1;
  const PRIO_USER = 2;
  for (const arch of ARCHES) {
    it(`${arch}: off by default; on, prlimit64, setpriority, ioprio_set and sched_set* reach the caller only, and the rest is unchanged`, () => {
      const off = compile('default', arch);
      assert.equal(off.lockOtherProcesses, false);
      assert.equal(run(off, 'prlimit64', [1234, 0]), ALLOW);
      const on = compile('default', arch, 'none', { lockOtherProcesses: true });
      assert.equal(on.lockOtherProcesses, true);
      for (const name of ['prlimit64', 'sched_setscheduler', 'sched_setparam', 'sched_setattr']) {
        assert.equal(run(on, name, [0]), ALLOW, `${name}(0)`);
        assert.equal(run(on, name, [1234]), EPERM, `${name}(1234)`);
      }
      assert.equal(run(on, 'setpriority', [PRIO_PROCESS, 0]), ALLOW);
      assert.equal(run(on, 'setpriority', [PRIO_PGRP, 0]), ALLOW);
      assert.equal(run(on, 'setpriority', [PRIO_PROCESS, 1234]), EPERM);
      assert.equal(run(on, 'setpriority', [PRIO_USER, 0]), EPERM, 'every process of the uid');
      assert.equal(run(on, 'ioprio_set', [1, 0]), ALLOW);
      assert.equal(run(on, 'ioprio_set', [1, 1234]), EPERM);
      assert.equal(run(on, 'ioprio_set', [3, 0]), EPERM, 'IOPRIO_WHO_USER');
      for (const name of ['getpriority', 'sched_getscheduler', 'ioprio_get', 'sched_setaffinity', 'read']) assert.equal(run(on, name, [1234]), ALLOW, name);
      const locked = new Set(['prlimit64', 'setpriority', 'ioprio_set', 'sched_setscheduler', 'sched_setparam', 'sched_setattr']);
      const rest = (c: CompiledSeccomp) => c.rules.filter((r) => !locked.has(r.syscall));
      assert.deepEqual(rest(on), rest(off));
    });

    it(`${arch}: strict keeps what it refuses refused, and filters what it allows`, () => {
      const plain = compile('strict', arch);
      const c = compile('strict', arch, 'none', { lockOtherProcesses: true });
      for (const name of ['prlimit64', 'setpriority', 'sched_setscheduler']) {
        const before = run(plain, name, [0, 0]);
        if (before === ALLOW) {
          assert.equal(run(c, name, [0, 0]), ALLOW, name);
          assert.equal(run(c, name, [1234, 1234]), EPERM, name);
        } else assert.equal(run(c, name, [0, 0]), before, name);
      }
    });
  }

  it('a custom allow cannot undo the lock, a custom deny stays a deny', () => {
    assert.throws(() => compileSeccomp({ allow: ['prlimit64'] }, { arch: 'x86_64', net: 'none', lockOtherProcesses: true }), {
      name: 'RangeError',
      code: 'INVALID_OPTION',
      option: 'sandbox.seccomp.allow[0]',
      message: /"prlimit64" cannot be allowed without a pid namespace: it may change the limits or priority of any process of the same uid/,
    });
    const c = compile({ deny: ['setpriority'] }, 'x86_64', 'none', { lockOtherProcesses: true });
    assert.equal(run(c, 'setpriority', [PRIO_PROCESS, 0]), EPERM);
    assert.throws(() => compileSeccomp('default', { net: 'none', lockOtherProcesses: 1 as unknown as boolean }), TypeError);
  });
});

describe('seccomp: host IPC refused where there is no IPC namespace (denyHostIpc)', () => {
  const IPC = ['shmget', 'shmat', 'shmctl', 'semget', 'semop', 'semtimedop', 'semctl', 'msgget', 'msgsnd', 'msgrcv', 'msgctl', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr'];
  for (const arch of ARCHES) {
    it(`${arch}: off by default; on, every System V IPC and message-queue call is EPERM and the rest is unchanged`, () => {
      const off = compile('default', arch);
      assert.equal(off.denyHostIpc, false);
      for (const name of IPC) assert.equal(run(off, name), ALLOW, name);
      const on = compile('default', arch, 'none', { denyHostIpc: true });
      assert.equal(on.denyHostIpc, true);
      for (const name of IPC) assert.equal(run(on, name), EPERM, name);
      // Letting go of a mapping is no object of the namespace's.
      assert.equal(run(on, 'shmdt'), ALLOW);
      const rest = (c: CompiledSeccomp) => c.rules.filter((r) => !IPC.includes(r.syscall));
      assert.deepEqual(rest(on), rest(off));
      assert.match(explainSeccomp(on), /host IPC: refused/);
    });
    it(`${arch}: strict's allowlist gives way to it`, () => {
      const c = compile('strict', arch, 'none', { denyHostIpc: true });
      for (const name of IPC) assert.equal(run(c, name), EPERM, name);
    });
  }

  it('a custom allow cannot undo it; without it, the allow stands', () => {
    assert.throws(() => compileSeccomp({ allow: ['read', 'shmget'] }, { arch: 'x86_64', net: 'none', denyHostIpc: true }), {
      name: 'RangeError',
      code: 'INVALID_OPTION',
      option: 'sandbox.seccomp.allow[1]',
      message: 'options.sandbox.seccomp.allow[1] "shmget" cannot be allowed without an IPC namespace: its objects would be the host\'s and outlive the operation',
    });
    assert.equal(run(compile({ allow: ['shmget'] }, 'x86_64'), 'shmget'), ALLOW);
    assert.throws(() => compileSeccomp('default', { arch: 'x86_64', net: 'none', denyHostIpc: 1 as unknown as boolean }), TypeError);
  });
});

describe("seccomp: 'strict' profile", () => {
  for (const arch of ARCHES) {
    it(`${arch}: allowlist for ordinary programs, ENOSYS for the rest, EPERM for the dangerous`, () => {
      const c = compile('strict', arch);
      assert.equal(c.mode, 'strict');
      assert.deepEqual(c.defaultAction, { type: 'errno', errno: 'ENOSYS' });
      for (const name of ['read', 'write', 'execve', 'openat', 'close', 'mmap', 'mprotect', 'futex', 'wait4',
        'pipe2', 'epoll_pwait', 'rt_sigaction', 'getrandom', 'rseq', 'prlimit64', 'statx', 'newfstatat',
        'getdents64', 'readlinkat', 'sched_getaffinity', 'eventfd2', 'timerfd_create', 'exit_group']) {
        assert.equal(run(c, name), ALLOW, name);
      }
      assert.equal(run(c, 'mount'), EPERM);
      assert.equal(run(c, 'ptrace'), EPERM);
      // The default profile's denials keep their EPERM under strict.
      for (const name of ['kcmp', 'pidfd_getfd', 'process_madvise', 'move_pages', 'fanotify_init']) {
        assert.equal(run(c, name), EPERM, name);
      }
      for (const name of ['mbind', 'shmget', 'io_setup', 'fanotify_mark', 'lsm_set_self_attr']) {
        assert.equal(run(c, name), ENOSYS, name);
      }
      assert.equal(run(c, 'ioctl', [1, 0x540c /* TIOCEXCL */]), EPERM);
      assert.equal(run(c, 'ioctl', [1, 0x5414 /* TIOCSWINSZ */]), EPERM);
      assert.equal(run(c, 'ioctl', [1, 0x5402 /* TCSETS */]), ALLOW);
      assert.equal(runNr(c, 999), ENOSYS);
      assert.equal(run(c, 'clone3'), ENOSYS);
      assert.equal(run(c, 'io_uring_setup'), ENOSYS);
    });

    it(`${arch}: keeps the argument filters and allows what passes them`, () => {
      const c = compile('strict', arch, 'tcp');
      assert.equal(run(c, 'socket', [AF_INET, SOCK_STREAM, 0]), ALLOW);
      assert.equal(run(c, 'socket', [AF_INET, SOCK_DGRAM, 0]), EACCES);
      assert.equal(run(c, 'socket', [AF_PACKET, SOCK_RAW, 0]), EAFNOSUPPORT);
      assert.equal(run(c, 'clone', [CLONE_THREAD_FLAGS]), ALLOW);
      assert.equal(run(c, 'clone', [CLONE_NEWUSER | 0x11]), EPERM);
      assert.equal(run(c, 'ioctl', [0, 0x5412]), EPERM);
      assert.equal(run(c, 'ioctl', [0, 0x5401]), ALLOW);
      assert.equal(run(c, 'personality', [0xffffffff]), ALLOW);
      assert.equal(run(c, 'personality', [8]), EPERM);
      const host = compile('strict', arch, 'host');
      assert.equal(run(host, 'socket', [AF_PACKET, SOCK_RAW, 0]), ALLOW);
    });
  }

  it('x86_64: legacy calls used by coreutils/bash are allowed', () => {
    const c = compile('strict', 'x86_64');
    for (const name of ['open', 'stat', 'lstat', 'access', 'pipe', 'dup2', 'fork', 'vfork', 'poll', 'select',
      'getdents', 'readlink', 'arch_prctl', 'getpgrp']) {
      assert.equal(run(c, name), ALLOW, name);
    }
  });
});

describe('seccomp: custom policy', () => {
  it('adds EPERM denies and removes default ones', () => {
    const c = compile({ deny: ['chmod', 'fchmodat'], allow: ['ptrace'] }, 'x86_64');
    assert.equal(c.mode, 'custom');
    assert.equal(run(c, 'chmod'), EPERM);
    assert.equal(run(c, 'fchmodat'), EPERM);
    assert.equal(run(c, 'fchmod'), ALLOW);
    assert.equal(run(c, 'ptrace'), ALLOW);
    assert.equal(run(c, 'mount'), EPERM, 'the rest of the default profile stays');
    assert.equal(run(c, 'clone3'), ENOSYS);
  });

  it('allowing an argument-filtered syscall removes its filter; denying one replaces it', () => {
    const c = compile({ allow: ['ioctl'], deny: ['socket'] }, 'aarch64', 'host');
    assert.equal(run(c, 'ioctl', [0, 0x5412]), ALLOW);
    assert.equal(run(c, 'socket', [AF_UNIX, SOCK_STREAM, 0]), EPERM);
  });

  it('an empty object is the default profile', () => {
    const a = compile({}, 'x86_64');
    const b = compile('default', 'x86_64');
    assert.deepEqual(a.program, b.program);
    assert.equal(a.mode, 'custom');
  });

  it('a huge deny list still keeps every jump in range', () => {
    const keep = new Set(['read', 'write', 'exit_group', 'execve']);
    for (const arch of ARCHES) {
      const deny = knownSyscalls(arch).filter((n) => !keep.has(n));
      const c = compile({ deny }, arch);
      const insns = decodeProgram(c.program);
      assert.deepEqual(validateProgram(insns), []);
      checkJumps(insns);
      assert.equal(run(c, 'read'), ALLOW);
      assert.equal(run(c, 'write'), ALLOW);
      for (const name of deny) assert.equal(run(c, name), EPERM, name);
    }
  });

  it('unknown names throw a TypeError naming the option and the name', () => {
    assert.throws(() => compileSeccomp({ deny: ['fooo'] }, { arch: 'x86_64', net: 'none' }), {
      name: 'TypeError',
      code: 'INVALID_OPTION',
      option: 'sandbox.seccomp.deny[0]',
      message: 'options.sandbox.seccomp.deny[0] unknown syscall "fooo" on x86_64',
    });
    assert.throws(() => compileSeccomp({ allow: ['read', 'bar'] }, { arch: 'aarch64', net: 'none' }), {
      name: 'TypeError',
      code: 'INVALID_OPTION',
      option: 'sandbox.seccomp.allow[1]',
      message: 'options.sandbox.seccomp.allow[1] unknown syscall "bar" on aarch64',
    });
    // arm64 has no open(2): a name must exist on the target architecture.
    assert.throws(() => compileSeccomp({ deny: ['open'] }, { arch: 'aarch64', net: 'none' }), /unknown syscall "open" on aarch64/);
    // Object.prototype names are not syscalls.
    assert.throws(() => compileSeccomp({ deny: ['constructor'] }, { arch: 'x86_64', net: 'none' }), TypeError);
    assert.throws(() => compileSeccomp({ deny: ['__proto__'] }, { arch: 'x86_64', net: 'none' }), TypeError);
  });

  it('rejects malformed policies', () => {
    const bad = (p: unknown): SeccompPolicy => p as SeccompPolicy;
    assert.throws(() => compileSeccomp(bad('lenient'), { net: 'none' }), TypeError);
    assert.throws(() => compileSeccomp(bad(null), { net: 'none' }), TypeError);
    assert.throws(() => compileSeccomp(bad({ denny: ['ptrace'] }), { net: 'none' }), /unknown option "denny"/);
    assert.throws(() => compileSeccomp(bad({ deny: 'ptrace' }), { net: 'none' }), TypeError);
    assert.throws(() => compileSeccomp(bad({ deny: [1] }), { net: 'none' }), /deny\[0\] must be a string/);
    assert.throws(() => compileSeccomp({ deny: ['chmod'], allow: ['chmod'] }, { arch: 'x86_64', net: 'none' }),
      RangeError);
    assert.throws(() => compileSeccomp('default', { net: 'lan' as SeccompNet }), TypeError);
    assert.throws(() => compileSeccomp('default', { arch: 'riscv64' as SeccompArch, net: 'none' }), TypeError);
  });
});

describe('seccomp: the pid-namespace init\'s filter', () => {
  // What native/child.c's init calls after clone() (see compileInitSeccomp); exact, so a change on either side shows.
  const INIT_CALLS = ['rt_sigtimedwait', 'wait4', 'kill', 'write', 'statfs', 'getrusage', 'rt_sigaction', 'close_range', 'exit_group', 'exit',
    'close', 'rt_sigprocmask', 'rt_sigreturn', 'restart_syscall', 'clock_gettime'];

  for (const arch of ARCHES) {
    it(`${arch}: a valid allowlist whose default kills the process`, () => {
      const c = compileInitSeccomp(arch);
      const insns = decodeProgram(c.program);
      assert.deepEqual(validateProgram(insns), []);
      checkJumps(insns);
      assert.equal(c.instructionCount, insns.length);
      assert.equal(c.program.length, insns.length * 8);
      assert.ok(insns.length < 64, `small (${insns.length})`);
      assert.deepEqual(c.defaultAction, { type: 'kill' });
      assert.deepEqual(c.rules.map((r) => r.syscall).sort(), [...INIT_CALLS].sort());
      assert.ok(c.rules.every((r) => r.action.type === 'allow' && r.when === undefined));
      assert.deepEqual(initSeccompSyscalls().map(([n]) => n).sort(), [...INIT_CALLS].sort());
    });

    it(`${arch}: the init's calls pass, with any arguments`, () => {
      const c = compileInitSeccomp(arch);
      for (const name of INIT_CALLS) {
        for (const args of [[], [-1, 15], [0xffff_ffff_ffff_ffffn, 0xffff_ffffn, 1]]) {
          assert.equal(run(c as unknown as CompiledSeccomp, name, args), ALLOW, `${name}(${args.join(', ')})`);
        }
      }
    });

    it(`${arch}: everything else kills: exec, files, sockets, ptrace, memory, new processes, seccomp itself`, () => {
      const c = compileInitSeccomp(arch);
      const table = arch === 'x86_64' ? X86_64_SYSCALLS : AARCH64_SYSCALLS;
      for (const name of ['execve', 'execveat', 'openat', 'openat2', 'socket', 'socketpair', 'connect', 'ptrace',
        'process_vm_writev', 'mmap', 'mprotect', 'clone', 'clone3', 'read', 'ioctl', 'prctl', 'seccomp', 'setsid',
        'unshare', 'setns', 'mount', 'bpf', 'io_uring_setup', 'getpid', 'tgkill', 'pidfd_open', 'waitid',
        'rt_sigqueueinfo', 'memfd_create', 'dup3', 'fcntl', 'personality']) {
        assert.equal(run(c as unknown as CompiledSeccomp, name), KILL, name);
      }
      if ('open' in table) assert.equal(run(c as unknown as CompiledSeccomp, 'open'), KILL);
      // Every known syscall outside the list, and numbers no table names.
      const allowed = new Set(INIT_CALLS.map((n) => syscallNumber(n, arch)));
      for (const name of knownSyscalls(arch)) {
        const nr = syscallNumber(name, arch)!;
        assert.equal(runNr(c, nr), allowed.has(nr) ? ALLOW : KILL, name);
      }
      for (const nr of [471, 999, 0x3fffffff]) assert.equal(runNr(c, nr), KILL);
    });

    it(`${arch}: another audit arch${arch === 'x86_64' ? ' or the x32 ABI' : ''} is killed, even for the allowed calls`, () => {
      const c = compileInitSeccomp(arch);
      const write = syscallNumber('write', arch)!;
      assert.equal(runNr(c, write, [], 0x40000003), KILL);
      assert.equal(runNr(c, write, [], AUDIT_ARCH[arch === 'x86_64' ? 'aarch64' : 'x86_64']), KILL);
      if (arch === 'x86_64') assert.equal(runNr(c, 0x40000000 + write), KILL);
    });
  }

  it('defaults to the running architecture; a fresh copy of the bytes each time', () => {
    const a = compileInitSeccomp();
    assert.equal(a.arch, process.arch === 'arm64' ? 'aarch64' : 'x86_64');
    a.program.fill(0);
    const b = compileInitSeccomp();
    assert.deepEqual(validateProgram(decodeProgram(b.program)), []);
    assert.throws(() => compileInitSeccomp('riscv64' as SeccompArch), TypeError);
  });

  // The interpreter cannot tell which syscalls libc really makes (sigwaitinfo is rt_sigtimedwait, waitpid is
  // wait4, ...): the probe installs the filter on itself after forking a child, as the init does after cloning
  // the program, and makes the init's calls through glibc, unsandboxed.
  const probe = join(packageRoot, 'build', 'Release', 'hatchery-probe');
  const kernelCheck = existsSync(probe) ? false : `${probe} is not built`;

  it('kernel: the init\'s own calls, through glibc, pass the installed filter', { skip: kernelCheck }, async () => {
    const hex = Buffer.from(compileInitSeccomp().program).toString('hex');
    const r = spawnSync(probe, ['init-filter', hex], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, `${r.status} ${r.signal} ${r.stdout} ${r.stderr}`);
    assert.equal(r.stdout, 'filtered\nreaped signal 15\n');
  });

  it('kernel: exec, files, sockets, ptrace, memory and even getpid or read kill the filtered process (SIGSYS)', { skip: kernelCheck }, async () => {
    const hex = Buffer.from(compileInitSeccomp().program).toString('hex');
    try {
      for (const call of ['openat', 'socket', 'execve', 'ptrace', 'getpid', 'mmap', 'read']) {
        const r = spawnSync(probe, ['init-filter', hex, call], { encoding: 'utf8', timeout: 10_000 });
        assert.equal(r.signal, 'SIGSYS', `${call}: ${r.status} ${r.signal} ${r.stdout} ${r.stderr}`);
        assert.equal(r.stdout, 'filtered\n', call);
      }
    } finally {
      // The probe's child dies with it (parent-death signal); wait, so no probe outlives the test.
      const mine = (pid: number): boolean => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('\0init-filter\0');
        } catch {
          return false;
        }
      };
      await waitFor(() => !processes().some((p) => p.comm === 'hatchery-probe' && mine(p.pid)), 5000, 'the filtered probes\' children to be gone');
    }
  });

  it('explain lists each rule with why the init needs it', () => {
    const lines = explainInitSeccomp(compileInitSeccomp('x86_64')).split('\n');
    assert.match(lines[0]!, /^seccomp init filter for x86_64: 15 rules, \d+ BPF instructions$/);
    assert.ok(lines.includes('arch != x86_64 -> kill process'));
    assert.ok(lines.includes('x32 syscall (nr >= 0x40000000) -> kill process'));
    assert.ok(lines.includes('allow rt_sigtimedwait  # waiting for signals in init_loop, and end_namespace_tree\'s bounded waits'));
    assert.ok(lines.includes('allow wait4  # reaping in init_loop and end_namespace_tree, and the exec-failure path'));
    assert.equal(lines[lines.length - 1], 'default: kill process');
    assert.ok(!explainInitSeccomp(compileInitSeccomp('aarch64')).includes('x32'));
  });
});

describe('seccomp: syscall tables', () => {
  it('x86_64 numbers', () => {
    const expected: Record<string, number> = {
      read: 0, write: 1, open: 2, ioctl: 16, socket: 41, clone: 56, fork: 57, execve: 59, ptrace: 101,
      personality: 135, arch_prctl: 158, mount: 165, openat: 257, unshare: 272, setns: 308, bpf: 321, statx: 332,
      rseq: 334, pidfd_send_signal: 424, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
      open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, pidfd_open: 434,
      clone3: 435, close_range: 436, openat2: 437, pidfd_getfd: 438, faccessat2: 439, process_madvise: 440,
      mount_setattr: 442, landlock_create_ruleset: 444, landlock_add_rule: 445, landlock_restrict_self: 446,
      futex_waitv: 449, cachestat: 451, fchmodat2: 452, map_shadow_stack: 453, mseal: 462, open_tree_attr: 467,
      file_setattr: 469,
    };
    for (const [name, nr] of Object.entries(expected)) assert.equal(syscallNumber(name, 'x86_64'), nr, name);
  });

  it('aarch64 numbers (asm-generic)', () => {
    const expected: Record<string, number> = {
      io_setup: 0, getcwd: 17, fcntl: 25, ioctl: 29, mount: 40, openat: 56, close: 57, read: 63, write: 64,
      newfstatat: 79, fstat: 80, personality: 92, unshare: 97, futex: 98, ptrace: 117, socket: 198, socketpair: 199,
      clone: 220, execve: 221, mmap: 222, wait4: 260, prlimit64: 261, renameat2: 276, getrandom: 278, bpf: 280,
      statx: 291, rseq: 293, io_uring_setup: 425, clone3: 435, openat2: 437, landlock_create_ruleset: 444,
      memfd_secret: 447, mseal: 462, file_setattr: 469,
      renameat: 38, getrlimit: 163, setrlimit: 164,
    };
    for (const [name, nr] of Object.entries(expected)) assert.equal(syscallNumber(name, 'aarch64'), nr, name);
    for (const name of ['open', 'stat', 'fork', 'poll', 'select', 'pipe', 'dup2', 'arch_prctl', 'iopl']) {
      assert.equal(syscallNumber(name, 'aarch64'), undefined, name);
    }
  });

  it('tables are one-to-one and knownSyscalls lists them', () => {
    for (const arch of ARCHES) {
      const names = knownSyscalls(arch);
      assert.ok(names.length > 250);
      assert.ok(Object.isFrozen(names));
      const nrs = names.map((n) => syscallNumber(n, arch)!);
      assert.equal(new Set(nrs).size, nrs.length, `${arch}: no two names share a number`);
      assert.ok(nrs.every((n) => Number.isInteger(n) && n >= 0 && n < 1024));
    }
    assert.equal(syscallNumber('hasOwnProperty', 'x86_64'), undefined);
  });

  const header = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
  it('x86_64 table matches the installed kernel header', { skip: !existsSync(header) }, () => {
    let count = 0;
    for (const m of readFileSync(header, 'utf8').matchAll(/^#define __NR_(\w+) (\d+)$/gm)) {
      assert.equal(syscallNumber(m[1]!, 'x86_64'), Number(m[2]), m[1]);
      count++;
    }
    assert.ok(count > 300);
  });
});

describe('seccomp: explain', () => {
  it('default profile, net none', () => {
    const text = explainSeccomp(compile('default', 'x86_64', 'none'));
    const lines = text.split('\n');
    for (const line of [
      'arch != x86_64 -> kill process',
      'x32 syscall (nr >= 0x40000000) -> kill process',
      'deny ptrace -> EPERM',
      'deny mount -> EPERM',
      'unix sockets: refused (no socket(AF_UNIX); socketpair(AF_UNIX) for SOCK_STREAM and SOCK_SEQPACKET only)',
      'process group: not locked',
      'deny socket -> EAFNOSUPPORT',
      'deny socketpair(domain not in {AF_UNIX}) -> EAFNOSUPPORT',
      'deny socketpair(domain in {AF_UNIX} && type & 0xf not in {SOCK_STREAM, SOCK_SEQPACKET}) -> EACCES',
      'deny kcmp -> EPERM',
      'deny pidfd_getfd -> EPERM',
      'deny fanotify_init -> EPERM',
      'deny clone(flags has any of CLONE_NEWTIME|CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|' +
        'CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET) -> EPERM',
      'deny ioctl(request in {TIOCSTI, TIOCLINUX, TIOCEXCL, TIOCNXCL, TIOCSCTTY, TIOCCONS, TIOCSETD, TIOCVHANGUP, ' +
        'TIOCSWINSZ, TCXONC, TIOCSLCKTRMIOS, TIOCSIG, TIOCSSERIAL, TIOCMSET, TIOCMBIS, TIOCMBIC, TIOCSSOFTCAR, ' +
        'TIOCSBRK, TIOCCBRK}) -> EPERM',
      'allow personality(persona in {PER_LINUX, 0xffffffff})',
      'deny personality -> EPERM',
      'deny clone3 -> ENOSYS',
      'deny io_uring_setup -> ENOSYS',
      'default: allow',
    ]) {
      assert.ok(lines.includes(line), `missing line: ${line}\n${text}`);
    }
    assert.equal(lines[lines.length - 1], 'default: allow');
    assert.match(lines[0]!, /^seccomp default profile for x86_64, net none: \d+ rules, \d+ BPF instructions$/);
    assert.ok(!lines.some((l) => /setsid|setpgid/.test(l)));
  });

  it('unix sockets granted and the process group locked', () => {
    const lines = explainSeccomp(compile('default', 'x86_64', 'none', { unixSockets: true, lockProcessGroup: true })).split('\n');
    for (const line of [
      'unix sockets: allowed (as net allows)',
      'process group: locked (setsid and setpgid refused)',
      'deny socket(domain not in {AF_UNIX}) -> EAFNOSUPPORT',
      'deny socketpair(domain not in {AF_UNIX}) -> EAFNOSUPPORT',
      'deny setsid -> EPERM',
      'deny setpgid -> EPERM',
    ]) {
      assert.ok(lines.includes(line), `missing line: ${line}`);
    }
    assert.ok(!lines.some((l) => l.includes('SOCK_SEQPACKET')));
    const host = explainSeccomp(compile('default', 'aarch64', 'host')).split('\n');
    assert.ok(host.includes('deny socket(domain in {AF_UNIX}) -> EAFNOSUPPORT'));
  });

  it('strict profile, net tcp', () => {
    const lines = explainSeccomp(compile('strict', 'aarch64', 'tcp')).split('\n');
    for (const line of [
      'arch != aarch64 -> kill process',
      'allow read',
      'allow execve',
      'deny mount -> EPERM',
      'deny socket(domain not in {AF_INET, AF_INET6}) -> EAFNOSUPPORT',
      'deny socket(domain in {AF_INET, AF_INET6} && type & 0xf not in {SOCK_STREAM}) -> EACCES',
      'deny socket(domain in {AF_INET, AF_INET6} && protocol not in {0, IPPROTO_TCP}) -> EACCES',
      'allow socket',
      'default: ENOSYS',
    ]) {
      assert.ok(lines.includes(line), `missing line: ${line}`);
    }
  });

  it('custom additions show up', () => {
    const text = explainSeccomp(compile({ deny: ['chmod'], allow: ['ptrace'] }, 'x86_64'));
    assert.match(text, /^deny chmod -> EPERM$/m);
    assert.doesNotMatch(text, /ptrace/);
    assert.match(text, /^seccomp custom profile/);
  });
});

describe('seccomp: golden bytes', () => {
  const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
  const rule = (syscall: string, nr: number, action: SeccompAction) => ({ syscall, nr, action });
  const eperm: SeccompAction = { type: 'errno', errno: 'EPERM' };

  it('x86_64: deny ptrace, default allow', () => {
    const insns = assembleSeccomp('x86_64', [rule('ptrace', 101, eperm)], { type: 'allow' });
    assert.equal(hex(encodeProgram(insns)), [
      '2000000004000000', // ld [4]                  arch
      '150001003e0000c0', // jeq #0xc000003e, +1, +0
      '0600000000000080', // ret #KILL_PROCESS
      '2000000000000000', // ld [0]                  nr
      '3500000100000040', // jge #0x40000000, +0, +1
      '0600000000000080', // ret #KILL_PROCESS
      '3500000165000000', // jge #101, +0, +1       ranges [0,100] allow | [101] EPERM, [102,...] allow
      '3500000166000000', // jge #102, +0, +1
      '060000000000ff7f', // ret #ALLOW              (shared by both allow ranges)
      '0600000001000500', // ret #ERRNO(EPERM)
    ].join(''));
  });

  it('aarch64: two denies share one RET, default ENOSYS', () => {
    const insns = assembleSeccomp('aarch64', [rule('ptrace', 117, eperm), rule('bpf', 280, eperm)],
      { type: 'errno', errno: 'ENOSYS' });
    assert.equal(hex(encodeProgram(insns)), [
      '2000000004000000', // ld [4]
      '15000100b70000c0', // jeq #0xc00000b7, +1, +0
      '0600000000000080', // ret #KILL_PROCESS
      '2000000000000000', // ld [0]
      '3500010076000000', // jge #118, +1, +0       [0,116] [117] | [118,279] [280] [281,...]
      '3500030275000000', // jge #117, +3, +2
      '3500000118010000', // jge #280, +0, +1
      '3500000119010000', // jge #281, +0, +1
      '0600000026000500', // ret #ERRNO(ENOSYS)
      '0600000001000500', // ret #ERRNO(EPERM)
    ].join(''));
  });

  it('x86_64: an argument filter', () => {
    const insns = assembleSeccomp('x86_64', [{
      syscall: 'socket',
      nr: 41,
      when: [{ arg: 0, argName: 'domain', op: 'notIn', values: [1], valueNames: ['AF_UNIX'] }],
      action: { type: 'errno', errno: 'EAFNOSUPPORT' },
    }], { type: 'allow' });
    assert.equal(hex(encodeProgram(insns)), [
      '2000000004000000', '150001003e0000c0', '0600000000000080', '2000000000000000', '3500000100000040',
      '0600000000000080',
      '3500000529000000', // jge #41, +0, +5        below socket: the default
      '350004002a000000', // jge #42, +4, +0        above socket: the default; socket: its block
      '2000000010000000', // ld [16]                args[0] low word
      '1500010001000000', // jeq #AF_UNIX, +1, +0   (in the set: rule does not apply)
      '0600000061000500', // ret #ERRNO(EAFNOSUPPORT)
      '060000000000ff7f', // ret #ALLOW             (socket's fall-through: the default)
      '060000000000ff7f', // ret #ALLOW             (the default ranges' shared RET)
    ].join(''));
  });
});

describe('bpf: encoder, validator and interpreter', () => {
  it('encodes struct sock_filter little endian', () => {
    assert.equal(Buffer.from(encodeProgram([jump(BPF_JMP | BPF_JEQ | BPF_K, 0x11223344, 7, 9)])).toString('hex'),
      '1500070944332211');
    assert.throws(() => encodeProgram([jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 256, 0)]), RangeError);
    assert.throws(() => decodeProgram(new Uint8Array(7)), RangeError);
  });

  it('validator rejects what the kernel would', () => {
    const ld = stmt(BPF_LD | BPF_W | BPF_ABS, 0);
    const ret = stmt(BPF_RET | BPF_K, ALLOW);
    assert.deepEqual(validateProgram([ld, ret]), []);
    assert.match(validateProgram([]).join(), /empty/);
    assert.match(validateProgram([ld]).join(), /does not end in RET/);
    assert.match(validateProgram([jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ret]).join(), /leaves the program/);
    assert.match(validateProgram([stmt(BPF_LD | BPF_W | BPF_ABS, 2), ret]).join(), /aligned word/);
    assert.match(validateProgram([stmt(BPF_LD | BPF_W | BPF_ABS, 64), ret]).join(), /aligned word/);
    assert.match(validateProgram([stmt(BPF_LD | BPF_W | 0x40 /* IND */, 0), ret]).join(), /not allowed/);
    assert.match(validateProgram([stmt(BPF_JMP | BPF_JA, 1), ret]).join(), /leaves the program/);
    assert.match(validateProgram(new Array(4097).fill(ret)).join(), /max 4096/);
  });

  it('interpreter evaluates loads, ALU and jumps', () => {
    const prog = [
      stmt(BPF_LD | BPF_W | BPF_ABS, 16), // args[0] low
      stmt(BPF_ALU | BPF_AND | BPF_K, 0xf),
      jump(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 1),
      stmt(BPF_RET | BPF_K, 1),
      stmt(BPF_JMP | BPF_JA, 1),
      stmt(BPF_RET | BPF_K, 99), // skipped
      stmt(BPF_RET | BPF_K, 2),
    ];
    assert.deepEqual(validateProgram(prog), []);
    assert.equal(runProgram(prog, { nr: 0, arch: 0, args: [0x13] }), 1);
    assert.equal(runProgram(prog, { nr: 0, arch: 0, args: [0x14] }), 2);
    assert.equal(runProgram(prog, { nr: 0, arch: 0, args: [0xffff_ffff_0000_0013n] }), 1);
  });

  it('assembler refuses jumps beyond 255', () => {
    const asm = new BpfAssembler();
    const far = asm.label();
    asm.jumpIf(BPF_JEQ, 1, far, 'next');
    for (let i = 0; i < 256; i++) asm.ret(0);
    asm.bind(far);
    asm.ret(0);
    assert.throws(() => asm.resolve(), /max 255/);
  });

  /** ld nr; one far conditional jump; `gap` RETs of their index; then RET 1000 at the far label and RET 2000 after. */
  const farProgram = (gap: number, jt: 'far' | 'next' | 'after', jf: 'far' | 'next' | 'after'): BpfInsn[] => {
    const asm = new BpfAssembler();
    const far = asm.label();
    const after = asm.label();
    const pick = (side: 'far' | 'next' | 'after') => (side === 'far' ? far : side === 'after' ? after : 'next');
    asm.loadWord(0);
    asm.jumpIfFar(BPF_JEQ, 1, pick(jt), pick(jf));
    for (let i = 0; i < gap; i++) asm.ret(i);
    asm.bind(far);
    asm.ret(1000);
    asm.bind(after);
    asm.ret(2000);
    return asm.resolve();
  };

  it('jumpIfFar: a near target stays a plain jump', () => {
    const insns = farProgram(255, 'far', 'next');
    assert.equal(insns.length, 259);
    assert.equal(insns[1]!.jt, 255);
    assert.equal(runProgram(insns, { nr: 1, arch: 0 }), 1000);
    assert.equal(runProgram(insns, { nr: 2, arch: 0 }), 0);
  });

  it('jumpIfFar: each side out of u8 reach goes through its own BPF_JA, one shared when both sides go to the same place', () => {
    const ja = (insn: BpfInsn | undefined): number => {
      assert.equal(insn?.code, BPF_JMP | BPF_JA);
      return insn.k;
    };
    // True side far: jeq +0/+1; ja far.
    let insns = farProgram(300, 'far', 'next');
    assert.deepEqual(validateProgram(insns), []);
    assert.deepEqual([insns[1]!.jt, insns[1]!.jf], [0, 1]);
    assert.equal(ja(insns[2]), 300);
    assert.equal(runProgram(insns, { nr: 1, arch: 0 }), 1000);
    assert.equal(runProgram(insns, { nr: 2, arch: 0 }), 0);
    // False side far.
    insns = farProgram(300, 'next', 'after');
    assert.deepEqual(validateProgram(insns), []);
    assert.deepEqual([insns[1]!.jt, insns[1]!.jf], [1, 0]);
    assert.equal(runProgram(insns, { nr: 1, arch: 0 }), 0);
    assert.equal(runProgram(insns, { nr: 2, arch: 0 }), 2000);
    // Both far, to different places: jeq +0/+1; ja far; ja after.
    insns = farProgram(300, 'far', 'after');
    assert.deepEqual(validateProgram(insns), []);
    assert.deepEqual([insns[1]!.jt, insns[1]!.jf], [0, 1]);
    assert.equal(ja(insns[2]), 300 + 1);
    assert.equal(ja(insns[3]), 300 + 1);
    assert.equal(runProgram(insns, { nr: 1, arch: 0 }), 1000);
    assert.equal(runProgram(insns, { nr: 2, arch: 0 }), 2000);
    // Both far, to one place: one trampoline.
    insns = farProgram(300, 'after', 'after');
    assert.deepEqual(validateProgram(insns), []);
    assert.deepEqual([insns[1]!.jt, insns[1]!.jf], [0, 0]);
    assert.equal(ja(insns[2]), 301);
    assert.equal(runProgram(insns, { nr: 1, arch: 0 }), 2000);
    assert.equal(runProgram(insns, { nr: 2, arch: 0 }), 2000);
  });

  it('jumpIfFar: a trampoline that pushes another far jump\'s target out of reach gives that one a trampoline too', () => {
    const asm = new BpfAssembler();
    const outer = asm.label();
    const inner = asm.label();
    asm.loadWord(0);
    asm.jumpIfFar(BPF_JGE, 10, outer, 'next'); // 255 away until the inner jump grows
    asm.jumpIfFar(BPF_JEQ, 5, inner, 'next'); // 300 away
    for (let i = 0; i < 254; i++) asm.ret(i);
    asm.bind(outer);
    asm.ret(1000);
    for (let i = 0; i < 46; i++) asm.ret(i + 254);
    asm.bind(inner);
    asm.ret(2000);
    const insns = asm.resolve();
    assert.deepEqual(validateProgram(insns), []);
    assert.equal(insns.filter((insn) => insn.code === (BPF_JMP | BPF_JA)).length, 2);
    assert.equal(runProgram(insns, { nr: 10, arch: 0 }), 1000);
    assert.equal(runProgram(insns, { nr: 5, arch: 0 }), 2000);
    assert.equal(runProgram(insns, { nr: 4, arch: 0 }), 0);
  });

  it('jumpIfFar still refuses a backward or unbound target', () => {
    const asm = new BpfAssembler();
    const back = asm.here();
    asm.loadWord(0);
    asm.jumpIfFar(BPF_JEQ, 1, back, 'next');
    asm.ret(0);
    assert.throws(() => asm.resolve(), /backwards/);
    const unbound = new BpfAssembler();
    unbound.jumpIfFar(BPF_JEQ, 1, unbound.label(), 'next');
    unbound.ret(0);
    assert.throws(() => unbound.resolve(), /unbound/);
  });
});
