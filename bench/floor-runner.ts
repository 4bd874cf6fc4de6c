/**
 * Drives build/Release/posix-spawn-floor (bench/floor.c). Contenders that are
 * programs of their own (the floor itself, bwrap) are timed inside the floor
 * so Node's own spawn cost is not charged to them.
 */
import { spawn } from 'node:child_process';

export interface FloorRun {
  durationsNs: number[];
  totalNs: number;
  opsPerSec: number;
  concurrency: number;
}

export interface FloorOptions {
  runs: number;
  warmup: number;
  /** Operations kept in flight at once (throughput mode). Default 1. */
  concurrency?: number;
  /** Kills the floor program (and fails) after this long. */
  timeoutMs: number;
}

interface FloorJson {
  runs: number;
  totalNs: number;
  opsPerSec: number;
  concurrency: number;
  durationsNs: number[];
}

function isFloorJson(value: unknown): value is FloorJson {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.runs === 'number' &&
    typeof v.totalNs === 'number' &&
    typeof v.opsPerSec === 'number' &&
    typeof v.concurrency === 'number' &&
    Array.isArray(v.durationsNs) &&
    v.durationsNs.every((d) => typeof d === 'number')
  );
}

/** Runs `floorPath --json ... runs file ...args` and parses its samples. */
export function runFloor(
  floorPath: string,
  file: string,
  args: readonly string[],
  options: FloorOptions,
): Promise<FloorRun> {
  const argv = [
    '--json',
    '--warmup',
    String(options.warmup),
    '--concurrency',
    String(options.concurrency ?? 1),
    String(options.runs),
    file,
    ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(floorPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (timedOut) {
        reject(new Error(`floor run of ${file} timed out after ${options.timeoutMs} ms`));
        return;
      }
      if (code !== 0) {
        const why = signal !== null ? `signal ${signal}` : `exit ${String(code)}`;
        reject(new Error(`${file} failed under the floor program (${why})${stderr ? `: ${stderr}` : ''}`));
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(out).toString('utf8'));
      } catch (e) {
        reject(new Error('floor program printed invalid JSON', { cause: e }));
        return;
      }
      if (!isFloorJson(parsed) || parsed.durationsNs.length !== options.runs) {
        reject(new Error('floor program printed an unexpected result'));
        return;
      }
      resolve({
        durationsNs: parsed.durationsNs,
        totalNs: parsed.totalNs,
        opsPerSec: parsed.opsPerSec,
        concurrency: parsed.concurrency,
      });
    });
  });
}
