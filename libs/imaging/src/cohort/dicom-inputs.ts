/**
 * A manifest row's DICOM inputs: a DCE folder/file read as a DceSeries, and a DICOM-SEG or
 * RTSTRUCT mask put on its grid. Errors become the row's skip reason, paths shown as the manifest
 * writes them.
 */
import { InputError } from '../../../common/src';
import { readDicomDce } from '../dicom/read-dce';
import { readDicomMask } from '../dicom/mask';
import { DceSeries, PatientRowError } from './load-patient';

function rowError(err: unknown, path: string, shown: string, what: string): unknown {
  if (!(err instanceof InputError)) return err;
  const reason = err.message.split(path).join(shown);
  if (err.code === 'DICOM_NOT_FOUND') return new PatientRowError(`missing ${what} ${shown}`);
  return new PatientRowError(`unreadable ${what} DICOM ${shown}: ${reason.replace(`${shown}: `, '')}`);
}

export async function readDicomDceSeries(path: string, show: (p: string) => string): Promise<DceSeries> {
  try {
    const volume = await readDicomDce(path);
    return {
      dims: [volume.dims[0], volume.dims[1], volume.dims[2]],
      spacing: volume.spacing,
      affine: volume.affine,
      storedPhases: volume.dims[3],
      data: volume.data,
      // Integer samples × a finite rescale cannot be NaN/Inf.
      mayHoldNonFinite: false,
      phaseTimes: volume.phaseTimes,
      frameOfReferenceUid: volume.frameOfReferenceUid,
    };
  } catch (err) {
    throw rowError(err, path, show(path), 'DCE');
  }
}

export async function readDicomMaskOnGrid(
  path: string,
  dce: DceSeries,
  show: (p: string) => string,
): Promise<{ mask: Uint8Array; tumourVoxels: number }> {
  if (!dce.frameOfReferenceUid) {
    throw new PatientRowError(
      `mask ${show(path)} is DICOM but the DCE is NIfTI: a DICOM mask is placed by its Frame of Reference, which needs a DICOM DCE`,
    );
  }
  try {
    const mask = await readDicomMask(path, {
      dims: dce.dims,
      affine: dce.affine,
      frameOfReferenceUid: dce.frameOfReferenceUid,
    });
    if (mask.voxels === 0) {
      throw new PatientRowError(
        `empty mask: ${mask.kind.toUpperCase()} "${mask.roi}" covers no DCE voxel (${show(path)})`,
      );
    }
    return { mask: mask.data, tumourVoxels: mask.voxels };
  } catch (err) {
    throw rowError(err, path, show(path), 'mask');
  }
}
