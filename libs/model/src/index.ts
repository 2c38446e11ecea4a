// Public surface of libs/model (the pHCC-SSL network, training, Grad-CAM, model files; the compute
// engine is libs/compute). Code that must not load tfjs (the coordinator, libs/federated)
// imports libs/weights directly instead of from here.
export * from './codec';
export * from './network';
export * from './training';
export * from './gradcam';
export * from './io';
