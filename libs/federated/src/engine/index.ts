// The federated run as a pure state machine: `step(spec, state, event, now) → { state, commands }`.
// See docs/ARCHITECTURE.md ("The round engine") for how adapters drive it.
export * from './plan';
export * from './schedule';
export * from './state';
export * from './events';
export * from './commands';
export * from './attempt';
export * from './secure-round';
export * from './engine';
export * from './driver';
