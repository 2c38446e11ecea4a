export * from './errors';
export * from './logger';
export * from './package-info';
export * from './random';
export * from './file-modes';
