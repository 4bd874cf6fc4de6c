// `hatchery worker --json` as a child process: its JSON log lines, its exit, and a kill by pid.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const hatcheryBin = join(root, 'bin', 'hatchery.js');

export type LogEvent = Record<string, unknown> & { event: string };

export interface WorkerProcess {
  pid: number;
  /** Every JSON line it printed so far. */
  readonly events: LogEvent[];
  stderr(): string;
  /** The first event (already printed or still to come) that matches. */
  waitFor(match: (e: LogEvent) => boolean, ms: number, what: string): Promise<LogEvent>;
  kill(signal: NodeJS.Signals): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `node bin/hatchery.js worker --json ARGS`. */
export function startWorkerProcess(args: readonly string[]): WorkerProcess {
  const child = spawn(process.execPath, [hatcheryBin, 'worker', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: LogEvent[] = [];
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as LogEvent);
      } catch {
        events.push({ event: 'unparsed', line });
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid as number,
    events,
    stderr: () => stderr,
    async waitFor(match, ms, what) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        if (done) throw new Error(`worker ${child.pid} exited before ${what}; stderr: ${stderr}; events: ${JSON.stringify(events.slice(-5))}`);
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; stderr: ${stderr}; events: ${JSON.stringify(events.slice(-5))}`);
        await sleep(20);
      }
    },
    kill(signal) {
      if (!done) process.kill(child.pid as number, signal);
    },
    exited,
  };
}
