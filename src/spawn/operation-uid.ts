/**
 * A uid of its own for each concurrent operation of a root caller (as
 * isolate gives each box its own uid): DAC then keeps operations out of each
 * other's files even when both are granted the same directory, RLIMIT_NPROC
 * counts each operation's processes alone, and a tree without a pid
 * namespace can be killed by its uid (native/zygote.c kill_uid).
 *
 * The range starts at OPERATION_UID_BASE (0x70000000), above the ranges
 * systemd hands to containers. Node processes on one host share it through
 * leases on blocks of BLOCK_SIZE uids: an flock on /run/hatchery/uid-block-N,
 * held for the life of the process and dropped by the kernel when it dies,
 * however it dies. The search starts at a random block: callers with /run
 * dirs of their own (containers sharing the host's uid space) then collide
 * only by chance (1 in MAX_BLOCKS for two processes), not by design. Within
 * a block, a uid is reused only after its operation has ended and its whole
 * tree is gone (the caller releases it then).
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadBinding } from '../native/binding.js';
import { OPERATION_UID_BASE, OPERATION_UID_COUNT } from '../protocol/wire.js';

export const BLOCK_SIZE = 1024;
/** The zygote knows the range too (native/protocol.json): it kills only uids of it, by a helper of a uid beyond it. */
export const MAX_BLOCKS = OPERATION_UID_COUNT / BLOCK_SIZE;
const LEASE_DIR = '/run/hatchery';
const EWOULDBLOCK = 11;
const EROFS = 30;

/** The lease dir, made and checked: a directory of root's that no one else can write. */
function leaseDir(): string | null {
  try {
    mkdirSync(LEASE_DIR, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return null;
  }
  try {
    const st = lstatSync(LEASE_DIR);
    return st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0 ? LEASE_DIR : null;
  } catch {
    return null;
  }
}

class OperationUidAllocator {
  private readonly blocks: number[] = [];
  private readonly free: number[] = [];
  private readonly inUse = new Set<number>();
  private dir: string | null | undefined;

  private leaseBlock(): number | null {
    if (this.dir === undefined) this.dir = leaseDir();
    const native = loadBinding();
    // A random first block, lease dir or not: a host may have several /run (containers, units with private
    // mounts) whose callers share one uid space, and each would otherwise hand out the same first block.
    const start = Math.floor(Math.random() * MAX_BLOCKS);
    for (let i = 0; i < MAX_BLOCKS; i++) {
      const block = (start + i) % MAX_BLOCKS;
      if (this.blocks.includes(block)) continue;
      // Without a lease dir (a read-only /run), a random block is the best that can be had.
      if (this.dir !== null) {
        const fd = native.lockFile(join(this.dir, `uid-block-${block}`));
        if (fd === -EWOULDBLOCK) continue;
        if (fd === -EROFS) {
          // The dir exists (an image that ran hatchery while it was built) on a read-only /run: no lease dir, as above.
          this.dir = null;
        } else if (fd < 0) return null;
        // The fd is the lease: kept open for the life of this process.
      }
      this.blocks.push(block);
      for (let k = BLOCK_SIZE - 1; k >= 0; k--) this.free.push(OPERATION_UID_BASE + block * BLOCK_SIZE + k);
      return block;
    }
    return null;
  }

  /** A uid no other live operation on this host has, or null when none can be had. */
  acquire(): number | null {
    if (this.free.length === 0 && this.leaseBlock() === null) return null;
    const uid = this.free.pop()!;
    this.inUse.add(uid);
    return uid;
  }

  /** Call once the operation's whole tree is gone. */
  release(uid: number): void {
    if (!this.inUse.delete(uid)) return;
    // Reused last: the longer a uid rests, the surer any straggler of it is gone.
    this.free.unshift(uid);
  }

  /** Whether uid is one of this range's. */
  static owns(uid: number): boolean {
    return uid >= OPERATION_UID_BASE && uid < OPERATION_UID_BASE + OPERATION_UID_COUNT;
  }
}

export const operationUids = new OperationUidAllocator();

export function isOperationUid(uid: number): boolean {
  return OperationUidAllocator.owns(uid);
}
