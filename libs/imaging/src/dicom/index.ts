// DICOM reading: folder scan, DCE assembly, geometry, pixels; masks from SEG / RTSTRUCT.
export type { DicomFrame, DicomMaskObject } from './types';
export * from './header';
export * from './geometry';
export * from './phases';
export * from './pixels';
export * from './read-file';
export * from './scan';
export * from './transfer-syntax';
export * from './read-dce';
export * from './mask';
export * from './source';
export * from './draft-manifest';
export * from './world-to-voxel';
