export * from './config';
export * from './params';
export * from './mask';
export * from './encoder';
export * from './decoder';
export * from './head';
export * from './model';
export * from './flops';
export { layerNorm } from './layers';
