/**
 * Makes this Node process big. fork() copies page tables, so its cost grows
 * with resident memory, not with the V8 heap as such: filled Buffers are the
 * simplest way to hold real, touched pages.
 */

const CHUNK_BYTES = 64 * 1024 * 1024;

/** Kept reachable for the life of the process so the memory stays resident. */
const held: Buffer[] = [];

/**
 * Allocates and touches Buffers until the process RSS is at least
 * `targetRssBytes` (or `maxExtraBytes` were added). Returns the RSS reached.
 */
export function holdResidentMemory(targetRssBytes: number, maxExtraBytes = targetRssBytes * 2): number {
  let added = 0;
  let rss = process.memoryUsage().rss;
  while (rss < targetRssBytes && added < maxExtraBytes) {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    // A different non-zero byte per chunk: every page is written, none is the zero page.
    chunk.fill((held.length % 251) + 1);
    held.push(chunk);
    added += CHUNK_BYTES;
    rss = process.memoryUsage().rss;
  }
  return rss;
}

export function heldBytes(): number {
  return held.length * CHUNK_BYTES;
}
