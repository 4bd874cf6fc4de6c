// A write grant the sandbox's uid cannot use (a root caller's sandbox runs
// unprivileged) is refused up front, naming the option and the uid.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { InvalidOptionRangeError, closeDefaultZygote, run } from '../src/index.js';
import { checkWriteGrants } from '../src/spawn/grant-check.js';

const root = process.getuid?.() === 0;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await closeDefaultZygote();
});

function scratch(mode: number, uid = 0, gid = 0): string {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-grant-'));
  dirs.push(dir);
  chownSync(dir, uid, gid);
  chmodSync(dir, mode);
  return dir;
}

function refused(option: string, ...patterns: RegExp[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof InvalidOptionRangeError, String(e));
    assert.equal(e.code, 'INVALID_OPTION');
    assert.equal(e.option, option);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };
}

describe('checkWriteGrants (owner, group and other bits, for the uid it is given)', { skip: root ? false : 'needs root to chown' }, () => {
  const nobody = { uid: 65534, gid: 65534 };

  test('a root-owned 0755 directory is refused, naming the index, the uid and how to fix it', () => {
    const ok = scratch(0o777);
    const dir = scratch(0o755);
    assert.throws(
      () => checkWriteGrants([ok, dir], nobody),
      refused('sandbox.fs.write[1]', /is not writable by uid 65534/, /owned by uid 0, gid 0, mode 0755/, /chown 65534/),
    );
  });

  test('the uid comes from the caller of the check, not a constant', () => {
    const dir = scratch(0o755, 12345, 12345);
    checkWriteGrants([dir], { uid: 12345, gid: 12345 });
    assert.throws(() => checkWriteGrants([dir], nobody), refused('sandbox.fs.write[0]', /uid 65534/));
    assert.throws(() => checkWriteGrants([dir], { uid: 23456, gid: 23456 }, 'fs.write'), refused('fs.write[0]', /uid 23456/));
  });

  test('owner, then group, then others decide, as in the kernel', () => {
    assert.throws(() => checkWriteGrants([scratch(0o577, 65534, 0)], nobody), /its owner has no write permission/);
    assert.throws(() => checkWriteGrants([scratch(0o757, 0, 65534)], nobody), /its group has no write permission/);
    checkWriteGrants([scratch(0o775, 0, 65534)], nobody);
    checkWriteGrants([scratch(0o1777)], nobody);
    // a directory needs search too
    assert.throws(() => checkWriteGrants([scratch(0o752)], nobody), /neither its group nor others/);
  });

  test("group-writable for another group is let through: an ACL entry may grant it (the group bits are then the mask)", () => {
    checkWriteGrants([scratch(0o775)], nobody);
  });

  test('files: write permission is enough', () => {
    const dir = scratch(0o755);
    const file = join(dir, 'f');
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    assert.throws(() => checkWriteGrants([file], nobody), refused('sandbox.fs.write[0]', /the file is owned by uid 0/, /chmod o\+w /));
    chmodSync(file, 0o646);
    checkWriteGrants([file], nobody);
  });

  test('nothing to check when the sandbox runs as the caller', () => {
    checkWriteGrants([scratch(0o500)], { uid: process.geteuid!(), gid: process.getegid!() });
  });
});

test('end to end, as root: an --rw dir the sandbox uid cannot write is INVALID_OPTION before anything runs; once it can, the write lands', { skip: root ? false : 'the sandbox runs as the caller: nothing to check' }, async () => {
  const { enforcement } = await run('/bin/true');
  assert.notEqual(enforcement.uid, 0);
  const dir = scratch(0o755);
  const target = join(dir, 'out');
  const write = () => run('/bin/sh', ['-c', `echo x > ${target}`], { sandbox: { fs: { write: [dir] } } });
  // A root caller's operation has a uid of its own, a fresh one each time: the message names the one it would have had.
  await assert.rejects(write(), refused('sandbox.fs.write[0]', /not writable by uid \d+, the uid this operation runs as .*chmod 1777/));
  chmodSync(dir, 0o1777);
  const r = await write();
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(readFileSync(target, 'utf8'), 'x\n');
});
