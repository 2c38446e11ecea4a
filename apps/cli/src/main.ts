import 'reflect-metadata';
import { CommanderError } from 'commander';
import { PhccError } from '../../../libs/common/src';
import { buildProgram } from './program';

/**
 * Entry point. Known failures (bad input, a missing backend) become one clear line on stderr and
 * the error's exit code; anything else is a bug and keeps its stack trace.
 */
export async function runCli(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed help / version / its usage error.
      process.exitCode = err.exitCode === 1 && err.code !== 'commander.help' ? 2 : err.exitCode;
      return;
    }
    if (err instanceof PhccError) {
      process.stderr.write(`phcc-fed: error: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

/**
 * `phcc-fed inspect … | head`: once the reader closes the pipe, further output has nowhere to go.
 * That is how Unix tools end (quietly, like `cat` on SIGPIPE), not an "unexpected failure".
 */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

/** Runs the CLI on this process's arguments; used by bin/phcc-fed.js. */
export function main(): void {
  exitQuietlyOnClosedPipe();
  runCli(process.argv).catch((err: unknown) => {
    process.stderr.write(
      `phcc-fed: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  });
}

if (require.main === module) main();
