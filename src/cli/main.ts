/** The `hatchery` command line: dispatch to subcommands. */
import { exitCodeFor, runCommand, runHelp } from './run-command.js';

const usage = `Usage: hatchery <command> [options]

Commands:
  run      run a program in a sandboxed child         (hatchery run --help)
  check    what this machine supports and what the default profile enforces
                                                      (hatchery check --help)
  policy   explain the compiled policy for run options (hatchery policy --help)
  worker   run BullMQ queue jobs in sandboxes until SIGTERM (hatchery worker --help)
  bench    spawn latency against peers; writes JSON and an SVG chart
           (a source checkout only; hatchery bench --help)

Options:
  -h, --help     show this help
  -v, --version  print the version

Exit codes: 0 for help and version; 125 when hatchery itself fails (a bad
command line, an invalid option, ...), with one line \`hatchery: CODE: reason\`
on stderr; each command's help lists the rest (see docs/errors.md).
`;

const COMMANDS = ['run', 'check', 'policy', 'worker', 'bench'] as const;

/** A bad command line: one line on stderr, exit 125 (docs/errors.md). */
function usageError(reason: string): number {
  process.stderr.write(`hatchery: USAGE: ${reason} (see hatchery --help)\n`);
  return 125;
}

/** `hatchery bench` runs the benchmark entry point in its own Node (it needs --expose-gc). */
async function benchCommand(argv: readonly string[]): Promise<number> {
  const { existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { spawn } = await import('node:child_process');
  const { packageRoot } = await import('../native/binding.js');
  const entry = join(packageRoot, 'dist', 'bench', 'main.js');
  if (!existsSync(entry)) {
    process.stderr.write(`hatchery: USAGE: the benchmark is not built (${entry}); it ships with a source checkout: npm run bench\n`);
    return 125;
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', entry, ...argv], { stdio: 'inherit' });
    child.once('error', (e) => {
      process.stderr.write(`hatchery: EXEC_FAILED: bench: ${e.message}\n`);
      resolve(125);
    });
    child.once('exit', (code, signal) => resolve(exitCodeFor(code, signal)));
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runCommand(rest);
    case 'check': {
      const { checkCommand } = await import('./check.js');
      const { reportError } = await import('./run-command.js');
      try {
        return checkCommand(rest);
      } catch (e) {
        return reportError(e, 'check');
      }
    }
    case 'policy': {
      const { policyCommand } = await import('./policy-command.js');
      return policyCommand(rest);
    }
    case 'bench':
      return benchCommand(rest);
    case 'worker': {
      const { workerCommand } = await import('./worker-command.js');
      return workerCommand(rest);
    }
    case undefined:
      return usageError(`missing command: one of ${COMMANDS.join(', ')}`);
    case '-h':
    case '--help':
    case 'help':
      if (rest[0] === 'run') process.stdout.write(runHelp);
      else if (rest[0] === 'check') process.stdout.write((await import('./check.js')).checkHelp);
      else if (rest[0] === 'policy') process.stdout.write((await import('./policy-command.js')).policyHelp);
      else if (rest[0] === 'worker') process.stdout.write((await import('./worker-command.js')).workerHelp);
      else if (rest[0] === 'bench') return benchCommand(['--help']);
      else if (rest[0] !== undefined) return usageError(`no help for unknown command '${rest[0]}': one of ${COMMANDS.join(', ')}`);
      else process.stdout.write(usage);
      return 0;
    case '-v':
    case '--version': {
      const { readFileSync } = await import('node:fs');
      const { packageRoot } = await import('../native/binding.js');
      const pkg = JSON.parse(readFileSync(`${packageRoot}/package.json`, 'utf8')) as { version: string };
      process.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    default:
      return usageError(`unknown command '${command}': one of ${COMMANDS.join(', ')}`);
  }
}
