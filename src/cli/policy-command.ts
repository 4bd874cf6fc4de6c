/**
 * `hatchery policy --explain [run flags]`: the policy a run with these flags
 * would get on this machine, compiled by the same code run() uses: the
 * namespaces, every Landlock rule (path and rights, ports, scopes), and the
 * seccomp filter as readable rules (a syscall's rules in the order the filter
 * tries them).
 */
import { parseArgs } from 'node:util';
import { HatcheryError } from '../errors.js';
import { validateSandbox, type NormalizedSandbox } from '../options/sandbox.js';
import { validateLimits } from '../options/limits.js';
import { compileSandbox, type CompiledSandbox } from '../policy/compile.js';
import { OPERATION_UID_BASE, detectFeatures } from '../policy/features.js';
import { fsRightNames, netRightNames } from '../policy/landlock.js';
import { explainSeccomp } from '../policy/seccomp.js';
import { MountOp } from '../protocol/wire.js';
import { exampleOperationDir } from '../spawn/tmpdir.js';
import { optionsFromFlags, reportError, runFlagSpec, UsageError } from './run-command.js';

export const policyHelp = `Usage: hatchery policy --explain [run options] [-- FILE]

Prints the policy that \`hatchery run [run options] -- FILE\` would get on this
machine: the namespaces and uid, every Landlock rule (paths with their rights,
TCP ports, scopes), and the compiled seccomp filter as readable rules.
Takes the sandbox and limit options of \`hatchery run\` (see hatchery run --help).
FILE, when given as an absolute path, is added as executable like run() does.

Options:
  --explain   print the explanation (required)
  --json      print it as JSON
  -h, --help  show this help

Exit codes: 0; 125 when the options are invalid or, in strict mode, when this
kernel cannot enforce them (the explanation of best-effort is printed too).
`;


export interface PolicyExplanation {
  sandbox: NormalizedSandbox | false;
  refused: string[] | null;
  namespaces: string[];
  uid: number;
  gid: number;
  landlock: {
    abi: number;
    fsRightsHandled: string[];
    netRightsHandled: string[];
    scopes: string[];
    paths: Array<{ path: string; rights: string[] }>;
    ports: Array<{ port: number; rights: string[] }>;
  } | null;
  /** The mount namespace's set-up, in the order the child applies it. */
  mounts: Array<{ op: string; path: string }>;
  /** The temp dir as the program sees it, and its cap where the kernel enforces one. */
  tmpdir: { path: string; limit: { bytes: number; inodes: number } | null } | null;
  fallbacks: string[];
  seccomp: string | null;
  missing: string[];
  /** The HATCHERY_* simulations in effect (what is refused or missing may be their doing). */
  simulated: string[];
}

const MOUNT_OP_NAMES = new Map<number, string>(Object.entries(MountOp).map(([name, value]) => [value, name]));

const MOUNT_OP_TEXT: Record<string, string> = {
  Preserve: 'keep a copy of',
  Hide: 'hide under an empty read-only tmpfs',
  Restore: 'put back',
  ReadonlyAll: 'make read-only (everything at and below)',
  BindRw: 'make writable again',
};

function explain(sandbox: NormalizedSandbox | false, limitsValue: unknown, extraExec: string[]): PolicyExplanation {
  if (sandbox === false) {
    return { sandbox, refused: null, namespaces: [], uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1, landlock: null, mounts: [], tmpdir: null, seccomp: null, missing: [], fallbacks: [], simulated: [] };
  }
  const features = detectFeatures();
  const limits = validateLimits(limitsValue);
  // As run() compiles it, but nothing is made: a host temp dir is only named, an operation uid only the range's first.
  const ctx: Parameters<typeof compileSandbox>[1] = { features, limits, extraExec, hostTmpdir: exampleOperationDir };
  if (features.operationUids) ctx.operationUid = OPERATION_UID_BASE;
  let refused: string[] | null = null;
  let compiled: CompiledSandbox;
  try {
    compiled = compileSandbox(sandbox, ctx);
  } catch (e) {
    if (!(e instanceof HatcheryError) || e.code !== 'SANDBOX_UNAVAILABLE') throw e;
    refused = e.missing ?? [e.message];
    compiled = compileSandbox({ ...sandbox, mode: 'best-effort' }, ctx);
  }
  const e = compiled.enforcement;
  const ll = compiled.plan.landlock;
  let seccomp: string | null = null;
  if (compiled.seccomp !== null) seccomp = explainSeccomp(compiled.seccomp);
  return {
    sandbox,
    refused,
    namespaces: e.namespaces,
    uid: e.uid,
    gid: e.gid,
    landlock:
      ll && e.landlock
        ? {
            abi: e.landlock.abi,
            fsRightsHandled: e.landlock.fs,
            netRightsHandled: e.landlock.net,
            scopes: e.landlock.scopes,
            paths: ll.paths.map((p) => ({ path: p.path, rights: fsRightNames(p.allowedAccess) })),
            ports: ll.ports.map((p) => ({ port: Number(p.port), rights: netRightNames(p.allowedAccess) })),
          }
        : null,
    mounts: ((compiled.plan as { mounts?: ReadonlyArray<{ op: number; path: string }> }).mounts ?? []).map((m) => ({
      op: MOUNT_OP_NAMES.get(m.op) ?? `op ${m.op}`,
      path: m.path,
    })),
    tmpdir: e.tmpdir === null ? null : { path: e.tmpdir, limit: e.tmpdirLimit },
    seccomp,
    missing: e.missing,
    fallbacks: e.fallbacks,
    simulated: features.simulated,
  };
}

