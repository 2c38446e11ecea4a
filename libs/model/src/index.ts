// Public surface of libs/model. Code that must not load tfjs (the coordinator, libs/federated)
// imports libs/weights directly instead of from here.
export * from './backend';
export * from './codec';
export * from './network';
export * from './training';
export * from './gradcam';
export * from './io';
