// Compatibility: real programs under the default profile. Each gets only the
// grants a user would give it (its input dir read, its output dir written) and
// each case asserts exact results. Every case also times the same command run
// directly (child_process, unsandboxed) and sandboxed, and the file ends by
// printing the table. A case whose program is not installed is skipped with the
// reason; .ci/run installs them all, so nothing skips in CI.
//
// As root, every operation runs as a uid of its own with umask 077: input dirs
// are made 0755 (files 0644) so that uid may read them, output dirs 01777 so it
// may write there, and a step whose output a later step reads sets umask 022.
// The hostile cases (a TLE, a memory hog, fork bombs, image bombs) are never run
// directly where that would hurt the host; the table says so.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { closeDefaultZygote, run, type Result, type RunOptions } from '../src/index.js';
import { processes, waitFor } from './helpers.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'compat');
const isRoot = process.getuid?.() === 0;
/** The PATH a sandboxed program gets; the direct runs get the same. */
const PATH = '/usr/local/bin:/usr/bin:/bin';
const PYTHON = '/usr/bin/python3';
/** Debian's ImageMagick 6 (called by its path: a PATH lookup may find a wrapper first). */
const CONVERT = '/usr/bin/convert';
const IDENTIFY = '/usr/bin/identify';
const IM_POLICY = '/etc/ImageMagick-6/policy.xml';
const GITCONFIG = '/etc/gitconfig';
const MiB = 1024 * 1024;

// ---- fixtures --------------------------------------------------------------

const base = mkdtempSync(join(tmpdir(), 'hatchery-compat-'));
chmodSync(base, 0o755);
let dirCount = 0;

/** A fresh dir the sandbox may read (0755). */
function inputDir(name: string): string {
  const dir = join(base, `${++dirCount}-${name}`);
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  return dir;
}

/** A fresh dir the sandbox may write: 01777, as a root caller's operation uid is new each time. */
function outputDir(name: string): string {
  const dir = join(base, `${++dirCount}-${name}`);
  mkdirSync(dir);
  chmodSync(dir, 0o1777);
  return dir;
}

function put(dir: string, name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  chmodSync(file, 0o644);
  return file;
}

function fixture(dir: string, name: string): string {
  return put(dir, name, readFileSync(join(fixtures, name)));
}

/** Where a program is installed, or the reason to skip its cases. */
function missing(...paths: string[]): string | false {
  const absent = paths.filter((p) => !existsSync(p));
  return absent.length === 0 ? false : `not installed here: ${absent.join(', ')} (.ci/run installs it)`;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = (CRC_TABLE[(c ^ byte) & 255] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A PNG: 'rgb' is an 8-bit colour gradient; 'bilevel' is an all-black 1-bit
 * picture, which deflates to almost nothing at any size (a decompression bomb
 * for a decoder that trusts the header).
 */
function png(width: number, height: number, kind: 'rgb' | 'bilevel'): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = kind === 'rgb' ? 8 : 1; // bit depth
  ihdr[9] = kind === 'rgb' ? 2 : 0; // colour type: truecolour, or greyscale
  const stride = kind === 'rgb' ? width * 3 : Math.ceil(width / 8);
  const raw = Buffer.alloc((stride + 1) * height);
  if (kind === 'rgb') {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const at = y * (stride + 1) + 1 + x * 3;
        raw[at] = (x * 4) & 255;
        raw[at + 1] = (y * 5) & 255;
        raw[at + 2] = 128;
      }
    }
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A BMP header declaring width x height 24-bit pixels, and hardly any of them. */
function bmpHeader(width: number, height: number): Buffer {
  const b = Buffer.alloc(54 + 100);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10); // pixel data offset
  b.writeUInt32LE(40, 14); // BITMAPINFOHEADER
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26); // planes
  b.writeUInt16LE(24, 28); // bits per pixel
  return b;
}