/** Groups of rights that read better as one word. */
function rightsSummary(rights: readonly string[]): string {
  const has = (r: string): boolean => rights.includes(r);
  const words: string[] = [];
  if (has('read_file') || has('read_dir')) words.push('read');
  if (has('execute')) words.push('exec');
  if (has('write_file') && has('make_reg')) words.push('write');
  return `${words.join('+') || 'none'}  [${rights.join(' ')}]`;
}

export function formatExplanation(x: PolicyExplanation): string {
  const out: string[] = [];
  if (x.sandbox === false) {
    out.push('sandbox: off (--no-sandbox): no namespaces, no Landlock, no seccomp; rlimits and no_new_privs still apply');
    return `${out.join('\n')}\n`;
  }
  out.push(`mode: ${x.sandbox.mode}`);
  if (x.refused !== null) {
    out.push(`strict mode refuses on this kernel: ${x.refused.join('; ')}`);
    if (x.simulated.length > 0) out.push(`(simulations in effect: ${x.simulated.join('; ')})`);
    out.push('(below: what best-effort would enforce)');
  }
  out.push('');
  out.push(`namespaces: ${x.namespaces.length > 0 ? x.namespaces.join(', ') : 'none'}`);
  out.push(`runs as: uid ${x.uid}, gid ${x.gid}, no_new_privs`);
  out.push('');
  if (x.landlock === null) {
    out.push('landlock: off');
  } else {
    const l = x.landlock;
    out.push(`landlock ABI ${l.abi}`);
    out.push(`  handled fs rights: ${l.fsRightsHandled.join(' ')}`);
    out.push(`  handled net rights: ${l.netRightsHandled.length > 0 ? l.netRightsHandled.join(' ') : 'none (TCP unrestricted by Landlock)'}`);
    out.push(`  scopes: ${l.scopes.length > 0 ? l.scopes.join(' ') : 'none'}`);
    out.push(`  path rules (${l.paths.length}; anything else is denied every handled right):`);
    const width = Math.max(...l.paths.map((p) => p.path.length), 4);
    for (const p of l.paths) out.push(`    ${p.path.padEnd(width)}  ${rightsSummary(p.rights)}`);
    if (l.netRightsHandled.length > 0) {
      out.push(`  port rules (${l.ports.length}; any other TCP bind/connect is denied):`);
      for (const p of l.ports) out.push(`    tcp ${p.port}: ${p.rights.join(' ')}`);
    }
  }
  if (x.mounts.length > 0) {
    out.push('');
    out.push(`mounts (${x.mounts.length} steps, in order):`);
    for (const m of x.mounts) out.push(`  ${MOUNT_OP_TEXT[m.op] ?? m.op} ${m.path}`);
  }
  if (x.tmpdir !== null) {
    out.push('');
    const t = x.tmpdir;
    out.push(
      t.limit
        ? `temp dir: a private tmpfs on /tmp and /dev/shm (mounted last), ${t.limit.bytes} bytes and ${t.limit.inodes} inodes for both`
        : `temp dir: a host directory, ${t.path} (no size cap here)`,
    );
  }
  out.push('');
  out.push(x.seccomp === null ? 'seccomp: off' : x.seccomp);
  if (x.missing.length > 0) {
    out.push('');
    out.push(`not enforced on this kernel: ${x.missing.join('; ')}`);
  }
  if (x.fallbacks.length > 0) {
    out.push('');
    out.push(`not available here (the default profile falls back): ${x.fallbacks.join('; ')}`);
  }
  return `${out.join('\n')}\n`;
}

export function policyCommand(argv: readonly string[]): number {
  let explanation: PolicyExplanation;
  let json = false;
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { ...runFlagSpec, explain: { type: 'boolean' } },
    });
    if (values.help) {
      process.stdout.write(policyHelp);
      return 0;
    }
    if (!values.explain) throw new UsageError('nothing to do: pass --explain');
    json = values.json === true;
    const options = optionsFromFlags(values);
    const sandbox = validateSandbox(options.sandbox);
    const file = positionals[0];
    const extraExec = file !== undefined && file.startsWith('/') ? [file] : [];
    explanation = explain(sandbox, options.limits, extraExec);
  } catch (e) {
    return reportError(e, 'policy');
  }
  process.stdout.write(json ? `${JSON.stringify(explanation, null, 2)}\n` : formatExplanation(explanation));
  if (explanation.refused === null) return 0;
  const simulated = explanation.simulated.length > 0 ? ` — simulations in effect: ${explanation.simulated.join('; ')}` : '';
  process.stderr.write(`hatchery: SANDBOX_UNAVAILABLE: strict mode would refuse: ${explanation.refused.join('; ')}${simulated}\n`);
  return 125;
}
