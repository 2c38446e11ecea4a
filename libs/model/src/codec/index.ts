// Public surface of the weight codec. `./core` is the same without the tfjs bridge, for callers
// (the coordinator) that handle weights without loading tfjs.
export * from './core';
export * from './tf-bridge';
