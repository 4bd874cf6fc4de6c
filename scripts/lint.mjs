#!/usr/bin/env node
// `npm run lint`: the C in native/ (not yet test/probes/) must be clang-format clean (.clang-format, checked, never rewritten
// here), and the TypeScript must pass ESLint (eslint.config.js).
//
//   node scripts/lint.mjs          check both
//   node scripts/lint.mjs --fix    reformat the C in place, and let ESLint fix what it can
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fix = process.argv.includes('--fix');
let failed = false;

function cFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return cFiles(path);
    return /\.[ch]$/.test(entry.name) ? [path] : [];
  });
}

/** The clang-format from the clang-format-node devDependency, else one on PATH; null when there is none. */
function findClangFormat() {
  const candidates = [join(root, 'node_modules', '.bin', 'clang-format'), 'clang-format'];
  for (const candidate of candidates) {
    const r = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return { path: candidate, version: r.stdout.trim() };
  }
  return null;
}

function run(name, command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.error) process.stderr.write(`lint: ${name}: ${r.error.message}\n`);
  if (r.status !== 0) {
    failed = true;
    process.stderr.write(`lint: ${name} failed\n`);
  } else {
    process.stdout.write(`lint: ${name} ok\n`);
  }
}

const clangFormat = findClangFormat();
// protocol_generated.h is written by scripts/protocol.mjs, not by hand.
const files = cFiles(join(root, 'native'))
  .filter((f) => !f.endsWith('_generated.h')).map((f) => relative(root, f)).sort();
if (clangFormat === null) {
  failed = true;
  process.stderr.write(
    'lint: clang-format is missing: neither node_modules/.bin/clang-format (the clang-format-node devDependency; run `npm install`) ' +
      'nor a clang-format on PATH (Debian: apt-get install clang-format) runs here, so the C was not checked\n',
  );
} else {
  process.stdout.write(`lint: ${clangFormat.version}\n`);
  run(`clang-format (${files.length} files)`, clangFormat.path, fix ? ['-i', ...files] : ['--dry-run', '--Werror', ...files]);
}

const eslint = join(root, 'node_modules', 'eslint', 'bin', 'eslint.js');
if (!existsSync(eslint)) {
  failed = true;
  process.stderr.write('lint: eslint is missing (a devDependency): run `npm install`\n');
} else {
  run('eslint', process.execPath, [eslint, ...(fix ? ['--fix'] : []), 'src', 'test', 'bench', 'scripts', 'eslint.config.js']);
}
process.exit(failed ? 1 : 0);
