// A throwaway redis-server on 127.0.0.1 and a free port, for tests and the queue benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface RedisServer {
  port: number;
  url: string;
  pid: number;
  /** Its working dir (removed by stop()). */
  dir: string;
  /** Stop it (SIGTERM, SIGKILL after 5 s) and remove its directory. */
  stop(): Promise<void>;
}

/** The redis-server binary on PATH (or in /usr/bin, /usr/sbin), or null. */
export function findRedisServer(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (dir !== '' && existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server');
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function startOnce(binary: string, port: number, dir: string): Promise<{ child: ChildProcess; output: string } | { failed: string }> {
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--loglevel', 'notice'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ failed: `redis-server did not get ready in 10 s: ${output}` });
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stderr?.removeAllListeners('data');
        child.stdout?.resume();
        child.stderr?.resume();
        resolve({ child, output });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ failed: `redis-server exited (${code ?? signal}): ${output}` });
    });
  });
}

/** Start redis-server on a free loopback port; a port taken in the meantime is retried. */
export async function startRedis(binary = findRedisServer()): Promise<RedisServer> {
  if (binary === null) throw new Error('redis-server is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-redis-'));
  let lastFailure = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const started = await startOnce(binary, port, dir);
    if ('failed' in started) {
      lastFailure = started.failed;
      continue;
    }
    const { child } = started;
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    // Should the test process die without its after() hooks, do not leave Redis behind.
    process.once('exit', kill);
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      pid: child.pid as number,
      dir,
      async stop() {
        process.off('exit', kill);
        child.kill('SIGTERM');
        if (!(await waitExit(child, 5000))) {
          child.kill('SIGKILL');
          await waitExit(child, 5000);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`could not start redis-server: ${lastFailure}`);
}
