// scripts/build.mjs: install and prepare build only what is out of date, so
// `npx hatchery` in a checkout (which makes npm rerun both) does no work.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, test } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface BuildScript {
  staleReason(root: string, name: 'native' | 'ts'): string | null;
  ensureBuilt(root: string, name: 'native' | 'ts', options?: { force?: boolean; log?: (line: string) => void; build?: () => boolean }): boolean;
}
const script = (await import(pathToFileURL(join(root, 'scripts', 'build.mjs')).href)) as BuildScript;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fakePackage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-build-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'native'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'binding.gyp'), JSON.stringify({ targets: [{ target_name: 'addon', sources: ['native/addon.c'] }, { target_name: 'tool', type: 'executable', sources: ['native/tool.c'] }] }));
  writeFileSync(join(dir, 'native', 'addon.c'), 'int a;\n');
  writeFileSync(join(dir, 'native', 'tool.c'), 'int main(void) { return 0; }\n');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ include: ['src/**/*.ts'] }));
  writeFileSync(join(dir, 'src', 'index.ts'), 'export const x = 1;\n');
  return dir;
}

function counter(dir: string, name: 'native' | 'ts'): { builds: number; ensure: (force?: boolean, ok?: boolean) => boolean } {
  const state = {
    builds: 0,
    ensure: (force = false, ok = true): boolean =>
      script.ensureBuilt(dir, name, {
        force,
        log: () => {},
        build: () => {
          state.builds++;
          if (!ok) return false;
          if (name === 'native') {
            mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
            writeFileSync(join(dir, 'build', 'Release', 'addon.node'), `addon ${state.builds}`);
            writeFileSync(join(dir, 'build', 'Release', 'tool'), `tool ${state.builds}`);
          } else {
            mkdirSync(join(dir, 'dist', 'src'), { recursive: true });
            writeFileSync(join(dir, 'dist', 'src', 'index.js'), `build ${state.builds}`);
          }
          return true;
        },
      }),
  };
  return state;
}

test('native: built once, then up to date until a source, an output or the stamp changes', () => {
  const dir = fakePackage();
  const n = counter(dir, 'native');
  assert.match(script.staleReason(dir, 'native') ?? '', /no record/);
  assert.equal(n.ensure(), true);
  assert.equal(n.builds, 1);
  assert.equal(script.staleReason(dir, 'native'), null);
  assert.equal(n.ensure(), true);
  assert.equal(n.builds, 1, 'a second install with nothing changed builds nothing');

  writeFileSync(join(dir, 'native', 'tool.c'), 'int main(void) { return 1; }\n');
  assert.match(script.staleReason(dir, 'native') ?? '', /inputs changed/);
  n.ensure();
  assert.equal(n.builds, 2);

  writeFileSync(join(dir, 'native', 'new.h'), '#define X 1\n');
  n.ensure();
  assert.equal(n.builds, 3, 'a new header under native/ counts');

  utimesSync(join(dir, 'build', 'Release', 'tool'), new Date(), new Date(Date.now() + 5000));
  assert.match(script.staleReason(dir, 'native') ?? '', /outputs changed/);
  n.ensure();
  assert.equal(n.builds, 4, 'an output rebuilt by hand is not trusted');

  rmSync(join(dir, 'build', 'Release', 'addon.node'));
  assert.match(script.staleReason(dir, 'native') ?? '', /missing build\/Release\/addon\.node/);
  n.ensure();
  assert.equal(n.builds, 5);

  n.ensure(true);
  assert.equal(n.builds, 6, '--force builds');
});

test('a failed build leaves no stamp, so the next install builds again', () => {
  const dir = fakePackage();
  const n = counter(dir, 'native');
  assert.equal(n.ensure(false, false), false);
  assert.match(script.staleReason(dir, 'native') ?? '', /no record/);
  n.ensure();
  assert.equal(n.builds, 2);
  assert.equal(script.staleReason(dir, 'native'), null);
});

test('ts: up to date until a .ts file, tsconfig.json or an emitted file changes', () => {
  const dir = fakePackage();
  const t = counter(dir, 'ts');
  t.ensure();
  t.ensure();
  assert.equal(t.builds, 1);
  writeFileSync(join(dir, 'src', 'more.ts'), 'export const y = 2;\n');
  t.ensure();
  assert.equal(t.builds, 2);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ include: ['src/**/*.ts'], compilerOptions: { strict: true } }));
  t.ensure();
  assert.equal(t.builds, 3);
  writeFileSync(join(dir, 'dist', 'src', 'index.js'), 'edited by hand');
  utimesSync(join(dir, 'dist', 'src', 'index.js'), new Date(), new Date(Date.now() + 5000));
  t.ensure();
  assert.equal(t.builds, 4);
  assert.equal(readFileSync(join(dir, 'dist', 'src', 'index.js'), 'utf8'), 'build 4');
});

test("package.json's install and prepare go through the check; build and test force it; the script ships", () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string>; files: string[] };
  assert.equal(pkg.scripts.install, 'node scripts/build.mjs native');
  assert.equal(pkg.scripts.prepare, 'node scripts/build.mjs ts');
  assert.match(pkg.scripts.build ?? '', /scripts\/build\.mjs native ts --force/);
  assert.ok(pkg.files.includes('scripts/build.mjs'));
});