/** Width and height from a PNG's IHDR. */
function pngSize(file: string): string {
  const b = readFileSync(file);
  assert.equal(b.subarray(1, 4).toString('latin1'), 'PNG', `${file} is a PNG`);
  return `${b.readUInt32BE(16)}x${b.readUInt32BE(20)}`;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function describeRun(r: Result): string {
  return `exit ${r.exitCode} signal ${r.signal} limit ${r.limit} stdout ${JSON.stringify(r.stdout.slice(0, 2000))} stderr ${JSON.stringify(r.stderr.slice(0, 2000))}`;
}

function ok(r: Result): Result {
  assert.equal(r.exitCode, 0, describeRun(r));
  return r;
}

// ---- timing: direct vs sandboxed -------------------------------------------

interface Row {
  program: string;
  work: string;
  grants: string;
  directMs: number | null;
  /** Why there is no direct time, or how the direct run differs. */
  directNote?: string;
  sandboxedMs: number;
  /** How the sandboxed run ended: exit status or signal, and the limit reported. */
  outcome: string;
}

const rows: Row[] = [];

interface Direct {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The command without hatchery: child_process, the same PATH, a fresh HOME/TMPDIR/cwd as the sandbox has. */
function direct(file: string, args: string[], opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Direct {
  const home = mkdtempSync(join(base, 'direct-home-'));
  try {
    const r = spawnSync(file, args, {
      cwd: home,
      env: { PATH, HOME: home, TMPDIR: home, ...opts.env },
      input: opts.input ?? '',
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * MiB,
    });
    if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
}

/**
 * Runs rep i of the direct command (when there is one) and then of the
 * sandboxed one, `reps` times, records the medians, and returns the last
 * sandboxed result and direct outcome. Each rep gets its own index so it can
 * use fresh output dirs.
 */
async function compare(
  row: Omit<Row, 'directMs' | 'sandboxedMs' | 'outcome'>,
  directRun: ((i: number) => Direct) | null,
  sandboxed: (i: number) => Promise<Result>,
  reps = 3,
): Promise<{ result: Result; direct: Direct | null }> {
  const d: number[] = [];
  const s: number[] = [];
  let result: Result | undefined;
  let directResult: Direct | null = null;
  for (let i = 0; i < reps; i++) {
    if (directRun) {
      const t = performance.now();
      directResult = directRun(i);
      d.push(performance.now() - t);
    }
    const t = performance.now();
    try {
      result = await sandboxed(i);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      rows.push({ ...row, directMs: directRun ? median(d) : null, sandboxedMs: performance.now() - t, outcome: `rejected: ${err.code ?? ''} ${err.message ?? e}`.trim() });
      throw e;
    }
    s.push(performance.now() - t);
  }
  const r = result as Result;
  const ended = r.exitCode !== null ? `exit ${r.exitCode}` : `${r.signal}`;
  rows.push({ ...row, directMs: directRun ? median(d) : null, sandboxedMs: median(s), outcome: r.limit === null ? ended : `${ended}, limit ${r.limit}` });
  return { result: r, direct: directResult };
}

function table(): string {
  const fmt = (ms: number | null): string => (ms === null ? '—' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
  const lines = [
    '| program | work | grants | direct ms | sandboxed ms | sandboxed outcome |',
    '| --- | --- | --- | ---: | ---: | --- |',
    ...rows.map((r) => {
      const directCell = r.directMs === null ? `— (${r.directNote ?? 'not run'})` : `${fmt(r.directMs)}${r.directNote ? ` (${r.directNote})` : ''}`;
      return `| ${r.program} | ${r.work} | ${r.grants} | ${directCell} | ${fmt(r.sandboxedMs)} | ${r.outcome} |`;
    }),
  ];
  return lines.join('\n');
}

/** The host's free space where os.tmpdir() is, sampled while `work` runs: how far it fell at most. */
async function watchFreeSpace<T>(work: () => Promise<T>): Promise<{ value: T; shrunkBytes: number }> {
  const free = (): number => {
    const s = statfsSync(tmpdir());
    return s.bavail * s.bsize;
  };
  const start = free();
  let low = start;
  const timer = setInterval(() => {
    low = Math.min(low, free());
  }, 10);
  try {
    const value = await work();
    low = Math.min(low, free());
    return { value, shrunkBytes: start - low };
  } finally {
    clearInterval(timer);
  }
}

before(async () => {
  // Boot the default zygote, so the first case's time is not the zygote's start.
  ok(await run('true', []));
});

after(() => {
  closeDefaultZygote();
  restoreGitconfig();
  rmSync(base, { recursive: true, force: true });
  process.stdout.write(`\n# compatibility: wall time of each command run directly (child_process) and sandboxed (hatchery run(), default profile), median of the reps, ms\n${table()
    .split('\n')
    .map((l) => `# ${l}`)
    .join('\n')}\n`);
});

// ---- Python ------------------------------------------------------------------

describe('python3', { skip: missing(PYTHON) }, () => {
  test('multiprocessing: a Pool of 4 maps a function (semaphores in a private /dev/shm)', async () => {
    const input = inputDir('py-in');
    const script = fixture(input, 'pool.py');
    const { result, direct: d } = await compare(
      { program: 'python3 multiprocessing', work: 'Pool(4).map over 1000 items, result file', grants: 'read in, write out' },
      () => direct(PYTHON, [script, outputDir('py-out-direct')]),
      async () => {
        const out = outputDir('py-out');
        const r = ok(await run(PYTHON, [script, out], { sandbox: { fs: { read: [input], write: [out] } }, limits: { memoryBytes: 1024 * MiB, processes: 64 }, timeoutMs: 60_000 }));
        assert.deepEqual(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')), { sum: 332833500, workers: 4 });
        return r;
      },
      3,
    );
    assert.equal(result.stdout, '332833500 4\n');
    assert.equal(result.stderr, '');
    assert.equal(d?.stdout, result.stdout);
  });

  test('start methods: fork and spawn work as they are; forkserver (the default from Python 3.14) and Manager need sandbox.unixSockets', async () => {
    const input = inputDir('py-methods');
    const script = fixture(input, 'pool.py');
    const pool = (method: string, unixSockets: boolean): Promise<Result> =>
      run(PYTHON, [script, '/var/tmp', method], { sandbox: { fs: { read: [input] }, unixSockets }, timeoutMs: 60_000 });
    for (const method of ['fork', 'spawn']) assert.equal(ok(await pool(method, false)).stdout, '332833500 4\n', method);
    const refused = await pool('forkserver', false);
    assert.equal(refused.exitCode, 1, describeRun(refused));
    assert.match(refused.stderr, /OSError: \[Errno 97\] Address family not supported by protocol\n$/);
    assert.equal(ok(await pool('forkserver', true)).stdout, '332833500 4\n');

    const manager = 'import multiprocessing as mp\nif __name__ == "__main__":\n    with mp.Manager() as m:\n        d = m.dict(a=1)\n        print(dict(d))\n';
    const noSockets = await run(PYTHON, ['-c', manager], { timeoutMs: 60_000 });
    assert.equal(noSockets.exitCode, 1, describeRun(noSockets));
    assert.equal(ok(await run(PYTHON, ['-c', manager], { sandbox: { unixSockets: true }, timeoutMs: 60_000 })).stdout, "{'a': 1}\n");
  });
});

// ---- gcc: the online-judge flow ----------------------------------------------

describe('gcc: compile, then run the binary in a second sandbox (an online judge)', { skip: missing('/usr/bin/gcc') }, () => {
  const input = inputDir('judge-in');
  const out = outputDir('judge-out');
  const outDirect = outputDir('judge-out-direct');
  const LIMITS = { cpuSeconds: 2, memoryBytes: 64 * MiB, processes: 16 };
  const binary = (name: string): string => join(out, name);

  /** gcc reads the source from the input dir and writes the binary to the output dir; umask 022 so the next sandbox's uid may run it. */
  async function compile(name: string): Promise<void> {
    const source = fixture(input, `${name}.c`);
    await compare(
      { program: 'gcc', work: `compile ${name}.c (-O2)`, grants: 'read in, write out' },
      () => direct('gcc', ['-O2', '-o', join(outDirect, name), source]),
      async (i) => {
        const target = i === 0 ? binary(name) : join(outputDir('judge-rebuild'), name);
        return ok(
          await run('sh', ['-c', 'umask 022 && exec gcc -O2 -o "$1" "$2"', 'sh', target, source], {
            sandbox: { fs: { read: [input], write: [dirname(target)] } },
            limits: { cpuSeconds: 30, memoryBytes: 1024 * MiB },
            timeoutMs: 60_000,
          }),
        );
      },
      name === 'sum' ? 3 : 1,
    );
    assert.equal(statSync(binary(name)).mode & 0o777, 0o755);
  }

  /** The binary alone: no grants but itself (hatchery adds the program), stdin, and the judge's limits. */
  function submit(name: string, inputText: string, extra: Pick<RunOptions, 'timeoutMs'> = {}): Promise<Result> {
    return run(binary(name), [], { input: inputText, limits: LIMITS, timeoutMs: 5000, ...extra });
  }

  test('accepted: exact stdout for the given stdin, under cpuSeconds, memoryBytes, processes and timeoutMs', async () => {
    await compile('sum');
    const { result, direct: d } = await compare(
      { program: 'judge: accepted', work: 'run a+b with stdin and limits', grants: 'none (the binary)' },
      () => direct(join(outDirect, 'sum'), [], { input: '2 40\n' }),
      async () => submit('sum', '2 40\n'),
      5,
    );
    assert.equal(result.exitCode, 0, describeRun(result));
    assert.equal(result.stdout, '42\n');
    assert.equal(result.limit, null);
    assert.equal(d?.stdout, '42\n');
    assert.deepEqual(
      { cpu: result.enforcement.limits.cpuSeconds, mem: result.enforcement.limits.memoryBytes, procs: result.enforcement.limits.processes },
      { cpu: 2, mem: 64 * MiB, procs: 16 },
    );
  });

  test('wrong answer: runs to completion, stdout differs from the expected', async () => {
    await compile('wrong');
    const { result } = await compare(
      { program: 'judge: wrong answer', work: 'run a-b with stdin and limits', grants: 'none (the binary)' },
      () => direct(join(outDirect, 'wrong'), [], { input: '2 40\n' }),
      async () => submit('wrong', '2 40\n'),
    );
    assert.equal(result.exitCode, 0, describeRun(result));
    assert.equal(result.stdout, '-38\n');
    assert.notEqual(result.stdout, '42\n');
    assert.equal(result.limit, null);
  });

  test('time limit exceeded: a busy loop ends at timeoutMs with limit "timeout"', async () => {
    await compile('spin');
    const { result } = await compare(
      { program: 'judge: TLE', work: 'busy loop, timeoutMs 1000', grants: 'none (the binary)' },
      () => direct(join(outDirect, 'spin'), [], { timeoutMs: 1000 }),
      async () => submit('spin', '', { timeoutMs: 1000 }),
      1,
    );
    assert.equal(result.timedOut, true, describeRun(result));
    assert.equal(result.limit, 'timeout');
    assert.equal(result.exitCode, null);
    assert.equal(result.signal, 'SIGTERM');
    assert.ok(result.wallMs >= 1000 && result.wallMs < 4000, `wallMs ${result.wallMs}`);
  });

  test('memory limit: a program that allocates forever fails under memoryBytes (limit "memory")', async () => {
    await compile('hog');
    const { result } = await compare(
      { program: 'judge: memory hog', work: 'malloc+memset forever, memoryBytes 64 MiB', grants: 'none (the binary)' },
      // Directly only under the same address-space limit (ulimit -v), never unbounded.
      () => direct('sh', ['-c', 'ulimit -v 65536 && exec "$1"', 'sh', join(outDirect, 'hog')], { timeoutMs: 10_000 }),
      async () => submit('hog', ''),
      1,
    );
    assert.equal(result.exitCode, null, describeRun(result));
    assert.equal(result.signal, 'SIGSEGV');
    assert.equal(result.limit, 'memory');
    assert.equal(result.timedOut, false);
  });

  test('process limit: forking stops at limits.processes (15 children + the program under 16)', async () => {
    await compile('forks');
    const { result } = await compare(
      { program: 'judge: fork until refused', work: 'fork children until EAGAIN, processes 16', grants: 'none (the binary)', directNote: 'not run: no process limit outside the sandbox' },
      null,
      async () => submit('forks', ''),
      1,
    );
    assert.equal(result.exitCode, 0, describeRun(result));
    assert.equal(result.stdout, '15\n');
  });

  test('fork bomb: contained by limits.processes, ended by timeoutMs, no process left', async () => {
    await compile('bomb');
    const { result } = await compare(
      { program: 'judge: fork bomb', work: 'for (;;) fork(); processes 16, timeoutMs 1000', grants: 'none (the binary)', directNote: 'not run: a fork bomb on the host' },
      null,
      async () => submit('bomb', '', { timeoutMs: 1000 }),
      1,
    );
    assert.equal(result.limit, 'timeout', describeRun(result));
    assert.ok(result.wallMs < 5000, `wallMs ${result.wallMs}`);
    await waitFor(() => processes().every((p) => p.comm !== 'bomb'), 5000, 'every process of the bomb to be gone');
  });
});

// ---- ImageMagick ---------------------------------------------------------------

describe('ImageMagick (convert) with its system policy', { skip: missing(CONVERT, IDENTIFY, IM_POLICY) }, () => {
  const input = inputDir('im-in');
  const photo = put(input, 'photo.png', png(64, 48, 'rgb'));
  const IM_LIMITS = { memoryBytes: 2048 * MiB, cpuSeconds: 60 };

  test('convert -list policy inside the sandbox shows /etc/ImageMagick-6/policy.xml', async () => {
    const { result, direct: d } = await compare(
      { program: 'ImageMagick', work: 'convert -list policy', grants: 'none' },
      () => direct(CONVERT, ['-list', 'policy']),
      async () => ok(await run(CONVERT, ['-list', 'policy'])),
    );
    assert.match(result.stdout, /^Path: \/etc\/ImageMagick-6\/policy\.xml$/m);
    // Debian's resource limits, read from the file.
    assert.match(result.stdout, /name: width\n\s+value: 16KP/);
    assert.match(result.stdout, /name: area\n\s+value: 128MP/);
    assert.equal(result.stdout, d?.stdout, 'the same policy as outside the sandbox');
  });

  test('converts an upload: input dir read, output dir written, exact dimensions', async () => {
    const { result } = await compare(
      { program: 'ImageMagick', work: 'convert 64x48 PNG -resize 50%', grants: 'read in, write out' },
      () => direct(CONVERT, [photo, '-resize', '50%', join(outputDir('im-out-direct'), 'thumb.png')]),
      async () => {
        const out = outputDir('im-out');
        const r = ok(await run(CONVERT, [photo, '-resize', '50%', join(out, 'thumb.png')], { sandbox: { fs: { read: [input], write: [out] } }, limits: IM_LIMITS, timeoutMs: 60_000 }));
        assert.equal(pngSize(join(out, 'thumb.png')), '32x24');
        // The caller reads the result (another operation could not: it is the converting uid's, mode 0600).
        assert.equal(direct(IDENTIFY, ['-format', '%m %wx%h %[channels]\n', join(out, 'thumb.png')]).stdout, 'PNG 32x24 srgb\n');
        return r;
      },
    );
    assert.equal(result.stdout, '');
  });

  test('a hostile image declaring 50000x50000 stops at the policy (width/height limit), host disk untouched', async () => {
    const bomb = put(input, 'bomb.bmp', bmpHeader(50_000, 50_000));
    const out = outputDir('im-bomb-out');
    const { value: result, shrunkBytes } = await watchFreeSpace(async () =>
      (
        await compare(
          { program: 'ImageMagick', work: 'hostile BMP header, 50000x50000', grants: 'read in, write out' },
          () => direct(CONVERT, [bomb, join(outputDir('im-bomb-direct'), 'out.png')]),
          async () => run(CONVERT, [bomb, join(out, 'out.png')], { sandbox: { fs: { read: [input], write: [out] } }, limits: IM_LIMITS, timeoutMs: 60_000 }),
          1,
        )
      ).result,
    );
    assert.equal(result.exitCode, 1, describeRun(result));
    assert.match(result.stderr, /width or height exceeds limit/);
    assert.deepEqual(readdirSync(out), []);
    assert.ok(shrunkBytes < 64 * MiB, `free space in ${tmpdir()} fell by ${shrunkBytes} bytes`);
  });

  test('a decompression bomb inside the policy (7000x7000, 6 KB) ends at the private tmpfs cap, not on the host disk', async () => {
    // 49 MP fits the policy's area limit, but its pixel cache (392 MB) does
    // not fit its memory limit, so ImageMagick spills it to a file in TMPDIR:
    // outside a sandbox that is the host's /tmp (measured: a 490 MB file, and
    // over ten minutes of work); here it is the operation's 256 MiB tmpfs.
    const bomb = put(input, 'bomb.png', png(7000, 7000, 'bilevel'));
    assert.ok(statSync(bomb).size < 10_000);
    const out = outputDir('im-flood-out');
    const { value: result, shrunkBytes } = await watchFreeSpace(async () =>
      (
        await compare(
          { program: 'ImageMagick', work: 'decompression bomb PNG 7000x7000 → GIF', grants: 'read in, write out', directNote: 'not run: fills the host /tmp (490 MB, >10 min)' },
          null,
          async () => run(CONVERT, [bomb, join(out, 'out.gif')], { sandbox: { fs: { read: [input], write: [out] } }, limits: IM_LIMITS, timeoutMs: 60_000 }),
          1,
        )
      ).result,
    );
    // ImageMagick dies of the full tmpfs: a page of its mapped cache file
    // cannot be allocated (SIGBUS), and its signal handler removes its temp
    // files and aborts. (The same happens without memoryBytes, so the cap is
    // the tmpfs; but as the files are gone by the exit, result.limit cannot
    // say 'tmpdir' and, memoryBytes being set, guesses 'memory' from SIGABRT.)
    assert.equal(result.exitCode, null, describeRun(result));
    assert.equal(result.signal, 'SIGABRT', describeRun(result));
    assert.equal(result.timedOut, false, describeRun(result));
    assert.ok(result.wallMs < 30_000, `wallMs ${result.wallMs}`);
    assert.deepEqual(readdirSync(out), []);
    assert.ok(shrunkBytes < 64 * MiB, `free space in ${tmpdir()} fell by ${shrunkBytes} bytes`);
  });
});

// ---- git -----------------------------------------------------------------------

interface SavedFile {
  content: Buffer;
  mode: number;
  uid: number;
  gid: number;
  atimeNs: bigint;
  mtimeNs: bigint;
}

/** `touch -d` takes nanoseconds, where fs.utimes rounds to a double of seconds. */
function touchNs(file: string, which: '-a' | '-m', ns: bigint): void {
  const stamp = `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
  const r = spawnSync('touch', [which, '-d', stamp, file]);
  assert.equal(r.status, 0, `touch ${which} -d ${stamp} ${file}: ${r.stderr}`);
}

/** undefined: /etc/gitconfig untouched; null: it was absent (remove ours); else what to put back. */
let savedGitconfig: SavedFile | null | undefined;
const GIT_ALIAS = '[alias]\n\thatchery-compat = log -1 --format=compat:%s\n';

/** Adds a harmless alias to /etc/gitconfig (creating it if absent), remembering exactly what was there. */
function installGitconfig(): void {
  if (existsSync(GITCONFIG)) {
    const st = statSync(GITCONFIG, { bigint: true });
    const content = readFileSync(GITCONFIG);
    savedGitconfig = { content, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), atimeNs: st.atimeNs, mtimeNs: st.mtimeNs };
    const sep = content.length === 0 || content[content.length - 1] === 0x0a ? '' : '\n';
    writeFileSync(GITCONFIG, Buffer.concat([content, Buffer.from(`${sep}${GIT_ALIAS}`)]));
  } else {
    savedGitconfig = null;
    writeFileSync(GITCONFIG, GIT_ALIAS, { mode: 0o644 });
    chmodSync(GITCONFIG, 0o644);
  }
}

function restoreGitconfig(): void {
  const saved = savedGitconfig;
  if (saved === undefined) return;
  savedGitconfig = undefined;
  if (saved === null) {
    rmSync(GITCONFIG, { force: true });
    return;
  }
  writeFileSync(GITCONFIG, saved.content);
  chownSync(GITCONFIG, saved.uid, saved.gid);
  chmodSync(GITCONFIG, saved.mode);
  touchNs(GITCONFIG, '-a', saved.atimeNs);
  touchNs(GITCONFIG, '-m', saved.mtimeNs);
}

describe('git with a system gitconfig', { skip: missing('/usr/bin/git') }, () => {
  const env = {
    GIT_AUTHOR_NAME: 'Ada Lovelace',
    GIT_AUTHOR_EMAIL: 'ada@example.org',
    GIT_COMMITTER_NAME: 'Ada Lovelace',
    GIT_COMMITTER_EMAIL: 'ada@example.org',
  };
  const origin = outputDir('git-origin');

  test('init, commit, log, clone: reads /etc/gitconfig (as root: an alias put there works), author from env', async () => {
    const stamp = (): string | null => {
      if (!existsSync(GITCONFIG)) return null;
      const st = statSync(GITCONFIG, { bigint: true });
      return `${sha256(GITCONFIG)} ${st.mode} ${st.uid}:${st.gid} ${st.mtimeNs}`;
    };
    const before = stamp();
    // As root a harmless alias goes into /etc/gitconfig (made if absent), and
    // the file is put back exactly afterwards; another user can only compare
    // git's view of the system config in and out of the sandbox.
    if (isRoot) installGitconfig();
    try {
      const system = direct('git', ['config', '--system', '--list', '--show-origin']);
      const inside = await run('git', ['config', '--system', '--list', '--show-origin']);
      assert.deepEqual([inside.exitCode, inside.stdout], [system.status, system.stdout], 'git sees the same system config in the sandbox');

      const alias = isRoot ? ['git config --show-origin --get alias.hatchery-compat', 'git hatchery-compat'] : [];
      const script = [
        'umask 022', // the clone below is another operation, with another uid: it must be able to read this repo
        'cd "$1"',
        'git init -q -b main',
        'echo hello > README',
        'git add README',
        'git commit -q -m first',
        ...alias,
        'git log --format="%an <%ae> %s"',
      ].join(' && ');
      const { result, direct: d } = await compare(
        { program: 'git', work: `init, add, commit, ${isRoot ? 'alias from /etc/gitconfig, ' : ''}log`, grants: 'write repo' },
        () => direct('sh', ['-c', script, 'sh', outputDir('git-direct')], { env }),
        async (i) => {
          const repo = i === 0 ? origin : outputDir('git-rep');
          return ok(await run('sh', ['-c', script, 'sh', repo], { env, sandbox: { fs: { write: [repo] } } }));
        },
      );
      const expected = `${isRoot ? 'file:/etc/gitconfig\tlog -1 --format=compat:%s\ncompat:first\n' : ''}Ada Lovelace <ada@example.org> first\n`;
      assert.equal(result.stdout, expected);
      assert.equal(d?.stdout, expected);

      const dest = outputDir('git-clone');
      const clone = [
        'git clone -q "$1" "$2/clone"',
        'cd "$2/clone"',
        ...alias.slice(1),
        'git log --format="%an %s"',
        'git status --short --branch',
      ].join(' && ');
      const { result: cloned, direct: clonedDirect } = await compare(
        { program: 'git', work: 'clone a local repo', grants: 'read source, write dest' },
        // Directly, root's git refuses a repo of another uid ("dubious ownership") unless its (temporary) HOME's config says it is safe. In the
        // sandbox's user namespace every owner it has no mapping for shows as 65534, its own uid, so git does not ask.
        () => direct('sh', ['-c', `git config --global safe.directory '*' && ${clone}`, 'sh', origin, outputDir('git-clone-direct')], { env }),
        async (i) => {
          const to = i === 0 ? dest : outputDir('git-clone-rep');
          return ok(await run('sh', ['-c', clone, 'sh', origin, to], { env, sandbox: { fs: { read: [origin], write: [to] } } }));
        },
      );
      assert.equal(cloned.stdout, `${isRoot ? 'compat:first\n' : ''}Ada Lovelace first\n## main...origin/main\n`);
      assert.deepEqual([clonedDirect?.status, clonedDirect?.stdout], [0, cloned.stdout], clonedDirect?.stderr);
      assert.equal(readFileSync(join(dest, 'clone', 'README'), 'utf8'), 'hello\n');
    } finally {
      restoreGitconfig();
    }
    assert.equal(stamp(), before, '/etc/gitconfig is exactly as it was: content, mode, owner, mtime');
  });
});

// ---- node ----------------------------------------------------------------------

describe('node', () => {
  test('node -e runs a tiny script', async () => {
    const code = 'console.log([1, 2, 3].map((n) => n * 2).join(","), typeof require("node:os").cpus)';
    const { result, direct: d } = await compare(
      { program: 'node', work: 'node -e (a tiny script)', grants: 'none' },
      () => direct(process.execPath, ['-e', code]),
      async () => ok(await run(process.execPath, ['-e', code])),
    );
    assert.equal(result.stdout, '2,4,6 function\n');
    assert.equal(d?.stdout, result.stdout);
  });

  test('node under limits.memoryBytes 256 MiB allocates 64 MiB', async () => {
    const code = 'const b = Buffer.alloc(64 * 1024 * 1024, 1); const a = Array.from({ length: 1e6 }, (_, i) => i); console.log(b.length, a.length)';
    const { result } = await compare(
      { program: 'node', work: 'allocate 64 MiB under memoryBytes 256 MiB', grants: 'none' },
      () => direct(process.execPath, ['-e', code]),
      async () => run(process.execPath, ['-e', code], { limits: { memoryBytes: 256 * MiB } }),
      1,
    );
    assert.equal(result.exitCode, 0, describeRun(result));
    assert.equal(result.stdout, '67108864 1000000\n');
  });
});

// ---- shell tools ---------------------------------------------------------------

describe('shell tools', () => {
  const input = inputDir('sh-in');
  const words = put(input, 'words.txt', `${['pear', 'apple', 'fig', 'apple', 'kiwi', 'pear', 'apple', 'fig', 'pear', 'apple'].join('\n')}\n`);

  test('sort | uniq -c | sort | awk | sed through sh -c', { skip: missing('/usr/bin/gawk') }, async () => {
    const script = 'sort "$1" | uniq -c | sort -k1,1nr -k2 | awk \'{ printf "%s=%d\\n", $2, $1 }\' | sed -n "1,3p" | tr "\\n" " "';
    const { result, direct: d } = await compare(
      { program: 'sort/uniq/awk/sed', work: 'word-count pipeline via sh -c', grants: 'read in' },
      () => direct('sh', ['-c', script, 'sh', words]),
      async () => ok(await run('sh', ['-c', script, 'sh', words], { sandbox: { fs: { read: [input] } } })),
    );
    assert.equal(result.stdout, 'apple=4 pear=3 fig=2 ');
    assert.equal(d?.stdout, result.stdout);
  });

  test('gawk: a program with arrays and a user function', { skip: missing('/usr/bin/gawk') }, async () => {
    const program = 'function sq(x) { return x * x } { n[$1]++ } END { for (w in n) s += sq(n[w]); print s, length(n) }';
    const { result, direct: d } = await compare(
      { program: 'gawk', work: 'arrays, functions', grants: 'read in' },
      () => direct('gawk', [program, words]),
      async () => ok(await run('gawk', [program, words], { sandbox: { fs: { read: [input] } } })),
    );
    assert.equal(result.stdout, '30 4\n');
    assert.equal(d?.stdout, result.stdout);
  });

  test('tar | gzip round trip of a directory: input read, output written, contents identical', async () => {
    const tree = join(input, 'tree');
    mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true });
    for (const d of [tree, join(tree, 'sub'), join(tree, 'sub', 'deeper')]) chmodSync(d, 0o755);
    put(tree, 'a.txt', 'alpha\n');
    put(join(tree, 'sub'), 'b.bin', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 255)));
    put(join(tree, 'sub', 'deeper'), 'c.txt', 'gamma\n'.repeat(1000));
    const script = [
      'tar -C "$1" -cf - . | gzip -9 > "$2/tree.tar.gz"',
      'mkdir "$2/x"',
      'gzip -dc "$2/tree.tar.gz" | tar -C "$2/x" -xf -',
      'diff -r "$1" "$2/x"',
      'tar -tzf "$2/tree.tar.gz" | LC_ALL=C sort | tr "\\n" " "',
    ].join(' && ');
    let lastOut = '';
    const { result, direct: d } = await compare(
      { program: 'tar + gzip', work: 'archive a dir, extract, diff -r', grants: 'read in, write out' },
      () => direct('sh', ['-c', script, 'sh', tree, outputDir('tar-direct')]),
      async () => {
        lastOut = outputDir('tar-out');
        return ok(await run('sh', ['-c', script, 'sh', tree, lastOut], { sandbox: { fs: { read: [input], write: [lastOut] } } }));
      },
    );
    assert.equal(result.stdout, './ ./a.txt ./sub/ ./sub/b.bin ./sub/deeper/ ./sub/deeper/c.txt ');
    assert.equal(d?.stdout, result.stdout);
    assert.equal(readFileSync(join(lastOut, 'x', 'sub', 'deeper', 'c.txt'), 'utf8'), 'gamma\n'.repeat(1000));
    assert.equal(sha256(join(lastOut, 'x', 'sub', 'b.bin')), sha256(join(tree, 'sub', 'b.bin')));
  });

  test('/dev/stdout, /dev/stdin, /dev/stderr redirections', async () => {
    const script = 'echo x > /dev/stdout && cat /dev/stdin && echo e > /dev/stderr';
    // child_process gives its children socketpairs, which open() refuses (ENXIO
    // for /dev/stdout); hatchery gives pipes. So the direct run goes through pipes too.
    const piped = `cat | { ${script}; } 2>&1 | cat`;
    const { result, direct: d } = await compare(
      { program: 'sh', work: 'echo > /dev/stdout, cat /dev/stdin, echo > /dev/stderr', grants: 'none', directNote: 'through cat pipes' },
      () => direct('sh', ['-c', piped], { input: 'in\n' }),
      async () => ok(await run('sh', ['-c', script], { input: 'in\n' })),
    );
    assert.equal(result.stdout, 'x\nin\n');
    assert.equal(result.stderr, 'e\n');
    assert.equal(d?.stdout, 'x\nin\ne\n');
  });

  test('10,000 arguments', async () => {
    const args = ['-c', 'echo $#', 'sh', ...Array.from({ length: 10_000 }, (_, i) => String(i))];
    const { result, direct: d } = await compare(
      { program: 'sh', work: "sh -c 'echo $#' with 10,000 arguments", grants: 'none' },
      () => direct('sh', args),
      async () => run('sh', args),
      1,
    );
    assert.equal(d?.stdout, '10000\n');
    assert.equal(result.stdout, '10000\n');
  });
});

// ---- what the default profile gives ordinary programs ---------------------------

describe('the default profile gives programs what they expect', () => {
  test('a private, writable /tmp and /dev/shm per operation, gone afterwards', async () => {
    const marker = `hatchery-compat-${process.pid}`;
    const first = ok(await run('sh', ['-c', `echo one > /tmp/${marker} && echo one > /dev/shm/${marker} && cat /tmp/${marker} /dev/shm/${marker} && echo "$TMPDIR $HOME $(pwd)"`]));
    assert.equal(first.stdout, 'one\none\n/tmp /tmp /tmp\n');
    const second = ok(await run('sh', ['-c', `ls -A /tmp /dev/shm; test ! -e /tmp/${marker} && test ! -e /dev/shm/${marker} && echo absent`]));
    assert.equal(second.stdout, '/dev/shm:\n\n/tmp:\nabsent\n');
    assert.equal(existsSync(join('/tmp', marker)), false);
    assert.equal(existsSync(join('/dev/shm', marker)), false);
  });

  test('with a grant under /tmp, the private temp dir is /var/tmp, and /dev/shm is still private', async () => {
    const input = inputDir('tmp-grant');
    put(input, 'data', 'granted\n');
    const marker = `hatchery-compat-shm-${process.pid}`;
    const r = ok(await run('sh', ['-c', `cat "$1/data" && echo "$TMPDIR" && echo x > "$TMPDIR/f" && echo y > /dev/shm/${marker} && cat "$TMPDIR/f" /dev/shm/${marker}`, 'sh', input], { sandbox: { fs: { read: [input] } } }));
    const expectedTmp = input.startsWith('/tmp/') ? '/var/tmp' : '/tmp';
    assert.equal(r.stdout, `granted\n${expectedTmp}\nx\ny\n`);
    assert.equal(existsSync(`/dev/shm/${marker}`), false);
  });

  test('/dev/fd and /dev/std* (bash process substitution, /dev/fd/0)', { skip: missing('/bin/bash') }, async () => {
    const r = ok(await run('bash', ['-c', 'cat <(echo substituted) && cat /dev/fd/0 && readlink /dev/stdin /dev/fd'], { input: 'fd0\n' }));
    assert.equal(r.stdout, 'substituted\nfd0\n/proc/self/fd/0\n/proc/self/fd\n');
  });

  test('system configuration is readable, as on the host: ImageMagick policy, gitconfig, fonts, mime types', async () => {
    const files = [IM_POLICY, GITCONFIG, '/etc/fonts/fonts.conf', '/etc/mime.types', '/etc/passwd', '/etc/ld.so.cache'].filter((f) => existsSync(f));
    assert.ok(files.length >= 3, `found ${files.join(', ')}`);
    const r = ok(await run('sha256sum', files));
    assert.equal(r.stdout, files.map((f) => `${sha256(f)}  ${f}\n`).join(''));
  });

  test('fontconfig finds a font through /etc/fonts', { skip: missing('/usr/bin/fc-match') }, async () => {
    const d = direct('fc-match', ['-f', '%{family[0]}\n', 'sans']);
    const r = ok(await run('fc-match', ['-f', '%{family[0]}\n', 'sans']));
    assert.equal(r.stdout, d.stdout);
    assert.notEqual(r.stdout, '');
  });

  test('python finds /etc/mime.types', { skip: missing(PYTHON, '/etc/mime.types') }, async () => {
    const code = 'import mimetypes; mimetypes.init(); print([f for f in mimetypes.knownfiles if __import__("os").path.isfile(f)][:1], mimetypes.guess_type("x.ogg")[0])';
    const r = ok(await run(PYTHON, ['-c', code]));
    assert.equal(r.stdout, direct(PYTHON, ['-c', code]).stdout);
    assert.match(r.stdout, /^\['\/etc\/mime\.types'\] /);
  });

  test('/etc stays read-only, and its secrets closed to the sandbox uid (DAC)', async () => {
    const secrets = ['/etc/shadow', '/etc/gshadow', '/etc/ssl/private'].filter((f) => existsSync(f) && (statSync(f).mode & 0o004) === 0);
    const r = await run('sh', ['-c', 'touch /etc/hatchery-compat 2>/dev/null && echo wrote; for f in "$@"; do if [ -d "$f" ]; then ls "$f"; else cat "$f"; fi >/dev/null 2>&1 || echo "denied $f"; done', 'sh', ...secrets]);
    assert.equal(r.stdout, secrets.map((f) => `denied ${f}\n`).join(''), describeRun(r));
    assert.equal(existsSync('/etc/hatchery-compat'), false);
  });

  test('successive operations sharing a workspace (root: each is a new uid; umask 0 in a 0777 dir shares files)', { skip: !isRoot && 'only a root caller gives each operation its own uid' }, async () => {
    const ws = join(base, `${++dirCount}-workspace`);
    mkdirSync(ws);
    chmodSync(ws, 0o777);
    const grants = { sandbox: { fs: { write: [ws], exec: [ws] } } };
    ok(await run('sh', ['-c', 'cd "$1" && echo one > private.txt && umask 0 && echo one > shared.txt && printf "#!/bin/sh\\necho ran\\n" > step.sh && chmod +x step.sh', 'sh', ws], grants));
    const r = await run('sh', ['-c', 'cd "$1" && cat private.txt 2>/dev/null || echo "private.txt: denied"; umask 0 && echo two >> shared.txt && cat shared.txt && ./step.sh && rm private.txt && echo removed', 'sh', ws], grants);
    assert.equal(r.stdout, 'private.txt: denied\none\ntwo\nran\nremoved\n', describeRun(r));
  });
});
