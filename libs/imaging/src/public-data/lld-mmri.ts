/**
 * LLD-MMRI 2023 (Liver Lesion Diagnosis on Multi-phase MRI; github.com/LMMMEng/LLD-MMRI2023) as
 * phcc-fed site cohorts. Its licence forbids redistribution: nothing of it is in this repository,
 * a user points this at their own download.
 *
 * Layout read: `<data>/images/<patient>/<study>/<series>.nii.gz`, one NIfTI per phase, and
 * `<data>/labels/Annotation.json` = { Annotation_info: { <patient>: [ { studyUID, seriesUID, phase,
 * annotation: { lesion: { "<n>": { category, bbox: { "3D_box": { x_min, x_max, y_min, y_max,
 * z_min, z_max } } } } } } ] } } (box in voxel indices of that series: x, y half-open, z inclusive,
 * as the challenge's own crop_roi.py reads it).
 *
 * What is written, per lesion (patient_id `<patient>` or `<patient>_<n>`):
 *   - the four DCE phases C-pre, C+A, C+V, C+Delay resampled (trilinear, world coordinates) onto
 *     the arterial (C+A) series' grid and stacked as one 4-D int16 NIfTI per patient;
 *   - a box mask on that grid: the lesion's box from the C+A annotation, or from another phase's
 *     box mapped through world coordinates when the C+A one is missing;
 *   - label = 1 when the lesion's category is HCC, else 0. THIS IS A PROXY: LLD-MMRI grades no
 *     proliferative HCC; "HCC vs other lesion" only exercises the pipeline on real images.
 *   - split by a stable hash of the patient id (`testFraction`), so it never changes run to run.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../../common/src';
import { readNifti } from '../nifti/read';
import { Affine } from '../nifti/types';
import { writeNifti } from '../nifti/write';
import { applyAffine, resampleVolume, worldToVoxel } from '../preprocess/resample-volume';

/** The challenge's DCE phase names, in acquisition order. */
export const LLD_MMRI_PHASES = ['C-pre', 'C+A', 'C+V', 'C+Delay'] as const;
/** Category of hepatocellular carcinoma in the challenge's labels (check its README for your release). */
export const LLD_MMRI_HCC_CATEGORY = 6;

interface Box {
  x_min: number;
  x_max: number;
  y_min: number;
  y_max: number;
  z_min: number;
  z_max: number;
}

interface SeriesAnnotation {
  studyUID: string;
  seriesUID: string;
  phase: string;
  annotation?: { lesion?: Record<string, { category: number; bbox?: { '3D_box'?: Box } }> };
}

export interface LldMmriOptions {
  dataDir: string;
  outDir: string;
  testFraction?: number;
  hccCategory?: number;
  onPatient?: (done: number, total: number) => void;
}

export interface LldMmriSummary {
  manifestPath: string;
  rows: number;
  hcc: number;
  skipped: Array<{ patient: string; reason: string }>;
}

