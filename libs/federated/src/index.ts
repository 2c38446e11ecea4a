// Public surface of libs/federated: strategies, the coordinator's update checks (way in) and the
// site's update filters (way out). The tfjs helper for FedProx (`./proximal-tf`) is not
// re-exported so that the coordinator can load this library without tfjs.
export * from './types';
export * from './named-arrays';
export * from './parts';
export * from './fold';
export * from './update-source';
export * from './local-model';
export * from './proximal';
export * from './inbound/rejection';
export * from './inbound/checks';
export * from './inbound/gate';
export * from './outbound/outgoing';
export * from './outbound/filters';
export * from './outbound/chain';
export * from './strategies/strategy';
export * from './strategies/base';
export * from './strategies/fedavg';
export * from './strategies/fedprox';
export * from './strategies/fedadam';
export * from './strategies/fedbn';
export * from './strategies/registry';
export * from './strategies/private';
export * from './simulate';
export * from './engine';
export * from './privacy';
export * from './schedule/lr-schedule';
export * from './schedule/budget';
export * from './token-centre';
