// Public surface of the site agent: the connection runner, its executors' contract, the privacy
// guard every outgoing frame passes through, and the data-protection message log.
export * from './agent';
export * from './backoff';
export * from './executor';
export * from './local-params';
export * from './message-log';
export * from './privacy-guard';
export * from './consent';
