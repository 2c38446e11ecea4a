import pino from 'pino';
import pretty from 'pino-pretty';

/**
 * The logging surface the libraries accept. Libraries take a `Log` instead of importing pino,
 * so they stay usable (and silent) in tests and inside worker threads.
 */
export interface Log {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A Log that drops everything: the default for library calls made without one. */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

let root: pino.Logger | undefined;

/**
 * The process-wide logger. Writes to stderr so that stdout stays clean for results and the
 * `--json` last line that scripts parse.
 */
export function getLogger(level?: LogLevel): pino.Logger {
  if (!root) {
    const envLevel = process.env.PHCC_LOG_LEVEL as LogLevel | undefined;
    const options = { level: level ?? envLevel ?? 'info', base: undefined };
    // Humans read the CLI's log; services and log shippers ask for JSON lines.
    root =
      process.env.PHCC_LOG_FORMAT === 'json'
        ? pino(options, pino.destination(2))
        : pino(
            options,
            pretty({
              destination: 2,
              sync: true,
              ignore: 'pid,hostname',
              translateTime: 'HH:MM:ss',
              singleLine: true,
            }),
          );
  } else if (level) {
    root.level = level;
  }
  return root;
}
