import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { InputError } from '../../../../libs/common/src';
import { DicomDceVolume, readDicomDce, readDicomMask, writeNifti } from '../../../../libs/imaging/src';
import { phaseStep } from './inspect-dicom';

interface ConvertCliOptions {
  out: string;
  study?: string;
  mask?: string;
  maskOut?: string;
  roi?: string;
  force?: boolean;
  json?: boolean;
}

/** Lossless int16 when every value is a whole number in range (the usual MR case), else float32. */
function storage(
  data: Float32Array,
): { datatype: 'int16'; data: Int16Array } | { datatype: 'float32'; data: Float32Array } {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < -32768 || v > 32767) return { datatype: 'float32', data };
  }
  return { datatype: 'int16', data: Int16Array.from(data) };
}

/** The sidecar (like dcm2niix's BIDS JSON): what the NIfTI header cannot hold. */
function sidecar(volume: DicomDceVolume): Record<string, unknown> {
  return {
    StudyInstanceUID: volume.studyUid,
    PatientID: volume.patientId,
    StudyDate: volume.studyDate,
    FrameOfReferenceUID: volume.frameOfReferenceUid,
    PhaseTimes: volume.phaseTimes,
    PhaseTimeSource: volume.phaseTimeSource,
    PhaseTimeReference: volume.phaseTimeReference,
    Phases: volume.phases,
  };
}

function niftiPath(path: string, flag: string): string {
  if (!/\.nii(\.gz)?$/.test(path)) throw new InputError(`${flag} must end in .nii or .nii.gz (got ${path})`);
  return path;
}

/** `phcc-fed convert DICOM --out FILE.nii.gz`. */
export function registerConvert(program: Command): void {
  program
    .command('convert')
    .summary('convert a DICOM DCE study to a 4-D NIfTI (and a SEG/RTSTRUCT mask to a NIfTI mask)')
    .description(
      'Reads the DCE study under a DICOM folder (any file names, nested; rules in docs/IMAGING.md)\n' +
        'and writes one 4-D NIfTI (columns × rows × slices × phases) with the affine dcm2niix would\n' +
        'write, int16 when lossless else float32, plus a JSON sidecar with the phase times and series.',
    )
    .argument('<dicom>', 'DICOM folder or file')
    .requiredOption(
      '--out <file>',
      '4-D NIfTI to write (.nii or .nii.gz); the sidecar goes beside it as .json',
    )
    .option('--study <uid>', 'StudyInstanceUID to convert when the folder holds several')
    .option('--mask <path>', 'DICOM-SEG or RTSTRUCT (file or folder) to put on the DCE grid')
    .option('--mask-out <file>', 'NIfTI mask to write (needs --mask)')
    .option(
      '--roi <name>',
      'segment label / ROI name or number in the mask (default: the only one, or the tumour)',
    )
    .option('--force', 'overwrite existing output files')
    .option('--json', 'end the output with one JSON line')
    .action(async (dicom: string, opts: ConvertCliOptions) => {
      const out = niftiPath(opts.out, '--out');
      if (Boolean(opts.mask) !== Boolean(opts.maskOut))
        throw new InputError('--mask and --mask-out go together');
      const maskOut = opts.maskOut ? niftiPath(opts.maskOut, '--mask-out') : undefined;
      const sidecarPath = out.replace(/\.nii(\.gz)?$/, '.json');
      for (const path of [out, sidecarPath, maskOut]) {
        if (path && existsSync(path) && !opts.force)
          throw new InputError(`${path} exists (use --force to overwrite)`);
      }
      const volume = await readDicomDce(dicom, { studyUid: opts.study });
      const mask = opts.mask
        ? await readDicomMask(
            opts.mask,
            {
              dims: [volume.dims[0], volume.dims[1], volume.dims[2]],
              affine: volume.affine,
              frameOfReferenceUid: volume.frameOfReferenceUid,
            },
            { roi: opts.roi },
          )
        : undefined;
      const stored = storage(volume.data);
      const times = volume.phaseTimes ? `phases at ${volume.phaseTimes.join(';')} s` : 'phase times unknown';
      await writeNifti(out, {
        dims: volume.dims,
        pixdim: [...volume.spacing, phaseStep(volume.phaseTimes)],
        affine: volume.affine,
        ...stored,
        xyztUnits: { space: 'mm', time: 's' },
        description: `phcc-fed convert; ${times}`.slice(0, 79).replace(/[^\x20-\x7e]/g, '?'),
      });
      await writeFile(sidecarPath, JSON.stringify(sidecar(volume), null, 2) + '\n');
      if (mask && maskOut) {
        await writeNifti(maskOut, {
          dims: [volume.dims[0], volume.dims[1], volume.dims[2]],
          affine: volume.affine,
          datatype: 'uint8',
          data: mask.data,
        });
      }
      const lines = [
        `wrote ${out}: ${volume.dims.join(' × ')} ${stored.datatype}, ${volume.dims[3]} phases (${times})`,
        `wrote ${sidecarPath}`,
      ];
      if (mask && maskOut)
        lines.push(`wrote ${maskOut}: ${mask.kind.toUpperCase()} "${mask.roi}", ${mask.voxels} voxels`);
      process.stdout.write(lines.join('\n') + '\n');
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            out,
            sidecar: sidecarPath,
            dims: volume.dims,
            datatype: stored.datatype,
            phaseTimes: volume.phaseTimes,
            ...(mask ? { maskOut, maskVoxels: mask.voxels, roi: mask.roi } : {}),
          }) + '\n',
        );
      }
    });
}
