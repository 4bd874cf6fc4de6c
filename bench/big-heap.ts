/**
 * The big-heap phase: a second Node process that holds >= 1.5 GB RSS and
 * measures the Node-side contenders from there, one round per request, so
 * its rounds interleave with the parent's. Protocol: one JSON object per
 * line; the parent writes requests on our stdin, we answer on stdout
 * (stderr is for people). EOF on stdin means the parent is done (or dead).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { holdResidentMemory, heldBytes } from './heap.js';
import { measureRound, prepareNodeContenders, warmUp, type RoundResult, type Unavailable } from './contenders.js';

export interface ReadyMessage {
  type: 'ready';
  rssBytes: number;
  heldBytes: number;
  ready: string[];
  notes: Record<string, string>;
  unavailable: Unavailable[];
}

export interface RoundMessage extends RoundResult {
  type: 'round';
  rssBytes: number;
}

interface ErrorMessage {
  type: 'error';
  message: string;
}

type ChildMessage = ReadyMessage | RoundMessage | ErrorMessage;

export interface BigHeapSettings {
  heapBytes: number;
  warmup: number;
  opTimeoutMs: number;
}

function send(message: ChildMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Entry point of `main.js --phase big-heap`. */
export async function runBigHeapPhase(settings: BigHeapSettings): Promise<void> {
  const rss = holdResidentMemory(settings.heapBytes);
  process.stderr.write(`bench[big-heap]: holding ${(heldBytes() / 1e9).toFixed(2)} GB of Buffers, RSS ${(rss / 1e9).toFixed(2)} GB\n`);
  if (rss < settings.heapBytes) {
    send({ type: 'error', message: `RSS reached only ${rss} bytes, wanted ${settings.heapBytes}` });
    process.exitCode = 1;
    return;
  }
  const prepared = await prepareNodeContenders(settings.opTimeoutMs);
  await warmUp(prepared, settings.warmup);
  const notes: Record<string, string> = {};
  for (const c of prepared.ready) if (c.note !== undefined) notes[c.name] = c.note;
  send({
    type: 'ready',
    rssBytes: process.memoryUsage().rss,
    heldBytes: heldBytes(),
    ready: prepared.ready.map((c) => c.name),
    notes,
    unavailable: prepared.unavailable,
  });

  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    const request = JSON.parse(line) as { cmd?: unknown; runs?: unknown; rotation?: unknown };
    if (request.cmd !== 'round' || typeof request.runs !== 'number' || typeof request.rotation !== 'number') {
      send({ type: 'error', message: `unknown request ${line}` });
      continue;
    }
    const result = await measureRound(prepared, request.runs, request.rotation);
    send({ type: 'round', ...result, rssBytes: process.memoryUsage().rss });
  }
  await prepared.close();
}

/** The parent's side of the big-heap process. */
export class BigHeapChild {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly waiting: Array<{ resolve: (m: ChildMessage) => void; reject: (e: Error) => void }> = [];
  private readonly inbox: ChildMessage[] = [];
  private ended: Error | null = null;
  private readonly exited: Promise<void>;

  constructor(mainPath: string, settings: BigHeapSettings) {
    this.child = spawn(
      process.execPath,
      [
        '--expose-gc',
        mainPath,
        '--phase',
        'big-heap',
        '--heap-bytes',
        String(settings.heapBytes),
        '--warmup',
        String(settings.warmup),
        '--op-timeout-ms',
        String(settings.opTimeoutMs),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    // Writing to a process that has died fails with EPIPE; its exit is reported through 'close'.
    this.child.stdin.on('error', () => {});
    const lines = createInterface({ input: this.child.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => {
      let message: ChildMessage;
      try {
        message = JSON.parse(line) as ChildMessage;
      } catch {
        message = { type: 'error', message: `big-heap process sent invalid JSON: ${line.slice(0, 200)}` };
      }
      const next = this.waiting.shift();
      if (next === undefined) this.inbox.push(message);
      else next.resolve(message);
    });
    this.exited = new Promise((resolve) => {
      const fail = (error: Error): void => {
        this.ended ??= error;
        for (const w of this.waiting.splice(0)) w.reject(this.ended);
        resolve();
      };
      this.child.once('error', (error) => fail(error));
      this.child.once('close', (code, signal) =>
        fail(new Error(`big-heap process exited (${signal !== null ? `signal ${signal}` : `code ${String(code)}`})`)),
      );
    });
  }

  private next(): Promise<ChildMessage> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended !== null) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  async ready(): Promise<ReadyMessage> {
    const message = await this.next();
    if (message.type === 'error') throw new Error(message.message);
    if (message.type !== 'ready') throw new Error(`big-heap process sent ${message.type} before ready`);
    return message;
  }

  async round(runs: number, rotation: number): Promise<RoundMessage> {
    const reply = this.next();
    this.child.stdin.write(`${JSON.stringify({ cmd: 'round', runs, rotation })}\n`);
    const message = await reply;
    if (message.type === 'error') throw new Error(message.message);
    if (message.type !== 'round') throw new Error(`big-heap process sent ${message.type}, expected round`);
    return message;
  }

  /** Ends the process: EOF first, SIGKILL (by its pid) if it lingers. */
  async close(graceMs = 10_000): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
