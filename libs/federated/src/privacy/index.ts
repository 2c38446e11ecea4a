// Privacy of what leaves a site: secure aggregation (SecAgg/SecAgg+ state machines and their
// parts) and differential privacy (clipping, noise, adaptive clipping, the RDP accountant).
// docs/PRIVACY.md explains each part and what it protects against.
export * from './ring';
export * from './fixed-point';
export * from './prg';
export * from './shamir';
export * from './key-agreement';
export * from './neighbours';
export * from './secagg-messages';
export * from './secagg-site';
export * from './secagg-server';
export * from './secagg-memory';
export * from './weighted-input';
export * from './dp/gaussian';
export * from './dp/adaptive-clip';
export * from './dp/rdp-accountant';
export * from './secagg-task';
export * from './secagg-sessions';
export * from './secagg-wire';
