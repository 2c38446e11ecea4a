import { Command } from 'commander';
import { getLogger, LOG_LEVELS, LogLevel, InputError } from '../../../libs/common/src';

/** Options given before the subcommand (`phcc-fed --log-level debug --backend wasm train …`). */
export interface GlobalOptions {
  logLevel: LogLevel;
  /** Forced compute backend, or undefined to let libs/model pick the fastest installed one. */
  backend?: string;
}

/** Global options as seen from inside any subcommand's action. */
export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { logLevel?: string; backend?: string };
  const logLevel = (o.logLevel ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new InputError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${o.logLevel}")`);
  }
  return { logLevel, backend: o.backend ?? process.env.PHCC_BACKEND };
}

export function commandLogger(cmd: Command) {
  return getLogger(globalOptions(cmd).logLevel);
}
