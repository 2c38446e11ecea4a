import { Command } from 'commander';
import { getLogger, InputError, Log, LOG_LEVELS, LogLevel } from '../../../libs/common/src';

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

/**
 * What `initBackend` takes from the global options: `--backend`, and `--wasm-threads` (env
 * PHCC_WASM_THREADS; undefined: initBackend's default, 1), checked only by the commands that
 * start a backend, so a bad value never stops one that does not.
 */
export function backendOptions(cmd: Command, log?: Log): { backend?: string; threads?: number; log?: Log } {
  const { backend } = globalOptions(cmd);
  const raw =
    (cmd.optsWithGlobals() as { wasmThreads?: string }).wasmThreads ?? process.env.PHCC_WASM_THREADS;
  const threads = raw === undefined ? undefined : Number(raw);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 64)) {
    throw new InputError(`--wasm-threads must be a whole number from 1 to 64 (got "${raw}")`);
  }
  return { backend, threads, log };
}

export function commandLogger(cmd: Command) {
  return getLogger(globalOptions(cmd).logLevel);
}
