// Public surface of libs/imaging.
export * from './nifti/types';
export * from './nifti/write';
export * from './nifti/read';
export * from './nifti/read-budget';
export * from './nifti/read-affine';
export * from './nifti/read-stats';
export * from './cohort/manifest';
export * from './cohort/report';
export * from './cohort/load-patient';
export * from './cohort/load-cohort';
export * from './preprocess/geometry';
export * from './preprocess/resample';
export * from './preprocess/histogram';
export * from './preprocess/normalise';
export * from './preprocess/crop';
export * from './preprocess/preprocess-patient';
export * from './synth';
