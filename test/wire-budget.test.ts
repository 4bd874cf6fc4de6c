// argv and env that do not fit a spawn request are INVALID_OPTION naming args/env
// with the number and the limit, never PROTOCOL; what fits, runs.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { InvalidOptionRangeError, closeDefaultZygote, createPool, run, spawn } from '../src/index.js';
import { MAX_ARGS, MAX_ENV, MAX_MESSAGE } from '../src/protocol/wire.js';
import { stringRecordBytes } from '../src/options/wire-budget.js';

after(() => closeDefaultZygote());

function invalid(option: 'args' | 'env', ...patterns: RegExp[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof InvalidOptionRangeError, `expected InvalidOptionRangeError, got ${String(e)}`);
    assert.equal(e.code, 'INVALID_OPTION');
    assert.equal(e.option, option, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };
}

test(`more than ${MAX_ARGS - 1} arguments: INVALID_OPTION on args with the count and the limit`, async () => {
  const args = Array.from({ length: MAX_ARGS }, () => 'x');
  await assert.rejects(run('/bin/true', args), invalid('args', new RegExp(`has ${MAX_ARGS} arguments`), new RegExp(`at most ${MAX_ARGS - 1}`)));
  await assert.rejects(spawn('/bin/true', args), invalid('args'));
  await assert.rejects(run('/bin/true', args, { sandbox: false }), invalid('args'));
  const pool = createPool({ maxZygotes: 1 });
  try {
    await assert.rejects(pool.run('/bin/true', args), invalid('args'));
  } finally {
    await pool.close();
  }
});

test(`exactly ${MAX_ARGS - 1} short arguments run`, async () => {
  const rest = Array.from({ length: MAX_ARGS - 3 }, (_, i) => String(i % 10));
  // sh -c SCRIPT $0 $1 ...: the program name, -c and the script are 3 of the MAX_ARGS argv entries
  const r = await run('/bin/sh', ['-c', 'echo $#', ...rest]);
  assert.equal(r.stdout, `${rest.length - 1}\n`);
});

test(`more than ${MAX_ENV} variables: INVALID_OPTION on env`, async () => {
  const env: Record<string, string> = {};
  for (let i = 0; i <= MAX_ENV; i++) env[`V${i}`] = '1';
  await assert.rejects(run('/bin/true', [], { env }), invalid('env', new RegExp(`has ${MAX_ENV + 2} variables`), new RegExp(`at most ${MAX_ENV}`)));
});

test('the private temp dir\'s HOME and TMPDIR count: an env that fills every slot is refused at spawn time, naming env', async () => {
  const env: Record<string, string> = {};
  for (let i = 0; i < MAX_ENV - 1; i++) env[`V${i}`] = '1'; // + PATH = MAX_ENV
  await assert.rejects(run('/bin/true', [], { env }), invalid('env', /hatchery adds 2/, new RegExp(`more than the ${MAX_ENV}`)));
  const r = await run('/bin/sh', ['-c', 'echo $V0'], { env, sandbox: { tmpdir: false } });
  assert.equal(r.stdout, '1\n');
});

test('one argument larger than a spawn request: INVALID_OPTION on args with the size and the limit', async () => {
  const big = 'a'.repeat(MAX_MESSAGE);
  await assert.rejects(run('/bin/echo', [big]), invalid('args', /takes 128\.\d KiB \(\d+ bytes\) encoded/, new RegExp(`limit is ${MAX_MESSAGE} bytes`)));
  await assert.rejects(run('/bin/true', [], { env: { BIG: big } }), invalid('env', /takes 128\.\d KiB \(\d+ bytes\) encoded/));
  // Fits alone, but not beside the default sandbox's own records (Landlock rules, seccomp program, mounts).
  await assert.rejects(run('/bin/echo', ['a'.repeat(MAX_MESSAGE - 1024)]), invalid('args', /sandbox policy/));
});

test('args and env that fit alone but not together are refused naming the bigger one, with the exact room; filling the room runs', async () => {
  const script = 'echo ${#1} ${#BIG}';
  const request = (argLength: number, envLength: number) =>
    run('/bin/sh', ['-c', script, 'x', 'a'.repeat(argLength)], { env: { BIG: 'b'.repeat(envLength) }, sandbox: false });
  let room = 0;
  await assert.rejects(request(100 * 1024, 40 * 1024), (e: unknown) => {
    invalid('args', /100\.1 KiB \(\d+ bytes\) of arguments and 40\.1 KiB \(\d+ bytes\) of environment/, new RegExp(`at most ${MAX_MESSAGE} bytes`))(e);
    room = Number(/\((\d+) bytes\) of arguments and environment fit/.exec((e as Error).message)?.[1]);
    return true;
  });
  assert.ok(room > 120 * 1024 && room < MAX_MESSAGE, `room ${room}`);
  await assert.rejects(request(40 * 1024, 100 * 1024), invalid('env', /is too large/));

  // The room is exact: the largest argument that fills it runs, one byte more is refused (not PROTOCOL).
  const envLength = 30 * 1024;
  const used = (argLength: number): number =>
    ['/bin/sh', '-c', script, 'x', 'a'.repeat(argLength), `BIG=${'b'.repeat(envLength)}`, 'PATH=/usr/local/bin:/usr/bin:/bin']
      .map(stringRecordBytes)
      .reduce((a, b) => a + b, 0);
  let argLength = room;
  while (used(argLength) > room) argLength--;
  const fits = await request(argLength, envLength);
  assert.equal(fits.stdout, `${argLength} ${envLength}\n`);
  await assert.rejects(request(argLength + 1, envLength), invalid('args', /is \d+ bytes; a spawn request holds at most/));
});
