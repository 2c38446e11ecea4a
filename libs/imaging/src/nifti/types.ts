/**
 * The in-memory form of one NIfTI image, shared by the reader (read.ts) and the writer (write.ts).
 * Voxel values are always delivered scaled (scl_slope/scl_inter applied) as float32 so downstream
 * code never has to care about the on-disk type.
 */

/** On-disk voxel types we read. Names follow numpy/nibabel so users recognise them. */
export type NiftiDatatypeName =
  'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

/** NIfTI `datatype` codes of the names above (NIfTI-1 standard, table of DT_* values). */
export const NIFTI_DATATYPE_CODES: Readonly<Record<NiftiDatatypeName, number>> = {
  uint8: 2,
  int16: 4,
  int32: 8,
  float32: 16,
  float64: 64,
  int8: 256,
  uint16: 512,
  uint32: 768,
};

/** A 4×4 row-major matrix (voxel index → world mm); last row is [0, 0, 0, 1]. */
export type Affine = number[][];

export interface NiftiImage {
  /** 1 for NIfTI-1 (348-byte header), 2 for NIfTI-2 (540-byte header). */
  niftiVersion: 1 | 2;
  /** Size of each dimension, as many entries as the image has dimensions (dim[1..dim[0]]). */
  dims: number[];
  /**
   * Spacing of each dimension in `dims` (pixdim[1..dim[0]]), as stored: spatial axes in
   * `spatialUnit`, the 4th axis in `timeUnit` (nibabel's `get_zooms()` convention).
   */
  pixdim: number[];
  /** On-disk voxel type (before scaling). */
  datatype: NiftiDatatypeName;
  /** NIfTI `datatype` code of `datatype`. */
  datatypeCode: number;
  /** Byte order of the file; false = big-endian. */
  littleEndian: boolean;
  /** Voxel → world (mm) affine, chosen as nibabel does: sform if sform_code > 0, else qform, else pixdim. */
  affine: Affine;
  sformCode: number;
  qformCode: number;
  /** Scaling applied to the stored values (slope 1, intercept 0 when the header says none). */
  sclSlope: number;
  sclInter: number;
  /** xyzt_units split into words ('mm', 'sec', 'unknown', …). */
  spatialUnit: string;
  timeUnit: string;
  description: string;
  /** Scaled voxel values, x fastest (Fortran order, as on disk). Length = product of dims. */
  data: Float32Array;
}
