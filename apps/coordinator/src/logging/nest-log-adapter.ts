import { LoggerService } from '@nestjs/common';
import { Log } from '../../../../libs/common/src';

/** Nest's own messages (module init, routes) go through the project's pino `Log` on stderr. */
export class NestLogAdapter implements LoggerService {
  constructor(private readonly target: Log) {}

  log(message: unknown, context?: string): void {
    // Nest's route-mapping chatter is debug detail, not news for an operator.
    this.write('debug', message, context);
  }
  error(message: unknown, trace?: string, context?: string): void {
    // A failure while booting is rethrown by startCoordinator (abortOnError: false) and reported
    // once by its caller — the CLI as one line and exit 2 for bad input — so not logged twice here.
    if (context === 'ExceptionHandler') this.target.debug({ context, trace }, String(message));
    else this.target.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }
  debug(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }

  private write(level: 'debug' | 'warn', message: unknown, context?: string): void {
    this.target[level]({ context }, typeof message === 'string' ? message : JSON.stringify(message));
  }
}

/** Injection token for the `Log` that services write to. */
export const COORDINATOR_LOG = Symbol('COORDINATOR_LOG');
