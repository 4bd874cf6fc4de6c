/**
 * A write grant (sandbox.fs.write) only helps if the sandbox's uid may write
 * the path anyway: Landlock and the mounts can only take rights away. A root
 * caller's sandbox runs as an unprivileged uid (65534 today; the uid comes
 * from the compiled plan, never a constant), so a root-owned 0755 directory
 * granted with --rw stays unwritable, and the program only sees EACCES. This
 * check says so before anything runs.
 *
 * It refuses only what is certainly unwritable: the sandbox holds no
 * capabilities and no supplementary groups, so the owner, group and other
 * mode bits decide, except that a POSIX ACL may grant a named user or group
 * up to the group-class bits. When those bits would allow the write, an ACL
 * might, and the path is let through.
 */
import { statSync, type Stats } from 'node:fs';
import { OPERATION_UID_BASE } from '../policy/features.js';
import { isOperationUid } from './operation-uid.js';
import { InvalidOptionRangeError } from '../errors.js';

export interface SandboxIdentity {
  /** The uid/gid the sandboxed program runs as, seen from the host (Enforcement.uid/gid). */
  uid: number;
  gid: number;
}

/** Why `who` cannot write `st` (a directory needs write and search), or null when it can or might. */
function writeDenied(st: Stats, who: SandboxIdentity): string | null {
  const need = st.isDirectory() ? 0o3 : 0o2;
  const owner = (st.mode >> 6) & 0o7;
  const group = (st.mode >> 3) & 0o7; // with an ACL: the mask, the most any named entry may get
  const other = st.mode & 0o7;
  const has = (bits: number): boolean => (bits & need) === need;
  // The kernel's order: owner, then (named users and) the owning group, then others; the first match decides.
  if (st.uid === who.uid) return has(owner) ? null : 'its owner has no write permission';
  if (st.gid === who.gid) return has(group) ? null : 'its group has no write permission';
  if (has(group)) return null; // perhaps an ACL entry for this uid or gid: the group bits are then the ACL mask
  return has(other) ? null : 'neither its group nor others have write permission';
}

/**
 * Throws InvalidOptionRangeError naming `${option}[i]` for the first path the
 * sandbox's uid certainly cannot write. A no-op when the sandbox runs as the
 * caller's own uid (the kernel then answers as it would for the caller).
 */
export function checkWriteGrants(paths: readonly string[], who: SandboxIdentity, option = 'sandbox.fs.write'): void {
  if (paths.length === 0 || who.uid === process.geteuid?.()) return;
  paths.forEach((path, i) => {
    let st: Stats;
    try {
      st = statSync(path); // Landlock follows symlinks when it opens the rule's path; so does this
    } catch {
      return; // existence was checked with the options; a path gone since fails in the child
    }
    const why = writeDenied(st, who);
    if (why === null) return;
    const kind = st.isDirectory() ? 'directory' : 'file';
    throw new InvalidOptionRangeError(
      `${option}[${i}]`,
      `(${path}) is not writable by uid ${who.uid}, ` +
        (isOperationUid(who.uid)
          ? `the uid this operation runs as (a root caller's operations each get a fresh uid of their own, from ${OPERATION_UID_BASE}): `
          : 'the unprivileged uid the sandbox runs as when the caller is root: ') +
        `the ${kind} is owned by uid ${st.uid}, gid ${st.gid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, and ${why}. ` +
        `A write grant cannot add permissions the file system denies: ` +
        (isOperationUid(who.uid)
          ? 'make it writable by others ' +
            (st.isDirectory()
              ? `(chmod 1777 ${path} for a drop box like /tmp, where each operation's files stay its own, or chmod o+wx ${path})`
              : `(chmod o+w ${path})`)
          : `make it writable for uid ${who.uid} (e.g. chown ${who.uid} ${path}, or chmod o+w${st.isDirectory() ? 'x' : ''} ${path})`) +
        ', or grant a path that is',
    );
  });
}
