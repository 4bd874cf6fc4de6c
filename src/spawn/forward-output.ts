/**
 * A child's output onto one of this process's streams at the reader's pace:
 * when `to` is full, `from` pauses (the child's pipe fills and the child
 * waits) instead of this process queueing the output without bound. Used by
 * `hatchery run` and by warm workers with `output: 'inherit'`.
 */
import type { Readable } from 'node:stream';

/** Readables paused until their stream drains: one 'drain' listener per stream, however many wait. */
const pausedUntilDrain = new Map<NodeJS.WritableStream, Set<Readable>>();

/** Write `chunk` (read from `from`) to `to`; pause `from` until `to` drains or closes if it is full. */
export function forwardOutput(from: Readable, chunk: Buffer, to: NodeJS.WritableStream): void {
  if (to.write(chunk)) return;
  from.pause();
  let waiting = pausedUntilDrain.get(to);
  if (!waiting) {
    const resumeAll = (): void => {
      to.off('drain', resumeAll);
      to.off('close', resumeAll);
      pausedUntilDrain.delete(to);
      for (const r of waiting!) r.resume();
    };
    waiting = new Set();
    pausedUntilDrain.set(to, waiting);
    to.on('drain', resumeAll);
    to.on('close', resumeAll);
  }
  waiting.add(from);
}
