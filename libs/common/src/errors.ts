/**
 * Errors that the CLI and the coordinator turn into a clear message instead of a stack trace.
 * `exitCode` follows the CLI convention: 2 = the user's input is wrong, 1 = something failed.
 */
export class PhccError extends Error {
  constructor(
    message: string,
    readonly code: string = 'PHCC_ERROR',
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input from the user (a file, a column, a flag): exit code 2, message names what was wrong. */
export class InputError extends PhccError {
  constructor(message: string, code = 'BAD_INPUT') {
    super(message, code, 2);
  }
}
