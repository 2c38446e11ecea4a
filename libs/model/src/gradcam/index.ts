export * from './gradcam';
export * from './render';
