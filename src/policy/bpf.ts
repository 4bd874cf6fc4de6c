/**
 * Classic BPF as the kernel's seccomp filter accepts it: opcode constants,
 * the struct sock_filter encoding, a static validator that mirrors the
 * kernel's checks (bpf_check_classic + seccomp_check_filter), and a small
 * interpreter so tests can run a program against a struct seccomp_data
 * without installing it.
 */

// Instruction classes.
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

// Load sizes and modes.
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;

// ALU operations.
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;

// Jumps.
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

// Operand source / return value source.
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;

// MISC.
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/** BPF_MEMWORDS: scratch memory slots M[0..15]. */
export const BPF_MEMWORDS = 16;
/** BPF_MAXINSNS: the kernel refuses longer classic programs. */
export const BPF_MAXINSNS = 4096;
/** sizeof(struct sock_filter). */
export const SOCK_FILTER_SIZE = 8;

// seccomp return actions (include/uapi/linux/seccomp.h).
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

// struct seccomp_data layout: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_IP = 8;
export const SECCOMP_DATA_ARGS = 16;
export const SECCOMP_DATA_SIZE = 64;

/** Offset of the low (little-endian) 32-bit word of args[index]. */
export function argLowOffset(index: number): number {
  return SECCOMP_DATA_ARGS + 8 * index;
}
/** Offset of the high 32-bit word of args[index]. */
export function argHighOffset(index: number): number {
  return SECCOMP_DATA_ARGS + 8 * index + 4;
}

/** One struct sock_filter. */
export interface BpfInsn {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

export function stmt(code: number, k: number): BpfInsn {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}

export function jump(code: number, k: number, jt: number, jf: number): BpfInsn {
  return { code, jt, jf, k: k >>> 0 };
}

/** Encode instructions as struct sock_filter[]: u16 code, u8 jt, u8 jf, u32 k, little endian. */
export function encodeProgram(insns: readonly BpfInsn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * SOCK_FILTER_SIZE);
  const view = new DataView(bytes.buffer);
  insns.forEach((insn, i) => {
    if (!Number.isInteger(insn.code) || insn.code < 0 || insn.code > 0xffff) {
      throw new RangeError(`bpf: instruction ${i}: code ${insn.code} does not fit in u16`);
    }
    if (!isU8(insn.jt) || !isU8(insn.jf)) {
      throw new RangeError(`bpf: instruction ${i}: jump offset (jt=${insn.jt}, jf=${insn.jf}) does not fit in u8`);
    }
    const o = i * SOCK_FILTER_SIZE;
    view.setUint16(o, insn.code, true);
    view.setUint8(o + 2, insn.jt);
    view.setUint8(o + 3, insn.jf);
    view.setUint32(o + 4, insn.k >>> 0, true);
  });
  return bytes;
}

