/** DICOM patient coordinates (LPS mm) → continuous voxel indices of a NIfTI-grid volume. Pure. */
import { Affine } from '../nifti/types';
import { worldToVoxel } from '../preprocess/resample-volume';
import { Vec3 } from './types';

/** A function from LPS mm to (i, j, k) of the grid whose voxel → RAS+ affine is given. */
export function lpsToVoxel(affine: Affine): (p: readonly number[]) => Vec3 {
  const toVoxel = worldToVoxel(affine);
  // LPS → RAS+: negate x and y.
  return (p) => toVoxel(-p[0], -p[1], p[2]);
}
