export * from './fs-handler';
export * from './checkpoint';
