// The weight codec as libs/model offers it: libs/weights (no tfjs) plus the bridge to tfjs tensors.
// Code that must not load tfjs (the coordinator, libs/federated) imports libs/weights directly.
export * from '../../../weights/src';
export * from './tf-bridge';
