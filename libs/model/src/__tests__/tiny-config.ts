import { TINY_MODEL } from '../network/config';

/**
 * The `--tiny` network with 2 phases instead of 6: the shapes and rules of the full model at
 * about 1/50 of the cost, so every spec can train a few steps in seconds on 2 cores.
 */
export const TINY = { ...TINY_MODEL, phases: 2 };
