import { Command } from 'commander';

/**
 * A subcommand that is planned (DESIGN.md §7) but not built yet: it shows in `--help` so users
 * see the whole tool, and says so plainly with exit code 2 instead of pretending to work.
 */
export function registerNotAvailable(program: Command, name: string, summary: string, issue: string): void {
  program
    .command(name)
    .summary(`${summary} (not available yet)`)
    .description(`${summary}\n\nNot available yet in this version (tracked as the ${issue} issue).`)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(() => {
      process.stderr.write(`phcc-fed ${name}: not available yet (see the ${issue} issue)\n`);
      process.exitCode = 2;
    });
}
