// Executors backed by libs/model (tfjs). Kept out of the site agent's main index so that code
// using a fake executor (tests, tools) does not load tfjs.
export * from './model-executors';
export * from './cohort-data';
export * from './proximal-pull';
export * from './optimiser-state';
export * from './record-privacy';
