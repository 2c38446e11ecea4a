import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Command } from 'commander';
import { InputError } from '../../../../libs/common/src';
import { loadPatient, ManifestRow, preprocessPatient } from '../../../../libs/imaging/src';
import { initBackend } from '../../../../libs/compute/src';
import { gradCam, writeHeatmapNifti, writeOverlayPngs } from '../../../../libs/model/src/gradcam';
import { loadModel, readModelMetadata } from '../../../../libs/model/src/io';
import { predict } from '../../../../libs/model/src/training/loops';
import { backendOptions, commandLogger } from '../context';
import { checkModelDir, cropOptions, modelPreprocessing, storedNormalisation } from './model-inputs';
import type { PredictCliOptions } from './predict';

/** `phcc-fed predict`: one patient's probability and, with --cam, its Grad-CAM files. */
export async function runPredict(opts: PredictCliOptions, cmd: Command): Promise<void> {
  const log = commandLogger(cmd);
  const modelDir = checkModelDir(opts.model);
  const dcePaths = opts.dce.map((f) => checkFile(f, '--dce'));
  const maskPath = checkFile(opts.mask, '--mask');
  const id = opts.id ?? patientIdFrom(dcePaths[0]);
  if (!/^[A-Za-z0-9._-]+$/.test(id)) {
    throw new InputError(`--id "${id}": use letters, digits, '.', '_' or '-' (it names output files)`);
  }
  const saved = readModelMetadata(modelDir);
  const pre = modelPreprocessing(saved, modelDir);
  const site = storedNormalisation(pre, modelDir, opts.site);
  const row: ManifestRow = {
    row: 0,
    patientId: id,
    dcePaths,
    maskPath,
    label: null,
    split: 'test',
    phaseTimes: opts.phaseTimes === undefined ? null : parsePhaseTimes(opts.phaseTimes),
  };
  // The phases nearest the model's nominal times, as train chose them.
  const patient = await loadPatient(row, process.cwd(), {
    phases: pre.phases,
    nominalPhaseTimes: saved.config.phaseTimes,
  });
  const input = preprocessPatient(patient, site.normalisation, cropOptions(pre));

  await initBackend(backendOptions(cmd, log));
  const { model } = await loadModel(modelDir);
  try {
    const sample = { id, label: null, split: 'test', x: input.input, phaseTimes: input.meta.phaseTimes };
    const [probability] = await predict(model, [sample]);
    const camFiles: string[] = [];
    if (opts.cam) {
      const dir = resolve(opts.cam);
      mkdirSync(dir, { recursive: true });
      const cam = gradCam(model, input.input, input.meta.phaseTimes);
      camFiles.push(...writeOverlayPngs(dir, id, input.input, model.config, cam));
      const niftiPath = join(dir, `${id}_gradcam.nii.gz`);
      const px = input.meta.pixelSpacingMm;
      await writeHeatmapNifti(niftiPath, cam, { pixdim: [px, px, input.meta.voxelSpacingMm[2], 1] });
      camFiles.push(niftiPath);
    }
    const lines = [
      `patient           ${id}`,
      `P(proliferative)  ${probability.toFixed(4)}`,
      `normalisation     stored with the model (site ${site.name})`,
    ];
    if (camFiles.length) lines.push(`Grad-CAM          ${camFiles.length} files in ${resolve(opts.cam!)}`);
    process.stdout.write(lines.join('\n') + '\n');
    if (opts.json) {
      process.stdout.write(
        JSON.stringify({ patient: id, probability, site: site.name, cam: camFiles }) + '\n',
      );
    }
  } finally {
    model.dispose();
  }
}

function checkFile(path: string, option: string): string {
  const full = resolve(path);
  if (!existsSync(full)) throw new InputError(`${option} ${path}: no such file`);
  if (!statSync(full).isFile()) throw new InputError(`${option} ${path}: not a file`);
  return full;
}

/** `A0001_dce.nii.gz` → `A0001` (the naming `synth` and many exports use). */
function patientIdFrom(path: string): string {
  return (
    basename(path)
      .replace(/\.nii(\.gz)?$/i, '')
      .replace(/_dce$/i, '')
      .replace(/[^A-Za-z0-9._-]/g, '_') || 'patient'
  );
}

function parsePhaseTimes(text: string): number[] {
  const times = text.split(';').map((t) => Number(t.trim()));
  if (times.some((t) => !Number.isFinite(t))) {
    throw new InputError(`--phase-times "${text}": expected numbers separated by ";"`);
  }
  return times;
}