export function decodeProgram(bytes: Uint8Array): BpfInsn[] {
  if (bytes.length % SOCK_FILTER_SIZE !== 0) {
    throw new RangeError(`bpf: program length ${bytes.length} is not a multiple of ${SOCK_FILTER_SIZE}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const insns: BpfInsn[] = [];
  for (let o = 0; o < bytes.length; o += SOCK_FILTER_SIZE) {
    insns.push({
      code: view.getUint16(o, true),
      jt: view.getUint8(o + 2),
      jf: view.getUint8(o + 3),
      k: view.getUint32(o + 4, true),
    });
  }
  return insns;
}

function isU8(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 255;
}

const bpfClass = (code: number): number => code & 0x07;
const bpfSize = (code: number): number => code & 0x18;
const bpfMode = (code: number): number => code & 0xe0;
const bpfOp = (code: number): number => code & 0xf0;
const bpfSrc = (code: number): number => code & 0x08;
const bpfRval = (code: number): number => code & 0x18;
const bpfMiscOp = (code: number): number => code & 0xf8;

/**
 * The opcodes seccomp_check_filter() lets through. Everything else (packet
 * loads of other sizes, BPF_IND, BPF_MSH, ancillary loads) is refused with
 * EINVAL by the kernel, so the validator refuses it too.
 */
function isSeccompOpcode(code: number): boolean {
  switch (bpfClass(code)) {
    case BPF_LD:
      return code === (BPF_LD | BPF_W | BPF_ABS) || code === (BPF_LD | BPF_W | BPF_LEN) ||
        code === (BPF_LD | BPF_IMM) || code === (BPF_LD | BPF_MEM);
    case BPF_LDX:
      return code === (BPF_LDX | BPF_W | BPF_LEN) || code === (BPF_LDX | BPF_IMM) || code === (BPF_LDX | BPF_MEM);
    case BPF_ST:
    case BPF_STX:
      return code === BPF_ST || code === BPF_STX;
    case BPF_ALU: {
      const op = bpfOp(code);
      if (code & 0xff00) return false;
      if (op === BPF_NEG) return bpfSrc(code) === BPF_K;
      return [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_MOD, BPF_XOR].includes(op);
    }
    case BPF_JMP: {
      const op = bpfOp(code);
      if (code & 0xff00) return false;
      if (op === BPF_JA) return code === (BPF_JMP | BPF_JA);
      return [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].includes(op);
    }
    case BPF_RET:
      return code === (BPF_RET | BPF_K) || code === (BPF_RET | BPF_A);
    case BPF_MISC:
      return code === (BPF_MISC | BPF_TAX) || code === (BPF_MISC | BPF_TXA);
    default:
      return false;
  }
}

/**
 * Static checks the kernel performs before accepting a seccomp filter, plus
 * one of ours: the program must be able to reach nothing but RET (every path
 * ends in RET because jumps go forward only and the last instruction is RET).
 * Returns a list of problems; empty means the kernel would accept it.
 */
export function validateProgram(insns: readonly BpfInsn[]): string[] {
  const problems: string[] = [];
  if (insns.length === 0) problems.push('program is empty');
  if (insns.length > BPF_MAXINSNS) problems.push(`program has ${insns.length} instructions (max ${BPF_MAXINSNS})`);
  insns.forEach((insn, pc) => {
    const where = `instruction ${pc}`;
    if (!isSeccompOpcode(insn.code)) {
      problems.push(`${where}: opcode 0x${insn.code.toString(16)} is not allowed in a seccomp filter`);
      return;
    }
    if (!isU8(insn.jt) || !isU8(insn.jf)) problems.push(`${where}: jt/jf out of u8 range`);
    const cls = bpfClass(insn.code);
    if (insn.code === (BPF_LD | BPF_W | BPF_ABS) && (insn.k % 4 !== 0 || insn.k >= SECCOMP_DATA_SIZE)) {
      problems.push(`${where}: load offset ${insn.k} is not an aligned word inside struct seccomp_data`);
    }
    if ((insn.code === (BPF_LD | BPF_MEM) || insn.code === (BPF_LDX | BPF_MEM) || cls === BPF_ST || cls === BPF_STX) &&
      insn.k >= BPF_MEMWORDS) {
      problems.push(`${where}: scratch slot ${insn.k} out of range`);
    }
    if (cls === BPF_ALU && bpfSrc(insn.code) === BPF_K) {
      const op = bpfOp(insn.code);
      if ((op === BPF_DIV || op === BPF_MOD) && insn.k === 0) problems.push(`${where}: division by constant 0`);
      if ((op === BPF_LSH || op === BPF_RSH) && insn.k >= 32) problems.push(`${where}: shift by ${insn.k}`);
    }
    if (cls === BPF_JMP) {
      if (bpfOp(insn.code) === BPF_JA) {
        if (insn.k >= insns.length - pc - 1) problems.push(`${where}: ja +${insn.k} leaves the program`);
      } else if (pc + 1 + insn.jt >= insns.length || pc + 1 + insn.jf >= insns.length) {
        problems.push(`${where}: conditional jump (jt=${insn.jt}, jf=${insn.jf}) leaves the program`);
      }
    }
  });
  const last = insns[insns.length - 1];
  if (last && bpfClass(last.code) !== BPF_RET) problems.push('program does not end in RET');
  return problems;
}

/** A struct seccomp_data to run a program against. */
export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  /** Up to six arguments; missing ones are 0. Numbers must be non-negative safe integers. */
  args?: ReadonlyArray<bigint | number>;
}

export function encodeSeccompData(data: SeccompData): Uint8Array {
  const bytes = new Uint8Array(SECCOMP_DATA_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(SECCOMP_DATA_NR, data.nr >>> 0, true);
  view.setUint32(SECCOMP_DATA_ARCH, data.arch >>> 0, true);
  view.setBigUint64(SECCOMP_DATA_IP, BigInt.asUintN(64, data.instructionPointer ?? 0n), true);
  const args = data.args ?? [];
  if (args.length > 6) throw new RangeError('seccomp_data has at most 6 arguments');
  args.forEach((arg, i) => {
    view.setBigUint64(SECCOMP_DATA_ARGS + 8 * i, BigInt.asUintN(64, BigInt(arg)), true);
  });
  return bytes;
}

/**
 * Run a classic BPF seccomp program against seccomp_data and return the u32
 * the kernel would act on. Throws on anything the kernel would have refused
 * at load time (run validateProgram first for a full report).
 */
export function runProgram(insns: readonly BpfInsn[], data: SeccompData | Uint8Array): number {
  const bytes = data instanceof Uint8Array ? data : encodeSeccompData(data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mem = new Uint32Array(BPF_MEMWORDS);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const insn = insns[pc]!;
    const { code, k } = insn;
    switch (bpfClass(code)) {
      case BPF_LD:
      case BPF_LDX: {
        let value: number;
        switch (bpfMode(code)) {
          case BPF_ABS:
            if (bpfSize(code) !== BPF_W || k % 4 !== 0 || k + 4 > SECCOMP_DATA_SIZE) {
              throw new RangeError(`bpf: instruction ${pc}: bad load at offset ${k}`);
            }
            value = view.getUint32(k, true);
            break;
          case BPF_IMM:
            value = k;
            break;
          case BPF_MEM:
            value = memAt(mem, k, pc);
            break;
          case BPF_LEN:
            value = SECCOMP_DATA_SIZE;
            break;
          default:
            throw new RangeError(`bpf: instruction ${pc}: unsupported load mode 0x${code.toString(16)}`);
        }
        if (bpfClass(code) === BPF_LD) a = value >>> 0;
        else x = value >>> 0;
        break;
      }
      case BPF_ST:
        memAt(mem, k, pc);
        mem[k] = a;
        break;
      case BPF_STX:
        memAt(mem, k, pc);
        mem[k] = x;
        break;
      case BPF_ALU: {
        const operand = bpfSrc(code) === BPF_X ? x : k;
        a = alu(bpfOp(code), a, operand, pc);
        break;
      }
      case BPF_JMP: {
        const op = bpfOp(code);
        if (op === BPF_JA) {
          pc += k;
          break;
        }
        const operand = (bpfSrc(code) === BPF_X ? x : k) >>> 0;
        let taken: boolean;
        if (op === BPF_JEQ) taken = a === operand;
        else if (op === BPF_JGT) taken = a > operand;
        else if (op === BPF_JGE) taken = a >= operand;
        else if (op === BPF_JSET) taken = (a & operand) !== 0;
        else throw new RangeError(`bpf: instruction ${pc}: unsupported jump 0x${code.toString(16)}`);
        pc += taken ? insn.jt : insn.jf;
        break;
      }
      case BPF_RET:
        return (bpfRval(code) === BPF_A ? a : k) >>> 0;
      case BPF_MISC:
        if (bpfMiscOp(code) === BPF_TAX) x = a;
        else a = x;
        break;
      default:
        throw new RangeError(`bpf: instruction ${pc}: unsupported opcode 0x${code.toString(16)}`);
    }
  }
  throw new RangeError('bpf: program ran off its end without RET');
}

function memAt(mem: Uint32Array, k: number, pc: number): number {
  if (k >= BPF_MEMWORDS) throw new RangeError(`bpf: instruction ${pc}: scratch slot ${k} out of range`);
  return mem[k]!;
}

function alu(op: number, a: number, b: number, pc: number): number {
  switch (op) {
    case BPF_ADD: return (a + b) >>> 0;
    case BPF_SUB: return (a - b) >>> 0;
    case BPF_MUL: return Math.imul(a, b) >>> 0;
    case BPF_DIV: return b === 0 ? 0 : Math.floor(a / b) >>> 0; // the kernel returns 0 on x/0
    case BPF_MOD: return b === 0 ? 0 : (a % b) >>> 0;
    case BPF_OR: return (a | b) >>> 0;
    case BPF_AND: return (a & b) >>> 0;
    case BPF_XOR: return (a ^ b) >>> 0;
    case BPF_LSH: return (a << b) >>> 0;
    case BPF_RSH: return a >>> b;
    case BPF_NEG: return -a >>> 0;
    default: throw new RangeError(`bpf: instruction ${pc}: unsupported ALU op 0x${op.toString(16)}`);
  }
}

type ConditionalOp = typeof BPF_JEQ | typeof BPF_JGT | typeof BPF_JGE | typeof BPF_JSET;

type AsmItem =
  | { kind: 'insn'; insn: BpfInsn }
  | { kind: 'jump'; code: number; k: number; jt: Label; jf: Label; far: boolean }
  | { kind: 'ja'; target: Label };

/**
 * Forward-only assembler with symbolic labels. Conditional jumps in classic
 * BPF carry 8-bit offsets; resolve() throws if a jumpIf() target ends up
 * further than 255 instructions away, so a generator bug can never emit a
 * wrong jump. jumpIfFar() is the same jump for targets that may be further:
 * resolve() gives each side whose target is out of reach a BPF_JA (32-bit
 * offset) trampoline placed right after the jump, and lays the program out
 * again until every offset fits (trampolines only ever add instructions, so
 * this ends).
 */
export class BpfAssembler {
  private readonly items: AsmItem[] = [];
  /** Label -> index of the item it is bound before (items.length: the end). */
  private readonly labels = new Map<Label, number>();
  private nextLabel = 0;

  /** Items emitted so far: the instruction count before resolve() adds any trampolines. */
  get length(): number {
    return this.items.length;
  }

  label(): Label {
    return { id: this.nextLabel++ };
  }

  bind(label: Label): void {
    if (this.labels.has(label)) throw new Error('bpf: label bound twice');
    this.labels.set(label, this.items.length);
  }

  /** A label bound to the next instruction. */
  here(): Label {
    const l = this.label();
    this.bind(l);
    return l;
  }

  emit(insn: BpfInsn): void {
    this.items.push({ kind: 'insn', insn });
  }

  loadWord(offset: number): void {
    this.emit(stmt(BPF_LD | BPF_W | BPF_ABS, offset));
  }

  and(mask: number): void {
    this.emit(stmt(BPF_ALU | BPF_AND | BPF_K, mask));
  }

  ret(value: number): void {
    this.emit(stmt(BPF_RET | BPF_K, value));
  }

  /** Conditional jump on A against constant k; `next` means fall through. Targets must be within 255. */
  jumpIf(op: ConditionalOp, k: number, jt: Label | 'next', jf: Label | 'next'): void {
    this.conditional(op, k, jt, jf, false);
  }

  /** jumpIf whose targets may be any distance ahead: a side out of u8 reach goes through a BPF_JA trampoline. */
  jumpIfFar(op: ConditionalOp, k: number, jt: Label | 'next', jf: Label | 'next'): void {
    this.conditional(op, k, jt, jf, true);
  }

  ja(target: Label): void {
    this.items.push({ kind: 'ja', target });
  }

  private conditional(op: ConditionalOp, k: number, jt: Label | 'next', jf: Label | 'next', far: boolean): void {
    const code = BPF_JMP | op | BPF_K;
    const t = jt === 'next' ? this.nextInsnLabel() : jt;
    const f = jf === 'next' ? (jt === 'next' ? t : this.nextInsnLabel()) : jf;
    this.items.push({ kind: 'jump', code, k: k >>> 0, jt: t, jf: f, far });
  }

  private nextInsnLabel(): Label {
    // Bound lazily: the item after the jump that is about to be pushed (after its trampolines, if any).
    const l = this.label();
    this.labels.set(l, this.items.length + 1);
    return l;
  }

  resolve(): BpfInsn[] {
    // Trampolines per item: none, on the true side, the false side, or one shared by both (jt === jf).
    const tramp = this.items.map(() => ({ t: false, f: false }));
    const size = (i: number): number => {
      const { t, f } = tramp[i]!;
      const item = this.items[i]!;
      return 1 + (t ? 1 : 0) + (f && !(t && item.kind === 'jump' && item.jt === item.jf) ? 1 : 0);
    };
    let pcs: number[];
    for (;;) {
      pcs = [0];
      this.items.forEach((_, i) => pcs.push(pcs[i]! + size(i)));
      let grew = false;
      this.items.forEach((item, i) => {
        if (item.kind !== 'jump' || !item.far) return;
        const reach = (label: Label): boolean => this.target(label, i, pcs) - pcs[i]! - 1 <= 255;
        const tr = tramp[i]!;
        if (!tr.t && !reach(item.jt)) {
          tr.t = true;
          if (item.jt === item.jf) tr.f = true;
          grew = true;
        }
        if (!tr.f && !reach(item.jf)) {
          tr.f = true;
          grew = true;
        }
      });
      if (!grew) break;
    }
    const out: BpfInsn[] = [];
    this.items.forEach((item, i) => {
      const pc = pcs[i]!;
      if (item.kind === 'insn') {
        out.push(item.insn);
      } else if (item.kind === 'ja') {
        out.push(stmt(BPF_JMP | BPF_JA, this.offset(item.target, i, pc, pcs, 0xffffffff)));
      } else {
        const { t, f } = tramp[i]!;
        const shared = t && f && item.jt === item.jf;
        // Trampolines follow the jump: true side first, then false side.
        const tPc = pc + 1;
        const fPc = t && !shared ? pc + 2 : pc + 1;
        const jt = t ? tPc - pc - 1 : this.offset(item.jt, i, pc, pcs, 255);
        const jf = f ? fPc - pc - 1 : this.offset(item.jf, i, pc, pcs, 255);
        out.push(jump(item.code, item.k, jt, jf));
        if (t) out.push(stmt(BPF_JMP | BPF_JA, this.offset(item.jt, i, tPc, pcs, 0xffffffff)));
        if (f && !shared) out.push(stmt(BPF_JMP | BPF_JA, this.offset(item.jf, i, fPc, pcs, 0xffffffff)));
      }
    });
    return out;
  }

  private target(label: Label, item: number, pcs: readonly number[]): number {
    const index = this.labels.get(label);
    if (index === undefined) throw new Error(`bpf: instruction ${pcs[item]} jumps to an unbound label`);
    return pcs[index]!;
  }

  /** Offset from the instruction at `pc` (emitted for item `item`) to `label`. */
  private offset(label: Label, item: number, pc: number, pcs: readonly number[], max: number): number {
    const off = this.target(label, item, pcs) - pc - 1;
    if (off < 0) throw new Error(`bpf: instruction ${pc} jumps backwards`);
    if (off > max) throw new RangeError(`bpf: instruction ${pc} jumps ${off} instructions ahead (max ${max})`);
    return off;
  }
}

/** A jump target inside one BpfAssembler; compared by identity. */
export interface Label {
  readonly id: number;
}
