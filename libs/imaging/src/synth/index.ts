// Synthetic multi-centre DCE-MRI cohorts (docs/SYNTHETIC.md).
export * from './physics/aif';
export * from './physics/signal';
export * from './physics/tissue';
export * from './tissues';
export * from './sites';
export * from './phenotype';
export * from './kinetics';
export * from './anatomy';
export * from './volume';
export * from './patient';
export * from './assign';
export * from './cohort';
export * from './report';
export { childSeed } from './seeds';
export * from './image-features';
