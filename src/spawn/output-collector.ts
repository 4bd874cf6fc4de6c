/**
 * run()'s output, read straight off the pipe: a watcher on Node's loop and
 * read(2) into one scratch buffer, with no stream in between. A run() needs
 * the bytes, not a Readable, and a net.Socket per stream (made, wired,
 * ended, destroyed) cost more Node time per run than the rest of the output
 * path together.
 *
 * The pipe's bytes are hostile input: at most `cap` are kept (the rest is
 * read and dropped so the writer never blocks, and `onOverflow` is told
 * once); a read error ends collection like an end of file; nothing here
 * throws into the caller.
 */
import { EAGAIN, loadBinding, WatchEvent, type FdWatcher } from '../native/binding.js';

/** One read(2) at most this size; the kept bytes are copied out of it. */
const SCRATCH_BYTES = 64 * 1024;
/**
 * Reads per readable event, at most: a program that writes as fast as the
 * pipe drains must not hold Node's loop (other runs' output, timers) for
 * longer than libuv's own stream reads would. The watcher is level-triggered,
 * so what is left wakes it again on the next turn.
 */
const READS_PER_EVENT = 16;
let scratch: Buffer | undefined;
/** Sizes of the blocks kept bytes are copied into (see keep()). */
const BLOCK_MIN = 256;
const BLOCK_MAX = 64 * 1024;

export class OutputCollector {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  truncated = false;
  /** Resolves at end of file, a read error, or destroy(); never rejects. */
  readonly done: Promise<void>;
  private fd: number;
  private watcher: FdWatcher | undefined;
  private finish!: () => void;

  constructor(
    fd: number,
    private readonly cap: number,
    private readonly onOverflow: () => void,
  ) {
    this.fd = fd;
    this.done = new Promise<void>((resolve) => {
      this.finish = resolve;
    });
    const native = loadBinding();
    try {
      this.watcher = native.watch(fd, (_events, status) => (status < 0 ? this.destroy() : this.drain()));
      this.watcher.ref();
      this.watcher.start(WatchEvent.Readable);
    } catch {
      this.destroy();
    }
  }

  /** Stop reading and close the pipe (idempotent). */
  destroy(): void {
    if (this.fd < 0) return;
    this.sealBlock();
    this.watcher?.close();
    this.watcher = undefined;
    try {
      loadBinding().close(this.fd);
    } catch {
      // already gone: nothing of ours to release
    }
    this.fd = -1;
    this.finish();
  }

  private drain(): void {
    const native = loadBinding();
    scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES);
    for (let reads = 0; reads < READS_PER_EVENT; reads++) {
      if (this.fd < 0) return;
      const n = native.readInto(this.fd, scratch, 0);
      if (n === -EAGAIN) return;
      if (n <= 0) {
        this.destroy(); // end of file, or an error that ends it the same way
        return;
      }
      this.keep(scratch, n);
    }
  }

  /**
   * Kept bytes go into blocks that double from BLOCK_MIN to BLOCK_MAX bytes,
   * not one Buffer per read: a program that writes a byte at a time would
   * otherwise cost a Buffer object (~145 bytes of memory here) per byte kept,
   * and the cap would bound the bytes but not the memory.
   */
  private block: Buffer | undefined;
  private blockUsed = 0;

  private keep(buf: Buffer, n: number): void {
    if (this.truncated) return;
    const room = this.cap - this.bytes;
    let kept = Math.min(n, room);
    let from = 0;
    while (kept > 0) {
      if (this.block === undefined || this.blockUsed === this.block.length) {
        this.sealBlock();
        const last = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1]!.length : 0;
        const size = Math.min(Math.max(BLOCK_MIN, last * 2, kept), BLOCK_MAX, this.cap - this.bytes);
        this.block = Buffer.allocUnsafe(size);
        this.blockUsed = 0;
      }
      const take = Math.min(kept, this.block.length - this.blockUsed);
      buf.copy(this.block, this.blockUsed, from, from + take);
      this.blockUsed += take;
      this.bytes += take;
      from += take;
      kept -= take;
    }
    if (n > room) {
      this.truncated = true;
      this.onOverflow();
    }
  }

  /** The block being filled joins `chunks` (what it holds, no more). */
  private sealBlock(): void {
    if (this.block !== undefined && this.blockUsed > 0) this.chunks.push(this.block.subarray(0, this.blockUsed));
    this.block = undefined;
    this.blockUsed = 0;
  }
}