function stableFraction(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * Box (voxel indices of `from`) → the voxels of `to` whose centres lie inside it, through world
 * coordinates: the box's outer voxel edges are mapped, and the target box is their bounding box.
 */
function mapBox(box: Box, from: Affine, to: Affine): Box {
  const toVoxel = worldToVoxel(to);
  const corners = [0, 1, 2, 3, 4, 5, 6, 7].map((c) =>
    toVoxel(
      ...applyAffine(
        from,
        c & 1 ? box.x_max - 0.5 : box.x_min - 0.5,
        c & 2 ? box.y_max - 0.5 : box.y_min - 0.5,
        c & 4 ? box.z_max + 0.5 : box.z_min - 0.5,
      ),
    ),
  );
  const eps = 1e-6;
  const lo = (a: number) => Math.ceil(Math.min(...corners.map((p) => p[a])) - eps);
  const hi = (a: number) => Math.floor(Math.max(...corners.map((p) => p[a])) + eps);
  return { x_min: lo(0), x_max: hi(0) + 1, y_min: lo(1), y_max: hi(1) + 1, z_min: lo(2), z_max: hi(2) };
}

export async function convertLldMmri(options: LldMmriOptions): Promise<LldMmriSummary> {
  const annotationPath = join(options.dataDir, 'labels', 'Annotation.json');
  if (!existsSync(annotationPath)) {
    throw new InputError(
      `${annotationPath}: not found (expected the LLD-MMRI 2023 layout: images/ and labels/Annotation.json)`,
    );
  }
  let info: Record<string, SeriesAnnotation[]>;
  try {
    info = (
      JSON.parse(readFileSync(annotationPath, 'utf8')) as {
        Annotation_info: Record<string, SeriesAnnotation[]>;
      }
    ).Annotation_info;
    if (!info || typeof info !== 'object') throw new Error('no Annotation_info object');
  } catch (err) {
    throw new InputError(`${annotationPath}: unreadable annotation file (${(err as Error).message})`);
  }
  const hccCategory = options.hccCategory ?? LLD_MMRI_HCC_CATEGORY;
  const testFraction = options.testFraction ?? 0.3;
  mkdirSync(join(options.outDir, 'images'), { recursive: true });
  const lines = ['patient_id,dce,mask,label,split,phase_times,lesion_category'];
  const skipped: LldMmriSummary['skipped'] = [];
  let hcc = 0;
  const patients = Object.keys(info).sort();
  for (const [n, patient] of patients.entries()) {
    try {
      const series = new Map(info[patient].map((s) => [s.phase, s]));
      const missing = LLD_MMRI_PHASES.filter((p) => !series.has(p));
      if (missing.length) throw new Error(`no ${missing.join(', ')} series`);
      const images = await Promise.all(
        LLD_MMRI_PHASES.map((p) => {
          const s = series.get(p)!;
          return readNifti(join(options.dataDir, 'images', patient, s.studyUID, `${s.seriesUID}.nii.gz`));
        }),
      );
      const arterial = images[1];
      const grid = {
        dims: [arterial.dims[0], arterial.dims[1], arterial.dims[2] ?? 1] as [number, number, number],
        affine: arterial.affine,
      };
      const perPhase = grid.dims[0] * grid.dims[1] * grid.dims[2];
      const dce = new Int16Array(perPhase * LLD_MMRI_PHASES.length);
      images.forEach((image, t) => {
        const values = t === 1 ? image.data : resampleVolume(image, grid);
        for (let v = 0; v < perPhase; v++)
          dce[t * perPhase + v] = Math.max(-32768, Math.min(32767, Math.round(values[v])));
      });
      const dceFile = `images/${patient}_dce.nii.gz`;
      await writeNifti(join(options.outDir, dceFile), {
        dims: [...grid.dims, 4],
        affine: grid.affine,
        datatype: 'int16',
        data: dce,
      });
      // Lesions: numbered as in the annotation, each box taken from C+A when it is there.
      const lesions = new Map<string, { category: number; box: Box }>();
      for (const phase of ['C+A', ...LLD_MMRI_PHASES.filter((p) => p !== 'C+A')]) {
        const s = series.get(phase)!;
        const index = LLD_MMRI_PHASES.indexOf(phase as (typeof LLD_MMRI_PHASES)[number]);
        for (const [id, lesion] of Object.entries(s.annotation?.lesion ?? {})) {
          const box = lesion.bbox?.['3D_box'];
          if (!box || lesions.has(id)) continue;
          lesions.set(id, {
            category: lesion.category,
            box: phase === 'C+A' ? box : mapBox(box, images[index].affine, grid.affine),
          });
        }
      }
      if (lesions.size === 0) throw new Error('no lesion box in the annotation');
      for (const [id, { category, box }] of lesions) {
        const mask = new Uint8Array(perPhase);
        const [X, Y, Z] = grid.dims;
        for (let k = Math.max(0, box.z_min); k <= Math.min(Z - 1, box.z_max); k++)
          for (let j = Math.max(0, box.y_min); j < Math.min(Y, box.y_max); j++)
            for (let i = Math.max(0, box.x_min); i < Math.min(X, box.x_max); i++)
              mask[(k * Y + j) * X + i] = 1;
        const rowId = id === '0' ? patient : `${patient}_${id}`;
        const maskFile = `images/${rowId}_mask.nii.gz`;
        await writeNifti(join(options.outDir, maskFile), {
          dims: grid.dims,
          affine: grid.affine,
          datatype: 'uint8',
          data: mask,
        });
        const label = category === hccCategory ? 1 : 0;
        hcc += label;
        const split = stableFraction(patient) < testFraction ? 'test' : 'train';
        lines.push(`${rowId},${dceFile},${maskFile},${label},${split},,${category}`);
      }
    } catch (err) {
      skipped.push({ patient, reason: (err as Error).message });
    }
    options.onPatient?.(n + 1, patients.length);
  }
  const manifestPath = join(options.outDir, 'manifest.csv');
  await writeFile(manifestPath, lines.join('\n') + '\n');
  return { manifestPath, rows: lines.length - 1, hcc, skipped };
}
