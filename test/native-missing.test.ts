// An install without its native build (npm install --ignore-scripts): importing
// works, and the first use fails with NATIVE_UNAVAILABLE saying how to build it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A copy of the package as an install that skipped its build scripts leaves it: dist/src, bin, no build/. */
function installWithoutBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-nobuild-'));
  dirs.push(dir);
  cpSync(join(root, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  cpSync(join(root, 'bin'), join(dir, 'bin'), { recursive: true });
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  copyFileSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
  return dir;
}

function useIt(dir: string): { imported: boolean; errors: Record<string, { code: string; message: string } | null> } {
  const program = `
    const out = { imported: false, errors: {} };
    const m = await import(${JSON.stringify(join(dir, 'dist', 'src', 'index.js'))});
    out.imported = true;
    const attempt = async (name, f) => {
      try { await f(); out.errors[name] = null; } catch (e) { out.errors[name] = { code: e.code, message: e.message }; }
    };
    await attempt('run', () => m.run('true'));
    await attempt('spawn', () => m.spawn('true'));
    await attempt('createPool', async () => { const p = m.createPool({ minZygotes: 0 }); try { await p.run('true'); } finally { await p.close(); } });
    await attempt('createWorkerPool', () => m.createWorkerPool({ module: ${JSON.stringify(join(dir, 'package.json'))} }));
    console.log(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof useIt>;
}

const actionable = /npm rebuild hatchery/;

test('without a native build: import works, every first use rejects with NATIVE_UNAVAILABLE naming npm rebuild', () => {
  const dir = installWithoutBuild();
  const out = useIt(dir);
  assert.equal(out.imported, true);
  for (const [name, error] of Object.entries(out.errors)) {
    assert.equal(error?.code, 'NATIVE_UNAVAILABLE', `${name}: ${JSON.stringify(error)}`);
    assert.match(error.message, actionable, name);
    assert.match(error.message, /hatchery_addon\.node does not exist/, name);
  }
  assert.equal(Object.keys(out.errors).length, 4);
});

test('without a native build the CLI exits 125 with one line naming NATIVE_UNAVAILABLE', () => {
  const dir = installWithoutBuild();
  for (const args of [['run', '--', 'true'], ['check'], ['policy', '--explain']]) {
    const r = spawnSync(process.execPath, [join(dir, 'bin', 'hatchery.js'), ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 125, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^hatchery: NATIVE_UNAVAILABLE: .*npm rebuild hatchery.*\n$/, args.join(' '));
  }
});

test('a build with the zygote missing, or an addon that does not load, is NATIVE_UNAVAILABLE too', () => {
  const noZygote = installWithoutBuild();
  mkdirSync(join(noZygote, 'build', 'Release'), { recursive: true });
  copyFileSync(join(root, 'build', 'Release', 'hatchery_addon.node'), join(noZygote, 'build', 'Release', 'hatchery_addon.node'));
  const a = useIt(noZygote).errors.run;
  assert.equal(a?.code, 'NATIVE_UNAVAILABLE');
  assert.match(a.message, /hatchery-zygote does not exist/);

  const broken = installWithoutBuild();
  mkdirSync(join(broken, 'build', 'Release'), { recursive: true });
  writeFileSync(join(broken, 'build', 'Release', 'hatchery_addon.node'), 'not an ELF file');
  copyFileSync(join(root, 'build', 'Release', 'hatchery-zygote'), join(broken, 'build', 'Release', 'hatchery-zygote'));
  const b = useIt(broken).errors.run;
  assert.equal(b?.code, 'NATIVE_UNAVAILABLE');
  assert.match(b.message, /did not load/);
  assert.match(b.message, actionable);
});
