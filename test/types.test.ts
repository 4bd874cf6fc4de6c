// Type tests: test/types/api.ts must compile (its @ts-expect-error lines are misuse that must be rejected).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function typecheck(project: string): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

test('test/types/api.ts compiles: the public types accept good use and reject each misuse', () => {
  const r = typecheck(join(root, 'test', 'types'));
  assert.equal(r.code, 0, r.output);
});

test('the check is real: an @ts-expect-error on valid code fails the compile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hatchery-types-'));
  try {
    writeFileSync(
      join(dir, 'probe.ts'),
      "import { run } from " + JSON.stringify(join(root, 'src', 'index.js')) + ";\n// @ts-expect-error valid code: this directive is unused\nvoid run('true', [], { timeoutMs: 5 });\n",
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(root, 'test', 'types', 'tsconfig.json'),
        compilerOptions: { typeRoots: [join(root, 'node_modules', '@types')] },
        files: ['probe.ts'],
      }),
    );
    const r = typecheck(dir);
    assert.notEqual(r.code, 0);
    assert.match(r.output, /TS2578: Unused '@ts-expect-error' directive/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
