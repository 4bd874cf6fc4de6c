#!/usr/bin/env node
// Builds what is out of date, and only that. package.json's `install` (the
// native addon and executables, node-gyp) and `prepare` (the TypeScript, tsc)
// run through here. `npx hatchery` inside a checkout makes npm install the
// checkout into its npx cache as a link, which reruns both scripts: without
// this check every first `npx hatchery` rebuilt everything (seconds, and it
// replaced build/ under running zygotes).
//
// Up to date means: a stamp written after the last successful build records a
// hash of every input (sources, build config, tool version, platform) and the
// size and mtime of every output, and all of them still match. Anything else
// (a changed source, a missing or touched output, a build by hand, no stamp)
// rebuilds.
//
//   node scripts/build.mjs [native] [ts] [--force] [--check]
//     --force  build even when up to date
//     --check  build nothing; exit 0 when up to date, 1 when a build is due
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generate as generateProtocol, SPEC as PROTOCOL_SPEC } from './protocol.mjs';

const STAMP = '.hatchery-build-stamp.json';

function walk(dir, accept, out = []) {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, accept, out);
    else if (entry.isFile() && accept(path)) out.push(path);
  }
  return out;
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** What each kind builds from, into where, and how. */
export function kinds(root) {
  const gyp = readJson(join(root, 'binding.gyp')) ?? { targets: [] };
  const targets = gyp.targets ?? [];
  const typescript = join(root, 'node_modules', 'typescript');
  return {
    native: {
      stampDir: join(root, 'build', 'Release'),
      inputs: () => [
        join(root, 'binding.gyp'),
        ...walk(join(root, 'native'), () => true),
        ...targets.flatMap((t) => t.sources ?? []).map((s) => join(root, s)),
      ],
      extra: () => [process.platform, process.arch],
      outputs: () => targets.map((t) => join(root, 'build', 'Release', t.type === 'executable' ? t.target_name : `${t.target_name}.node`)),
      build: () => {
        // npm names its bundled node-gyp in lifecycle scripts; run by hand, look where npm keeps it.
        const candidates = [
          process.env.npm_config_node_gyp,
          join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
          join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
        ];
        const gypBin = candidates.find((c) => c !== undefined && c !== '' && existsSync(c));
        return gypBin ? run(process.execPath, [gypBin, 'rebuild'], root) : run('node-gyp', ['rebuild'], root);
      },
    },
    ts: {
      stampDir: join(root, 'dist'),
      inputs: () => {
        const config = readJson(join(root, 'tsconfig.json')) ?? {};
        const dirs = (config.include ?? []).map((pattern) => pattern.split('/')[0]);
        return [join(root, 'tsconfig.json'), ...[...new Set(dirs)].flatMap((d) => walk(join(root, d), (p) => p.endsWith('.ts')))];
      },
      extra: () => [readJson(join(typescript, 'package.json'))?.version ?? 'no typescript'],
      outputs: () => walk(join(root, 'dist'), (p) => p.endsWith('.js') || p.endsWith('.d.ts')),
      build: () => {
        const tsc = join(typescript, 'bin', 'tsc');
        return existsSync(tsc) ? run(process.execPath, [tsc, '-p', 'tsconfig.json'], root) : run('tsc', ['-p', 'tsconfig.json'], root);
      },
    },
  };
}

function run(command, args, cwd) {
  const r = spawnSync(command, args, { cwd, stdio: 'inherit' });
  if (r.error) process.stderr.write(`build: ${command}: ${r.error.message}\n`);
  return r.status === 0;
}

function inputHash(root, kind) {
  const hash = createHash('sha256');
  const files = [...new Set(kind.inputs())].filter((f) => existsSync(f)).sort();
  for (const file of files) {
    hash.update(relative(root, file).split(sep).join('/'));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  for (const e of kind.extra()) hash.update(`${e}\0`);
  return hash.digest('hex');
}

function outputState(root, kind) {
  const state = {};
  for (const file of kind.outputs().sort()) {
    const key = relative(root, file).split(sep).join('/');
    try {
      const st = statSync(file);
      state[key] = `${st.size}:${st.mtimeMs}`;
    } catch {
      state[key] = 'missing';
    }
  }
  return state;
}

/** Why `name` must be built, or null when it is up to date. */
export function staleReason(root, name) {
  const kind = kinds(root)[name];
  if (kind.outputs().length === 0) return `no ${name} output found`;
  const stamp = readJson(join(kind.stampDir, STAMP));
  if (stamp === undefined) return 'no record of a previous build';
  if (stamp.inputs !== inputHash(root, kind)) return 'inputs changed since the last build';
  const now = outputState(root, kind);
  const missing = Object.keys(now).filter((k) => now[k] === 'missing');
  if (missing.length > 0) return `missing ${missing.join(', ')}`;
  if (JSON.stringify(now) !== JSON.stringify(stamp.outputs)) return 'outputs changed since the last build';
  return null;
}

/** Build `name` if it is out of date (or forced); returns false when the build failed. `build` replaces the real builder (tests). */
export function ensureBuilt(root, name, { force = false, log = (line) => process.stderr.write(`${line}\n`), build } = {}) {
  // The protocol's generated constants first (native/protocol.json): they are inputs of both builds.
  if (existsSync(join(root, PROTOCOL_SPEC)) && (name === 'native' || existsSync(join(root, 'src', 'protocol')))) {
    for (const path of generateProtocol(root, { languages: [name === 'native' ? 'c' : 'ts'] })) log(`hatchery build: generated ${path}`);
  }
  const kind = { ...kinds(root)[name], ...(build ? { build } : {}) };
  const reason = force ? 'forced' : staleReason(root, name);
  if (reason === null) {
    log(`hatchery build: ${name} is up to date`);
    return true;
  }
  log(`hatchery build: building ${name} (${reason})`);
  rmSync(join(kind.stampDir, STAMP), { force: true });
  if (!kind.build()) return false;
  mkdirSync(kind.stampDir, { recursive: true });
  writeFileSync(join(kind.stampDir, STAMP), `${JSON.stringify({ inputs: inputHash(root, kind), outputs: outputState(root, kind) }, null, 2)}\n`);
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const args = process.argv.slice(2);
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => n !== 'native' && n !== 'ts');
  if (names.length === 0 || unknown.length > 0) {
    process.stderr.write('usage: node scripts/build.mjs [native] [ts] [--force] [--check]\n');
    process.exit(2);
  }
  if (args.includes('--check')) {
    const stale = names.map((n) => [n, staleReason(root, n)]).filter(([, why]) => why !== null);
    for (const [n, why] of stale) process.stdout.write(`${n}: ${why}\n`);
    process.exit(stale.length === 0 ? 0 : 1);
  }
  for (const name of names) {
    if (!ensureBuilt(root, name, { force: args.includes('--force') })) process.exit(1);
  }
}
