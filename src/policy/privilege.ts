/**
 * Whether this process is root in the sense hatchery's root path needs: euid
 * 0 holding the capabilities it uses to give each operation a uid of its own
 * (switch ids, hand it a temp dir, signal and clean up after it). A root with
 * them dropped (Kubernetes' `runAsUser: 0` with `capabilities: drop: [ALL]`)
 * is planned like any unprivileged caller: its operations run as its own uid,
 * 0, without capabilities, nobody inside a user namespace.
 *
 * The zygote decides the same by native/privilege.h (its probe answers
 * "privileged"); detectFeatures() wants both, since Node and the zygote it
 * execs can hold different sets.
 */
import { readFileSync } from 'node:fs';

/** The capabilities of the root path, as native/privilege.h's HATCH_ROOT_CAPS: all in Docker's default set. */
export const ROOT_CAPABILITIES: ReadonlyArray<readonly [name: string, bit: number]> = [
  ['CAP_CHOWN', 0],
  ['CAP_DAC_OVERRIDE', 1],
  ['CAP_FOWNER', 3],
  ['CAP_KILL', 5],
  ['CAP_SETGID', 6],
  ['CAP_SETUID', 7],
];

/** The capabilities of the root path in a sentence: "CAP_CHOWN, ..., CAP_SETGID and CAP_SETUID". */
export const ROOT_CAPABILITY_NAMES = `${ROOT_CAPABILITIES.slice(0, -1)
  .map(([name]) => name)
  .join(', ')} and ${ROOT_CAPABILITIES[ROOT_CAPABILITIES.length - 1]![0]}`;

/** This process's effective capability set, from /proc/self/status; null when it cannot be read. */
function effectiveCapabilities(): bigint | null {
  try {
    const match = /^CapEff:\s*([0-9a-f]{1,16})$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? BigInt(`0x${match[1]}`) : null;
  } catch {
    return null;
  }
}

/** The capabilities of the root path this (root) process lacks, by name; every one when they cannot be read. */
export function missingRootCapabilities(): string[] {
  const effective = effectiveCapabilities();
  return ROOT_CAPABILITIES.filter(([, bit]) => effective === null || (effective & (1n << BigInt(bit))) === 0n).map(([name]) => name);
}
