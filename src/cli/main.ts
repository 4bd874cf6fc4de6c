/** The `hatchery` command line: dispatch to subcommands. */
import { runCommand, runHelp } from './run-command.js';

const usage = `Usage: hatchery <command> [options]

Commands:
  run     run a program in a sandboxed child (hatchery run --help)

Options:
  -h, --help     show this help
  -v, --version  print the version
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      if (rest[0] === 'run') process.stdout.write(runHelp);
      else process.stdout.write(usage);
      return command === undefined ? 2 : 0;
    case '-v':
    case '--version': {
      const { readFileSync } = await import('node:fs');
      const { packageRoot } = await import('../native/binding.js');
      const pkg = JSON.parse(readFileSync(`${packageRoot}/package.json`, 'utf8')) as { version: string };
      process.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    default:
      process.stderr.write(`hatchery: unknown command '${command}'\n\n${usage}`);
      return 2;
  }
}
